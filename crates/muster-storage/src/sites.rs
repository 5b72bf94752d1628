//! Sites: the warehouses, reserve depots, hospitals, plants and yards where potential is kept,
//! each with coordinates in its region.
//!
//! A site's name is unique in its region after the holding key's normalisation (case, width,
//! spacing folded; `sites.name_key`, with a unique index), and a record whose `site` names a
//! stored site of its own region is linked to it (`potential_records.site_id`) as it is
//! inserted, by an import or a survey approval alike.

use std::collections::{HashMap, HashSet};

use muster_domain::potential::import::{great_circle_km, region_radius_km};
use muster_domain::potential::{RecordDraft, SiteKind, normalize_name};
use muster_domain::{Actor, RegionPath, Scope};
use serde::Serialize;
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
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
        if !may_report(actor) {
            return Err(StorageError::forbidden(
                "only office, workstation and member-unit staff register sites",
                "只有动员办、工作站和成员单位的工作人员才能登记存放地点",
            ));
        }
        let name = new_site.name.trim().to_owned();
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
        let (lat, lon) = (new_site.lat, new_site.lon);
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
        let code = new_site.region_code.trim().to_owned();
        let region = self
            .region_infos([code.clone()])
            .await?
            .remove(&code)
            .ok_or_else(|| StorageError::Refused {
                field: "region_code",
                message: format!("region {code} does not exist"),
                message_zh: format!("没有行政区划 {code}"),
            })?;
        if !actor.scope().contains(&region.path) {
            return Err(StorageError::out_of_scope("region", &code));
        }
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
        if let Some(organization_id) = new_site.organization_id {
            self.organization(actor.scope(), organization_id)
                .await
                .map_err(|e| match e {
                    StorageError::NotFound { .. } => StorageError::Refused {
                        field: "organization_id",
                        message: format!("organization {organization_id} is not in your region"),
                        message_zh: format!("单位 {organization_id} 不在您的辖区内"),
                    },
                    other => other,
                })?;
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
    /// region's subtree (which must be in scope).
    pub async fn sites(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
        limit: i64,
        after_id: i64,
    ) -> Result<Vec<Site>, StorageError> {
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM sites s JOIN regions g ON g.code = s.region_code \
             WHERE s.region_path >= $1 AND s.region_path < $2 AND s.id > $3 ORDER BY s.id LIMIT $4"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(after_id)
                .bind(limit.clamp(1, 1000))
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
    for chunk in ids.chunks(LINKS_PER_UPDATE) {
        on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new("UPDATE potential_records SET site_id = ");
            query.push_bind(site_id).push(" WHERE id IN (");
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            query.push(")");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(ids.len())
}

/// Regions looked up per statement: well under SQLite's bound-parameter limit.
const SITE_REGIONS_PER_QUERY: usize = 500;

impl SiteLinks {
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
    for chunk in regions.chunks(SITE_REGIONS_PER_QUERY) {
        let rows: Vec<(i64, String, Option<String>)> = on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT id, region_code, name_key FROM sites WHERE region_code IN (",
            );
            let mut separated = query.separated(", ");
            for code in chunk {
                separated.push_bind(*code);
            }
            query.push(")");
            query.build_query_as().fetch_all(&mut *conn).await
        })?;
        links.extend(rows);
    }
    Ok(links)
}

/// The sites of a subtree with a name, as `(id, region code, region path, name key)`.
const SITES_IN_SUBTREE: &str = "SELECT id, region_code, region_path, name_key FROM sites \
     WHERE region_path >= $1 AND region_path < $2 AND name_key IS NOT NULL";

/// The sites a file import saw before its writer began: their links, and their ids for
/// [`link_sites_not_seen`].
#[derive(Debug, Default)]
pub(crate) struct SiteSnapshot {
    pub(crate) links: SiteLinks,
    pub(crate) ids: HashSet<i64>,
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
        snapshot.ids.extend(rows.iter().map(|row| row.0));
        snapshot.links.extend(
            rows.into_iter()
                .map(|(id, code, _, name_key)| (id, code, name_key)),
        );
        Ok(snapshot)
    }
}

/// Links the records stored so far (this transaction's too) to the sites of `subtree` that
/// are not in `seen`: those registered while a file import was prepared, whose own linking
/// could not see its records. Ids are not compared for order, as a sequence hands them out in
/// insert order, not commit order. Usually there are none.
pub(crate) async fn link_sites_not_seen(
    tx: &mut WriteTx,
    subtree: &RegionPath,
    seen: &HashSet<i64>,
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
    let mut linked = 0;
    for (id, region_code, region_path, name_key) in sites {
        if seen.contains(&id) {
            continue;
        }
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
