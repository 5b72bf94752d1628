//! Sustainment in the JSON API: an office's scenarios (consumption, surge, production), run
//! on the verified potential of the scenario's subtree with the band low / expected / high,
//! what-ifs beside the base run, and the stock figures themselves.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::RegionPath;
use muster_domain::sustainment::{Adjustment, Band, StockFigures, SustainmentReport};
use muster_storage::{
    NewScenario, ProductionLine, ScenarioDocument, ScenarioTypeDocument, StoredScenario, SurgeStep,
    SustainmentRun,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scenarios, create_scenario))
        .routes(routes!(get_scenario, put_scenario, delete_scenario))
        .routes(routes!(get_report, post_report))
        .routes(routes!(get_stock))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SurgeStepDto {
    /// From this day (0 is the first) consumption is multiplied by `multiplier`.
    from_day: u16,
    multiplier: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProductionDto {
    /// The enterprise that produces.
    source: String,
    full_rate_per_day: f64,
    start_day: u16,
    /// Days to reach the full rate, linearly.
    ramp_days: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ScenarioTypeDto {
    type_code: String,
    daily_consumption: f64,
    #[serde(default)]
    production: Vec<ProductionDto>,
}

/// The assumptions of a scenario; the stock is read from the subtree's potential each run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ScenarioDocumentDto {
    /// 1 to 365.
    horizon_days: u16,
    /// One surge profile for every type.
    #[serde(default)]
    surge: Vec<SurgeStepDto>,
    types: Vec<ScenarioTypeDto>,
}

impl From<ScenarioDocumentDto> for ScenarioDocument {
    fn from(d: ScenarioDocumentDto) -> Self {
        ScenarioDocument {
            horizon_days: d.horizon_days,
            surge: d
                .surge
                .into_iter()
                .map(|s| SurgeStep {
                    from_day: s.from_day,
                    multiplier: s.multiplier,
                })
                .collect(),
            types: d
                .types
                .into_iter()
                .map(|t| ScenarioTypeDocument {
                    type_code: t.type_code,
                    daily_consumption: t.daily_consumption,
                    production: t
                        .production
                        .into_iter()
                        .map(|p| ProductionLine {
                            source: p.source,
                            full_rate_per_day: p.full_rate_per_day,
                            start_day: p.start_day,
                            ramp_days: p.ramp_days,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl From<ScenarioDocument> for ScenarioDocumentDto {
    fn from(d: ScenarioDocument) -> Self {
        ScenarioDocumentDto {
            horizon_days: d.horizon_days,
            surge: d
                .surge
                .into_iter()
                .map(|s| SurgeStepDto {
                    from_day: s.from_day,
                    multiplier: s.multiplier,
                })
                .collect(),
            types: d
                .types
                .into_iter()
                .map(|t| ScenarioTypeDto {
                    type_code: t.type_code,
                    daily_consumption: t.daily_consumption,
                    production: t
                        .production
                        .into_iter()
                        .map(|p| ProductionDto {
                            source: p.source,
                            full_rate_per_day: p.full_rate_per_day,
                            start_day: p.start_day,
                            ramp_days: p.ramp_days,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScenarioDto {
    id: i64,
    name: String,
    region_code: Option<String>,
    region_path: String,
    document: ScenarioDocumentDto,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<StoredScenario> for ScenarioDto {
    type Error = WebError;

    fn try_from(s: StoredScenario) -> Result<Self, WebError> {
        Ok(Self {
            document: s.document()?.into(),
            id: s.id,
            name: s.name,
            region_code: s.region_code,
            region_path: s.region_path,
            created_at: s.created_at,
            updated_at: s.updated_at,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ScenarioRequest {
    name: String,
    /// The subtree whose potential it runs on; the caller's own region when absent.
    region_code: Option<String>,
    document: ScenarioDocumentDto,
}

impl From<ScenarioRequest> for NewScenario {
    fn from(r: ScenarioRequest) -> Self {
        NewScenario {
            name: r.name,
            region_code: r.region_code,
            document: r.document.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct QuantityBandDto {
    low: f64,
    expected: f64,
    high: f64,
}

impl From<Band<f64>> for QuantityBandDto {
    fn from(b: Band<f64>) -> Self {
        Self {
            low: b.low,
            expected: b.expected,
            high: b.high,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct DaysBandDto {
    low: u16,
    expected: u16,
    high: u16,
}

impl From<Band<u16>> for DaysBandDto {
    fn from(b: Band<u16>) -> Self {
        Self {
            low: b.low,
            expected: b.expected,
            high: b.high,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct RunOutBandDto {
    /// The first day whose need cannot be met; null when it lasts the horizon.
    low: Option<u16>,
    expected: Option<u16>,
    high: Option<u16>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TypeReportDto {
    type_code: String,
    initial_stock: QuantityBandDto,
    runs_out_day: RunOutBandDto,
    days_lasted: DaysBandDto,
    /// What would have to be added on day 0 to last the horizon.
    extra_stock_to_last_horizon: QuantityBandDto,
    /// Stock at the end of each day.
    series: Vec<QuantityBandDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BottleneckDto {
    type_code: String,
    runs_out_day: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportDto {
    horizon_days: u16,
    days_of_sustainment: DaysBandDto,
    /// The type that runs out first (expected estimate); null when every type lasts.
    bottleneck: Option<BottleneckDto>,
    types: Vec<TypeReportDto>,
}

impl From<&SustainmentReport> for ReportDto {
    fn from(r: &SustainmentReport) -> Self {
        Self {
            horizon_days: r.horizon_days,
            days_of_sustainment: r.days_of_sustainment.into(),
            bottleneck: r.bottleneck.as_ref().map(|b| BottleneckDto {
                type_code: b.type_code.clone(),
                runs_out_day: b.runs_out_day,
            }),
            types: r
                .types
                .iter()
                .map(|t| TypeReportDto {
                    type_code: t.type_code.clone(),
                    initial_stock: t.initial_stock.into(),
                    runs_out_day: RunOutBandDto {
                        low: t.runs_out_day.low,
                        expected: t.runs_out_day.expected,
                        high: t.runs_out_day.high,
                    },
                    days_lasted: t.days_lasted.into(),
                    extra_stock_to_last_horizon: t.extra_stock_to_last_horizon.into(),
                    series: t.series.iter().map(|b| (*b).into()).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct StockDto {
    /// Quantity of available records verified on site.
    verified: f64,
    /// Quantity of available records never verified.
    unverified: f64,
    /// Quantity-weighted age of the figures in days.
    age_days: u32,
}

impl From<StockFigures> for StockDto {
    fn from(s: StockFigures) -> Self {
        Self {
            verified: s.verified,
            unverified: s.unverified,
            age_days: s.age_days,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TypeStockDto {
    type_code: String,
    #[serde(flatten)]
    stock: StockDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDto {
    scenario: ScenarioDto,
    stock: Vec<TypeStockDto>,
    /// How the low estimate discounts: unverified quantities counted at this share…
    unverified_share: f64,
    /// …and all figures decaying by this fraction per 30 days of age.
    decay_per_30_days: f64,
    report: ReportDto,
    /// The report with the what-ifs applied, when any were given.
    adjusted: Option<ReportDto>,
}

impl TryFrom<SustainmentRun> for RunDto {
    type Error = WebError;

    fn try_from(run: SustainmentRun) -> Result<Self, WebError> {
        Ok(Self {
            stock: run
                .stock
                .iter()
                .map(|(code, s)| TypeStockDto {
                    type_code: code.clone(),
                    stock: (*s).into(),
                })
                .collect(),
            unverified_share: run.policy.unverified_share(),
            decay_per_30_days: run.policy.decay_per_30_days(),
            report: (&run.report).into(),
            adjusted: run.adjusted.as_ref().map(Into::into),
            scenario: run.scenario.try_into()?,
        })
    }
}

/// A what-if.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AdjustmentDto {
    /// Add `quantity` of a type, in hand from day 0.
    AddStock { type_code: String, quantity: f64 },
    /// An enterprise converted to produce a type.
    ConvertEnterprise {
        enterprise: String,
        type_code: String,
        full_rate_per_day: f64,
        start_day: u16,
        ramp_days: u16,
    },
}

impl From<AdjustmentDto> for Adjustment {
    fn from(a: AdjustmentDto) -> Self {
        match a {
            AdjustmentDto::AddStock {
                type_code,
                quantity,
            } => Adjustment::AddStock {
                type_code,
                quantity,
            },
            AdjustmentDto::ConvertEnterprise {
                enterprise,
                type_code,
                full_rate_per_day,
                start_day,
                ramp_days,
            } => Adjustment::ConvertEnterprise {
                enterprise,
                type_code,
                full_rate_per_day,
                start_day,
                ramp_days,
            },
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct WhatIfRequest {
    adjustments: Vec<AdjustmentDto>,
}

fn csrf(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

/// The scenarios of the caller's subtree, newest first.
#[utoipa::path(get, path = "/sustainment/scenarios", tag = "sustainment",
    responses((status = 200, body = Vec<ScenarioDto>)))]
async fn list_scenarios(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<ScenarioDto>>, WebError> {
    let rows = state
        .db
        .sustainment_scenarios(current.actor.scope())
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(ScenarioDto::try_from)
            .collect::<Result<_, _>>()?,
    ))
}

/// Stores a scenario (office staff, military liaisons) in a region of the caller's
/// subtree; every problem of the assumptions is named (422).
#[utoipa::path(post, path = "/sustainment/scenarios", tag = "sustainment", request_body = ScenarioRequest,
    responses((status = 201, body = ScenarioDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_scenario(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<ScenarioRequest>,
) -> Result<(StatusCode, Json<ScenarioDto>), WebError> {
    csrf(&current, &headers)?;
    let stored = state
        .db
        .save_sustainment_scenario(&current.actor, None, request.into())
        .await?;
    Ok((StatusCode::CREATED, Json(stored.try_into()?)))
}

#[utoipa::path(get, path = "/sustainment/scenarios/{id}", tag = "sustainment", params(("id" = i64, Path)),
    responses((status = 200, body = ScenarioDto), (status = 404, body = Problem)))]
async fn get_scenario(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<ScenarioDto>, WebError> {
    let stored = state
        .db
        .sustainment_scenario(current.actor.scope(), id)
        .await?;
    Ok(Json(stored.try_into()?))
}

/// Replaces a scenario's name, region and assumptions.
#[utoipa::path(put, path = "/sustainment/scenarios/{id}", tag = "sustainment", params(("id" = i64, Path)),
    request_body = ScenarioRequest,
    responses((status = 200, body = ScenarioDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn put_scenario(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<ScenarioRequest>,
) -> Result<Json<ScenarioDto>, WebError> {
    csrf(&current, &headers)?;
    let stored = state
        .db
        .save_sustainment_scenario(&current.actor, Some(id), request.into())
        .await?;
    Ok(Json(stored.try_into()?))
}

/// Deletes a scenario (a plan that no longer applies). Audited with what it held.
#[utoipa::path(delete, path = "/sustainment/scenarios/{id}", tag = "sustainment", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_scenario(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    state
        .db
        .delete_sustainment_scenario(&current.actor, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs the scenario on its subtree's stock as of now: days per type, the bottleneck, the
/// overall days with the band, and the daily series.
#[utoipa::path(get, path = "/sustainment/scenarios/{id}/report", tag = "sustainment", params(("id" = i64, Path)),
    responses((status = 200, body = RunDto), (status = 404, body = Problem)))]
async fn get_report(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<RunDto>, WebError> {
    let run = state
        .db
        .run_sustainment(current.actor.scope(), id, &[], muster_storage::now())
        .await?;
    Ok(Json(run.try_into()?))
}

/// The same run with what-ifs (add stock of a type, convert an enterprise) beside it.
/// Nothing is stored, so any reader may ask.
#[utoipa::path(post, path = "/sustainment/scenarios/{id}/report", tag = "sustainment", params(("id" = i64, Path)),
    request_body = WhatIfRequest,
    responses((status = 200, body = RunDto), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn post_report(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Json(request): Json<WhatIfRequest>,
) -> Result<Json<RunDto>, WebError> {
    let adjustments: Vec<Adjustment> = request.adjustments.into_iter().map(Into::into).collect();
    let run = state
        .db
        .run_sustainment(
            current.actor.scope(),
            id,
            &adjustments,
            muster_storage::now(),
        )
        .await?;
    Ok(Json(run.try_into()?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct StockQuery {
    /// The region whose subtree is counted; the caller's own when absent.
    region: Option<String>,
    /// Comma-separated type codes; every type when absent.
    types: Option<String>,
}

/// The stock of each type in a subtree, as sustainment counts it: available records,
/// verified and unverified quantity, and the quantity-weighted age of the figures.
#[utoipa::path(get, path = "/sustainment/stock", tag = "sustainment", params(StockQuery),
    responses((status = 200, body = Vec<TypeStockDto>), (status = 404, body = Problem)))]
async fn get_stock(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<StockQuery>,
) -> Result<Json<Vec<TypeStockDto>>, WebError> {
    let scope = current.actor.scope();
    let path: RegionPath = match query.region.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => state.db.region(scope, code).await?.region_path(),
        _ => scope.subtree().clone(),
    };
    let types: BTreeSet<String> = query
        .types
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let stock = state
        .db
        .sustainment_stock(scope, &path, &types, muster_storage::now())
        .await?;
    Ok(Json(
        stock
            .into_iter()
            .map(|(type_code, s)| TypeStockDto {
                type_code,
                stock: s.into(),
            })
            .collect(),
    ))
}
