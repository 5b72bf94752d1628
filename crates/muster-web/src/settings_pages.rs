//! The settings page: the transport parameters allocations use, the compensation policy
//! requisitions use and the stale period verification flags records by, each a plain HTML
//! form (no JavaScript) an administrator submits. Any signed-in user reads them. A refused form comes back with what was typed and every
//! problem next to its field; storage checks again and audits the change.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::requisition::{CompensationSetting, format_yuan};
use muster_domain::transport::TransportSetting;
use muster_storage::{MAX_STALE_AFTER_DAYS, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::i18n::Tr;
use crate::page_parts::{page_err, refused_status};
use crate::pages::{Layout, PageContext, PageResult};

/// The transport form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TransportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    road_factor: String,
    #[serde(default)]
    speed_km_per_hour: String,
    #[serde(default)]
    default_cost_per_unit_km: String,
    /// One type a line: `type code, cost per unit-km`.
    #[serde(default)]
    cost_per_unit_km_by_type: String,
}

/// The compensation form as typed: percentages with up to two decimals, rates in yuan.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CompensationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    wear_percent_per_day: String,
    #[serde(default)]
    wear_cap_percent: String,
    #[serde(default)]
    worn_percent: String,
    #[serde(default)]
    damaged_percent: String,
    /// One rate a line: `type, subcategory or category code, yuan per unit and day`.
    #[serde(default)]
    daily_rates: String,
}

/// The stale period form as typed: whole days.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StaleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    stale_after_days: String,
}

/// A problem with one field of a form.
#[derive(Debug, Clone, PartialEq)]
struct FieldError {
    field: String,
    message: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsQuery {
    saved: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    can_edit: bool,
    transport: TransportForm,
    transport_errors: Vec<FieldError>,
    compensation: CompensationForm,
    compensation_errors: Vec<FieldError>,
    stale: StaleForm,
    stale_errors: Vec<FieldError>,
    /// The stale period's label, which says its range.
    stale_label: String,
    saved: Option<&'static str>,
}

impl SettingsPage {
    fn transport_error(&self, field: &str) -> String {
        joined(&self.transport_errors, field)
    }

    fn compensation_error(&self, field: &str) -> String {
        joined(&self.compensation_errors, field)
    }

