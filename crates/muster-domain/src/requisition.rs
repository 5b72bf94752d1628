//! Requisition of civilian resources: a lawful order taking resources from an enterprise or
//! a citizen for a time, the record of their use, their return, and the compensation the
//! holder is owed.
//!
//! * [`ExemptionRules`] are data (an office edits them; [`ExemptionRules::default_rules`]
//!   ships the usual ones) and [`apply_exemptions`] says which candidate items are exempt
//!   and by which rule. [`NewRequisitionOrder::validate`] applies them **first**: an order
//!   naming an exempt item is refused, so an exemption cannot be overlooked by whoever
//!   drafts the order.
//! * [`transition`] is the order's lifecycle, one [`RequisitionEvent`] at a time:
//!
//!   ```text
//!   drafted ─notify→ notified ─hand_over→ handed_over ─record_use→ in_use ─return→ returned
//!      │                │                      └───────────────return──────────────┘
//!      └──cancel────────┴──→ cancelled          returned ─assess→ compensation_assessed
//!                                               ─approve→ approved ─mark_paid→ paid
//!   ```
//!
//!   Storage keeps the draft and the events; replaying the events through [`transition`]
//!   rebuilds the order, so the history and the state can never disagree.
//! * [`assess_compensation`] computes what the holder is owed by the formula below and
//!   returns every term with its inputs, so the figure can be shown and checked line by line.
//!
//! # The compensation formula
//!
//! Money is integer fen (1/100 yuan) in `i64`. For each item of the order, with `q` its
//! quantity, `V = q × declared value per unit`, `d` the use days and `r` the daily rate
//! per unit:
//!
//! ```text
//! use    = d × r × q
//! damage = V × damage% (by returned condition: good 0, worn and damaged from the policy, lost 100 %)
//! wear   = min(V × min(d × wear%_per_day, wear%_cap), V − damage)
//! item   = use + wear + damage
//! total  = Σ item
//! ```
//!
//! * **Use days** run from handover to return, every started day counting (the holder was
//!   without the resource that day), at least one: see [`use_days`].
//! * **Wear** grows with the days of use up to a cap, and wear and damage together never
//!   exceed the declared value: a lost item is paid its value once, not its value plus wear.
//! * Percentages are integer **basis points** (1/100 of a percent) so the policy is exact.
//!   Each percentage term is rounded to the nearest fen, **halves up**, in the holder's
//!   favour; the use term needs no rounding.
//! * Every step is checked: a figure that does not fit in `i64` fen is refused with
//!   [`CompensationError::Overflow`] naming the item and the term, never wrapped or clamped.
//!
//! The formula is non-negative for any accepted input and non-decreasing in the use days
//! (both are tested as properties).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::organization::string_enum;
use crate::taxonomy::AttributeValue;
use crate::time::Timestamp;

/// The longest legal basis, cancellation reason or use-log note, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The most items one order may list.
pub const MAX_ITEMS: usize = 500;

/// The largest quantity of one item: an order is for things a holder has, not a warehouse
/// of a nation.
pub const MAX_ITEM_QUANTITY: i64 = 1_000_000;

/// The most hours of use one log entry may record: one entry is one day.
pub const MAX_HOURS_PER_ENTRY: u32 = 24;

/// The most kilometres one log entry may record: a day's driving, generously.
pub const MAX_KILOMETRES_PER_ENTRY: u32 = 5_000;

/// 100 % in basis points.
pub const FULL_BASIS_POINTS: u32 = 10_000;

const MILLIS_PER_DAY: i64 = 86_400_000;

string_enum! {
    /// What kind of holder a resource belongs to, as exemption rules see it.
    HolderCategory {
        Enterprise => "enterprise",
        Citizen => "citizen",
        Hospital => "hospital",
        School => "school",
        EmergencyService => "emergency_service",
        PublicInstitution => "public_institution",
    }
}

string_enum! {
    /// Where a requisition order stands. `paid` and `cancelled` are terminal.
    RequisitionStatus {
        Drafted => "drafted",
        Notified => "notified",
        HandedOver => "handed_over",
        InUse => "in_use",
        Returned => "returned",
        CompensationAssessed => "compensation_assessed",
        Approved => "approved",
        Paid => "paid",
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// The state a requisitioned item came back in.
    ReturnCondition {
        Good => "good",
        Worn => "worn",
        Damaged => "damaged",
        Lost => "lost",
    }
}

impl RequisitionStatus {
    pub const fn is_terminal(self) -> bool {
        matches!(self, RequisitionStatus::Paid | RequisitionStatus::Cancelled)
    }

    /// The status in Chinese, as the Chinese pages name it, for refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            RequisitionStatus::Drafted => "已拟定",
            RequisitionStatus::Notified => "已通知",
            RequisitionStatus::HandedOver => "已交付",
            RequisitionStatus::InUse => "使用中",
            RequisitionStatus::Returned => "已归还",
            RequisitionStatus::CompensationAssessed => "补偿已核定",
            RequisitionStatus::Approved => "已审批",
            RequisitionStatus::Paid => "已支付",
            RequisitionStatus::Cancelled => "已撤销",
        }
    }
}

/// An event's action ([`RequisitionEvent::action`]) in Chinese.
fn action_zh(action: &str) -> &str {
    match action {
        "notify" => "通知持有人",
        "hand_over" => "交付",
        "record_use" => "登记使用",
        "return" => "归还",
        "assess" => "核定补偿",
        "approve" => "审批补偿",
        "mark_paid" => "登记支付",
        "cancel" => "撤销",
        other => other,
    }
}

/// A [`RequisitionRefusal::WrongStatus`] hint in Chinese; a hint not yet translated stays as
/// it is.
fn hint_zh(hint: &str) -> &str {
    match hint {
        "the holder has been notified already" => "已经通知过持有人",
        "notify the holder first" => "请先通知持有人",
        "the items have been handed over already" => "物项已经交付",
        "use is logged between handover and return" => "使用情况在交付之后、归还之前登记",
        "only items handed over can be returned" => "只有已交付的物项才能归还",
        "compensation is assessed after the return and before approval" => {
            "补偿在归还之后、审批之前核定"
        }
        "the handover and return times are missing" => "缺少交付时间或归还时间",
        "assess the compensation first" => "请先核定补偿",
        "the compensation must be approved before it is paid" => "补偿须先审批才能支付",
        "the items are with the office; return them and assess the compensation" => {
            "物项已在动员办公室手中；请登记归还并核定补偿"
        }
        other => other,
    }
}

/// Who holds the requisitioned resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequisitionHolder {
    /// The holder's id in Muster (an organization or a registered person).
    pub holder_id: i64,
    pub name: String,
    pub category: HolderCategory,
}

// ---------------------------------------------------------------------------------------
// Exemptions
// ---------------------------------------------------------------------------------------

/// What an item's attribute must be for a [`ExemptionCondition::TypeWithAttribute`] rule.
/// Compared by meaning: a text matches a choice code of the same spelling, a number
/// matches an integer or a decimal of the same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AttributeExpectation {
    Boolean(bool),
    Text(String),
    Number(f64),
}

