//! Reads for the demand pages that the API does not need.

use muster_domain::Scope;
use serde::Serialize;

use super::clearance_rank;
use crate::db::{Database, on_read_pool};
use crate::error::StorageError;

/// Where a holding allocated to a demand stands now: its status in the registry and its
/// stock, so the page shows records moving to allocated and then handed over as the stock
/// leaves them. Figures only: nothing about the holder.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct HoldingStock {
    pub record_id: i64,
    /// A `muster_domain::potential::RecordStatus`.
    pub status: String,
    /// What the record still holds (handed-over units have left it).
    pub quantity: f64,
    /// What accepted allocations hold of it.
    pub reserved_quantity: f64,
}

impl Database {
    /// The current stock of every record allocated to the demand, if the reader may see the
    /// demand (its region in the reader's subtree, its classification within their
    /// clearance, both in the SQL); nothing otherwise.
    pub async fn demand_holding_stock(
        &self,
        scope: &Scope,
        demand_id: i64,
    ) -> Result<Vec<HoldingStock>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id AS record_id, r.status, r.quantity, r.reserved_quantity \
                 FROM potential_records r WHERE r.id IN (SELECT a.record_id \
                 FROM demand_allocations a JOIN demands d ON d.id = a.demand_id \
                 WHERE a.demand_id = $1 AND d.region_path >= $2 AND d.region_path < $3 \
                 AND d.classification_rank <= $4) ORDER BY r.id",
            )
            .bind(demand_id)
            .bind(&low)
            .bind(&high)
            .bind(clearance_rank(scope))
            .fetch_all(pool)
            .await
        })?)
    }
}