    fn stale_error(&self, field: &str) -> String {
        joined(&self.stale_errors, field)
    }
}

fn joined(errors: &[FieldError], field: &str) -> String {
    errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn transport_form(setting: &TransportSetting) -> TransportForm {
    TransportForm {
        csrf: String::new(),
        road_factor: setting.road_factor.to_string(),
        speed_km_per_hour: setting.speed_km_per_hour.to_string(),
        default_cost_per_unit_km: setting.default_cost_per_unit_km.to_string(),
        cost_per_unit_km_by_type: setting
            .cost_per_unit_km_by_type
            .iter()
            .map(|(code, cost)| format!("{code}, {cost}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn percent(basis_points: u32) -> String {
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

fn compensation_form(setting: &CompensationSetting) -> CompensationForm {
    CompensationForm {
        csrf: String::new(),
        wear_percent_per_day: percent(setting.wear_basis_points_per_day),
        wear_cap_percent: percent(setting.wear_cap_basis_points),
        worn_percent: percent(setting.worn_basis_points),
        damaged_percent: percent(setting.damaged_basis_points),
        daily_rates: setting
            .daily_rates_fen
            .iter()
            .map(|(code, fen)| format!("{code}, {}", format_yuan(*fen)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// A non-negative amount with up to two decimals, in hundredths: "0.2" → 20, "800" → 80000.
fn parse_hundredths(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `code, value` lines, blank lines skipped; each line's value read by `parse`, or a
/// problem naming the line and what was expected (`expected`, a message key), said in the
/// reader's language.
fn parse_lines<T>(
    text: &str,
    field: &str,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
    errors: &mut Vec<FieldError>,
    tr: Tr,
) -> BTreeMap<String, T> {
    let mut values = BTreeMap::new();
    for (index, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parsed = line
            .split_once([',', '，', '\t'])
            .and_then(|(code, value)| Some((code.trim(), parse(value)?)))
            .filter(|(code, _)| !code.is_empty());
        match parsed {
            Some((code, value)) => {
                if values.insert(code.to_owned(), value).is_some() {
                    errors.push(FieldError {
                        field: field.to_owned(),
                        message: tr
                            .t("settings.form.given_twice")
                            .replace("%{line}", &(index + 1).to_string())
                            .replace("%{code}", code),
                    });
                }
            }
            None => errors.push(FieldError {
                field: field.to_owned(),
                message: tr
                    .t("settings.form.line_expected")
                    .replace("%{line}", &(index + 1).to_string())
                    .replace("%{expected}", &tr.t(expected))
                    .replace("%{text}", &format!("{line:?}")),
            }),
        }
    }
    values
}

impl TransportForm {
    fn setting(&self, tr: Tr) -> Result<TransportSetting, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut number = |text: &str, field: &str| {
            parse_number(text).unwrap_or_else(|| {
                errors.push(FieldError {
                    field: field.to_owned(),
                    message: tr
                        .t("settings.form.not_a_number")
                        .replace("%{text}", &format!("{:?}", text.trim())),
                });
                0.0
            })
        };
        let road_factor = number(&self.road_factor, "road_factor");
        let speed_km_per_hour = number(&self.speed_km_per_hour, "speed_km_per_hour");
        let default_cost_per_unit_km =
            number(&self.default_cost_per_unit_km, "default_cost_per_unit_km");
        let cost_per_unit_km_by_type = parse_lines(
            &self.cost_per_unit_km_by_type,
            "cost_per_unit_km_by_type",
            "settings.form.type_cost_line",
            parse_number,
            &mut errors,
            tr,
        );
        if errors.is_empty() {
            Ok(TransportSetting {
                road_factor,
                speed_km_per_hour,
                default_cost_per_unit_km,
                cost_per_unit_km_by_type,
            })
        } else {
            Err(errors)
        }
    }
}

impl StaleForm {
    /// The days typed, or why they are not a whole number; storage checks the range.
    fn days(&self, tr: Tr) -> Result<u32, Vec<FieldError>> {
        let text = self.stale_after_days.trim();
        text.parse::<u32>().map_err(|_| {
            vec![FieldError {
                field: "stale_after_days".to_owned(),
                message: tr
                    .t("settings.form.not_days")
                    .replace("%{text}", &format!("{text:?}")),
            }]
        })
    }
}

impl CompensationForm {
    fn setting(&self, tr: Tr) -> Result<CompensationSetting, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut percentage = |text: &str, field: &str| {
            parse_hundredths(text)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_else(|| {
                    errors.push(FieldError {
                        field: field.to_owned(),
                        message: tr
                            .t("settings.form.not_a_percentage")
                            .replace("%{text}", &format!("{:?}", text.trim())),
                    });
                    0
                })
        };
        let wear_basis_points_per_day =
            percentage(&self.wear_percent_per_day, "wear_percent_per_day");
        let wear_cap_basis_points = percentage(&self.wear_cap_percent, "wear_cap_percent");
        let worn_basis_points = percentage(&self.worn_percent, "worn_percent");
        let damaged_basis_points = percentage(&self.damaged_percent, "damaged_percent");
        let daily_rates_fen = parse_lines(
            &self.daily_rates,
            "daily_rates",
            "settings.form.rate_line",
            parse_hundredths,
            &mut errors,
            tr,
        );
        if errors.is_empty() {
            Ok(CompensationSetting {
                wear_basis_points_per_day,
                wear_cap_basis_points,
                worn_basis_points,
                damaged_basis_points,
                daily_rates_fen,
            })
        } else {
            Err(errors)
        }
    }
}

/// A storage refusal as field problems, in the reader's language (`locale`): each problem of
/// the message starts with the field it is about (`road_factor: …`,
/// `daily_rates_fen.TRN.ROAD: …`; in Chinese `road_factor：…`, the problems joined by `；`),
/// mapped to the form's field by `form_field`. Anything but a named refusal is an error page.
fn field_errors(
    error: StorageError,
    form_field: impl Fn(&str) -> &'static str,
    locale: &str,
) -> Result<Vec<FieldError>, StorageError> {
    let (field, message, separator) = match error {
        StorageError::Refused {
            field, message_zh, ..
        } if locale.starts_with("zh") => (field, message_zh, "；"),
        StorageError::Refused { field, message, .. } => (field, message, "; "),
        other => return Err(other),
    };
    Ok(message
        .split(separator)
        .map(|problem| {
            let named = problem
                .split([':', '：', '.'])
                .next()
                .map(str::trim)
                .unwrap_or(field);
            FieldError {
                field: form_field(named).to_owned(),
                message: problem.to_owned(),
            }
        })
        .collect())
}

fn transport_field(field: &str) -> &'static str {
    match field {
        "road_factor" => "road_factor",
        "speed_km_per_hour" => "speed_km_per_hour",
        "default_cost_per_unit_km" => "default_cost_per_unit_km",
        _ => "cost_per_unit_km_by_type",
    }
}

/// The stale period form has one field: every refusal of it is about that field.
fn stale_field(_: &str) -> &'static str {
    "stale_after_days"
}

fn compensation_field(field: &str) -> &'static str {
    match field {
        "wear_basis_points_per_day" => "wear_percent_per_day",
        "wear_cap_basis_points" => "wear_cap_percent",
        "worn_basis_points" => "worn_percent",
        "damaged_basis_points" => "damaged_percent",
        _ => "daily_rates",
    }
}

pub(crate) async fn index(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<SettingsQuery>,
) -> PageResult {
    let saved = match query.saved.as_deref() {
        Some("transport") => Some("settings.saved_transport"),
        Some("compensation") => Some("settings.saved_compensation"),
        Some("verification") => Some("settings.saved_verification"),
        _ => None,
    };
    render(&state, &page, Refused::default(), saved).await
}

/// At most one form refused, as typed, with its problems; the others show what is in force.
#[derive(Debug, Default)]
struct Refused {
    transport: Option<(TransportForm, Vec<FieldError>)>,
    compensation: Option<(CompensationForm, Vec<FieldError>)>,
    stale: Option<(StaleForm, Vec<FieldError>)>,
}

/// The page with the settings in force, or with a refused form as typed in their place.
async fn render(
    state: &AppState,
    page: &PageContext,
    refused: Refused,
    saved: Option<&'static str>,
) -> PageResult {
    let current = page.require_user()?;
    let Refused {
        transport,
        compensation,
        stale,
    } = refused;
    let refused = transport.is_some() || compensation.is_some() || stale.is_some();
    let (transport, transport_errors) = match transport {
        Some(given) => given,
        None => (
            transport_form(&state.db.transport_setting().await.map_err(page_err(page))?),
            Vec::new(),
        ),
    };
    let (compensation, compensation_errors) = match compensation {
        Some(given) => given,
        None => (
            compensation_form(
                &state
                    .db
                    .compensation_setting()
                    .await
                    .map_err(page_err(page))?,
            ),
            Vec::new(),
        ),
    };
    let (stale, stale_errors) = match stale {
        Some(given) => given,
        None => (
            StaleForm {
                csrf: String::new(),
                stale_after_days: state
                    .db
                    .stale_after_days()
                    .await
                    .map_err(page_err(page))?
                    .to_string(),
            },
            Vec::new(),
        ),
    };
    let response = SettingsPage {
        layout: page.layout("settings"),
        can_edit: state
            .db
            .administers_installation(&current.actor)
            .await
            .map_err(page_err(page))?,
        transport,
        transport_errors,
        compensation,
        compensation_errors,
        stale,
        stale_errors,
        stale_label: page
            .tr
            .t("settings.stale_after_days")
            .replace("%{max}", &MAX_STALE_AFTER_DAYS.to_string()),
        saved,
    }
    .into_response();
    Ok(refused_status(response, refused))
}

pub(crate) async fn save_transport(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<TransportForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.setting(page.tr) {
        Err(errors) => errors,
        Ok(setting) => match state
            .db
            .set_transport_setting(&current.actor, setting)
            .await
        {
            Ok(_) => return Ok(Redirect::to("/settings?saved=transport").into_response()),
            Err(e) => field_errors(e, transport_field, page.tr.locale).map_err(page_err(&page))?,
        },
    };
    let refused = Refused {
        transport: Some((form, errors)),
        ..Refused::default()
    };
    render(&state, &page, refused, None).await
}

pub(crate) async fn save_compensation(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<CompensationForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.setting(page.tr) {
        Err(errors) => errors,
        Ok(setting) => match state
            .db
            .set_compensation_setting(&current.actor, setting)
            .await
        {
            Ok(_) => return Ok(Redirect::to("/settings?saved=compensation").into_response()),
            Err(e) => {
                field_errors(e, compensation_field, page.tr.locale).map_err(page_err(&page))?
            }
        },
    };
    let refused = Refused {
        compensation: Some((form, errors)),
        ..Refused::default()
    };
    render(&state, &page, refused, None).await
}

/// The stale period: how many days after its last verification a record is flagged stale.
/// Storage refuses anyone but an administrator of the whole installation, checks the range
/// and audits the change.
pub(crate) async fn save_stale_period(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<StaleForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.days(page.tr) {
        Err(errors) => errors,
        Ok(days) => match state.db.set_stale_after_days(&current.actor, days).await {
            Ok(()) => return Ok(Redirect::to("/settings?saved=verification").into_response()),
            Err(e) => field_errors(e, stale_field, page.tr.locale).map_err(page_err(&page))?,
        },
    };
    let refused = Refused {
        stale: Some((form, errors)),
        ..Refused::default()
    };
    render(&state, &page, refused, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hundredths_are_read_exactly() {
        for (text, value) in [("0.2", 20), ("800", 80_000), (" 12.34 ", 1_234), ("0", 0)] {
            assert_eq!(parse_hundredths(text), Some(value), "{text}");
        }
        for text in ["", "-1", "1.234", "abc", ".5", "1e3"] {
            assert_eq!(parse_hundredths(text), None, "{text}");
        }
    }

    #[test]
    fn a_form_names_each_bad_field_and_keeps_the_rest() {
        let form = TransportForm {
            road_factor: "1,3".into(),
            speed_km_per_hour: "60".into(),
            default_cost_per_unit_km: "2".into(),
            cost_per_unit_km_by_type: "TRN.ROAD.TRUCK_HEAVY, 5\nno comma here".into(),
            ..TransportForm::default()
        };
        let en = Tr { locale: "en" };
        let errors = form.setting(en).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["road_factor", "cost_per_unit_km_by_type"]);
        assert_eq!(errors[0].message, "\"1,3\": expected a number");
        assert_eq!(
            errors[1].message,
            "line 2: \"no comma here\": expected a type code, a comma and a cost per unit-km"
        );
        // The same problems on a Chinese page, in Chinese.
        let errors = form.setting(Tr { locale: "zh-CN" }).expect_err("refused");
        assert_eq!(errors[0].message, "\"1,3\"：应为数字");
        assert!(
            errors[1]
                .message
                .starts_with("第 2 行：\"no comma here\"："),
            "{:?}",
            errors[1]
        );

        let compensation = CompensationForm {
            wear_percent_per_day: "0.2".into(),
            wear_cap_percent: "20".into(),
            worn_percent: "5".into(),
            damaged_percent: "30".into(),
            daily_rates: "TRN.ROAD, 600\ntransportation, 400.5".into(),
            ..CompensationForm::default()
        };
        let setting = compensation.setting(en).expect("reads");
        assert_eq!(setting.wear_basis_points_per_day, 20);
        assert_eq!(setting.damaged_basis_points, 3_000);
        assert_eq!(setting.daily_rates_fen.get("transportation"), Some(&40_050));
        assert_eq!(
            compensation_form(&setting).daily_rates,
            "TRN.ROAD, 600.00\ntransportation, 400.50"
        );
    }

    #[test]
    fn storage_refusals_land_on_their_fields() {
        let errors = field_errors(
            StorageError::Refused {
                field: "worn_basis_points",
                message: "worn_basis_points: expected 0 to 10000; daily_rates_fen.TRN.ROAD: expected 0 to 100000000 fen, found -5".into(),
                message_zh: "worn_basis_points：应为 0 至 10000；daily_rates_fen.TRN.ROAD：应为 0 至 100000000 分，实为 -5".into(),
            },
            compensation_field,
            "en",
        )
        .expect("named");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["worn_percent", "daily_rates"]);
    }

    #[test]
    fn storage_refusals_said_in_chinese_land_on_their_fields() {
        let refused = || {
            StorageError::Refused {
            field: "worn_basis_points",
            message: "worn_basis_points: expected 0 to 10000 basis points (0 to 100 %), found 20000; daily_rates_fen.TRN.ROAD: expected 0 to 100000000 fen, found -5".into(),
            message_zh: "worn_basis_points：应为 0 至 10000 个基点（0 至 100%），实为 20000；daily_rates_fen.TRN.ROAD：应为 0 至 100000000 分，实为 -5".into(),
        }
        };
        let errors = field_errors(refused(), compensation_field, "zh-CN").expect("named");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["worn_percent", "daily_rates"]);
        assert!(errors[0].message.contains("实为 20000"), "{errors:?}");
        assert!(errors[1].message.contains("实为 -5"), "{errors:?}");
        let errors = field_errors(refused(), compensation_field, "en").expect("named");
        assert!(errors[1].message.contains("found -5"), "{errors:?}");
        assert!(
            field_errors(
                StorageError::forbidden("no", "不允许"),
                compensation_field,
                "zh-CN"
            )
            .is_err()
        );
    }

    #[test]
    fn a_damage_below_wear_stays_whole_under_its_field() {
        let message = muster_domain::requisition::CompensationError::DamageBelowWear {
            worn: 5_000,
            damaged: 1_000,
        }
        .to_string();
        let errors = field_errors(
            StorageError::Refused {
                field: "damaged_basis_points",
                message: message.clone(),
                message_zh: String::new(),
            },
            compensation_field,
            "en",
        )
        .expect("named");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "damaged_percent");
        assert_eq!(errors[0].message, message);
    }
}