/// When a rule exempts an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExemptionCondition {
    /// The item is of one of these types and its attribute has this value: "passenger cars
    /// adapted for disabled persons" is the types of passenger car with `adapted_for_disabled
    /// = true`.
    TypeWithAttribute {
        type_codes: BTreeSet<String>,
        attribute: String,
        expected: AttributeExpectation,
    },
    /// The holder is of this category and the item is in service; `type_codes` empty means
    /// any type. "Equipment of hospitals in service" is category `hospital`, any type.
    HolderCategoryInService {
        category: HolderCategory,
        type_codes: BTreeSet<String>,
    },
    /// This holder is exempt outright (a decision recorded elsewhere, cited in the rule).
    Holder { holder_id: i64 },
}

/// One exemption rule: a code to cite, the text an office reads, and the condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExemptionRule {
    pub code: String,
    pub description: String,
    pub condition: ExemptionCondition,
}

/// A checked set of rules: codes unique and non-empty, every rule described, every list
/// and attribute name non-empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExemptionRules(Vec<ExemptionRule>);

/// One thing wrong with a rule set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExemptionRuleProblem {
    #[error("rules[{index}].code: give the rule a code")]
    CodeMissing { index: usize },
    #[error("rules[{index}].code: {code:?} is used by an earlier rule")]
    DuplicateCode { index: usize, code: String },
    #[error("rules[{index}].description: say what the rule exempts and on what basis")]
    DescriptionMissing { index: usize },
    #[error("rules[{index}].condition.type_codes: list at least one resource type")]
    NoTypes { index: usize },
    #[error("rules[{index}].condition.attribute: name the attribute")]
    AttributeMissing { index: usize },
    #[error("rules[{index}].condition.expected: a number must be finite")]
    BadNumber { index: usize },
}

impl ExemptionRuleProblem {
    /// The problem in Chinese, for the Chinese pages: the same field path as the English,
    /// then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            ExemptionRuleProblem::CodeMissing { index } => {
                format!("rules[{index}].code：请填写规则代码")
            }
            ExemptionRuleProblem::DuplicateCode { index, code } => {
                format!("rules[{index}].code：“{code}”已被前面的规则使用")
            }
            ExemptionRuleProblem::DescriptionMissing { index } => {
                format!("rules[{index}].description：请说明该规则免征什么、依据是什么")
            }
            ExemptionRuleProblem::NoTypes { index } => {
                format!("rules[{index}].condition.type_codes：请至少列出一种资源类型")
            }
            ExemptionRuleProblem::AttributeMissing { index } => {
                format!("rules[{index}].condition.attribute：请填写属性名称")
            }
            ExemptionRuleProblem::BadNumber { index } => {
                format!("rules[{index}].condition.expected：数值须为有限数")
            }
        }
    }
}

/// An item that might be requisitioned, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateItem {
    /// The potential record the item is.
    pub item_id: i64,
    pub type_code: String,
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Whether the item is in use in the holder's own service (a hospital's working
    /// ventilator, as against one in a store).
    pub in_service: bool,
    pub holder: RequisitionHolder,
}

/// Why one item is exempt: every rule that matched it, in rule order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemption {
    pub item_id: i64,
    pub reasons: Vec<ExemptionReason>,
}

/// One rule that matched, with what about the item matched it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExemptionReason {
    pub rule_code: String,
    pub rule_description: String,
    pub explanation: String,
}

/// The candidates split into those that may be requisitioned and those exempt, both in
/// candidate order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExemptionOutcome {
    pub requisitionable: Vec<i64>,
    pub exempt: Vec<Exemption>,
}

impl ExemptionRules {
    /// Checks a rule set, reporting every problem at once.
    pub fn new(rules: Vec<ExemptionRule>) -> Result<Self, Vec<ExemptionRuleProblem>> {
        let mut problems = Vec::new();
        let mut codes = BTreeSet::new();
        for (index, rule) in rules.iter().enumerate() {
            let code = rule.code.trim();
            if code.is_empty() {
                problems.push(ExemptionRuleProblem::CodeMissing { index });
            } else if !codes.insert(code) {
                problems.push(ExemptionRuleProblem::DuplicateCode {
                    index,
                    code: code.to_owned(),
                });
            }
            if rule.description.trim().is_empty() {
                problems.push(ExemptionRuleProblem::DescriptionMissing { index });
            }
            match &rule.condition {
                ExemptionCondition::TypeWithAttribute {
                    type_codes,
                    attribute,
                    expected,
                } => {
                    if type_codes.iter().all(|c| c.trim().is_empty()) {
                        problems.push(ExemptionRuleProblem::NoTypes { index });
                    }
                    if attribute.trim().is_empty() {
                        problems.push(ExemptionRuleProblem::AttributeMissing { index });
                    }
                    if matches!(expected, AttributeExpectation::Number(n) if !n.is_finite()) {
                        problems.push(ExemptionRuleProblem::BadNumber { index });
                    }
                }
                ExemptionCondition::HolderCategoryInService { .. }
                | ExemptionCondition::Holder { .. } => {}
            }
        }
        if problems.is_empty() {
            Ok(Self(rules))
        } else {
            Err(problems)
        }
    }

    /// The rules Muster ships: the exemptions the requisition law names most often. An
    /// office edits them as data; the type codes are the default taxonomy's.
    pub fn default_rules() -> Self {
        let types = |codes: &[&str]| codes.iter().map(|c| (*c).to_owned()).collect();
        Self(vec![
            ExemptionRule {
                code: "disabled_adapted_vehicle".into(),
                description: "Vehicles adapted for disabled persons are not requisitioned."
                    .into(),
                condition: ExemptionCondition::TypeWithAttribute {
                    // The default taxonomy's passenger vehicles: the small off-road car
                    // and the buses a care home or a school might have adapted. Each has
                    // the optional boolean attribute `adapted_for_disabled` (a test keeps
                    // the two in step).
                    type_codes: types(&[
                        "TRN.ROAD.OFF_ROAD",
                        "TRN.ROAD.BUS_MEDIUM",
                        "TRN.ROAD.BUS_LARGE",
                        "TRN.ROAD.CITY_BUS",
                    ]),
                    attribute: "adapted_for_disabled".into(),
                    expected: AttributeExpectation::Boolean(true),
                },
            },
            ExemptionRule {
                code: "hospital_in_service".into(),
                description:
                    "Equipment of hospitals in service stays with the hospital's patients."
                        .into(),
                condition: ExemptionCondition::HolderCategoryInService {
                    category: HolderCategory::Hospital,
                    type_codes: BTreeSet::new(),
                },
            },
            ExemptionRule {
                code: "emergency_service_in_service".into(),
                description: "Equipment in service with an emergency service is already at work for the same end."
                    .into(),
                condition: ExemptionCondition::HolderCategoryInService {
                    category: HolderCategory::EmergencyService,
                    type_codes: BTreeSet::new(),
                },
            },
        ])
    }

    pub fn rules(&self) -> &[ExemptionRule] {
        &self.0
    }
}

