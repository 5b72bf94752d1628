//! Sites: the warehouses, reserve depots, hospitals, plants and yards where potential is kept,
//! each with coordinates in its region.
//!
//! A site's name is unique in its region after the holding key's normalisation (case, width,
//! spacing folded; `sites.name_key`, with a unique index), and a record whose `site` names a
//! stored site of its own region is linked to it (`potential_records.site_id`) as it is
//! inserted, by an import or a survey approval alike.

use std::collections::{HashMap, HashSet};

use muster_domain::potential::import::{RegionInfo, great_circle_km, region_radius_km};
use muster_domain::potential::{RecordDraft, SiteKind, normalize_name};
use muster_domain::{Actor, RegionPath, Scope, Timestamp};
use serde::Serialize;
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Backend, Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::potential::may_report;

/// A stored site, as a reader in scope sees it, with how many records are kept there.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub region_code: String,
    pub region_name: String,
    pub region_path: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub organization_id: Option<i64>,
    pub created_at: i64,
    pub record_count: i64,
}

impl Site {
    /// The stored kind; an unknown one (written by hand) reads as `other`.
    pub fn kind(&self) -> SiteKind {
        SiteKind::parse(&self.kind).unwrap_or(SiteKind::Other)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }
}

/// A site to register. Coordinates are required: a site is a place on the map.
#[derive(Debug, Clone)]
pub struct NewSite {
    pub name: String,
    pub kind: SiteKind,
    pub region_code: String,
    pub lat: f64,
    pub lon: f64,
    /// The organization that runs the site, if it is registered in Muster.
    pub organization_id: Option<i64>,
}

/// The longest site name accepted, in characters.
const MAX_SITE_NAME_CHARS: usize = 200;

const SITE_COLUMNS: &str = "s.id, s.name, s.kind, s.region_code, g.name AS region_name, s.region_path, \
     s.lat, s.lon, s.organization_id, s.created_at, \
     (SELECT COUNT(*) FROM potential_records r WHERE r.site_id = s.id) AS record_count";

