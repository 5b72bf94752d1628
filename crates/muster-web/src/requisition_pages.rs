//! Requisition pages: the orders the reader sees (staff their subtree's, an enterprise's
//! account its own) with the drafting form, one order with its history, use log,
//! compensation breakdown and the office's action forms, the printable notice, and the
//! notice a citizen opens through a link without signing in.
//!
//! The list and each table of an order's page (`?table=items|use-log|compensation`)
//! download with `?format=csv|xlsx`, built from the rows the page shows.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::requisition::{HolderCategory, ReturnCondition, format_yuan};
use muster_domain::sheet::{Table, TableCell};
use muster_storage::{NewRequisition, NewRequisitionLine, Requisition, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, chosen_table, download, page_err, shown_number};
use crate::pages::{Layout, PageContext, PageError, PageResult, format_utc};
use crate::potential_view::{ExportFormat, query_string, text};
use crate::requisition_api::{RequisitionEventRequest, parse_category, parse_status};

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    /// `csv` or `xlsx`: the list's table as a download.
    format: Option<String>,
}

/// The drafting form as typed, kept to show again with a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct DraftForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    holder_category: String,
    /// One item a line: record id, quantity, declared value per unit (yuan), daily rate
    /// per unit (yuan), and optionally `in_service`.
    #[serde(default)]
    items: String,
}

#[derive(Debug)]
struct OrderLine {
    id: i64,
    holder_name: String,
    category_key: String,
    status_key: String,
    /// Empty until the compensation is assessed.
    total: String,
    created: String,
}

impl OrderLine {
    fn of(o: &muster_storage::RequisitionSummary) -> Self {
        OrderLine {
            id: o.id,
            holder_name: o.holder_name.clone(),
            category_key: format!("requisition.category.{}", o.holder_category),
            status_key: status_key(&o.status),
            total: o.total_fen.map(yuan).unwrap_or_default(),
            created: format_utc(o.created_at),
        }
    }
}

#[derive(Debug)]
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "requisitions.html")]
struct ListPage {
    layout: Layout,
    orders: Vec<OrderLine>,
    exports: Exports,
    statuses: Vec<Choice>,
    can_draft: bool,
    categories: Vec<Choice>,
    form: DraftForm,
    message: Option<String>,
}

/// Office staff and administrators draft orders and move them on; storage checks again.
fn may_act(page: &PageContext) -> bool {
    page.user
        .as_ref()
        .is_some_and(|u| u.actor.administers() || u.actor.has_role(Role::OfficeStaff))
}

fn yuan(fen: i64) -> String {
    format_yuan(fen)
}

fn status_key(status: &str) -> String {
    format!("requisition.status.{status}")
}

