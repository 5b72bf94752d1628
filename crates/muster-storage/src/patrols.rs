//! Patrols and campaigns over facilities.
//!
//! A patrol route is a list of checkpoints; a grid member checks in at each by scanning or
//! typing its code. The first check-in starts a run; once the run's window has passed,
//! [`Database::sweep_patrols`] records what it missed and alerts the route's region.
//!
//! A campaign is a target over the facilities of a subtree (optionally of one kind) with a
//! date; its progress by child region and its forecast come from the facilities' own
//! records (the day a sign went up, the first inspection since the start).

use std::collections::BTreeMap;

use muster_domain::facility::FacilityKind;
use muster_domain::facility::campaign::{CampaignTarget, Forecast, forecast};
use muster_domain::facility::patrol::{
    CheckIn, RouteDraft, checkpoint_for_code, missed_checkpoints,
};
use muster_domain::time::CivilDate;
use muster_domain::{Actor, RegionPath, Timestamp};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::facilities::{
    FacilityReach, bind_reach, may_inspect, may_manage_facilities, refuse_unless_manages_facilities,
};
use crate::orders::{Notification, insert_notification};

/// A stored patrol route.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PatrolRoute {
    pub id: i64,
    pub name: String,
    pub region_code: String,
    pub region_path: String,
    pub grid_id: Option<i64>,
    pub window_minutes: i64,
    pub checkpoints: String,
    pub created_at: i64,
    /// When the route was retired (see [`Database::retire_route`]); `None` while in use.
    pub retired_at: Option<i64>,
}

impl PatrolRoute {
    /// The route with its checkpoints' codes blanked. A check-in proves the patroller was at
    /// the checkpoint because the code is printed on a plate there and nowhere else a
    /// patroller can read it; so only those who set routes up (and print the plates) read the
    /// codes back, and everyone else gets each checkpoint's name and position to find it by.
    pub fn without_codes(mut self) -> Self {
        let mut draft = self.draft();
        for checkpoint in &mut draft.checkpoints {
            checkpoint.code.clear();
        }
        self.checkpoints =
            serde_json::to_string(&draft.checkpoints).unwrap_or_else(|_| "[]".to_owned());
        self
    }

    pub fn draft(&self) -> RouteDraft {
        RouteDraft {
            name: self.name.clone(),
            window_minutes: u32::try_from(self.window_minutes).unwrap_or(0),
            checkpoints: serde_json::from_str(&self.checkpoints).unwrap_or_default(),
        }
    }
}

/// A run of a route: who walked it, when, and (once checked) what it missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PatrolRun {
    pub id: i64,
    pub route_id: i64,
    pub user_id: i64,
    pub started_at: i64,
    pub window_ends_at: i64,
    pub checked_at: Option<i64>,
    pub missed: Option<String>,
    pub check_ins: i64,
}

/// What a check-in did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInOutcome {
    pub run_id: i64,
    pub checkpoint: String,
    /// The names of the route's checkpoints not yet reached in this run (not their codes:
    /// a code is read at the checkpoint, see [`PatrolRoute::without_codes`]).
    pub remaining: Vec<String>,
}

/// A checkpoint's name, by its code (the code itself if the route no longer has it).
fn checkpoint_name(draft: &RouteDraft, code: &str) -> String {
    draft
        .checkpoints
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .map_or_else(|| code.to_owned(), |c| c.name.clone())
}

/// The route as the audit log keeps it: each checkpoint's code as an HMAC-SHA256 under the
/// installation's own key ([`checkpoint_digest_key`]). That pins the code down for a later
/// check by whoever holds the key, without showing it to the readers of the log, who include
/// those who walk the route. A plain SHA-256 would not do: codes are short and chosen by
/// staff, so a reader could find one by hashing guesses. Entries written before the key kept
/// `code_sha256`.
fn audited_route(draft: &RouteDraft, key: &[u8]) -> serde_json::Value {
    use hmac::{Hmac, Mac};
    let checkpoints: Vec<serde_json::Value> = draft
        .checkpoints
        .iter()
        .map(|c| {
            // A key of any length is accepted (HMAC hashes a long one); the error is unreachable.
            let digest = Hmac::<sha2::Sha256>::new_from_slice(key).map(|mut mac| {
                mac.update(c.code.to_ascii_uppercase().as_bytes());
                hex::encode(mac.finalize().into_bytes())
            });
            serde_json::json!({
                "code_hmac_sha256": digest.unwrap_or_default(),
                "name": c.name,
                "latitude": c.latitude,
                "longitude": c.longitude,
            })
        })
        .collect();
    serde_json::json!({
        "name": draft.name,
        "window_minutes": draft.window_minutes,
        "checkpoints": checkpoints,
    })
}