impl Database {
    /// Registers a site: by a reporting role, in a region of the actor's scope, at
    /// coordinates inside that region, under a name no other site of the region has (after
    /// normalisation). Audited in the same transaction.
    pub async fn create_site(
        &self,
        actor: &Actor,
        new_site: NewSite,
    ) -> Result<Site, StorageError> {
        refuse_unless_may_register(actor, "register sites", "登记")?;
        let (name, name_key) = checked_name(&new_site.name)?;
        let (lat, lon) = checked_coordinates(new_site.lat, new_site.lon)?;
        let code = new_site.region_code.trim().to_owned();
        let region = self.site_region_in_scope(actor, &code).await?;
        check_within_region(&region, &code, lat, lon)?;
        if let Some(organization_id) = new_site.organization_id {
            self.check_site_organization(actor, organization_id).await?;
        }

        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let inserted: Result<i64, sqlx::Error> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO sites (name, name_key, kind, region_code, region_path, lat, lon, organization_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&name)
            .bind(&name_key)
            .bind(new_site.kind.as_str())
            .bind(&code)
            .bind(region.path.as_str())
            .bind(lat)
            .bind(lon)
            .bind(new_site.organization_id)
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        });
        let id = inserted.map_err(|e| {
            StorageError::unique_said(e, "name", || {
                (
                    format!("region {code} already has a site named like {name}"),
                    format!("行政区划 {code} 已有名称相同的地点：{name}"),
                )
            })
        })?;
        let linked = link_stored_records(&mut tx, id, &code, &region.path, &name_key).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "site",
                entity_id: id.to_string(),
                action: "create",
                region_path: &region.path,
                before: None,
                after: Some(serde_json::json!({
                    "name": name,
                    "kind": new_site.kind.as_str(),
                    "region_code": code,
                    "lat": lat,
                    "lon": lon,
                    "organization_id": new_site.organization_id,
                    "linked_records": linked,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.site(actor.scope(), id).await
    }

    /// A page of the sites in the reader's scope, by id, optionally only those in one
    /// region's subtree (which must be in scope) or whose name contains a text (compared
    /// after the holding key's normalisation, so case, width and spacing do not matter).
    pub async fn sites(
        &self,
        scope: &Scope,
        filter: &SiteFilter,
    ) -> Result<Vec<Site>, StorageError> {
        let region_code = filter
            .region_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let name = filter
            .name_contains
            .as_deref()
            .map(normalize_name)
            .filter(|n| !n.is_empty())
            .map(|n| {
                format!(
                    "%{}%",
                    n.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            });
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM sites s JOIN regions g ON g.code = s.region_code \
             WHERE s.region_path >= $1 AND s.region_path < $2 AND s.id > $3 \
             AND ($4 IS NULL OR s.name_key LIKE $4 ESCAPE '\\') ORDER BY s.id LIMIT $5"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(filter.after_id)
                .bind(&name)
                .bind(filter.limit.clamp(1, 1000))
                .fetch_all(pool)
                .await
        })?)
    }

    /// One site, if it is in the reader's scope.
    pub async fn site(&self, scope: &Scope, id: i64) -> Result<Site, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM sites s JOIN regions g ON g.code = s.region_code \
             WHERE s.id = $1 AND s.region_path >= $2 AND s.region_path < $3"
        );
        let found: Option<Site> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("site", id))
    }

    /// Changes a site: its name, kind, coordinates, managing organization, or region (a
    /// move). By a reporting role, for a site in the actor's scope, into a region of it; new
    /// coordinates must lie inside the region the site ends up in. A site with linked records
    /// keeps its name but for its spelling (the same normalised name, so the same holding
    /// keys), which its records take in the same transaction: a later report under an old
    /// name would be another holding, counted twice. Nor can it move, as a record links only
    /// to a site of its own region. After a rename or a move the site
    /// takes in its region's records stored under its new name, as a new site would. An
    /// edit that changes nothing writes nothing. Audited with before and after.
    pub async fn update_site(
        &self,
        actor: &Actor,
        id: i64,
        changes: SiteChanges,
    ) -> Result<Site, StorageError> {
        refuse_unless_may_register(actor, "change sites", "修改")?;
        let current = self.site(actor.scope(), id).await?;
        let (name, name_key) = match changes.name.as_deref() {
            Some(name) => checked_name(name)?,
            None => (current.name.clone(), normalize_name(&current.name)),
        };
        let kind = changes.kind.unwrap_or_else(|| current.kind());
        let code = changes
            .region_code
            .as_deref()
            .map(str::trim)
            .unwrap_or(&current.region_code)
            .to_owned();
        let moving = code != current.region_code;
        let (lat, lon) = (changes.lat.or(current.lat), changes.lon.or(current.lon));
        // Only a move or coordinates that differ are checked against the region's reach:
        // a form sends the stored point back with every save, and a site whose point a
        // region's re-imported centre left outside must still take a new kind or operator.
        let placed = moving || lat != current.lat || lon != current.lon;
        let region_path = if placed {
            let region = self.site_region_in_scope(actor, &code).await?;
            let (Some(lat), Some(lon)) = (lat, lon) else {
                return Err(StorageError::refused(
                    "lat",
                    "a site needs both coordinates",
                    "地点需要同时填写纬度和经度",
                ));
            };
            let (lat, lon) = checked_coordinates(lat, lon)?;
            check_within_region(&region, &code, lat, lon)?;
            region.path
        } else {
            current.region_path()
        };
        let organization_id = changes.organization_id.unwrap_or(current.organization_id);
        if let Some(organization_id) = organization_id
            && Some(organization_id) != current.organization_id
        {
            self.check_site_organization(actor, organization_id).await?;
        }
        let after = StoredSite {
            name,
            kind: kind.as_str().to_owned(),
            region_code: code,
            lat,
            lon,
            organization_id,
        };
        let before = StoredSite::of(&current);
        if after == before {
            return Ok(current);
        }

        let now = crate::now();
        let mut tx = self.begin_write().await?;
        // The row is held until the commit, and on PostgreSQL `FOR UPDATE` also waits for
        // the writers that are linking records to it (they hold it `FOR KEY SHARE`), so the
        // records counted and renamed below are all there are.
        let held = lock_site(&mut tx, id).await?;
        if held.as_ref() != Some(&before) {
            return Err(changed_meanwhile(id));
        }
        let linked = linked_record_count(&mut tx, id).await?;
        if moving && linked > 0 {
            return Err(StorageError::Conflict {
                field: "region_code",
                message: format!(
                    "site {} keeps {linked} potential records of region {}, and a record links only to a site of its own region: a site with records cannot move",
                    before.name, before.region_code
                ),
                message_zh: Some(format!(
                    "地点 {} 关联着行政区划 {} 的 {linked} 条潜力记录，而记录只能关联本行政区划的地点：有记录的地点不能迁往其他行政区划",
                    before.name, before.region_code
                )),
            });
        }
        // The name is how reports find a holding (it is part of the holding key): renamed
        // under its records, a site would let a later report under the old name in as a
        // second holding, counted twice. With records only the spelling may change (case,
        // width, spacing), which leaves every key as it is.
        if linked > 0 && name_key != normalize_name(&before.name) {
            return Err(StorageError::Conflict {
                field: "name",
                message: format!(
                    "site {} keeps {linked} potential records reported under its name, and a later report under that name would be counted as another holding: a site with records changes only the spelling of its name. Register {} as a new site",
                    before.name, after.name
                ),
                message_zh: Some(format!(
                    "地点 {} 关联着 {linked} 条按此名称填报的潜力记录，改名后按原名称的填报会被当作另一项潜力重复统计：有记录的地点只能修改名称的写法（大小写、全半角、空格）。请将 {} 登记为新的地点",
                    before.name, after.name
                )),
            });
        }
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE sites SET name = $1, name_key = $2, kind = $3, region_code = $4, region_path = $5, \
                 lat = $6, lon = $7, organization_id = $8 WHERE id = $9",
            )
            .bind(&after.name)
            .bind(&name_key)
            .bind(&after.kind)
            .bind(&after.region_code)
            .bind(region_path.as_str())
            .bind(after.lat)
            .bind(after.lon)
            .bind(after.organization_id)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        });
        updated.map_err(|e| {
            StorageError::unique_said(e, "name", || {
                (
                    format!(
                        "region {} already has a site named like {}",
                        after.region_code, after.name
                    ),
                    format!(
                        "行政区划 {} 已有名称相同的地点：{}",
                        after.region_code, after.name
                    ),
                )
            })
        })?;
        let renamed = if after.name != before.name && linked > 0 {
            respell_linked_records(&mut tx, id, &after.name, now).await?
        } else {
            0
        };
        let taken_in = if moving || name_key != normalize_name(&before.name) {
            link_stored_records(&mut tx, id, &after.region_code, &region_path, &name_key).await?
        } else {
            0
        };
        let mut after_json = after.to_json();
        after_json["records_renamed"] = renamed.into();
        after_json["linked_records"] = taken_in.into();
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "site",
                entity_id: id.to_string(),
                action: if moving { "move" } else { "update" },
                // Seen in the audit logs of both ends of a move.
                region_path: &current.region_path().common_ancestor(&region_path),
                before: Some(before.to_json()),
                after: Some(after_json),
            },
        )
        .await?;
        tx.commit().await?;
        self.site(actor.scope(), id).await
    }

    /// Removes a site no record is linked to, by a reporting role, in the actor's scope.
    /// Audited with what the site was.
    pub async fn remove_site(&self, actor: &Actor, id: i64) -> Result<(), StorageError> {
        refuse_unless_may_register(actor, "remove sites", "删除")?;
        let current = self.site(actor.scope(), id).await?;
        let before = StoredSite::of(&current);
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let held = lock_site(&mut tx, id).await?;
        if held.as_ref() != Some(&before) {
            return Err(changed_meanwhile(id));
        }
        let keeps_records = |linked: i64| StorageError::Conflict {
            field: "id",
            message: format!(
                "site {} keeps {linked} potential records; it can be removed once none is kept there",
                before.name
            ),
            message_zh: Some(format!(
                "地点 {} 关联着 {linked} 条潜力记录，没有关联记录时才能删除",
                before.name
            )),
        };
        let linked = linked_record_count(&mut tx, id).await?;
        if linked > 0 {
            return Err(keeps_records(linked));
        }
        let deleted = on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM sites WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        });
        // The foreign key stands behind the count: a record linked meanwhile refuses too.
        deleted.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => keeps_records(1),
            _ => StorageError::Database(e),
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "site",
                entity_id: id.to_string(),
                action: "remove",
                region_path: &current.region_path(),
                before: Some(before.to_json()),
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// A region the actor may place a site in: stored, and in the actor's scope.
    async fn site_region_in_scope(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<RegionInfo, StorageError> {
        let region = self
            .region_infos([code.to_owned()])
            .await?
            .remove(code)
            .ok_or_else(|| StorageError::Refused {
                field: "region_code",
                message: format!("region {code} does not exist"),
                message_zh: format!("没有行政区划 {code}"),
            })?;
        if !actor.scope().contains(&region.path) {
            return Err(StorageError::out_of_scope("region", code));
        }
        Ok(region)
    }

    /// The organization that runs a site must be one the actor sees.
    async fn check_site_organization(
        &self,
        actor: &Actor,
        organization_id: i64,
    ) -> Result<(), StorageError> {
        self.organization(actor.scope(), organization_id)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                StorageError::NotFound { .. } => StorageError::Refused {
                    field: "organization_id",
                    message: format!("organization {organization_id} is not in your region"),
                    message_zh: format!("单位 {organization_id} 不在您的辖区内"),
                },
                other => other,
            })
    }
}

