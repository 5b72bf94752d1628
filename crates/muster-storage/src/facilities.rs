//! Civil air defense facilities and the grid: who reaches which facility, grids and their
//! members, the facility registry, checklist templates, inspection schedules, "my rounds
//! today" and the subtree dashboard. Inspections, orders, patrols and campaigns are in the
//! sibling modules `inspections`, `orders`, `patrols` and `campaigns`.
//!
//! Reach is enforced in the SQL of every read, through [`FacilityReach::filter`]: a grid
//! member sees the facilities of their grids, a property manager those they manage, and
//! everyone else their scope's subtree.

use std::collections::HashMap;

use muster_domain::facility::{
    Checklist, FacilityDraft, FacilityKind, ReadyCapacity, Schedule, SignStatus, default_checklist,
    interval_days, next_due,
};
use muster_domain::time::CivilDate;
use muster_domain::{Actor, RegionPath, Role, Timestamp};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;

/// Which facilities (and so which inspections and orders) an actor reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacilityReach {
    /// Everything in a region subtree: offices, workstations, liaisons, viewers.
    Subtree(RegionPath),
    /// Only the facilities of the grids the user is a member of, inside their subtree.
    Grids { user_id: i64, subtree: RegionPath },
    /// Only the facilities an organization manages: a property manager's account.
    Manager {
        organization_id: i64,
        subtree: RegionPath,
    },
}

/// The roles that see their whole subtree of facilities.
const SUBTREE_ROLES: [Role; 6] = [
    Role::Administrator,
    Role::OfficeStaff,
    Role::MilitaryLiaison,
    Role::MemberUnitOfficer,
    Role::WorkstationStaff,
    Role::Viewer,
];

impl FacilityReach {
    pub fn subtree(&self) -> &RegionPath {
        match self {
            FacilityReach::Subtree(path)
            | FacilityReach::Grids { subtree: path, .. }
            | FacilityReach::Manager { subtree: path, .. } => path,
        }
    }

    /// The SQL condition on a facilities alias `f` with parameters `$first` … `$first+3`,
    /// and their values in order. Always four parameters, so every query has one shape.
    pub(crate) fn filter(&self, first: usize) -> (String, ReachBinds) {
        let (low, high) = self.subtree().subtree_range();
        let (grid_user, manager) = match self {
            FacilityReach::Subtree(_) => (0, 0),
            FacilityReach::Grids { user_id, .. } => (*user_id, 0),
            FacilityReach::Manager {
                organization_id, ..
            } => (0, *organization_id),
        };
        let (a, b, c, d) = (first, first + 1, first + 2, first + 3);
        (
            format!(
                "f.region_path >= ${a} AND f.region_path < ${b} \
                 AND (${c} = 0 OR f.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = ${c})) \
                 AND (${d} = 0 OR f.manager_organization_id = ${d})"
            ),
            ReachBinds {
                low,
                high,
                grid_user,
                manager,
            },
        )
    }
}

/// The values of [`FacilityReach::filter`]'s parameters.
#[derive(Debug, Clone)]
pub(crate) struct ReachBinds {
    pub low: String,
    pub high: String,
    pub grid_user: i64,
    pub manager: i64,
}

/// Binds a [`ReachBinds`] onto a query, in order.
macro_rules! bind_reach {
    ($query:expr, $binds:expr) => {
        $query
            .bind($binds.low.clone())
            .bind($binds.high.clone())
            .bind($binds.grid_user)
            .bind($binds.manager)
    };
}
pub(crate) use bind_reach;

/// A grid, with how many members and facilities it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Grid {
    pub id: i64,
    pub name: String,
    pub region_code: String,
    pub region_path: String,
    pub member_count: i64,
    pub facility_count: i64,
}

/// A user who walks a grid's rounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct GridMember {
    pub grid_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
}

/// An inspection schedule a region of the reader's scope set: every `every_days` days for
/// the facilities of `kind` in its subtree (unless a deeper region set its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ScheduleSetting {
    pub region_code: String,
    pub region_name: String,
    pub region_path: String,
    pub kind: String,
    pub every_days: i64,
}

/// A stored facility.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Facility {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub region_code: String,
    pub region_path: String,
    pub grid_id: Option<i64>,
    pub lat: f64,
    pub lon: f64,
    pub capacity_persons: i64,
    pub area_m2: f64,
    pub parking_spaces: i64,
    pub charging_points: i64,
    pub services: String,
    pub peacetime_since_day: Option<i64>,
    pub sign_status: String,
    pub sign_installed_day: Option<i64>,
    pub equipment: String,
    pub conversion: String,
    pub conversion_minutes: i64,
    pub manager_organization_id: Option<i64>,
    pub last_inspected_at: Option<i64>,
    pub next_due_day: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Facility {
    /// The stored kind; rows are only written through [`FacilityKind`], so an unknown one
    /// means a hand edit and reads as a shelter rather than failing the page.
    pub fn kind(&self) -> FacilityKind {
        FacilityKind::parse(&self.kind).unwrap_or(FacilityKind::Shelter)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }

    pub fn next_due(&self) -> CivilDate {
        CivilDate::from_days(self.next_due_day)
    }

    pub fn services(&self) -> Vec<String> {
        serde_json::from_str(&self.services).unwrap_or_default()
    }

    pub fn equipment(&self) -> Vec<muster_domain::facility::EquipmentItem> {
        serde_json::from_str(&self.equipment).unwrap_or_default()
    }

    pub fn conversion(&self) -> Vec<muster_domain::facility::ConversionStep> {
        serde_json::from_str(&self.conversion).unwrap_or_default()
    }
}