/// Splits `candidates` into requisitionable and exempt items, naming for each exempt item
/// every rule that matched and why. O(candidates × rules).
pub fn apply_exemptions(rules: &ExemptionRules, candidates: &[CandidateItem]) -> ExemptionOutcome {
    let mut outcome = ExemptionOutcome {
        requisitionable: Vec::new(),
        exempt: Vec::new(),
    };
    for item in candidates {
        let reasons: Vec<ExemptionReason> = rules
            .0
            .iter()
            .filter_map(|rule| {
                matches_rule(&rule.condition, item).map(|explanation| ExemptionReason {
                    rule_code: rule.code.trim().to_owned(),
                    rule_description: rule.description.trim().to_owned(),
                    explanation,
                })
            })
            .collect();
        if reasons.is_empty() {
            outcome.requisitionable.push(item.item_id);
        } else {
            outcome.exempt.push(Exemption {
                item_id: item.item_id,
                reasons,
            });
        }
    }
    outcome
}

/// Whether `item` meets `condition`, and if so what about it did, in words.
fn matches_rule(condition: &ExemptionCondition, item: &CandidateItem) -> Option<String> {
    match condition {
        ExemptionCondition::TypeWithAttribute {
            type_codes,
            attribute,
            expected,
        } => {
            if !type_codes.contains(item.type_code.trim()) {
                return None;
            }
            let value = item.attributes.get(attribute.trim())?;
            attribute_meets(value, expected).then(|| {
                format!(
                    "type {} with {} = {}",
                    item.type_code.trim(),
                    attribute.trim(),
                    describe_expectation(expected)
                )
            })
        }
        ExemptionCondition::HolderCategoryInService {
            category,
            type_codes,
        } => {
            let type_matches = type_codes.is_empty() || type_codes.contains(item.type_code.trim());
            (item.holder.category == *category && item.in_service && type_matches).then(|| {
                format!(
                    "held by a {} ({}) and in service",
                    category,
                    item.holder.name.trim()
                )
            })
        }
        ExemptionCondition::Holder { holder_id } => (item.holder.holder_id == *holder_id)
            .then(|| format!("holder {} is exempt", item.holder.name.trim())),
    }
}

fn attribute_meets(value: &AttributeValue, expected: &AttributeExpectation) -> bool {
    match (value, expected) {
        (AttributeValue::Boolean(v), AttributeExpectation::Boolean(e)) => v == e,
        (AttributeValue::Text(v) | AttributeValue::Choice(v), AttributeExpectation::Text(e)) => {
            v.trim() == e.trim()
        }
        (AttributeValue::Integer(v), AttributeExpectation::Number(e)) => (*v as f64) == *e,
        (AttributeValue::Decimal(v), AttributeExpectation::Number(e)) => v == e,
        _ => false,
    }
}

fn describe_expectation(expected: &AttributeExpectation) -> String {
    match expected {
        AttributeExpectation::Boolean(b) => b.to_string(),
        AttributeExpectation::Text(t) => format!("{:?}", t.trim()),
        AttributeExpectation::Number(n) => n.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Drafting an order
// ---------------------------------------------------------------------------------------

/// One item of an order as the form sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequisitionItem {
    pub item_id: i64,
    pub type_code: String,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub in_service: bool,
    pub quantity: i64,
    /// The declared value of one unit, in fen: what loss and damage are a share of.
    pub declared_value_fen: i64,
    /// The rate for one unit and one day of use, in fen.
    pub daily_rate_fen: i64,
}

/// An order as drafted, before the rules and the fields are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequisitionOrder {
    /// The law, decision or command the order rests on: required, because an order without
    /// one is not lawful.
    pub legal_basis: String,
    pub holder: RequisitionHolder,
    pub items: Vec<NewRequisitionItem>,
}

/// One thing wrong with a [`NewRequisitionOrder`]; all are reported at once.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequisitionProblem {
    #[error("legal_basis: cite the law or decision the order rests on")]
    LegalBasisMissing,
    #[error("legal_basis: {length} characters, more than the {MAX_TEXT_CHARS} allowed")]
    LegalBasisTooLong { length: usize },
    #[error("holder.name: name the holder")]
    HolderNameMissing,
    #[error("items: an order needs at least one item")]
    NoItems,
    #[error("items: {count} items, more than the {MAX_ITEMS} an order may have: split it")]
    TooManyItems { count: usize },
    #[error("items[{index}].item_id: item {item_id} is listed twice")]
    DuplicateItem { index: usize, item_id: i64 },
    #[error("items[{index}].type_code: choose a resource type")]
    TypeMissing { index: usize },
    #[error("items[{index}].quantity: expected 1 to {MAX_ITEM_QUANTITY}, found {found}")]
    BadQuantity { index: usize, found: i64 },
    #[error("items[{index}].declared_value_fen: expected zero or more fen, found {found}")]
    NegativeValue { index: usize, found: i64 },
    #[error("items[{index}].daily_rate_fen: expected zero or more fen, found {found}")]
    NegativeRate { index: usize, found: i64 },
    #[error("items[{index}]: item {} is exempt ({})", .exemption.item_id, exemption_codes(.exemption))]
    Exempt { index: usize, exemption: Exemption },
}

impl RequisitionProblem {
    /// The problem in Chinese, for the Chinese pages: the same field path as the English,
    /// then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            RequisitionProblem::LegalBasisMissing => {
                "legal_basis：请写明征用令所依据的法律或决定".into()
            }
            RequisitionProblem::LegalBasisTooLong { length } => {
                format!("legal_basis：共 {length} 个字符，请控制在 {MAX_TEXT_CHARS} 个以内")
            }
            RequisitionProblem::HolderNameMissing => "holder.name：请写明持有人".into(),
            RequisitionProblem::NoItems => "items：征用令至少要有一个物项".into(),
            RequisitionProblem::TooManyItems { count } => {
                format!("items：共 {count} 个物项，超过 {MAX_ITEMS} 个的请分为几份征用令")
            }
            RequisitionProblem::DuplicateItem { index, item_id } => {
                format!("items[{index}].item_id：物项 {item_id} 列出了两次")
            }
            RequisitionProblem::TypeMissing { index } => {
                format!("items[{index}].type_code：请选择资源类型")
            }
            RequisitionProblem::BadQuantity { index, found } => {
                format!("items[{index}].quantity：应为 1 至 {MAX_ITEM_QUANTITY}，实为 {found}")
            }
            RequisitionProblem::NegativeValue { index, found } => {
                format!("items[{index}].declared_value_fen：应为零或正数（分），实为 {found}")
            }
            RequisitionProblem::NegativeRate { index, found } => {
                format!("items[{index}].daily_rate_fen：应为零或正数（分），实为 {found}")
            }
            RequisitionProblem::Exempt { index, exemption } => format!(
                "items[{index}]：物项 {} 依规免予征用（{}）",
                exemption.item_id,
                exemption_codes(exemption)
            ),
        }
    }
}

