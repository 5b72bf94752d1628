//! The potential registry's pages: statistics with a drill-down in the taxonomy and in the
//! region hierarchy, records, the import of spreadsheets, gaps against baselines, and the
//! taxonomy. Server-rendered, no JavaScript; every table can be downloaded as CSV or XLSX by
//! adding `format=csv|xlsx` to its page's URL.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::potential::rollup::Totals;
use muster_domain::potential::{QualityGrade, RecordStatus};
use muster_domain::sheet::{Table, TableCell};
use muster_domain::taxonomy::{Category, ResourceType, Taxonomy};
use muster_storage::{
    BaselineRow, PotentialRecord, RecordFilter, RecordProvenance, Region, StorageError,
};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::facility_forms::{FieldError, joined};
use crate::i18n::Tr;
use crate::page_parts::{
    Exports, Link, Spine, UploadOutcome, download, page_err, spine, type_name,
};
use crate::pages::{Layout, PageContext, PageResult};
use crate::potential_api::{parse_status, region_in_scope};
use crate::potential_view::{
    BarChart, ChartRow, ExportFormat, Focus, FormatQuery, GroupKey, Level, MAX_UPLOAD_BYTES,
    ProblemKind, file_part, focus_total, format_quantity, format_share, group_totals,
    problems_table, query_string, read_baseline_upload, relocate_baseline_problems, share, text,
};

/// Records per page on the records page; an export takes up to [`RECORD_EXPORT_LIMIT`].
const RECORDS_PAGE_SIZE: i64 = 100;
/// The most records one export holds. Larger sets are for the API's keyset paging.
const RECORD_EXPORT_LIMIT: usize = 100_000;

// ---------------------------------------------------------------- shared pieces

fn unit_name(taxonomy: &Taxonomy, resource_type: &ResourceType, locale: &str) -> String {
    taxonomy
        .unit(&resource_type.unit)
        .map_or_else(|| resource_type.unit.clone(), |u| u.name(locale).to_owned())
}

// ---------------------------------------------------------------- statistics

#[derive(Debug, Deserialize)]
pub(crate) struct StatisticsQuery {
    region: Option<String>,
    category: Option<String>,
    subcategory: Option<String>,
    #[serde(rename = "type")]
    type_code: Option<String>,
    format: Option<String>,
    /// Which table to download: `groups` (default) or `children`.
    table: Option<String>,
}

/// One line of totals in a statistics table.
#[derive(Debug)]
struct TotalsLine {
    name: String,
    code: String,
    href: Option<String>,
    records_href: Option<String>,
    records: i64,
    verified_records: i64,
    verified_share: String,
    quantity: String,
    available: String,
    verified_quantity: String,
    unit: String,
}

impl TotalsLine {
    /// Quantities are shown (and the share taken by quantity) only when a unit is given:
    /// types of one category count in different units.
    fn new(name: String, code: String, totals: &Totals, unit: Option<String>) -> TotalsLine {
        let typed = unit.is_some();
        TotalsLine {
            name,
            code,
            href: None,
            records_href: None,
            records: totals.record_count,
            verified_records: totals.verified_count,
            verified_share: if typed {
                format_share(totals.verified_quantity, totals.quantity)
            } else {
                format_share(totals.verified_count as f64, totals.record_count as f64)
            },
            quantity: format_quantity(totals.quantity),
            available: format_quantity(totals.available_quantity),
            verified_quantity: format_quantity(totals.verified_quantity),
            unit: unit.unwrap_or_default(),
        }
    }

    fn cells(&self, typed: bool, totals: &Totals) -> Vec<TableCell> {
        let mut cells = vec![
            text(self.name.clone()),
            text(self.code.clone()),
            TableCell::Integer(self.records),
            TableCell::Integer(self.verified_records),
        ];
        if typed {
            cells.extend([
                TableCell::Number(totals.quantity),
                text(self.unit.clone()),
                TableCell::Number(totals.available_quantity),
                TableCell::Number(totals.verified_quantity),
                TableCell::Number(share(totals.verified_quantity, totals.quantity)),
            ]);
        } else {
            cells.push(TableCell::Number(share(
                totals.verified_count as f64,
                totals.record_count as f64,
            )));
        }
        cells
    }
}

impl TotalsLine {
    /// The Total line as the page shows it: quantities only where one unit is focused (the
    /// types of a category are counted in different units), the share then by records.
    fn total_cells(&self, typed: bool, totals: &Totals) -> Vec<TableCell> {
        if !typed || !self.unit.is_empty() {
            return self.cells(typed, totals);
        }
        vec![
            text(self.name.clone()),
            text(self.code.clone()),
            TableCell::Integer(self.records),
            TableCell::Integer(self.verified_records),
            TableCell::Empty,
            TableCell::Empty,
            TableCell::Empty,
            TableCell::Empty,
            TableCell::Number(share(
                totals.verified_count as f64,
                totals.record_count as f64,
            )),
        ]
    }
}

fn totals_headers(tr: &Tr, first: String, typed: bool) -> Vec<String> {
    let mut headers = vec![
        first,
        tr.t("potential.code"),
        tr.t("potential.records"),
        tr.t("potential.verified_records"),
    ];
    if typed {
        headers.extend([
            tr.t("potential.quantity"),
            tr.t("potential.unit"),
            tr.t("potential.available"),
            tr.t("potential.verified_quantity"),
        ]);
    }
    headers.push(tr.t("potential.verified_share"));
    headers
}