/// The settings key of the installation's key for checkpoint digests.
const CHECKPOINT_DIGEST_KEY: &str = "checkpoint_digest_key";

async fn digest_key_stored(tx: &mut crate::db::WriteTx) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(CHECKPOINT_DIGEST_KEY)
            .fetch_optional(&mut *conn)
            .await
    })
}

/// The installation's key for checkpoint digests in the audit log: 32 random bytes made on
/// first use and kept in `settings`, which no page or API shows. Its making is a write like
/// any other, audited (that it was made, never the key) in the transaction of the route
/// change that needed it.
async fn checkpoint_digest_key(
    tx: &mut crate::db::WriteTx,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<u8>, StorageError> {
    use rand::RngCore;
    let stored = digest_key_stored(tx).await?;
    let stored = match stored {
        Some(stored) => stored,
        None => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let fresh = hex::encode(key);
            let made = on_tx!(&mut *tx, |conn| {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                )
                .bind(CHECKPOINT_DIGEST_KEY)
                .bind(&fresh)
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
            })?;
            if made == 1 {
                tx.audit(
                    actor,
                    now,
                    AuditEvent {
                        entity: "setting",
                        entity_id: CHECKPOINT_DIGEST_KEY.to_owned(),
                        action: "create",
                        region_path: &RegionPath::root(),
                        before: None,
                        after: Some(serde_json::json!({ "made": "32 random bytes" })),
                    },
                )
                .await?;
            }
            // Read back, so that a key another writer stored first is the one used.
            digest_key_stored(tx)
                .await?
                .ok_or_else(|| unreadable_digest_key("missing"))?
        }
    };
    match hex::decode(stored.trim()) {
        Ok(key) if key.len() == 32 => Ok(key),
        _ => Err(unreadable_digest_key("not 32 hexadecimal bytes")),
    }
}

fn unreadable_digest_key(problem: &str) -> StorageError {
    StorageError::Database(sqlx::Error::Decode(
        format!("the {CHECKPOINT_DIGEST_KEY} setting does not read: {problem}").into(),
    ))
}

/// The route as `actor` may read it: codes and all for those who may set routes up.
fn shown_to(actor: &Actor, route: PatrolRoute) -> PatrolRoute {
    if may_manage_facilities(actor) {
        route
    } else {
        route.without_codes()
    }
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub region_code: String,
    pub region_path: String,
    pub facility_kind: Option<String>,
    pub target: String,
    pub start_day: i64,
    pub target_day: i64,
    pub created_at: i64,
}

/// A campaign to start.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub region_code: String,
    pub facility_kind: Option<FacilityKind>,
    pub target: CampaignTarget,
    pub start: CivilDate,
    pub target_date: CivilDate,
}

/// What may change of a running campaign: its name and its target date. Its region, kind,
/// target and start are what it measures, so another of those is another campaign.
#[derive(Debug, Clone)]
pub struct CampaignChanges {
    pub name: String,
    pub target_date: CivilDate,
}

/// A campaign's name, trimmed, when it has 1 to 200 characters.
fn campaign_name(name: &str) -> Result<&str, StorageError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StorageError::refused(
            "name",
            "a campaign needs a name of 1 to 200 characters",
            "专项行动名称应为 1 至 200 个字符",
        ));
    }
    Ok(name)
}

fn check_target_date(start: CivilDate, target_date: CivilDate) -> Result<(), StorageError> {
    if target_date < start {
        return Err(StorageError::refused(
            "target_date",
            "a date on or after the start",
            "目标日期不能早于开始日期",
        ));
    }
    Ok(())
}

/// A campaign's progress: overall and per child region of its region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignProgress {
    pub campaign: Campaign,
    pub forecast: Forecast,
    pub regions: Vec<RegionProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionProgress {
    pub region_path: String,
    pub region_name: String,
    pub total: u64,
    pub done: u64,
}