/// Changes to a stored site; what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct SiteChanges {
    pub name: Option<String>,
    pub kind: Option<SiteKind>,
    /// Another region: a move, allowed only while no record is linked to the site.
    pub region_code: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// `Some(None)`: no organization runs the site any more.
    pub organization_id: Option<Option<i64>>,
}

/// Which sites to list: a region's subtree (in scope), names containing a text (after the
/// holding key's normalisation), a page after an id.
#[derive(Debug, Clone, Default)]
pub struct SiteFilter {
    pub region_code: Option<String>,
    pub name_contains: Option<String>,
    pub limit: i64,
    pub after_id: i64,
}

/// What a site is, as an edit compares, stores and audits it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct StoredSite {
    name: String,
    kind: String,
    region_code: String,
    lat: Option<f64>,
    lon: Option<f64>,
    organization_id: Option<i64>,
}

impl StoredSite {
    fn of(site: &Site) -> Self {
        Self {
            name: site.name.clone(),
            kind: site.kind.clone(),
            region_code: site.region_code.clone(),
            lat: site.lat,
            lon: site.lon,
            organization_id: site.organization_id,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "region_code": self.region_code,
            "lat": self.lat,
            "lon": self.lon,
            "organization_id": self.organization_id,
        })
    }
}

/// Refuses unless the actor registers, changes and removes sites; `doing` and `doing_zh`
/// say which, as in "register sites" and "登记".
fn refuse_unless_may_register(
    actor: &Actor,
    doing: &str,
    doing_zh: &str,
) -> Result<(), StorageError> {
    if may_report(actor) {
        Ok(())
    } else {
        Err(StorageError::forbidden(
            format!("only office staff, workstation staff and member-unit officers {doing}"),
            format!("只有动员办工作人员、工作站人员和成员单位专干才能{doing_zh}存放地点"),
        ))
    }
}