#[derive(Template, WebTemplate)]
#[template(path = "potential_statistics.html")]
struct StatisticsPage {
    layout: Layout,
    tab: &'static str,
    spine: Spine,
    heading: String,
    taxonomy_crumbs: Vec<Link>,
    taxonomy_current: String,
    level_heading: String,
    first_column: String,
    typed: bool,
    rows: Vec<TotalsLine>,
    total: TotalsLine,
    children: Vec<TotalsLine>,
    child_typed: bool,
    chart: BarChart,
    groups_export: Exports,
    children_export: Exports,
}

pub(crate) async fn statistics(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<StatisticsQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let locale = tr.locale;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let focus = Focus::parse(
        &taxonomy,
        query.category.as_deref(),
        query.subcategory.as_deref(),
        query.type_code.as_deref(),
    )
    .map_err(|e| page.error(e))?;
    let level = if focus.type_code.is_some() {
        Level::Type
    } else {
        focus.natural_level()
    };
    let view = region_in_scope(&state.db, scope, query.region.as_deref())
        .await
        .map_err(page_err(&page))?;
    let region_code = view.region.as_ref().map(|r| r.code.clone());
    let own = state
        .db
        .subtree_totals(scope, region_code.as_deref())
        .await
        .map_err(page_err(&page))?;
    let child_paths: Vec<_> = view.children.iter().map(Region::region_path).collect();
    let mut by_child = state
        .db
        .totals_of_subtrees(scope, &child_paths)
        .await
        .map_err(page_err(&page))?;

    // Links keep the other dimension: a taxonomy link keeps the region, a region link keeps
    // the taxonomy focus.
    let category = focus.category.map(Category::code);
    let subcategory = focus.subcategory.as_deref();
    let type_code = focus.type_code.as_deref();
    let link = |region: Option<&str>,
                category: Option<&str>,
                subcategory: Option<&str>,
                type_code: Option<&str>| {
        format!(
            "/potential{}",
            query_string(&[
                ("region", region),
                ("category", category),
                ("subcategory", subcategory),
                ("type", type_code),
            ])
        )
    };
    let here = region_code.as_deref();
    let self_url = link(here, category, subcategory, type_code);

    let groups = group_totals(&taxonomy, level, &focus, &own.by_type, true);
    let typed = level == Level::Type;
    let rows: Vec<TotalsLine> = groups
        .iter()
        .map(|group| {
            let (unit, href, records_href) = match &group.key {
                GroupKey::Category(c) => (None, Some(link(here, Some(c.code()), None, None)), None),
                GroupKey::Subcategory(s) => (
                    None,
                    Some(link(here, Some(s.category.code()), Some(&s.code), None)),
                    None,
                ),
                GroupKey::Type(t) => (
                    Some(unit_name(&taxonomy, t, locale)),
                    (focus.type_code.is_none()).then(|| {
                        link(
                            here,
                            Some(t.category.code()),
                            Some(&t.subcategory),
                            Some(&t.code),
                        )
                    }),
                    Some(format!(
                        "/potential/records{}",
                        query_string(&[("region", here), ("type", Some(&t.code))])
                    )),
                ),
            };
            let mut line = TotalsLine::new(
                group.key.name(locale),
                group.key.code().to_owned(),
                &group.totals,
                unit,
            );
            line.href = href;
            line.records_href = records_href;
            line
        })
        .collect();
    let total_totals = focus_total(&taxonomy, &focus, &own.by_type);
    let focused_type = focus
        .type_code
        .as_deref()
        .and_then(|c| taxonomy.resource_type(c));
    let focus_unit = focused_type.map(|t| unit_name(&taxonomy, t, locale));
    let total = TotalsLine::new(
        tr.t("potential.total"),
        String::new(),
        &total_totals,
        focus_unit.clone(),
    );
    let child_totals: Vec<(Region, Totals)> = view
        .children
        .iter()
        .map(|child| {
            let rows = by_child.remove(&child.path).unwrap_or_default();
            (child.clone(), focus_total(&taxonomy, &focus, &rows))
        })
        .collect();
    let children: Vec<TotalsLine> = child_totals
        .iter()
        .map(|(child, totals)| {
            let mut line = TotalsLine::new(
                child.name.clone(),
                child.code.clone(),
                totals,
                focus_unit.clone(),
            );
            line.href = Some(link(Some(&child.code), category, subcategory, type_code));
            line
        })
        .collect();

    let first_column = match level {
        Level::Category => tr.t("taxonomy.category"),
        Level::Subcategory => tr.t("taxonomy.subcategory"),
        Level::Type => tr.t("taxonomy.type"),
    };
    if let Some(format) = format {
        let (title, tables) = if query.table.as_deref() == Some("children") {
            let table = Table {
                title: tr.t("potential.child_regions"),
                headers: totals_headers(&tr, tr.t("regions.name"), focus_unit.is_some()),
                rows: children
                    .iter()
                    .zip(&child_totals)
                    .map(|(line, (_, totals))| line.cells(focus_unit.is_some(), totals))
                    .collect(),
            };
            ("potential-regions", vec![table])
        } else {
            let table = Table {
                title: tr.t("potential.statistics"),
                headers: totals_headers(&tr, first_column.clone(), typed),
                rows: rows
                    .iter()
                    .zip(&groups)
                    .map(|(line, group)| line.cells(typed, &group.totals))
                    .chain(std::iter::once(total.total_cells(typed, &total_totals)))
                    .collect(),
            };
            ("potential-totals", vec![table])
        };
        let stem = format!("{title}-{}", file_part(here.unwrap_or("all")));
        return download(&page, format, &stem, &tables);
    }

    let chart = BarChart::new(
        tr.t("potential.chart_label"),
        rows.iter()
            .zip(&groups)
            .map(|(line, group)| ChartRow {
                label: line.name.clone(),
                whole: group.totals.record_count as f64,
                part: group.totals.verified_count as f64,
                value_text: format!(
                    "{} / {}",
                    group.totals.verified_count, group.totals.record_count
                ),
            })
            .collect(),
        None,
        tr.t("potential.records"),
        tr.t("potential.verified_records"),
    );
    let mut taxonomy_crumbs = Vec::new();
    let mut taxonomy_current = tr.t("potential.all_categories");
    if let Some(c) = focus.category {
        taxonomy_crumbs.push(Link {
            text: taxonomy_current.clone(),
            href: link(here, None, None, None),
        });
        taxonomy_current = c.name(locale).to_owned();
    }
    if let Some(s) = focus
        .subcategory
        .as_deref()
        .and_then(|s| taxonomy.subcategory(s))
    {
        taxonomy_crumbs.push(Link {
            text: taxonomy_current.clone(),
            href: link(here, category, None, None),
        });
        taxonomy_current = s.name(locale).to_owned();
    }
    if let Some(t) = focused_type {
        taxonomy_crumbs.push(Link {
            text: taxonomy_current.clone(),
            href: link(here, category, subcategory, None),
        });
        taxonomy_current = t.name(locale).to_owned();
    }
    let level_heading = match level {
        Level::Category => tr.t("potential.by_category"),
        Level::Subcategory => tr.t("potential.by_subcategory"),
        Level::Type => tr.t("potential.by_type"),
    };
    let heading = view
        .region
        .as_ref()
        .map_or_else(|| tr.t("regions.top"), |r| r.name.clone());
    let spine = spine(
        &view,
        |code| link(code, category, subcategory, type_code),
        scope.subtree().is_root(),
    );
    let children_url = format!(
        "{self_url}{}table=children",
        if self_url.contains('?') { '&' } else { '?' }
    );
    Ok(StatisticsPage {
        layout: page.layout("potential"),
        tab: "statistics",
        spine,
        heading,
        taxonomy_crumbs,
        taxonomy_current,
        level_heading,
        first_column,
        typed,
        rows,
        total,
        children,
        child_typed: focus_unit.is_some(),
        chart,
        groups_export: Exports::of(&self_url),
        children_export: Exports::of(&children_url),
    }
    .into_response())
}

