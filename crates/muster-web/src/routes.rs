//! The router: API, pages, assets and health, with the layers every request passes.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::potential_view::MAX_UPLOAD_BYTES;
use crate::{
    facilities_pages, facility_forms, inspection_forms, pages, patrol_pages, potential_pages,
    region_import_pages, sites_pages, survey_pages, verification_pages,
};

/// Request bodies above this are refused (413) by every body extractor. Uploads of
/// spreadsheets set their own limit, [`MAX_UPLOAD_BYTES`], on their routes only: axum's
/// `DefaultBodyLimit` is read by the extractors, so the innermost layer wins, which a
/// tower-http `RequestBodyLimitLayer` around everything would not allow.
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A property manager's repair photo, sent whole with the link page's form.
const LINK_PHOTO_BYTES: usize = 16 * 1024 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    let (api, mut openapi) = crate::api::router();
    // Attachment uploads: merged here, with their own OpenAPI paths, rather than in api.rs.
    let (uploads, uploads_openapi) = crate::uploads_api::router().split_for_parts();
    openapi.merge(uploads_openapi);
    let api = api.merge(uploads);
    let openapi_json = serde_json::to_string(&openapi).unwrap_or_else(|_| "{}".to_owned());
    let api = api.route(
        "/openapi.json",
        get(move || {
            let body = openapi_json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(pages::home))
        .route("/signin", get(pages::sign_in_page).post(pages::sign_in))
        .route("/signout", post(pages::sign_out))
        .route("/setup", get(pages::setup_page).post(pages::setup))
        .route("/preferences/language", post(pages::set_language))
        .route("/regions", get(pages::regions_top))
        .route(
            "/regions/import",
            get(region_import_pages::import_page)
                .post(region_import_pages::import_upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/regions/{code}", get(pages::region))
        .route("/organizations", get(pages::organizations))
        .route("/users", get(pages::users))
        .route(
            "/users/{id}/disable",
            post(crate::account_pages::disable_user),
        )
        .route(
            "/users/{id}/enable",
            post(crate::account_pages::enable_user),
        )
        .route(
            "/users/{id}/password",
            get(crate::account_pages::reset_password_page)
                .post(crate::account_pages::reset_password),
        )
        .route("/users/{id}/tokens", get(crate::account_pages::user_tokens))
        .route(
            "/users/{id}/tokens/{token_id}/revoke",
            post(crate::account_pages::revoke_user_token),
        )
        .route(
            "/users/new",
            get(crate::account_pages::new_user).post(crate::account_pages::create_user),
        )
        .route("/account", get(crate::account_pages::account))
        .route("/account/tokens", post(crate::account_pages::issue_token))
        .route(
            "/account/password",
            post(crate::account_pages::change_password),
        )
        .route(
            "/account/tokens/{id}/revoke",
            post(crate::account_pages::revoke_token),
        )
        .route("/audit", get(pages::audit))
        .route("/potential", get(potential_pages::statistics))
        .route("/potential/records", get(potential_pages::records))
        .route(
            "/potential/import",
            get(potential_pages::import_page)
                .post(potential_pages::import_upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/potential/import/problems/{id}",
            get(potential_pages::problem_list),
        )
        .route("/potential/template", get(potential_pages::import_template))
        .route("/potential/gaps", get(potential_pages::gaps))
        .route(
            "/potential/sites",
            get(sites_pages::sites).post(sites_pages::create),
        )
        .route(
            "/potential/sites/{id}",
            get(sites_pages::edit).post(sites_pages::update),
        )
        .route("/potential/sites/{id}/remove", post(sites_pages::remove))
        .route(
            "/potential/baselines",
            post(potential_pages::baseline_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/potential/baselines/entry",
            post(potential_pages::baseline_entry),
        )
        .route(
            "/potential/baselines/template",
            get(potential_pages::baseline_template),
        )
        .route("/taxonomy", get(potential_pages::taxonomy))
        .route(
            "/taxonomy/types/{code}",
            get(potential_pages::resource_type_form).post(potential_pages::save_resource_type),
        )
        .route("/verification", get(verification_pages::index))
        .route("/verification/samples", post(verification_pages::draw))
        .route(
            "/verification/samples/{id}",
            get(verification_pages::sample),
        )
        .route(
            "/verification/samples/{id}/assign",
            post(verification_pages::assign),
        )
        .route(
            "/verification/samples/{id}/items/{record_id}",
            post(verification_pages::record_finding)
                .layer(DefaultBodyLimit::max(crate::photo_forms::PHOTO_FORM_BYTES)),
        )
        .route("/verification/mine", get(verification_pages::mine))
        .route("/verification/accuracy", get(verification_pages::accuracy))
        .route(
            "/verification/freshness",
            get(verification_pages::freshness),
        )
        .route(
            "/surveys",
            get(survey_pages::rounds).post(survey_pages::open_round),
        )
        .route("/surveys/{id}", get(survey_pages::round))
        .route("/surveys/{id}/dashboard", get(survey_pages::dashboard))
        .route("/surveys/{id}/close", post(survey_pages::close))
        .route("/surveys/{id}/reopen", post(survey_pages::reopen))
        .route(
            "/surveys/{id}/deadline",
            post(survey_pages::extend_deadline),
        )
        .route("/surveys/{id}/template", get(survey_pages::round_template))
        .route("/surveys/assignments/{id}", get(survey_pages::assignment))
        .route(
            "/surveys/assignments/{id}/upload",
            post(survey_pages::upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/surveys/assignments/{id}/rows",
            post(survey_pages::add_row),
        )
        .route(
            "/surveys/assignments/{id}/deadline",
            post(survey_pages::extend_assignment_deadline),
        )
        .route(
            "/surveys/assignments/{id}/rows/{row}/quantity",
            post(survey_pages::correct_row_quantity),
        )
        .route(
            "/surveys/assignments/{id}/rows/{row}/remove",
            post(survey_pages::remove_row),
        )
        .route(
            "/surveys/assignments/{id}/approve",
            post(survey_pages::approve),
        )
        .route(
            "/surveys/assignments/{id}/send-back",
            post(survey_pages::send_back),
        )
        .route("/facilities", get(facilities_pages::dashboard))
        .route(
            "/facilities/new",
            get(facility_forms::new_facility_page).post(facility_forms::create_facility),
        )
        .route("/facilities/{id}", get(facilities_pages::facility))
        .route(
            "/grids",
            get(facility_forms::grids).post(facility_forms::create_grid),
        )
        .route("/grids/{id}/members", post(facility_forms::add_member))
        .route(
            "/grids/{id}/members/{user_id}/remove",
            post(facility_forms::remove_member),
        )
        .route("/checklists", get(inspection_forms::checklists))
        .route(
            "/checklists/{kind}",
            get(inspection_forms::checklist).post(inspection_forms::save_checklist),
        )
        .route(
            "/schedules",
            get(inspection_forms::schedules).post(inspection_forms::set_schedule),
        )
        .route("/schedules/remove", post(inspection_forms::remove_schedule))
        .route("/files/{sha}", get(facilities_pages::file))
        .route("/rounds", get(facilities_pages::rounds))
        .route(
            "/rounds/{id}/inspect",
            get(facilities_pages::inspect_page).post(facilities_pages::inspect_submit),
        )
        .route(
            "/demands",
            get(crate::demands_pages::list).post(crate::demands_forms::create),
        )
        .route("/demands/new", get(crate::demands_forms::new_page))
        .route("/demands/{id}", get(crate::demands_pages::detail))
        .route("/demands/{id}/accept", post(crate::demands_pages::accept))
        .route(
            "/demands/{id}/escalate",
            post(crate::demands_pages::escalate),
        )
        .route(
            "/demands/{id}/meetings",
            post(crate::demands_forms::record_meeting),
        )
        .route("/demands/{id}/analyse", post(crate::demands_forms::analyse))
        .route(
            "/demands/{id}/inspections",
            post(crate::demands_forms::record_inspection)
                .layer(DefaultBodyLimit::max(crate::photo_forms::PHOTO_FORM_BYTES)),
        )
        .route(
            "/demands/{id}/handovers",
            post(crate::demands_forms::record_handover),
        )
        .route("/demands/{id}/cancel", post(crate::demands_forms::cancel))
        .route("/demands/{id}/close", post(crate::demands_forms::close))
        .route(
            "/demands/{id}/photos/{sha}",
            get(crate::demands_pages::photo),
        )
        .route(
            "/patrols",
            get(patrol_pages::patrols).post(patrol_pages::create_route),
        )
        .route("/patrols/{id}", post(patrol_pages::update_route))
        .route("/patrols/{id}/retire", post(patrol_pages::retire_route))
        .route("/patrols/{id}/check-ins", post(patrol_pages::check_in))
        .route(
            "/campaigns",
            get(patrol_pages::campaigns).post(patrol_pages::create_campaign),
        )
        .route(
            "/campaigns/{id}",
            get(patrol_pages::campaign).post(patrol_pages::update_campaign),
        )
        .route(
            "/campaigns/{id}/remove",
            post(patrol_pages::remove_campaign),
        )
        .route("/orders", get(facilities_pages::orders))
        .route("/orders/{id}", get(facilities_pages::order))
        .route("/orders/{id}/actions", post(facilities_pages::order_action))
        .route("/orders/{id}/link", post(facilities_pages::order_link))
        .route(
            "/orders/link/{token}",
            get(facilities_pages::link_page)
                .post(facilities_pages::link_action)
                .layer(DefaultBodyLimit::max(LINK_PHOTO_BYTES)),
        )
        .route("/assets/inspect.js", get(pages::inspect_script))
        .route("/assets/region-picker.js", get(pages::region_picker_script))
        .route("/assets/app.css", get(pages::stylesheet))
        .route(
            "/requisitions",
            get(crate::requisition_pages::list).post(crate::requisition_pages::create),
        )
        .route("/requisitions/{id}", get(crate::requisition_pages::detail))
        .route(
            "/requisitions/{id}/events",
            post(crate::requisition_pages::act),
        )
        .route(
            "/requisitions/{id}/link",
            post(crate::requisition_pages::create_link),
        )
        .route(
            "/requisitions/{id}/notice",
            get(crate::requisition_pages::notice),
        )
        .route(
            "/requisitions/notice/{token}",
            get(crate::requisition_pages::notice_by_link),
        )
        .route(
            "/sustainment",
            get(crate::sustainment_pages::list).post(crate::sustainment_pages::create),
        )
        .route("/sustainment/{id}", get(crate::sustainment_pages::report))
        .route(
            "/sustainment/{id}/delete",
            post(crate::sustainment_pages::delete),
        )
        .route("/settings", get(crate::settings_pages::index))
        .route(
            "/settings/transport",
            post(crate::settings_pages::save_transport),
        )
        .route(
            "/settings/compensation",
            post(crate::settings_pages::save_compensation),
        )
        .route(
            "/settings/verification",
            post(crate::settings_pages::save_stale_period),
        )
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(state.config.map_tile_url.as_deref()),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Everything Muster serves comes from Muster: nothing is fetched from elsewhere, except the
/// map tiles of a tile server the deployment configured on its own network.
fn content_security_policy(map_tile_url: Option<&str>) -> HeaderValue {
    let tiles = map_tile_url
        .and_then(tile_origin)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
    })
}

/// `scheme://host[:port]` of an http(s) URL, if it is one and holds nothing that could
/// smuggle another directive into the policy.
fn tile_origin(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    let origin = &url[..url.len() - rest.len() + host_end];
    let safe = |c: char| c.is_ascii_alphanumeric() || ".-:[]/".contains(c);
    (host_end > 0 && origin.chars().all(safe)).then_some(origin)
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}