/// The name trimmed, and its normalised key; refused when empty or too long.
fn checked_name(name: &str) -> Result<(String, String), StorageError> {
    let name = name.trim().to_owned();
    let name_key = normalize_name(&name);
    if name_key.is_empty() {
        return Err(StorageError::Refused {
            field: "name",
            message: "a site needs a name".into(),
            message_zh: "请填写地点名称".into(),
        });
    }
    if name.chars().count() > MAX_SITE_NAME_CHARS {
        return Err(StorageError::Refused {
            field: "name",
            message: format!("a site's name has at most {MAX_SITE_NAME_CHARS} characters"),
            message_zh: format!("地点名称最多 {MAX_SITE_NAME_CHARS} 个字符"),
        });
    }
    Ok((name, name_key))
}

fn checked_coordinates(lat: f64, lon: f64) -> Result<(f64, f64), StorageError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(StorageError::Refused {
            field: "lat",
            message: "the latitude must lie between -90 and 90".into(),
            message_zh: "纬度应在 -90 到 90 之间".into(),
        });
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(StorageError::Refused {
            field: "lon",
            message: "the longitude must lie between -180 and 180".into(),
            message_zh: "经度应在 -180 到 180 之间".into(),
        });
    }
    Ok((lat, lon))
}

/// Coordinates within the region's reach of its own point (a region without a point takes
/// any).
fn check_within_region(
    region: &RegionInfo,
    code: &str,
    lat: f64,
    lon: f64,
) -> Result<(), StorageError> {
    if let Some(centre) = region.coordinates {
        let distance = great_circle_km((lat, lon), centre);
        let radius = region_radius_km(region.level);
        if distance > radius {
            return Err(StorageError::Refused {
                field: "lat",
                message: format!(
                    "the coordinates lie {distance:.0} km from region {code}, outside it (it reaches about {radius:.0} km)"
                ),
                message_zh: format!(
                    "坐标距行政区划 {code} 约 {distance:.0} 公里，超出其范围（该区划半径约 {radius:.0} 公里）"
                ),
            });
        }
    }
    Ok(())
}