// ---------------------------------------------------------------- records

#[derive(Debug, Deserialize)]
pub(crate) struct RecordsQuery {
    region: Option<String>,
    #[serde(rename = "type")]
    type_code: Option<String>,
    status: Option<String>,
    after: Option<i64>,
    format: Option<String>,
}

#[derive(Debug)]
struct RecordLine {
    id: i64,
    type_name: String,
    type_code: String,
    quantity: String,
    unit: String,
    quality_key: String,
    holder: String,
    holder_detail: String,
    site: String,
    region_code: String,
    status_key: String,
    verified: String,
}

impl RecordLine {
    fn of(record: &PotentialRecord, taxonomy: &Taxonomy, locale: &str) -> RecordLine {
        let resource_type = taxonomy.resource_type(&record.type_code);
        let quality = QualityGrade::parse(&record.quality_grade).map_or("fair", |q| q.as_str());
        RecordLine {
            id: record.id,
            type_name: type_name(taxonomy, &record.type_code, locale),
            type_code: record.type_code.clone(),
            quantity: format_quantity(record.quantity),
            unit: resource_type.map_or_else(String::new, |t| unit_name(taxonomy, t, locale)),
            quality_key: format!("potential.quality.{quality}"),
            holder: record.holder_name.clone(),
            holder_detail: [
                record.holder_id_number.as_deref(),
                record.holder_phone.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            site: record.site_name.clone().unwrap_or_default(),
            region_code: record.region_code.clone(),
            status_key: format!("potential.status.{}", record.status().as_str()),
            verified: record
                .last_verified_at
                .map(|at| crate::pages::format_utc(at)[..10].to_owned())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "potential_records.html")]
struct RecordsPage {
    layout: Layout,
    tab: &'static str,
    spine: Spine,
    region: String,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    records: Vec<RecordLine>,
    next_href: Option<String>,
    first_href: Option<String>,
    exports: Exports,
}

pub(crate) async fn records(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RecordsQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let status = parse_status(query.status.as_deref()).map_err(|e| page.error(e))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let type_code = query
        .type_code
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let view = region_in_scope(&state.db, scope, query.region.as_deref())
        .await
        .map_err(page_err(&page))?;
    let region_code = view.region.as_ref().map(|r| r.code.clone());
    let mut filter = RecordFilter {
        region_code: region_code.clone(),
        type_code: type_code.map(str::to_owned),
        status,
        limit: RECORDS_PAGE_SIZE,
        after_id: query.after.unwrap_or(0),
    };
    let status_text = status.map(RecordStatus::as_str);
    let url = |region: Option<&str>, after: Option<String>| {
        format!(
            "/potential/records{}",
            query_string(&[
                ("region", region),
                ("type", type_code),
                ("status", status_text),
                ("after", after.as_deref()),
            ])
        )
    };

    if let Some(format) = format {
        filter.after_id = 0;
        filter.limit = 1000;
        let mut all = Vec::new();
        loop {
            let batch = state
                .db
                .potential_records(scope, &filter)
                .await
                .map_err(page_err(&page))?;
            let full = batch.len() as i64 == filter.limit;
            filter.after_id = batch.last().map_or(filter.after_id, |r| r.id);
            all.extend(batch);
            if !full || all.len() >= RECORD_EXPORT_LIMIT {
                break;
            }
        }
        all.truncate(RECORD_EXPORT_LIMIT);
        let table = Table {
            title: tr.t("potential.records_title"),
            headers: [
                "potential.id",
                "taxonomy.type",
                "potential.code",
                "potential.quantity",
                "potential.unit",
                "potential.quality_grade",
                "potential.holder",
                "potential.holder_detail",
                "potential.site",
                "regions.code",
                "potential.status_label",
                "potential.last_verified",
            ]
            .iter()
            .map(|k| tr.t(k))
            .collect(),
            rows: all
                .iter()
                .map(|record| {
                    let line = RecordLine::of(record, &taxonomy, tr.locale);
                    vec![
                        TableCell::Integer(line.id),
                        text(line.type_name),
                        text(line.type_code),
                        TableCell::Number(record.quantity),
                        text(line.unit),
                        text(tr.t(&line.quality_key)),
                        text(line.holder),
                        text(line.holder_detail),
                        text(line.site),
                        text(line.region_code),
                        text(tr.t(&line.status_key)),
                        text(line.verified),
                    ]
                })
                .collect(),
        };
        let stem = format!(
            "potential-records-{}",
            file_part(region_code.as_deref().unwrap_or("all"))
        );
        return download(&page, format, &stem, &[table]);
    }

    let list = state
        .db
        .potential_records(scope, &filter)
        .await
        .map_err(page_err(&page))?;
    let here = region_code.as_deref();
    let next_href = (list.len() as i64 == RECORDS_PAGE_SIZE)
        .then(|| list.last().map(|r| url(here, Some(r.id.to_string()))))
        .flatten();
    let first_href = query.after.filter(|a| *a > 0).map(|_| url(here, None));
    let locale = tr.locale;
    let mut types: Vec<Choice> = vec![Choice {
        value: String::new(),
        label: tr.t("potential.any_type"),
        selected: type_code.is_none(),
    }];
    types.extend(taxonomy.resource_types().iter().map(|t| Choice {
        label: format!("{} · {}", t.code, t.name(locale)),
        selected: type_code == Some(t.code.as_str()),
        value: t.code.clone(),
    }));
    let mut statuses = vec![Choice {
        value: String::new(),
        label: tr.t("potential.any_status"),
        selected: status.is_none(),
    }];
    statuses.extend(RecordStatus::ALL.iter().map(|s| Choice {
        value: s.as_str().to_owned(),
        label: tr.t(&format!("potential.status.{}", s.as_str())),
        selected: status == Some(*s),
    }));
    Ok(RecordsPage {
        layout: page.layout("potential"),
        tab: "records",
        spine: spine(&view, |code| url(code, None), scope.subtree().is_root()),
        region: region_code.clone().unwrap_or_default(),
        types,
        statuses,
        records: list
            .iter()
            .map(|r| RecordLine::of(r, &taxonomy, locale))
            .collect(),
        next_href,
        first_href,
        exports: Exports::of(&url(here, None)),
    }
    .into_response())
}

// ---------------------------------------------------------------- uploads

/// A multipart form with a file: the CSRF token, the button pressed, and the file.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    pub(crate) csrf: String,
    pub(crate) action: String,
    pub(crate) region: String,
    pub(crate) file_name: String,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) async fn read_upload(mut multipart: Multipart) -> Result<Upload, WebError> {
    let refuse = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge {
                limit_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
            }
        } else {
            let reason = e.body_text();
            let zh = format!("上传的文件未能读取（{reason}）");
            WebError::refused("file", reason, zh)
        }
    };
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(refuse)? {
        match field.name().unwrap_or("") {
            "csrf" => upload.csrf = field.text().await.map_err(refuse)?,
            "action" => upload.action = field.text().await.map_err(refuse)?,
            "region" => upload.region = field.text().await.map_err(refuse)?,
            "file" => {
                upload.file_name = field.file_name().unwrap_or("upload").to_owned();
                upload.bytes = field.bytes().await.map_err(refuse)?.to_vec();
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// One problem of a refused file, as the page lists it.
#[derive(Template, WebTemplate)]
#[template(path = "potential_import.html")]
struct ImportPage {
    layout: Layout,
    tab: &'static str,
    outcome: UploadOutcome,
    max_mib: usize,
}

pub(crate) async fn import_page(page: PageContext) -> PageResult {
    page.require_user()?;
    Ok(ImportPage {
        layout: page.layout("potential"),
        tab: "import",
        outcome: UploadOutcome::default(),
        max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
    }
    .into_response())
}

pub(crate) async fn import_upload(
    State(state): State<AppState>,
    page: PageContext,
    multipart: Multipart,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let upload = read_upload(multipart).await.map_err(|e| page.error(e))?;
    current
        .check_csrf(Some(&upload.csrf))
        .map_err(|e| page.error(e))?;
    let user_id = current.user.id;
    let (status, outcome) = if upload.bytes.is_empty() {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            UploadOutcome {
                error: Some(tr.t("potential.import.no_file")),
                ..UploadOutcome::default()
            },
        )
    } else if upload.action == "import" {
        match state
            .db
            .import_potential_file(
                &current.actor,
                upload.bytes,
                &upload.file_name,
                None,
                RecordProvenance::default(),
            )
            .await
        {
            Ok(summary) => (
                StatusCode::OK,
                UploadOutcome {
                    notice: Some(
                        tr.t("potential.import.stored")
                            .replace("%{count}", &summary.inserted.to_string()),
                    ),
                    ..UploadOutcome::default()
                },
            ),
            Err(StorageError::SheetRejected(problems)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                UploadOutcome::refused(&state, user_id, tr.t("potential.import.refused"), problems),
            ),
            Err(other) => {
                let error = WebError::from(other);
                (error.classify().0, UploadOutcome::failed(&error, &page.tr))
            }
        }
    } else {
        match state
            .db
            .validate_potential_file(&current.actor, upload.bytes, &upload.file_name, None)
            .await
        {
            Ok(drafts) => (
                StatusCode::OK,
                UploadOutcome {
                    notice: Some(
                        tr.t("potential.import.valid")
                            .replace("%{count}", &drafts.len().to_string()),
                    ),
                    ..UploadOutcome::default()
                },
            ),
            Err(StorageError::SheetRejected(problems)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                UploadOutcome::refused(&state, user_id, tr.t("potential.import.refused"), problems),
            ),
            Err(other) => {
                let error = WebError::from(other);
                (error.classify().0, UploadOutcome::failed(&error, &page.tr))
            }
        }
    };
    Ok((
        status,
        ImportPage {
            layout: page.layout("potential"),
            tab: "import",
            outcome,
            max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
        },
    )
        .into_response())
}

/// A refused upload's problems as CSV or XLSX, for the user who uploaded it, for ten
/// minutes after.
pub(crate) async fn problem_list(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<String>,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref())
        .map_err(|e| page.error(e))?
        .unwrap_or(ExportFormat::Csv);
    let problems = state
        .problem_lists
        .get(current.user.id, ProblemKind::Sheet, &id)
        .ok_or_else(|| {
            page.error(WebError::Storage(StorageError::NotFound {
                entity: "problem list",
                key: id.clone(),
            }))
        })?;
    download(
        &page,
        format,
        "problems",
        &[problems_table(&problems, &page.tr)],
    )
}

/// The empty import template in the reader's language.
pub(crate) async fn import_template(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref())
        .map_err(|e| page.error(e))?
        .unwrap_or(ExportFormat::Xlsx);
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let tables = crate::potential_view::import_template(&taxonomy, None, page.tr.locale, &page.tr);
    download(&page, format, "potential-template", &tables)
}

