//! Administrator settings that are documents, one JSON value per key of the `settings`
//! table: read with the domain's default when the key is absent, checked by the domain
//! before they are written, and every change audited (before and after) in the write's
//! transaction. Here the transport setting allocations use; the compensation setting lives
//! with requisitions (`requisitions.rs`), the exemption rules too.

use muster_domain::allocation::TransportParameters;
use muster_domain::transport::{TransportSetting, TransportSettingProblem};
use muster_domain::{Actor, RegionPath};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::AuditEvent;
use crate::db::{Database, on_read_pool, on_tx};
use crate::error::StorageError;

/// The `settings` key of the transport setting (a JSON [`TransportSetting`]); absent means
/// [`TransportSetting::default`].
pub const TRANSPORT_SETTING: &str = "allocation.transport";

/// A stored setting that no longer reads is corruption, not the caller's mistake.
fn corrupt_setting(key: &str, cause: impl std::fmt::Display) -> StorageError {
    StorageError::Database(sqlx::Error::Decode(
        format!("the {key} setting does not read: {cause}").into(),
    ))
}

/// The problems of a refused setting as one refusal naming the first problem's field, with
/// every problem (each starting with its own field) in the message: in English joined by
/// `; `, and in Chinese (`zh`, each starting with the same field) joined by `；`.
pub(crate) fn refused<P: std::fmt::Display>(
    problems: &[P],
    field_of: impl Fn(&P) -> &'static str,
    zh: impl Fn(&P) -> String,
) -> StorageError {
    StorageError::Refused {
        field: problems.first().map_or("setting", &field_of),
        message: problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        message_zh: problems.iter().map(zh).collect::<Vec<_>>().join("；"),
    }
}

/// Proof, from [`Database::refuse_unless_installation_administrator`], that the actor may
/// change what applies to every region; it carries the region the change is audited at.
#[derive(Debug)]
pub(crate) struct InstallationAdministrator {
    pub(crate) region: RegionPath,
}