fn exemption_codes(exemption: &Exemption) -> String {
    exemption
        .reasons
        .iter()
        .map(|r| r.rule_code.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One item of a checked order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequisitionItem {
    item_id: i64,
    type_code: String,
    quantity: u32,
    declared_value_fen: i64,
    daily_rate_fen: i64,
}

impl RequisitionItem {
    pub const fn item_id(&self) -> i64 {
        self.item_id
    }

    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    pub const fn quantity(&self) -> u32 {
        self.quantity
    }

    pub const fn declared_value_fen(&self) -> i64 {
        self.declared_value_fen
    }

    pub const fn daily_rate_fen(&self) -> i64 {
        self.daily_rate_fen
    }
}

impl NewRequisitionOrder {
    /// Applies the exemption rules first, then checks the fields, and returns the drafted
    /// order or every problem at once. An exempt item is a problem, not a silent drop: the
    /// office sees which rule exempts it and takes it off the order itself.
    pub fn validate(
        &self,
        rules: &ExemptionRules,
    ) -> Result<RequisitionOrder, Vec<RequisitionProblem>> {
        let mut problems = Vec::new();
        let legal_basis = self.legal_basis.trim();
        let length = legal_basis.chars().count();
        if length == 0 {
            problems.push(RequisitionProblem::LegalBasisMissing);
        } else if length > MAX_TEXT_CHARS {
            problems.push(RequisitionProblem::LegalBasisTooLong { length });
        }
        if self.holder.name.trim().is_empty() {
            problems.push(RequisitionProblem::HolderNameMissing);
        }
        if self.items.is_empty() {
            problems.push(RequisitionProblem::NoItems);
        } else if self.items.len() > MAX_ITEMS {
            problems.push(RequisitionProblem::TooManyItems {
                count: self.items.len(),
            });
            return Err(problems);
        }

        let candidates: Vec<CandidateItem> = self
            .items
            .iter()
            .map(|item| CandidateItem {
                item_id: item.item_id,
                type_code: item.type_code.clone(),
                attributes: item.attributes.clone(),
                in_service: item.in_service,
                holder: self.holder.clone(),
            })
            .collect();
        let mut exemptions: BTreeMap<i64, Exemption> = apply_exemptions(rules, &candidates)
            .exempt
            .into_iter()
            .map(|e| (e.item_id, e))
            .collect();

        let mut seen = BTreeSet::new();
        let mut items = Vec::with_capacity(self.items.len());
        for (index, item) in self.items.iter().enumerate() {
            let before = problems.len();
            if !seen.insert(item.item_id) {
                problems.push(RequisitionProblem::DuplicateItem {
                    index,
                    item_id: item.item_id,
                });
            }
            if let Some(exemption) = exemptions.remove(&item.item_id) {
                problems.push(RequisitionProblem::Exempt { index, exemption });
            }
            if item.type_code.trim().is_empty() {
                problems.push(RequisitionProblem::TypeMissing { index });
            }
            let quantity = u32::try_from(item.quantity)
                .ok()
                .filter(|_| (1..=MAX_ITEM_QUANTITY).contains(&item.quantity));
            if quantity.is_none() {
                problems.push(RequisitionProblem::BadQuantity {
                    index,
                    found: item.quantity,
                });
            }
            if item.declared_value_fen < 0 {
                problems.push(RequisitionProblem::NegativeValue {
                    index,
                    found: item.declared_value_fen,
                });
            }
            if item.daily_rate_fen < 0 {
                problems.push(RequisitionProblem::NegativeRate {
                    index,
                    found: item.daily_rate_fen,
                });
            }
            if let (Some(quantity), true) = (quantity, problems.len() == before) {
                items.push(RequisitionItem {
                    item_id: item.item_id,
                    type_code: item.type_code.trim().to_owned(),
                    quantity,
                    declared_value_fen: item.declared_value_fen,
                    daily_rate_fen: item.daily_rate_fen,
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(RequisitionOrder {
            legal_basis: legal_basis.to_owned(),
            holder: RequisitionHolder {
                name: self.holder.name.trim().to_owned(),
                ..self.holder.clone()
            },
            items,
            status: RequisitionStatus::Drafted,
            last_event_at: None,
            notified_at: None,
            handed_over_at: None,
            use_log: Vec::new(),
            returned_at: None,
            conditions: Vec::new(),
            assessment: None,
            approved_at: None,
            payment: None,
            cancellation: None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The lifecycle
// ---------------------------------------------------------------------------------------

/// A requisition order and everything that has happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequisitionOrder {
    legal_basis: String,
    holder: RequisitionHolder,
    items: Vec<RequisitionItem>,
    status: RequisitionStatus,
    /// The time of the latest event: events may not go back in time.
    last_event_at: Option<Timestamp>,
    notified_at: Option<Timestamp>,
    handed_over_at: Option<Timestamp>,
    use_log: Vec<UseLogEntry>,
    returned_at: Option<Timestamp>,
    /// One per item, in item order, once returned.
    conditions: Vec<ReturnCondition>,
    assessment: Option<CompensationAssessment>,
    approved_at: Option<Timestamp>,
    payment: Option<Payment>,
    cancellation: Option<Cancellation>,
}

/// A day of use, as the using unit logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseLogEntry {
    pub on: Timestamp,
    pub hours: Option<u32>,
    pub kilometres: Option<u32>,
    pub note: String,
}

/// The payment of an approved compensation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub paid_at: Timestamp,
    /// The bank's or treasury's reference for the transfer.
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancellation {
    pub at: Timestamp,
    pub reason: String,
    pub from: RequisitionStatus,
}

/// Something that happens to an order. Storage keeps each as JSON and replays them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequisitionEvent {
    /// The notice was served on the holder.
    Notify {
        at: Timestamp,
    },
    /// The holder handed the items over.
    HandOver {
        at: Timestamp,
    },
    RecordUse {
        entry: UseLogEntry,
    },
    /// The items came back, one condition per item in item order.
    Return {
        at: Timestamp,
        conditions: Vec<ReturnCondition>,
    },
    /// Compensation assessed under `policy`; again, to correct it, until approved.
    Assess {
        policy: CompensationPolicy,
    },
    Approve {
        at: Timestamp,
    },
    MarkPaid {
        at: Timestamp,
        reference: String,
    },
    Cancel {
        at: Timestamp,
        reason: String,
    },
}

impl RequisitionEvent {
    pub const fn action(&self) -> &'static str {
        match self {
            RequisitionEvent::Notify { .. } => "notify",
            RequisitionEvent::HandOver { .. } => "hand_over",
            RequisitionEvent::RecordUse { .. } => "record_use",
            RequisitionEvent::Return { .. } => "return",
            RequisitionEvent::Assess { .. } => "assess",
            RequisitionEvent::Approve { .. } => "approve",
            RequisitionEvent::MarkPaid { .. } => "mark_paid",
            RequisitionEvent::Cancel { .. } => "cancel",
        }
    }

    /// When the event happened; an assessment is a computation and has no time of its own.
    const fn at(&self) -> Option<Timestamp> {
        match self {
            RequisitionEvent::Notify { at }
            | RequisitionEvent::HandOver { at }
            | RequisitionEvent::Return { at, .. }
            | RequisitionEvent::Approve { at }
            | RequisitionEvent::MarkPaid { at, .. }
            | RequisitionEvent::Cancel { at, .. } => Some(*at),
            RequisitionEvent::RecordUse { entry } => Some(entry.on),
            RequisitionEvent::Assess { .. } => None,
        }
    }
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequisitionRefusal {
    #[error("the order is {status}; nothing more can be done with it")]
    Finished { status: RequisitionStatus },
    #[error("cannot {action} an order that is {status}; {hint}")]
    WrongStatus {
        action: &'static str,
        status: RequisitionStatus,
        hint: &'static str,
    },
    #[error(
        "{action}: the time is before the order's previous event (or, for use, before the handover)"
    )]
    BeforePreviousEvent { action: &'static str },
    #[error("return.conditions: expected one condition per item ({expected}), found {found}")]
    ConditionsMismatch { expected: usize, found: usize },
    #[error("record_use.hours: expected at most {MAX_HOURS_PER_ENTRY} per entry, found {found}")]
    TooManyHours { found: u32 },
    #[error(
        "record_use.kilometres: expected at most {MAX_KILOMETRES_PER_ENTRY} per entry, found {found}"
    )]
    TooManyKilometres { found: u32 },
    #[error("record_use: give the hours, the kilometres or a note")]
    EmptyUseEntry,
    #[error("{field}: {length} characters, more than the {MAX_TEXT_CHARS} allowed")]
    TextTooLong { field: &'static str, length: usize },
    #[error("{field}: required")]
    TextMissing { field: &'static str },
    #[error(transparent)]
    Compensation(#[from] CompensationError),
}

impl RequisitionRefusal {
    /// The refusal in Chinese, for the Chinese pages; a refusal about a field starts with
    /// the same field as the English.
    pub fn zh(&self) -> String {
        match self {
            RequisitionRefusal::Finished { status } => {
                format!("征用令{}，不能再做任何操作", status.zh())
            }
            RequisitionRefusal::WrongStatus {
                action,
                status,
                hint,
            } => format!(
                "不能对{}的征用令执行“{}”：{}",
                status.zh(),
                action_zh(action),
                hint_zh(hint)
            ),
            RequisitionRefusal::BeforePreviousEvent { action } => format!(
                "{}：时间早于征用令的上一个事件（登记使用时为早于交付）",
                action_zh(action)
            ),
            RequisitionRefusal::ConditionsMismatch { expected, found } => format!(
                "return.conditions：每个物项应有一个归还状况（共 {expected} 个），实为 {found} 个"
            ),
            RequisitionRefusal::TooManyHours { found } => {
                format!("record_use.hours：每条最多 {MAX_HOURS_PER_ENTRY} 小时，实为 {found}")
            }
            RequisitionRefusal::TooManyKilometres { found } => format!(
                "record_use.kilometres：每条最多 {MAX_KILOMETRES_PER_ENTRY} 公里，实为 {found}"
            ),
            RequisitionRefusal::EmptyUseEntry => "record_use：请填写小时数、公里数或说明".into(),
            RequisitionRefusal::TextTooLong { field, length } => {
                format!("{field}：共 {length} 个字符，请控制在 {MAX_TEXT_CHARS} 个以内")
            }
            RequisitionRefusal::TextMissing { field } => format!("{field}：必填"),
            RequisitionRefusal::Compensation(e) => e.zh(),
        }
    }
}

/// Moves an order on by one event, or says why not; the order given is not changed. Each
/// step happens once and in order (only the use log repeats, and the assessment may be
/// redone until it is approved), and event times never go back: a return dated before the
/// handover or before a logged day of use is refused, since the use days and so the
/// compensation are counted between them.
pub fn transition(
    order: &RequisitionOrder,
    event: &RequisitionEvent,
) -> Result<RequisitionOrder, RequisitionRefusal> {
    use RequisitionStatus as S;
    let status = order.status;
    if status.is_terminal() {
        return Err(RequisitionRefusal::Finished { status });
    }
    let action = event.action();
    let wrong = |hint| RequisitionRefusal::WrongStatus {
        action,
        status,
        hint,
    };
    // Events go forward in time, except that use may be logged late for any day since the
    // handover; the return then has to come after every day logged.
    let earliest = match event {
        RequisitionEvent::RecordUse { .. } => order.handed_over_at,
        _ => order.last_event_at,
    };
    if let (Some(at), Some(earliest)) = (event.at(), earliest)
        && at < earliest
    {
        return Err(RequisitionRefusal::BeforePreviousEvent { action });
    }
    let mut next = order.clone();
    if let Some(at) = event.at() {
        next.last_event_at = Some(order.last_event_at.map_or(at, |last| last.max(at)));
    }
    match event {
        RequisitionEvent::Notify { at } => {
            if status != S::Drafted {
                return Err(wrong("the holder has been notified already"));
            }
            next.notified_at = Some(*at);
            next.status = S::Notified;
        }
        RequisitionEvent::HandOver { at } => {
            if status != S::Notified {
                return Err(wrong(if status == S::Drafted {
                    "notify the holder first"
                } else {
                    "the items have been handed over already"
                }));
            }
            next.handed_over_at = Some(*at);
            next.status = S::HandedOver;
        }
        RequisitionEvent::RecordUse { entry } => {
            if !matches!(status, S::HandedOver | S::InUse) {
                return Err(wrong("use is logged between handover and return"));
            }
            next.use_log.push(check_use_entry(entry)?);
            next.status = S::InUse;
        }
        RequisitionEvent::Return { at, conditions } => {
            if !matches!(status, S::HandedOver | S::InUse) {
                return Err(wrong("only items handed over can be returned"));
            }
            if conditions.len() != order.items.len() {
                return Err(RequisitionRefusal::ConditionsMismatch {
                    expected: order.items.len(),
                    found: conditions.len(),
                });
            }
            next.returned_at = Some(*at);
            next.conditions = conditions.clone();
            next.status = S::Returned;
        }
        RequisitionEvent::Assess { policy } => {
            if !matches!(status, S::Returned | S::CompensationAssessed) {
                return Err(wrong(
                    "compensation is assessed after the return and before approval",
                ));
            }
            let (Some(handed_over_at), Some(returned_at)) =
                (order.handed_over_at, order.returned_at)
            else {
                return Err(wrong("the handover and return times are missing"));
            };
            let days = use_days(handed_over_at, returned_at)?;
            let inputs: Vec<ItemCompensationInput> = order
                .items
                .iter()
                .zip(&order.conditions)
                .map(|(item, condition)| ItemCompensationInput {
                    item_id: item.item_id,
                    quantity: item.quantity,
                    declared_value_fen: item.declared_value_fen,
                    daily_rate_fen: item.daily_rate_fen,
                    use_days: days,
                    condition: *condition,
                })
                .collect();
            next.assessment = Some(assess_compensation(&inputs, policy)?);
            next.status = S::CompensationAssessed;
        }
        RequisitionEvent::Approve { at } => {
            if status != S::CompensationAssessed {
                return Err(wrong("assess the compensation first"));
            }
            next.approved_at = Some(*at);
            next.status = S::Approved;
        }
        RequisitionEvent::MarkPaid { at, reference } => {
            if status != S::Approved {
                return Err(wrong("the compensation must be approved before it is paid"));
            }
            let reference = check_text("mark_paid.reference", reference, true)?;
            next.payment = Some(Payment {
                paid_at: *at,
                reference,
            });
            next.status = S::Paid;
        }
        RequisitionEvent::Cancel { at, reason } => {
            if !matches!(status, S::Drafted | S::Notified) {
                return Err(wrong(
                    "the items are with the office; return them and assess the compensation",
                ));
            }
            let reason = check_text("cancel.reason", reason, true)?;
            next.cancellation = Some(Cancellation {
                at: *at,
                reason,
                from: status,
            });
            next.status = S::Cancelled;
        }
    }
    Ok(next)
}

fn check_use_entry(entry: &UseLogEntry) -> Result<UseLogEntry, RequisitionRefusal> {
    if let Some(found) = entry.hours.filter(|h| *h > MAX_HOURS_PER_ENTRY) {
        return Err(RequisitionRefusal::TooManyHours { found });
    }
    if let Some(found) = entry.kilometres.filter(|k| *k > MAX_KILOMETRES_PER_ENTRY) {
        return Err(RequisitionRefusal::TooManyKilometres { found });
    }
    let note = check_text("record_use.note", &entry.note, false)?;
    if entry.hours.is_none() && entry.kilometres.is_none() && note.is_empty() {
        return Err(RequisitionRefusal::EmptyUseEntry);
    }
    Ok(UseLogEntry {
        note,
        ..entry.clone()
    })
}

fn check_text(
    field: &'static str,
    text: &str,
    required: bool,
) -> Result<String, RequisitionRefusal> {
    let text = text.trim();
    let length = text.chars().count();
    if required && length == 0 {
        Err(RequisitionRefusal::TextMissing { field })
    } else if length > MAX_TEXT_CHARS {
        Err(RequisitionRefusal::TextTooLong { field, length })
    } else {
        Ok(text.to_owned())
    }
}

impl RequisitionOrder {
    pub fn legal_basis(&self) -> &str {
        &self.legal_basis
    }

    pub fn holder(&self) -> &RequisitionHolder {
        &self.holder
    }

    pub fn items(&self) -> &[RequisitionItem] {
        &self.items
    }

    pub const fn status(&self) -> RequisitionStatus {
        self.status
    }

    pub const fn notified_at(&self) -> Option<Timestamp> {
        self.notified_at
    }

    pub const fn handed_over_at(&self) -> Option<Timestamp> {
        self.handed_over_at
    }

    pub fn use_log(&self) -> &[UseLogEntry] {
        &self.use_log
    }

    pub const fn returned_at(&self) -> Option<Timestamp> {
        self.returned_at
    }

    pub fn conditions(&self) -> &[ReturnCondition] {
        &self.conditions
    }

    pub fn assessment(&self) -> Option<&CompensationAssessment> {
        self.assessment.as_ref()
    }

    pub const fn approved_at(&self) -> Option<Timestamp> {
        self.approved_at
    }

    pub fn payment(&self) -> Option<&Payment> {
        self.payment.as_ref()
    }

    pub fn cancellation(&self) -> Option<&Cancellation> {
        self.cancellation.as_ref()
    }

    /// The total hours and kilometres in the use log (saturating: a log cannot hold enough
    /// entries to reach `u64::MAX`, but nothing here may panic).
    pub fn use_totals(&self) -> (u64, u64) {
        self.use_log
            .iter()
            .fold((0u64, 0u64), |(hours, km), entry| {
                (
                    hours.saturating_add(u64::from(entry.hours.unwrap_or(0))),
                    km.saturating_add(u64::from(entry.kilometres.unwrap_or(0))),
                )
            })
    }
}

// ---------------------------------------------------------------------------------------
// Compensation
// ---------------------------------------------------------------------------------------

/// The percentages of the formula, in basis points (10,000 = 100 %). Built with
/// [`CompensationPolicy::new`]; good returns owe no damage and lost items their full value,
/// by law, so those two are not settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationPolicy {
    wear_basis_points_per_day: u32,
    wear_cap_basis_points: u32,
    worn_basis_points: u32,
    damaged_basis_points: u32,
}

/// Why a compensation could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CompensationError {
    #[error("{field}: expected 0 to {FULL_BASIS_POINTS} basis points (0 to 100 %), found {found}")]
    BadPercentage { field: &'static str, found: u32 },
    #[error(
        "damaged_basis_points: damage ({damaged}) must be at least worn ({worn}): a damaged item owes no less than a worn one"
    )]
    DamageBelowWear { worn: u32, damaged: u32 },
    #[error("items[{item_id}].{field}: expected zero or more fen, found {found}")]
    Negative {
        item_id: i64,
        field: &'static str,
        found: i64,
    },
    #[error("returned_at: the return is before the handover")]
    ReturnBeforeHandover,
    #[error("use days: the period is longer than any requisition could last")]
    PeriodTooLong,
    #[error(
        "the {term} term of item {item_id} does not fit in the money range (over 92 trillion yuan); check its figures"
    )]
    Overflow { item_id: i64, term: &'static str },
    #[error("the order's total does not fit in the money range (over 92 trillion yuan)")]
    TotalOverflow,
}

impl CompensationError {
    /// The problem in Chinese, for the Chinese pages; a problem about a field starts with
    /// the same field as the English.
    pub fn zh(&self) -> String {
        match self {
            CompensationError::BadPercentage { field, found } => {
                format!("{field}：应为 0 至 {FULL_BASIS_POINTS} 个基点（0 至 100%），实为 {found}")
            }
            CompensationError::DamageBelowWear { worn, damaged } => format!(
                "damaged_basis_points：损坏比例（{damaged}）不得低于磨损比例（{worn}），损坏归还的补偿不应少于磨损归还"
            ),
            CompensationError::Negative {
                item_id,
                field,
                found,
            } => format!("items[{item_id}].{field}：应为零或正数（分），实为 {found}"),
            CompensationError::ReturnBeforeHandover => "returned_at：归还时间早于交付时间".into(),
            CompensationError::PeriodTooLong => "使用天数：期限超出任何征用可能的时长".into(),
            CompensationError::Overflow { item_id, term } => {
                let term = match *term {
                    "use" => "使用费",
                    "value" => "价值",
                    "damage" => "损坏补偿",
                    "wear" => "损耗补偿",
                    "total" => "小计",
                    other => other,
                };
                format!("物项 {item_id} 的{term}超出金额范围（超过 92 万亿元），请核对其数据")
            }
            CompensationError::TotalOverflow => "征用令合计超出金额范围（超过 92 万亿元）".into(),
        }
    }
}

impl CompensationPolicy {
    pub fn new(
        wear_basis_points_per_day: u32,
        wear_cap_basis_points: u32,
        worn_basis_points: u32,
        damaged_basis_points: u32,
    ) -> Result<Self, CompensationError> {
        for (field, found) in [
            ("wear_basis_points_per_day", wear_basis_points_per_day),
            ("wear_cap_basis_points", wear_cap_basis_points),
            ("worn_basis_points", worn_basis_points),
            ("damaged_basis_points", damaged_basis_points),
        ] {
            if found > FULL_BASIS_POINTS {
                return Err(CompensationError::BadPercentage { field, found });
            }
        }
        if damaged_basis_points < worn_basis_points {
            return Err(CompensationError::DamageBelowWear {
                worn: worn_basis_points,
                damaged: damaged_basis_points,
            });
        }
        Ok(Self {
            wear_basis_points_per_day,
            wear_cap_basis_points,
            worn_basis_points,
            damaged_basis_points,
        })
    }

    pub const fn wear_basis_points_per_day(&self) -> u32 {
        self.wear_basis_points_per_day
    }

    pub const fn wear_cap_basis_points(&self) -> u32 {
        self.wear_cap_basis_points
    }

    /// The share of the declared value owed for an item returned in `condition`.
    pub const fn damage_basis_points(&self, condition: ReturnCondition) -> u32 {
        match condition {
            ReturnCondition::Good => 0,
            ReturnCondition::Worn => self.worn_basis_points,
            ReturnCondition::Damaged => self.damaged_basis_points,
            ReturnCondition::Lost => FULL_BASIS_POINTS,
        }
    }
}

impl Default for CompensationPolicy {
    /// Wear 0.2 % of value per day of use, capped at 20 %; a worn return 5 % and a damaged
    /// one 30 % on top; a lost item 100 %. An office sets its own from its province's
    /// regulation.
    fn default() -> Self {
        Self {
            wear_basis_points_per_day: 20,
            wear_cap_basis_points: 2_000,
            worn_basis_points: 500,
            damaged_basis_points: 3_000,
        }
    }
}

/// The largest daily rate a setting may name for one unit: a million yuan a day.
pub const MAX_DAILY_RATE_FEN: i64 = 100_000_000;

/// The most daily rates one setting may hold.
pub const MAX_DAILY_RATES: usize = 1_000;

/// The compensation setting an administrator edits: the formula's percentages (see
/// [`CompensationPolicy`]) and the daily rates per unit that an order's item takes when the
/// office drafting it names none. A rate is keyed by a resource type code, a subcategory
/// code or a category code; the most specific one that matches a type applies (see
/// [`CompensationSetting::daily_rate_for`]). Stored as JSON; checked by
/// [`CompensationSetting::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationSetting {
    pub wear_basis_points_per_day: u32,
    pub wear_cap_basis_points: u32,
    pub worn_basis_points: u32,
    pub damaged_basis_points: u32,
    /// Fen per unit and day of use, by type, subcategory or category code.
    #[serde(default)]
    pub daily_rates_fen: BTreeMap<String, i64>,
}

/// One thing wrong with a [`CompensationSetting`]; its message starts with the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CompensationSettingProblem {
    #[error(transparent)]
    Policy(CompensationError),
    #[error("daily_rates_fen: a rate is given without a type, subcategory or category code")]
    CodeMissing,
    #[error("daily_rates_fen.{code}: not a resource type, subcategory or category of the taxonomy")]
    UnknownCode { code: String },
    #[error("daily_rates_fen.{code}: expected 0 to {MAX_DAILY_RATE_FEN} fen, found {found}")]
    BadRate { code: String, found: i64 },
    #[error("daily_rates_fen: {count} rates, more than the {MAX_DAILY_RATES} allowed")]
    TooManyRates { count: usize },
}

impl CompensationSettingProblem {
    /// The problem in Chinese, for the Chinese pages: the same field as the English, then
    /// `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            CompensationSettingProblem::Policy(e) => e.zh(),
            CompensationSettingProblem::CodeMissing => {
                "daily_rates_fen：有一项日租金没有写类型、子类或大类代码".into()
            }
            CompensationSettingProblem::UnknownCode { code } => {
                format!("daily_rates_fen.{code}：不是分类目录中的资源类型、子类或大类")
            }
            CompensationSettingProblem::BadRate { code, found } => {
                format!("daily_rates_fen.{code}：应为 0 至 {MAX_DAILY_RATE_FEN} 分，实为 {found}")
            }
            CompensationSettingProblem::TooManyRates { count } => {
                format!("daily_rates_fen：共 {count} 项日租金，最多 {MAX_DAILY_RATES} 项")
            }
        }
    }

    /// The field the problem is about, as the API and the form name it.
    pub fn field(&self) -> &'static str {
        match self {
            CompensationSettingProblem::Policy(CompensationError::BadPercentage {
                field, ..
            }) => field,
            CompensationSettingProblem::Policy(_) => "damaged_basis_points",
            CompensationSettingProblem::CodeMissing
            | CompensationSettingProblem::UnknownCode { .. }
            | CompensationSettingProblem::BadRate { .. }
            | CompensationSettingProblem::TooManyRates { .. } => "daily_rates_fen",
        }
    }
}