// ---------------------------------------------------------------- gaps and baselines

#[derive(Debug, Deserialize)]
pub(crate) struct GapsQuery {
    region: Option<String>,
    format: Option<String>,
    /// Set by the redirect after `/potential/baselines/entry`: the type whose baseline was
    /// set. Read as text, so that a hand-edited value shows the page without the notice.
    baseline: Option<String>,
}

/// The one-baseline form as typed, kept to show again with a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BaselineEntryForm {
    #[serde(default)]
    csrf: String,
    /// The region of the gaps page the form was sent from, shown again with a refusal.
    #[serde(default)]
    region: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    type_code: String,
    #[serde(default)]
    required_quantity: String,
}

impl BaselineEntryForm {
    /// The row to store, or what the form alone shows is wrong: an empty field, a quantity
    /// that is not a number. Storage checks the rest (region, scope, type, the quantity's
    /// range) and says it in both languages.
    fn row(&self, tr: Tr) -> Result<BaselineRow, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut required = |field: &'static str, value: &str| {
            let value = value.trim();
            if value.is_empty() {
                errors.push(FieldError {
                    field,
                    message: tr.t("potential.baseline_entry.missing"),
                });
            }
            value.to_owned()
        };
        let region_code = required("region_code", &self.region_code);
        let type_code = required("type_code", &self.type_code);
        let quantity_text = required("required_quantity", &self.required_quantity);
        let quantity = muster_domain::number::read_decimal(&quantity_text);
        if quantity.is_none() && !quantity_text.is_empty() {
            errors.push(FieldError {
                field: "required_quantity",
                message: tr
                    .t("potential.baseline_entry.not_a_number")
                    .replace("%{text}", &format!("{quantity_text:?}")),
            });
        }
        match quantity {
            Some(required_quantity) if errors.is_empty() => Ok(BaselineRow {
                region_code,
                type_code,
                required_quantity,
            }),
            _ => Err(errors),
        }
    }
}

