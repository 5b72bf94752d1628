//! Muster's HTTP edge: the JSON API under `/api/v1` and the server-rendered HTML UI, two
//! routers over the same storage workflows. Handlers are thin: extractors authenticate and
//! scope, handlers parse into domain types, call storage, and render.

rust_i18n::i18n!("locales", fallback = "en");

mod account_pages;
mod api;
mod app;
mod auth;
mod demands_api;
mod demands_forms;
mod demands_pages;
mod error;
mod facilities_api;
mod facilities_pages;
mod facility_forms;
mod i18n;
mod inspection_forms;
pub mod notify;
mod page_parts;
mod pages;
pub mod password;
mod patrol_pages;
mod photo_forms;
mod potential_api;
mod potential_pages;
mod potential_view;
mod region_import_pages;
mod requisition_api;
mod requisition_pages;
mod routes;
mod session;
mod settings_api;
mod settings_pages;
mod sites_api;
mod sites_pages;
mod survey_api;
mod survey_pages;
mod sustainment_api;
mod sustainment_pages;
mod uploads_api;
mod verification_api;
mod verification_pages;

pub use app::{App, AppConfig, RunningApp};