pub(crate) const FACILITY_COLUMNS: &str = "f.id, f.name, f.kind, f.region_code, f.region_path, \
     f.grid_id, f.lat, f.lon, f.capacity_persons, f.area_m2, f.parking_spaces, f.charging_points, \
     f.services, f.peacetime_since_day, f.sign_status, f.sign_installed_day, f.equipment, \
     f.conversion, f.conversion_minutes, f.manager_organization_id, f.last_inspected_at, \
     f.next_due_day, f.created_at, f.updated_at";

/// A facility to register: the domain's draft plus where it is and who answers for it.
#[derive(Debug, Clone)]
pub struct NewFacility {
    pub draft: FacilityDraft,
    pub region_code: String,
    pub grid_id: Option<i64>,
    pub manager_organization_id: Option<i64>,
}

/// Facilities per page, at most.
pub const MAX_FACILITY_PAGE: i64 = 1000;

/// Whether the actor may register facilities, grids, schedules, routes and campaigns. Public
/// so that the pages show their registration links and forms only to those storage allows;
/// storage still checks on every write.
pub fn may_manage_facilities(actor: &Actor) -> bool {
    actor.administers()
        || actor.has_role(Role::OfficeStaff)
        || actor.has_role(Role::WorkstationStaff)
}

/// Refuses unless [`may_manage_facilities`]; `doing` and `doing_zh` say what, as in "set
/// schedules" and "设定巡检计划".
pub(crate) fn refuse_unless_manages_facilities(
    actor: &Actor,
    doing: &str,
    doing_zh: &str,
) -> Result<(), StorageError> {
    if may_manage_facilities(actor) {
        Ok(())
    } else {
        Err(StorageError::forbidden(
            format!("only office and workstation staff {doing}"),
            format!("只有动员办和工作站的工作人员才能{doing_zh}"),
        ))
    }
}

/// Whether the actor may inspect (a grid member in their grids, staff in their subtree).
pub(crate) fn may_inspect(actor: &Actor) -> bool {
    may_manage_facilities(actor) || actor.has_role(Role::GridMember)
}

/// Every problem of a facility or checklist form at once: the English joined by `; `, the
/// Chinese by `；`, each starting with its own field path.
fn problems_to_invalid(problems: Vec<muster_domain::facility::FieldProblem>) -> StorageError {
    crate::error::refused_all("facility", &problems, |p| p.zh())
}

