//! Civil air defense facilities and the grid that keeps them in working order (DOMAIN.md,
//! workflow 2: "the last mile").
//!
//! Everything storage and the web need to decide, with no storage in it:
//!
//! * [`FacilityDraft::validate`] checks a facility as an office registers or edits it: kind,
//!   place, protected capacity, peacetime use, sign, equipment, conversion steps.
//! * [`Checklist`] is what a grid member checks on a visit, per kind; [`default_checklist`]
//!   is the template until an administrator edits it, and [`Checklist::validate`] keeps an
//!   edited one usable.
//! * [`interval_days`] and [`next_due`] turn the schedules along a facility's region path
//!   into the day its next inspection is due, so "my rounds today" is a comparison.
//! * [`InspectionDraft::check`] checks a submitted inspection against the checklist and says
//!   which items failed: each failure becomes a rectification order ([`order_deadline`]).
//! * [`OrderStatus::apply`] is the rectification order's state machine; [`reminder_due`]
//!   and [`is_overdue`] drive reminders and escalation.
//! * [`readiness`] buckets protected capacity by how soon it could be ready.
//! * [`patrol::missed_checkpoints`] and [`campaign::forecast`] are patrols and campaigns.

pub mod campaign;
pub mod patrol;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::organization::string_enum;
use crate::potential::import::great_circle_km;
use crate::time::{CivilDate, Timestamp};

string_enum! {
    /// The kinds of facility DOMAIN.md names.
    FacilityKind {
        Shelter => "shelter",
        BasementCarPark => "basement_car_park",
        CommandPost => "command_post",
        Siren => "siren",
        ReserveWarehouse => "reserve_warehouse",
        EmergencyKit => "emergency_kit",
    }
}

string_enum! {
    /// Whether the facility's public sign is up: campaigns chase the missing ones.
    SignStatus {
        Missing => "missing",
        Installed => "installed",
        Damaged => "damaged",
    }
}

string_enum! {
    /// One checklist item's result on one visit.
    ItemResult {
        Pass => "pass",
        Fail => "fail",
        NotApplicable => "not_applicable",
    }
}

impl FacilityKind {
    /// Days between inspections unless a region's schedule says otherwise. Shelters and car
    /// parks are visited monthly; sirens are tested quarterly; kits are checked each quarter.
    pub const fn default_interval_days(self) -> u32 {
        match self {
            FacilityKind::Shelter
            | FacilityKind::BasementCarPark
            | FacilityKind::CommandPost
            | FacilityKind::ReserveWarehouse => 30,
            FacilityKind::Siren | FacilityKind::EmergencyKit => 90,
        }
    }

    /// The kind in Chinese, as the Chinese pages name it (`facilities.kind.*`), for refusals
    /// said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            FacilityKind::Shelter => "人员掩蔽工程",
            FacilityKind::BasementCarPark => "人防地下车库",
            FacilityKind::CommandPost => "指挥所",
            FacilityKind::Siren => "防空警报器",
            FacilityKind::ReserveWarehouse => "储备仓库",
            FacilityKind::EmergencyKit => "应急物资箱",
        }
    }
}

/// A value a form or an import got wrong: the field and what was expected there, in English
/// and, for the Chinese pages, in Chinese (`expected_zh`, not serialized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct FieldProblem {
    pub field: String,
    pub expected: String,
    #[serde(skip)]
    pub expected_zh: String,
}

impl FieldProblem {
    fn new(
        field: impl Into<String>,
        expected: impl Into<String>,
        expected_zh: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            expected: expected.into(),
            expected_zh: expected_zh.into(),
        }
    }

    /// The problem in Chinese, for the Chinese pages: the same field path as the English
    /// (`answers[0].note`), then `：` and what was expected.
    pub fn zh(&self) -> String {
        format!("{}：{}", self.field, self.expected_zh)
    }
}

/// The longest name or label, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest free-text note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// The most persons one facility can protect; larger figures are typing errors.
pub const MAX_CAPACITY_PERSONS: u32 = 200_000;