/// The input a baseline problem from storage is about (`form` for one about none of them).
fn entry_field(field: Option<&str>) -> &'static str {
    match field {
        Some("region_code") => "region_code",
        Some("type_code") => "type_code",
        Some("required_quantity") => "required_quantity",
        _ => "form",
    }
}

/// What the gaps page says about the forms at its foot: what became of an upload, the type
/// whose baseline was just entered, or the entry form refused, as typed.
#[derive(Debug, Default)]
struct GapsFeedback {
    outcome: UploadOutcome,
    baseline_set: Option<String>,
    entry: Option<(BaselineEntryForm, Vec<FieldError>)>,
}

#[derive(Debug)]
struct GapLine {
    type_name: String,
    type_code: String,
    unit: String,
    required: String,
    verified: String,
    reported: String,
    shortfall: String,
    share: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "potential_gaps.html")]
struct GapsPage {
    layout: Layout,
    tab: &'static str,
    spine: Spine,
    heading: String,
    region: String,
    children: Vec<Link>,
    gaps: Vec<GapLine>,
    chart: BarChart,
    exports: Exports,
    can_set_baselines: bool,
    outcome: UploadOutcome,
    max_mib: usize,
    entry: BaselineEntryForm,
    entry_errors: Vec<FieldError>,
    /// The region shown and its children, offered for the entry's region code.
    region_choices: Vec<Choice>,
    /// Every resource type, offered for the entry's type code (empty unless the reader may
    /// set baselines).
    type_choices: Vec<Choice>,
}

impl GapsPage {
    fn entry_error(&self, field: &str) -> String {
        joined(&self.entry_errors, field, self.layout.tr)
    }
}

pub(crate) async fn gaps(
    state: State<AppState>,
    page: PageContext,
    Query(query): Query<GapsQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    render_gaps(
        state,
        page,
        query.region,
        format,
        StatusCode::OK,
        GapsFeedback {
            baseline_set: query.baseline,
            ..GapsFeedback::default()
        },
    )
    .await
}