const ROUTE_COLUMNS: &str = "id, name, region_code, region_path, grid_id, window_minutes, checkpoints, created_at, retired_at";
const CAMPAIGN_COLUMNS: &str =
    "id, name, region_code, region_path, facility_kind, target, start_day, target_day, created_at";

fn route_retired(name: &str) -> StorageError {
    StorageError::Conflict {
        field: "route",
        message: format!("route {name} was retired"),
        message_zh: Some(format!("巡查路线“{name}”已停用")),
    }
}

/// Refuses (after [`lock_route`] in the same transaction, so a check-in under way has either
/// committed its run or waits) while a run of the route is not checked yet.
async fn refuse_while_walked(
    tx: &mut crate::db::WriteTx,
    route_id: i64,
) -> Result<(), StorageError> {
    let unchecked: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM patrol_runs WHERE route_id = $1 AND checked_at IS NULL",
        )
        .bind(route_id)
        .fetch_one(&mut *conn)
        .await
    })?;
    if unchecked == 0 {
        return Ok(());
    }
    Err(StorageError::Conflict {
        field: "route",
        message: "a run of this route is under way or not checked yet; change the route once its window has ended and it is checked".into(),
        message_zh: Some("该路线有一次巡查尚在进行或尚未核查，请在其时限结束并核查后再修改".into()),
    })
}

/// The routes a reach reads: the key range of its subtree and, for a grid member, their
/// user id (the routes of their grids and of no grid; 0 for the others, who read the whole
/// subtree). A property manager reads none: routes are the inspecting side's rounds, and may
/// pass the manager's own premises.
fn routes_reached(reach: &FacilityReach) -> Option<(String, String, i64)> {
    let member = match reach {
        FacilityReach::Subtree(_) => 0,
        FacilityReach::Grids { user_id, .. } => *user_id,
        FacilityReach::Manager { .. } => return None,
    };
    let (low, high) = reach.subtree().subtree_range();
    Some((low, high, member))
}

/// The route as it stands under the write, its row locked (PostgreSQL) until the commit:
/// a change, a retirement or a check-in of the same route waits for this transaction, and
/// then reads what it wrote. A retired route is refused.
async fn lock_route(
    tx: &mut crate::db::WriteTx,
    route_id: i64,
) -> Result<PatrolRoute, StorageError> {
    let sql = format!(
        "UPDATE patrol_routes SET retired_at = retired_at WHERE id = $1 RETURNING {ROUTE_COLUMNS}"
    );
    let current: Option<PatrolRoute> = on_tx!(tx, |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(route_id)
            .fetch_optional(&mut *conn)
            .await
    })?;
    let route = current.ok_or_else(|| StorageError::not_found("patrol route", route_id))?;
    if route.retired_at.is_some() {
        return Err(route_retired(&route.name));
    }
    Ok(route)
}