/// What a facility does in peacetime. Parking spaces and charging points are what the
/// dashboards add up; `since` is when the use began, so "added this year" is a filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeacetimeUse {
    pub parking_spaces: u32,
    pub charging_points: u32,
    /// Services such as parcel lockers, gyms, shops.
    pub services: Vec<String>,
    pub since: Option<CivilDate>,
}

impl PeacetimeUse {
    pub fn is_used(&self) -> bool {
        self.parking_spaces > 0 || self.charging_points > 0 || !self.services.is_empty()
    }
}

/// One piece of equipment: a protective door with its parts, a filter unit, a generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquipmentItem {
    pub name: String,
    pub count: u32,
    /// The parts a visit looks at, e.g. a door's seal, hinges and locking bolts.
    #[serde(default)]
    pub parts: Vec<String>,
}

/// One step of turning a peacetime use back into protection, with how long it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionStep {
    pub label: String,
    pub minutes: u32,
}

/// A facility as an office registers or edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacilityDraft {
    pub name: String,
    pub kind: FacilityKind,
    pub latitude: f64,
    pub longitude: f64,
    pub capacity_persons: u32,
    pub area_m2: f64,
    pub peacetime: PeacetimeUse,
    pub sign_status: SignStatus,
    pub equipment: Vec<EquipmentItem>,
    pub conversion: Vec<ConversionStep>,
}

impl FacilityDraft {
    /// Every problem at once, so that a form can mark all its fields in one go.
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        check_label(&mut problems, "name", &self.name);
        if !(-90.0..=90.0).contains(&self.latitude) {
            problems.push(FieldProblem::new(
                "latitude",
                "a latitude between -90 and 90",
                "纬度应在 -90 至 90 之间",
            ));
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            problems.push(FieldProblem::new(
                "longitude",
                "a longitude between -180 and 180",
                "经度应在 -180 至 180 之间",
            ));
        }
        if self.capacity_persons > MAX_CAPACITY_PERSONS {
            problems.push(FieldProblem::new(
                "capacity_persons",
                format!("at most {MAX_CAPACITY_PERSONS} persons"),
                format!("防护人数最多 {MAX_CAPACITY_PERSONS} 人"),
            ));
        }
        if !(0.0..=10_000_000.0).contains(&self.area_m2) {
            problems.push(FieldProblem::new(
                "area_m2",
                "an area between 0 and 10,000,000 m²",
                "面积应在 0 至 10,000,000 平方米之间",
            ));
        }
        for (index, service) in self.peacetime.services.iter().enumerate() {
            check_label(&mut problems, &format!("services[{index}]"), service);
        }
        for (index, item) in self.equipment.iter().enumerate() {
            check_label(
                &mut problems,
                &format!("equipment[{index}].name"),
                &item.name,
            );
            for (part_index, part) in item.parts.iter().enumerate() {
                check_label(
                    &mut problems,
                    &format!("equipment[{index}].parts[{part_index}]"),
                    part,
                );
            }
        }
        for (index, step) in self.conversion.iter().enumerate() {
            check_label(
                &mut problems,
                &format!("conversion[{index}].label"),
                &step.label,
            );
            if step.minutes > 60 * 24 * 30 {
                problems.push(FieldProblem::new(
                    format!("conversion[{index}].minutes"),
                    "at most 30 days of work per step",
                    "每个步骤的用时最多 30 天",
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Minutes from the order to convert until the facility protects its capacity: the sum
    /// of its steps (they are done in order by the same crew).
    pub fn conversion_minutes(&self) -> u32 {
        conversion_minutes(&self.conversion)
    }
}

pub fn conversion_minutes(steps: &[ConversionStep]) -> u32 {
    steps
        .iter()
        .fold(0u32, |sum, step| sum.saturating_add(step.minutes))
}

fn check_label(problems: &mut Vec<FieldProblem>, field: &str, text: &str) {
    let chars = text.trim().chars().count();
    if chars == 0 {
        problems.push(FieldProblem::new(field, "a non-empty text", "不能为空"));
    } else if chars > MAX_NAME_CHARS {
        problems.push(FieldProblem::new(
            field,
            format!("at most {MAX_NAME_CHARS} characters"),
            format!("最多 {MAX_NAME_CHARS} 个字符"),
        ));
    }
}

/// How soon a facility's protected capacity could be ready, for the dual-use dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Within24Hours,
    Within72Hours,
    WithinWeek,
    Longer,
}

/// The bucket for a facility that takes `minutes` to convert.
pub const fn readiness(minutes: u32) -> Readiness {
    match minutes {
        0..=1440 => Readiness::Within24Hours,
        1441..=4320 => Readiness::Within72Hours,
        4321..=10_080 => Readiness::WithinWeek,
        _ => Readiness::Longer,
    }
}

/// Protected capacity ready within each horizon, cumulatively: what could shelter people
/// within a day includes what is ready at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadyCapacity {
    pub within_24_hours: u64,
    pub within_72_hours: u64,
    pub within_week: u64,
    pub total: u64,
}

impl ReadyCapacity {
    pub fn add(&mut self, capacity_persons: u32, conversion_minutes: u32) {
        let capacity = u64::from(capacity_persons);
        let bucket = readiness(conversion_minutes);
        if bucket <= Readiness::Within24Hours {
            self.within_24_hours += capacity;
        }
        if bucket <= Readiness::Within72Hours {
            self.within_72_hours += capacity;
        }
        if bucket <= Readiness::WithinWeek {
            self.within_week += capacity;
        }
        self.total += capacity;
    }
}

/// One thing to check on a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Stable key, `[a-z0-9_]`: results and orders refer to it.
    pub code: String,
    pub label_zh: String,
    pub label_en: String,
    /// Days the property manager gets to repair a failure of this item.
    pub deadline_days: u32,
}

impl ChecklistItem {
    pub fn label(&self, locale: &str) -> &str {
        if locale.starts_with("zh") {
            &self.label_zh
        } else {
            &self.label_en
        }
    }
}

/// The checklist for one facility kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub kind: FacilityKind,
    pub items: Vec<ChecklistItem>,
}

