//! Demands: what the military side (or an emergency office) asks a mobilization office to
//! deliver, and how far the office has got in delivering it.
//!
//! A demand is a list of lines — a resource type, a quantity, a delivery point, a
//! needed-by time and a priority — with a [`ClassificationLevel`] that limits who may read
//! it and a [`DemandOrigin`]. The logic here is what storage and the web call, with no
//! storage in it:
//!
//! * [`NewDemand::validate`] turns what a form sent into a [`DemandDraft`], or names every
//!   field that is wrong at once.
//! * [`Demand::receive`] starts the lifecycle and [`transition`] moves it on, one
//!   [`DemandEvent`] at a time, returning the new [`Demand`] or a [`DemandRefusal`] that says
//!   what to do instead.
//! * [`NewTaskMeeting::validate`] checks the record of the meeting that analyses a demand.
//! * [`escalate`] builds the demand the level above receives for what this level could not
//!   find.
//!
//! The lifecycle:
//!
//! ```text
//! received ─analyse→ analysed ─allocate→ allocated ─inspect→ inspected ─hand_over→ handed_over ─close→ closed
//!                       │                                                              │
//!                       └──────────── close_with_shortfall (explicit, with a reason) ──┴→ closed
//! any state but closed and cancelled ─cancel (with a reason)→ cancelled
//! ```
//!
//! Fulfilment is partial by nature: each line keeps how much is allocated, inspected and
//! handed over, always `handed_over ≤ inspected ≤ allocated ≤ requested`. Once something
//! is allocated the status is *derived* from those quantities — the least advanced stage
//! any quantity is waiting in — so a demand whose first half is handed over while its
//! second half is still being inspected reads `inspected`, never `handed_over`. A demand
//! closes normally only when every line is handed over in full; closing short of that is a
//! separate, explicit event with a reason, so a shortfall is never closed by accident.

use serde::Serialize;

use crate::organization::{DataClass, Side, string_enum};
use crate::region::RegionPath;
use crate::time::Timestamp;

/// The longest demand title, in characters: a line in a list, not the demand itself.
pub const MAX_TITLE_CHARS: usize = 200;

/// The longest reason for cancelling or closing short, and the longest meeting decision.
pub const MAX_REASON_CHARS: usize = 2000;

/// The most lines one demand may have: a demand is read out at a task meeting; a larger
/// need is several demands.
pub const MAX_LINES: usize = 500;

/// The largest quantity one line may ask for. Far beyond any real demand, it keeps every
/// sum of quantities far from overflowing.
pub const MAX_LINE_QUANTITY: u64 = 1_000_000_000;

/// The longest resource type code accepted.
pub const MAX_TYPE_CODE_CHARS: usize = 64;

/// The longest attendee name or organization name in a meeting record.
pub const MAX_NAME_CHARS: usize = 100;

/// The most attendees and the most decisions one meeting record may list.
pub const MAX_MEETING_ENTRIES: usize = 200;

string_enum! {
    /// How secret a demand is. The order is the variants' order: `public < internal <
    /// confidential < secret`, so a clearance sees its own level and everything below.
    ClassificationLevel {
        Public => "public",
        Internal => "internal",
        Confidential => "confidential",
        Secret => "secret",
    }
}

string_enum! {
    /// Who stated the demand.
    DemandOrigin {
        Military => "military",
        CivilEmergency => "civil_emergency",
    }
}

string_enum! {
    /// Where a demand stands. `closed` and `cancelled` are terminal.
    DemandStatus {
        Received => "received",
        Analysed => "analysed",
        Allocated => "allocated",
        Inspected => "inspected",
        HandedOver => "handed_over",
        Closed => "closed",
        Cancelled => "cancelled",
    }
}

impl ClassificationLevel {
    /// The highest level a reader holding `data_classes` may see. Anyone signed in to an
    /// office sees `internal`; `confidential` and `secret` demands are the military side's
    /// business, so they need the [`DataClass::ClassifiedMilitary`] class, which only the
    /// liaisons' and administrators' roles carry.
    pub fn clearance_for(data_classes: &[DataClass]) -> ClassificationLevel {
        if data_classes.contains(&DataClass::ClassifiedMilitary) {
            ClassificationLevel::Secret
        } else {
            ClassificationLevel::Internal
        }
    }
}

/// Whether a reader cleared to `clearance` may see something classified `level`.
pub fn may_see(clearance: ClassificationLevel, level: ClassificationLevel) -> bool {
    clearance >= level
}

impl DemandOrigin {
    /// The side of the joint work the demand comes from.
    pub const fn side(self) -> Side {
        match self {
            DemandOrigin::Military => Side::Military,
            DemandOrigin::CivilEmergency => Side::Civil,
        }
    }
}

impl DemandStatus {
    /// Whether nothing more can happen to the demand.
    pub const fn is_terminal(self) -> bool {
        matches!(self, DemandStatus::Closed | DemandStatus::Cancelled)
    }

    /// The status in Chinese, as the Chinese pages name it, for refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            DemandStatus::Received => "已接收",
            DemandStatus::Analysed => "已分析",
            DemandStatus::Allocated => "已分配",
            DemandStatus::Inspected => "已查验",
            DemandStatus::HandedOver => "已交接",
            DemandStatus::Closed => "已关闭",
            DemandStatus::Cancelled => "已取消",
        }
    }
}

impl ClassificationLevel {
    /// The level in Chinese, as the Chinese pages name it, for refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            ClassificationLevel::Public => "公开",
            ClassificationLevel::Internal => "内部",
            ClassificationLevel::Confidential => "秘密",
            ClassificationLevel::Secret => "机密",
        }
    }
}

