//! Administrator settings in the JSON API: the transport parameters allocations use and the
//! compensation policy requisitions use. Any signed-in user reads them; an administrator
//! replaces them, refused (422) with every problem named by its field. Money is integer fen;
//! percentages are basis points (10,000 = 100 %).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use muster_domain::requisition::CompensationSetting;
use muster_domain::transport::TransportSetting;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_transport, put_transport))
        .routes(routes!(get_compensation, put_compensation))
}

/// How allocations cost and time a move: `great-circle km × road_factor` road km, at
/// `speed_km_per_hour`, each unit costing its type's cost (else the default) per road km.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct TransportSettingDto {
    /// Road km per great-circle km, 1 to 10.
    pub(crate) road_factor: f64,
    /// More than 0, at most 300.
    pub(crate) speed_km_per_hour: f64,
    /// Yuan per unit and road km, 0 to 1,000,000.
    pub(crate) default_cost_per_unit_km: f64,
    /// Per resource type code, overriding the default.
    #[serde(default)]
    pub(crate) cost_per_unit_km_by_type: BTreeMap<String, f64>,
}

impl From<TransportSetting> for TransportSettingDto {
    fn from(s: TransportSetting) -> Self {
        Self {
            road_factor: s.road_factor,
            speed_km_per_hour: s.speed_km_per_hour,
            default_cost_per_unit_km: s.default_cost_per_unit_km,
            cost_per_unit_km_by_type: s.cost_per_unit_km_by_type,
        }
    }
}

impl From<TransportSettingDto> for TransportSetting {
    fn from(d: TransportSettingDto) -> Self {
        Self {
            road_factor: d.road_factor,
            speed_km_per_hour: d.speed_km_per_hour,
            default_cost_per_unit_km: d.default_cost_per_unit_km,
            cost_per_unit_km_by_type: d.cost_per_unit_km_by_type,
        }
    }
}

/// The compensation formula's percentages, in basis points (0 to 10,000; damaged at least
/// worn), and the daily rates (fen per unit and day) an item takes when its order names
/// none, keyed by resource type, subcategory or category code (the most specific applies).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct CompensationSettingDto {
    pub(crate) wear_basis_points_per_day: u32,
    pub(crate) wear_cap_basis_points: u32,
    pub(crate) worn_basis_points: u32,
    pub(crate) damaged_basis_points: u32,
    #[serde(default)]
    pub(crate) daily_rates_fen: BTreeMap<String, i64>,
}

impl From<CompensationSetting> for CompensationSettingDto {
    fn from(s: CompensationSetting) -> Self {
        Self {
            wear_basis_points_per_day: s.wear_basis_points_per_day,
            wear_cap_basis_points: s.wear_cap_basis_points,
            worn_basis_points: s.worn_basis_points,
            damaged_basis_points: s.damaged_basis_points,
            daily_rates_fen: s.daily_rates_fen,
        }
    }
}

impl From<CompensationSettingDto> for CompensationSetting {
    fn from(d: CompensationSettingDto) -> Self {
        Self {
            wear_basis_points_per_day: d.wear_basis_points_per_day,
            wear_cap_basis_points: d.wear_cap_basis_points,
            worn_basis_points: d.worn_basis_points,
            damaged_basis_points: d.damaged_basis_points,
            daily_rates_fen: d.daily_rates_fen,
        }
    }
}

/// The transport setting in force (the default until an administrator sets one).
#[utoipa::path(get, path = "/settings/transport", tag = "settings",
    responses((status = 200, body = TransportSettingDto)))]
async fn get_transport(
    State(state): State<AppState>,
    _current: CurrentUser,
) -> Result<Json<TransportSettingDto>, WebError> {
    Ok(Json(state.db.transport_setting().await?.into()))
}

/// Replaces the transport setting (administrators); proposals and accepts use it from then
/// on. Every problem is named by its field (422).
#[utoipa::path(put, path = "/settings/transport", tag = "settings",
    request_body = TransportSettingDto,
    responses((status = 200, body = TransportSettingDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_transport(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(setting): Json<TransportSettingDto>,
) -> Result<Json<TransportSettingDto>, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    Ok(Json(
        state
            .db
            .set_transport_setting(&current.actor, setting.into())
            .await?
            .into(),
    ))
}

/// The compensation setting in force (the default until an administrator sets one).
#[utoipa::path(get, path = "/settings/compensation", tag = "settings",
    responses((status = 200, body = CompensationSettingDto)))]
async fn get_compensation(
    State(state): State<AppState>,
    _current: CurrentUser,
) -> Result<Json<CompensationSettingDto>, WebError> {
    Ok(Json(state.db.compensation_setting().await?.into()))
}

/// Replaces the compensation setting (administrators); drafts and assessments use it from
/// then on, assessments already made keep theirs. Every problem is named by its field (422).
#[utoipa::path(put, path = "/settings/compensation", tag = "settings",
    request_body = CompensationSettingDto,
    responses((status = 200, body = CompensationSettingDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_compensation(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(setting): Json<CompensationSettingDto>,
) -> Result<Json<CompensationSettingDto>, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    Ok(Json(
        state
            .db
            .set_compensation_setting(&current.actor, setting.into())
            .await?
            .into(),
    ))
}