/// The most items one checklist may have: a visit is minutes on a phone, not an audit.
pub const MAX_CHECKLIST_ITEMS: usize = 40;

impl Checklist {
    /// Codes unique and well-formed, labels present, deadlines between 1 and 365 days.
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if self.items.is_empty() || self.items.len() > MAX_CHECKLIST_ITEMS {
            problems.push(FieldProblem::new(
                "items",
                format!("between 1 and {MAX_CHECKLIST_ITEMS} items"),
                format!("检查清单应有 1 至 {MAX_CHECKLIST_ITEMS} 个检查项"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, item) in self.items.iter().enumerate() {
            let well_formed = !item.code.is_empty()
                && item.code.len() <= 40
                && item
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed {
                problems.push(FieldProblem::new(
                    format!("items[{index}].code"),
                    "1 to 40 of a-z, 0-9 and _",
                    "应为 1 至 40 个字符，只能是 a-z、0-9 和 _",
                ));
            } else if !seen.insert(item.code.as_str()) {
                problems.push(FieldProblem::new(
                    format!("items[{index}].code"),
                    format!("a code not used by another item; {:?} is", item.code),
                    format!("编码不能与其他检查项重复，{:?} 已被使用", item.code),
                ));
            }
            check_label(
                &mut problems,
                &format!("items[{index}].label_zh"),
                &item.label_zh,
            );
            check_label(
                &mut problems,
                &format!("items[{index}].label_en"),
                &item.label_en,
            );
            if !(1..=365).contains(&item.deadline_days) {
                problems.push(FieldProblem::new(
                    format!("items[{index}].deadline_days"),
                    "between 1 and 365 days",
                    "整改期限应为 1 至 365 天",
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    pub fn item(&self, code: &str) -> Option<&ChecklistItem> {
        self.items.iter().find(|item| item.code == code)
    }
}

/// The template for a kind until an administrator edits it. Door items get a week: a door
/// that does not seal is a shelter that does not protect.
pub fn default_checklist(kind: FacilityKind) -> Checklist {
    let item = |code: &str, zh: &str, en: &str, days: u32| ChecklistItem {
        code: code.to_owned(),
        label_zh: zh.to_owned(),
        label_en: en.to_owned(),
        deadline_days: days,
    };
    let doors = || {
        vec![
            item("door_seal", "防护门密封条", "Protective door seal", 7),
            item(
                "door_alignment",
                "防护门开关对位",
                "Protective door alignment",
                7,
            ),
            item("door_cushions", "门框缓冲垫", "Door frame cushions", 14),
        ]
    };
    let mut items = match kind {
        FacilityKind::Shelter | FacilityKind::BasementCarPark | FacilityKind::CommandPost => {
            let mut items = doors();
            items.extend([
                item(
                    "ventilation",
                    "通风滤毒设备",
                    "Ventilation and filtering",
                    14,
                ),
                item("lighting", "应急照明", "Emergency lighting", 14),
                item("water", "给排水", "Water supply and drainage", 14),
                item("signage", "标识标牌", "Signs and wayfinding", 30),
                item("clear_access", "出入口通畅", "Entrances kept clear", 3),
            ]);
            items
        }
        FacilityKind::Siren => vec![
            item("siren_test", "鸣响试验", "Siren test sounds", 7),
            item("power", "供电与备用电源", "Power and backup supply", 7),
            item("mounting", "安装牢固", "Mounting secure", 14),
            item("signage", "标识标牌", "Signs and wayfinding", 30),
        ],
        FacilityKind::ReserveWarehouse => vec![
            item("stock_count", "物资账实相符", "Stock matches the books", 14),
            item(
                "storage_conditions",
                "防潮防火",
                "Dry and fire-safe storage",
                14,
            ),
            item("access", "出入管理", "Access control", 7),
            item("signage", "标识标牌", "Signs and wayfinding", 30),
        ],
        FacilityKind::EmergencyKit => vec![
            item("contents", "物品齐全", "Contents complete", 14),
            item("expiry", "无过期物品", "Nothing past its expiry date", 14),
            item("signage", "标识标牌", "Signs and wayfinding", 30),
        ],
    };
    items.shrink_to_fit();
    Checklist { kind, items }
}

/// An inspection schedule a region sets for one kind: every `every_days` days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The depth of the region that set it: the deepest schedule on a facility's path wins.
    pub region_depth: usize,
    pub every_days: u32,
}

/// The interval for a facility: the schedule of the deepest region on its path that set one,
/// else the kind's default.
pub fn interval_days(kind: FacilityKind, schedules_on_path: &[Schedule]) -> u32 {
    schedules_on_path
        .iter()
        .max_by_key(|schedule| schedule.region_depth)
        .map_or(kind.default_interval_days(), |schedule| schedule.every_days)
}

/// The day the next inspection is due: `interval` days after the last one, or the day the
/// facility was registered if it was never inspected.
pub fn next_due(
    last_inspected: Option<Timestamp>,
    registered: Timestamp,
    interval: u32,
) -> CivilDate {
    match last_inspected {
        Some(last) => last.date().plus_days(i64::from(interval)),
        None => registered.date(),
    }
}

/// One answered checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemAnswer {
    pub code: String,
    pub result: ItemResult,
    #[serde(default)]
    pub note: String,
}

/// An inspection as the phone submits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionDraft {
    pub answers: Vec<ItemAnswer>,
    #[serde(default)]
    pub notes: String,
    /// Where the phone was, if it could tell.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// When the phone says the visit happened (it may be submitted later, after a dead zone).
    pub inspected_at: Timestamp,
}

/// A checked inspection: which items failed, and whether the phone was far from the
/// facility (recorded, not refused: GPS is poor underground).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedInspection {
    pub failed: Vec<String>,
    pub distance_m: Option<f64>,
    pub far_from_facility: bool,
}

/// Beyond this distance from the facility a visit is flagged for the office to look at.
pub const FAR_FROM_FACILITY_M: f64 = 500.0;
/// How far in the future a phone's clock may be before the visit time is refused.
pub const CLOCK_SKEW_MILLIS: i64 = 10 * 60 * 1000;

impl InspectionDraft {
    /// Every item of the checklist answered exactly once, nothing else, notes within
    /// bounds, a position that is a position and a time that is not in the future.
    pub fn check(
        &self,
        checklist: &Checklist,
        facility_position: (f64, f64),
        now: Timestamp,
    ) -> Result<CheckedInspection, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, answer) in self.answers.iter().enumerate() {
            if checklist.item(&answer.code).is_none() {
                problems.push(FieldProblem::new(
                    format!("answers[{index}].code"),
                    format!(
                        "an item of the {} checklist; {:?} is not one",
                        checklist.kind, answer.code
                    ),
                    format!(
                        "应为{}检查清单中的检查项，{:?} 不是",
                        checklist.kind.zh(),
                        answer.code
                    ),
                ));
            }
            *answered.entry(answer.code.as_str()).or_default() += 1;
            if answer.note.chars().count() > MAX_NOTE_CHARS {
                problems.push(FieldProblem::new(
                    format!("answers[{index}].note"),
                    format!("at most {MAX_NOTE_CHARS} characters"),
                    format!("最多 {MAX_NOTE_CHARS} 个字符"),
                ));
            }
        }
        for item in &checklist.items {
            match answered.get(item.code.as_str()) {
                None => problems.push(FieldProblem::new(
                    format!("answers.{}", item.code),
                    "an answer: pass, fail or not_applicable",
                    "请作答：正常（pass）、异常（fail）或不适用（not_applicable）",
                )),
                Some(count) if *count > 1 => problems.push(FieldProblem::new(
                    format!("answers.{}", item.code),
                    "one answer, not several",
                    "只能作答一次，不能多次",
                )),
                Some(_) => {}
            }
        }
        if self.notes.chars().count() > MAX_NOTE_CHARS {
            problems.push(FieldProblem::new(
                "notes",
                format!("at most {MAX_NOTE_CHARS} characters"),
                format!("最多 {MAX_NOTE_CHARS} 个字符"),
            ));
        }
        let position = match (self.latitude, self.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            (None, None) => None,
            _ => {
                problems.push(FieldProblem::new(
                    "position",
                    "a latitude and a longitude, or neither",
                    "纬度和经度须同时填写，或都不填",
                ));
                None
            }
        };
        if self.inspected_at > now.plus_millis(CLOCK_SKEW_MILLIS) {
            problems.push(FieldProblem::new(
                "inspected_at",
                "a time that is not in the future",
                "巡检时间不能晚于当前时间",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let distance_m = position.map(|p| great_circle_km(p, facility_position) * 1000.0);
        Ok(CheckedInspection {
            failed: self
                .answers
                .iter()
                .filter(|a| a.result == ItemResult::Fail)
                .map(|a| a.code.clone())
                .collect(),
            distance_m,
            far_from_facility: distance_m.is_some_and(|d| d > FAR_FROM_FACILITY_M),
        })
    }
}

/// The deadline of an order for a failed item found on `inspected`.
pub fn order_deadline(item: &ChecklistItem, inspected: Timestamp) -> CivilDate {
    inspected.date().plus_days(i64::from(item.deadline_days))
}

string_enum! {
    /// Where a rectification order stands.
    OrderStatus {
        Issued => "issued",
        Acknowledged => "acknowledged",
        Repaired => "repaired",
        Verified => "verified",
        Closed => "closed",
        SentBack => "sent_back",
    }
}

string_enum! {
    /// Who acts on an order: the property manager repairs, the office checks.
    OrderParty {
        PropertyManager => "property_manager",
        Office => "office",
    }
}

impl OrderParty {
    /// The party in Chinese, for refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            OrderParty::PropertyManager => "物业管理人",
            OrderParty::Office => "动员办公室",
        }
    }
}

/// What someone does to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OrderAction {
    Acknowledge,
    /// The manager says it is fixed; evidence is the photos' checksums and a note.
    ReportRepair {
        note: String,
        evidence: Vec<String>,
    },
    Verify,
    SendBack {
        reason: String,
    },
    Close,
}

impl OrderAction {
    pub const fn name(&self) -> &'static str {
        match self {
            OrderAction::Acknowledge => "acknowledge",
            OrderAction::ReportRepair { .. } => "report_repair",
            OrderAction::Verify => "verify",
            OrderAction::SendBack { .. } => "send_back",
            OrderAction::Close => "close",
        }
    }

