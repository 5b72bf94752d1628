//! On-site verification pages: the samples with a draw form, a sample's items with the
//! assignment form and its accuracy by region, a verifier's list with a finding form per item
//! (laid out for a phone), accuracy and credibility tables, and freshness per region with the
//! stale records. Every table downloads with `?format=csv|xlsx`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::sheet::{Table, TableCell};
use muster_domain::taxonomy::Taxonomy;
use muster_domain::verification::Accuracy;
use muster_storage::{
    ContentHash, FindingInput, FreshnessView, PotentialRecord, RegionFigure, SampleParameters,
    StorageError, VerificationItem, VerificationSample,
};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, Spine, chosen_table, download, page_err, spine, type_name};
use crate::pages::{Layout, PageContext, PageResult, format_utc};
use crate::photo_forms::read_photo_form;
use crate::potential_api::region_in_scope;
use crate::potential_view::{
    ExportFormat, FormatQuery, file_part, format_quantity, query_string, text,
};
use crate::verification_api::SampleRequestDto;

/// Rows of the stale list shown under the freshness table; its download holds up to
/// [`muster_storage::STALE_RECORDS_MAX`], and the API pages through them all.
const STALE_SHOWN: i64 = 100;

// ---------------------------------------------------------------- shared pieces

fn percent(rate: f64) -> String {
    format!("{:.1}%", 100.0 * rate)
}

/// A CSS class for a share of fresh records (or an accuracy rate): good, fair or poor.
fn share_class(share: f64, total: u32) -> &'static str {
    if total == 0 {
        "share-none"
    } else if share >= 0.8 {
        "share-good"
    } else if share >= 0.5 {
        "share-fair"
    } else {
        "share-poor"
    }
}

fn may_run_verification(page: &PageContext) -> bool {
    page.user
        .as_ref()
        .is_some_and(|u| u.actor.administers() || u.actor.has_role(Role::OfficeStaff))
}

fn yes_no(tr: &crate::i18n::Tr, value: Option<i64>) -> String {
    match value {
        Some(0) => tr.t("verification.no"),
        Some(_) => tr.t("verification.yes"),
        None => String::new(),
    }
}

fn status_key(status: &str) -> &'static str {
    match status {
        "found" => "verification.status_found",
        "assigned" => "verification.status_assigned",
        _ => "verification.status_drawn",
    }
}

// ---------------------------------------------------------------- index and draw

#[derive(Debug)]
struct SampleLine {
    id: i64,
    href: String,
    region: String,
    method_key: &'static str,
    seed: i64,
    created: String,
    items: i64,
    found: i64,
}

impl SampleLine {
    fn of(sample: &VerificationSample) -> Self {
        Self {
            id: sample.id,
            href: format!("/verification/samples/{}", sample.id),
            region: sample
                .region_code
                .clone()
                .unwrap_or_else(|| sample.region_path.clone()),
            method_key: method_key(&sample.method),
            seed: sample.seed,
            created: format_utc(sample.created_at),
            items: sample.item_count,
            found: sample.found_count,
        }
    }
}

fn method_key(method: &str) -> &'static str {
    if method == "risk" {
        "verification.risk"
    } else {
        "verification.stratified"
    }
}

/// The draw form's fields as typed, so a refused draw shows them again.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct DrawForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    size_kind: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    tolerance: String,
    #[serde(default)]
    reopen_above: String,
    #[serde(default)]
    round_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "verification_index.html")]
struct IndexPage {
    layout: Layout,
    tab: &'static str,
    exports: Exports,
    samples: Vec<SampleLine>,
    can_draw: bool,
    form: DrawForm,
    message: Option<String>,
}

/// The samples drawn in the reader's scope and the form to draw one (`?format=csv|xlsx`
/// downloads the samples' table).
pub(crate) async fn index(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let current = page.require_user()?;
        let samples = state
            .db
            .verification_samples(current.actor.scope(), SAMPLES_SHOWN)
            .await
            .map_err(page_err(&page))?;
        let lines: Vec<SampleLine> = samples.iter().map(SampleLine::of).collect();
        return download(
            &page,
            format,
            "verification-samples",
            &[samples_table(&page, &lines)],
        );
    }
    render_index(&state, &page, DrawForm::default(), None, StatusCode::OK).await
}