/// Where a daily rate came from: the key of the setting that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRate {
    pub fen: i64,
    pub key: String,
}

impl Default for CompensationSetting {
    /// [`CompensationPolicy::default`]'s percentages and no daily rates: until an
    /// administrator sets them, every item's rate is the drafting office's.
    fn default() -> Self {
        let policy = CompensationPolicy::default();
        Self {
            wear_basis_points_per_day: policy.wear_basis_points_per_day,
            wear_cap_basis_points: policy.wear_cap_basis_points,
            worn_basis_points: policy.worn_basis_points,
            damaged_basis_points: policy.damaged_basis_points,
            daily_rates_fen: BTreeMap::new(),
        }
    }
}

impl CompensationSetting {
    /// Checks the setting, every problem at once, and returns it with its codes trimmed.
    /// `is_known_code` says whether a code is a resource type, a subcategory or a category
    /// of the taxonomy in force.
    pub fn check(
        &self,
        is_known_code: impl Fn(&str) -> bool,
    ) -> Result<CompensationSetting, Vec<CompensationSettingProblem>> {
        let mut problems = Vec::new();
        for (field, found) in [
            ("wear_basis_points_per_day", self.wear_basis_points_per_day),
            ("wear_cap_basis_points", self.wear_cap_basis_points),
            ("worn_basis_points", self.worn_basis_points),
            ("damaged_basis_points", self.damaged_basis_points),
        ] {
            if found > FULL_BASIS_POINTS {
                problems.push(CompensationSettingProblem::Policy(
                    CompensationError::BadPercentage { field, found },
                ));
            }
        }
        if problems.is_empty()
            && let Err(e) = self.policy()
        {
            problems.push(CompensationSettingProblem::Policy(e));
        }
        if self.daily_rates_fen.len() > MAX_DAILY_RATES {
            problems.push(CompensationSettingProblem::TooManyRates {
                count: self.daily_rates_fen.len(),
            });
        }
        let mut rates = BTreeMap::new();
        for (code, fen) in &self.daily_rates_fen {
            let code = code.trim();
            if code.is_empty() {
                problems.push(CompensationSettingProblem::CodeMissing);
            } else if !is_known_code(code) {
                problems.push(CompensationSettingProblem::UnknownCode {
                    code: code.to_owned(),
                });
            } else if !(0..=MAX_DAILY_RATE_FEN).contains(fen) {
                problems.push(CompensationSettingProblem::BadRate {
                    code: code.to_owned(),
                    found: *fen,
                });
            } else {
                rates.insert(code.to_owned(), *fen);
            }
        }
        if problems.is_empty() {
            Ok(CompensationSetting {
                daily_rates_fen: rates,
                ..self.clone()
            })
        } else {
            Err(problems)
        }
    }