    /// The action in Chinese, as the Chinese pages' buttons name it
    /// (`facilities.action.*`), for refusals said in Chinese.
    pub const fn name_zh(&self) -> &'static str {
        match self {
            OrderAction::Acknowledge => "签收",
            OrderAction::ReportRepair { .. } => "报告整改完成",
            OrderAction::Verify => "验收",
            OrderAction::SendBack { .. } => "退回",
            OrderAction::Close => "关闭",
        }
    }

    const fn party(&self) -> OrderParty {
        match self {
            OrderAction::Acknowledge | OrderAction::ReportRepair { .. } => {
                OrderParty::PropertyManager
            }
            OrderAction::Verify | OrderAction::SendBack { .. } | OrderAction::Close => {
                OrderParty::Office
            }
        }
    }
}

/// Why an action on an order was refused. Each English text has its Chinese twin beside it
/// (`action_zh`, `hint_zh`, `expected_zh`), which [`Self::zh`] says on the Chinese pages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRefusal {
    #[error("{action}: not possible on an order that is {from}; {hint}")]
    WrongState {
        from: OrderStatus,
        action: &'static str,
        action_zh: &'static str,
        hint: &'static str,
        hint_zh: &'static str,
    },
    #[error("only the {expected} may {action} an order")]
    WrongParty {
        expected: OrderParty,
        action: &'static str,
        action_zh: &'static str,
    },
    #[error("{field}: {expected}")]
    Invalid {
        field: &'static str,
        expected: String,
        expected_zh: String,
    },
}