impl Database {
    /// Whether `actor` administers the whole installation: an administrator whose region
    /// holds every region stored. Settings, the taxonomy and the checklists apply to every
    /// region, so only such an administrator changes them (a county's must not change the
    /// province's compensation policy).
    pub async fn administers_installation(&self, actor: &Actor) -> Result<bool, StorageError> {
        if !actor.administers() {
            return Ok(false);
        }
        let (low, high) = actor.scope().subtree().subtree_range();
        let beyond: bool = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM regions WHERE path < $1 OR path >= $2)"
        )
        .bind(&low)
        .bind(&high)
        .fetch_one(pool)
        .await)?;
        Ok(!beyond)
    }

    /// Refuses anyone but an administrator of the whole installation
    /// ([`Self::administers_installation`]), naming `what` they would change (`what_zh` in
    /// Chinese). The proof it returns carries the administrator's region, where the change is
    /// audited (so that it is in their audit log, not only in one above them).
    pub(crate) async fn refuse_unless_installation_administrator(
        &self,
        actor: &Actor,
        what: &str,
        what_zh: &str,
    ) -> Result<InstallationAdministrator, StorageError> {
        if !actor.administers() {
            return Err(StorageError::forbidden(
                format!("only an administrator changes {what}"),
                format!("只有系统管理员才能修改{what_zh}"),
            ));
        }
        let subtree = actor.scope().subtree();
        if !self.administers_installation(actor).await? {
            return Err(StorageError::forbidden(
                format!(
                    "{what} apply to every region; only an administrator over all of them (not only {subtree}) changes them"
                ),
                format!(
                    "{what_zh}适用于全部行政区划，只有管辖全部行政区划（而不仅是 {subtree}）的系统管理员才能修改"
                ),
            ));
        }
        Ok(InstallationAdministrator {
            region: subtree.clone(),
        })
    }

    /// The stored JSON document of a setting, decoded, or `None` when it was never set.
    pub(crate) async fn setting_document<T: DeserializeOwned>(
        &self,
        key: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let stored: Option<String> = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(pool)
        .await)?;
        stored
            .map(|text| serde_json::from_str(&text).map_err(|e| corrupt_setting(key, e)))
            .transpose()
    }

    /// Writes a checked setting and its audit entry (before → after) in one transaction. Only
    /// with the proof that `actor` administers the installation; the caller has checked
    /// `after`.
    pub(crate) async fn store_setting<T: Serialize>(
        &self,
        actor: &Actor,
        administrator: &InstallationAdministrator,
        key: &'static str,
        before: &T,
        after: &T,
    ) -> Result<(), StorageError> {
        let document =
            serde_json::to_string(after).map_err(|e| corrupt_setting(key, e.to_string()))?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        .bind(key)
        .bind(&document)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "setting",
                entity_id: key.to_owned(),
                action: "set",
                region_path: &administrator.region,
                before: Some(serde_json::json!(before)),
                after: Some(serde_json::json!(after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The transport setting in force: the administrator's, or the default.
    pub async fn transport_setting(&self) -> Result<TransportSetting, StorageError> {
        Ok(self
            .setting_document(TRANSPORT_SETTING)
            .await?
            .unwrap_or_default())
    }

    /// The transport parameters allocations use: the setting in force, checked against the
    /// taxonomy in force. A per-type cost of a type the taxonomy no longer has is dropped,
    /// not an error: it can match no demand line.
    pub async fn transport_parameters(&self) -> Result<TransportParameters, StorageError> {
        let mut setting = self.transport_setting().await?;
        let taxonomy = self.taxonomy().await?;
        setting
            .cost_per_unit_km_by_type
            .retain(|code, _| taxonomy.resource_type(code.trim()).is_some());
        setting.parameters(|_| true).map_err(|problems| {
            corrupt_setting(
                TRANSPORT_SETTING,
                refused(&problems, |p| p.field(), TransportSettingProblem::zh),
            )
        })
    }

    /// Replaces the transport setting (administrators), refused with every problem named by
    /// its field; per-type costs must name types of the taxonomy in force. Proposals and
    /// accepts made from then on use it.
    pub async fn set_transport_setting(
        &self,
        actor: &Actor,
        setting: TransportSetting,
    ) -> Result<TransportSetting, StorageError> {
        // Refused before the setting is checked: whether it would be valid is no business of
        // someone who may not set it.
        let administrator = self
            .refuse_unless_installation_administrator(
                actor,
                "the transport parameters",
                "调配运输参数",
            )
            .await?;
        let taxonomy = self.taxonomy().await?;
        let setting = setting.normalized();
        setting
            .parameters(|code| taxonomy.resource_type(code).is_some())
            .map_err(|problems| refused(&problems, |p| p.field(), TransportSettingProblem::zh))?;
        let before = self.transport_setting().await?;
        self.store_setting(actor, &administrator, TRANSPORT_SETTING, &before, &setting)
            .await?;
        Ok(setting)
    }
}

#[cfg(test)]
mod tests {
    use muster_domain::transport::TransportSettingProblem;

    use super::*;

    #[test]
    fn a_transport_setting_is_refused_in_both_languages_by_field() {
        let problems = [
            TransportSettingProblem::RoadFactor { found: 0.5 },
            TransportSettingProblem::Speed { found: 0.0 },
            TransportSettingProblem::DefaultCost { found: -1.0 },
            TransportSettingProblem::TypeCodeMissing,
            TransportSettingProblem::UnknownType {
                type_code: "NO.SUCH".into(),
            },
            TransportSettingProblem::TypeCost {
                type_code: "TRN.ROAD.TRUCK_HEAVY".into(),
                found: -2.0,
            },
            TransportSettingProblem::TooManyTypes { count: 1_001 },
        ];
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = refused(&problems, |p| p.field(), TransportSettingProblem::zh)
        else {
            panic!("expected a refusal");
        };
        assert_eq!(field, "road_factor");
        let english: Vec<&str> = message.split("; ").collect();
        let chinese: Vec<&str> = message_zh.split('；').collect();
        assert_eq!(english.len(), problems.len(), "{message}");
        assert_eq!(chinese.len(), problems.len(), "{message_zh}");
        for (en, zh) in english.iter().zip(&chinese) {
            let path = en.split_once(": ").map_or("", |(p, _)| p);
            assert!(zh.starts_with(&format!("{path}：")), "{en} / {zh}");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
    }
}