async fn render_gaps(
    State(state): State<AppState>,
    page: PageContext,
    region: Option<String>,
    format: Option<ExportFormat>,
    status: StatusCode,
    feedback: GapsFeedback,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let locale = tr.locale;
    let scope = current.actor.scope();
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let view = region_in_scope(&state.db, scope, region.as_deref())
        .await
        .map_err(page_err(&page))?;
    let region_code = view.region.as_ref().map(|r| r.code.clone());
    let gaps = state
        .db
        .gaps(scope, region_code.as_deref())
        .await
        .map_err(page_err(&page))?;
    let url = |code: Option<&str>| format!("/potential/gaps{}", query_string(&[("region", code)]));
    let unit_of = |code: &str| {
        taxonomy
            .resource_type(code)
            .map_or_else(String::new, |t| unit_name(&taxonomy, t, locale))
    };
    if let Some(format) = format {
        let table = Table {
            title: tr.t("potential.gaps_title"),
            headers: [
                "taxonomy.type",
                "potential.code",
                "potential.unit",
                "potential.required",
                "potential.verified_quantity",
                "potential.reported",
                "potential.shortfall",
                "potential.shortfall_share",
            ]
            .iter()
            .map(|k| tr.t(k))
            .collect(),
            rows: gaps
                .iter()
                .map(|g| {
                    vec![
                        text(type_name(&taxonomy, &g.type_code, locale)),
                        text(g.type_code.clone()),
                        text(unit_of(&g.type_code)),
                        TableCell::Number(g.required),
                        TableCell::Number(g.verified),
                        TableCell::Number(g.reported),
                        TableCell::Number(g.shortfall),
                        TableCell::Number(g.shortfall_share),
                    ]
                })
                .collect(),
        };
        let stem = format!(
            "potential-gaps-{}",
            file_part(region_code.as_deref().unwrap_or("all"))
        );
        return download(&page, format, &stem, &[table]);
    }
    let chart = BarChart::new(
        tr.t("potential.gaps_chart_label"),
        gaps.iter()
            .map(|g| ChartRow {
                label: type_name(&taxonomy, &g.type_code, locale),
                whole: g.shortfall_share,
                part: 0.0,
                value_text: format_share(g.shortfall, g.required),
            })
            .collect(),
        Some(1.0),
        tr.t("potential.shortfall_share"),
        String::new(),
    );
    let lines = gaps
        .iter()
        .map(|g| GapLine {
            type_name: type_name(&taxonomy, &g.type_code, locale),
            type_code: g.type_code.clone(),
            unit: unit_of(&g.type_code),
            required: format_quantity(g.required),
            verified: format_quantity(g.verified),
            reported: format_quantity(g.reported),
            shortfall: format_quantity(g.shortfall),
            share: format_share(g.shortfall, g.required),
        })
        .collect();
    let here = region_code.as_deref();
    let actor = &current.actor;
    let can_set_baselines = actor.administers() || actor.has_role(Role::OfficeStaff);
    let GapsFeedback {
        mut outcome,
        baseline_set,
        entry,
    } = feedback;
    if let Some(resource_type) = baseline_set
        .as_deref()
        .and_then(|code| taxonomy.resource_type(code))
    {
        outcome.notice.get_or_insert_with(|| {
            tr.t("potential.baseline_entry.set")
                .replace("%{type}", resource_type.name(locale))
        });
    }
    let (entry, entry_errors) = entry.unwrap_or_else(|| {
        let form = BaselineEntryForm {
            region_code: region_code.clone().unwrap_or_default(),
            ..BaselineEntryForm::default()
        };
        (form, Vec::new())
    });
    let region_choices = view
        .region
        .iter()
        .chain(&view.children)
        .map(|r| Choice {
            value: r.code.clone(),
            label: r.name.clone(),
            selected: r.code == entry.region_code,
        })
        .collect();
    let type_choices = if can_set_baselines {
        taxonomy
            .resource_types()
            .iter()
            .map(|t| Choice {
                value: t.code.clone(),
                label: t.name(locale).to_owned(),
                selected: t.code == entry.type_code,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok((
        status,
        GapsPage {
            layout: page.layout("potential"),
            tab: "gaps",
            spine: spine(&view, url, scope.subtree().is_root()),
            heading: view
                .region
                .as_ref()
                .map_or_else(|| tr.t("regions.top"), |r| r.name.clone()),
            region: region_code.clone().unwrap_or_default(),
            children: view
                .children
                .iter()
                .map(|c| Link {
                    text: c.name.clone(),
                    href: url(Some(&c.code)),
                })
                .collect(),
            gaps: lines,
            chart,
            exports: Exports::of(&url(here)),
            can_set_baselines,
            outcome,
            max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
            entry,
            entry_errors,
            region_choices,
            type_choices,
        },
    )
        .into_response())
}

/// Baselines from an uploaded sheet (region_code, type_code, required_quantity), all or
/// nothing; the gaps page again, with what became of it.
pub(crate) async fn baseline_upload(
    state: State<AppState>,
    page: PageContext,
    multipart: Multipart,
) -> PageResult {
    let current = page.require_user()?.clone();
    let tr = page.tr;
    let upload = read_upload(multipart).await.map_err(|e| page.error(e))?;
    current
        .check_csrf(Some(&upload.csrf))
        .map_err(|e| page.error(e))?;
    let region = Some(upload.region.clone()).filter(|r| !r.is_empty());
    let (status, outcome) = if upload.bytes.is_empty() {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            UploadOutcome {
                error: Some(tr.t("potential.import.no_file")),
                ..UploadOutcome::default()
            },
        )
    } else {
        match read_baseline_upload(upload.bytes.clone()).await {
            Err(StorageError::SheetRejected(problems)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                UploadOutcome::refused(
                    &state,
                    current.user.id,
                    tr.t("potential.import.refused"),
                    problems,
                ),
            ),
            // The server busy reading other files: said as it is, not as a bad file.
            Err(other) => {
                let error = WebError::from(other);
                (error.classify().0, UploadOutcome::failed(&error, &page.tr))
            }
            Ok(sheet) => match state
                .db
                .set_baselines(&current.actor, sheet.rows.clone())
                .await
            {
                Ok(stored) => (
                    StatusCode::OK,
                    UploadOutcome {
                        notice: Some(
                            tr.t("potential.baselines_stored")
                                .replace("%{count}", &stored.to_string()),
                        ),
                        ..UploadOutcome::default()
                    },
                ),
                Err(StorageError::SheetRejected(problems)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    UploadOutcome::refused(
                        &state,
                        current.user.id,
                        tr.t("potential.import.refused"),
                        relocate_baseline_problems(problems, &sheet),
                    ),
                ),
                Err(other) => {
                    let error = WebError::from(other);
                    (error.classify().0, UploadOutcome::failed(&error, &page.tr))
                }
            },
        }
    };
    let feedback = GapsFeedback {
        outcome,
        ..GapsFeedback::default()
    };
    render_gaps(state, page, region, None, status, feedback).await
}

/// One baseline entered on the gaps page: stored (audited by storage) and the gaps page of
/// its region shown with a notice, or the page the form was on again, the form as typed and
/// every problem beside its field in the reader's language.
pub(crate) async fn baseline_entry(
    state: State<AppState>,
    page: PageContext,
    Form(form): Form<BaselineEntryForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let actor = current.actor.clone();
    let locale = page.tr.locale;
    let errors = match form.row(page.tr) {
        Err(errors) => errors,
        Ok(row) => {
            let set = query_string(&[
                ("region", Some(&row.region_code)),
                ("baseline", Some(&row.type_code)),
            ]);
            match state.db.set_baselines(&actor, vec![row]).await {
                Ok(_) => {
                    return Ok(Redirect::to(&format!("/potential/gaps{set}")).into_response());
                }
                Err(StorageError::SheetRejected(problems)) => problems
                    .0
                    .iter()
                    .map(|p| FieldError {
                        field: entry_field(p.field.as_deref()),
                        message: p.message_in(locale).to_owned(),
                    })
                    .collect(),
                Err(other) => return Err(page_err(&page)(other)),
            }
        }
    };
    let region = Some(form.region.clone()).filter(|r| !r.is_empty());
    let feedback = GapsFeedback {
        entry: Some((form, errors)),
        ..GapsFeedback::default()
    };
    render_gaps(
        state,
        page,
        region,
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        feedback,
    )
    .await
}

/// The baseline template: the three columns, nothing else.
pub(crate) async fn baseline_template(
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref())
        .map_err(|e| page.error(e))?
        .unwrap_or(ExportFormat::Csv);
    download(
        &page,
        format,
        "baselines-template",
        &[crate::potential_view::baseline_template()],
    )
}

// ---------------------------------------------------------------- taxonomy

#[derive(Debug)]
struct CategoryBlock {
    name: String,
    code: &'static str,
    subcategories: Vec<SubcategoryBlock>,
}

#[derive(Debug)]
struct SubcategoryBlock {
    name: String,
    code: String,
    types: Vec<TypeLine>,
}

#[derive(Debug)]
struct TypeLine {
    code: String,
    name: String,
    unit: String,
    max_quantity: String,
    whole_units: bool,
    attributes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "taxonomy.html")]