pub(crate) async fn list(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    if let Some(format) = format {
        let orders = orders_shown(&state, &page, query.status.as_deref()).await?;
        return download(
            &page,
            format,
            "requisitions",
            &[orders_table(&page.tr, &orders)],
        );
    }
    render_list(
        &state,
        &page,
        query.status.as_deref(),
        DraftForm::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// The orders the list shows (and downloads) to the reader: those of the status chosen,
/// the latest [`ORDERS_SHOWN`].
async fn orders_shown(
    state: &AppState,
    page: &PageContext,
    status: Option<&str>,
) -> Result<Vec<OrderLine>, PageError> {
    let current = page.require_user()?;
    let status = parse_status(status).map_err(|e| page.error(e))?;
    let rows = state
        .db
        .requisitions(&current.actor, status, ORDERS_SHOWN, None)
        .await
        .map_err(page_err(page))?;
    Ok(rows.iter().map(OrderLine::of).collect())
}

/// Orders on the list page and in its download.
const ORDERS_SHOWN: i64 = 200;

fn orders_table(tr: &Tr, orders: &[OrderLine]) -> Table {
    Table {
        title: tr.t("requisition.title"),
        headers: vec![
            tr.t("requisition.number"),
            tr.t("requisition.holder"),
            tr.t("requisition.category_label"),
            tr.t("requisition.status_label"),
            tr.t("requisition.compensation_yuan"),
            tr.t("requisition.created"),
        ],
        rows: orders
            .iter()
            .map(|o| {
                vec![
                    TableCell::Integer(o.id),
                    text(o.holder_name.clone()),
                    text(tr.t(&o.category_key)),
                    text(tr.t(&o.status_key)),
                    shown_number(&o.total),
                    text(o.created.clone()),
                ]
            })
            .collect(),
    }
}

async fn render_list(
    state: &AppState,
    page: &PageContext,
    status: Option<&str>,
    form: DraftForm,
    message: Option<String>,
    code: StatusCode,
) -> PageResult {
    let orders = orders_shown(state, page, status).await?;
    let status = parse_status(status).map_err(|e| page.error(e))?;
    let tr = page.tr;
    let statuses = muster_domain::requisition::RequisitionStatus::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: tr.t(&status_key(s.as_str())),
            selected: status == Some(*s),
        })
        .collect();
    let categories = HolderCategory::ALL
        .iter()
        .filter(|c| **c != HolderCategory::Citizen)
        .map(|c| Choice {
            value: c.as_str(),
            label: tr.t(&format!("requisition.category.{}", c.as_str())),
            selected: form.holder_category == c.as_str(),
        })
        .collect();
    let mut response = ListPage {
        layout: page.layout("requisitions"),
        exports: Exports::of(&format!(
            "/requisitions{}",
            query_string(&[("status", status.map(|s| s.as_str()))])
        )),
        orders,
        statuses,
        can_draft: may_act(page),
        categories,
        form,
        message,
    }
    .into_response();
    *response.status_mut() = code;
    Ok(response)
}

/// Yuan with up to two decimals as fen, exactly: "4500.5" → 450050.
fn parse_yuan(text: &str, field: &str) -> Result<i64, WebError> {
    let text = text.trim();
    let bad = || {
        WebError::refused(
            field,
            format!("{text:?}: expected an amount in yuan"),
            format!("{text:?}：应为以元为单位的金额"),
        )
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(if whole < 0 { -cents } else { cents }))
        .ok_or_else(bad)
}