    /// The formula's percentages as a policy for an assessment.
    pub fn policy(&self) -> Result<CompensationPolicy, CompensationError> {
        CompensationPolicy::new(
            self.wear_basis_points_per_day,
            self.wear_cap_basis_points,
            self.worn_basis_points,
            self.damaged_basis_points,
        )
    }

    /// The daily rate of one unit of a type: the rate of the type itself, else of its
    /// subcategory, else of its category; none when the setting names none of them.
    pub fn daily_rate_for(
        &self,
        type_code: &str,
        subcategory: &str,
        category: &str,
    ) -> Option<DailyRate> {
        [type_code, subcategory, category]
            .into_iter()
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .find_map(|key| {
                self.daily_rates_fen.get(key).map(|fen| DailyRate {
                    fen: *fen,
                    key: key.to_owned(),
                })
            })
    }
}

/// What the formula needs of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ItemCompensationInput {
    pub item_id: i64,
    pub quantity: u32,
    pub declared_value_fen: i64,
    pub daily_rate_fen: i64,
    pub use_days: u32,
    pub condition: ReturnCondition,
}

/// One item's compensation, term by term, with each term's inputs, for the UI to show how
/// the figure was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemCompensation {
    pub item_id: i64,
    pub quantity: u32,
    pub use_days: u32,
    /// `use_days × daily_rate_fen × quantity`.
    pub daily_rate_fen: i64,
    pub use_fen: i64,
    /// `declared_value_fen × quantity`: what wear and damage are shares of.
    pub declared_value_fen: i64,
    pub total_value_fen: i64,
    /// `min(use_days × per day, cap)`, the wear share before the value limit.
    pub wear_basis_points_per_day: u32,
    pub wear_cap_basis_points: u32,
    pub wear_basis_points: u32,
    /// The wear share of the value, rounded, at most the value left after damage.
    pub wear_fen: i64,
    /// Whether the value left after damage cut the wear down.
    pub wear_limited_by_value: bool,
    pub condition: ReturnCondition,
    pub damage_basis_points: u32,
    pub damage_fen: i64,
    /// `use_fen + wear_fen + damage_fen`.
    pub total_fen: i64,
}