struct TaxonomyPage {
    layout: Layout,
    tab: &'static str,
    is_admin: bool,
    type_count: usize,
    categories: Vec<CategoryBlock>,
    exports: Exports,
}

pub(crate) async fn taxonomy(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let locale = page.tr.locale;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    if let Some(format) = format {
        let [_, types] = crate::potential_view::import_template(&taxonomy, None, locale, &page.tr);
        return download(&page, format, "taxonomy", &[types]);
    }
    let mut types_by_subcategory: BTreeMap<&str, Vec<TypeLine>> = BTreeMap::new();
    for t in taxonomy.resource_types() {
        types_by_subcategory
            .entry(t.subcategory.as_str())
            .or_default()
            .push(TypeLine {
                code: t.code.clone(),
                name: t.name(locale).to_owned(),
                unit: unit_name(&taxonomy, t, locale),
                max_quantity: format_quantity(t.max_quantity),
                whole_units: t.whole_units,
                attributes: t
                    .attributes
                    .iter()
                    .map(|a| crate::potential_view::attribute_summary(a, locale))
                    .collect(),
            });
    }
    let categories = Category::ALL
        .iter()
        .map(|c| CategoryBlock {
            name: c.name(locale).to_owned(),
            code: c.code(),
            subcategories: taxonomy
                .subcategories_in(*c)
                .map(|s| SubcategoryBlock {
                    name: s.name(locale).to_owned(),
                    code: s.code.clone(),
                    types: types_by_subcategory
                        .remove(s.code.as_str())
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    Ok(TaxonomyPage {
        layout: page.layout("potential"),
        tab: "taxonomy",
        is_admin: state
            .db
            .administers_installation(&current.actor)
            .await
            .map_err(page_err(&page))?,
        type_count: taxonomy.resource_types().len(),
        categories,
        exports: Exports::of("/taxonomy"),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "taxonomy_type.html")]
struct TypeFormPage {
    layout: Layout,
    tab: &'static str,
    code: String,
    category: String,
    subcategory: String,
    unit: String,
    name_en: String,
    name_zh: String,
    max_quantity: String,
    message: Option<String>,
    detail: Option<String>,
    saved: bool,
}

fn type_form(
    page: &PageContext,
    taxonomy: &Taxonomy,
    resource_type: &ResourceType,
) -> TypeFormPage {
    let locale = page.tr.locale;
    TypeFormPage {
        layout: page.layout("potential"),
        tab: "taxonomy",
        code: resource_type.code.clone(),
        category: resource_type.category.name(locale).to_owned(),
        subcategory: taxonomy
            .subcategory(&resource_type.subcategory)
            .map_or_else(
                || resource_type.subcategory.clone(),
                |s| s.name(locale).to_owned(),
            ),
        unit: unit_name(taxonomy, resource_type, locale),
        name_en: resource_type.name_en.clone(),
        name_zh: resource_type.name_zh.clone(),
        max_quantity: format_quantity(resource_type.max_quantity),
        message: None,
        detail: None,
        saved: false,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SavedQuery {
    saved: Option<String>,
}

pub(crate) async fn resource_type_form(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    Query(query): Query<SavedQuery>,
) -> PageResult {
    let current = page.require_user()?;
    if !state
        .db
        .administers_installation(&current.actor)
        .await
        .map_err(page_err(&page))?
    {
        return Err(page.error(WebError::Storage(StorageError::forbidden(
            "only an administrator of every region edits the taxonomy",
            "只有管辖全部行政区划的系统管理员才能编辑资源分类",
        ))));
    }
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let resource_type = taxonomy.resource_type(&code).ok_or_else(|| {
        page.error(WebError::Storage(StorageError::NotFound {
            entity: "resource type",
            key: code.clone(),
        }))
    })?;
    let mut form = type_form(&page, &taxonomy, resource_type);
    form.saved = query.saved.is_some();
    Ok(form.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TypeForm {
    csrf: String,
    name_en: String,
    name_zh: String,
    max_quantity: String,
}

/// Saves an administrator's edit of a type's names and maximum. Storage refuses a smaller
/// maximum once records of the type exist; the form then says why, in the page.
pub(crate) async fn save_resource_type(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    Form(form): Form<TypeForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let tr = page.tr;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let before = taxonomy.resource_type(&code).ok_or_else(|| {
        page.error(WebError::Storage(StorageError::NotFound {
            entity: "resource type",
            key: code.clone(),
        }))
    })?;
    let mut edited = before.clone();
    edited.name_en = form.name_en.trim().to_owned();
    edited.name_zh = form.name_zh.trim().to_owned();
    let refuse = |status: StatusCode, message: String, detail: Option<String>| {
        let mut page_form = type_form(&page, &taxonomy, before);
        page_form.name_en = form.name_en.clone();
        page_form.name_zh = form.name_zh.clone();
        page_form.max_quantity = form.max_quantity.clone();
        page_form.message = Some(message);
        page_form.detail = detail;
        Ok((status, page_form).into_response())
    };
    match muster_domain::number::read_decimal(&form.max_quantity) {
        Some(max) if max > 0.0 => edited.max_quantity = max,
        _ => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                tr.t("taxonomy.bad_max_quantity"),
                None,
            );
        }
    }
    match state.db.save_resource_type(&current.actor, edited).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/taxonomy/types/{}?saved=1",
            query_string(&[("c", Some(&code))]).trim_start_matches("?c=")
        ))
        .into_response()),
        Err(e @ StorageError::Conflict { .. }) => refuse(
            StatusCode::CONFLICT,
            tr.t("taxonomy.meaning_change"),
            Some(WebError::from(e).said_in(tr.locale)),
        ),
        Err(StorageError::Refused {
            message,
            message_zh,
            ..
        }) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            tr.t("taxonomy.invalid"),
            Some(if tr.locale.starts_with("zh") {
                message_zh
            } else {
                message
            }),
        ),
        Err(other) => Err(page.error(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(region_code: &str, type_code: &str, quantity: &str) -> BaselineEntryForm {
        BaselineEntryForm {
            region_code: region_code.into(),
            type_code: type_code.into(),
            required_quantity: quantity.into(),
            ..BaselineEntryForm::default()
        }
    }

    #[test]
    fn a_baseline_entry_reads_a_number_and_leaves_the_rest_to_storage() {
        let en = Tr { locale: "en" };
        let row = entry(" 3401 ", "CAD.MAT.TENT_12", "1,200.5")
            .row(en)
            .expect("reads");
        assert_eq!(row.region_code, "3401");
        assert_eq!(row.required_quantity, 1200.5);
        // A negative quantity reads: storage refuses it, in both languages.
        assert_eq!(
            entry("3401", "NOPE", "-5")
                .row(en)
                .map(|r| r.required_quantity),
            Ok(-5.0)
        );
        for (form, fields, message) in [
            (
                entry("", "CAD.MAT.TENT_12", "5"),
                vec!["region_code"],
                "required",
            ),
            (
                entry("3401", "", ""),
                vec!["type_code", "required_quantity"],
                "required",
            ),
            (
                entry("3401", "CAD.MAT.TENT_12", "lots"),
                vec!["required_quantity"],
                "\"lots\": expected a number",
            ),
            (
                entry("3401", "CAD.MAT.TENT_12", "inf"),
                vec!["required_quantity"],
                "\"inf\": expected a number",
            ),
        ] {
            let errors = form.row(en).expect_err("refused");
            let found: Vec<&str> = errors.iter().map(|e| e.field).collect();
            assert_eq!(found, fields, "{form:?}");
            assert_eq!(errors[0].message, message, "{form:?}");
        }
        let errors = entry("3401", "CAD.MAT.TENT_12", "许多")
            .row(Tr { locale: "zh-CN" })
            .expect_err("refused");
        assert_eq!(errors[0].message, "\"许多\"：应为数字");
    }
}
