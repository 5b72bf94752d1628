//! `sqlx::migrate!` embeds the migrations when `db.rs` is compiled; without this, a new
//! migration file alone would not rebuild the crate and an incremental build would ship
//! without it (sqlx's documented advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
