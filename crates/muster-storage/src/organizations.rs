//! Organizations: offices, liaisons, member units, workstations, contact points, holders.

use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub side: String,
    /// None for a national organization above every province.
    pub region_code: Option<String>,
    pub region_path: String,
    pub created_at: i64,
}

impl Organization {
    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }
}

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub kind: OrganizationKind,
    pub side: Side,
    /// None for a national organization.
    pub region_code: Option<String>,
}

impl Database {
    pub async fn organization(&self, scope: &Scope, id: i64) -> Result<Organization, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let found: Option<Organization> = on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM organizations WHERE id = $1 AND region_path >= $2 AND region_path < $3")
                .bind(id)
                .bind(&low)
                .bind(&high)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("organization", id))
    }

    /// Organizations in the reader's scope, optionally only those in one region's subtree.
    pub async fn organizations(
        &self,
        scope: &Scope,
        within: Option<&RegionPath>,
        limit: i64,
        after_id: i64,
    ) -> Result<Vec<Organization>, StorageError> {
        let narrowed = within
            .filter(|w| scope.contains(w))
            .unwrap_or(scope.subtree());
        let (low, high) = narrowed.subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM organizations WHERE region_path >= $1 AND region_path < $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(&low)
            .bind(&high)
            .bind(after_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await
        })?)
    }

    /// Organizations located exactly at one region (not below it), for the region page.
    pub async fn organizations_at(
        &self,
        scope: &Scope,
        path: &RegionPath,
    ) -> Result<Vec<Organization>, StorageError> {
        if !scope.contains(path) {
            return Ok(Vec::new());
        }
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM organizations WHERE region_path = $1 ORDER BY id LIMIT 200",
            )
            .bind(path.as_str())
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn create_organization(
        &self,
        actor: &Actor,
        new: NewOrganization,
    ) -> Result<Organization, StorageError> {
        if !actor.administers() {
            return Err(StorageError::forbidden(
                "only an administrator may add organizations",
                "只有系统管理员才能添加单位",
            ));
        }
        let name = checked_organization_name(&new.name)?;
        let path = match &new.region_code {
            None => RegionPath::root(),
            Some(code) => {
                let region = self.region(&Scope::everything(), code).await.map_err(|_| {
                    StorageError::refused(
                        "region_code",
                        format!("no region has the code {code}"),
                        format!("没有代码为 {code} 的行政区划"),
                    )
                })?;
                region.region_path()
            }
        };
        if !actor.scope().contains(&path) {
            return Err(StorageError::out_of_scope(
                "region",
                new.region_code.as_deref().unwrap_or("(national)"),
            ));
        }
        self.insert_organization(
            actor,
            &name,
            new.kind,
            new.side,
            new.region_code.as_deref(),
            &path,
        )
        .await
    }

    async fn insert_organization(
        &self,
        actor: &Actor,
        name: &str,
        kind: OrganizationKind,
        side: Side,
        region_code: Option<&str>,
        path: &RegionPath,
    ) -> Result<Organization, StorageError> {
        let mut tx = self.begin_write().await?;
        let organization =
            insert_organization(&mut tx, actor, name, kind, side, region_code, path).await?;
        tx.commit().await?;
        Ok(organization)
    }

    /// Many organizations in one transaction (demo data, imports), each with its audit entry.
    /// Regions are looked up once per distinct code.
    pub async fn create_organizations(
        &self,
        actor: &Actor,
        new: &[NewOrganization],
    ) -> Result<Vec<Organization>, StorageError> {
        if !actor.administers() {
            return Err(StorageError::forbidden(
                "only an administrator may add organizations",
                "只有系统管理员才能添加单位",
            ));
        }
        let mut paths = std::collections::HashMap::new();
        for org in new {
            if let Some(code) = &org.region_code
                && !paths.contains_key(code)
            {
                let region = self.region(actor.scope(), code).await?;
                paths.insert(code.clone(), region.region_path());
            }
        }
        let root = RegionPath::root();
        let mut tx = self.begin_write().await?;
        let mut created = Vec::with_capacity(new.len());
        for org in new {
            let path = org
                .region_code
                .as_ref()
                .and_then(|c| paths.get(c))
                .unwrap_or(&root);
            if !actor.scope().contains(path) {
                return Err(StorageError::out_of_scope("region", path));
            }
            created.push(
                insert_organization(
                    &mut tx,
                    actor,
                    &org.name,
                    org.kind,
                    org.side,
                    org.region_code.as_deref(),
                    path,
                )
                .await?,
            );
        }
        tx.commit().await?;
        Ok(created)
    }
}

/// An organization's name, trimmed, or why it cannot be one.
pub(crate) fn checked_organization_name(name: &str) -> Result<String, StorageError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StorageError::refused(
            "name",
            "expected 1 to 200 characters",
            "单位名称应为 1 至 200 个字符",
        ));
    }
    Ok(name.to_owned())
}

/// Stores an organization with its audit entry in the caller's transaction.
pub(crate) async fn insert_organization(
    tx: &mut WriteTx,
    actor: &Actor,
    name: &str,
    kind: OrganizationKind,
    side: Side,
    region_code: Option<&str>,
    path: &RegionPath,
) -> Result<Organization, StorageError> {
    let now = crate::now();
    {
        let organization: Organization = on_tx!(tx, |conn| {
            sqlx::query_as(
                "INSERT INTO organizations (name, kind, side, region_code, region_path, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(side.as_str())
            .bind(region_code)
            .bind(path.as_str())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "organization",
                entity_id: organization.id.to_string(),
                action: "create",
                region_path: path,
                before: None,
                after: serde_json::to_value(&organization).ok(),
            },
        )
        .await?;
        Ok(organization)
    }
}