/// A whole order's compensation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompensationAssessment {
    pub items: Vec<ItemCompensation>,
    pub total_fen: i64,
    pub policy: CompensationPolicy,
}

/// The days of use from handover to return: every started day counts, and a return within
/// the first day still counts one, since the holder was without the resource that day.
pub fn use_days(
    handed_over_at: Timestamp,
    returned_at: Timestamp,
) -> Result<u32, CompensationError> {
    let span = i128::from(returned_at.as_millis()) - i128::from(handed_over_at.as_millis());
    if span < 0 {
        return Err(CompensationError::ReturnBeforeHandover);
    }
    let day = i128::from(MILLIS_PER_DAY);
    let days = ((span + day - 1) / day).max(1);
    u32::try_from(days).map_err(|_| CompensationError::PeriodTooLong)
}

/// One item's compensation by the module's formula.
pub fn assess_item(
    input: &ItemCompensationInput,
    policy: &CompensationPolicy,
) -> Result<ItemCompensation, CompensationError> {
    let item_id = input.item_id;
    for (field, found) in [
        ("declared_value_fen", input.declared_value_fen),
        ("daily_rate_fen", input.daily_rate_fen),
    ] {
        if found < 0 {
            return Err(CompensationError::Negative {
                item_id,
                field,
                found,
            });
        }
    }
    let overflow = |term| CompensationError::Overflow { item_id, term };
    let quantity = i128::from(input.quantity);
    let days = i128::from(input.use_days);

    let use_fen = days
        .checked_mul(i128::from(input.daily_rate_fen))
        .and_then(|v| v.checked_mul(quantity))
        .and_then(to_fen)
        .ok_or_else(|| overflow("use"))?;
    let total_value = i128::from(input.declared_value_fen)
        .checked_mul(quantity)
        .ok_or_else(|| overflow("value"))?;
    let total_value_fen = to_fen(total_value).ok_or_else(|| overflow("value"))?;

    let damage_basis_points = policy.damage_basis_points(input.condition);
    let damage = share_of(total_value, damage_basis_points).ok_or_else(|| overflow("damage"))?;

    let wear_basis_points = u32::try_from(
        days.saturating_mul(i128::from(policy.wear_basis_points_per_day))
            .min(i128::from(policy.wear_cap_basis_points)),
    )
    .unwrap_or(policy.wear_cap_basis_points);
    let wear_uncapped = share_of(total_value, wear_basis_points).ok_or_else(|| overflow("wear"))?;
    // Damage is at most 100 % of the value, rounded, so this is never negative.
    let value_left = (total_value - damage).max(0);
    let wear = wear_uncapped.min(value_left);

    let total = i128::from(use_fen) + wear + damage;
    Ok(ItemCompensation {
        item_id,
        quantity: input.quantity,
        use_days: input.use_days,
        daily_rate_fen: input.daily_rate_fen,
        use_fen,
        declared_value_fen: input.declared_value_fen,
        total_value_fen,
        wear_basis_points_per_day: policy.wear_basis_points_per_day,
        wear_cap_basis_points: policy.wear_cap_basis_points,
        wear_basis_points,
        wear_fen: to_fen(wear).ok_or_else(|| overflow("wear"))?,
        wear_limited_by_value: wear < wear_uncapped,
        condition: input.condition,
        damage_basis_points,
        damage_fen: to_fen(damage).ok_or_else(|| overflow("damage"))?,
        total_fen: to_fen(total).ok_or_else(|| overflow("total"))?,
    })
}