/// Audits a change of a route (`before` as [`lock_route`] read it) and commits.
async fn finish_route_change(
    mut tx: crate::db::WriteTx,
    actor: &Actor,
    now: Timestamp,
    before: &PatrolRoute,
    action: &'static str,
    after: Option<serde_json::Value>,
) -> Result<(), StorageError> {
    let path = RegionPath::parse(&before.region_path).unwrap_or_else(RegionPath::root);
    let key = checkpoint_digest_key(&mut tx, actor, now).await?;
    tx.audit(
        actor,
        now,
        AuditEvent {
            entity: "patrol_route",
            entity_id: before.id.to_string(),
            action,
            region_path: &path,
            before: Some(audited_route(&before.draft(), &key)),
            after,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

impl Database {
    /// Defines a patrol route in a region of the actor's scope.
    pub async fn create_route(
        &self,
        actor: &Actor,
        region_code: &str,
        grid_id: Option<i64>,
        draft: &RouteDraft,
    ) -> Result<PatrolRoute, StorageError> {
        refuse_unless_manages_facilities(actor, "define patrol routes", "设定巡查路线")?;
        draft
            .validate()
            .map_err(|problems| crate::error::refused_all("route", &problems, |p| p.zh()))?;
        let path = self.region_in_scope(actor, region_code).await?;
        if let Some(grid_id) = grid_id {
            self.grid_covering(actor, grid_id, &path, region_code)
                .await?;
        }
        let now = crate::now();
        let checkpoints = serde_json::to_string(&draft.checkpoints).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin_write().await?;
        let id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO patrol_routes (name, region_code, region_path, grid_id, window_minutes, checkpoints, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(draft.name.trim())
            .bind(region_code.trim())
            .bind(path.as_str())
            .bind(grid_id)
            .bind(i64::from(draft.window_minutes))
            .bind(&checkpoints)
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        let key = checkpoint_digest_key(&mut tx, actor, now).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "patrol_route",
                entity_id: id.to_string(),
                action: "create",
                region_path: &path,
                before: None,
                after: Some(audited_route(draft, &key)),
            },
        )
        .await?;
        tx.commit().await?;
        self.stored_route(actor, id).await
    }

    /// Changes a route's name, window and checkpoints. Its region and grid stay: they say
    /// where and by whom it is walked, so another of those is another route. Refused while a
    /// run of it is not checked yet, which is judged against the checkpoints it was walked by.
    pub async fn update_route(
        &self,
        actor: &Actor,
        id: i64,
        draft: &RouteDraft,
    ) -> Result<PatrolRoute, StorageError> {
        refuse_unless_manages_facilities(actor, "define patrol routes", "设定巡查路线")?;
        draft
            .validate()
            .map_err(|problems| crate::error::refused_all("route", &problems, |p| p.zh()))?;
        // In the actor's reach; what is audited as before is read again under the write.
        self.stored_route(actor, id).await?;
        let now = crate::now();
        let checkpoints = serde_json::to_string(&draft.checkpoints).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin_write().await?;
        let before = lock_route(&mut tx, id).await?;
        refuse_while_walked(&mut tx, id).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE patrol_routes SET name = $1, window_minutes = $2, checkpoints = $3 WHERE id = $4",
            )
            .bind(draft.name.trim())
            .bind(i64::from(draft.window_minutes))
            .bind(&checkpoints)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        let key = checkpoint_digest_key(&mut tx, actor, now).await?;
        let after = audited_route(draft, &key);
        finish_route_change(tx, actor, now, &before, "update", Some(after)).await?;
        self.stored_route(actor, id).await
    }

    /// Retires a route: it is no longer listed or walked, and its runs stay on record. A run
    /// under way is still checked when its window ends, against the route as it was (the
    /// row stays), so a route walked all day can be retired at any time.
    pub async fn retire_route(&self, actor: &Actor, id: i64) -> Result<(), StorageError> {
        refuse_unless_manages_facilities(actor, "define patrol routes", "设定巡查路线")?;
        self.stored_route(actor, id).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let before = lock_route(&mut tx, id).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE patrol_routes SET retired_at = $1 WHERE id = $2")
                .bind(now.as_millis())
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        finish_route_change(tx, actor, now, &before, "retire", None).await
    }

    /// One route in the actor's reach (their subtree; for a grid member, a route of their
    /// grids or of no grid), its checkpoint codes hidden from readers who may not set routes
    /// up (see [`PatrolRoute::without_codes`]).
    pub async fn route(&self, actor: &Actor, id: i64) -> Result<PatrolRoute, StorageError> {
        let route = self.stored_route(actor, id).await?;
        Ok(shown_to(actor, route))
    }

    /// One route in the actor's reach, codes and all, for checking a check-in against: in
    /// their subtree and, for a grid member, one of their grids' or of no grid, as
    /// [`Self::routes`] lists them.
    async fn stored_route(&self, actor: &Actor, id: i64) -> Result<PatrolRoute, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let Some((low, high, member)) = routes_reached(&reach) else {
            return Err(StorageError::not_found("patrol route", id));
        };
        let sql = format!(
            "SELECT {ROUTE_COLUMNS} FROM patrol_routes WHERE id = $1 AND region_path >= $2 AND region_path < $3 \
             AND ($4 = 0 OR grid_id IS NULL OR grid_id IN (SELECT grid_id FROM grid_members WHERE user_id = $4))"
        );
        let found: Option<PatrolRoute> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .bind(member)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("patrol route", id))
    }

    /// The routes in the actor's subtree (a grid member: those of their grids, and those
    /// with no grid in their subtree).
    pub async fn routes(&self, actor: &Actor) -> Result<Vec<PatrolRoute>, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let Some((low, high, member)) = routes_reached(&reach) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {ROUTE_COLUMNS} FROM patrol_routes WHERE region_path >= $1 AND region_path < $2 \
             AND retired_at IS NULL AND ($3 = 0 OR grid_id IS NULL OR grid_id IN (SELECT grid_id FROM grid_members WHERE user_id = $3)) \
             ORDER BY id LIMIT 500"
        );
        let routes: Vec<PatrolRoute> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(member)
                .fetch_all(pool)
                .await
        })?;
        Ok(routes.into_iter().map(|r| shown_to(actor, r)).collect())
    }

    /// Checks in at a checkpoint of a route: into the user's run still within its window,
    /// or a new run. A code that is not one of the route's checkpoints is refused.
    pub async fn check_in(
        &self,
        actor: &Actor,
        route_id: i64,
        code: &str,
        position: Option<(f64, f64)>,
        now: Timestamp,
    ) -> Result<CheckInOutcome, StorageError> {
        let Some(user_id) = actor.user_id() else {
            return Err(StorageError::forbidden(
                "a check-in is made by a signed-in user",
                "签到须由已登录的用户进行",
            ));
        };
        if !may_inspect(actor) {
            return Err(StorageError::forbidden(
                "only grid members and staff patrol",
                "只有网格员和工作人员才能巡查",
            ));
        }
        // In the actor's reach (its region and grid never change).
        let reached = self.stored_route(actor, route_id).await?;
        let path = RegionPath::parse(&reached.region_path).unwrap_or_else(RegionPath::root);
        let mut tx = self.begin_write().await?;
        // The route as it stands under the write: a change or retirement of it waits for
        // this check-in, and then sees its run, or this check-in waits and reads the route
        // as changed (or is refused, retired).
        let route = lock_route(&mut tx, route_id).await?;
        let draft = route.draft();
        let checkpoint = checkpoint_for_code(&draft.checkpoints, code).ok_or_else(|| {
            StorageError::refused(
                "code",
                format!(
                    "{:?} is not a checkpoint of route {}",
                    code.trim(),
                    route.name
                ),
                format!("{:?} 不是巡查路线“{}”上的点位编码", code.trim(), route.name),
            )
        })?;
        let open_run: Option<i64> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT id FROM patrol_runs WHERE route_id = $1 AND user_id = $2 AND window_ends_at >= $3 \
                 ORDER BY started_at DESC LIMIT 1",
            )
            .bind(route_id)
            .bind(user_id)
            .bind(now.as_millis())
            .fetch_optional(&mut *conn)
            .await
        })?;
        let run_id = match open_run {
            Some(id) => id,
            None => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "INSERT INTO patrol_runs (route_id, region_path, user_id, started_at, window_ends_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(route_id)
                .bind(path.as_str())
                .bind(user_id)
                .bind(now.as_millis())
                .bind(now.plus_millis(route.window_minutes.saturating_mul(60_000)).as_millis())
                .fetch_one(&mut *conn)
                .await
            })?,
        };
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO patrol_check_ins (run_id, checkpoint_code, at, lat, lon) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(run_id)
            .bind(&checkpoint.code)
            .bind(now.as_millis())
            .bind(position.map(|p| p.0))
            .bind(position.map(|p| p.1))
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        let reached: Vec<String> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT checkpoint_code FROM patrol_check_ins WHERE run_id = $1")
                .bind(run_id)
                .fetch_all(&mut *conn)
                .await
        })?;
        tx.audit(actor, now, AuditEvent {
            entity: "patrol_run",
            entity_id: run_id.to_string(),
            action: "check_in",
            region_path: &path,
            before: None,
            after: Some(serde_json::json!({ "route_id": route_id, "checkpoint": checkpoint.name, "position": position })),
        })
        .await?;
        tx.commit().await?;
        let remaining = draft
            .checkpoints
            .iter()
            .filter(|c| !reached.iter().any(|r| r.eq_ignore_ascii_case(&c.code)))
            .map(|c| c.name.clone())
            .collect();
        Ok(CheckInOutcome {
            run_id,
            checkpoint: checkpoint.code.clone(),
            remaining,
        })
    }

    /// The latest runs of a route.
    pub async fn route_runs(
        &self,
        actor: &Actor,
        route_id: i64,
    ) -> Result<Vec<PatrolRun>, StorageError> {
        self.stored_route(actor, route_id).await?;
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id, r.route_id, r.user_id, r.started_at, r.window_ends_at, r.checked_at, r.missed, \
                 (SELECT COUNT(*) FROM patrol_check_ins c WHERE c.run_id = r.id) AS check_ins \
                 FROM patrol_runs r WHERE r.route_id = $1 ORDER BY r.started_at DESC LIMIT 50",
            )
            .bind(route_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Checks the runs whose window has passed: records what each missed and, where it
    /// missed anything, alerts the route's region; not for a run cut short by its route's
    /// retirement, whose walker could not check in any more (what it missed is recorded all
    /// the same, and the pass's audit entry says it was cut short). One audit entry for the
    /// pass.
    pub async fn sweep_patrols(
        &self,
        now: Timestamp,
        channel: &str,
    ) -> Result<Vec<Notification>, StorageError> {
        let due: Vec<(i64, i64, String, i64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, route_id, region_path, window_ends_at FROM patrol_runs WHERE checked_at IS NULL AND window_ends_at < $1 \
                 ORDER BY id LIMIT 1000",
            )
            .bind(now.as_millis())
            .fetch_all(pool)
            .await
        })?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let actor = Actor::system("patrol-sweep");
        let mut tx = self.begin_write().await?;
        let mut created = Vec::new();
        let mut summary = Vec::new();
        for (run_id, route_id, region_path, window_ends_at) in due {
            let route: Option<PatrolRoute> = on_tx!(&mut tx, |conn| {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ROUTE_COLUMNS} FROM patrol_routes WHERE id = $1"
                )))
                .bind(route_id)
                .fetch_optional(&mut *conn)
                .await
            })?;
            let Some(route) = route else { continue };
            let check_ins: Vec<(String, i64)> = on_tx!(&mut tx, |conn| {
                sqlx::query_as("SELECT checkpoint_code, at FROM patrol_check_ins WHERE run_id = $1")
                    .bind(run_id)
                    .fetch_all(&mut *conn)
                    .await
            })?;
            let check_ins: Vec<CheckIn> = check_ins
                .into_iter()
                .map(|(code, at)| CheckIn {
                    code,
                    at: Timestamp::from_millis(at),
                })
                .collect();
            let draft = route.draft();
            // Named, not coded: the run, the alert and the audit log are read by those who walk
            // the route too (see `PatrolRoute::without_codes`).
            let missed: Vec<String> = missed_checkpoints(&draft, &check_ins, now)
                .unwrap_or_default()
                .iter()
                .map(|code| checkpoint_name(&draft, code))
                .collect();
            on_tx!(&mut tx, |conn| {
                sqlx::query("UPDATE patrol_runs SET checked_at = $1, missed = $2 WHERE id = $3")
                    .bind(now.as_millis())
                    .bind(serde_json::to_string(&missed).unwrap_or_else(|_| "[]".into()))
                    .bind(run_id)
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
            })?;
            let cut_short = route.retired_at.is_some_and(|at| at < window_ends_at);
            if !missed.is_empty() && !cut_short {
                let message = format!("巡查「{}」漏检点位：{}", route.name, missed.join("、"));
                created.push(
                    insert_notification(
                        &mut tx,
                        &region_path,
                        None,
                        "missed_checkpoint",
                        run_id,
                        &message,
                        channel,
                        now,
                    )
                    .await?,
                );
            }
            summary.push(if cut_short {
                serde_json::json!({ "run_id": run_id, "missed": missed, "cut_short_by_retirement": true })
            } else {
                serde_json::json!({ "run_id": run_id, "missed": missed })
            });
        }
        tx.audit(
            &actor,
            now,
            AuditEvent {
                entity: "patrol_run",
                entity_id: "sweep".to_owned(),
                action: "sweep",
                region_path: &RegionPath::root(),
                before: None,
                after: Some(serde_json::json!({ "runs": summary })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Starts a campaign over a region of the actor's scope.
    pub async fn create_campaign(
        &self,
        actor: &Actor,
        new: NewCampaign,
    ) -> Result<Campaign, StorageError> {
        refuse_unless_manages_facilities(actor, "start campaigns", "发起专项行动")?;
        let name = campaign_name(&new.name)?;
        check_target_date(new.start, new.target_date)?;
        let path = self.region_in_scope(actor, &new.region_code).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO campaigns (name, region_code, region_path, facility_kind, target, start_day, target_day, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(name)
            .bind(new.region_code.trim())
            .bind(path.as_str())
            .bind(new.facility_kind.map(FacilityKind::as_str))
            .bind(new.target.as_str())
            .bind(new.start.days_since_epoch())
            .bind(new.target_date.days_since_epoch())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "campaign",
                entity_id: id.to_string(),
                action: "create",
                region_path: &path,
                before: None,
                after: Some(serde_json::json!({
                    "name": name,
                    "kind": new.facility_kind.map(FacilityKind::as_str),
                    "target": new.target.as_str(),
                    "start": new.start.to_string(),
                    "target_date": new.target_date.to_string(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.campaign(actor, id).await
    }

    /// Renames a campaign or moves its target date, in the actor's own subtree (a campaign
    /// opened above it is followed there, not changed); audited with before and after.
    pub async fn update_campaign(
        &self,
        actor: &Actor,
        id: i64,
        changes: CampaignChanges,
    ) -> Result<Campaign, StorageError> {
        refuse_unless_manages_facilities(actor, "change campaigns", "修改专项行动")?;
        let before = self.campaign_to_change(actor, id).await?;
        let name = campaign_name(&changes.name)?;
        check_target_date(CivilDate::from_days(before.start_day), changes.target_date)?;
        let path = RegionPath::parse(&before.region_path).unwrap_or_else(RegionPath::root);
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE campaigns SET name = $1, target_day = $2 WHERE id = $3")
                .bind(name)
                .bind(changes.target_date.days_since_epoch())
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "campaign",
                entity_id: id.to_string(),
                action: "update",
                region_path: &path,
                before: Some(serde_json::json!({
                    "name": before.name,
                    "target_date": CivilDate::from_days(before.target_day).to_string(),
                })),
                after: Some(serde_json::json!({
                    "name": name,
                    "target_date": changes.target_date.to_string(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.campaign(actor, id).await
    }

    /// Removes a campaign (one started by mistake), in the actor's own subtree. A campaign
    /// keeps nothing of its own but its definition: its progress is read from the
    /// facilities, which stay as they are. Audited with what it was.
    pub async fn remove_campaign(&self, actor: &Actor, id: i64) -> Result<(), StorageError> {
        refuse_unless_manages_facilities(actor, "remove campaigns", "删除专项行动")?;
        let before = self.campaign_to_change(actor, id).await?;
        let path = RegionPath::parse(&before.region_path).unwrap_or_else(RegionPath::root);
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM campaigns WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "campaign",
                entity_id: id.to_string(),
                action: "remove",
                region_path: &path,
                before: serde_json::to_value(&before).ok(),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A campaign the actor may change: one they can read whose region is in their subtree.
    async fn campaign_to_change(&self, actor: &Actor, id: i64) -> Result<Campaign, StorageError> {
        let campaign = self.campaign(actor, id).await?;
        let path = RegionPath::parse(&campaign.region_path).unwrap_or_else(RegionPath::root);
        if actor.scope().subtree().contains(&path) {
            Ok(campaign)
        } else {
            Err(StorageError::out_of_scope("campaign", id))
        }
    }

    /// One campaign whose region is in the actor's scope or above it.
    pub async fn campaign(&self, actor: &Actor, id: i64) -> Result<Campaign, StorageError> {
        let found: Option<Campaign> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let campaign = found.ok_or_else(|| StorageError::not_found("campaign", id))?;
        let path = RegionPath::parse(&campaign.region_path).unwrap_or_else(RegionPath::root);
        let scope = actor.scope().subtree();
        if scope.contains(&path) || path.contains(scope) {
            Ok(campaign)
        } else {
            Err(StorageError::not_found("campaign", id))
        }
    }

    /// The campaigns that cover the actor's subtree: opened in it or above it.
    pub async fn campaigns(&self, actor: &Actor) -> Result<Vec<Campaign>, StorageError> {
        let rows: Vec<Campaign> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC LIMIT 500"
            )))
            .fetch_all(pool)
            .await
        })?;
        let scope = actor.scope().subtree();
        Ok(rows
            .into_iter()
            .filter(|c| {
                RegionPath::parse(&c.region_path)
                    .is_some_and(|p| scope.contains(&p) || p.contains(scope))
            })
            .collect())
    }

    /// A campaign's progress within the part of it the actor reaches, by child region of
    /// the narrower of the campaign's region and the actor's subtree, with the forecast.
    pub async fn campaign_progress(
        &self,
        actor: &Actor,
        id: i64,
        now: Timestamp,
    ) -> Result<CampaignProgress, StorageError> {
        let campaign = self.campaign(actor, id).await?;
        let campaign_path =
            RegionPath::parse(&campaign.region_path).unwrap_or_else(RegionPath::root);
        let scope = actor.scope().subtree();
        let within = if scope.contains(&campaign_path) {
            campaign_path
        } else {
            scope.clone()
        };
        let reach = match self.facility_reach(actor).await? {
            FacilityReach::Subtree(_) => FacilityReach::Subtree(within.clone()),
            FacilityReach::Grids { user_id, .. } => FacilityReach::Grids {
                user_id,
                subtree: within.clone(),
            },
            FacilityReach::Manager {
                organization_id, ..
            } => FacilityReach::Manager {
                organization_id,
                subtree: within.clone(),
            },
        };
        let (filter, binds) = reach.filter(1);
        let kind = campaign.facility_kind.clone().unwrap_or_default();
        let target =
            CampaignTarget::parse(&campaign.target).unwrap_or(CampaignTarget::SignInstalled);
        let start_ms = CivilDate::from_days(campaign.start_day).start().as_millis();
        let done_sql = match target {
            CampaignTarget::SignInstalled => {
                "CASE WHEN f.sign_status = 'installed' THEN f.sign_installed_day ELSE NULL END"
            }
            CampaignTarget::Inspected => {
                "(SELECT MIN(i.inspected_at) FROM inspections i WHERE i.facility_id = f.id AND i.inspected_at >= $6) / 86400000"
            }
        };
        let sql = format!(
            "SELECT f.region_path, {done_sql} AS done_day FROM facilities f \
             WHERE {filter} AND ($5 = '' OR f.kind = $5) AND $6 = $6"
        );
        let rows: Vec<(String, Option<i64>)> = on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(&kind)
                .bind(start_ms)
                .fetch_all(pool)
                .await
        })?;
        let child_depth = within.depth() + 1;
        let mut by_child: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut done_dates = Vec::new();
        for (path, done_day) in &rows {
            let child = RegionPath::parse(path)
                .map(|p| {
                    let mut prefix = RegionPath::root();
                    for code in p.codes().take(child_depth) {
                        prefix = prefix.child(&code);
                    }
                    prefix.as_str().to_owned()
                })
                .unwrap_or_default();
            let entry = by_child.entry(child).or_default();
            entry.0 += 1;
            if let Some(day) = done_day {
                entry.1 += 1;
                done_dates.push(CivilDate::from_days(*day));
            }
        }
        let names = self
            .region_names(by_child.keys().cloned().collect())
            .await?;
        let regions = by_child
            .into_iter()
            .map(|(region_path, (total, done))| RegionProgress {
                region_name: names
                    .get(&region_path)
                    .cloned()
                    .unwrap_or_else(|| region_path.clone()),
                region_path,
                total,
                done,
            })
            .collect();
        let forecast = forecast(
            CivilDate::from_days(campaign.start_day),
            CivilDate::from_days(campaign.target_day),
            now.date(),
            rows.len() as u64,
            &done_dates,
        );
        Ok(CampaignProgress {
            campaign,
            forecast,
            regions,
        })
    }

    /// Region names by path.
    async fn region_names(
        &self,
        paths: Vec<String>,
    ) -> Result<BTreeMap<String, String>, StorageError> {
        let mut names = BTreeMap::new();
        for chunk in paths.chunks(500) {
            let rows: Vec<(String, String)> = on_read_pool!(self, |pool| {
                let mut query =
                    sqlx::QueryBuilder::new("SELECT path, name FROM regions WHERE path IN (");
                let mut separated = query.separated(", ");
                for path in chunk {
                    separated.push_bind(path.clone());
                }
                query.push(")");
                query.build_query_as().fetch_all(pool).await
            })?;
            names.extend(rows);
        }
        Ok(names)
    }
}