/// An event's action (`DemandEvent::action`) in Chinese.
fn action_zh(action: &str) -> &str {
    match action {
        "analyse" => "分析",
        "allocate" => "分配",
        "release" => "释放",
        "inspect" => "查验",
        "hand_over" => "交接",
        "close" => "关闭",
        "close_with_shortfall" => "未足额关闭",
        "cancel" => "取消",
        other => other,
    }
}

/// A [`DemandRefusal::WrongStatus`] hint in Chinese; a hint not yet translated stays as it is.
fn hint_zh(hint: &str) -> &str {
    match hint {
        "it has been analysed already" => "该需求已经分析过",
        "analyse it first" => "请先分析该需求",
        "a demand closes once everything allocated is handed over" => {
            "已分配的数量全部交接后，需求才能关闭"
        }
        other => other,
    }
}

/// How urgent a line is, 1 to 5, **1 the most urgent**. The derived order sorts the most
/// urgent first, which is the order allocation serves lines in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    pub const MOST_URGENT: Priority = Priority(1);
    pub const LEAST_URGENT: Priority = Priority(5);

    /// A priority from 1 to 5, or `None`.
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|v| (1..=5).contains(v))
            .map(Self)
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    pub fn is_more_urgent_than(self, other: Priority) -> bool {
        self.0 < other.0
    }

    /// The priority as an urgency where *higher is more urgent*: 5 for priority 1 down to 1
    /// for priority 5. The allocation solver ranks lines that way round.
    pub const fn urgency(self) -> u32 {
        6 - self.0 as u32
    }
}

/// Where a line is to be delivered: WGS 84 degrees, checked finite and in range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeliveryPoint {
    lat: f64,
    lon: f64,
}

impl DeliveryPoint {
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let valid = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        valid.then_some(Self { lat, lon })
    }

    pub const fn lat(self) -> f64 {
        self.lat
    }

    pub const fn lon(self) -> f64 {
        self.lon
    }
}

// ---------------------------------------------------------------------------------------
// A new demand
// ---------------------------------------------------------------------------------------

/// One line as a form sends it. Numbers are wide signed integers so that a negative or
/// absurd value reaches [`NewDemand::validate`] and is named, instead of failing to parse.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDemandLine {
    pub type_code: String,
    pub quantity: i64,
    pub lat: f64,
    pub lon: f64,
    pub needed_by: Timestamp,
    pub priority: i64,
}

/// A demand as stated, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDemand {
    pub title: String,
    pub origin: DemandOrigin,
    pub classification: ClassificationLevel,
    /// The region of the office the demand is addressed to.
    pub region: RegionPath,
    pub lines: Vec<NewDemandLine>,
}

/// One thing wrong with a [`NewDemand`]. Every problem is reported at once; `line` is the
/// 0-based index of the line in the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DemandProblem {
    #[error("title: give the demand a title")]
    TitleMissing,
    #[error("title: {length} characters, more than the {MAX_TITLE_CHARS} allowed")]
    TitleTooLong { length: usize },
    #[error("lines: a demand needs at least one line")]
    NoLines,
    #[error("lines: {count} lines, more than the {MAX_LINES} a demand may have: split it")]
    TooManyLines { count: usize },
    #[error("lines[{line}].type_code: choose a resource type")]
    TypeMissing { line: usize },
    #[error("lines[{line}].type_code: {code:?} is not a resource type in the taxonomy")]
    UnknownType { line: usize, code: String },
    #[error(
        "lines[{line}].quantity: expected a whole number from 1 to {MAX_LINE_QUANTITY}, found {found}"
    )]
    BadQuantity { line: usize, found: i64 },
    #[error(
        "lines[{line}].delivery_point: expected latitude -90..=90 and longitude -180..=180 in degrees"
    )]
    BadDeliveryPoint { line: usize },
    #[error("lines[{line}].needed_by: the time has already passed")]
    NeededByPassed { line: usize },
    #[error("lines[{line}].priority: expected 1 (most urgent) to 5, found {found}")]
    BadPriority { line: usize, found: i64 },
}

impl DemandProblem {
    /// The problem in Chinese, for the Chinese pages: the same field path as the English
    /// (`lines[0].quantity`), then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            DemandProblem::TitleMissing => "title：请填写需求标题".into(),
            DemandProblem::TitleTooLong { length } => {
                format!("title：标题共 {length} 个字符，请控制在 {MAX_TITLE_CHARS} 个以内")
            }
            DemandProblem::NoLines => "lines：需求至少要有一项明细".into(),
            DemandProblem::TooManyLines { count } => {
                format!("lines：共 {count} 项明细，超过 {MAX_LINES} 项的需求请拆分")
            }
            DemandProblem::TypeMissing { line } => {
                format!("lines[{line}].type_code：请选择资源类型")
            }
            DemandProblem::UnknownType { line, code } => {
                format!("lines[{line}].type_code：“{code}”不是分类目录中的资源类型")
            }
            DemandProblem::BadQuantity { line, found } => format!(
                "lines[{line}].quantity：应为 1 至 {MAX_LINE_QUANTITY} 之间的整数，实为 {found}"
            ),
            DemandProblem::BadDeliveryPoint { line } => format!(
                "lines[{line}].delivery_point：纬度应在 -90 至 90 度之间，经度应在 -180 至 180 度之间"
            ),
            DemandProblem::NeededByPassed { line } => {
                format!("lines[{line}].needed_by：需要时间已经过去")
            }
            DemandProblem::BadPriority { line, found } => {
                format!("lines[{line}].priority：应为 1（最急）至 5，实为 {found}")
            }
        }
    }
}