impl DraftForm {
    fn new_requisition(&self) -> Result<NewRequisition, WebError> {
        let items = self
            .items
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(index, line)| {
                let field = format!("items[{index}]");
                let parts: Vec<&str> = line
                    .split([',', '，', '\t'])
                    .map(str::trim)
                    .collect();
                if !(3..=5).contains(&parts.len()) {
                    return Err(WebError::refused(
                        &field,
                        "record id, quantity, declared value (yuan)[, daily rate (yuan), or empty for the compensation setting's][, in_service]",
                        "每行依次为：记录编号、数量、单位申报价值（元）[、单位日费率（元），留空则按补偿标准][、in_service]",
                    ));
                }
                let number = |text: &str, what: &str, what_zh: &str| {
                    text.parse::<i64>().map_err(|_| {
                        WebError::refused(
                            &field,
                            format!("{what}: not a whole number"),
                            format!("{what_zh}：应为整数"),
                        )
                    })
                };
                Ok(NewRequisitionLine {
                    record_id: number(parts[0], "record id", "记录编号")?,
                    quantity: number(parts[1], "quantity", "数量")?,
                    declared_value_fen: parse_yuan(parts[2], &field)?,
                    // No rate, or an empty one: the compensation setting's.
                    daily_rate_fen: match parts.get(3).copied().filter(|p| !p.is_empty()) {
                        Some(rate) => Some(parse_yuan(rate, &field)?),
                        None => None,
                    },
                    in_service: parts.get(4).is_some_and(|p| p.eq_ignore_ascii_case("in_service")),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewRequisition {
            legal_basis: self.legal_basis.clone(),
            holder_category: parse_category(Some(&self.holder_category))?,
            items,
        })
    }
}

/// A refusal the reader can act on, shown on the form in the reader's language (`locale`)
/// where it has been written in it; anything else is an error page.
fn refusal(error: StorageError, locale: &str) -> Result<String, StorageError> {
    match error {
        e @ (StorageError::Refused { .. }
        | StorageError::Conflict { .. }
        | StorageError::Forbidden(_)
        | StorageError::NotFound { .. }
        | StorageError::OutOfScope { .. }) => Ok(WebError::from(e).said_in(locale)),
        other => Err(other),
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<DraftForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let locale = page.tr.locale;
    let message = match form.new_requisition() {
        Err(e) => e.said_in(locale),
        Ok(new) => match state
            .db
            .create_requisition(&current.actor, new, muster_storage::now())
            .await
        {
            Ok(created) => {
                return Ok(
                    Redirect::to(&format!("/requisitions/{}", created.summary.id)).into_response(),
                );
            }
            Err(e) => refusal(e, locale).map_err(page_err(&page))?,
        },
    };
    render_list(
        &state,
        &page,
        None,
        form,
        Some(message),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[derive(Debug)]
struct ItemLine {
    record_id: i64,
    type_code: String,
    quantity: i64,
    value: String,
    rate: String,
    condition_key: Option<String>,
}

#[derive(Debug)]
struct CompensationLine {
    record_id: i64,
    quantity: u32,
    use_days: u32,
    rate: String,
    use_amount: String,
    total_value: String,
    wear_percent: String,
    wear_amount: String,
    wear_limited: bool,
    condition_key: String,
    damage_percent: String,
    damage_amount: String,
    total: String,
}

#[derive(Debug)]
struct EventLine {
    action_key: String,
    actor: String,
    at: String,
    status_key: String,
}

#[derive(Debug)]
struct UseLine {
    on: String,
    hours: String,
    kilometres: String,
    note: String,
}

/// What the detail, the printable notice and the link page show of an order.
#[derive(Debug)]
struct OrderView {
    id: i64,
    holder_name: String,
    category_key: String,
    legal_basis: String,
    status: String,
    status_key: String,
    created: String,
    notified: Option<String>,
    handed_over: Option<String>,
    returned: Option<String>,
    approved: Option<String>,
    paid: Option<String>,
    payment_reference: Option<String>,
    cancelled: Option<String>,
    cancellation_reason: Option<String>,
    items: Vec<ItemLine>,
    use_log: Vec<UseLine>,
    compensation: Vec<CompensationLine>,
    total: Option<String>,
    events: Vec<EventLine>,
    /// The download links of its tables: on the order's page and on the notice its holder
    /// opens through a link, not on the printable notice.
    exports: Option<OrderExports>,
}

/// An order page's tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderTable {
    Items,
    UseLog,
    Compensation,
}

impl OrderTable {
    const ALL: [OrderTable; 3] = [
        OrderTable::Items,
        OrderTable::UseLog,
        OrderTable::Compensation,
    ];

    /// Its name in `?table=` and in the download's file name.
    fn name(self) -> &'static str {
        match self {
            OrderTable::Items => "items",
            OrderTable::UseLog => "use-log",
            OrderTable::Compensation => "compensation",
        }
    }
}

/// The download links of each table of an order's page.
#[derive(Debug)]
struct OrderExports {
    items: Exports,
    use_log: Exports,
    compensation: Exports,
}

impl OrderExports {
    /// The links of the page at `url` (the order's page, or the notice a holder opens
    /// through a link).
    fn of(url: &str) -> Self {
        let of = |table: OrderTable| Exports::of_table(url, table.name());
        Self {
            items: of(OrderTable::Items),
            use_log: of(OrderTable::UseLog),
            compensation: of(OrderTable::Compensation),
        }
    }
}

/// An order page's `?format=csv|xlsx` and the table it downloads (the items when none is
/// named).
#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    format: Option<String>,
    table: Option<String>,
}

impl DetailQuery {
    /// The table to download, if the query asks for one; a 400 for a table or format the
    /// page does not have.
    fn download(
        &self,
        page: &PageContext,
    ) -> Result<Option<(ExportFormat, OrderTable)>, PageError> {
        let format = ExportFormat::from_query(self.format.as_deref()).map_err(|e| page.error(e))?;
        let choices = OrderTable::ALL.map(|t| (t.name(), t));
        let table = chosen_table(self.table.as_deref(), OrderTable::Items, &choices)
            .map_err(|e| page.error(e))?;
        Ok(format.map(|format| (format, table)))
    }
}

/// One of an order's tables as a download, from the rows its page shows.
fn order_download(
    page: &PageContext,
    order: &OrderView,
    format: ExportFormat,
    table: OrderTable,
) -> PageResult {
    let tr = &page.tr;
    let sheet = match table {
        OrderTable::Items => items_table(tr, order),
        OrderTable::UseLog => use_log_table(tr, order),
        OrderTable::Compensation => compensation_table(tr, order),
    };
    let stem = format!("requisition-{}-{}", order.id, table.name());
    download(page, format, &stem, &[sheet])
}

fn percent(basis_points: u32) -> String {
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

impl OrderView {
    fn of(r: &Requisition) -> OrderView {
        let order = &r.order;
        let at = |t: Option<muster_domain::Timestamp>| t.map(|t| format_utc(t.as_millis()));
        OrderView {
            id: r.summary.id,
            holder_name: r.summary.holder_name.clone(),
            category_key: format!("requisition.category.{}", r.summary.holder_category),
            legal_basis: r.summary.legal_basis.clone(),
            status: order.status().as_str().to_owned(),
            status_key: status_key(order.status().as_str()),
            created: format_utc(r.summary.created_at),
            notified: at(order.notified_at()),
            handed_over: at(order.handed_over_at()),
            returned: at(order.returned_at()),
            approved: at(order.approved_at()),
            paid: at(order.payment().map(|p| p.paid_at)),
            payment_reference: order.payment().map(|p| p.reference.clone()),
            cancelled: at(order.cancellation().map(|c| c.at)),
            cancellation_reason: order.cancellation().map(|c| c.reason.clone()),
            items: r
                .items
                .iter()
                .enumerate()
                .map(|(index, item)| ItemLine {
                    record_id: item.record_id,
                    type_code: item.type_code.clone(),
                    quantity: item.quantity,
                    value: yuan(item.declared_value_fen),
                    rate: yuan(item.daily_rate_fen),
                    condition_key: order
                        .conditions()
                        .get(index)
                        .map(|c| format!("requisition.condition.{}", c.as_str())),
                })
                .collect(),
            use_log: order
                .use_log()
                .iter()
                .map(|e| UseLine {
                    on: format_utc(e.on.as_millis()),
                    hours: e.hours.map(|h| h.to_string()).unwrap_or_default(),
                    kilometres: e.kilometres.map(|k| k.to_string()).unwrap_or_default(),
                    note: e.note.clone(),
                })
                .collect(),
            compensation: order
                .assessment()
                .map(|a| {
                    a.items
                        .iter()
                        .map(|c| CompensationLine {
                            record_id: c.item_id,
                            quantity: c.quantity,
                            use_days: c.use_days,
                            rate: yuan(c.daily_rate_fen),
                            use_amount: yuan(c.use_fen),
                            total_value: yuan(c.total_value_fen),
                            wear_percent: percent(c.wear_basis_points),
                            wear_amount: yuan(c.wear_fen),
                            wear_limited: c.wear_limited_by_value,
                            condition_key: format!(
                                "requisition.condition.{}",
                                c.condition.as_str()
                            ),
                            damage_percent: percent(c.damage_basis_points),
                            damage_amount: yuan(c.damage_fen),
                            total: yuan(c.total_fen),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            total: order.assessment().map(|a| yuan(a.total_fen)),
            exports: None,
            events: r
                .events
                .iter()
                .map(|e| EventLine {
                    action_key: format!("requisition.action.{}", e.action),
                    actor: e.actor.clone(),
                    at: format_utc(e.at),
                    status_key: status_key(&e.status_after),
                })
                .collect(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "requisition.html")]
struct DetailPage {
    layout: Layout,
    order: OrderView,
    can_act: bool,
    conditions: Vec<Choice>,
    message: Option<String>,
    link: Option<String>,
    link_expires: Option<String>,
}

/// An order's page, or with `?format=csv|xlsx` the table `?table=` names as a download.
pub(crate) async fn detail(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> PageResult {
    if let Some((format, table)) = query.download(&page)? {
        let current = page.require_user()?;
        let requisition = state
            .db
            .requisition(&current.actor, id)
            .await
            .map_err(page_err(&page))?;
        return order_download(&page, &OrderView::of(&requisition), format, table);
    }
    render_detail(&state, &page, id, None, None, StatusCode::OK).await
}

fn items_table(tr: &Tr, order: &OrderView) -> Table {
    Table {
        title: tr.t("requisition.items_title"),
        headers: vec![
            tr.t("requisition.record"),
            tr.t("requisition.type"),
            tr.t("requisition.quantity"),
            tr.t("requisition.value_yuan"),
            tr.t("requisition.rate_yuan"),
            tr.t("requisition.condition_label"),
        ],
        rows: order
            .items
            .iter()
            .map(|i| {
                vec![
                    TableCell::Integer(i.record_id),
                    text(i.type_code.clone()),
                    TableCell::Integer(i.quantity),
                    shown_number(&i.value),
                    shown_number(&i.rate),
                    i.condition_key
                        .as_ref()
                        .map_or(TableCell::Empty, |c| text(tr.t(c))),
                ]
            })
            .collect(),
    }
}

fn use_log_table(tr: &Tr, order: &OrderView) -> Table {
    Table {
        title: tr.t("requisition.use_log"),
        headers: vec![
            tr.t("requisition.day"),
            tr.t("requisition.hours"),
            tr.t("requisition.kilometres"),
            tr.t("requisition.note"),
        ],
        rows: order
            .use_log
            .iter()
            .map(|u| {
                vec![
                    text(u.on.clone()),
                    shown_number(&u.hours),
                    shown_number(&u.kilometres),
                    text(u.note.clone()),
                ]
            })
            .collect(),
    }
}

/// The compensation per item. What the page adds in brackets after wear and damage (the
/// wear's percentage and whether the value left limited it; the condition returned in and
/// the damage's percentage) has columns of its own here, so that the amounts stay numbers.
/// The page's footer total is no row here: it is the sum of the item totals, which the
/// spreadsheet adds up.
fn compensation_table(tr: &Tr, order: &OrderView) -> Table {
    let wear = tr.t("requisition.wear_term");
    let damage = tr.t("requisition.damage_term");
    Table {
        title: tr.t("requisition.compensation"),
        headers: vec![
            tr.t("requisition.record"),
            tr.t("requisition.quantity"),
            tr.t("requisition.use_days"),
            tr.t("requisition.rate_yuan"),
            tr.t("requisition.use_term"),
            tr.t("requisition.total_value"),
            wear.clone(),
            format!("{wear} %"),
            tr.t("requisition.wear_limited"),
            damage.clone(),
            tr.t("requisition.condition_label"),
            format!("{damage} %"),
            tr.t("requisition.item_total"),
        ],
        rows: order
            .compensation
            .iter()
            .map(|c| {
                vec![
                    TableCell::Integer(c.record_id),
                    TableCell::Integer(i64::from(c.quantity)),
                    TableCell::Integer(i64::from(c.use_days)),
                    shown_number(&c.rate),
                    shown_number(&c.use_amount),
                    shown_number(&c.total_value),
                    shown_number(&c.wear_amount),
                    shown_number(&c.wear_percent),
                    if c.wear_limited {
                        text(tr.t("requisition.wear_limited"))
                    } else {
                        TableCell::Empty
                    },
                    shown_number(&c.damage_amount),
                    text(tr.t(&c.condition_key)),
                    shown_number(&c.damage_percent),
                    shown_number(&c.total),
                ]
            })
            .collect(),
    }
}

async fn render_detail(
    state: &AppState,
    page: &PageContext,
    id: i64,
    message: Option<String>,
    link: Option<(String, String)>,
    code: StatusCode,
) -> PageResult {
    let current = page.require_user()?;
    let requisition = state
        .db
        .requisition(&current.actor, id)
        .await
        .map_err(page_err(page))?;
    let tr = page.tr;
    let conditions = ReturnCondition::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: tr.t(&format!("requisition.condition.{}", c.as_str())),
            selected: *c == ReturnCondition::Good,
        })
        .collect();
    let (link, link_expires) = link.map_or((None, None), |(l, e)| (Some(l), Some(e)));
    let mut response = DetailPage {
        layout: page.layout("requisitions"),
        order: OrderView {
            exports: Some(OrderExports::of(&format!("/requisitions/{id}"))),
            ..OrderView::of(&requisition)
        },
        can_act: may_act(page) && !requisition.status().is_terminal(),
        conditions,
        message,
        link,
        link_expires,
    }
    .into_response();
    *response.status_mut() = code;
    Ok(response)
}

/// An action form: the event's fields as the API takes them, as text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    /// `YYYY-MM-DD HH:MM` in UTC, or empty for now.
    #[serde(default)]
    at: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    kilometres: String,
    #[serde(default)]
    note: String,
    /// Comma-separated conditions, one per item.
    #[serde(default)]
    conditions: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    reason: String,
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM` (UTC) as epoch milliseconds.
fn parse_when(text: &str) -> Result<Option<i64>, WebError> {
    let text = text.trim().replace('T', " ");
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        WebError::refused(
            "at",
            "expected YYYY-MM-DD HH:MM (UTC)",
            "应为 YYYY-MM-DD HH:MM（UTC）",
        )
    };
    let (date, time) = text.split_once(' ').unwrap_or((&text, "00:00"));
    let mut ymd = date.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d)), None) =
        (ymd.next(), ymd.next(), ymd.next(), ymd.next())
    else {
        return Err(bad());
    };
    let day = muster_domain::time::CivilDate::from_ymd(y, m, d).ok_or_else(bad)?;
    let (h, min) = time.split_once(':').ok_or_else(bad)?;
    let (h, min): (i64, i64) = (
        h.parse().map_err(|_| bad())?,
        min.parse().map_err(|_| bad())?,
    );
    if !(0..24).contains(&h) || !(0..60).contains(&min) {
        return Err(bad());
    }
    Ok(Some(
        day.days_since_epoch() * muster_domain::time::MILLIS_PER_DAY + (h * 60 + min) * 60_000,
    ))
}

impl EventForm {
    fn request(&self) -> Result<RequisitionEventRequest, WebError> {
        let optional = |text: &str, field: &str| -> Result<Option<u32>, WebError> {
            match text.trim() {
                "" => Ok(None),
                t => t
                    .parse()
                    .map(Some)
                    .map_err(|_| WebError::refused(field, "not a whole number", "应为整数")),
            }
        };
        let some = |t: &str| (!t.trim().is_empty()).then(|| t.trim().to_owned());
        Ok(RequisitionEventRequest {
            kind: self.kind.clone(),
            at: parse_when(&self.at)?,
            hours: optional(&self.hours, "hours")?,
            kilometres: optional(&self.kilometres, "kilometres")?,
            note: some(&self.note),
            conditions: some(&self.conditions).map(|c| {
                c.split([',', '，'])
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            }),
            reference: some(&self.reference),
            reason: some(&self.reason),
        })
    }
}

pub(crate) async fn act(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<EventForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let now = muster_storage::now();
    let locale = page.tr.locale;
    let message = match form.request().and_then(|r| r.event(now)) {
        Err(e) => e.said_in(locale),
        Ok(event) => match state
            .db
            .act_on_requisition(&current.actor, id, &event, now)
            .await
        {
            Ok(_) => return Ok(Redirect::to(&format!("/requisitions/{id}")).into_response()),
            Err(e) => refusal(e, locale).map_err(page_err(&page))?,
        },
    };
    render_detail(
        &state,
        &page,
        id,
        Some(message),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    valid_days: String,
}

pub(crate) async fn create_link(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<LinkForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let days = form
        .valid_days
        .trim()
        .parse()
        .unwrap_or(muster_storage::DEFAULT_REQUISITION_LINK_DAYS);
    match state
        .db
        .create_requisition_link(&current.actor, id, days, muster_storage::now())
        .await
    {
        Ok((token, expires)) => {
            let link = format!("/requisitions/notice/{token}");
            render_detail(
                &state,
                &page,
                id,
                None,
                Some((link, format_utc(expires.as_millis()))),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let message = refusal(e, page.tr.locale).map_err(page_err(&page))?;
            render_detail(
                &state,
                &page,
                id,
                Some(message),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "requisition_notice.html")]
struct NoticePage {
    layout: Layout,
    order: OrderView,
}

/// The printable notice of an order, for staff to print and serve.
pub(crate) async fn notice(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    let current = page.require_user()?;
    let requisition = state
        .db
        .requisition(&current.actor, id)
        .await
        .map_err(page_err(&page))?;
    Ok(NoticePage {
        layout: page.layout("requisitions"),
        order: OrderView::of(&requisition),
    }
    .into_response())
}

/// The notice a holder without an account opens through a link: their order and its
/// compensation, no sign-in; with `?format=csv|xlsx` one of its tables, as on the order's
/// page.
pub(crate) async fn notice_by_link(
    State(state): State<AppState>,
    page: PageContext,
    Path(token): Path<String>,
    Query(query): Query<DetailQuery>,
) -> PageResult {
    let page = page.as_visitor();
    let download = query.download(&page)?;
    let requisition = state
        .db
        .requisition_by_link(&token, muster_storage::now())
        .await
        .map_err(page_err(&page))?;
    let order = OrderView::of(&requisition);
    if let Some((format, table)) = download {
        return order_download(&page, &order, format, table);
    }
    let here = format!("/requisitions/notice/{token}");
    Ok(NoticePage {
        layout: page.layout("requisitions"),
        order: OrderView {
            exports: Some(OrderExports::of(&here)),
            ..order
        },
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_read_exactly() {
        for (text, fen) in [
            ("4500", 450_000),
            ("4500.5", 450_050),
            ("0.07", 7),
            (" 12.30 ", 1_230),
        ] {
            assert_eq!(parse_yuan(text, "x").expect(text), fen, "{text}");
        }
        for text in ["", "1.234", "abc", "1e3", ".5"] {
            assert!(parse_yuan(text, "x").is_err(), "{text}");
        }
    }

    #[test]
    fn times_are_read_as_utc() {
        assert_eq!(parse_when("").expect("empty"), None);
        assert_eq!(
            parse_when("2027-01-01").expect("date"),
            Some(1_798_761_600_000)
        );
        assert_eq!(
            parse_when("2027-01-01 01:30").expect("time"),
            Some(1_798_761_600_000 + 5_400_000)
        );
        assert!(parse_when("2027-13-01").is_err());
        assert!(parse_when("2027-01-01 25:00").is_err());
    }
}
