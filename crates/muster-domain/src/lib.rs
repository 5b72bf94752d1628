//! Muster's domain core.
//!
//! Everything here is pure: no database, no network, no files, no clock and no ambient
//! randomness. Time arrives as a [`Timestamp`] parameter and randomness as a seed, so every
//! function is deterministic and can be tested as data. Bad input never panics; it comes
//! back as a typed refusal that names what was wrong.

pub mod allocation;
pub mod audit;
pub mod demand;
pub mod demo;
pub mod facility;
pub mod number;
pub mod organization;
pub mod potential;
pub mod region;
pub mod region_import;
pub mod requisition;
pub mod scope;
pub mod sheet;
pub mod survey;
pub mod sustainment;
pub mod taxonomy;
pub mod text;
pub mod time;
pub mod transport;
pub mod verification;

pub use organization::{DataClass, OrganizationKind, Role, Side};
pub use region::{RegionCode, RegionLevel, RegionPath};
pub use scope::{Actor, Scope};
pub use taxonomy::{Category, ResourceType, Taxonomy};
pub use time::Timestamp;