/// A checked demand: what is asked, not yet where it stands. Built by
/// [`NewDemand::validate`] or by [`escalate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandDraft {
    title: String,
    origin: DemandOrigin,
    classification: ClassificationLevel,
    region: RegionPath,
    lines: Vec<DemandLine>,
    escalated_from: Option<EscalationLink>,
}

/// One checked line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandLine {
    type_code: String,
    quantity: u64,
    delivery_point: DeliveryPoint,
    needed_by: Timestamp,
    priority: Priority,
    /// For a line of an escalated demand, the line of the origin demand it stands for.
    origin_line: Option<usize>,
}

/// Where an escalated demand came from: the demand (by its stored id) whose shortfall it
/// carries, and the region of the office that escalated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationLink {
    pub demand_id: i64,
    pub from_region: RegionPath,
}

impl NewDemand {
    /// Checks the demand against the taxonomy (`known_type`) and the current time, and
    /// returns every problem in form order so the sender fixes them in one go.
    pub fn validate(
        &self,
        now: Timestamp,
        known_type: impl Fn(&str) -> bool,
    ) -> Result<DemandDraft, Vec<DemandProblem>> {
        let mut problems = Vec::new();
        let title = self.title.trim();
        let title_length = title.chars().count();
        if title_length == 0 {
            problems.push(DemandProblem::TitleMissing);
        } else if title_length > MAX_TITLE_CHARS {
            problems.push(DemandProblem::TitleTooLong {
                length: title_length,
            });
        }
        if self.lines.is_empty() {
            problems.push(DemandProblem::NoLines);
        } else if self.lines.len() > MAX_LINES {
            // Checking ten thousand lines would only bury this one problem.
            problems.push(DemandProblem::TooManyLines {
                count: self.lines.len(),
            });
            return Err(problems);
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (index, raw) in self.lines.iter().enumerate() {
            match check_line(index, raw, now, &known_type) {
                Ok(line) => lines.push(line),
                Err(mut found) => problems.append(&mut found),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(DemandDraft {
            title: title.to_owned(),
            origin: self.origin,
            classification: self.classification,
            region: self.region.clone(),
            lines,
            escalated_from: None,
        })
    }
}

fn check_line(
    line: usize,
    raw: &NewDemandLine,
    now: Timestamp,
    known_type: &impl Fn(&str) -> bool,
) -> Result<DemandLine, Vec<DemandProblem>> {
    let mut problems = Vec::new();
    let code = raw.type_code.trim();
    if code.is_empty() {
        problems.push(DemandProblem::TypeMissing { line });
    } else if code.chars().count() > MAX_TYPE_CODE_CHARS || !known_type(code) {
        problems.push(DemandProblem::UnknownType {
            line,
            code: code.to_owned(),
        });
    }
    let quantity = u64::try_from(raw.quantity)
        .ok()
        .filter(|q| (1..=MAX_LINE_QUANTITY).contains(q));
    if quantity.is_none() {
        problems.push(DemandProblem::BadQuantity {
            line,
            found: raw.quantity,
        });
    }
    let delivery_point = DeliveryPoint::new(raw.lat, raw.lon);
    if delivery_point.is_none() {
        problems.push(DemandProblem::BadDeliveryPoint { line });
    }
    if raw.needed_by <= now {
        problems.push(DemandProblem::NeededByPassed { line });
    }
    let priority = Priority::new(raw.priority);
    if priority.is_none() {
        problems.push(DemandProblem::BadPriority {
            line,
            found: raw.priority,
        });
    }
    match (quantity, delivery_point, priority) {
        (Some(quantity), Some(delivery_point), Some(priority)) if problems.is_empty() => {
            Ok(DemandLine {
                type_code: code.to_owned(),
                quantity,
                delivery_point,
                needed_by: raw.needed_by,
                priority,
                origin_line: None,
            })
        }
        _ => Err(problems),
    }
}

impl DemandDraft {
    /// A draft read back from storage: the lines as stored, which [`NewDemand::validate`]
    /// checked when they were stated. Only what could make later arithmetic wrong is
    /// checked again — a demand has 1 to [`MAX_LINES`] lines, and an escalated line's
    /// origin line is a plain index — so a needed-by time that has since passed reads back.
    pub fn restore(
        title: String,
        origin: DemandOrigin,
        classification: ClassificationLevel,
        region: RegionPath,
        lines: Vec<DemandLine>,
        escalated_from: Option<EscalationLink>,
    ) -> Option<Self> {
        (!lines.is_empty() && lines.len() <= MAX_LINES).then_some(Self {
            title,
            origin,
            classification,
            region,
            lines,
            escalated_from,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub const fn origin(&self) -> DemandOrigin {
        self.origin
    }

    pub const fn classification(&self) -> ClassificationLevel {
        self.classification
    }

    pub fn region(&self) -> &RegionPath {
        &self.region
    }

    pub fn lines(&self) -> &[DemandLine] {
        &self.lines
    }

    pub fn escalated_from(&self) -> Option<&EscalationLink> {
        self.escalated_from.as_ref()
    }
}

impl DemandLine {
    /// A line read back from storage; `None` for a quantity outside 1..=[`MAX_LINE_QUANTITY`].
    pub fn restore(
        type_code: String,
        quantity: u64,
        delivery_point: DeliveryPoint,
        needed_by: Timestamp,
        priority: Priority,
        origin_line: Option<usize>,
    ) -> Option<Self> {
        (1..=MAX_LINE_QUANTITY).contains(&quantity).then_some(Self {
            type_code,
            quantity,
            delivery_point,
            needed_by,
            priority,
            origin_line,
        })
    }

    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    pub const fn quantity(&self) -> u64 {
        self.quantity
    }

    pub const fn delivery_point(&self) -> DeliveryPoint {
        self.delivery_point
    }

    pub const fn needed_by(&self) -> Timestamp {
        self.needed_by
    }

    pub const fn priority(&self) -> Priority {
        self.priority
    }

    pub const fn origin_line(&self) -> Option<usize> {
        self.origin_line
    }
}

// ---------------------------------------------------------------------------------------
// The lifecycle
// ---------------------------------------------------------------------------------------

/// How far one line is fulfilled. Always `handed_over ≤ inspected ≤ allocated ≤` the
/// line's quantity: [`transition`] refuses anything that would break it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineProgress {
    allocated: u64,
    inspected: u64,
    handed_over: u64,
}

impl LineProgress {
    /// Progress read back from storage, if it keeps the ordering invariant for a line of
    /// `requested` units.
    pub fn new(requested: u64, allocated: u64, inspected: u64, handed_over: u64) -> Option<Self> {
        (handed_over <= inspected && inspected <= allocated && allocated <= requested).then_some(
            Self {
                allocated,
                inspected,
                handed_over,
            },
        )
    }

    pub const fn allocated(&self) -> u64 {
        self.allocated
    }

    pub const fn inspected(&self) -> u64 {
        self.inspected
    }

    pub const fn handed_over(&self) -> u64 {
        self.handed_over
    }
}

/// A line and a quantity: how much of it an allocation, a release, an inspection or a
/// handover concerns. Quantities are increments, not totals, so two handover records of
/// one line add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineQuantity {
    pub line: usize,
    pub quantity: u64,
}

/// A line still short of its quantity, and by how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineShortfall {
    pub line: usize,
    pub missing: u64,
}

/// How a finished demand ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DemandEnding {
    /// Every line handed over in full.
    Fulfilled,
    /// Closed on purpose with lines not handed over in full.
    ClosedWithShortfall {
        reason: String,
        shortfall: Vec<LineShortfall>,
    },
    /// Cancelled in `from`; the progress kept on the demand says what storage must release.
    Cancelled { reason: String, from: DemandStatus },
}

/// Something that happens to a demand. Storage can keep these as the demand's history and
/// replay them through [`transition`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DemandEvent {
    /// The office has analysed the demand (normally at its task meeting).
    Analyse,
    /// Holdings were reserved for these quantities.
    Allocate {
        quantities: Vec<LineQuantity>,
    },
    /// Allocated quantities given back before inspection: a holding that failed inspection
    /// or fell through. The line's need is open again.
    Release {
        quantities: Vec<LineQuantity>,
    },
    /// Quantities seen on site and accepted.
    Inspect {
        quantities: Vec<LineQuantity>,
    },
    /// Quantities handed over under a signed record.
    HandOver {
        quantities: Vec<LineQuantity>,
    },
    /// Close a demand handed over in full.
    Close,
    /// Close a demand that will not be fulfilled in full, saying why.
    CloseWithShortfall {
        reason: String,
    },
    Cancel {
        reason: String,
    },
}

/// The name of each [`DemandEvent`] in refusals and logs.
impl DemandEvent {
    pub const fn action(&self) -> &'static str {
        match self {
            DemandEvent::Analyse => "analyse",
            DemandEvent::Allocate { .. } => "allocate",
            DemandEvent::Release { .. } => "release",
            DemandEvent::Inspect { .. } => "inspect",
            DemandEvent::HandOver { .. } => "hand_over",
            DemandEvent::Close => "close",
            DemandEvent::CloseWithShortfall { .. } => "close_with_shortfall",
            DemandEvent::Cancel { .. } => "cancel",
        }
    }
}

