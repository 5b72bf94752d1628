//! The tamper-evident audit chain.
//!
//! Every write appends an [`AuditRecord`] whose hash is `SHA-256(previous hash ‖ canonical
//! record)`. Altering any stored field changes that entry's hash; removing an entry leaves a
//! gap in the sequence or a `prev_hash` that no longer matches. [`ChainVerifier`] walks the
//! entries in sequence order and names the first one that does not fit.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::organization::DataClass;
use crate::potential::Holder;
use crate::region::RegionPath;
use crate::scope::Scope;
use crate::time::Timestamp;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as recorded. `before` and `after` are JSON texts exactly as stored, so the
/// hash covers the very bytes in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub region_path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditRecord {
    /// The bytes that are hashed: a JSON array of every field in a fixed order. Arrays of
    /// strings and integers serialise the same way on every platform.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let fields = (
            self.seq,
            self.at.as_millis(),
            &self.actor,
            self.actor_user_id,
            &self.entity,
            &self.entity_id,
            &self.action,
            &self.region_path,
            &self.before,
            &self.after,
        );
        serde_json::to_vec(&fields).unwrap_or_default()
    }

    /// This record's hash when chained after `prev_hash`.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.canonical_bytes());
        hex::encode(hasher.finalize())
    }
}

/// A stored entry: the record with the hashes it was stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEntry {
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq} was altered: its contents no longer match its hash")]
    Altered { seq: i64 },
    #[error("entries {expected} to {} were removed (the next entry found is {found})", found - 1)]
    Removed { expected: i64, found: i64 },
    #[error(
        "entry {seq} does not follow the entry before it (its prev_hash does not match): an entry before it was altered or replaced"
    )]
    Relinked { seq: i64 },
    #[error(
        "the chain head says {head_seq} entries were written, but the log ends at {last_seq}: the last entries were removed"
    )]
    Truncated { head_seq: i64, last_seq: i64 },
}

/// Checks entries one at a time, in sequence order, so the log can be streamed.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, entry: &StoredAuditEntry) -> Result<(), ChainBreak> {
        let seq = entry.record.seq;
        if seq != self.expected_seq {
            return Err(ChainBreak::Removed {
                expected: self.expected_seq,
                found: seq,
            });
        }
        if entry.record.chain_hash(&entry.prev_hash) != entry.hash {
            return Err(ChainBreak::Altered { seq });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(ChainBreak::Relinked { seq });
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// After the last entry: the chain head must agree with what was walked.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq || head_hash != self.prev_hash {
            return Err(ChainBreak::Truncated { head_seq, last_seq });
        }
        Ok(last_seq)
    }
}

/// An entry's details (`before` and `after`) as one reader may see them. The entries a
/// reader may not see at all are left out where they are read; this takes out what is left
/// of an entry they may see, whatever region it is about:
///
/// * without personal data: a citizen holder's name in a requisition order (masked as the
///   order itself is) and the photos of a verification item (which may show a person's
///   holding; the entry does not say whose it was, so every item's go);
/// * a sustainment scenario moved into the reader's subtree from outside it: where it was,
///   and what it said there.
///
/// Returns whether anything was taken out, so the reader is told that what they see no
/// longer matches the entry's hash. Details that do not read as JSON, where something
/// would have to be taken out, are withheld whole rather than shown as stored.
pub fn redact_details(
    entity: &str,
    before: &mut Option<String>,
    after: &mut Option<String>,
    scope: &Scope,
) -> bool {
    let personal = scope.allows(DataClass::PersonalData);
    let redact: fn(&mut serde_json::Value, &Scope) -> bool = match entity {
        "requisition_order" if !personal => mask_citizen_holder,
        "verification_item" if !personal => remove_photos,
        "sustainment_scenario" => forget_region_outside,
        _ => return false,
    };
    let mut redacted = false;
    for details in [before, after] {
        let Some(text) = details.as_deref() else {
            continue;
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut value) => {
                if redact(&mut value, scope) {
                    *details = (!value.is_null()).then(|| value.to_string());
                    redacted = true;
                }
            }
            Err(_) => {
                *details = None;
                redacted = true;
            }
        }
    }
    redacted
}

/// `{"holder": {"category": "citizen", "name": …}}`: the name as [`Holder::masked`] gives it.
fn mask_citizen_holder(details: &mut serde_json::Value, _: &Scope) -> bool {
    let Some(holder) = details.get_mut("holder") else {
        return false;
    };
    if holder.get("category").and_then(|c| c.as_str()) != Some("citizen") {
        return false;
    }
    let Some(name) = holder.get("name").and_then(|n| n.as_str()) else {
        return false;
    };
    let person = Holder::Person {
        name: name.to_owned(),
        id_number: None,
        phone: None,
    };
    holder["name"] = serde_json::Value::from(person.masked().name());
    true
}

fn remove_photos(details: &mut serde_json::Value, _: &Scope) -> bool {
    details
        .as_object_mut()
        .is_some_and(|object| object.remove("photos").is_some())
}