impl Database {
    /// What the actor reaches. A user with only the grid-member role sees their grids; one
    /// with only the property-manager role sees their organization's facilities.
    pub async fn facility_reach(&self, actor: &Actor) -> Result<FacilityReach, StorageError> {
        let subtree = actor.scope().subtree().clone();
        let Some(user_id) = actor.user_id() else {
            return Ok(FacilityReach::Subtree(subtree));
        };
        if SUBTREE_ROLES.iter().any(|r| actor.has_role(*r)) {
            return Ok(FacilityReach::Subtree(subtree));
        }
        if actor.has_role(Role::GridMember) {
            return Ok(FacilityReach::Grids { user_id, subtree });
        }
        let organization_id: i64 = on_read_pool!(self, |pool| {
            sqlx::query_scalar("SELECT organization_id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(FacilityReach::Manager {
            organization_id,
            subtree,
        })
    }

    /// Creates a grid in a village or community of the actor's scope.
    pub async fn create_grid(
        &self,
        actor: &Actor,
        name: &str,
        region_code: &str,
    ) -> Result<Grid, StorageError> {
        refuse_unless_manages_facilities(actor, "set up grids", "设立网格")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StorageError::refused(
                "name",
                "a grid needs a name of 1 to 100 characters",
                "网格名称应为 1 至 100 个字符",
            ));
        }
        let path = self.region_in_scope(actor, region_code).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let inserted: Result<i64, sqlx::Error> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO grids (name, region_code, region_path, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(region_code)
            .bind(path.as_str())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        });
        let id = inserted.map_err(|e| {
            StorageError::unique_said(e, "name", || {
                (
                    format!("region {region_code} already has a grid named {name}"),
                    format!("行政区划 {region_code} 已有名为 {name} 的网格"),
                )
            })
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "grid",
                entity_id: id.to_string(),
                action: "create",
                region_path: &path,
                before: None,
                after: Some(serde_json::json!({ "name": name, "region_code": region_code })),
            },
        )
        .await?;
        tx.commit().await?;
        self.grid(actor, id).await
    }

    /// Makes a user (of the grid's subtree) a member of a grid.
    pub async fn add_grid_member(
        &self,
        actor: &Actor,
        grid_id: i64,
        user_id: i64,
    ) -> Result<(), StorageError> {
        refuse_unless_manages_facilities(actor, "assign grid members", "指派网格员")?;
        let grid = self.grid(actor, grid_id).await?;
        let user = self.user(actor.scope(), user_id).await?;
        let grid_path = RegionPath::parse(&grid.region_path).unwrap_or_else(RegionPath::root);
        let user_path = user.region_path();
        if !(user_path.contains(&grid_path) || grid_path.contains(&user_path)) {
            return Err(StorageError::refused(
                "user_id",
                format!(
                    "user {} works outside the region of grid {}",
                    user.username, grid.name
                ),
                format!(
                    "用户 {} 的工作区域不在网格“{}”的行政区划内",
                    user.username, grid.name
                ),
            ));
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO grid_members (grid_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(grid_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "grid",
                entity_id: grid_id.to_string(),
                action: "add_member",
                region_path: &grid_path,
                before: None,
                after: Some(serde_json::json!({ "user_id": user_id, "username": user.username })),
            },
        )
        .await?;
        tx.commit().await
    }

    /// Takes a user off a grid (they moved on, or were assigned by mistake): its facilities
    /// leave their rounds. The same roles as [`Self::add_grid_member`], for a grid in the
    /// actor's subtree; audited.
    pub async fn remove_grid_member(
        &self,
        actor: &Actor,
        grid_id: i64,
        user_id: i64,
    ) -> Result<(), StorageError> {
        refuse_unless_manages_facilities(actor, "assign grid members", "指派网格员")?;
        let grid = self.grid(actor, grid_id).await?;
        let grid_path = RegionPath::parse(&grid.region_path).unwrap_or_else(RegionPath::root);
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let removed = on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM grid_members WHERE grid_id = $1 AND user_id = $2")
                .bind(grid_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        if removed == 0 {
            return Err(StorageError::not_found(
                "grid member",
                format!("{user_id} of grid {grid_id}"),
            ));
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "grid",
                entity_id: grid_id.to_string(),
                action: "remove_member",
                region_path: &grid_path,
                before: Some(serde_json::json!({ "user_id": user_id })),
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// The members of the grids in the actor's subtree, by grid: who walks each grid's
    /// rounds, for the grids page.
    pub async fn grid_members(&self, actor: &Actor) -> Result<Vec<GridMember>, StorageError> {
        let (low, high) = actor.scope().subtree().subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT m.grid_id, u.id AS user_id, u.username, u.display_name \
                 FROM grid_members m JOIN grids g ON g.id = m.grid_id JOIN users u ON u.id = m.user_id \
                 WHERE g.region_path >= $1 AND g.region_path < $2 \
                 ORDER BY m.grid_id, u.display_name LIMIT 20000",
            )
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?)
    }

    /// One grid in the actor's subtree.
    pub async fn grid(&self, actor: &Actor, id: i64) -> Result<Grid, StorageError> {
        let (low, high) = actor.scope().subtree().subtree_range();
        let found: Option<Grid> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT g.id, g.name, g.region_code, g.region_path, \
                 (SELECT COUNT(*) FROM grid_members m WHERE m.grid_id = g.id) AS member_count, \
                 (SELECT COUNT(*) FROM facilities f WHERE f.grid_id = g.id) AS facility_count \
                 FROM grids g WHERE g.id = $1 AND g.region_path >= $2 AND g.region_path < $3",
            )
            .bind(id)
            .bind(&low)
            .bind(&high)
            .fetch_optional(pool)
            .await
        })?;
        found.ok_or_else(|| StorageError::not_found("grid", id))
    }

    /// The grids in a subtree of the actor's scope (a grid member: their own grids).
    pub async fn grids(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
    ) -> Result<Vec<Grid>, StorageError> {
        let path = match region_code {
            Some(code) => self.region_in_scope(actor, code).await?,
            None => actor.scope().subtree().clone(),
        };
        let reach = self.facility_reach(actor).await?;
        let member_of = match reach {
            FacilityReach::Grids { user_id, .. } => user_id,
            _ => 0,
        };
        let (low, high) = path.subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT g.id, g.name, g.region_code, g.region_path, \
                 (SELECT COUNT(*) FROM grid_members m WHERE m.grid_id = g.id) AS member_count, \
                 (SELECT COUNT(*) FROM facilities f WHERE f.grid_id = g.id) AS facility_count \
                 FROM grids g WHERE g.region_path >= $1 AND g.region_path < $2 \
                 AND ($3 = 0 OR g.id IN (SELECT m.grid_id FROM grid_members m WHERE m.user_id = $3)) \
                 ORDER BY g.region_path, g.name LIMIT 2000",
            )
            .bind(&low)
            .bind(&high)
            .bind(member_of)
            .fetch_all(pool)
            .await
        })?)
    }

    /// The grid, in the actor's scope, that is to answer for something in region `code` (at
    /// `path`): refused unless the grid's region covers it, since a grid's members reach only
    /// what lies in their grid's region.
    pub(crate) async fn grid_covering(
        &self,
        actor: &Actor,
        grid_id: i64,
        path: &RegionPath,
        code: &str,
    ) -> Result<Grid, StorageError> {
        let grid = self.grid(actor, grid_id).await?;
        let grid_path = RegionPath::parse(&grid.region_path).unwrap_or_else(RegionPath::root);
        if !grid_path.contains(path) {
            return Err(StorageError::refused(
                "grid_id",
                format!("grid {} does not cover region {code}", grid.name),
                format!("网格“{}”不覆盖行政区划 {code}", grid.name),
            ));
        }
        Ok(grid)
    }

    /// Registers a facility: in the actor's scope, in a grid of its region (if given), with
    /// a property manager of the subtree (if given). Due for inspection at once.
    pub async fn create_facility(
        &self,
        actor: &Actor,
        new: NewFacility,
    ) -> Result<Facility, StorageError> {
        refuse_unless_manages_facilities(actor, "register facilities", "登记设施")?;
        new.draft.validate().map_err(problems_to_invalid)?;
        let path = self.region_in_scope(actor, &new.region_code).await?;
        if let Some(grid_id) = new.grid_id {
            self.grid_covering(actor, grid_id, &path, &new.region_code)
                .await?;
        }
        if let Some(organization_id) = new.manager_organization_id {
            self.organization(actor.scope(), organization_id)
                .await
                .map_err(|e| match e {
                    StorageError::NotFound { .. } => StorageError::refused(
                        "manager_organization_id",
                        format!("organization {organization_id} is not in your region"),
                        format!("单位 {organization_id} 不在您的辖区范围内"),
                    ),
                    other => other,
                })?;
        }
        let now = crate::now();
        let draft = &new.draft;
        let mut tx = self.begin_write().await?;
        let id = insert_facility(&mut tx, &new, &path, now).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "facility",
                entity_id: id.to_string(),
                action: "create",
                region_path: &path,
                before: None,
                after: Some(serde_json::json!({
                    "draft": draft,
                    "region_code": new.region_code,
                    "grid_id": new.grid_id,
                    "manager_organization_id": new.manager_organization_id,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.facility(actor, id).await
    }

    /// Sets a facility's sign status; an installed sign records the day it went up, which
    /// the sign campaigns count.
    pub async fn set_sign_status(
        &self,
        actor: &Actor,
        id: i64,
        status: SignStatus,
    ) -> Result<Facility, StorageError> {
        if !may_inspect(actor) {
            return Err(StorageError::forbidden(
                "only staff and grid members record signs",
                "只有工作人员和网格员才能登记标识",
            ));
        }
        let before = self.facility(actor, id).await?;
        let now = crate::now();
        let installed_day = match status {
            SignStatus::Installed if before.sign_status == SignStatus::Installed.as_str() => {
                before.sign_installed_day
            }
            SignStatus::Installed => Some(now.date().days_since_epoch()),
            _ => None,
        };
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE facilities SET sign_status = $1, sign_installed_day = $2, updated_at = $3 WHERE id = $4")
                .bind(status.as_str())
                .bind(installed_day)
                .bind(now.as_millis())
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "facility",
                entity_id: id.to_string(),
                action: "set_sign_status",
                region_path: &before.region_path(),
                before: Some(serde_json::json!({ "sign_status": before.sign_status })),
                after: Some(serde_json::json!({ "sign_status": status.as_str() })),
            },
        )
        .await?;
        tx.commit().await?;
        self.facility(actor, id).await
    }

    /// One facility the actor reaches.
    pub async fn facility(&self, actor: &Actor, id: i64) -> Result<Facility, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let (filter, binds) = reach.filter(2);
        let sql =
            format!("SELECT {FACILITY_COLUMNS} FROM facilities f WHERE f.id = $1 AND {filter}");
        let found: Option<Facility> = on_read_pool!(self, |pool| {
            bind_reach!(
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id),
                binds
            )
            .fetch_optional(pool)
            .await
        })?;
        found.ok_or_else(|| StorageError::not_found("facility", id))
    }

    /// A page of the facilities the actor reaches in a region's subtree, by id.
    pub async fn facilities(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        kind: Option<FacilityKind>,
        limit: i64,
        after_id: i64,
    ) -> Result<Vec<Facility>, StorageError> {
        let reach = self.narrowed_reach(actor, region_code).await?;
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT {FACILITY_COLUMNS} FROM facilities f WHERE {filter} \
             AND ($5 = '' OR f.kind = $5) AND f.id > $6 ORDER BY f.id LIMIT $7"
        );
        Ok(on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(kind.map_or("", FacilityKind::as_str))
                .bind(after_id)
                .bind(limit.clamp(1, MAX_FACILITY_PAGE))
                .fetch_all(pool)
                .await
        })?)
    }

    /// The actor's reach, narrowed to a region of their scope if one is named.
    pub(crate) async fn narrowed_reach(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
    ) -> Result<FacilityReach, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let Some(code) = region_code else {
            return Ok(reach);
        };
        let path = self.region_in_scope(actor, code).await?;
        Ok(match reach {
            FacilityReach::Subtree(_) => FacilityReach::Subtree(path),
            FacilityReach::Grids { user_id, .. } => FacilityReach::Grids {
                user_id,
                subtree: path,
            },
            FacilityReach::Manager {
                organization_id, ..
            } => FacilityReach::Manager {
                organization_id,
                subtree: path,
            },
        })
    }

    /// The path of a region of the actor's scope, or a not-found / out-of-scope refusal.
    pub(crate) async fn region_in_scope(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<RegionPath, StorageError> {
        Ok(self.region(actor.scope(), code.trim()).await?.region_path())
    }

    /// The checklist for a kind: the administrator's edit, or the default.
    pub async fn checklist(&self, kind: FacilityKind) -> Result<Checklist, StorageError> {
        let stored: Option<String> = on_read_pool!(self, |pool| {
            sqlx::query_scalar("SELECT document FROM checklists WHERE kind = $1")
                .bind(kind.as_str())
                .fetch_optional(pool)
                .await
        })?;
        Ok(stored
            .and_then(|document| serde_json::from_str(&document).ok())
            .unwrap_or_else(|| default_checklist(kind)))
    }

    /// Replaces a kind's checklist (administrators). Past inspections keep the checklist
    /// they were made against.
    pub async fn set_checklist(
        &self,
        actor: &Actor,
        checklist: Checklist,
    ) -> Result<(), StorageError> {
        let administrator = self
            .refuse_unless_installation_administrator(actor, "the checklists", "检查清单")
            .await?;
        checklist.validate().map_err(problems_to_invalid)?;
        let before = self.checklist(checklist.kind).await?;
        let now = crate::now();
        let document = serde_json::to_string(&checklist).map_err(|e| {
            StorageError::refused(
                "checklist",
                e.to_string(),
                format!("检查清单无法保存（{e}）"),
            )
        })?;
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO checklists (kind, document, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
            )
            .bind(checklist.kind.as_str())
            .bind(&document)
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "checklist",
                entity_id: checklist.kind.as_str().to_owned(),
                action: "update",
                region_path: &administrator.region,
                before: serde_json::to_value(&before).ok(),
                after: serde_json::to_value(&checklist).ok(),
            },
        )
        .await?;
        tx.commit().await
    }

    /// Sets how often a kind is inspected in a region's subtree (the deepest schedule on a
    /// facility's path wins) and moves the due days of the facilities it governs, in the
    /// same transaction.
    pub async fn set_schedule(
        &self,
        actor: &Actor,
        region_code: &str,
        kind: FacilityKind,
        every_days: u32,
    ) -> Result<u64, StorageError> {
        refuse_unless_manages_facilities(actor, "set schedules", "设定巡检计划")?;
        if !(1..=366).contains(&every_days) {
            return Err(StorageError::refused(
                "every_days",
                "between 1 and 366 days",
                "巡检间隔应为 1 至 366 天",
            ));
        }
        let path = self.region_in_scope(actor, region_code).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO inspection_schedules (region_path, kind, every_days, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (region_path, kind) DO UPDATE SET every_days = excluded.every_days, updated_at = excluded.updated_at",
            )
            .bind(path.as_str())
            .bind(kind.as_str())
            .bind(i64::from(every_days))
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
                .map(|_| ())
        })?;
        let moved = recompute_due_days(&mut tx, &path, kind).await?;
        tx.audit(actor, now, AuditEvent {
            entity: "inspection_schedule",
            entity_id: format!("{}|{}", path.as_str(), kind.as_str()),
            action: "set",
            region_path: &path,
            before: None,
            after: Some(serde_json::json!({ "kind": kind.as_str(), "every_days": every_days, "facilities_moved": moved })),
        })
        .await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Removes the schedule a region set for a kind: its subtree's facilities fall back to
    /// the schedule of the nearest region above that set one, or the kind's default, and
    /// their due days move accordingly (how many moved is returned). Audited.
    pub async fn remove_schedule(
        &self,
        actor: &Actor,
        region_code: &str,
        kind: FacilityKind,
    ) -> Result<u64, StorageError> {
        refuse_unless_manages_facilities(actor, "set schedules", "设定巡检计划")?;
        let path = self.region_in_scope(actor, region_code).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let removed: Option<i64> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "DELETE FROM inspection_schedules WHERE region_path = $1 AND kind = $2 RETURNING every_days",
            )
            .bind(path.as_str())
            .bind(kind.as_str())
            .fetch_optional(&mut *conn)
            .await
        })?;
        let Some(every_days) = removed else {
            return Err(StorageError::not_found(
                "inspection_schedule",
                format!("{region_code} {}", kind.as_str()),
            ));
        };
        let moved = recompute_due_days(&mut tx, &path, kind).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "inspection_schedule",
                entity_id: format!("{}|{}", path.as_str(), kind.as_str()),
                action: "remove",
                region_path: &path,
                before: Some(
                    serde_json::json!({ "kind": kind.as_str(), "every_days": every_days }),
                ),
                after: Some(serde_json::json!({ "facilities_moved": moved })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// The schedules set by the regions of the actor's scope, by region then kind (at most
    /// 2000). Schedules set above the scope are not listed; they are the defaults here.
    pub async fn schedules(&self, actor: &Actor) -> Result<Vec<ScheduleSetting>, StorageError> {
        let (low, high) = actor.scope().subtree().subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.code AS region_code, r.name AS region_name, s.region_path, s.kind, s.every_days \
                 FROM inspection_schedules s JOIN regions r ON r.path = s.region_path \
                 WHERE s.region_path >= $1 AND s.region_path < $2 \
                 ORDER BY s.region_path, s.kind LIMIT 2000",
            )
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?)
    }

    /// "My rounds today": the facilities of the user's grids due on or before `today`, most
    /// overdue first. Staff who are not grid members get the due facilities of their
    /// subtree, a page at a time.
    pub async fn rounds_due(
        &self,
        actor: &Actor,
        today: CivilDate,
        limit: i64,
    ) -> Result<Vec<Facility>, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let limit = limit.clamp(1, MAX_FACILITY_PAGE);
        if let FacilityReach::Grids { user_id, subtree } = &reach {
            let (low, high) = subtree.subtree_range();
            let sql = format!(
                "SELECT {FACILITY_COLUMNS} FROM grid_members m JOIN facilities f ON f.grid_id = m.grid_id \
                 WHERE m.user_id = $1 AND f.next_due_day <= $2 AND f.region_path >= $3 AND f.region_path < $4 \
                 ORDER BY f.next_due_day, f.id LIMIT $5"
            );
            return Ok(on_read_pool!(self, |pool| {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(user_id)
                    .bind(today.days_since_epoch())
                    .bind(&low)
                    .bind(&high)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            })?);
        }
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT {FACILITY_COLUMNS} FROM facilities f WHERE {filter} AND f.next_due_day <= $5 \
             ORDER BY f.next_due_day, f.id LIMIT $6"
        );
        Ok(on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(today.days_since_epoch())
                .bind(limit)
                .fetch_all(pool)
                .await
        })?)
    }

    /// The dashboard of a subtree the actor reaches.
    pub async fn facility_dashboard(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        now: Timestamp,
    ) -> Result<FacilityDashboard, StorageError> {
        let reach = self.narrowed_reach(actor, region_code).await?;
        let today = now.date();
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT f.kind, COUNT(*) AS facilities, \
             CAST(COALESCE(SUM(f.capacity_persons), 0) AS BIGINT) AS capacity, \
             CAST(COALESCE(SUM(CASE WHEN f.conversion_minutes <= 1440 THEN f.capacity_persons ELSE 0 END), 0) AS BIGINT) AS ready_24h, \
             CAST(COALESCE(SUM(CASE WHEN f.conversion_minutes <= 4320 THEN f.capacity_persons ELSE 0 END), 0) AS BIGINT) AS ready_72h, \
             CAST(COALESCE(SUM(CASE WHEN f.conversion_minutes <= 10080 THEN f.capacity_persons ELSE 0 END), 0) AS BIGINT) AS ready_week, \
             CAST(COALESCE(SUM(f.parking_spaces), 0) AS BIGINT) AS parking, \
             CAST(COALESCE(SUM(CASE WHEN f.peacetime_since_day >= $5 THEN f.parking_spaces ELSE 0 END), 0) AS BIGINT) AS parking_added, \
             CAST(COALESCE(SUM(f.charging_points), 0) AS BIGINT) AS charging, \
             CAST(COALESCE(SUM(CASE WHEN f.next_due_day <= $6 THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
             CAST(COALESCE(SUM(CASE WHEN f.sign_status = 'installed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS signed \
             FROM facilities f WHERE {filter} GROUP BY f.kind ORDER BY f.kind"
        );
        let kinds: Vec<KindFigures> = on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(today.start_of_year().days_since_epoch())
                .bind(today.days_since_epoch())
                .fetch_all(pool)
                .await
        })?;
        let since = now.plus_days(-30).as_millis();
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN i.failed_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM inspections i JOIN facilities f ON f.id = i.facility_id \
             WHERE i.region_path >= $1 AND i.region_path < $2 AND i.inspected_at >= $5 AND {filter}"
        );
        let (inspections_30_days, inspections_failing): (i64, i64) = on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(since)
                .fetch_one(pool)
                .await
        })?;
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT COUNT(*), \
             CAST(COALESCE(SUM(CASE WHEN o.deadline_day < $5 AND o.status <> 'repaired' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN o.escalated_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id \
             WHERE o.region_path >= $1 AND o.region_path < $2 \
             AND o.status IN ('issued', 'acknowledged', 'repaired', 'sent_back') AND {filter}"
        );
        let (open_orders, overdue_orders, escalated_orders): (i64, i64, i64) =
            on_read_pool!(self, |pool| {
                bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                    .bind(today.days_since_epoch())
                    .fetch_one(pool)
                    .await
            })?;
        let mut ready = ReadyCapacity::default();
        let mut totals = KindFigures::default();
        for figures in &kinds {
            totals.add(figures);
        }
        ready.within_24_hours = u64::try_from(totals.ready_24h).unwrap_or(0);
        ready.within_72_hours = u64::try_from(totals.ready_72h).unwrap_or(0);
        ready.within_week = u64::try_from(totals.ready_week).unwrap_or(0);
        ready.total = u64::try_from(totals.capacity).unwrap_or(0);
        Ok(FacilityDashboard {
            region_path: reach.subtree().as_str().to_owned(),
            today,
            kinds,
            totals,
            ready,
            inspections_30_days,
            inspections_failing,
            open_orders,
            overdue_orders,
            escalated_orders,
        })
    }

    /// The facilities of a subtree for the map: position and status colour, at most
    /// `limit` of them (the map thins out beyond that).
    pub async fn facility_map_points(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<MapPoint>, StorageError> {
        let reach = self.narrowed_reach(actor, region_code).await?;
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT f.id, f.name, f.kind, f.lat, f.lon, f.next_due_day, \
             (SELECT COUNT(*) FROM rectification_orders o WHERE o.facility_id = f.id \
                AND o.status IN ('issued', 'acknowledged', 'repaired', 'sent_back')) AS open_orders, \
             (SELECT COUNT(*) FROM rectification_orders o WHERE o.facility_id = f.id \
                AND o.status IN ('issued', 'acknowledged', 'sent_back') AND o.deadline_day < $5) AS overdue_orders \
             FROM facilities f WHERE {filter} ORDER BY f.id LIMIT $6"
        );
        let rows: Vec<MapRow> = on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(now.date().days_since_epoch())
                .bind(limit.clamp(1, 100_000))
                .fetch_all(pool)
                .await
        })?;
        let today = now.date().days_since_epoch();
        Ok(rows
            .into_iter()
            .map(|row| MapPoint {
                status: if row.overdue_orders > 0 {
                    MapStatus::OverdueOrder
                } else if row.open_orders > 0 {
                    MapStatus::OpenOrder
                } else if row.next_due_day <= today {
                    MapStatus::InspectionDue
                } else {
                    MapStatus::Good
                },
                id: row.id,
                name: row.name,
                kind: row.kind,
                lat: row.lat,
                lon: row.lon,
            })
            .collect())
    }
}