/// A demand and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    draft: DemandDraft,
    received_at: Timestamp,
    status: DemandStatus,
    progress: Vec<LineProgress>,
    ending: Option<DemandEnding>,
}

/// Why a transition was refused, with what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DemandRefusal {
    #[error("the demand is {status}; nothing more can be done with it")]
    Finished { status: DemandStatus },
    #[error("cannot {action} a demand that is {status}; {hint}")]
    WrongStatus {
        action: &'static str,
        status: DemandStatus,
        hint: &'static str,
    },
    #[error("{action}: list at least one line and quantity")]
    NoQuantities { action: &'static str },
    #[error("{action}: line {line} does not exist; the demand has {lines} lines")]
    UnknownLine {
        action: &'static str,
        line: usize,
        lines: usize,
    },
    #[error("{action}: line {line} is listed twice; give each line once with its total")]
    DuplicateLine { action: &'static str, line: usize },
    #[error("{action}: the quantity for line {line} must be greater than zero")]
    ZeroQuantity { action: &'static str, line: usize },
    #[error("{action}: line {line} has room for {room} more, not {quantity}")]
    TooMuch {
        action: &'static str,
        line: usize,
        quantity: u64,
        room: u64,
    },
    #[error(
        "lines are not handed over in full ({} short); close with a shortfall and a reason, or fulfil them",
        .shortfall.len()
    )]
    Shortfall { shortfall: Vec<LineShortfall> },
    #[error("every line is handed over in full; close the demand normally")]
    NoShortfall,
    #[error(
        "quantities are allocated or inspected but not handed over; hand them over or release them first"
    )]
    WorkOutstanding,
    #[error("{action}: a reason is required")]
    ReasonMissing { action: &'static str },
    #[error(
        "{action}: the reason has {length} characters, more than the {MAX_REASON_CHARS} allowed"
    )]
    ReasonTooLong { action: &'static str, length: usize },
    #[error(
        "the stored progress of line {line} breaks handed over ≤ inspected ≤ allocated ≤ requested"
    )]
    CorruptProgress { line: usize },
}

