//! The facility pages: the subtree dashboard with its map, "my rounds today" and the phone
//! inspection form, a facility's page, the rectification orders, and the page a property
//! manager without an account opens from a link.
//!
//! The dashboard's tables and the orders list download as CSV or XLSX with
//! `format=csv|xlsx` (the dashboard's one at a time, named by `table=`), built from the same
//! lines the page shows, so they hold what the reader's page holds.
//!
//! The inspection form works without JavaScript (a plain form post, no photos); with it,
//! `/assets/inspect.js` keeps the draft on the phone, uploads photos in resumable chunks and
//! submits through the API with the form's idempotency key, so a dropped connection loses
//! nothing and a retry never makes a second inspection.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::Timestamp;
use muster_domain::facility::{
    InspectionDraft, ItemAnswer, ItemResult, OrderAction, OrderStatus, ReadyCapacity,
};
use muster_domain::sheet::{Table, TableCell};
use muster_domain::time::CivilDate;
use muster_storage::{
    ContentHash, Facility, FacilityDashboard, MapPoint, MapStatus, OrderEvent, OrderFilter,
    RectificationOrder,
};
use rand::RngCore;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::facilities_api::{parse_order_filter, serve_blob};
use crate::i18n::Tr;
use crate::page_parts::{Exports, chosen_table, date_time, download};
use crate::pages::{Layout, PageContext, PageResult};
use crate::potential_view::{ExportFormat, FormatQuery, file_part, query_string, text};

/// The map is drawn in this box; points beyond [`MAP_MAX_POINTS`] are binned into cells.
const MAP_WIDTH: f64 = 640.0;
const MAP_HEIGHT: f64 = 420.0;
const MAP_MAX_POINTS: usize = 3000;

/// The dashboard lists the first overdue orders and campaigns; `/orders?filter=overdue`
/// and `/campaigns` list them all. Each download holds the rows its table shows.
const DASHBOARD_OVERDUE: i64 = 20;
const DASHBOARD_CAMPAIGNS: usize = 10;

/// The orders the orders page lists (storage reads at most a thousand at once, without a
/// cursor); its download holds the same orders.
const ORDERS_SHOWN: i64 = 500;

/// The dashboard's query: the region, and `format=csv|xlsx` with `table=` to download one
/// of its tables instead.
#[derive(Debug, Deserialize)]
pub(crate) struct RegionQuery {
    region: Option<String>,
    format: Option<String>,
    table: Option<String>,
}

/// The dashboard's tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DashboardTable {
    Readiness,
    Orders,
    Kinds,
    Campaigns,
}

impl DashboardTable {
    const CHOICES: [(&'static str, DashboardTable); 4] = [
        ("readiness", DashboardTable::Readiness),
        ("orders", DashboardTable::Orders),
        ("kinds", DashboardTable::Kinds),
        ("campaigns", DashboardTable::Campaigns),
    ];

    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, table)| *table == self)
            .map_or("readiness", |(name, _)| name)
    }
}

#[derive(Debug)]
struct KindLine {
    kind_key: String,
    facilities: i64,
    capacity: i64,
    due: i64,
    signed: i64,
    parking: i64,
    charging: i64,
}

#[derive(Debug)]
struct OrderLine {
    id: i64,
    facility_id: i64,
    facility: String,
    item: String,
    status_key: String,
    deadline: String,
    overdue: bool,
    escalated: bool,
    manager: String,
}

impl OrderLine {
    fn of(order: &RectificationOrder, now: Timestamp) -> Self {
        Self {
            id: order.id,
            facility_id: order.facility_id,
            facility: order.facility_name.clone(),
            item: order.item_label.clone(),
            status_key: format!("facilities.order_status.{}", order.status),
            deadline: order.deadline().to_string(),
            overdue: order.is_overdue(now),
            escalated: order.escalated_at.is_some(),
            manager: order.manager_name.clone().unwrap_or_default(),
        }
    }
}

/// A reminder, escalation or patrol alert, as the app shows it.
#[derive(Debug)]
struct NoteLine {
    when: String,
    kind_key: String,
    message: String,
    order_id: Option<i64>,
}

/// The latest notifications for the reader: what the notifier sent, shown in the app too.
async fn note_lines(
    state: &AppState,
    actor: &muster_domain::Actor,
) -> Result<Vec<NoteLine>, WebError> {
    Ok(state
        .db
        .notifications(actor, 10)
        .await?
        .into_iter()
        .map(|n| NoteLine {
            when: date_time(n.created_at),
            kind_key: format!("facilities.notice.{}", n.kind),
            order_id: (n.kind != "missed_checkpoint")
                .then_some(n.subject_id)
                .flatten(),
            message: n.message,
        })
        .collect())
}

