//! The potential registry in the JSON API: the taxonomy, totals for the drill-down, records,
//! uploads of record files, baselines and gaps. Every read is scoped by the caller (storage
//! filters by the subtree); writes check the CSRF header for browser sessions.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::potential::RecordStatus;
use muster_domain::taxonomy::{AttributeSpec, Category, ResourceType, Taxonomy};
use muster_domain::{RegionPath, Scope};
use muster_storage::{
    BaselineRow, Database, Gap, PotentialRecord, RecordFilter, RecordProvenance, Region,
    RegionView, StorageError, StoredBaseline,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};
use crate::potential_view::{Focus, Group, Level, MAX_UPLOAD_BYTES, group_totals};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    // Uploads get their own, larger body limit; everything else keeps the global one.
    let uploads = OpenApiRouter::new()
        .routes(routes!(import_records))
        .routes(routes!(check_records))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .routes(routes!(get_taxonomy))
        .routes(routes!(put_resource_type))
        .routes(routes!(potential_totals))
        .routes(routes!(list_records))
        .routes(routes!(get_record, patch_record))
        .routes(routes!(get_baselines, put_baselines))
        .routes(routes!(get_gaps))
        .merge(uploads)
}

fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

/// The region a potential read is about: the one asked for, or, when none is, the reader's
/// own region (the whole nation for a national scope, which has no region of its own).
pub(crate) async fn region_in_scope(
    db: &Database,
    scope: &Scope,
    code: Option<&str>,
) -> Result<RegionView, StorageError> {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    match code {
        Some(code) => db.region_view(scope, Some(code)).await,
        None => {
            let own = scope.subtree().codes().last();
            db.region_view(scope, own.as_ref().map(|c| c.as_str()))
                .await
        }
    }
}

/// The path of a region view's region, or the scope's subtree at the national top.
pub(crate) fn view_path(view: &RegionView, scope: &Scope) -> RegionPath {
    view.region
        .as_ref()
        .map_or_else(|| scope.subtree().clone(), Region::region_path)
}

// ------------------------------------------------------------------ wire types

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NamedDto {
    code: String,
    name_en: String,
    name_zh: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubcategoryDto {
    code: String,
    category: String,
    name_en: String,
    name_zh: String,
}

/// A resource type. `attributes` has the shape of `data/taxonomy.json`: `{key, name_en,
/// name_zh, required, kind: {type: integer|decimal|text|choice|boolean, …}}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ResourceTypeDto {
    code: String,
    /// political, armed_forces, national_economy, civil_air_defense, transportation or
    /// emerging_fields.
    category: String,
    subcategory: String,
    name_en: String,
    name_zh: String,
    /// A unit code from the taxonomy's units.
    unit: String,
    whole_units: bool,
    /// The largest quantity one record may hold.
    max_quantity: f64,
    #[schema(value_type = Vec<Object>)]
    attributes: Vec<AttributeSpec>,
}