fn changed_meanwhile(id: i64) -> StorageError {
    StorageError::Conflict {
        field: "id",
        message: format!("site {id} changed meanwhile; reload and try again"),
        message_zh: Some(format!("地点 {id} 已被他人修改，请刷新页面后重试")),
    }
}

/// Reads the site in the write transaction and holds its row until the commit (`FOR
/// UPDATE` on PostgreSQL; SQLite has one writer at a time).
async fn lock_site(tx: &mut WriteTx, id: i64) -> Result<Option<StoredSite>, StorageError> {
    const SELECT: &str =
        "SELECT name, kind, region_code, lat, lon, organization_id FROM sites WHERE id = $1";
    let sql = match tx.backend() {
        Backend::Sqlite => SELECT.to_owned(),
        Backend::Postgres => format!("{SELECT} FOR UPDATE"),
    };
    Ok(on_tx!(&mut *tx, |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
    })?)
}

async fn linked_record_count(tx: &mut WriteTx, site_id: i64) -> Result<i64, StorageError> {
    Ok(on_tx!(&mut *tx, |conn| {
        sqlx::query_scalar("SELECT COUNT(*) FROM potential_records WHERE site_id = $1")
            .bind(site_id)
            .fetch_one(&mut *conn)
            .await
    })?)
}

/// Gives the records linked to a site whose name was respelled (the same once normalised,
/// see [`normalize_name`]) the new spelling. Their holding keys stay as they are, since the
/// key holds the normalised name. Returns how many records were respelled.
async fn respell_linked_records(
    tx: &mut WriteTx,
    site_id: i64,
    new_name: &str,
    now: Timestamp,
) -> Result<u64, StorageError> {
    Ok(on_tx!(&mut *tx, |conn| {
        sqlx::query(
            "UPDATE potential_records SET site_name = $1, updated_at = $2 WHERE site_id = $3",
        )
        .bind(new_name)
        .bind(now.as_millis())
        .bind(site_id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
    })?)
}

/// The stored sites of the regions a batch of records names: region code → normalised
/// name → site id. Looked up inside the write transaction, so a record links to a site that
/// is there when it is stored.
#[derive(Debug, Default)]
pub(crate) struct SiteLinks(HashMap<String, HashMap<String, i64>>);

impl SiteLinks {
    /// The stored site a record names in its own region, if any. The name is normalised only
    /// when the region has sites at all, so a batch without them costs one hash look-up a row.
    pub(crate) fn site_of(&self, draft: &RecordDraft) -> Option<i64> {
        let sites = self.0.get(draft.region_code.as_str())?;
        let site = draft.site.as_deref()?;
        sites.get(&normalize_name(site)).copied()
    }
}

/// Records updated per statement when a new site takes in those already stored.
const LINKS_PER_UPDATE: usize = 500;

/// Links the records already stored in the site's own region that name it and have no site
/// yet, so a site registered after the import that named it still counts its records. The
/// region's own records are the holding-key range `path|` … `path}` (`}` follows `|`): one
/// index range, without the records of the regions below.
async fn link_stored_records(
    tx: &mut WriteTx,
    site_id: i64,
    region_code: &str,
    region_path: &RegionPath,
    name_key: &str,
) -> Result<usize, StorageError> {
    let low = format!("{}|", region_path.as_str());
    let high = format!("{}}}", region_path.as_str());
    let named: Vec<(i64, String)> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as(
            "SELECT id, site_name FROM potential_records WHERE holding_key >= $1 AND holding_key < $2 \
             AND region_code = $3 AND site_id IS NULL AND site_name IS NOT NULL",
        )
        .bind(&low)
        .bind(&high)
        .bind(region_code)
        .fetch_all(&mut *conn)
        .await
    })?;
    let ids: Vec<i64> = named
        .into_iter()
        .filter(|(_, site)| normalize_name(site) == name_key)
        .map(|(id, _)| id)
        .collect();
    set_records_site(tx, Some(site_id), &ids).await?;
    Ok(ids.len())
}