#[derive(Debug)]
struct CampaignLine {
    id: i64,
    name: String,
    done: u64,
    total: u64,
    percent: String,
    target_date: String,
    completion: String,
    on_track: bool,
}

/// A dot (or a binned cell) on the map, in SVG coordinates.
#[derive(Debug)]
struct Dot {
    x: String,
    y: String,
    r: String,
    class: &'static str,
    title: String,
    href: String,
}

/// A background tile from a configured tile server, placed in SVG coordinates.
#[derive(Debug)]
struct Tile {
    href: String,
    x: String,
    y: String,
    size: String,
}

#[derive(Debug, Default)]
struct MapView {
    dots: Vec<Dot>,
    tiles: Vec<Tile>,
    binned: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "facilities.html")]
struct DashboardPage {
    layout: Layout,
    region: String,
    dashboard: FacilityDashboard,
    up_to_date: i64,
    kinds: Vec<KindLine>,
    overdue: Vec<OrderLine>,
    campaigns: Vec<CampaignLine>,
    notes: Vec<NoteLine>,
    map: MapView,
    width: f64,
    height: f64,
    /// Whether to link the registration form and the grids page: only for those storage
    /// lets register (`may_manage_facilities`).
    can_manage: bool,
    readiness_exports: Exports,
    overdue_exports: Exports,
    kinds_exports: Exports,
    campaigns_exports: Exports,
}

fn kind_lines(dashboard: &FacilityDashboard) -> Vec<KindLine> {
    dashboard
        .kinds
        .iter()
        .map(|k| KindLine {
            kind_key: format!("facilities.kind.{}", k.kind),
            facilities: k.facilities,
            capacity: k.capacity,
            due: k.due,
            signed: k.signed,
            parking: k.parking,
            charging: k.charging,
        })
        .collect()
}