impl From<&ResourceType> for ResourceTypeDto {
    fn from(t: &ResourceType) -> Self {
        Self {
            code: t.code.clone(),
            category: t.category.code().to_owned(),
            subcategory: t.subcategory.clone(),
            name_en: t.name_en.clone(),
            name_zh: t.name_zh.clone(),
            unit: t.unit.clone(),
            whole_units: t.whole_units,
            max_quantity: t.max_quantity,
            attributes: t.attributes.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaxonomyDto {
    categories: Vec<NamedDto>,
    subcategories: Vec<SubcategoryDto>,
    units: Vec<NamedDto>,
    types: Vec<ResourceTypeDto>,
}

impl From<&Taxonomy> for TaxonomyDto {
    fn from(taxonomy: &Taxonomy) -> Self {
        Self {
            categories: Category::ALL
                .iter()
                .map(|c| NamedDto {
                    code: c.code().to_owned(),
                    name_en: c.name_en().to_owned(),
                    name_zh: c.name_zh().to_owned(),
                })
                .collect(),
            subcategories: taxonomy
                .subcategories()
                .iter()
                .map(|s| SubcategoryDto {
                    code: s.code.clone(),
                    category: s.category.code().to_owned(),
                    name_en: s.name_en.clone(),
                    name_zh: s.name_zh.clone(),
                })
                .collect(),
            units: taxonomy
                .units()
                .iter()
                .map(|u| NamedDto {
                    code: u.code.clone(),
                    name_en: u.name_en.clone(),
                    name_zh: u.name_zh.clone(),
                })
                .collect(),
            types: taxonomy
                .resource_types()
                .iter()
                .map(ResourceTypeDto::from)
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionRefDto {
    code: String,
    name: String,
    path: String,
}

impl From<&Region> for RegionRefDto {
    fn from(r: &Region) -> Self {
        Self {
            code: r.code.clone(),
            name: r.name.clone(),
            path: r.path.clone(),
        }
    }
}

/// Totals of one category, subcategory or type. Quantities are given for types only: a
/// category's types are counted in different units, so their quantities do not add up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupTotalsDto {
    code: String,
    name_en: String,
    name_zh: String,
    /// The unit of a type's quantities; absent for categories and subcategories.
    unit: Option<String>,
    record_count: i64,
    verified_count: i64,
    quantity: Option<f64>,
    available_quantity: Option<f64>,
    verified_quantity: Option<f64>,
}

impl From<&Group<'_>> for GroupTotalsDto {
    fn from(group: &Group<'_>) -> Self {
        let t = group.totals;
        let unit = match &group.key {
            crate::potential_view::GroupKey::Type(resource_type) => {
                Some(resource_type.unit.clone())
            }
            _ => None,
        };
        let typed = unit.is_some();
        Self {
            code: group.key.code().to_owned(),
            name_en: group.key.name_en(),
            name_zh: group.key.name_zh(),
            unit,
            record_count: t.record_count,
            verified_count: t.verified_count,
            quantity: typed.then_some(t.quantity),
            available_quantity: typed.then_some(t.available_quantity),
            verified_quantity: typed.then_some(t.verified_quantity),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChildTotalsDto {
    region: RegionRefDto,
    groups: Vec<GroupTotalsDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TotalsDto {
    /// The region asked for; absent at the top of a national scope.
    region: Option<RegionRefDto>,
    /// The subtree the totals cover.
    path: String,
    /// category, subcategory or type.
    level: String,
    /// Groups with records, in taxonomy order.
    groups: Vec<GroupTotalsDto>,
    /// The same for each child region.
    children: Vec<ChildTotalsDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HolderDto {
    /// organization or person.
    kind: String,
    organization_id: Option<i64>,
    /// A person's name, identity number and phone come masked unless the caller's roles
    /// allow personal data.
    name: String,
    id_number: Option<String>,
    phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordDto {
    id: i64,
    type_code: String,
    quantity: f64,
    #[schema(value_type = Object)]
    attributes: serde_json::Value,
    quality_grade: String,
    holder: HolderDto,
    /// The stored site the record is kept at (`/sites/{id}`), when `site_name` names one of
    /// its region's sites.
    site_id: Option<i64>,
    site_name: Option<String>,
    region_code: String,
    region_path: String,
    lat: Option<f64>,
    lon: Option<f64>,
    /// available, reserved, allocated, requisitioned or unavailable.
    status: String,
    round_id: Option<i64>,
    reporting_organization_id: Option<i64>,
    first_reported_quantity: f64,
    verified_quantity: Option<f64>,
    last_verified_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<PotentialRecord> for RecordDto {
    fn from(r: PotentialRecord) -> Self {
        Self {
            attributes: serde_json::from_str(&r.attributes)
                .unwrap_or(serde_json::Value::Object(serde_json::Map::new())),
            holder: HolderDto {
                kind: r.holder_kind,
                organization_id: r.holder_organization_id,
                name: r.holder_name,
                id_number: r.holder_id_number,
                phone: r.holder_phone,
            },
            id: r.id,
            type_code: r.type_code,
            quantity: r.quantity,
            quality_grade: r.quality_grade,
            site_id: r.site_id,
            site_name: r.site_name,
            region_code: r.region_code,
            region_path: r.region_path,
            lat: r.lat,
            lon: r.lon,
            status: r.status,
            round_id: r.round_id,
            reporting_organization_id: r.reporting_organization_id,
            first_reported_quantity: r.first_reported_quantity,
            verified_quantity: r.verified_quantity,
            last_verified_at: r.last_verified_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportSummaryDto {
    /// Records stored.
    inserted: usize,
    /// Roll-up rows touched.
    totals_rows: usize,
    /// The audit entry that records the import.
    audit_seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckSummaryDto {
    /// Rows that would be stored; nothing was.
    valid_rows: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BaselineDto {
    region_code: String,
    type_code: String,
    required_quantity: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoredBaselineDto {
    region_code: String,
    region_path: String,
    type_code: String,
    required_quantity: f64,
    updated_at: i64,
}

impl From<StoredBaseline> for StoredBaselineDto {
    fn from(b: StoredBaseline) -> Self {
        Self {
            region_code: b.region_code,
            region_path: b.region_path,
            type_code: b.type_code,
            required_quantity: b.required_quantity,
            updated_at: b.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BaselinesStoredDto {
    stored: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GapDto {
    type_code: String,
    required: f64,
    verified: f64,
    reported: f64,
    /// required − verified, never below zero.
    shortfall: f64,
    /// shortfall / required, from 0 (covered) to 1 (nothing verified).
    shortfall_share: f64,
}

impl From<Gap> for GapDto {
    fn from(g: Gap) -> Self {
        Self {
            type_code: g.type_code,
            required: g.required,
            verified: g.verified,
            reported: g.reported,
            shortfall: g.shortfall,
            shortfall_share: g.shortfall_share,
        }
    }
}

// ------------------------------------------------------------------ taxonomy

/// The taxonomy in force: the six categories, subcategories, units and resource types.
#[utoipa::path(get, path = "/taxonomy", tag = "potential",
    responses((status = 200, body = TaxonomyDto), (status = 401, body = Problem)))]
async fn get_taxonomy(
    State(state): State<AppState>,
    _current: CurrentUser,
) -> Result<Json<TaxonomyDto>, WebError> {
    let taxonomy = state.db.taxonomy().await?;
    Ok(Json(TaxonomyDto::from(&taxonomy)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ResourceTypeRequest {
    category: String,
    subcategory: String,
    name_en: String,
    name_zh: String,
    unit: String,
    whole_units: bool,
    max_quantity: f64,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    attributes: Vec<AttributeSpec>,
}

/// Adds a resource type or edits one (administrators). A change that would alter what
/// stored records mean (unit, subcategory, a smaller maximum, a narrowed or removed
/// attribute, a new required one) is refused with 409 once records of the type exist.
#[utoipa::path(put, path = "/taxonomy/types/{code}", tag = "potential",
    params(("code" = String, Path, description = "Resource type code")),
    request_body = ResourceTypeRequest,
    responses((status = 200, body = ResourceTypeDto), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_resource_type(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(code): Path<String>,
    Json(request): Json<ResourceTypeRequest>,
) -> Result<Json<ResourceTypeDto>, WebError> {
    check_write(&current, &headers)?;
    let category = Category::parse(&request.category)
        .ok_or_else(|| WebError::refused("category", "unknown category", "没有这个类别"))?;
    let resource_type = ResourceType {
        code: code.clone(),
        category,
        subcategory: request.subcategory,
        name_en: request.name_en,
        name_zh: request.name_zh,
        unit: request.unit,
        whole_units: request.whole_units,
        max_quantity: request.max_quantity,
        attributes: request.attributes,
    };
    let taxonomy = state
        .db
        .save_resource_type(&current.actor, resource_type)
        .await?;
    let saved = taxonomy.resource_type(&code).ok_or_else(|| {
        WebError::Storage(StorageError::NotFound {
            entity: "resource type",
            key: code.clone(),
        })
    })?;
    Ok(Json(saved.into()))
}

// ------------------------------------------------------------------ totals

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct TotalsQuery {
    /// The region whose subtree is totalled; default the caller's own region.
    region: Option<String>,
    /// category, subcategory or type; default the level below the narrowest filter.
    level: Option<String>,
    /// Only this category (e.g. transportation).
    category: Option<String>,
    /// Only this subcategory (e.g. TRN.ROAD).
    subcategory: Option<String>,
    /// Only this resource type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    type_code: Option<String>,
}

/// Totals of a region's subtree grouped by category, subcategory or type, and the same for
/// each child region, for the drill-down. Read from the roll-ups, so any subtree answers at
/// once.
#[utoipa::path(get, path = "/potential/totals", tag = "potential", params(TotalsQuery),
    responses((status = 200, body = TotalsDto), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn potential_totals(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<TotalsQuery>,
) -> Result<Json<TotalsDto>, WebError> {
    let scope = current.actor.scope();
    let taxonomy = state.db.taxonomy().await?;
    let focus = Focus::parse(
        &taxonomy,
        query.category.as_deref(),
        query.subcategory.as_deref(),
        query.type_code.as_deref(),
    )?;
    let level = match query.level.as_deref().map(str::trim) {
        None | Some("") => focus.natural_level(),
        Some(text) => Level::parse(text).ok_or_else(|| {
            WebError::refused(
                "level",
                "expected category, subcategory or type",
                "应为 category（类别）、subcategory（子类）或 type（资源类型）",
            )
        })?,
    };
    let view = region_in_scope(&state.db, scope, query.region.as_deref()).await?;
    let path = view_path(&view, scope);
    let own = state
        .db
        .subtree_totals(scope, view.region.as_ref().map(|r| r.code.as_str()))
        .await?;
    let child_paths: Vec<RegionPath> = view.children.iter().map(Region::region_path).collect();
    let mut by_child: BTreeMap<String, Vec<muster_storage::TypeTotals>> =
        state.db.totals_of_subtrees(scope, &child_paths).await?;
    let groups = |rows: &[muster_storage::TypeTotals]| -> Vec<GroupTotalsDto> {
        group_totals(&taxonomy, level, &focus, rows, false)
            .iter()
            .map(GroupTotalsDto::from)
            .collect()
    };
    let children = view
        .children
        .iter()
        .filter(|child| scope.contains(&child.region_path()))
        .map(|child| ChildTotalsDto {
            groups: groups(&by_child.remove(&child.path).unwrap_or_default()),
            region: child.into(),
        })
        .collect();
    Ok(Json(TotalsDto {
        region: view.region.as_ref().map(RegionRefDto::from),
        path: path.as_str().to_owned(),
        level: level.as_str().to_owned(),
        groups: groups(&own.by_type),
        children,
    }))
}

// ------------------------------------------------------------------ records

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RecordQuery {
    /// Only records in this region's subtree.
    region: Option<String>,
    /// Only this resource type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    type_code: Option<String>,
    /// available, reserved, allocated, requisitioned or unavailable.
    status: Option<String>,
    /// Keyset pagination: the last id of the previous page.
    after: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

pub(crate) fn parse_status(text: Option<&str>) -> Result<Option<RecordStatus>, WebError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => RecordStatus::parse(text).map(Some).ok_or_else(|| {
            WebError::refused(
                "status",
                "expected available, reserved, allocated, requisitioned or unavailable",
                "应为 available（可用）、reserved（已预留）、allocated（已调配）、requisitioned（已征用）或 unavailable（不可用）",
            )
        }),
    }
}

/// Potential records in the caller's subtree, by id. A person's data is masked unless the
/// caller's roles allow personal data.
#[utoipa::path(get, path = "/potential/records", tag = "potential", params(RecordQuery),
    responses((status = 200, body = Vec<RecordDto>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_records(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RecordQuery>,
) -> Result<Json<Vec<RecordDto>>, WebError> {
    let filter = RecordFilter {
        region_code: query.region.filter(|r| !r.trim().is_empty()),
        type_code: query.type_code.filter(|t| !t.trim().is_empty()),
        status: parse_status(query.status.as_deref())?,
        limit: query.limit.unwrap_or(100),
        after_id: query.after.unwrap_or(0),
    };
    let records = state
        .db
        .potential_records(current.actor.scope(), &filter)
        .await?;
    Ok(Json(records.into_iter().map(RecordDto::from).collect()))
}

#[utoipa::path(get, path = "/potential/records/{id}", tag = "potential", params(("id" = i64, Path)),
    responses((status = 200, body = RecordDto), (status = 404, body = Problem)))]
async fn get_record(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<RecordDto>, WebError> {
    Ok(Json(
        state
            .db
            .potential_record(current.actor.scope(), id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RecordPatch {
    /// available, reserved, allocated, requisitioned or unavailable.
    status: String,
}

/// Changes a record's status (office, workstation and member-unit staff in whose subtree
/// the record is); the totals follow in the same transaction.
#[utoipa::path(patch, path = "/potential/records/{id}", tag = "potential", params(("id" = i64, Path)),
    request_body = RecordPatch,
    responses((status = 200, body = RecordDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn patch_record(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(patch): Json<RecordPatch>,
) -> Result<Json<RecordDto>, WebError> {
    check_write(&current, &headers)?;
    let status = parse_status(Some(&patch.status))?
        .ok_or_else(|| WebError::refused("status", "the status is empty", "状态不能为空"))?;
    Ok(Json(
        state
            .db
            .set_record_status(&current.actor, id, status)
            .await?
            .into(),
    ))
}

// ------------------------------------------------------------------ imports

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ImportQuery {
    /// The uploaded file's name, which names the import in the audit log and in problems.
    /// The format is detected from the bytes (CSV in UTF-8 or GB18030, or XLSX).
    file_name: Option<String>,
}

fn upload_name(query: &ImportQuery) -> String {
    query
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("upload")
        .to_owned()
}

/// Imports a spreadsheet of potential records, all or nothing. Send the file itself as the
/// request body (any content type, e.g. `curl --data-binary @report.xlsx`), up to 64 MiB,
/// with its name in `?file_name=`. A refused file stores nothing and comes back as 422 with
/// every problem in `row_errors` (sheet, row, column, field, message).
#[utoipa::path(post, path = "/potential/imports", tag = "potential", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The CSV or XLSX file"),
    responses((status = 201, body = ImportSummaryDto), (status = 403, body = Problem), (status = 413, description = "The file is larger than 64 MiB"), (status = 422, body = Problem)))]
async fn import_records(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportSummaryDto>), WebError> {
    check_write(&current, &headers)?;
    let summary = state
        .db
        .import_potential_file(
            &current.actor,
            body.to_vec(),
            &upload_name(&query),
            None,
            RecordProvenance::default(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportSummaryDto {
            inserted: summary.inserted,
            totals_rows: summary.totals_rows,
            audit_seq: summary.audit_seq,
        }),
    ))
}

/// Checks a spreadsheet of potential records as [`import`](#tag/potential) would, and stores
/// nothing: 200 with the number of valid rows, or 422 with every problem.
#[utoipa::path(post, path = "/potential/imports/check", tag = "potential", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The CSV or XLSX file"),
    responses((status = 200, body = CheckSummaryDto), (status = 422, body = Problem)))]
async fn check_records(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<ImportQuery>,
    body: Bytes,
) -> Result<Json<CheckSummaryDto>, WebError> {
    let drafts = state
        .db
        .validate_potential_file(&current.actor, body.to_vec(), &upload_name(&query), None)
        .await?;
    Ok(Json(CheckSummaryDto {
        valid_rows: drafts.len(),
    }))
}

// ------------------------------------------------------------------ baselines and gaps

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct BaselineQuery {
    /// Only baselines in this region's subtree.
    region: Option<String>,
    /// Keyset pagination: the last row's region_path of the previous page…
    after_path: Option<String>,
    /// …and its type_code.
    after_type: Option<String>,
    /// At most 10000; default 1000.
    limit: Option<i64>,
}

/// Required quantities set in the caller's subtree, by region path and type.
#[utoipa::path(get, path = "/potential/baselines", tag = "potential", params(BaselineQuery),
    responses((status = 200, body = Vec<StoredBaselineDto>), (status = 404, body = Problem)))]
async fn get_baselines(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<BaselineQuery>,
) -> Result<Json<Vec<StoredBaselineDto>>, WebError> {
    let after = query
        .after_path
        .as_deref()
        .map(|p| (p, query.after_type.as_deref().unwrap_or("")));
    let rows = state
        .db
        .baselines(
            current.actor.scope(),
            query.region.as_deref().filter(|r| !r.trim().is_empty()),
            after,
            query.limit.unwrap_or(1000),
        )
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Sets required quantities (office staff and administrators), all or nothing: every
/// region must be in the caller's subtree and every type known, or 422 with `row_errors`
/// numbered from 1 in the order sent.
#[utoipa::path(put, path = "/potential/baselines", tag = "potential", request_body = Vec<BaselineDto>,
    responses((status = 200, body = BaselinesStoredDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_baselines(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(rows): Json<Vec<BaselineDto>>,
) -> Result<Json<BaselinesStoredDto>, WebError> {
    check_write(&current, &headers)?;
    let rows = rows
        .into_iter()
        .map(|b| BaselineRow {
            region_code: b.region_code,
            type_code: b.type_code,
            required_quantity: b.required_quantity,
        })
        .collect();
    let stored = state.db.set_baselines(&current.actor, rows).await?;
    Ok(Json(BaselinesStoredDto { stored }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct GapQuery {
    /// The region whose subtree is compared; default the caller's own region.
    region: Option<String>,
}

/// Requirement against verified potential by type for a region's subtree, worst first.
#[utoipa::path(get, path = "/potential/gaps", tag = "potential", params(GapQuery),
    responses((status = 200, body = Vec<GapDto>), (status = 404, body = Problem)))]
async fn get_gaps(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<GapQuery>,
) -> Result<Json<Vec<GapDto>>, WebError> {
    let gaps = state
        .db
        .gaps(
            current.actor.scope(),
            query.region.as_deref().filter(|r| !r.trim().is_empty()),
        )
        .await?;
    Ok(Json(gaps.into_iter().map(GapDto::from).collect()))
}
