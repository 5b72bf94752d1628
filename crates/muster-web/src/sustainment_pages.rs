//! Sustainment pages: the scenarios of the reader's subtree with a form to write one, and a
//! scenario's run on the current potential: the overall days with their band, the
//! bottleneck, a table of every type, a server-rendered SVG chart of one type's stock over
//! the days with the band shaded, and what-ifs (add stock, convert an enterprise) given as
//! query parameters, so a what-if is a link that stores nothing.
//!
//! The list of scenarios and a run's table of types (with its what-if) download with
//! `?format=csv|xlsx`, built from the rows the page shows.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::sheet::{Table, TableCell};
use muster_domain::sustainment::{Adjustment, Band, SustainmentReport, TypeSustainment};
use muster_storage::{
    NewScenario, ProductionLine, ScenarioDocument, ScenarioTypeDocument, StorageError, SurgeStep,
};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, download, page_err, shown_number, type_name};
use crate::pages::{Layout, PageContext, PageResult, format_utc};
use crate::potential_view::{ExportFormat, FormatQuery, query_string, text};

#[derive(Debug)]
struct ScenarioLine {
    id: i64,
    name: String,
    region_path: String,
    types: usize,
    horizon_days: u16,
    updated: String,
}

/// The scenario form as typed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ScenarioForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    region_code: String,
    #[serde(default = "default_horizon")]
    horizon_days: String,
    /// `day:multiplier` pairs, comma-separated: `0:3, 7:1.5`.
    #[serde(default)]
    surge: String,
    /// One type a line: `type code, daily consumption[, enterprise, rate per day, start
    /// day, ramp days]`.
    #[serde(default)]
    types: String,
}

fn default_horizon() -> String {
    "90".into()
}