impl DemandRefusal {
    /// The refusal in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            DemandRefusal::Finished { status } => {
                format!("需求{}，不能再做任何操作", status.zh())
            }
            DemandRefusal::WrongStatus {
                action,
                status,
                hint,
            } => format!(
                "不能对{}的需求执行“{}”：{}",
                status.zh(),
                action_zh(action),
                hint_zh(hint)
            ),
            DemandRefusal::NoQuantities { action } => {
                format!("{}：请至少列出一项明细及其数量", action_zh(action))
            }
            DemandRefusal::UnknownLine {
                action,
                line,
                lines,
            } => format!(
                "{}：明细 {line} 不存在；该需求共有 {lines} 项明细",
                action_zh(action)
            ),
            DemandRefusal::DuplicateLine { action, line } => format!(
                "{}：明细 {line} 列出了两次；每项明细只列一次，填写其合计数量",
                action_zh(action)
            ),
            DemandRefusal::ZeroQuantity { action, line } => {
                format!("{}：明细 {line} 的数量须大于零", action_zh(action))
            }
            DemandRefusal::TooMuch {
                action,
                line,
                quantity,
                room,
            } => {
                let action = action_zh(action);
                format!("{action}：明细 {line} 最多还可{action} {room}，不能是 {quantity}")
            }
            DemandRefusal::Shortfall { shortfall } => format!(
                "尚有 {} 项明细未足额交接；请填写原因后按未足额关闭，或完成交付",
                shortfall.len()
            ),
            DemandRefusal::NoShortfall => "各项明细均已足额交接；请正常关闭需求".into(),
            DemandRefusal::WorkOutstanding => {
                "尚有已分配或已查验但未交接的数量；请先交接或释放".into()
            }
            DemandRefusal::ReasonMissing { action } => {
                format!("{}：须填写原因", action_zh(action))
            }
            DemandRefusal::ReasonTooLong { action, length } => format!(
                "{}：原因共 {length} 个字符，请控制在 {MAX_REASON_CHARS} 个以内",
                action_zh(action)
            ),
            DemandRefusal::CorruptProgress { line } => {
                format!("明细 {line} 存储的进度不满足 已交接 ≤ 已查验 ≤ 已分配 ≤ 需求数量")
            }
        }
    }
}

impl Demand {
    /// A demand as it arrives: `received`, nothing allocated.
    pub fn receive(draft: DemandDraft, received_at: Timestamp) -> Demand {
        let progress = vec![LineProgress::default(); draft.lines.len()];
        Demand {
            draft,
            received_at,
            status: DemandStatus::Received,
            progress,
            ending: None,
        }
    }

    /// A demand read back from storage. The progress must match the lines one for one and
    /// keep the ordering invariant; the status and ending are taken as stored, because
    /// storage only ever stores what [`transition`] returned.
    pub fn restore(
        draft: DemandDraft,
        received_at: Timestamp,
        status: DemandStatus,
        progress: Vec<LineProgress>,
        ending: Option<DemandEnding>,
    ) -> Result<Demand, DemandRefusal> {
        if progress.len() != draft.lines.len() {
            return Err(DemandRefusal::CorruptProgress {
                line: progress.len().min(draft.lines.len()),
            });
        }
        for (line, (p, l)) in progress.iter().zip(&draft.lines).enumerate() {
            if LineProgress::new(l.quantity, p.allocated, p.inspected, p.handed_over).is_none() {
                return Err(DemandRefusal::CorruptProgress { line });
            }
        }
        Ok(Demand {
            draft,
            received_at,
            status,
            progress,
            ending,
        })
    }

    pub fn draft(&self) -> &DemandDraft {
        &self.draft
    }

    pub const fn received_at(&self) -> Timestamp {
        self.received_at
    }

    pub const fn status(&self) -> DemandStatus {
        self.status
    }

    pub fn progress(&self) -> &[LineProgress] {
        &self.progress
    }

    pub fn ending(&self) -> Option<&DemandEnding> {
        self.ending.as_ref()
    }

    /// What allocation has not covered: per line, quantity − allocated, lines with
    /// nothing missing left out. This is what [`escalate`] may pass up.
    pub fn allocation_shortfall(&self) -> Vec<LineShortfall> {
        self.shortfall_by(|p| p.allocated)
    }

    /// What has not been handed over: per line, quantity − handed over.
    pub fn delivery_shortfall(&self) -> Vec<LineShortfall> {
        self.shortfall_by(|p| p.handed_over)
    }

    fn shortfall_by(&self, covered: impl Fn(&LineProgress) -> u64) -> Vec<LineShortfall> {
        self.draft
            .lines
            .iter()
            .zip(&self.progress)
            .enumerate()
            .filter_map(|(line, (l, p))| {
                let missing = l.quantity.saturating_sub(covered(p));
                (missing > 0).then_some(LineShortfall { line, missing })
            })
            .collect()
    }

    /// The stage the least advanced quantity waits in, once anything is allocated.
    fn derived_status(progress: &[LineProgress]) -> DemandStatus {
        if progress.iter().any(|p| p.allocated > p.inspected) {
            DemandStatus::Allocated
        } else if progress.iter().any(|p| p.inspected > p.handed_over) {
            DemandStatus::Inspected
        } else if progress.iter().any(|p| p.handed_over > 0) {
            DemandStatus::HandedOver
        } else {
            // Everything allocated was released: back to the analysis.
            DemandStatus::Analysed
        }
    }
}