/// Links the records `ids` to `site` (or unlinks them, `None`), a chunk of ids a statement.
async fn set_records_site(
    tx: &mut WriteTx,
    site: Option<i64>,
    ids: &[i64],
) -> Result<(), StorageError> {
    for chunk in ids.chunks(LINKS_PER_UPDATE) {
        on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new("UPDATE potential_records SET site_id = ");
            query.push_bind(site).push(" WHERE id IN (");
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            query.push(")");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Regions looked up per statement: well under SQLite's bound-parameter limit.
const SITE_REGIONS_PER_QUERY: usize = 500;

impl SiteLinks {
    /// Links of `(site id, region code, normalised name)`, for unit tests.
    #[cfg(test)]
    pub(crate) fn of(rows: impl IntoIterator<Item = (i64, String, Option<String>)>) -> Self {
        let mut links = Self::default();
        links.extend(rows);
        links
    }

    fn extend(&mut self, rows: impl IntoIterator<Item = (i64, String, Option<String>)>) {
        for (id, region_code, name_key) in rows {
            if let Some(name_key) = name_key {
                self.0.entry(region_code).or_default().insert(name_key, id);
            }
        }
    }
}

/// Finds the sites the records of a batch may name. One pass over the batch for the regions
/// of the records that name a site, then one query per 500 such regions.
pub(crate) async fn site_links(
    tx: &mut WriteTx,
    drafts: &[&(u32, RecordDraft)],
) -> Result<SiteLinks, sqlx::Error> {
    let regions: HashSet<&str> = drafts
        .iter()
        .filter(|(_, d)| d.site.as_deref().is_some_and(|s| !s.trim().is_empty()))
        .map(|(_, d)| d.region_code.as_str())
        .collect();
    let mut links = SiteLinks::default();
    let regions: Vec<&str> = regions.into_iter().collect();
    // On PostgreSQL the sites read are held until the commit, so a rename or a move waits
    // for the records linked here, and one committed first is what is read: no record is
    // linked under a name its site no longer has.
    let hold = match tx.backend() {
        Backend::Sqlite => ")",
        Backend::Postgres => ") FOR SHARE",
    };
    for chunk in regions.chunks(SITE_REGIONS_PER_QUERY) {
        let rows: Vec<(i64, String, Option<String>)> = on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT id, region_code, name_key FROM sites WHERE region_code IN (",
            );
            let mut separated = query.separated(", ");
            for code in chunk {
                separated.push_bind(*code);
            }
            query.push(hold);
            query.build_query_as().fetch_all(&mut *conn).await
        })?;
        links.extend(rows);
    }
    Ok(links)
}

/// The sites of a subtree with a name, as `(id, region code, region path, name key)`.
const SITES_IN_SUBTREE: &str = "SELECT id, region_code, region_path, name_key FROM sites \
     WHERE region_path >= $1 AND region_path < $2 AND name_key IS NOT NULL";

/// The named sites of a subtree as a file import saw them before its writer began: id →
/// (region code, name key).
pub(crate) type SitesSeen = HashMap<i64, (String, String)>;

