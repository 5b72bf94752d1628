//! Muster's HTTP edge: the JSON API under `/api/v1` and the server-rendered HTML UI, two
//! routers over the same storage workflows. Handlers are thin: extractors authenticate and
//! scope, handlers parse into domain types, call storage, and render.

mod app;
mod auth;
mod error;
pub mod password;
mod routes;

pub use app::{App, AppConfig, RunningApp};