/// Inserts one facility row, due at once; the caller audits.
pub(crate) async fn insert_facility(
    tx: &mut WriteTx,
    new: &NewFacility,
    path: &RegionPath,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let draft = &new.draft;
    let services = serde_json::to_string(&draft.peacetime.services).unwrap_or_else(|_| "[]".into());
    let equipment = serde_json::to_string(&draft.equipment).unwrap_or_else(|_| "[]".into());
    let conversion = serde_json::to_string(&draft.conversion).unwrap_or_else(|_| "[]".into());
    let installed_day =
        (draft.sign_status == SignStatus::Installed).then(|| now.date().days_since_epoch());
    let due = next_due(None, now, 0).days_since_epoch();
    let id: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "INSERT INTO facilities (name, kind, region_code, region_path, grid_id, lat, lon, capacity_persons, \
             area_m2, parking_spaces, charging_points, services, peacetime_since_day, sign_status, \
             sign_installed_day, equipment, conversion, conversion_minutes, manager_organization_id, \
             last_inspected_at, next_due_day, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, NULL, $20, $21, $21) \
             RETURNING id",
        )
        .bind(draft.name.trim())
        .bind(draft.kind.as_str())
        .bind(new.region_code.trim())
        .bind(path.as_str())
        .bind(new.grid_id)
        .bind(draft.latitude)
        .bind(draft.longitude)
        .bind(i64::from(draft.capacity_persons))
        .bind(draft.area_m2)
        .bind(i64::from(draft.peacetime.parking_spaces))
        .bind(i64::from(draft.peacetime.charging_points))
        .bind(services)
        .bind(draft.peacetime.since.map(CivilDate::days_since_epoch))
        .bind(draft.sign_status.as_str())
        .bind(installed_day)
        .bind(equipment)
        .bind(conversion)
        .bind(i64::from(draft.conversion_minutes()))
        .bind(new.manager_organization_id)
        .bind(due)
        .bind(now.as_millis())
        .fetch_one(&mut *conn)
        .await
    })?;
    Ok(id)
}