impl Default for ScenarioForm {
    fn default() -> Self {
        Self {
            csrf: String::new(),
            name: String::new(),
            region_code: String::new(),
            horizon_days: default_horizon(),
            surge: "0:2, 7:1".into(),
            types: String::new(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sustainment.html")]
struct ListPage {
    layout: Layout,
    scenarios: Vec<ScenarioLine>,
    exports: Exports,
    can_write: bool,
    form: ScenarioForm,
    message: Option<String>,
}

fn may_write(page: &PageContext) -> bool {
    page.user.as_ref().is_some_and(|u| {
        u.actor.administers()
            || u.actor.has_role(Role::OfficeStaff)
            || u.actor.has_role(Role::MilitaryLiaison)
    })
}

/// The scenarios, or with `?format=csv|xlsx` their table as a download.
pub(crate) async fn list(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let scenarios = scenario_lines(&state, &page).await?;
        let table = scenarios_table(&page.tr, &scenarios);
        return download(&page, format, "sustainment-scenarios", &[table]);
    }
    render_list(&state, &page, ScenarioForm::default(), None, StatusCode::OK).await
}

/// The scenarios of the reader's subtree, as the list shows them.
async fn scenario_lines(
    state: &AppState,
    page: &PageContext,
) -> Result<Vec<ScenarioLine>, crate::pages::PageError> {
    let current = page.require_user()?;
    let stored = state
        .db
        .sustainment_scenarios(current.actor.scope())
        .await
        .map_err(page_err(page))?;
    let mut scenarios = Vec::with_capacity(stored.len());
    for s in stored {
        let document = s.document().map_err(page_err(page))?;
        scenarios.push(ScenarioLine {
            id: s.id,
            name: s.name,
            region_path: s.region_path,
            types: document.types.len(),
            horizon_days: document.horizon_days,
            updated: format_utc(s.updated_at),
        });
    }
    Ok(scenarios)
}

fn scenarios_table(tr: &Tr, scenarios: &[ScenarioLine]) -> Table {
    Table {
        title: tr.t("sustainment.title"),
        headers: vec![
            tr.t("sustainment.name"),
            tr.t("sustainment.region"),
            tr.t("sustainment.types"),
            tr.t("sustainment.horizon"),
            tr.t("sustainment.updated"),
        ],
        rows: scenarios
            .iter()
            .map(|s| {
                vec![
                    text(s.name.clone()),
                    text(s.region_path.clone()),
                    TableCell::Integer(i64::try_from(s.types).unwrap_or(i64::MAX)),
                    TableCell::Integer(i64::from(s.horizon_days)),
                    text(s.updated.clone()),
                ]
            })
            .collect(),
    }
}

async fn render_list(
    state: &AppState,
    page: &PageContext,
    form: ScenarioForm,
    message: Option<String>,
    code: StatusCode,
) -> PageResult {
    let scenarios = scenario_lines(state, page).await?;
    let mut response = ListPage {
        layout: page.layout("sustainment"),
        scenarios,
        exports: Exports::of("/sustainment"),
        can_write: may_write(page),
        form,
        message,
    }
    .into_response();
    *response.status_mut() = code;
    Ok(response)
}

fn number<T: std::str::FromStr>(text: &str, field: &str) -> Result<T, WebError> {
    text.trim().parse().map_err(|_| {
        WebError::refused(
            field,
            format!("{:?}: not a number", text.trim()),
            format!("{:?}：应为数字", text.trim()),
        )
    })
}

impl ScenarioForm {
    fn new_scenario(&self) -> Result<NewScenario, WebError> {
        let surge = self
            .surge
            .split([',', '，'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (day, multiplier) = pair.split_once(':').ok_or_else(|| {
                    WebError::refused("surge", "day:multiplier", "应写作 天:倍数，如 0:3")
                })?;
                Ok(SurgeStep {
                    from_day: number(day, "surge")?,
                    multiplier: number(multiplier, "surge")?,
                })
            })
            .collect::<Result<Vec<_>, WebError>>()?;
        let types = self
            .types
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let parts: Vec<&str> = line.split([',', '，', '\t']).map(str::trim).collect();
                let production = match parts.len() {
                    2 => Vec::new(),
                    6 => vec![ProductionLine {
                        source: parts[2].to_owned(),
                        full_rate_per_day: number(parts[3], "types")?,
                        start_day: number(parts[4], "types")?,
                        ramp_days: number(parts[5], "types")?,
                    }],
                    _ => {
                        return Err(WebError::refused(
                            "types",
                            format!(
                                "{line:?}: type code, daily consumption[, enterprise, rate per day, start day, ramp days]"
                            ),
                            format!(
                                "{line:?}：每行依次为类型代码、日消耗[、企业、日产量、开始日、爬坡天数]"
                            ),
                        ));
                    }
                };
                Ok(ScenarioTypeDocument {
                    type_code: parts[0].to_owned(),
                    daily_consumption: number(parts[1], "types")?,
                    production,
                })
            })
            .collect::<Result<Vec<_>, WebError>>()?;
        let region_code = self.region_code.trim();
        Ok(NewScenario {
            name: self.name.clone(),
            region_code: (!region_code.is_empty()).then(|| region_code.to_owned()),
            document: ScenarioDocument {
                horizon_days: number(&self.horizon_days, "horizon_days")?,
                surge,
                types,
            },
        })
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<ScenarioForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let locale = page.tr.locale;
    let message = match form.new_scenario() {
        Err(e) => e.said_in(locale),
        Ok(new) => match state
            .db
            .save_sustainment_scenario(&current.actor, None, new)
            .await
        {
            Ok(stored) => {
                return Ok(Redirect::to(&format!("/sustainment/{}", stored.id)).into_response());
            }
            Err(
                e @ (StorageError::Refused { .. }
                | StorageError::Forbidden(_)
                | StorageError::OutOfScope { .. }
                | StorageError::NotFound { .. }),
            ) => WebError::from(e).said_in(locale),
            Err(other) => return Err(page.error(other.into())),
        },
    };
    render_list(
        &state,
        &page,
        form,
        Some(message),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The what-if and the charted type, as query parameters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportQuery {
    /// The type to chart; the bottleneck (or the first type) when absent.
    #[serde(rename = "type")]
    chart_type: Option<String>,
    add_type: Option<String>,
    add_quantity: Option<String>,
    convert_enterprise: Option<String>,
    convert_type: Option<String>,
    convert_rate: Option<String>,
    convert_start: Option<String>,
    convert_ramp: Option<String>,
    /// `csv` or `xlsx`: the table of types, with the what-if, as a download.
    format: Option<String>,
}

fn filled(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

impl ReportQuery {
    /// The report's own address with the what-if (without the charted type, which the table
    /// does not depend on).
    fn what_if_href(&self, id: i64) -> String {
        format!(
            "/sustainment/{id}{}",
            query_string(&[
                ("add_type", filled(&self.add_type)),
                ("add_quantity", filled(&self.add_quantity)),
                ("convert_enterprise", filled(&self.convert_enterprise)),
                ("convert_type", filled(&self.convert_type)),
                ("convert_rate", filled(&self.convert_rate)),
                ("convert_start", filled(&self.convert_start)),
                ("convert_ramp", filled(&self.convert_ramp)),
            ])
        )
    }

    fn adjustments(&self) -> Result<Vec<Adjustment>, WebError> {
        let mut adjustments = Vec::new();
        if let Some(type_code) = filled(&self.add_type) {
            adjustments.push(Adjustment::AddStock {
                type_code: type_code.to_owned(),
                quantity: number(filled(&self.add_quantity).unwrap_or(""), "add_quantity")?,
            });
        }
        if let Some(type_code) = filled(&self.convert_type) {
            adjustments.push(Adjustment::ConvertEnterprise {
                enterprise: filled(&self.convert_enterprise).unwrap_or("").to_owned(),
                type_code: type_code.to_owned(),
                full_rate_per_day: number(
                    filled(&self.convert_rate).unwrap_or(""),
                    "convert_rate",
                )?,
                start_day: number(filled(&self.convert_start).unwrap_or("0"), "convert_start")?,
                ramp_days: number(filled(&self.convert_ramp).unwrap_or("0"), "convert_ramp")?,
            });
        }
        Ok(adjustments)
    }
}

#[derive(Debug)]
struct TypeRow {
    type_code: String,
    name: String,
    is_bottleneck: bool,
    verified: String,
    unverified: String,
    age_days: u32,
    daily_consumption: String,
    initial: String,
    days: String,
    runs_out: String,
    extra: String,
    adjusted_days: Option<String>,
    chart_href: String,
}

/// The chart of one type: plain numbers for the SVG, computed here and escaped by the
/// template.
#[derive(Debug)]
struct StockChart {
    label: String,
    width: u32,
    height: u32,
    plot_left: u32,
    plot_right: u32,
    plot_top: u32,
    plot_bottom: u32,
    band_points: String,
    expected_points: String,
    adjusted_points: Option<String>,
    run_out_x: Option<String>,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
}

#[derive(Debug)]
struct Tick {
    position: String,
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sustainment_report.html")]
struct ReportPage {
    layout: Layout,
    id: i64,
    name: String,
    region_path: String,
    horizon_days: u16,
    days: String,
    adjusted_days: Option<String>,
    bottleneck: Option<String>,
    bottleneck_day: Option<u16>,
    unverified_percent: String,
    decay_percent: String,
    rows: Vec<TypeRow>,
    exports: Exports,
    chart: Option<StockChart>,
    type_codes: Vec<String>,
    query: ReportForm,
    message: Option<String>,
    /// Whether the reader may delete the scenario (storage decides again).
    can_write: bool,
}

/// The what-if form's values, shown again.
#[derive(Debug, Default)]
struct ReportForm {
    add_type: String,
    add_quantity: String,
    convert_enterprise: String,
    convert_type: String,
    convert_rate: String,
    convert_start: String,
    convert_ramp: String,
}

fn band_days(band: Band<u16>) -> String {
    if band.low == band.high {
        band.expected.to_string()
    } else {
        format!("{} ({}–{})", band.expected, band.low, band.high)
    }
}

fn quantity(value: f64) -> String {
    if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The run's table of types. The page's type column (the name, then the code) is two here;
/// the stock and the days keep the page's "expected (low–high)".
fn types_table(tr: &Tr, scenario: &str, rows: &[TypeRow], with_what_if: bool) -> Table {
    let mut headers = vec![
        tr.t("sustainment.type"),
        tr.t("potential.code"),
        tr.t("sustainment.verified"),
        tr.t("sustainment.unverified"),
        tr.t("sustainment.age_days"),
        tr.t("sustainment.consumption"),
        tr.t("sustainment.initial_stock"),
        tr.t("sustainment.days_lasted"),
        tr.t("sustainment.runs_out_day"),
        tr.t("sustainment.extra_stock"),
    ];
    if with_what_if {
        headers.push(tr.t("sustainment.days_with_what_if"));
    }
    Table {
        title: scenario.to_owned(),
        headers,
        rows: rows
            .iter()
            .map(|r| {
                let mut cells = vec![
                    text(r.name.clone()),
                    text(r.type_code.clone()),
                    shown_number(&r.verified),
                    shown_number(&r.unverified),
                    TableCell::Integer(i64::from(r.age_days)),
                    shown_number(&r.daily_consumption),
                    text(r.initial.clone()),
                    shown_number(&r.days),
                    shown_number(&r.runs_out),
                    shown_number(&r.extra),
                ];
                if with_what_if {
                    cells.push(
                        r.adjusted_days
                            .as_deref()
                            .map_or(TableCell::Empty, shown_number),
                    );
                }
                cells
            })
            .collect(),
    }
}

const CHART_WIDTH: u32 = 720;
const CHART_HEIGHT: u32 = 300;
const PLOT_LEFT: u32 = 70;
const PLOT_RIGHT: u32 = 700;
const PLOT_TOP: u32 = 10;
const PLOT_BOTTOM: u32 = 270;

/// Lays out one type's stock over the days: the band (low to high) as a polygon, the
/// expected stock and, with a what-if, the adjusted expected stock as lines.
fn stock_chart(
    label: String,
    base: &TypeSustainment,
    adjusted: Option<&TypeSustainment>,
) -> StockChart {
    let days = base.series.len().max(1);
    let top_value = base
        .series
        .iter()
        .map(|b| b.high)
        .chain(
            adjusted
                .iter()
                .flat_map(|a| a.series.iter().map(|b| b.expected)),
        )
        .chain([base.initial_stock.high])
        .fold(0.0f64, f64::max)
        .max(1.0);
    let x = |day: usize| {
        f64::from(PLOT_LEFT) + (day as f64) * f64::from(PLOT_RIGHT - PLOT_LEFT) / days as f64
    };
    let y =
        |value: f64| f64::from(PLOT_BOTTOM) - value / top_value * f64::from(PLOT_BOTTOM - PLOT_TOP);
    let point = |day: usize, value: f64| format!("{:.1},{:.1}", x(day), y(value));
    // Day 0 starts from the initial stock; entry d of the series is the end of day d.
    let line = |start: f64, series: &mut dyn Iterator<Item = f64>| {
        std::iter::once(point(0, start))
            .chain(series.enumerate().map(|(d, v)| point(d + 1, v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let high = line(
        base.initial_stock.high,
        &mut base.series.iter().map(|b| b.high),
    );
    let mut low_points: Vec<String> = std::iter::once(point(0, base.initial_stock.low))
        .chain(
            base.series
                .iter()
                .enumerate()
                .map(|(d, b)| point(d + 1, b.low)),
        )
        .collect();
    low_points.reverse();
    let band_points = format!("{high} {}", low_points.join(" "));
    let expected_points = line(
        base.initial_stock.expected,
        &mut base.series.iter().map(|b| b.expected),
    );
    let adjusted_points = adjusted.map(|a| {
        line(
            a.initial_stock.expected,
            &mut a.series.iter().map(|b| b.expected),
        )
    });
    let y_ticks = (0..=4)
        .map(|i| {
            let value = top_value * f64::from(i) / 4.0;
            Tick {
                position: format!("{:.1}", y(value)),
                label: quantity(value.round()),
            }
        })
        .collect();
    let step = match days {
        0..=30 => 5,
        31..=120 => 15,
        _ => 30,
    };
    let x_ticks = (0..=days)
        .step_by(step)
        .map(|d| Tick {
            position: format!("{:.1}", x(d)),
            label: d.to_string(),
        })
        .collect();
    StockChart {
        label,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        plot_left: PLOT_LEFT,
        plot_right: PLOT_RIGHT,
        plot_top: PLOT_TOP,
        plot_bottom: PLOT_BOTTOM,
        band_points,
        expected_points,
        adjusted_points,
        run_out_x: base
            .runs_out_day
            .expected
            .map(|d| format!("{:.1}", x(usize::from(d)))),
        y_ticks,
        x_ticks,
    }
}

fn report_href(id: i64, chart_type: &str) -> String {
    format!(
        "/sustainment/{id}{}",
        query_string(&[("type", Some(chart_type))])
    )
}

/// A scenario's run, or with `?format=csv|xlsx` its table of types as a download (with the
/// what-if's column when the query asks one).
pub(crate) async fn report(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<ReportQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let current = page.require_user()?;
    let scope = current.actor.scope();
    let locale = page.tr.locale;
    let (adjustments, mut message) = match query.adjustments() {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e.said_in(locale))),
    };
    let now = muster_storage::now();
    let run = match state.db.run_sustainment(scope, id, &adjustments, now).await {
        Ok(run) => run,
        Err(e @ StorageError::Refused { .. }) if !adjustments.is_empty() => {
            message = Some(WebError::from(e).said_in(locale));
            state
                .db
                .run_sustainment(scope, id, &[], now)
                .await
                .map_err(page_err(&page))?
        }
        Err(e) => return Err(page.error(e.into())),
    };
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let report: &SustainmentReport = &run.report;
    let bottleneck = report.bottleneck.as_ref();
    let chart_code = filled(&query.chart_type)
        .map(str::to_owned)
        .or_else(|| bottleneck.map(|b| b.type_code.clone()))
        .or_else(|| report.types.first().map(|t| t.type_code.clone()));
    let rows = report
        .types
        .iter()
        .zip(run.base.types())
        .map(|(t, scenario)| {
            let stock = run.stock.get(&t.type_code).copied().unwrap_or_default();
            TypeRow {
                type_code: t.type_code.clone(),
                name: type_name(&taxonomy, &t.type_code, locale),
                is_bottleneck: bottleneck.is_some_and(|b| b.type_code == t.type_code),
                verified: quantity(stock.verified),
                unverified: quantity(stock.unverified),
                age_days: stock.age_days,
                daily_consumption: quantity(scenario.daily_consumption),
                initial: format!(
                    "{} ({}–{})",
                    quantity(t.initial_stock.expected),
                    quantity(t.initial_stock.low),
                    quantity(t.initial_stock.high)
                ),
                days: band_days(t.days_lasted),
                runs_out: t
                    .runs_out_day
                    .expected
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                extra: quantity(t.extra_stock_to_last_horizon.expected.ceil()),
                adjusted_days: run.adjusted.as_ref().and_then(|a| {
                    a.types
                        .iter()
                        .find(|x| x.type_code == t.type_code)
                        .map(|x| band_days(x.days_lasted))
                }),
                chart_href: report_href(id, &t.type_code),
            }
        })
        .collect::<Vec<TypeRow>>();
    let with_what_if = run.adjusted.is_some();
    if let Some(format) = format {
        let table = types_table(&page.tr, &run.scenario.name, &rows, with_what_if);
        return download(&page, format, &format!("sustainment-{id}"), &[table]);
    }
    let chart = chart_code.as_deref().and_then(|code| {
        let base = report.types.iter().find(|t| t.type_code == code)?;
        let adjusted = run
            .adjusted
            .as_ref()
            .and_then(|a| a.types.iter().find(|t| t.type_code == code));
        Some(stock_chart(
            format!("{} ({code})", type_name(&taxonomy, code, locale)),
            base,
            adjusted,
        ))
    });
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    Ok(ReportPage {
        layout: page.layout("sustainment"),
        can_write: may_write(&page),
        id,
        name: run.scenario.name.clone(),
        region_path: run.scenario.region_path.clone(),
        horizon_days: report.horizon_days,
        days: band_days(report.days_of_sustainment),
        adjusted_days: run
            .adjusted
            .as_ref()
            .map(|a| band_days(a.days_of_sustainment)),
        bottleneck: bottleneck.map(|b| {
            format!(
                "{} ({})",
                type_name(&taxonomy, &b.type_code, locale),
                b.type_code
            )
        }),
        bottleneck_day: bottleneck.map(|b| b.runs_out_day),
        unverified_percent: format!("{:.0}", run.policy.unverified_share() * 100.0),
        decay_percent: format!("{:.0}", run.policy.decay_per_30_days() * 100.0),
        rows,
        exports: Exports::of(&query.what_if_href(id)),
        chart,
        type_codes: report.types.iter().map(|t| t.type_code.clone()).collect(),
        query: ReportForm {
            add_type: text(&query.add_type),
            add_quantity: text(&query.add_quantity),
            convert_enterprise: text(&query.convert_enterprise),
            convert_type: text(&query.convert_type),
            convert_rate: text(&query.convert_rate),
            convert_start: text(&query.convert_start),
            convert_ramp: text(&query.convert_ramp),
        },
        message,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_types_surge_and_production() {
        let form = ScenarioForm {
            name: "x".into(),
            surge: "0:3, 7:1.5".into(),
            types: "CAD.MAT.TENT_12, 40\nCAD.MAT.SANDBAG，100，Hefei Works，50，10，5\n".into(),
            ..ScenarioForm::default()
        };
        let new = form.new_scenario().expect("reads");
        assert_eq!(new.document.horizon_days, 90);
        assert_eq!(new.document.surge.len(), 2);
        assert_eq!(new.document.surge[1].multiplier, 1.5);
        assert_eq!(new.document.types.len(), 2);
        assert_eq!(new.document.types[1].production[0].source, "Hefei Works");
        assert_eq!(new.document.types[1].production[0].ramp_days, 5);
        let bad = ScenarioForm {
            types: "CAD.MAT.TENT_12, 40, extra".into(),
            ..ScenarioForm::default()
        };
        assert!(bad.new_scenario().is_err());
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The "yes, delete it" box: a plan is not lost to one stray click.
    #[serde(default)]
    confirm: Option<String>,
}

/// The report page's delete button: the scenario goes, the list comes back.
pub(crate) async fn delete(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    if form.confirm.is_none() {
        return Err(page.error(WebError::refused(
            "confirm",
            "tick the box to confirm the deletion",
            "请勾选确认框后再删除",
        )));
    }
    state
        .db
        .delete_sustainment_scenario(&current.actor, id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to("/sustainment").into_response())
}