/// Every item's compensation and the order's total, or the first item that cannot be
/// computed. O(items).
pub fn assess_compensation(
    items: &[ItemCompensationInput],
    policy: &CompensationPolicy,
) -> Result<CompensationAssessment, CompensationError> {
    let items = items
        .iter()
        .map(|input| assess_item(input, policy))
        .collect::<Result<Vec<_>, _>>()?;
    let total_fen = items
        .iter()
        .try_fold(0i64, |sum, item| sum.checked_add(item.total_fen))
        .ok_or(CompensationError::TotalOverflow)?;
    Ok(CompensationAssessment {
        items,
        total_fen,
        policy: *policy,
    })
}

/// `value × basis_points / 10,000`, rounded to the nearest fen with halves up. `value` is
/// never negative here, so "up" is away from zero and in the holder's favour.
fn share_of(value: i128, basis_points: u32) -> Option<i128> {
    let full = i128::from(FULL_BASIS_POINTS);
    value
        .checked_mul(i128::from(basis_points))
        .and_then(|v| v.checked_add(full / 2))
        .map(|v| v / full)
}

fn to_fen(value: i128) -> Option<i64> {
    i64::try_from(value).ok()
}

/// Fen as yuan with two decimals, `-` for negatives: `123456` → `"1234.56"`. For notices and
/// exports; the UI formats with its locale.
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let magnitude = fen.unsigned_abs();
    format!("{sign}{}.{:02}", magnitude / 100, magnitude % 100)
}

#[cfg(test)]
mod tests;