/// The inspection interval for a kind at a path, from the schedules on the path.
pub(crate) async fn interval_at(
    tx: &mut WriteTx,
    path: &RegionPath,
    kind: FacilityKind,
) -> Result<u32, StorageError> {
    let ancestors = ancestor_paths(path);
    let rows: Vec<(String, i64)> = on_tx!(tx, |conn| {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT region_path, every_days FROM inspection_schedules WHERE kind = ",
        );
        query.push_bind(kind.as_str()).push(" AND region_path IN (");
        let mut separated = query.separated(", ");
        for ancestor in &ancestors {
            separated.push_bind(ancestor.clone());
        }
        query.push(")");
        query.build_query_as().fetch_all(&mut *conn).await
    })?;
    let schedules: Vec<Schedule> = rows
        .into_iter()
        .filter_map(|(p, days)| {
            Some(Schedule {
                region_depth: RegionPath::parse(&p)?.depth(),
                every_days: u32::try_from(days).ok()?,
            })
        })
        .collect();
    Ok(interval_days(kind, &schedules))
}

/// The path and every ancestor's path, root included.
fn ancestor_paths(path: &RegionPath) -> Vec<String> {
    let mut paths = vec![RegionPath::root().as_str().to_owned()];
    let mut current = RegionPath::root();
    for code in path.codes() {
        current = current.child(&code);
        paths.push(current.as_str().to_owned());
    }
    paths
}