/// The statuses in which quantities can be allocated, inspected, handed over or released:
/// after the analysis and before the end.
const FULFILLING: [DemandStatus; 4] = [
    DemandStatus::Analysed,
    DemandStatus::Allocated,
    DemandStatus::Inspected,
    DemandStatus::HandedOver,
];

/// Moves a demand on by one event, or says why not. The demand given is not changed; the
/// new one is returned, for storage to write (with the event, for the history).
pub fn transition(demand: &Demand, event: &DemandEvent) -> Result<Demand, DemandRefusal> {
    let status = demand.status;
    if status.is_terminal() {
        return Err(DemandRefusal::Finished { status });
    }
    let action = event.action();
    let mut next = demand.clone();
    match event {
        DemandEvent::Analyse => {
            if status != DemandStatus::Received {
                return Err(DemandRefusal::WrongStatus {
                    action,
                    status,
                    hint: "it has been analysed already",
                });
            }
            next.status = DemandStatus::Analysed;
        }
        DemandEvent::Allocate { quantities }
        | DemandEvent::Release { quantities }
        | DemandEvent::Inspect { quantities }
        | DemandEvent::HandOver { quantities } => {
            if !FULFILLING.contains(&status) {
                return Err(DemandRefusal::WrongStatus {
                    action,
                    status,
                    hint: "analyse it first",
                });
            }
            check_quantities(action, quantities, demand.progress.len())?;
            for entry in quantities {
                let requested = demand.draft.lines[entry.line].quantity;
                let progress = &mut next.progress[entry.line];
                // Each step draws on the one before: allocation on the open need,
                // inspection on what is allocated, handover on what is inspected, and a
                // release on what is allocated but not yet inspected.
                let (room, field) = match event {
                    DemandEvent::Allocate { .. } => {
                        (requested - progress.allocated, &mut progress.allocated)
                    }
                    DemandEvent::Inspect { .. } => (
                        progress.allocated - progress.inspected,
                        &mut progress.inspected,
                    ),
                    DemandEvent::HandOver { .. } => (
                        progress.inspected - progress.handed_over,
                        &mut progress.handed_over,
                    ),
                    _ => (
                        progress.allocated - progress.inspected,
                        &mut progress.allocated,
                    ),
                };
                if entry.quantity > room {
                    return Err(DemandRefusal::TooMuch {
                        action,
                        line: entry.line,
                        quantity: entry.quantity,
                        room,
                    });
                }
                if matches!(event, DemandEvent::Release { .. }) {
                    *field -= entry.quantity;
                } else {
                    *field += entry.quantity;
                }
            }
            // Before anything is allocated every room but allocation's is zero, so an
            // inspection, handover or release in `analysed` was refused above.
            next.status = Demand::derived_status(&next.progress);
        }
        DemandEvent::Close => {
            if status != DemandStatus::HandedOver {
                return Err(DemandRefusal::WrongStatus {
                    action,
                    status,
                    hint: "a demand closes once everything allocated is handed over",
                });
            }
            let shortfall = demand.delivery_shortfall();
            if !shortfall.is_empty() {
                return Err(DemandRefusal::Shortfall { shortfall });
            }
            next.status = DemandStatus::Closed;
            next.ending = Some(DemandEnding::Fulfilled);
        }
        DemandEvent::CloseWithShortfall { reason } => {
            match status {
                DemandStatus::Analysed | DemandStatus::HandedOver => {}
                DemandStatus::Allocated | DemandStatus::Inspected => {
                    return Err(DemandRefusal::WorkOutstanding);
                }
                _ => {
                    return Err(DemandRefusal::WrongStatus {
                        action,
                        status,
                        hint: "analyse it first",
                    });
                }
            }
            let reason = check_reason(action, reason)?;
            let shortfall = demand.delivery_shortfall();
            if shortfall.is_empty() {
                return Err(DemandRefusal::NoShortfall);
            }
            next.status = DemandStatus::Closed;
            next.ending = Some(DemandEnding::ClosedWithShortfall { reason, shortfall });
        }
        DemandEvent::Cancel { reason } => {
            let reason = check_reason(action, reason)?;
            next.status = DemandStatus::Cancelled;
            next.ending = Some(DemandEnding::Cancelled {
                reason,
                from: status,
            });
        }
    }
    Ok(next)
}

fn check_quantities(
    action: &'static str,
    quantities: &[LineQuantity],
    lines: usize,
) -> Result<(), DemandRefusal> {
    if quantities.is_empty() {
        return Err(DemandRefusal::NoQuantities { action });
    }
    let mut seen = vec![false; lines];
    for entry in quantities {
        let Some(slot) = seen.get_mut(entry.line) else {
            return Err(DemandRefusal::UnknownLine {
                action,
                line: entry.line,
                lines,
            });
        };
        if std::mem::replace(slot, true) {
            return Err(DemandRefusal::DuplicateLine {
                action,
                line: entry.line,
            });
        }
        if entry.quantity == 0 {
            return Err(DemandRefusal::ZeroQuantity {
                action,
                line: entry.line,
            });
        }
    }
    Ok(())
}

fn check_reason(action: &'static str, reason: &str) -> Result<String, DemandRefusal> {
    let reason = reason.trim();
    let length = reason.chars().count();
    if length == 0 {
        Err(DemandRefusal::ReasonMissing { action })
    } else if length > MAX_REASON_CHARS {
        Err(DemandRefusal::ReasonTooLong { action, length })
    } else {
        Ok(reason.to_owned())
    }
}

// ---------------------------------------------------------------------------------------
// The task meeting
// ---------------------------------------------------------------------------------------

/// Someone at a task meeting, as the form lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attendee {
    pub name: String,
    pub organization: String,
    pub side: Side,
}