/// The sites a file import saw before its writer began: their links, and what each was for
/// [`link_sites_not_seen`].
#[derive(Debug, Default)]
pub(crate) struct SiteSnapshot {
    pub(crate) links: SiteLinks,
    pub(crate) seen: SitesSeen,
}

impl Database {
    /// Every named site of `subtree`, read once, before a file import's writer begins. The
    /// preparing task must not read `sites` after that: on PostgreSQL a first bulk load drops
    /// the records' foreign key to `sites`, which locks `sites` until the commit, and a read
    /// waiting for that lock while the writer waits for the batch would never end.
    pub(crate) async fn site_snapshot(
        &self,
        subtree: &RegionPath,
    ) -> Result<SiteSnapshot, sqlx::Error> {
        let (low, high) = subtree.subtree_range();
        let rows: Vec<(i64, String, String, Option<String>)> = on_read_pool!(self, |pool| {
            sqlx::query_as(SITES_IN_SUBTREE)
                .bind(&low)
                .bind(&high)
                .fetch_all(pool)
                .await
        })?;
        let mut snapshot = SiteSnapshot::default();
        snapshot
            .seen
            .extend(rows.iter().filter_map(|(id, code, _, key)| {
                key.as_ref().map(|key| (*id, (code.clone(), key.clone())))
            }));
        snapshot.links.extend(
            rows.into_iter()
                .map(|(id, code, _, name_key)| (id, code, name_key)),
        );
        Ok(snapshot)
    }
}

/// Brings the links of the records stored so far (this transaction's too) up to date with
/// the sites of `subtree` as they are now, where they differ from what a file import saw
/// (`seen`) while it was prepared: a site registered meanwhile, whose own linking could not
/// see the import's records, takes them in; a site renamed or moved meanwhile lets go of the
/// records that no longer name it in its region and takes in those that do. Ids are not
/// compared for order, as a sequence hands them out in insert order, not commit order.
/// Usually nothing changed. Returns how many records were linked.
pub(crate) async fn link_sites_not_seen(
    tx: &mut WriteTx,
    subtree: &RegionPath,
    seen: &SitesSeen,
) -> Result<usize, StorageError> {
    let (low, high) = subtree.subtree_range();
    // The query keeps only named sites, so the name key is read as present.
    let sites: Vec<(i64, String, String, String)> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as(SITES_IN_SUBTREE)
            .bind(&low)
            .bind(&high)
            .fetch_all(&mut *conn)
            .await
    })?;
    let mut to_link = Vec::new();
    for (id, region_code, region_path, name_key) in sites {
        match seen.get(&id) {
            Some((code, key)) if *code == region_code && *key == name_key => continue,
            Some(_) => unlink_stale_records(tx, id, &region_code, &name_key).await?,
            None => {}
        }
        to_link.push((id, region_code, region_path, name_key));
    }
    let mut linked = 0;
    for (id, region_code, region_path, name_key) in to_link {
        let path = RegionPath::parse(&region_path).ok_or_else(|| {
            StorageError::refused(
                "region_path",
                format!("site {id} has the malformed region path {region_path}"),
                format!("存放地点 {id} 的行政区划路径 {region_path} 格式有误"),
            )
        })?;
        linked += link_stored_records(tx, id, &region_code, &path, &name_key).await?;
    }
    Ok(linked)
}

/// Unlinks the records of a site that no longer name it in its region: those an import
/// linked by a name the site had when the import was prepared.
async fn unlink_stale_records(
    tx: &mut WriteTx,
    site_id: i64,
    region_code: &str,
    name_key: &str,
) -> Result<(), StorageError> {
    let linked: Vec<(i64, String, Option<String>)> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as(
            "SELECT id, region_code, site_name FROM potential_records WHERE site_id = $1",
        )
        .bind(site_id)
        .fetch_all(&mut *conn)
        .await
    })?;
    let stale: Vec<i64> = linked
        .into_iter()
        .filter(|(_, code, site)| {
            code != region_code || site.as_deref().map(normalize_name).as_deref() != Some(name_key)
        })
        .map(|(id, _, _)| id)
        .collect();
    set_records_site(tx, None, &stale).await
}