/// Moves the due day of every facility of `kind` under `path` to what the schedules now
/// say. Returns how many moved.
async fn recompute_due_days(
    tx: &mut WriteTx,
    path: &RegionPath,
    kind: FacilityKind,
) -> Result<u64, StorageError> {
    let (low, high) = path.subtree_range();
    let schedules: Vec<(String, i64)> = on_tx!(tx, |conn| {
        sqlx::query_as("SELECT region_path, every_days FROM inspection_schedules WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_all(&mut *conn)
            .await
    })?;
    let schedules: Vec<(RegionPath, Schedule)> = schedules
        .into_iter()
        .filter_map(|(p, days)| {
            let p = RegionPath::parse(&p)?;
            let schedule = Schedule {
                region_depth: p.depth(),
                every_days: u32::try_from(days).ok()?,
            };
            Some((p, schedule))
        })
        .collect();
    let facilities: Vec<(i64, String, Option<i64>, i64, i64)> = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT id, region_path, last_inspected_at, created_at, next_due_day FROM facilities \
             WHERE kind = $1 AND region_path >= $2 AND region_path < $3",
        )
        .bind(kind.as_str())
        .bind(&low)
        .bind(&high)
        .fetch_all(&mut *conn)
        .await
    })?;
    let mut interval_cache: HashMap<String, u32> = HashMap::new();
    let mut moved = 0;
    for (id, facility_path, last, created, old_due) in facilities {
        let interval = *interval_cache
            .entry(facility_path.clone())
            .or_insert_with(|| {
                let at = RegionPath::parse(&facility_path).unwrap_or_else(RegionPath::root);
                let on_path: Vec<Schedule> = schedules
                    .iter()
                    .filter(|(p, _)| p.contains(&at))
                    .map(|(_, s)| s.clone())
                    .collect();
                interval_days(kind, &on_path)
            });
        let due = next_due(
            last.map(Timestamp::from_millis),
            Timestamp::from_millis(created),
            interval,
        );
        if due.days_since_epoch() != old_due {
            on_tx!(tx, |conn| {
                sqlx::query("UPDATE facilities SET next_due_day = $1 WHERE id = $2")
                    .bind(due.days_since_epoch())
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
            })?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// A subtree's facility figures for one kind (or, as `totals`, all kinds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct KindFigures {
    pub kind: String,
    pub facilities: i64,
    pub capacity: i64,
    pub ready_24h: i64,
    pub ready_72h: i64,
    pub ready_week: i64,
    pub parking: i64,
    pub parking_added: i64,
    pub charging: i64,
    /// Facilities whose inspection is due today or overdue.
    pub due: i64,
    pub signed: i64,
}

impl KindFigures {
    fn add(&mut self, other: &KindFigures) {
        self.facilities += other.facilities;
        self.capacity += other.capacity;
        self.ready_24h += other.ready_24h;
        self.ready_72h += other.ready_72h;
        self.ready_week += other.ready_week;
        self.parking += other.parking;
        self.parking_added += other.parking_added;
        self.charging += other.charging;
        self.due += other.due;
        self.signed += other.signed;
    }
}

/// What the facility dashboard of a subtree shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilityDashboard {
    pub region_path: String,
    pub today: CivilDate,
    pub kinds: Vec<KindFigures>,
    pub totals: KindFigures,
    pub ready: ReadyCapacity,
    /// Inspections made in the last 30 days, and how many of them found a failure.
    pub inspections_30_days: i64,
    pub inspections_failing: i64,
    pub open_orders: i64,
    pub overdue_orders: i64,
    pub escalated_orders: i64,
}