fn region_param(query: &RegionQuery) -> Option<&str> {
    query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

pub(crate) async fn dashboard(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RegionQuery>,
) -> PageResult {
    let user = page.require_user()?;
    let actor = &user.actor;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let table = chosen_table(
        query.table.as_deref(),
        DashboardTable::Readiness,
        &DashboardTable::CHOICES,
    )
    .map_err(|e| page.error(e))?;
    let now = muster_storage::now();
    let region = region_param(&query);
    let fail = |e: muster_storage::StorageError| page.error(WebError::from(e));
    let dashboard = state
        .db
        .facility_dashboard(actor, region, now)
        .await
        .map_err(fail)?;
    let overdue: Vec<OrderLine> = state
        .db
        .orders(actor, region, OrderFilter::Overdue, now, DASHBOARD_OVERDUE)
        .await
        .map_err(fail)?
        .iter()
        .map(|o| OrderLine::of(o, now))
        .collect();
    let mut campaigns = Vec::new();
    for campaign in state
        .db
        .campaigns(actor)
        .await
        .map_err(fail)?
        .into_iter()
        .take(DASHBOARD_CAMPAIGNS)
    {
        let progress = state
            .db
            .campaign_progress(actor, campaign.id, now)
            .await
            .map_err(fail)?;
        let f = &progress.forecast;
        campaigns.push(CampaignLine {
            id: campaign.id,
            name: campaign.name.clone(),
            done: f.done,
            total: f.total,
            percent: format!("{:.0}", f.percent()),
            target_date: CivilDate::from_days(campaign.target_day).to_string(),
            completion: f.completion.map(|d| d.to_string()).unwrap_or_default(),
            on_track: f.on_track,
        });
    }
    let kinds = kind_lines(&dashboard);
    let tr = page.tr;
    if let Some(format) = format {
        let sheet = match table {
            DashboardTable::Readiness => readiness_table(tr, &dashboard.ready),
            DashboardTable::Orders => {
                order_table(tr, tr.t("facilities.overdue_title"), &overdue, false)
            }
            DashboardTable::Kinds => kind_table(tr, &kinds),
            DashboardTable::Campaigns => campaign_table(tr, &campaigns),
        };
        let stem = format!(
            "facilities-{}-{}",
            file_part(region.unwrap_or("all")),
            table.name()
        );
        return download(&page, format, &stem, &[sheet]);
    }
    let points = state
        .db
        .facility_map_points(actor, region, now, 50_000)
        .await
        .map_err(fail)?;
    let map = draw_map(&points, state.config.map_tile_url.as_deref());
    let notes = note_lines(&state, actor).await.map_err(|e| page.error(e))?;
    let here = format!("/facilities{}", query_string(&[("region", region)]));
    let exports = |table: DashboardTable| Exports::of_table(&here, table.name());
    Ok(DashboardPage {
        layout: page.layout("facilities"),
        region: region.unwrap_or_default().to_owned(),
        up_to_date: dashboard.up_to_date(),
        kinds,
        dashboard,
        overdue,
        campaigns,
        notes,
        map,
        width: MAP_WIDTH,
        height: MAP_HEIGHT,
        can_manage: muster_storage::may_manage_facilities(actor),
        readiness_exports: exports(DashboardTable::Readiness),
        overdue_exports: exports(DashboardTable::Orders),
        kinds_exports: exports(DashboardTable::Kinds),
        campaigns_exports: exports(DashboardTable::Campaigns),
    }
    .into_response())
}

/// A count as a spreadsheet number (a count beyond `i64` cannot occur).
fn count_cell(value: u64) -> TableCell {
    TableCell::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// A percentage as the page shows it (rounded, without the sign) as a number, so that the
/// download and the page cannot differ by a rounding.
pub(crate) fn percent_cell(shown: &str) -> TableCell {
    shown
        .parse::<i64>()
        .map_or_else(|_| text(shown), TableCell::Integer)
}

/// The header of a column of percentages: the page's header with the unit its cells show.
pub(crate) fn percent_header(tr: Tr, key: &str) -> String {
    format!("{} (%)", tr.t(key))
}

/// The protected capacity ready within each time, as the dashboard's first table.
fn readiness_table(tr: Tr, ready: &ReadyCapacity) -> Table {
    Table {
        title: tr.t("facilities.readiness"),
        headers: [
            "facilities.ready_24h",
            "facilities.ready_72h",
            "facilities.ready_week",
            "facilities.capacity",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: vec![vec![
            count_cell(ready.within_24_hours),
            count_cell(ready.within_72_hours),
            count_cell(ready.within_week),
            count_cell(ready.total),
        ]],
    }
}

/// Orders as the order tables show them; the page's "escalated" badge beside the deadline
/// is a column of its own. The dashboard's overdue orders have no status column.
fn order_table(tr: Tr, title: String, orders: &[OrderLine], with_status: bool) -> Table {
    let mut headers = vec![
        "#".to_owned(),
        tr.t("facilities.facility"),
        tr.t("facilities.item"),
    ];
    if with_status {
        headers.push(tr.t("facilities.status"));
    }
    headers.extend([
        tr.t("facilities.deadline"),
        tr.t("facilities.escalated"),
        tr.t("facilities.manager"),
    ]);
    let rows = orders
        .iter()
        .map(|o| {
            let mut row = vec![
                TableCell::Integer(o.id),
                text(o.facility.clone()),
                text(o.item.clone()),
            ];
            if with_status {
                row.push(text(tr.t(&o.status_key)));
            }
            row.extend([
                text(o.deadline.clone()),
                text(if o.escalated {
                    tr.t("facilities.escalated")
                } else {
                    String::new()
                }),
                text(o.manager.clone()),
            ]);
            row
        })
        .collect();
    Table {
        title,
        headers,
        rows,
    }
}

/// The facilities of each kind, as the dashboard's table by kind.
fn kind_table(tr: Tr, kinds: &[KindLine]) -> Table {
    Table {
        title: tr.t("facilities.by_kind"),
        headers: [
            "facilities.kind_label",
            "facilities.count",
            "facilities.capacity",
            "facilities.due",
            "facilities.signed",
            "facilities.parking",
            "facilities.charging",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: kinds
            .iter()
            .map(|k| {
                vec![
                    text(tr.t(&k.kind_key)),
                    TableCell::Integer(k.facilities),
                    TableCell::Integer(k.capacity),
                    TableCell::Integer(k.due),
                    TableCell::Integer(k.signed),
                    TableCell::Integer(k.parking),
                    TableCell::Integer(k.charging),
                ]
            })
            .collect(),
    }
}

/// The dashboard's campaigns; the page's "done / total (percent)" is three number columns.
fn campaign_table(tr: Tr, campaigns: &[CampaignLine]) -> Table {
    Table {
        title: tr.t("facilities.campaigns"),
        headers: vec![
            tr.t("facilities.campaign"),
            tr.t("campaigns.done"),
            tr.t("campaigns.total"),
            percent_header(tr, "facilities.progress"),
            tr.t("facilities.target_date"),
            tr.t("facilities.forecast"),
        ],
        rows: campaigns
            .iter()
            .map(|c| {
                vec![
                    text(c.name.clone()),
                    count_cell(c.done),
                    count_cell(c.total),
                    percent_cell(&c.percent),
                    text(c.target_date.clone()),
                    text(if c.completion.is_empty() {
                        tr.t("facilities.stalled")
                    } else {
                        c.completion.clone()
                    }),
                ]
            })
            .collect(),
    }
}

fn status_class(status: MapStatus) -> &'static str {
    match status {
        MapStatus::Good => "map-good",
        MapStatus::InspectionDue => "map-due",
        MapStatus::OpenOrder => "map-order",
        MapStatus::OverdueOrder => "map-overdue",
    }
}

/// Projects the points into the map box (equirectangular, longitudes shrunk by the cosine of
/// the middle latitude so that shapes are not stretched); beyond [`MAP_MAX_POINTS`] points
/// they are binned into cells coloured by their worst status and sized by their count.
fn draw_map(points: &[MapPoint], tile_url: Option<&str>) -> MapView {
    let Some(bounds) = Bounds::of(points) else {
        return MapView::default();
    };
    let fmt = |v: f64| format!("{v:.1}");
    let mut view = MapView {
        tiles: bounds.tiles(tile_url),
        ..MapView::default()
    };
    if points.len() <= MAP_MAX_POINTS {
        view.dots = points
            .iter()
            .map(|p| {
                let (x, y) = bounds.project(p.lat, p.lon);
                Dot {
                    x: fmt(x),
                    y: fmt(y),
                    r: "4".into(),
                    class: status_class(p.status),
                    title: p.name.clone(),
                    href: format!("/facilities/{}", p.id),
                }
            })
            .collect();
        return view;
    }
    view.binned = true;
    let cell = 12.0;
    let mut cells: HashMap<(i64, i64), (usize, MapStatus)> = HashMap::new();
    for p in points {
        let (x, y) = bounds.project(p.lat, p.lon);
        let key = ((x / cell) as i64, (y / cell) as i64);
        let entry = cells.entry(key).or_insert((0, MapStatus::Good));
        entry.0 += 1;
        entry.1 = entry.1.max(p.status);
    }
    let mut cells: Vec<_> = cells.into_iter().collect();
    cells.sort_by_key(|(key, _)| *key);
    view.dots = cells
        .into_iter()
        .map(|((cx, cy), (count, status))| Dot {
            x: fmt((cx as f64 + 0.5) * cell),
            y: fmt((cy as f64 + 0.5) * cell),
            r: fmt((2.0 + (count as f64).sqrt()).min(cell / 2.0 + 2.0)),
            class: status_class(status),
            title: count.to_string(),
            href: String::new(),
        })
        .collect();
    view
}

struct Bounds {
    min_lat: f64,
    max_lat: f64,
    min_lon: f64,
    max_lon: f64,
    scale: f64,
    shrink: f64,
}

impl Bounds {
    fn of(points: &[MapPoint]) -> Option<Self> {
        let first = points.first()?;
        let (mut min_lat, mut max_lat, mut min_lon, mut max_lon) =
            (first.lat, first.lat, first.lon, first.lon);
        for p in points {
            min_lat = min_lat.min(p.lat);
            max_lat = max_lat.max(p.lat);
            min_lon = min_lon.min(p.lon);
            max_lon = max_lon.max(p.lon);
        }
        // A margin, and a minimum extent so that one facility is not a division by zero.
        let pad = ((max_lat - min_lat).max(max_lon - min_lon) * 0.05).max(0.005);
        let (min_lat, max_lat, min_lon, max_lon) =
            (min_lat - pad, max_lat + pad, min_lon - pad, max_lon + pad);
        let shrink = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.1);
        let scale =
            (MAP_WIDTH / ((max_lon - min_lon) * shrink)).min(MAP_HEIGHT / (max_lat - min_lat));
        Some(Self {
            min_lat,
            max_lat,
            min_lon,
            max_lon,
            scale,
            shrink,
        })
    }

    fn project(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (lon - self.min_lon) * self.shrink * self.scale,
            (self.max_lat - lat) * self.scale,
        )
    }

    /// Tiles of a configured `{z}/{x}/{y}` server covering the box, at the zoom where a tile
    /// is about as wide as a fifth of the map. Placed approximately (the map's projection is
    /// not Web Mercator's), which at a county's extent is a few pixels.
    fn tiles(&self, tile_url: Option<&str>) -> Vec<Tile> {
        let Some(template) = tile_url.filter(|t| !t.is_empty()) else {
            return Vec::new();
        };
        let span = (self.max_lon - self.min_lon).max(1e-6);
        let zoom = ((360.0 / (span / 5.0)).log2().floor() as i64).clamp(1, 17);
        let n = f64::powi(2.0, zoom as i32);
        let tile_x = |lon: f64| ((lon + 180.0) / 360.0 * n).floor() as i64;
        let tile_y = |lat: f64| {
            let rad = lat.to_radians();
            ((1.0 - (rad.tan() + 1.0 / rad.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor()
                as i64
        };
        let lon_of = |x: i64| x as f64 / n * 360.0 - 180.0;
        let lat_of = |y: i64| {
            let k = std::f64::consts::PI * (1.0 - 2.0 * y as f64 / n);
            k.sinh().atan().to_degrees()
        };
        let mut tiles = Vec::new();
        for x in tile_x(self.min_lon)..=tile_x(self.max_lon) {
            for y in tile_y(self.max_lat)..=tile_y(self.min_lat) {
                if tiles.len() >= 64 {
                    return tiles;
                }
                let (left, top) = self.project(lat_of(y), lon_of(x));
                let (right, _) = self.project(lat_of(y), lon_of(x + 1));
                tiles.push(Tile {
                    href: template
                        .replace("{z}", &zoom.to_string())
                        .replace("{x}", &x.to_string())
                        .replace("{y}", &y.to_string()),
                    x: format!("{left:.1}"),
                    y: format!("{top:.1}"),
                    size: format!("{:.1}", right - left),
                });
            }
        }
        tiles
    }
}

#[derive(Debug)]
struct RoundLine {
    id: i64,
    name: String,
    kind_key: String,
    due: String,
    overdue_days: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_rounds.html")]
struct RoundsPage {
    layout: Layout,
    today: String,
    lines: Vec<RoundLine>,
    done: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoundsQuery {
    done: Option<String>,
}

pub(crate) async fn rounds(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RoundsQuery>,
) -> PageResult {
    let user = page.require_user()?;
    let today = muster_storage::now().date();
    let due = state
        .db
        .rounds_due(&user.actor, today, 200)
        .await
        .map_err(|e| page.error(e.into()))?;
    let lines = due
        .iter()
        .map(|f| RoundLine {
            id: f.id,
            name: f.name.clone(),
            kind_key: format!("facilities.kind.{}", f.kind),
            due: f.next_due().to_string(),
            overdue_days: today.days_since_epoch() - f.next_due_day,
        })
        .collect();
    Ok(RoundsPage {
        layout: page.layout("rounds"),
        today: today.to_string(),
        lines,
        done: query.done.is_some(),
    }
    .into_response())
}

#[derive(Debug)]
struct ItemLine {
    code: String,
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_inspect.html")]
struct InspectPage {
    layout: Layout,
    facility: Facility,
    kind_key: String,
    items: Vec<ItemLine>,
    idempotency_key: String,
    message: Option<String>,
}

fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) async fn inspect_page(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    let user = page.require_user()?;
    let facility = state
        .db
        .facility(&user.actor, id)
        .await
        .map_err(|e| page.error(e.into()))?;
    let checklist = state
        .db
        .checklist(facility.kind())
        .await
        .map_err(|e| page.error(e.into()))?;
    let locale = page.tr.locale;
    let items = checklist
        .items
        .iter()
        .map(|i| ItemLine {
            code: i.code.clone(),
            label: i.label(locale).to_owned(),
        })
        .collect();
    Ok(InspectPage {
        layout: page.layout("rounds"),
        kind_key: format!("facilities.kind.{}", facility.kind),
        facility,
        items,
        idempotency_key: new_key(),
        message: None,
    }
    .into_response())
}

/// The form post of the inspection page without JavaScript: `result_<code>` and
/// `note_<code>` per item, the notes and the idempotency key.
pub(crate) async fn inspect_submit(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(form.get("csrf").map(String::as_str))
        .map_err(|e| page.error(e))?;
    let facility = state
        .db
        .facility(&user.actor, id)
        .await
        .map_err(|e| page.error(e.into()))?;
    let checklist = state
        .db
        .checklist(facility.kind())
        .await
        .map_err(|e| page.error(e.into()))?;
    let answers = checklist
        .items
        .iter()
        .filter_map(|item| {
            let result = ItemResult::parse(form.get(&format!("result_{}", item.code))?)?;
            Some(ItemAnswer {
                code: item.code.clone(),
                result,
                note: form
                    .get(&format!("note_{}", item.code))
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect();
    let now = muster_storage::now();
    let draft = InspectionDraft {
        answers,
        notes: form.get("notes").cloned().unwrap_or_default(),
        latitude: None,
        longitude: None,
        inspected_at: now,
    };
    let key = form.get("idempotency_key").cloned().unwrap_or_default();
    match state
        .db
        .record_inspection(&user.actor, id, &key, &draft, &[], now)
        .await
    {
        Ok(_) => Ok(Redirect::to("/rounds?done=1").into_response()),
        Err(
            e @ (muster_storage::StorageError::Refused { .. }
            | muster_storage::StorageError::Conflict { .. }),
        ) => {
            let locale = page.tr.locale;
            let items = checklist
                .items
                .iter()
                .map(|i| ItemLine {
                    code: i.code.clone(),
                    label: i.label(locale).to_owned(),
                })
                .collect();
            Ok(InspectPage {
                layout: page.layout("rounds"),
                kind_key: format!("facilities.kind.{}", facility.kind),
                facility,
                items,
                idempotency_key: key,
                message: Some(WebError::from(e).said_in(locale)),
            }
            .into_response())
        }
        Err(e) => Err(page.error(e.into())),
    }
}

#[derive(Debug)]
struct InspectionLine {
    when: String,
    inspector: String,
    failed: i64,
    far: bool,
    photos: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "facility.html")]
struct FacilityPage {
    layout: Layout,
    facility: Facility,
    kind_key: String,
    sign_key: String,
    services: String,
    inspections: Vec<InspectionLine>,
    orders: Vec<OrderLine>,
    exports: Exports,
}

/// A facility's page; with `format=csv|xlsx`, its orders table as a download.
pub(crate) async fn facility(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let user = page.require_user()?;
    let actor = &user.actor;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let fail = |e: muster_storage::StorageError| page.error(e.into());
    let facility = state.db.facility(actor, id).await.map_err(fail)?;
    let now = muster_storage::now();
    let orders: Vec<OrderLine> = state
        .db
        .facility_orders(actor, id, 200)
        .await
        .map_err(fail)?
        .iter()
        .map(|o| OrderLine::of(o, now))
        .collect();
    if let Some(format) = format {
        let table = order_table(page.tr, page.tr.t("facilities.orders"), &orders, true);
        return download(&page, format, &format!("facility-{id}-orders"), &[table]);
    }
    let mut inspections = Vec::new();
    for inspection in state
        .db
        .facility_inspections(actor, id, 20)
        .await
        .map_err(fail)?
    {
        let photos = state
            .db
            .inspection_attachments(actor, inspection.id)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|a| a.thumbnail_sha256.is_some())
            .map(|a| a.sha256)
            .collect();
        inspections.push(InspectionLine {
            when: date_time(inspection.inspected_at),
            inspector: inspection.inspector.clone(),
            failed: inspection.failed_count,
            far: inspection.far_from_facility != 0,
            photos,
        });
    }
    Ok(FacilityPage {
        layout: page.layout("facilities"),
        kind_key: format!("facilities.kind.{}", facility.kind),
        sign_key: format!("facilities.sign_status.{}", facility.sign_status),
        services: facility.services().join("、"),
        facility,
        inspections,
        orders,
        exports: Exports::of(&format!("/facilities/{id}")),
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct FileQuery {
    thumbnail: Option<String>,
}

/// A photo for a page: the same reach check as the API.
pub(crate) async fn file(
    State(state): State<AppState>,
    page: PageContext,
    Path(sha): Path<String>,
    Query(query): Query<FileQuery>,
) -> PageResult {
    let user = page.require_user()?;
    serve_blob(&state, &user.actor, &sha, query.thumbnail.is_some())
        .await
        .map_err(|e| page.error(e))
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_orders.html")]
struct OrdersPage {
    layout: Layout,
    filter: String,
    orders: Vec<OrderLine>,
    notes: Vec<NoteLine>,
    exports: Exports,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrdersQuery {
    filter: Option<String>,
    region: Option<String>,
    format: Option<String>,
}

pub(crate) async fn orders(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<OrdersQuery>,
) -> PageResult {
    let user = page.require_user()?;
    let filter = parse_order_filter(query.filter.as_deref()).map_err(|e| page.error(e))?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let now = muster_storage::now();
    let region = query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let orders: Vec<OrderLine> = state
        .db
        .orders(&user.actor, region, filter, now, ORDERS_SHOWN)
        .await
        .map_err(|e| page.error(e.into()))?
        .iter()
        .map(|o| OrderLine::of(o, now))
        .collect();
    let filter_name = query
        .filter
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("open");
    if let Some(format) = format {
        let table = order_table(page.tr, page.tr.t("facilities.orders"), &orders, true);
        let stem = match region {
            Some(region) => format!("orders-{}-{}", file_part(region), file_part(filter_name)),
            None => format!("orders-{}", file_part(filter_name)),
        };
        return download(&page, format, &stem, &[table]);
    }
    let notes = note_lines(&state, &user.actor)
        .await
        .map_err(|e| page.error(e))?;
    let here = format!(
        "/orders{}",
        query_string(&[("filter", Some(filter_name)), ("region", region)])
    );
    Ok(OrdersPage {
        notes,
        layout: page.layout("orders"),
        filter: query.filter.unwrap_or_else(|| "open".into()),
        orders,
        exports: Exports::of(&here),
    }
    .into_response())
}

#[derive(Debug)]
struct EventLine {
    when: String,
    action_key: String,
    actor: String,
    detail: String,
}

fn event_lines(events: &[OrderEvent]) -> Vec<EventLine> {
    events
        .iter()
        .map(|e| EventLine {
            when: date_time(e.at),
            action_key: format!("facilities.action.{}", e.action),
            actor: e.actor.clone(),
            detail: e.detail.clone(),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_order.html")]
struct OrderPage {
    layout: Layout,
    order: OrderLine,
    note: String,
    reason: String,
    evidence: Vec<String>,
    /// Photos of repair reports sent back before the latest.
    earlier_evidence: Vec<String>,
    events: Vec<EventLine>,
    /// The actions this reader may take now.
    actions: Vec<ActionLine>,
    may_link: bool,
    link: Option<String>,
    message: Option<String>,
}

/// An action button: its form value and its label's key.
#[derive(Debug)]
struct ActionLine {
    name: &'static str,
    key: String,
}

fn action_lines(names: Vec<&'static str>) -> Vec<ActionLine> {
    names
        .into_iter()
        .map(|name| ActionLine {
            name,
            key: format!("facilities.action.{name}"),
        })
        .collect()
}

fn office_actions(status: OrderStatus) -> Vec<&'static str> {
    match status {
        OrderStatus::Repaired => vec!["verify", "send_back"],
        OrderStatus::Verified => vec!["close"],
        _ => Vec::new(),
    }
}

fn manager_actions(status: OrderStatus) -> Vec<&'static str> {
    match status {
        OrderStatus::Issued | OrderStatus::SentBack => vec!["acknowledge", "report_repair"],
        OrderStatus::Acknowledged => vec!["report_repair"],
        _ => Vec::new(),
    }
}

async fn render_order(
    state: &AppState,
    page: &PageContext,
    id: i64,
    link: Option<String>,
    message: Option<String>,
) -> PageResult {
    let user = page.require_user()?;
    let muster_storage::OrderHistory {
        order,
        events,
        earlier_evidence,
    } = state
        .db
        .order(&user.actor, id)
        .await
        .map_err(|e| page.error(e.into()))?;
    let reach = state
        .db
        .facility_reach(&user.actor)
        .await
        .map_err(|e| page.error(e.into()))?;
    let is_manager = matches!(reach, muster_storage::FacilityReach::Manager { .. });
    let status = order.status();
    let actions = action_lines(if is_manager {
        manager_actions(status)
    } else {
        office_actions(status)
    });
    let now = muster_storage::now();
    Ok(OrderPage {
        layout: page.layout("orders"),
        note: order.repair_note.clone().unwrap_or_default(),
        reason: order.send_back_reason.clone().unwrap_or_default(),
        evidence: order.evidence(),
        earlier_evidence,
        order: OrderLine::of(&order, now),
        events: event_lines(&events),
        actions,
        may_link: !is_manager && status.is_open(),
        link,
        message,
    }
    .into_response())
}

pub(crate) async fn order(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    render_order(&state, &page, id, None, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
}

fn action_of(form: &ActionForm) -> Result<OrderAction, WebError> {
    Ok(match form.action.as_str() {
        "acknowledge" => OrderAction::Acknowledge,
        "report_repair" => OrderAction::ReportRepair {
            note: form.note.clone(),
            evidence: Vec::new(),
        },
        "verify" => OrderAction::Verify,
        "send_back" => OrderAction::SendBack {
            reason: form.reason.clone(),
        },
        "close" => OrderAction::Close,
        _ => {
            return Err(WebError::refused(
                "action",
                "expected one of the order's actions",
                "应为该整改通知可执行的操作之一",
            ));
        }
    })
}

pub(crate) async fn order_action(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let action = action_of(&form).map_err(|e| page.error(e))?;
    match state
        .db
        .act_on_order(&user.actor, id, &action, muster_storage::now())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/orders/{id}")).into_response()),
        Err(
            e @ (muster_storage::StorageError::Conflict { .. }
            | muster_storage::StorageError::Refused { .. }),
        ) => {
            let message = WebError::from(e).said_in(page.tr.locale);
            render_order(&state, &page, id, None, Some(message)).await
        }
        Err(e) => Err(page.error(e.into())),
    }
}

pub(crate) async fn order_link(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let (token, _) = state
        .db
        .create_order_link(
            &user.actor,
            id,
            muster_storage::DEFAULT_LINK_DAYS,
            muster_storage::now(),
        )
        .await
        .map_err(|e| page.error(e.into()))?;
    render_order(
        &state,
        &page,
        id,
        Some(format!("/orders/link/{token}")),
        None,
    )
    .await
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_order_link.html")]
struct LinkPage {
    layout: Layout,
    token: String,
    order: OrderLine,
    events: Vec<EventLine>,
    actions: Vec<ActionLine>,
    message: Option<String>,
    done: bool,
}

async fn render_link(
    state: &AppState,
    tr: Tr,
    token: &str,
    message: Option<String>,
    done: bool,
) -> PageResult {
    let now = muster_storage::now();
    let page = PageContext { tr, user: None };
    let muster_storage::OrderHistory { order, events, .. } = state
        .db
        .order_by_link(token, now)
        .await
        .map_err(|e| page.error(e.into()))?;
    Ok(LinkPage {
        layout: page.layout("orders"),
        token: token.to_owned(),
        actions: action_lines(manager_actions(order.status())),
        order: OrderLine::of(&order, now),
        events: event_lines(&events),
        message,
        done,
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkQuery {
    done: Option<String>,
}

/// The page a property manager opens from a link: no account, one order.
pub(crate) async fn link_page(
    State(state): State<AppState>,
    page: PageContext,
    Path(token): Path<String>,
    Query(query): Query<LinkQuery>,
) -> PageResult {
    render_link(&state, page.tr, &token, None, query.done.is_some()).await
}

/// The link page's form: acknowledge, or report the repair with a note and a photo. The
/// link is the credential, so there is no session and no CSRF token; the photo goes into
/// the attachment store under the order's own upload owner.
pub(crate) async fn link_action(
    State(state): State<AppState>,
    page: PageContext,
    Path(token): Path<String>,
    multipart: Multipart,
) -> PageResult {
    let page = page.as_visitor();
    let now = muster_storage::now();
    let order = state
        .db
        .order_by_link(&token, now)
        .await
        .map_err(|e| page.error(e.into()))?
        .order;
    let form = read_link_form(multipart).await.map_err(|e| page.error(e))?;
    let mut evidence = Vec::new();
    if let Some(photo) = form.photo.filter(|p| !p.is_empty()) {
        match store_link_photo(&state, order.id, &photo).await {
            Ok(sha) => evidence.push(sha),
            Err(message) => {
                return render_link(&state, page.tr, &token, Some(message), false).await;
            }
        }
    }
    let action = match form.action.as_str() {
        "acknowledge" => OrderAction::Acknowledge,
        "report_repair" => OrderAction::ReportRepair {
            note: form.note,
            evidence,
        },
        _ => {
            return Err(page.error(WebError::refused(
                "action",
                "expected acknowledge or report_repair",
                "应为签收或报告整改完成",
            )));
        }
    };
    match state.db.act_on_order_by_link(&token, &action, now).await {
        Ok(_) => Ok(Redirect::to(&format!("/orders/link/{token}?done=1")).into_response()),
        Err(
            e @ (muster_storage::StorageError::Conflict { .. }
            | muster_storage::StorageError::Refused { .. }),
        ) => {
            let message = WebError::from(e).said_in(page.tr.locale);
            render_link(&state, page.tr, &token, Some(message), false).await
        }
        Err(e) => Err(page.error(e.into())),
    }
}

struct LinkForm {
    action: String,
    note: String,
    photo: Option<Vec<u8>>,
}

async fn read_link_form(mut multipart: Multipart) -> Result<LinkForm, WebError> {
    let refuse = |e: axum::extract::multipart::MultipartError| {
        let reason = e.body_text();
        let zh = format!("表单未能读取（{reason}）");
        WebError::refused("form", reason, zh)
    };
    let mut form = LinkForm {
        action: String::new(),
        note: String::new(),
        photo: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(refuse)? {
        match field.name().unwrap_or_default() {
            "action" => form.action = field.text().await.map_err(refuse)?,
            "note" => form.note = field.text().await.map_err(refuse)?,
            "photo" => form.photo = Some(field.bytes().await.map_err(refuse)?.to_vec()),
            _ => {}
        }
    }
    Ok(form)
}

/// Stores a link holder's photo through the attachment store's checks (type from the
/// bytes, size, thumbnail). The owner is the order's negated id: a link holder has no user
/// id, and no user id is negative.
async fn store_link_photo(state: &AppState, order_id: i64, bytes: &[u8]) -> Result<String, String> {
    let owner = -order_id;
    let hash = ContentHash::of(bytes);
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let upload = state
        .blobs
        .begin_upload(owner, size, &hash, "repair.jpg")
        .await
        .map_err(|e| e.to_string())?;
    state
        .blobs
        .append(owner, &upload, 0, bytes.to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let blob = state
        .blobs
        .finish(owner, &upload)
        .await
        .map_err(|e| e.to_string())?;
    Ok(blob.sha256.as_str().to_owned())
}