/// The record of a task meeting as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTaskMeeting {
    pub held_at: Timestamp,
    pub attendees: Vec<Attendee>,
    pub decisions: Vec<String>,
}

/// A checked task meeting: who attended, when, and what was decided. A value: it says what
/// happened, and changes nothing by itself; the `analyse` event is a separate step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskMeeting {
    held_at: Timestamp,
    attendees: Vec<Attendee>,
    decisions: Vec<String>,
}

/// One thing wrong with a meeting record; all are reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeetingProblem {
    #[error("held_at: a meeting about a demand cannot be held before the demand was received")]
    HeldBeforeReceived,
    #[error("held_at: the time is in the future, and a meeting is recorded after it is held")]
    HeldInFuture,
    #[error("attendees: list who attended")]
    NoAttendees,
    #[error("attendees: list at most {MAX_MEETING_ENTRIES}")]
    TooManyAttendees,
    #[error("attendees[{index}].name: expected a name of 1 to {MAX_NAME_CHARS} characters")]
    BadAttendeeName { index: usize },
    #[error(
        "attendees[{index}].organization: expected an organization of 1 to {MAX_NAME_CHARS} characters"
    )]
    BadAttendeeOrganization { index: usize },
    #[error("attendees[{index}]: {name:?} of {organization:?} is listed twice")]
    DuplicateAttendee {
        index: usize,
        name: String,
        organization: String,
    },
    #[error(
        "attendees: a military demand is analysed jointly: list at least one attendee from the military side"
    )]
    NoMilitaryAttendee,
    #[error("decisions: record at least one decision")]
    NoDecisions,
    #[error("decisions: list at most {MAX_MEETING_ENTRIES}")]
    TooManyDecisions,
    #[error("decisions[{index}]: expected text of 1 to {MAX_REASON_CHARS} characters")]
    BadDecision { index: usize },
}

impl MeetingProblem {
    /// The problem in Chinese, for the Chinese pages: the same field path as the English,
    /// then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            MeetingProblem::HeldBeforeReceived => "held_at：会商时间不能早于需求的接收时间".into(),
            MeetingProblem::HeldInFuture => "held_at：会商结束后才能记录，所填时间尚未到来".into(),
            MeetingProblem::NoAttendees => "attendees：请列出参会人员".into(),
            MeetingProblem::TooManyAttendees => {
                format!("attendees：最多列出 {MAX_MEETING_ENTRIES} 人")
            }
            MeetingProblem::BadAttendeeName { index } => {
                format!("attendees[{index}].name：姓名应为 1 至 {MAX_NAME_CHARS} 个字符")
            }
            MeetingProblem::BadAttendeeOrganization { index } => {
                format!("attendees[{index}].organization：单位应为 1 至 {MAX_NAME_CHARS} 个字符")
            }
            MeetingProblem::DuplicateAttendee {
                index,
                name,
                organization,
            } => format!("attendees[{index}]：“{name}”（{organization}）列出了两次"),
            MeetingProblem::NoMilitaryAttendee => {
                "attendees：军事需求由军地共同分析，请至少列出一名军方参会人员".into()
            }
            MeetingProblem::NoDecisions => "decisions：请至少记录一项决定".into(),
            MeetingProblem::TooManyDecisions => {
                format!("decisions：最多列出 {MAX_MEETING_ENTRIES} 项")
            }
            MeetingProblem::BadDecision { index } => {
                format!("decisions[{index}]：每项决定应为 1 至 {MAX_REASON_CHARS} 个字符")
            }
        }
    }
}

impl NewTaskMeeting {
    /// Checks the record for `demand` at `now`. A military demand's meeting must have the
    /// military side at the table: analysis of its demand is joint work (DOMAIN.md,
    /// workflow 5), and a record without them is the first thing an inspector queries.
    pub fn validate(
        &self,
        demand: &Demand,
        now: Timestamp,
    ) -> Result<TaskMeeting, Vec<MeetingProblem>> {
        let mut problems = Vec::new();
        if self.held_at < demand.received_at {
            problems.push(MeetingProblem::HeldBeforeReceived);
        }
        if self.held_at > now {
            problems.push(MeetingProblem::HeldInFuture);
        }
        if self.attendees.is_empty() {
            problems.push(MeetingProblem::NoAttendees);
        } else if self.attendees.len() > MAX_MEETING_ENTRIES {
            problems.push(MeetingProblem::TooManyAttendees);
        }
        let mut attendees: Vec<Attendee> = Vec::with_capacity(self.attendees.len());
        for (index, attendee) in self.attendees.iter().take(MAX_MEETING_ENTRIES).enumerate() {
            let name = attendee.name.trim();
            let organization = attendee.organization.trim();
            let name_ok = (1..=MAX_NAME_CHARS).contains(&name.chars().count());
            let organization_ok = (1..=MAX_NAME_CHARS).contains(&organization.chars().count());
            if !name_ok {
                problems.push(MeetingProblem::BadAttendeeName { index });
            }
            if !organization_ok {
                problems.push(MeetingProblem::BadAttendeeOrganization { index });
            }
            if name_ok && organization_ok {
                if attendees
                    .iter()
                    .any(|a| a.name == name && a.organization == organization)
                {
                    problems.push(MeetingProblem::DuplicateAttendee {
                        index,
                        name: name.to_owned(),
                        organization: organization.to_owned(),
                    });
                } else {
                    attendees.push(Attendee {
                        name: name.to_owned(),
                        organization: organization.to_owned(),
                        side: attendee.side,
                    });
                }
            }
        }
        if demand.draft.origin == DemandOrigin::Military
            && !self.attendees.is_empty()
            && !self.attendees.iter().any(|a| a.side == Side::Military)
        {
            problems.push(MeetingProblem::NoMilitaryAttendee);
        }
        if self.decisions.is_empty() {
            problems.push(MeetingProblem::NoDecisions);
        } else if self.decisions.len() > MAX_MEETING_ENTRIES {
            problems.push(MeetingProblem::TooManyDecisions);
        }
        let mut decisions = Vec::with_capacity(self.decisions.len());
        for (index, decision) in self.decisions.iter().take(MAX_MEETING_ENTRIES).enumerate() {
            let decision = decision.trim();
            if (1..=MAX_REASON_CHARS).contains(&decision.chars().count()) {
                decisions.push(decision.to_owned());
            } else {
                problems.push(MeetingProblem::BadDecision { index });
            }
        }
        if problems.is_empty() {
            Ok(TaskMeeting {
                held_at: self.held_at,
                attendees,
                decisions,
            })
        } else {
            Err(problems)
        }
    }
}