/// Samples listed on the index page (and in its download), the latest first.
const SAMPLES_SHOWN: i64 = 200;

/// The samples as a sheet: the columns the page shows.
fn samples_table(page: &PageContext, lines: &[SampleLine]) -> Table {
    let tr = &page.tr;
    Table {
        title: tr.t("verification.samples"),
        headers: vec![
            "#".to_owned(),
            tr.t("verification.region_col"),
            tr.t("verification.method"),
            tr.t("verification.seed"),
            tr.t("verification.drawn_at"),
            tr.t("verification.items"),
            tr.t("verification.found"),
        ],
        rows: lines
            .iter()
            .map(|line| {
                vec![
                    TableCell::Integer(line.id),
                    TableCell::Text(line.region.clone()),
                    TableCell::Text(tr.t(line.method_key)),
                    TableCell::Integer(line.seed),
                    TableCell::Text(line.created.clone()),
                    TableCell::Integer(line.items),
                    TableCell::Integer(line.found),
                ]
            })
            .collect(),
    }
}

async fn render_index(
    state: &AppState,
    page: &PageContext,
    mut form: DrawForm,
    message: Option<String>,
    status: StatusCode,
) -> PageResult {
    let current = page.require_user()?;
    let samples = state
        .db
        .verification_samples(current.actor.scope(), SAMPLES_SHOWN)
        .await
        .map_err(page_err(page))?;
    if form.method.is_empty() {
        form.method = "stratified".into();
        form.size_kind = "count".into();
        form.size = "5".into();
        form.tolerance = "5".into();
        form.reopen_above = "20".into();
    }
    Ok((
        status,
        IndexPage {
            layout: page.layout("verification"),
            tab: "samples",
            exports: Exports::of("/verification"),
            samples: samples.iter().map(SampleLine::of).collect(),
            can_draw: may_run_verification(page),
            form,
            message,
        },
    )
        .into_response())
}

fn parse_number<T: std::str::FromStr>(text: &str, field: &str) -> Result<Option<T>, WebError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| WebError::refused(field, "not a number", "应为数字"))
}

impl DrawForm {
    /// The form as the API's request: percentages typed as 5 mean 0.05.
    fn request(&self) -> Result<SampleRequestDto, WebError> {
        let size: Option<f64> = parse_number(&self.size, "size")?;
        let (count, percent, total) = match (self.method.as_str(), self.size_kind.as_str()) {
            ("risk", _) => (None, None, size.map(|s| s.max(0.0) as u32)),
            (_, "percent") => (None, size, None),
            _ => (size.map(|s| s.max(0.0) as u32), None, None),
        };
        Ok(SampleRequestDto {
            region: Some(self.region.clone()),
            round_id: parse_number(&self.round_id, "round_id")?,
            method: self.method.clone(),
            count,
            percent,
            total,
            seed: parse_number(&self.seed, "seed")?,
            tolerance: parse_number::<f64>(&self.tolerance, "tolerance")?.map(|t| t / 100.0),
            reopen_above: parse_number::<f64>(&self.reopen_above, "reopen_above")?
                .map(|t| t / 100.0),
            ..SampleRequestDto::default()
        })
    }
}