impl FacilityDashboard {
    /// Facilities inspected within their interval, against all of them.
    pub fn up_to_date(&self) -> i64 {
        self.totals.facilities - self.totals.due
    }
}

#[derive(Debug, sqlx::FromRow)]
struct MapRow {
    id: i64,
    name: String,
    kind: String,
    lat: f64,
    lon: f64,
    next_due_day: i64,
    open_orders: i64,
    overdue_orders: i64,
}

/// A facility's colour on the map: the worst thing about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapStatus {
    Good,
    InspectionDue,
    OpenOrder,
    OverdueOrder,
}

/// One facility on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    pub status: MapStatus,
}

#[cfg(test)]
mod tests {
    use muster_domain::facility::{ChecklistItem, InspectionDraft, ItemAnswer, ItemResult};

    use super::*;

    #[test]
    fn a_refused_checklist_says_each_problem_in_chinese_by_its_field() {
        let checklist = Checklist {
            kind: FacilityKind::Siren,
            items: vec![ChecklistItem {
                code: "Siren Test".into(),
                label_zh: " ".into(),
                label_en: "Siren test".into(),
                deadline_days: 0,
            }],
        };
        let problems = checklist.validate().expect_err("three problems");
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = problems_to_invalid(problems)
        else {
            panic!("expected a refusal said in both languages");
        };
        assert_eq!(field, "facility");
        // The English is what it always was.
        assert_eq!(
            message,
            "items[0].code: 1 to 40 of a-z, 0-9 and _; items[0].label_zh: a non-empty text; \
             items[0].deadline_days: between 1 and 365 days"
        );
        // The Chinese names the same fields, in the same order, joined by ；.
        let parts: Vec<&str> = message_zh.split('；').collect();
        assert_eq!(parts.len(), 3, "{message_zh}");
        assert!(parts[0].starts_with("items[0].code："), "{message_zh}");
        assert!(parts[1] == "items[0].label_zh：不能为空", "{message_zh}");
        assert!(
            parts[2].starts_with("items[0].deadline_days：") && parts[2].contains("整改期限"),
            "{message_zh}"
        );
        assert!(!message_zh.contains("expected"), "{message_zh}");
    }