impl TaskMeeting {
    pub const fn held_at(&self) -> Timestamp {
        self.held_at
    }

    pub fn attendees(&self) -> &[Attendee] {
        &self.attendees
    }

    pub fn decisions(&self) -> &[String] {
        &self.decisions
    }
}

// ---------------------------------------------------------------------------------------
// Escalation
// ---------------------------------------------------------------------------------------

/// Why a shortfall could not be escalated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationError {
    #[error("the demand is {status}; only a demand being fulfilled can pass a shortfall up")]
    WrongStatus { status: DemandStatus },
    #[error("the demand is addressed to the national level; there is no level above")]
    NoLevelAbove,
    #[error("shortfall: nothing to escalate")]
    NothingMissing,
    #[error("shortfall[{index}].line: line {line} does not exist")]
    UnknownLine { index: usize, line: usize },
    #[error("shortfall[{index}]: line {line} is listed twice")]
    DuplicateLine { index: usize, line: usize },
    #[error(
        "shortfall[{index}].missing: line {line} has {open} not yet allocated, so expected 1 to {open}, found {missing}"
    )]
    BadMissing {
        index: usize,
        line: usize,
        missing: u64,
        open: u64,
    },
}

impl EscalationError {
    /// The refusal in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            EscalationError::WrongStatus { status } => {
                format!("需求{}；只有正在办理的需求才能将缺口报上一级", status.zh())
            }
            EscalationError::NoLevelAbove => "该需求的对接地区已是国家级，没有上一级".into(),
            EscalationError::NothingMissing => "shortfall：没有需要上报的缺口".into(),
            EscalationError::UnknownLine { index, line } => {
                format!("shortfall[{index}].line：明细 {line} 不存在")
            }
            EscalationError::DuplicateLine { index, line } => {
                format!("shortfall[{index}]：明细 {line} 列出了两次")
            }
            EscalationError::BadMissing {
                index,
                line,
                missing,
                open,
            } => format!(
                "shortfall[{index}].missing：明细 {line} 尚有 {open} 未分配，应为 1 至 {open}，实为 {missing}"
            ),
        }
    }
}

/// Builds the demand the level above receives for a shortfall: one line per line short,
/// for the missing quantity, with the same type, delivery point, needed-by time and
/// priority (the need did not change by moving up), the same origin and classification,
/// addressed to the parent region, and linked to `demand_id` line by line, so that what the
/// level above delivers can be credited back.
///
/// `shortfall` usually comes from the allocation solver or [`Demand::allocation_shortfall`];
/// each entry may ask for at most what the line has not had allocated here.
pub fn escalate(
    demand: &Demand,
    demand_id: i64,
    shortfall: &[LineShortfall],
) -> Result<DemandDraft, EscalationError> {
    if !FULFILLING.contains(&demand.status) {
        return Err(EscalationError::WrongStatus {
            status: demand.status,
        });
    }
    let level_above = parent_path(&demand.draft.region).ok_or(EscalationError::NoLevelAbove)?;
    if shortfall.is_empty() {
        return Err(EscalationError::NothingMissing);
    }
    let mut seen = vec![false; demand.draft.lines.len()];
    let mut lines = Vec::with_capacity(shortfall.len());
    for (index, entry) in shortfall.iter().enumerate() {
        let line = entry.line;
        let (Some(origin), Some(slot)) = (demand.draft.lines.get(line), seen.get_mut(line)) else {
            return Err(EscalationError::UnknownLine { index, line });
        };
        if std::mem::replace(slot, true) {
            return Err(EscalationError::DuplicateLine { index, line });
        }
        let open = origin.quantity - demand.progress[line].allocated;
        if entry.missing == 0 || entry.missing > open {
            return Err(EscalationError::BadMissing {
                index,
                line,
                missing: entry.missing,
                open,
            });
        }
        lines.push(DemandLine {
            quantity: entry.missing,
            origin_line: Some(line),
            ..origin.clone()
        });
    }
    Ok(DemandDraft {
        title: demand.draft.title.clone(),
        origin: demand.draft.origin,
        classification: demand.draft.classification,
        region: level_above,
        lines,
        escalated_from: Some(EscalationLink {
            demand_id,
            from_region: demand.draft.region.clone(),
        }),
    })
}

/// The region one level up; `None` for the national root.
fn parent_path(path: &RegionPath) -> Option<RegionPath> {
    if path.is_root() {
        return None;
    }
    let inner = path.as_str().strip_suffix('/')?;
    let cut = inner.rfind('/')?;
    RegionPath::parse(&inner[..=cut])
}

#[cfg(test)]
mod tests;