pub(crate) async fn draw(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<DrawForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let refuse = |message: String| {
        let form = form.clone();
        let (state, page) = (&state, &page);
        async move {
            render_index(
                state,
                page,
                form,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let locale = page.tr.locale;
    let request = match form.request().and_then(|r| r.parse()) {
        Ok(request) => request,
        Err(e) => return refuse(e.said_in(locale)).await,
    };
    match state.db.draw_sample(&current.actor, &request).await {
        Ok(sample) => {
            Ok(Redirect::to(&format!("/verification/samples/{}", sample.id)).into_response())
        }
        Err(e @ StorageError::Refused { .. }) => refuse(WebError::from(e).said_in(locale)).await,
        Err(other) => Err(page.error(other.into())),
    }
}

// ---------------------------------------------------------------- one sample

#[derive(Debug)]
struct ItemLine {
    record_id: i64,
    region: String,
    type_name: String,
    holder: String,
    site: String,
    reported: String,
    current: String,
    verifier: String,
    status_key: &'static str,
    seen: String,
    location_right: String,
    type_right: String,
    accurate: String,
    relative_error: String,
    reopened: bool,
    /// The SHA-256 of the finding's photos, served by `/files/{sha}`.
    photos: Vec<String>,
    /// File names or URLs a finding recorded before photos were stored.
    photo_references: Vec<String>,
    notes: String,
    reasons: Vec<String>,
}

impl ItemLine {
    fn of(
        item: &VerificationItem,
        taxonomy: &Taxonomy,
        tr: &crate::i18n::Tr,
        parameters: Option<&SampleParameters>,
    ) -> Self {
        let (photos, photo_references) = item
            .photo_list()
            .into_iter()
            .partition(|p| ContentHash::is_canonical(p));
        Self {
            record_id: item.record_id,
            region: item
                .region_name
                .clone()
                .unwrap_or_else(|| item.region_code.clone()),
            type_name: type_name(taxonomy, &item.type_code, tr.locale),
            holder: item.holder_name.clone(),
            site: item.site_name.clone().unwrap_or_default(),
            reported: format_quantity(item.reported_quantity),
            current: format_quantity(item.current_quantity),
            verifier: item.verifier_username.clone().unwrap_or_default(),
            status_key: status_key(&item.status),
            seen: item.quantity_seen.map(format_quantity).unwrap_or_default(),
            location_right: yes_no(tr, item.location_right),
            type_right: yes_no(tr, item.type_right),
            accurate: yes_no(tr, item.accurate),
            relative_error: item.relative_error.map(percent).unwrap_or_default(),
            reopened: item.reopened != 0,
            photos,
            photo_references,
            notes: item.notes.clone().unwrap_or_default(),
            reasons: parameters
                .and_then(|p| p.risk.get(&item.record_id))
                .map(|r| r.reasons_in(tr.locale).to_vec())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct AccuracyLine {
    href: Option<String>,
    region: String,
    checked: u32,
    accurate: u32,
    rate: String,
    class: &'static str,
}

#[derive(Debug)]
struct VerifierChoice {
    id: i64,
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "verification_sample.html")]
struct SamplePage {
    layout: Layout,
    tab: &'static str,
    sample: SampleLine,
    method_detail: String,
    tolerance: String,
    reopen_above: String,
    candidates: String,
    items: Vec<ItemLine>,
    accuracy: Vec<AccuracyLine>,
    can_assign: bool,
    verifiers: Vec<VerifierChoice>,
    message: Option<String>,
    item_exports: Exports,
    accuracy_exports: Exports,
}

/// The sample page's `?format=csv|xlsx` and which table it downloads: `table=accuracy` for the
/// accuracy by region, else the items.
#[derive(Debug, Deserialize)]
pub(crate) struct SampleQuery {
    format: Option<String>,
    table: Option<String>,
}

/// The sample page's two tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleTable {
    Items,
    Accuracy,
}

pub(crate) async fn sample(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<SampleQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let table = chosen_table(
        query.table.as_deref(),
        SampleTable::Items,
        &[
            ("items", SampleTable::Items),
            ("accuracy", SampleTable::Accuracy),
        ],
    )
    .map_err(|e| page.error(e))?;
    let export = format.map(|format| (format, table));
    render_sample(&state, &page, id, export, None, StatusCode::OK).await
}

/// The sample page, or with `export` one of its tables as a download.
async fn render_sample(
    state: &AppState,
    page: &PageContext,
    id: i64,
    export: Option<(ExportFormat, SampleTable)>,
    message: Option<String>,
    status: StatusCode,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let scope = current.actor.scope();
    let sample = state
        .db
        .verification_sample(scope, id)
        .await
        .map_err(page_err(page))?;
    let items = state
        .db
        .verification_items(scope, id)
        .await
        .map_err(page_err(page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(page))?;
    let parameters = sample.parameters();
    let lines: Vec<ItemLine> = items
        .iter()
        .map(|i| ItemLine::of(i, &taxonomy, &tr, parameters.as_ref()))
        .collect();
    let stem = format!("verification-sample-{}", sample.id);
    if let Some((format, SampleTable::Items)) = export {
        return download(
            page,
            format,
            &stem,
            &[items_table(&tr, &sample, &items, &lines)],
        );
    }
    let region_code = sample.region_code.clone();
    let accuracy = state
        .db
        .verification_accuracy(scope, region_code.as_deref(), Some(sample.id))
        .await
        .map_err(page_err(page))?;
    // The sample's own region, then the child regions it checked anything in.
    let accuracy_figures: Vec<&RegionFigure<Accuracy>> = std::iter::once(&accuracy.total)
        .chain(accuracy.children.iter().filter(|c| c.figure.checked > 0))
        .collect();
    if let Some((format, SampleTable::Accuracy)) = export {
        let table = accuracy_table(&tr, accuracy_figures.iter().copied());
        return download(page, format, &format!("{stem}-accuracy"), &[table]);
    }
    let accuracy_lines = accuracy_figures
        .iter()
        .map(|f| AccuracyLine {
            href: None,
            region: f.region_name.clone().unwrap_or_else(|| tr.t("regions.top")),
            checked: f.figure.checked,
            accurate: f.figure.accurate,
            rate: percent(f.figure.rate),
            class: share_class(f.figure.rate, f.figure.checked),
        })
        .collect();
    let can_assign = may_run_verification(page);
    let verifiers = if can_assign {
        let sample_path = muster_domain::RegionPath::parse(&sample.region_path)
            .unwrap_or_else(muster_domain::RegionPath::root);
        state
            .db
            .users(scope, 1000, 0)
            .await
            .map_err(page_err(page))?
            .into_iter()
            .filter(|u| {
                u.disabled == 0
                    && u.region_path().contains(&sample_path)
                    && u.roles().as_slice().iter().any(|r| r.is_staff())
            })
            .map(|u| VerifierChoice {
                id: u.id,
                label: format!("{} ({})", u.display_name, u.username),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (method_detail, tolerance, reopen_above, candidates) = match &parameters {
        Some(p) => (
            match (p.count, p.percent, p.total) {
                (Some(count), _, _) => format!("{count} / {}", tr.t("verification.per_county")),
                (_, Some(percent), _) => {
                    format!("{percent}% / {}", tr.t("verification.per_county"))
                }
                (_, _, Some(total)) => total.to_string(),
                _ => String::new(),
            },
            percent(p.tolerance),
            percent(p.reopen_above),
            p.candidates.to_string(),
        ),
        None => Default::default(),
    };
    Ok((
        status,
        SamplePage {
            layout: page.layout("verification"),
            tab: "samples",
            sample: SampleLine::of(&sample),
            method_detail,
            tolerance,
            reopen_above,
            candidates,
            items: lines,
            accuracy: accuracy_lines,
            can_assign,
            verifiers,
            message,
            item_exports: Exports::of(&format!("/verification/samples/{}", sample.id)),
            accuracy_exports: Exports::of_table(
                &format!("/verification/samples/{}", sample.id),
                "accuracy",
            ),
        },
    )
        .into_response())
}

/// The sample's items with their findings, as the page's items table (with the reported and
/// current quantities, the checks and the notes in columns of their own).
fn items_table(
    tr: &Tr,
    sample: &VerificationSample,
    items: &[VerificationItem],
    lines: &[ItemLine],
) -> Table {
    Table {
        title: format!("{} {}", tr.t("verification.sample_title"), sample.id),
        headers: [
            "verification.record",
            "verification.region_col",
            "potential.code",
            "taxonomy.type",
            "taxonomy.code",
            "potential.holder",
            "potential.site",
            "verification.reported",
            "verification.current",
            "verification.verifier",
            "verification.status",
            "verification.reopened",
            "verification.seen",
            "verification.location_right",
            "verification.type_right",
            "verification.accurate",
            "verification.relative_error",
            "verification.photos",
            "verification.notes",
            "verification.why_drawn",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: items
            .iter()
            .zip(lines)
            .map(|(item, line)| {
                vec![
                    TableCell::Integer(item.record_id),
                    text(line.region.clone()),
                    text(item.region_code.clone()),
                    text(line.type_name.clone()),
                    text(item.type_code.clone()),
                    text(line.holder.clone()),
                    text(line.site.clone()),
                    TableCell::Number(item.reported_quantity),
                    TableCell::Number(item.current_quantity),
                    text(line.verifier.clone()),
                    text(tr.t(line.status_key)),
                    if line.reopened {
                        text(tr.t("verification.reopened"))
                    } else {
                        TableCell::Empty
                    },
                    item.quantity_seen
                        .map_or(TableCell::Empty, TableCell::Number),
                    text(line.location_right.clone()),
                    text(line.type_right.clone()),
                    text(line.accurate.clone()),
                    item.relative_error
                        .map_or(TableCell::Empty, TableCell::Number),
                    text(item.photo_list().join(" ")),
                    text(line.notes.clone()),
                    text(line.reasons.join("; ")),
                ]
            })
            .collect(),
    }
}

/// Accuracy by region, one row a figure (the region itself first), as the sample page and
/// the accuracy page show it.
fn accuracy_table<'a>(tr: &Tr, figures: impl Iterator<Item = &'a RegionFigure<Accuracy>>) -> Table {
    Table {
        title: tr.t("verification.accuracy_title"),
        headers: [
            "regions.code",
            "verification.region_col",
            "verification.checked",
            "verification.accurate",
            "verification.rate",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: figures
            .map(|f| {
                vec![
                    text(f.region_code.clone().unwrap_or_default()),
                    text(f.region_name.clone().unwrap_or_else(|| tr.t("regions.top"))),
                    TableCell::Number(f64::from(f.figure.checked)),
                    TableCell::Number(f64::from(f.figure.accurate)),
                    TableCell::Number(f.figure.rate),
                ]
            })
            .collect(),
    }
}

/// Deals a sample to the verifiers ticked in the form (`verifier` repeated).
pub(crate) async fn assign(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let current = page.require_user()?;
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    current.check_csrf(csrf).map_err(|e| page.error(e))?;
    let verifiers: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "verifier")
        .filter_map(|(_, v)| v.trim().parse().ok())
        .collect();
    match state.db.assign_sample(&current.actor, id, &verifiers).await {
        Ok(_) => Ok(Redirect::to(&format!("/verification/samples/{id}")).into_response()),
        Err(e @ StorageError::Refused { .. }) => {
            render_sample(
                &state,
                &page,
                id,
                None,
                Some(WebError::from(e).said_in(page.tr.locale)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(page.error(other.into())),
    }
}

// ---------------------------------------------------------------- a verifier's list

#[derive(Debug)]
struct MineItem {
    line: ItemLine,
    sample_id: i64,
    action: String,
    open: bool,
    map_href: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "verification_mine.html")]
struct MinePage {
    layout: Layout,
    tab: &'static str,
    items: Vec<MineItem>,
    done: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MineQuery {
    outcome: Option<String>,
}

pub(crate) async fn mine(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<MineQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let items = state
        .db
        .my_verification_items(&current.actor, true)
        .await
        .map_err(page_err(&page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let done = query.outcome.as_deref().map(|o| match o {
        "reopened" => tr.t("verification.done_reopened"),
        "corrected" => tr.t("verification.done_corrected"),
        _ => tr.t("verification.done_accurate"),
    });
    Ok(MinePage {
        layout: page.layout("verification"),
        tab: "mine",
        items: items
            .iter()
            .map(|i| MineItem {
                line: ItemLine::of(i, &taxonomy, &tr, None),
                sample_id: i.sample_id,
                action: format!(
                    "/verification/samples/{}/items/{}",
                    i.sample_id, i.record_id
                ),
                open: i.status != "found",
                map_href: i
                    .lat
                    .zip(i.lon)
                    .map(|(lat, lon)| format!("geo:{lat},{lon}")),
            })
            .collect(),
        done,
    }
    .into_response())
}

/// The finding form's text fields (the photos are stored as they arrive).
#[derive(Debug, Default)]
struct FindingText {
    quantity_seen: String,
    /// Checkboxes: present when ticked.
    location_right: bool,
    type_right: bool,
    notes: String,
}

/// Records a finding from the verifier's form: `multipart/form-data`, whose photos are
/// stored in the attachment store ([`read_photo_form`]) and named by the finding.
pub(crate) async fn record_finding(
    State(state): State<AppState>,
    page: PageContext,
    Path((sample_id, record_id)): Path<(i64, i64)>,
    multipart: Multipart,
) -> PageResult {
    let current = page.require_user()?;
    let mut text = FindingText::default();
    let photos = read_photo_form(
        &state,
        current,
        multipart,
        muster_storage::MAX_FINDING_PHOTOS,
        |name, value| match name {
            "quantity_seen" => text.quantity_seen = value,
            "location_right" => text.location_right = true,
            "type_right" => text.type_right = true,
            "notes" => text.notes = value,
            _ => {}
        },
    )
    .await
    .map_err(|e| page.error(e))?;
    let quantity_seen =
        muster_domain::number::read_decimal(&text.quantity_seen).ok_or_else(|| {
            page.error(WebError::refused(
                "quantity_seen",
                "the quantity seen is a number",
                "实地所见数量应为数字",
            ))
        })?;
    let outcome = state
        .db
        .record_finding(
            &current.actor,
            sample_id,
            record_id,
            FindingInput {
                quantity_seen,
                location_right: text.location_right,
                type_right: text.type_right,
                notes: text.notes,
                photos,
            },
        )
        .await
        .map_err(page_err(&page))?;
    let word = if outcome.reopened {
        "reopened"
    } else if outcome.corrected.is_some() {
        "corrected"
    } else {
        "accurate"
    };
    Ok(Redirect::to(&format!("/verification/mine?outcome={word}")).into_response())
}

// ---------------------------------------------------------------- accuracy and credibility

#[derive(Debug)]
struct UnitLine {
    name: String,
    checked: u32,
    accurate: u32,
    mean_error: String,
    credibility: String,
    class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "verification_accuracy.html")]
struct AccuracyPage {
    layout: Layout,
    tab: &'static str,
    spine: Spine,
    heading: String,
    lines: Vec<AccuracyLine>,
    units: Vec<UnitLine>,
    exports: Exports,
    unit_exports: Exports,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegionPageQuery {
    region: Option<String>,
    format: Option<String>,
    /// Which table a download holds: `credibility` on the accuracy page, `stale` on the
    /// freshness page; the page's first table without it.
    table: Option<String>,
    stale_after_days: Option<String>,
}

pub(crate) async fn accuracy(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RegionPageQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let view = region_in_scope(&state.db, scope, query.region.as_deref())
        .await
        .map_err(page_err(&page))?;
    let code = view.region.as_ref().map(|r| r.code.clone());
    let accuracy = state
        .db
        .verification_accuracy(scope, code.as_deref(), None)
        .await
        .map_err(page_err(&page))?;
    let units = state
        .db
        .unit_credibility(scope, code.as_deref())
        .await
        .map_err(page_err(&page))?;
    let url = |c: Option<&str>| format!("/verification/accuracy{}", query_string(&[("region", c)]));
    let unit_name = |u: &muster_storage::UnitCredibility| {
        u.organization_name
            .clone()
            .unwrap_or_else(|| tr.t("verification.no_unit"))
    };
    if let Some(format) = format {
        let accuracy_table = accuracy_table(
            &tr,
            std::iter::once(&accuracy.total).chain(&accuracy.children),
        );
        let unit_table = Table {
            title: tr.t("verification.credibility_title"),
            headers: [
                "verification.unit",
                "verification.checked",
                "verification.accurate",
                "verification.mean_error",
                "verification.credibility",
            ]
            .iter()
            .map(|k| tr.t(k))
            .collect(),
            rows: units
                .iter()
                .map(|u| {
                    vec![
                        text(unit_name(u)),
                        TableCell::Number(f64::from(u.checked)),
                        TableCell::Number(f64::from(u.accurate)),
                        TableCell::Number(u.mean_relative_error),
                        TableCell::Number(u.credibility),
                    ]
                })
                .collect(),
        };
        let stem = format!(
            "verification-accuracy-{}",
            file_part(code.as_deref().unwrap_or("all"))
        );
        // Both tables by default (the accuracy one first, as CSV's only table); an unknown
        // name is a 400, as on the other pages.
        let units_only = chosen_table(
            query.table.as_deref(),
            false,
            &[("accuracy", false), ("credibility", true)],
        )
        .map_err(|e| page.error(e))?;
        let tables = if units_only {
            vec![unit_table]
        } else {
            vec![accuracy_table, unit_table]
        };
        return download(&page, format, &stem, &tables);
    }
    let lines = std::iter::once((&accuracy.total, false))
        .chain(accuracy.children.iter().map(|c| (c, true)))
        .map(|(f, link)| AccuracyLine {
            href: link.then(|| url(f.region_code.as_deref())),
            region: f.region_name.clone().unwrap_or_else(|| tr.t("regions.top")),
            checked: f.figure.checked,
            accurate: f.figure.accurate,
            rate: if f.figure.checked == 0 {
                "–".into()
            } else {
                percent(f.figure.rate)
            },
            class: share_class(f.figure.rate, f.figure.checked),
        })
        .collect();
    let here = url(code.as_deref());
    Ok(AccuracyPage {
        layout: page.layout("verification"),
        tab: "accuracy",
        spine: spine(&view, url, scope.subtree().is_root()),
        heading: view
            .region
            .as_ref()
            .map_or_else(|| tr.t("regions.top"), |r| r.name.clone()),
        lines,
        units: units
            .iter()
            .map(|u| UnitLine {
                name: unit_name(u),
                checked: u.checked,
                accurate: u.accurate,
                mean_error: percent(u.mean_relative_error),
                credibility: format!("{:.2}", u.credibility),
                class: share_class(u.credibility, u.checked.max(1)),
            })
            .collect(),
        exports: Exports::of(&here),
        unit_exports: Exports::of_table(&here, "credibility"),
    }
    .into_response())
}

// ---------------------------------------------------------------- freshness

#[derive(Debug)]
struct FreshnessLine {
    href: Option<String>,
    region: String,
    fresh: u32,
    stale: u32,
    never_verified: u32,
    share_fresh: String,
    /// Width of the stale-and-never part of the bar, in percent.
    stale_width: String,
    class: &'static str,
}

#[derive(Debug)]
struct StaleLine {
    id: i64,
    type_name: String,
    /// As shown; the download keeps the number.
    quantity: String,
    quantity_number: f64,
    holder: String,
    region_code: String,
    last_verified: String,
    reopened: bool,
}

impl StaleLine {
    /// A stale record as read, so a person holder's name comes masked unless the reader
    /// may see personal data.
    fn of(record: &PotentialRecord, taxonomy: &Taxonomy, tr: &Tr) -> StaleLine {
        StaleLine {
            id: record.id,
            type_name: type_name(taxonomy, &record.type_code, tr.locale),
            quantity: format_quantity(record.quantity),
            quantity_number: record.quantity,
            holder: record.holder_name.clone(),
            region_code: record.region_code.clone(),
            last_verified: record
                .last_verified_at
                .map_or_else(|| tr.t("verification.never_verified"), format_utc),
            reopened: record.reopened != 0,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "verification_freshness.html")]
struct FreshnessPage {
    layout: Layout,
    tab: &'static str,
    spine: Spine,
    heading: String,
    region: String,
    stale_after_days: u32,
    lines: Vec<FreshnessLine>,
    stale: Vec<StaleLine>,
    /// Said under the stale list when it shows only the first of them.
    stale_more: Option<String>,
    region_exports: Exports,
    stale_exports: Exports,
}

/// The freshness page's two tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreshnessTable {
    Regions,
    Stale,
}

pub(crate) async fn freshness(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RegionPageQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let table = chosen_table(
        query.table.as_deref(),
        FreshnessTable::Regions,
        &[
            ("regions", FreshnessTable::Regions),
            ("stale", FreshnessTable::Stale),
        ],
    )
    .map_err(|e| page.error(e))?;
    let days: Option<u32> = query
        .stale_after_days
        .as_deref()
        .map_or(Ok(None), |d| parse_number(d, "stale_after_days"))
        .map_err(|e| page.error(e))?;
    let view = region_in_scope(&state.db, scope, query.region.as_deref())
        .await
        .map_err(page_err(&page))?;
    let code = view.region.as_ref().map(|r| r.code.clone());
    let figures = state
        .db
        .verification_freshness(scope, code.as_deref(), days)
        .await
        .map_err(page_err(&page))?;
    let days_text = days.map(|d| d.to_string());
    let url = |c: Option<&str>| {
        format!(
            "/verification/freshness{}",
            query_string(&[("region", c), ("stale_after_days", days_text.as_deref())])
        )
    };
    let file_region = file_part(code.as_deref().unwrap_or("all"));
    if let (Some(format), FreshnessTable::Regions) = (format, table) {
        let stem = format!("verification-freshness-{file_region}");
        return download(&page, format, &stem, &[freshness_table(&tr, &figures)]);
    }
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    // A download holds the whole list, as far as a spreadsheet is meant to; the page its head.
    let rows = if format.is_some() {
        muster_storage::STALE_RECORDS_MAX
    } else {
        STALE_SHOWN
    };
    let stale: Vec<StaleLine> = state
        .db
        .stale_records(scope, code.as_deref(), days, None, rows)
        .await
        .map_err(page_err(&page))?
        .iter()
        .map(|r| StaleLine::of(r, &taxonomy, &tr))
        .collect();
    let all_stale =
        u64::from(figures.total.figure.stale) + u64::from(figures.total.figure.never_verified);
    let listed = stale.len() as u64;
    if let Some(format) = format {
        let stem = format!("verification-stale-{file_region}");
        let mut table = stale_table(&tr, &stale);
        // A file cut short says so in its last line, rather than passing for the whole list.
        if all_stale > listed {
            table.rows.push(vec![text(
                tr.t("verification.stale_cut")
                    .replace("%{more}", &(all_stale - listed).to_string()),
            )]);
        }
        return download(&page, format, &stem, &[table]);
    }
    let stale_more = (all_stale > listed).then(|| {
        tr.t("verification.stale_shown")
            .replace("%{shown}", &listed.to_string())
            .replace("%{all}", &all_stale.to_string())
            .replace("%{max}", &muster_storage::STALE_RECORDS_MAX.to_string())
    });
    let lines = std::iter::once((&figures.total, false))
        .chain(figures.children.iter().map(|c| (c, true)))
        .map(|(f, link)| {
            let c = f.figure;
            let total = c.fresh + c.stale + c.never_verified;
            FreshnessLine {
                href: link.then(|| url(f.region_code.as_deref())),
                region: f.region_name.clone().unwrap_or_else(|| tr.t("regions.top")),
                fresh: c.fresh,
                stale: c.stale,
                never_verified: c.never_verified,
                share_fresh: if total == 0 {
                    "–".into()
                } else {
                    percent(c.share_fresh)
                },
                stale_width: format!("{:.1}", 100.0 * (1.0 - c.share_fresh)),
                class: share_class(c.share_fresh, total),
            }
        })
        .collect();
    let here = url(code.as_deref());
    Ok(FreshnessPage {
        layout: page.layout("verification"),
        tab: "freshness",
        spine: spine(&view, url, scope.subtree().is_root()),
        heading: view
            .region
            .as_ref()
            .map_or_else(|| tr.t("regions.top"), |r| r.name.clone()),
        region: code.clone().unwrap_or_default(),
        stale_after_days: figures.stale_after_days,
        lines,
        stale,
        stale_more,
        region_exports: Exports::of(&here),
        stale_exports: Exports::of_table(&here, "stale"),
    }
    .into_response())
}

/// Freshness of the region and of each child region, as the page's first table.
fn freshness_table(tr: &Tr, figures: &FreshnessView) -> Table {
    Table {
        title: tr.t("verification.freshness_title"),
        headers: [
            "regions.code",
            "verification.region_col",
            "verification.fresh",
            "verification.stale",
            "verification.never_verified",
            "verification.share_fresh",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: std::iter::once(&figures.total)
            .chain(&figures.children)
            .map(|f| {
                vec![
                    text(f.region_code.clone().unwrap_or_default()),
                    text(f.region_name.clone().unwrap_or_else(|| tr.t("regions.top"))),
                    TableCell::Number(f64::from(f.figure.fresh)),
                    TableCell::Number(f64::from(f.figure.stale)),
                    TableCell::Number(f64::from(f.figure.never_verified)),
                    TableCell::Number(f.figure.share_fresh),
                ]
            })
            .collect(),
    }
}

/// The stale records as the page lists them: the same rows and columns, the holder masked
/// as shown, a reopened record marked after its last check as on the page.
fn stale_table(tr: &Tr, lines: &[StaleLine]) -> Table {
    Table {
        title: tr.t("verification.stale_records"),
        headers: [
            "potential.id",
            "taxonomy.type",
            "potential.quantity",
            "potential.holder",
            "regions.code",
            "verification.last_verified",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: lines
            .iter()
            .map(|line| {
                let last_verified = if line.reopened {
                    format!("{} {}", line.last_verified, tr.t("verification.reopened"))
                } else {
                    line.last_verified.clone()
                };
                vec![
                    TableCell::Integer(line.id),
                    text(line.type_name.clone()),
                    TableCell::Number(line.quantity_number),
                    text(line.holder.clone()),
                    text(line.region_code.clone()),
                    text(last_verified),
                ]
            })
            .collect(),
    }
}