impl OrderRefusal {
    /// The refusal in Chinese, for the Chinese pages; a refusal about a field starts with
    /// the same field as the English.
    pub fn zh(&self) -> String {
        match self {
            OrderRefusal::WrongState {
                from,
                action_zh,
                hint_zh,
                ..
            } => format!("不能对{}的整改通知执行“{action_zh}”：{hint_zh}", from.zh()),
            OrderRefusal::WrongParty {
                expected,
                action_zh,
                ..
            } => format!("只有{}才能对整改通知执行“{action_zh}”", expected.zh()),
            OrderRefusal::Invalid {
                field, expected_zh, ..
            } => format!("{field}：{expected_zh}"),
        }
    }
}

impl OrderStatus {
    /// The status in Chinese, as the Chinese pages name it (`facilities.order_status.*`), for
    /// refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            OrderStatus::Issued => "已下发",
            OrderStatus::Acknowledged => "已签收",
            OrderStatus::Repaired => "已整改",
            OrderStatus::Verified => "已验收",
            OrderStatus::Closed => "已关闭",
            OrderStatus::SentBack => "已退回",
        }
    }

    /// Whether the order still needs someone to act: not verified or closed.
    pub const fn is_open(self) -> bool {
        !matches!(self, OrderStatus::Verified | OrderStatus::Closed)
    }

    /// The state machine: issued → acknowledged → repaired → verified → closed, and a
    /// repair the office does not accept goes back to the manager (sent back), who
    /// acknowledges again or reports the repair again.
    pub fn apply(
        self,
        action: &OrderAction,
        party: OrderParty,
    ) -> Result<OrderStatus, OrderRefusal> {
        if action.party() != party {
            return Err(OrderRefusal::WrongParty {
                expected: action.party(),
                action: action.name(),
                action_zh: action.name_zh(),
            });
        }
        match action {
            OrderAction::ReportRepair { note, evidence } => {
                if note.trim().is_empty() && evidence.is_empty() {
                    return Err(OrderRefusal::Invalid {
                        field: "evidence",
                        expected: "a photo or a note saying what was repaired".to_owned(),
                        expected_zh: "请上传照片，或说明整改了什么".to_owned(),
                    });
                }
                if note.chars().count() > MAX_NOTE_CHARS {
                    return Err(OrderRefusal::Invalid {
                        field: "note",
                        expected: format!("at most {MAX_NOTE_CHARS} characters"),
                        expected_zh: format!("最多 {MAX_NOTE_CHARS} 个字符"),
                    });
                }
            }
            OrderAction::SendBack { reason } if reason.trim().is_empty() => {
                return Err(OrderRefusal::Invalid {
                    field: "reason",
                    expected: "a reason the manager can act on".to_owned(),
                    expected_zh: "请写明退回原因，便于物业管理人据此整改".to_owned(),
                });
            }
            _ => {}
        }
        use OrderStatus::*;
        let next = match (self, action) {
            (Issued | SentBack, OrderAction::Acknowledge) => Acknowledged,
            (Issued | Acknowledged | SentBack, OrderAction::ReportRepair { .. }) => Repaired,
            (Repaired, OrderAction::Verify) => Verified,
            (Repaired, OrderAction::SendBack { .. }) => SentBack,
            (Verified, OrderAction::Close) => Closed,
            (from, action) => {
                let (hint, hint_zh) = match from {
                    Issued | Acknowledged | SentBack => (
                        "the property manager has to report the repair first",
                        "须先由物业管理人报告整改完成",
                    ),
                    Repaired => (
                        "the office verifies the repair or sends it back",
                        "应由动员办公室验收整改或退回",
                    ),
                    Verified => ("it can only be closed", "已验收的整改通知只能关闭"),
                    Closed => ("it is closed", "整改通知已关闭"),
                };
                return Err(OrderRefusal::WrongState {
                    from,
                    action: action.name(),
                    action_zh: action.name_zh(),
                    hint,
                    hint_zh,
                });
            }
        };
        Ok(next)
    }
}