/// `{"region_path": …, …}` of a region outside `scope`: all of it goes (null).
fn forget_region_outside(details: &mut serde_json::Value, scope: &Scope) -> bool {
    let Some(path) = details.get("region_path").and_then(|p| p.as_str()) else {
        return false;
    };
    if RegionPath::parse(path).is_some_and(|path| scope.contains(&path)) {
        return false;
    }
    *details = serde_json::Value::Null;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredAuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let record = AuditRecord {
                    seq,
                    at: Timestamp::from_millis(1_700_000_000_000 + seq),
                    actor: "cli:test".into(),
                    actor_user_id: None,
                    entity: "region".into(),
                    entity_id: format!("34{seq:02}"),
                    action: "create".into(),
                    region_path: "/34/".into(),
                    before: None,
                    after: Some(format!("{{\"n\":{seq}}}")),
                };
                let hash = record.chain_hash(&prev);
                let entry = StoredAuditEntry {
                    record,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    fn verify(
        entries: &[StoredAuditEntry],
        head_seq: i64,
        head_hash: &str,
    ) -> Result<i64, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for entry in entries {
            verifier.check(entry)?;
        }
        verifier.finish(head_seq, head_hash)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        let head = entries[4].hash.clone();
        assert_eq!(verify(&entries, 5, &head), Ok(5));
        assert_eq!(verify(&[], 0, GENESIS_HASH), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_entry() {
        let entries = chain(5);
        let head = entries[4].hash.clone();

        let mut altered = entries.clone();
        altered[2].record.after = Some("{\"n\":999}".into());
        assert_eq!(
            verify(&altered, 5, &head),
            Err(ChainBreak::Altered { seq: 3 })
        );

        let mut removed = entries.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, 5, &head),
            Err(ChainBreak::Removed {
                expected: 2,
                found: 3
            })
        );

        // An attacker who rewrites entry 2 and recomputes its own hash still breaks entry 3.
        let mut rehashed = entries.clone();
        rehashed[1].record.actor = "someone else".into();
        rehashed[1].hash = rehashed[1].record.chain_hash(&rehashed[1].prev_hash);
        assert_eq!(
            verify(&rehashed, 5, &head),
            Err(ChainBreak::Relinked { seq: 3 })
        );

        let truncated = &entries[..3];
        assert_eq!(
            verify(truncated, 5, &head),
            Err(ChainBreak::Truncated {
                head_seq: 5,
                last_seq: 3
            })
        );
    }

    fn reader(classes: Vec<DataClass>) -> Scope {
        Scope::new(RegionPath::parse("/34/3401/").expect("path"), classes)
    }

    fn redacted(
        entity: &str,
        before: Option<&str>,
        after: Option<&str>,
        scope: &Scope,
    ) -> (bool, Option<String>, Option<String>) {
        let (mut before, mut after) = (before.map(str::to_owned), after.map(str::to_owned));
        let changed = redact_details(entity, &mut before, &mut after, scope);
        (changed, before, after)
    }

    #[test]
    fn a_citizen_holders_name_is_masked_for_a_reader_without_personal_data() {
        let order = r#"{"holder":{"holder_id":7,"name":"张三丰","category":"citizen"},"items":[]}"#;
        let (changed, _, after) = redacted("requisition_order", None, Some(order), &reader(vec![]));
        assert!(changed);
        let after: serde_json::Value =
            serde_json::from_str(&after.expect("details")).expect("json");
        assert_eq!(after["holder"]["name"], "张**");
        assert_eq!(after["holder"]["holder_id"], 7);
        assert_eq!(after["items"], serde_json::json!([]));

        let staff = reader(vec![DataClass::PersonalData]);
        assert_eq!(
            redacted("requisition_order", None, Some(order), &staff),
            (false, None, Some(order.to_owned()))
        );
        let enterprise =
            r#"{"holder":{"holder_id":3,"name":"合肥运输公司","category":"enterprise"}}"#;
        assert!(!redacted("requisition_order", None, Some(enterprise), &reader(vec![])).0);
    }

    #[test]
    fn verification_photos_go_for_a_reader_without_personal_data() {
        let item = r#"{"quantity_seen":3,"photos":["ab12"],"accurate":true}"#;
        let (changed, _, after) = redacted("verification_item", None, Some(item), &reader(vec![]));
        assert!(changed);
        assert_eq!(
            after.as_deref(),
            Some(r#"{"accurate":true,"quantity_seen":3}"#)
        );
        let staff = reader(vec![DataClass::PersonalData]);
        assert!(!redacted("verification_item", None, Some(item), &staff).0);
        // Nothing else is touched, for anyone.
        assert!(!redacted("potential_record", None, Some(item), &reader(vec![])).0);
    }

    #[test]
    fn a_scenario_moved_in_from_outside_the_subtree_keeps_its_past_there_hidden() {
        let outside = r#"{"name":"flood","region_path":"/34/3402/","document":"…"}"#;
        let inside = r#"{"name":"flood","region_path":"/34/3401/340104/","document":"…"}"#;
        let everyone = reader(vec![DataClass::PersonalData, DataClass::ClassifiedMilitary]);
        assert_eq!(
            redacted(
                "sustainment_scenario",
                Some(outside),
                Some(inside),
                &everyone
            ),
            (true, None, Some(inside.to_owned()))
        );
        assert!(
            !redacted(
                "sustainment_scenario",
                Some(inside),
                Some(inside),
                &everyone
            )
            .0
        );
    }

    #[test]
    fn details_that_do_not_read_are_withheld_where_something_would_be_taken_out() {
        let (changed, before, after) = redacted(
            "requisition_order",
            Some("not json"),
            Some(r#"{"status":"notified"}"#),
            &reader(vec![]),
        );
        assert!(changed);
        assert_eq!(before, None);
        assert_eq!(after.as_deref(), Some(r#"{"status":"notified"}"#));
    }
}