    #[test]
    fn a_refused_inspection_names_the_checklist_in_chinese() {
        let checklist = default_checklist(FacilityKind::Siren);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let draft = InspectionDraft {
            answers: vec![ItemAnswer {
                code: "no_such_item".into(),
                result: ItemResult::Pass,
                note: String::new(),
            }],
            notes: String::new(),
            latitude: Some(31.8),
            longitude: None,
            inspected_at: now.plus_millis(24 * 3_600_000),
        };
        let problems = draft
            .check(&checklist, (31.8, 117.2), now)
            .expect_err("refused");
        let english: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let StorageError::Refused {
            message,
            message_zh,
            ..
        } = crate::error::refused_all("inspection", &problems, |p| p.zh())
        else {
            panic!("expected a refusal said in both languages");
        };
        assert_eq!(message, english.join("; "));
        assert!(
            message.contains("an item of the siren checklist; \"no_such_item\" is not one"),
            "{message}"
        );
        assert!(
            message_zh.contains(
                "answers[0].code：应为防空警报器检查清单中的检查项，\"no_such_item\" 不是"
            ),
            "{message_zh}"
        );
        assert!(
            message_zh.contains("position：纬度和经度须同时填写"),
            "{message_zh}"
        );
        assert!(
            message_zh.contains("inspected_at：巡检时间不能晚于当前时间"),
            "{message_zh}"
        );
        // One Chinese problem for each English one, each under the same field path.
        assert_eq!(
            message_zh.split('；').count(),
            problems.len(),
            "{message_zh}"
        );
        for problem in &problems {
            assert!(
                message_zh.contains(&format!("{}：", problem.field)),
                "{}: {message_zh}",
                problem.field
            );
        }
    }
}