/// Whether an open order is past its deadline day.
pub fn is_overdue(status: OrderStatus, deadline: CivilDate, now: Timestamp) -> bool {
    status.is_open() && status != OrderStatus::Repaired && now > deadline.end()
}

string_enum! {
    /// Reminders sent for an order, in the order they fall due.
    Reminder {
        ThreeDaysBefore => "three_days_before",
        OneDayBefore => "one_day_before",
        Overdue => "overdue",
    }
}

/// The reminder to send now for an order, if any: the latest one that has fallen due and
/// is later than the last one sent. An order that skipped a reminder (the server was down)
/// gets only the latest, not a burst.
pub fn reminder_due(
    status: OrderStatus,
    deadline: CivilDate,
    now: Timestamp,
    last_sent: Option<Reminder>,
) -> Option<Reminder> {
    if !status.is_open() || status == OrderStatus::Repaired {
        return None;
    }
    let due = if now > deadline.end() {
        Reminder::Overdue
    } else if now >= deadline.plus_days(-1).start() {
        Reminder::OneDayBefore
    } else if now >= deadline.plus_days(-3).start() {
        Reminder::ThreeDaysBefore
    } else {
        return None;
    };
    (last_sent < Some(due)).then_some(due)
}

#[cfg(test)]
mod tests;
