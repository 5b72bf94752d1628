//! Time as a value. The domain never reads a clock; callers hand it the current time.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Stored as a BIGINT on both databases so that
/// the audit chain hashes the same bytes whichever database holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved forward by `millis` (saturating, never panicking).
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}
