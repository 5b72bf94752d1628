//! The taxonomy of potential: six fixed categories, and under them subcategories and concrete
//! resource types ("heavy truck, payload ≥ 10 t", "rescue tent, 12 m²") with a unit of measure,
//! a per-record upper bound and typed attributes.
//!
//! Only the six [`Category`] values are code; everything below them is data, because DOMAIN.md
//! asks for a taxonomy that an administrator can edit. The default ships as
//! `data/taxonomy.json` ([`DEFAULT_TAXONOMY_JSON`]) and is read with [`Taxonomy::from_json`].
//! A [`Taxonomy`] can only be built through [`Taxonomy::new`] (or `from_json`, which calls it),
//! so holding one proves that its codes are unique and its cross-references resolve.
//!
//! A [`ResourceType`] also checks one record's values: [`ResourceType::parse_quantity`] and
//! [`ResourceType::check_quantity`] for the quantity, [`ResourceType::parse_attributes`] for the
//! attribute cells of a spreadsheet row or a form, [`ResourceType::attributes_from_json`] for an
//! API body or a stored JSON column. Problems are typed and name the attribute they concern.
//! [`ResourceType::changes_meaning`] tells storage when an edit needs a new version of a type.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::number::{normalize_number, read_decimal};

/// The shipped default taxonomy, as JSON. The test suite proves it parses and validates.
pub const DEFAULT_TAXONOMY_JSON: &str = include_str!("../data/taxonomy.json");

/// The six categories of national defense mobilization potential (DOMAIN.md). They are fixed
/// by law and doctrine, so they are code; everything below them is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Political,
    ArmedForces,
    NationalEconomy,
    CivilAirDefense,
    Transportation,
    EmergingFields,
}

/// A unit of measure: what one counts of a resource ("vehicle", "t", "bed").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Lowercase ASCII, digits and `_`, e.g. `vehicle`, `t`, `m2`, `kl`.
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
}

/// A subcategory of one category, e.g. `TRN.ROAD` (road transport) under transportation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subcategory {
    /// Uppercase ASCII, digits, `.`, `-` and `_`, e.g. `TRN.ROAD`. Stable: records refer to it.
    pub code: String,
    pub category: Category,
    pub name_en: String,
    pub name_zh: String,
}

/// A concrete kind of resource that potential records count, with the rules its values obey.
///
/// The fields are public because administrators edit types and storage rebuilds them from
/// rows; a type on its own may be inconsistent, and only a [`Taxonomy`] vouches for it. The
/// checking methods never panic on an inconsistent type, they just refuse more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceType {
    /// Uppercase ASCII, digits, `.`, `-` and `_`, e.g. `TRN.ROAD.TRUCK_HEAVY`. Stable.
    pub code: String,
    /// Must equal the category of [`ResourceType::subcategory`]; kept on the type so that a
    /// stored version of a type is self-describing.
    pub category: Category,
    /// The code of a [`Subcategory`].
    pub subcategory: String,
    pub name_en: String,
    pub name_zh: String,
    /// The code of a [`Unit`].
    pub unit: String,
    /// Whether quantities must be whole numbers (vehicles, persons) rather than amounts (tonnes).
    pub whole_units: bool,
    /// The largest quantity one record may hold. It catches typing errors (an extra zero, a
    /// quantity typed in kilograms instead of tonnes) before they reach a roll-up.
    pub max_quantity: f64,
    /// The typed properties a record of this type carries, in display order.
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
}

/// One typed property of a resource type, e.g. `payload_t` of a heavy truck.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// Lowercase snake_case ASCII, unique within its type.
    pub key: String,
    pub name_en: String,
    pub name_zh: String,
    /// A record without a required attribute is refused. Defaults to `false` in JSON.
    #[serde(default)]
    pub required: bool,
    pub kind: AttributeKind,
}

/// What values an attribute takes. In JSON: `{"type": "integer", "min": 1, "max": 60}`,
/// `{"type": "decimal", …}`, `{"type": "text", "max_len": 100}`,
/// `{"type": "choice", "options": [{"code": …, "name_en": …, "name_zh": …}]}`,
/// `{"type": "boolean"}`. Bounds are inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AttributeKind {
    Integer {
        min: i64,
        max: i64,
    },
    Decimal {
        min: f64,
        max: f64,
    },
    /// Free text of at most `max_len` characters (not bytes: Chinese text counts per character).
    Text {
        max_len: usize,
    },
    Choice {
        options: Vec<ChoiceOption>,
    },
    Boolean,
}

/// One allowed value of a choice attribute. Records store the code; people may type the code
/// or either name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    /// Lowercase ASCII, digits and `_`, e.g. `tertiary`, `diesel`.
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
}

/// A checked attribute value. It serialises as the plain JSON value (`12`, `12.5`, `"text"`,
/// `"diesel"`, `true`), so stored JSON stays queryable; read it back with
/// [`ResourceType::attributes_from_json`], which knows from the type what each value is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Integer(i64),
    Decimal(f64),
    Text(String),
    /// The code of the chosen [`ChoiceOption`].
    Choice(String),
    Boolean(bool),
}

/// Why a quantity was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantityProblem {
    #[error("expected a number, found \"{found}\"")]
    NotANumber { found: String },
    #[error("expected a finite number")]
    NotFinite,
    #[error("expected zero or more, found {quantity}")]
    Negative { quantity: f64 },
    #[error("expected a whole number (unit: {unit}), found {quantity}")]
    NotWhole { quantity: f64, unit: String },
    #[error("expected at most {max_quantity} (unit: {unit}) in one record, found {quantity}")]
    TooLarge {
        quantity: f64,
        max_quantity: f64,
        unit: String,
    },
}

impl QuantityProblem {
    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            QuantityProblem::NotANumber { found } => format!("应为数字，实为“{found}”"),
            QuantityProblem::NotFinite => "应为有限的数".into(),
            QuantityProblem::Negative { quantity } => format!("应为零或正数，实为 {quantity}"),
            QuantityProblem::NotWhole { quantity, unit } => {
                format!("应为整数（单位：{unit}），实为 {quantity}")
            }
            QuantityProblem::TooLarge {
                quantity,
                max_quantity,
                unit,
            } => format!("一条记录最多 {max_quantity}（单位：{unit}），实为 {quantity}"),
        }
    }
}

/// Why one attribute value was refused. Every problem names the attribute's key; the message
/// says what would have been accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttributeProblem {
    #[error("{key}: required")]
    Required { key: String },
    #[error("{key}: not an attribute of this resource type")]
    Unknown { key: String },
    #[error("{key}: given more than once")]
    Repeated { key: String },
    #[error("{key}: expected a single value, found a list or an object")]
    NotASingleValue { key: String },
    #[error("{key}: expected an integer from {min} to {max}, found \"{found}\"")]
    ExpectedInteger {
        key: String,
        min: i64,
        max: i64,
        found: String,
    },
    #[error("{key}: expected a number from {min} to {max}, found \"{found}\"")]
    ExpectedDecimal {
        key: String,
        min: f64,
        max: f64,
        found: String,
    },
    #[error("{key}: expected text of at most {max_len} characters, found {found_len}")]
    TooLong {
        key: String,
        max_len: usize,
        found_len: usize,
    },
    #[error("{key}: expected one of: {}, found \"{found}\"", options.join(", "))]
    ExpectedChoice {
        key: String,
        options: Vec<String>,
        found: String,
    },
    #[error("{key}: expected yes or no, found \"{found}\"")]
    ExpectedBoolean { key: String, found: String },
}

/// A taxonomy whose codes are unique and whose references resolve. The only ways to get one
/// are [`Taxonomy::new`], [`Taxonomy::from_json`], [`Taxonomy::default_taxonomy`] and
/// [`Taxonomy::with_resource_type`], which all validate.
#[derive(Debug, Clone, PartialEq)]
pub struct Taxonomy {
    units: Vec<Unit>,
    subcategories: Vec<Subcategory>,
    resource_types: Vec<ResourceType>,
    unit_index: HashMap<String, usize>,
    subcategory_index: HashMap<String, usize>,
    resource_type_index: HashMap<String, usize>,
}

/// Why a taxonomy could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaxonomyError {
    /// The text is not JSON, or not JSON of the taxonomy's shape. Line and column are 1-based.
    #[error("the taxonomy is not well-formed (line {line}, column {column}): {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON has the right shape but breaks a rule; every problem found is listed.
    #[error("the taxonomy has {} problem(s): {}", problems.len(), join_problems(problems))]
    Invalid { problems: Vec<TaxonomyProblem> },
}

/// One broken rule in a taxonomy. Each names the offending code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaxonomyProblem {
    #[error("unit code \"{code}\" must be lowercase ASCII letters, digits and '_'")]
    BadUnitCode { code: String },
    #[error(
        "subcategory code \"{code}\" must be uppercase ASCII letters, digits, '.', '-' and '_'"
    )]
    BadSubcategoryCode { code: String },
    #[error(
        "resource type code \"{code}\" must be uppercase ASCII letters, digits, '.', '-' and '_'"
    )]
    BadResourceTypeCode { code: String },
    #[error("{type_code}: attribute key \"{key}\" must be lowercase snake_case ASCII")]
    BadAttributeKey { type_code: String, key: String },
    #[error(
        "{type_code}/{key}: option code \"{option}\" must be lowercase ASCII letters, digits and '_'"
    )]
    BadOptionCode {
        type_code: String,
        key: String,
        option: String,
    },
    #[error("{item}: {field} is empty")]
    MissingName { item: String, field: &'static str },
    #[error("unit \"{code}\" is defined more than once")]
    DuplicateUnit { code: String },
    #[error("subcategory \"{code}\" is defined more than once")]
    DuplicateSubcategory { code: String },
    #[error("resource type \"{code}\" is defined more than once")]
    DuplicateResourceType { code: String },
    #[error("{type_code}: attribute \"{key}\" is defined more than once")]
    DuplicateAttribute { type_code: String, key: String },
    #[error("{type_code}: unknown unit \"{unit}\"")]
    UnknownUnit { type_code: String, unit: String },
    #[error("{type_code}: unknown subcategory \"{subcategory}\"")]
    UnknownSubcategory {
        type_code: String,
        subcategory: String,
    },
    #[error(
        "{type_code}: category {category} does not match subcategory {subcategory}, which is in {subcategory_category}"
    )]
    CategoryMismatch {
        type_code: String,
        category: Category,
        subcategory: String,
        subcategory_category: Category,
    },
    #[error("{type_code}: max_quantity must be a finite number above zero, found {max_quantity}")]
    BadMaxQuantity {
        type_code: String,
        max_quantity: f64,
    },
    #[error("{type_code}/{key}: the range {min} to {max} is empty or not finite")]
    BadRange {
        type_code: String,
        key: String,
        min: String,
        max: String,
    },
    #[error("{type_code}/{key}: max_len must be at least 1")]
    BadTextLength { type_code: String, key: String },
    #[error("{type_code}/{key}: a choice needs at least one option")]
    EmptyChoice { type_code: String, key: String },
    #[error("{type_code}/{key}: \"{label}\" names more than one option")]
    AmbiguousChoice {
        type_code: String,
        key: String,
        label: String,
    },
}

impl Category {
    /// Every category, in the order DOMAIN.md lists them.
    pub const ALL: [Category; 6] = [
        Category::Political,
        Category::ArmedForces,
        Category::NationalEconomy,
        Category::CivilAirDefense,
        Category::Transportation,
        Category::EmergingFields,
    ];

    /// The stable snake_case code, as stored and as used in JSON.
    pub const fn code(self) -> &'static str {
        match self {
            Category::Political => "political",
            Category::ArmedForces => "armed_forces",
            Category::NationalEconomy => "national_economy",
            Category::CivilAirDefense => "civil_air_defense",
            Category::Transportation => "transportation",
            Category::EmergingFields => "emerging_fields",
        }
    }

    /// The category with this code (surrounding whitespace ignored), or nothing.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        Category::ALL.into_iter().find(|c| c.code() == code)
    }

    pub const fn name_en(self) -> &'static str {
        match self {
            Category::Political => "Political",
            Category::ArmedForces => "Armed forces",
            Category::NationalEconomy => "National economy",
            Category::CivilAirDefense => "Civil air defense",
            Category::Transportation => "Transportation",
            Category::EmergingFields => "Emerging fields",
        }
    }

    pub const fn name_zh(self) -> &'static str {
        match self {
            Category::Political => "政治",
            Category::ArmedForces => "武装力量",
            Category::NationalEconomy => "国民经济",
            Category::CivilAirDefense => "人民防空",
            Category::Transportation => "交通运输",
            Category::EmergingFields => "新兴领域",
        }
    }

    /// The name in `locale`: Chinese for any `zh…` locale ("zh-CN"), English otherwise.
    pub fn name(self, locale: &str) -> &'static str {
        if is_chinese(locale) {
            self.name_zh()
        } else {
            self.name_en()
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Gives `name(locale)` to every record that carries `name_en` and `name_zh`.
macro_rules! localized_name {
    ($($record:ty),+) => {$(
        impl $record {
            /// The name in `locale`: Chinese for any `zh…` locale ("zh-CN"), English otherwise.
            pub fn name(&self, locale: &str) -> &str {
                if is_chinese(locale) { &self.name_zh } else { &self.name_en }
            }
        }
    )+};
}

localized_name!(Unit, Subcategory, ResourceType, AttributeSpec, ChoiceOption);

impl ResourceType {
    /// The attribute with this key, if the type has one.
    pub fn attribute(&self, key: &str) -> Option<&AttributeSpec> {
        self.attributes.iter().find(|a| a.key == key)
    }

    /// The attribute a column header or form label names: its key, English name (any case) or
    /// Chinese name, so a spreadsheet may head its columns in either language.
    pub fn attribute_by_label(&self, label: &str) -> Option<&AttributeSpec> {
        let label = label.trim();
        self.attribute(label).or_else(|| {
            self.attributes
                .iter()
                .find(|a| a.name_en.eq_ignore_ascii_case(label) || a.name_zh == label)
        })
    }

    /// Checks a quantity for one record: finite, zero or more, a whole number when the unit
    /// counts whole things, and no more than [`ResourceType::max_quantity`].
    pub fn check_quantity(&self, quantity: f64) -> Result<(), QuantityProblem> {
        if !quantity.is_finite() {
            return Err(QuantityProblem::NotFinite);
        }
        if quantity < 0.0 {
            return Err(QuantityProblem::Negative { quantity });
        }
        if self.whole_units && quantity.fract() != 0.0 {
            return Err(QuantityProblem::NotWhole {
                quantity,
                unit: self.unit.clone(),
            });
        }
        // A NaN max_quantity (possible only on an unvalidated type) refuses rather than accepts.
        if quantity > self.max_quantity || self.max_quantity.is_nan() {
            return Err(QuantityProblem::TooLarge {
                quantity,
                max_quantity: self.max_quantity,
                unit: self.unit.clone(),
            });
        }
        Ok(())
    }

    /// Reads a quantity as people type it ("1,200", "12.0", full-width "１２") and checks it.
    pub fn parse_quantity(&self, text: &str) -> Result<f64, QuantityProblem> {
        let quantity = read_decimal(text).ok_or_else(|| QuantityProblem::NotANumber {
            found: excerpt(text),
        })?;
        self.check_quantity(quantity)?;
        // "-0" parses to negative zero; store plain zero.
        Ok(quantity + 0.0)
    }

    /// Parses the attribute cells of one record, given as (key, text) pairs from a spreadsheet
    /// row or a form. Empty cells count as absent. Returns every value, or every problem: in
    /// input order, then the required attributes that are missing, in the type's order.
    pub fn parse_attributes<K: AsRef<str>, V: AsRef<str>>(
        &self,
        raw: &[(K, V)],
    ) -> Result<BTreeMap<String, AttributeValue>, Vec<AttributeProblem>> {
        self.collect_attributes(
            raw.iter()
                .map(|(key, text)| (key.as_ref(), Some(Cell::Text(text.as_ref())))),
        )
    }

    /// Reads attribute values from a JSON object (an API request body, a stored JSON column):
    /// numbers, strings and booleans are checked like typed text; `null` counts as absent.
    pub fn attributes_from_json(
        &self,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, AttributeValue>, Vec<AttributeProblem>> {
        use serde_json::Value;
        let cells = object.iter().map(|(key, value)| {
            let cell = match value {
                Value::Null => None,
                Value::Bool(true) => Some(Cell::Owned("true".to_owned())),
                Value::Bool(false) => Some(Cell::Owned("false".to_owned())),
                Value::Number(number) => Some(Cell::Owned(number.to_string())),
                Value::String(text) => Some(Cell::Text(text)),
                Value::Array(_) | Value::Object(_) => Some(Cell::NotASingleValue),
            };
            (key.as_str(), cell)
        });
        self.collect_attributes(cells)
    }

    /// Whether replacing `self` by `newer` could change what an already stored record means,
    /// or make it invalid, so that storage must keep `self` as an old version instead of
    /// editing it in place.
    ///
    /// True when the code, category, subcategory, unit or `whole_units` changes; when
    /// `max_quantity` shrinks; when an attribute is removed, changes kind, becomes required,
    /// or narrows (a smaller range or `max_len`, a choice option removed); or when a required
    /// attribute is added. Names, added optional attributes, added options and widened bounds
    /// reinterpret nothing and return false.
    pub fn changes_meaning(&self, newer: &ResourceType) -> bool {
        let type_changed = self.code != newer.code
            || self.category != newer.category
            || self.subcategory != newer.subcategory
            || self.unit != newer.unit
            || self.whole_units != newer.whole_units
            || newer.max_quantity < self.max_quantity;
        type_changed
            || self
                .attributes
                .iter()
                .any(|old| match newer.attribute(&old.key) {
                    None => true,
                    Some(new) => attribute_narrows(old, new),
                })
            || newer
                .attributes
                .iter()
                .any(|new| new.required && self.attribute(&new.key).is_none())
    }

    fn collect_attributes<'a>(
        &self,
        cells: impl Iterator<Item = (&'a str, Option<Cell<'a>>)>,
    ) -> Result<BTreeMap<String, AttributeValue>, Vec<AttributeProblem>> {
        let mut values = BTreeMap::new();
        // By the attribute's place in `self.attributes`: a row's few attributes are checked
        // for repeats without hashing.
        let mut seen = vec![false; self.attributes.len()];
        let mut problems = Vec::new();
        for (key, cell) in cells {
            let key = key.trim();
            let text = match &cell {
                None => continue,
                Some(Cell::NotASingleValue) => None,
                Some(Cell::Text(text)) => Some(text.trim()),
                Some(Cell::Owned(text)) => Some(text.trim()),
            };
            // A blank cell carries nothing: it is no value, no repeat and no unknown column, so
            // an empty column a spreadsheet happens to have does not block an import.
            if text == Some("") {
                continue;
            }
            let Some((place, spec)) = self
                .attributes
                .iter()
                .enumerate()
                .find(|(_, a)| a.key == key)
            else {
                problems.push(AttributeProblem::Unknown {
                    key: key.to_owned(),
                });
                continue;
            };
            if seen
                .get_mut(place)
                .is_none_or(|seen| std::mem::replace(seen, true))
            {
                problems.push(AttributeProblem::Repeated {
                    key: key.to_owned(),
                });
                continue;
            }
            let Some(text) = text else {
                problems.push(AttributeProblem::NotASingleValue {
                    key: key.to_owned(),
                });
                continue;
            };
            match spec.kind.parse(&spec.key, text) {
                Ok(value) => {
                    values.insert(spec.key.clone(), value);
                }
                Err(problem) => problems.push(problem),
            }
        }
        // Missing or left empty: either way the record lacks it. A value that failed to parse
        // already has its own problem, which says more than "required".
        for spec in &self.attributes {
            if spec.required
                && !values.contains_key(&spec.key)
                && !problems.iter().any(|p| p.key() == spec.key)
            {
                problems.push(AttributeProblem::Required {
                    key: spec.key.clone(),
                });
            }
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    }
}

impl AttributeKind {
    /// Parses one non-empty, trimmed cell.
    fn parse(&self, key: &str, text: &str) -> Result<AttributeValue, AttributeProblem> {
        match self {
            AttributeKind::Integer { min, max } => parse_integer(text)
                .filter(|n| (*min..=*max).contains(n))
                .map(AttributeValue::Integer)
                .ok_or_else(|| AttributeProblem::ExpectedInteger {
                    key: key.to_owned(),
                    min: *min,
                    max: *max,
                    found: excerpt(text),
                }),
            AttributeKind::Decimal { min, max } => read_decimal(text)
                .filter(|n| *min <= *n && *n <= *max)
                .map(|n| AttributeValue::Decimal(n + 0.0))
                .ok_or_else(|| AttributeProblem::ExpectedDecimal {
                    key: key.to_owned(),
                    min: *min,
                    max: *max,
                    found: excerpt(text),
                }),
            AttributeKind::Text { max_len } => {
                let found_len = text.chars().count();
                if found_len <= *max_len {
                    Ok(AttributeValue::Text(text.to_owned()))
                } else {
                    Err(AttributeProblem::TooLong {
                        key: key.to_owned(),
                        max_len: *max_len,
                        found_len,
                    })
                }
            }
            AttributeKind::Choice { options } => options
                .iter()
                .find(|o| o.matches(text))
                .map(|o| AttributeValue::Choice(o.code.clone()))
                .ok_or_else(|| AttributeProblem::ExpectedChoice {
                    key: key.to_owned(),
                    options: options.iter().map(|o| o.code.clone()).collect(),
                    found: excerpt(text),
                }),
            AttributeKind::Boolean => {
                parse_boolean(text)
                    .map(AttributeValue::Boolean)
                    .ok_or_else(|| AttributeProblem::ExpectedBoolean {
                        key: key.to_owned(),
                        found: excerpt(text),
                    })
            }
        }
    }
}

impl ChoiceOption {
    /// Whether `label` names this option: its code or English name in any case, or its
    /// Chinese name.
    pub fn matches(&self, label: &str) -> bool {
        let label = label.trim();
        self.code.eq_ignore_ascii_case(label)
            || self.name_en.eq_ignore_ascii_case(label)
            || self.name_zh == label
    }
}

impl fmt::Display for AttributeValue {
    /// The value as text that [`ResourceType::parse_attributes`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Integer(n) => write!(f, "{n}"),
            AttributeValue::Decimal(n) => write!(f, "{n}"),
            AttributeValue::Text(text) | AttributeValue::Choice(text) => f.write_str(text),
            AttributeValue::Boolean(true) => f.write_str("yes"),
            AttributeValue::Boolean(false) => f.write_str("no"),
        }
    }
}

impl AttributeProblem {
    /// The key of the attribute the problem concerns.
    pub fn key(&self) -> &str {
        match self {
            AttributeProblem::Required { key }
            | AttributeProblem::Unknown { key }
            | AttributeProblem::Repeated { key }
            | AttributeProblem::NotASingleValue { key }
            | AttributeProblem::ExpectedInteger { key, .. }
            | AttributeProblem::ExpectedDecimal { key, .. }
            | AttributeProblem::TooLong { key, .. }
            | AttributeProblem::ExpectedChoice { key, .. }
            | AttributeProblem::ExpectedBoolean { key, .. } => key,
        }
    }
    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            AttributeProblem::Required { key } => format!("{key}：必填"),
            AttributeProblem::Unknown { key } => format!("{key}：不是该资源类型的属性"),
            AttributeProblem::Repeated { key } => format!("{key}：填写了不止一次"),
            AttributeProblem::NotASingleValue { key } => {
                format!("{key}：应为单个值，不能是列表或对象")
            }
            AttributeProblem::ExpectedInteger {
                key,
                min,
                max,
                found,
            } => format!("{key}：应为 {min} 至 {max} 之间的整数，实为“{found}”"),
            AttributeProblem::ExpectedDecimal {
                key,
                min,
                max,
                found,
            } => format!("{key}：应为 {min} 至 {max} 之间的数，实为“{found}”"),
            AttributeProblem::TooLong {
                key,
                max_len,
                found_len,
            } => format!("{key}：文字最多 {max_len} 个字符，实为 {found_len} 个"),
            AttributeProblem::ExpectedChoice {
                key,
                options,
                found,
            } => format!("{key}：应为以下之一：{}，实为“{found}”", options.join("、")),
            AttributeProblem::ExpectedBoolean { key, found } => {
                format!("{key}：应为 是 或 否，实为“{found}”")
            }
        }
    }
}

impl Taxonomy {
    /// Builds a taxonomy, checking every rule; returns all problems found, not just the first.
    ///
    /// The rules: codes well-formed and unique (units, subcategories, types; attribute keys and
    /// option codes within their type), every name non-empty in both languages, every type's
    /// unit and subcategory defined and the subcategory in the type's category, `max_quantity`
    /// finite and above zero, ranges finite with `min <= max`, `max_len >= 1`, choices
    /// non-empty and no label naming two options.
    pub fn new(
        units: Vec<Unit>,
        subcategories: Vec<Subcategory>,
        resource_types: Vec<ResourceType>,
    ) -> Result<Taxonomy, TaxonomyError> {
        let mut problems = Vec::new();
        let unit_index = index_codes(
            &units,
            |u| &u.code,
            |code| problems.push(TaxonomyProblem::DuplicateUnit { code }),
        );
        let subcategory_index = index_codes(
            &subcategories,
            |s| &s.code,
            |code| problems.push(TaxonomyProblem::DuplicateSubcategory { code }),
        );
        let resource_type_index = index_codes(
            &resource_types,
            |t| &t.code,
            |code| problems.push(TaxonomyProblem::DuplicateResourceType { code }),
        );
        for unit in &units {
            if !is_lower_code(&unit.code) {
                problems.push(TaxonomyProblem::BadUnitCode {
                    code: unit.code.clone(),
                });
            }
            check_names(
                &mut problems,
                || format!("unit {}", unit.code),
                &unit.name_en,
                &unit.name_zh,
            );
        }
        for subcategory in &subcategories {
            if !is_upper_code(&subcategory.code) {
                problems.push(TaxonomyProblem::BadSubcategoryCode {
                    code: subcategory.code.clone(),
                });
            }
            check_names(
                &mut problems,
                || format!("subcategory {}", subcategory.code),
                &subcategory.name_en,
                &subcategory.name_zh,
            );
        }
        for resource_type in &resource_types {
            check_resource_type(
                &mut problems,
                resource_type,
                &unit_index,
                &subcategory_index,
                &subcategories,
            );
        }
        if !problems.is_empty() {
            return Err(TaxonomyError::Invalid { problems });
        }
        Ok(Taxonomy {
            units,
            subcategories,
            resource_types,
            unit_index,
            subcategory_index,
            resource_type_index,
        })
    }

    /// Reads a taxonomy from JSON of the shape of `data/taxonomy.json`:
    /// `{"units": [...], "subcategories": [...], "resource_types": [...]}`. Unknown fields
    /// are refused, so a misspelt field name is reported rather than silently ignored.
    pub fn from_json(text: &str) -> Result<Taxonomy, TaxonomyError> {
        let file: TaxonomyFile = serde_json::from_str(text).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            let message = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            TaxonomyError::Json {
                line,
                column,
                message: message
                    .strip_suffix(&suffix)
                    .map_or(message.clone(), str::to_owned),
            }
        })?;
        Taxonomy::new(file.units, file.subcategories, file.resource_types)
    }

    /// The taxonomy Muster ships with, from [`DEFAULT_TAXONOMY_JSON`].
    ///
    /// Infallible on purpose: the shipped file is a constant, and the test
    /// `default_taxonomy_parses_and_validates` proves it valid, so the empty fallback is
    /// unreachable in any tested build. Parsing the file takes about 1 ms in a release build
    /// (10 ms in a debug build), and storage asks for it on every page of a database whose
    /// administrator never edited a type, so it is parsed once per process and cloned.
    pub fn default_taxonomy() -> Taxonomy {
        static DEFAULT: std::sync::LazyLock<Taxonomy> = std::sync::LazyLock::new(|| {
            Taxonomy::from_json(DEFAULT_TAXONOMY_JSON).unwrap_or_else(|_| Taxonomy::empty())
        });
        DEFAULT.clone()
    }

    /// A taxonomy with nothing in it.
    pub fn empty() -> Taxonomy {
        Taxonomy {
            units: Vec::new(),
            subcategories: Vec::new(),
            resource_types: Vec::new(),
            unit_index: HashMap::new(),
            subcategory_index: HashMap::new(),
            resource_type_index: HashMap::new(),
        }
    }

    /// The taxonomy as pretty-printed JSON that [`Taxonomy::from_json`] reads back, for
    /// export and for an administrator to edit.
    pub fn to_json(&self) -> String {
        let file = TaxonomyFileRef {
            units: &self.units,
            subcategories: &self.subcategories,
            resource_types: &self.resource_types,
        };
        // Serialising plain structs with string keys cannot fail; the fallback is unreachable.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// A copy with `resource_type` added, or replacing the type with the same code, validated
    /// as a whole. This is how an administrator's edit is checked before it is stored; compare
    /// with [`ResourceType::changes_meaning`] to decide whether it needs a new version.
    pub fn with_resource_type(
        &self,
        resource_type: ResourceType,
    ) -> Result<Taxonomy, TaxonomyError> {
        let mut resource_types = self.resource_types.clone();
        match self.resource_type_index.get(&resource_type.code) {
            Some(&index) => resource_types[index] = resource_type,
            None => resource_types.push(resource_type),
        }
        Taxonomy::new(
            self.units.clone(),
            self.subcategories.clone(),
            resource_types,
        )
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn subcategories(&self) -> &[Subcategory] {
        &self.subcategories
    }

    /// Every resource type, in file order (which is display order).
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.unit_index.get(code).map(|&i| &self.units[i])
    }

    pub fn subcategory(&self, code: &str) -> Option<&Subcategory> {
        self.subcategory_index
            .get(code)
            .map(|&i| &self.subcategories[i])
    }

    /// The resource type with this code; a hash look-up, cheap enough per imported row.
    pub fn resource_type(&self, code: &str) -> Option<&ResourceType> {
        self.resource_type_index
            .get(code)
            .map(|&i| &self.resource_types[i])
    }

    pub fn subcategories_in(&self, category: Category) -> impl Iterator<Item = &Subcategory> {
        self.subcategories
            .iter()
            .filter(move |s| s.category == category)
    }

    pub fn resource_types_in(&self, category: Category) -> impl Iterator<Item = &ResourceType> {
        self.resource_types
            .iter()
            .filter(move |t| t.category == category)
    }

    pub fn resource_types_in_subcategory<'a>(
        &'a self,
        subcategory: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> {
        self.resource_types
            .iter()
            .filter(move |t| t.subcategory == subcategory)
    }
}

/// The JSON file's shape, read before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    units: Vec<Unit>,
    subcategories: Vec<Subcategory>,
    resource_types: Vec<ResourceType>,
}

#[derive(Serialize)]
struct TaxonomyFileRef<'a> {
    units: &'a [Unit],
    subcategories: &'a [Subcategory],
    resource_types: &'a [ResourceType],
}

/// One attribute cell before parsing. JSON values that are not text are rendered first so
/// that both entry points share one parser.
enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    NotASingleValue,
}

fn is_chinese(locale: &str) -> bool {
    locale
        .get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("zh"))
}

/// Whether an old attribute's stored values may be invalid or mean something else under `new`.
fn attribute_narrows(old: &AttributeSpec, new: &AttributeSpec) -> bool {
    if new.required && !old.required {
        return true;
    }
    match (&old.kind, &new.kind) {
        (
            AttributeKind::Integer { min, max },
            AttributeKind::Integer {
                min: new_min,
                max: new_max,
            },
        ) => new_min > min || new_max < max,
        (
            AttributeKind::Decimal { min, max },
            AttributeKind::Decimal {
                min: new_min,
                max: new_max,
            },
        ) => new_min > min || new_max < max,
        (
            AttributeKind::Text { max_len },
            AttributeKind::Text {
                max_len: new_max_len,
            },
        ) => new_max_len < max_len,
        (
            AttributeKind::Choice { options },
            AttributeKind::Choice {
                options: new_options,
            },
        ) => options
            .iter()
            .any(|o| !new_options.iter().any(|n| n.code == o.code)),
        (AttributeKind::Boolean, AttributeKind::Boolean) => false,
        _ => true,
    }
}

/// Maps each code to its first position, reporting every code seen again.
fn index_codes<T>(
    records: &[T],
    code_of: impl Fn(&T) -> &String,
    mut on_duplicate: impl FnMut(String),
) -> HashMap<String, usize> {
    let mut index = HashMap::with_capacity(records.len());
    for (position, record) in records.iter().enumerate() {
        let code = code_of(record);
        if index.contains_key(code) {
            on_duplicate(code.clone());
        } else {
            index.insert(code.clone(), position);
        }
    }
    index
}

fn check_names(
    problems: &mut Vec<TaxonomyProblem>,
    item: impl Fn() -> String,
    name_en: &str,
    name_zh: &str,
) {
    for (field, name) in [("name_en", name_en), ("name_zh", name_zh)] {
        if name.trim().is_empty() {
            problems.push(TaxonomyProblem::MissingName {
                item: item(),
                field,
            });
        }
    }
}

fn check_resource_type(
    problems: &mut Vec<TaxonomyProblem>,
    resource_type: &ResourceType,
    unit_index: &HashMap<String, usize>,
    subcategory_index: &HashMap<String, usize>,
    subcategories: &[Subcategory],
) {
    let type_code = &resource_type.code;
    if !is_upper_code(type_code) {
        problems.push(TaxonomyProblem::BadResourceTypeCode {
            code: type_code.clone(),
        });
    }
    check_names(
        problems,
        || format!("resource type {type_code}"),
        &resource_type.name_en,
        &resource_type.name_zh,
    );
    if !unit_index.contains_key(&resource_type.unit) {
        problems.push(TaxonomyProblem::UnknownUnit {
            type_code: type_code.clone(),
            unit: resource_type.unit.clone(),
        });
    }
    match subcategory_index.get(&resource_type.subcategory) {
        None => problems.push(TaxonomyProblem::UnknownSubcategory {
            type_code: type_code.clone(),
            subcategory: resource_type.subcategory.clone(),
        }),
        Some(&index) if subcategories[index].category != resource_type.category => {
            problems.push(TaxonomyProblem::CategoryMismatch {
                type_code: type_code.clone(),
                category: resource_type.category,
                subcategory: resource_type.subcategory.clone(),
                subcategory_category: subcategories[index].category,
            });
        }
        Some(_) => {}
    }
    if !(resource_type.max_quantity.is_finite() && resource_type.max_quantity > 0.0) {
        problems.push(TaxonomyProblem::BadMaxQuantity {
            type_code: type_code.clone(),
            max_quantity: resource_type.max_quantity,
        });
    }
    let mut keys = HashSet::new();
    for spec in &resource_type.attributes {
        if !keys.insert(spec.key.as_str()) {
            problems.push(TaxonomyProblem::DuplicateAttribute {
                type_code: type_code.clone(),
                key: spec.key.clone(),
            });
        }
        check_attribute(problems, type_code, spec);
    }
}

fn check_attribute(problems: &mut Vec<TaxonomyProblem>, type_code: &str, spec: &AttributeSpec) {
    let key = &spec.key;
    if !is_attribute_key(key) {
        problems.push(TaxonomyProblem::BadAttributeKey {
            type_code: type_code.to_owned(),
            key: key.clone(),
        });
    }
    check_names(
        problems,
        || format!("{type_code}/{key}"),
        &spec.name_en,
        &spec.name_zh,
    );
    let bad_range = |min: String, max: String| TaxonomyProblem::BadRange {
        type_code: type_code.to_owned(),
        key: key.clone(),
        min,
        max,
    };
    match &spec.kind {
        AttributeKind::Integer { min, max } => {
            if min > max {
                problems.push(bad_range(min.to_string(), max.to_string()));
            }
        }
        AttributeKind::Decimal { min, max } => {
            if !(min.is_finite() && max.is_finite() && min <= max) {
                problems.push(bad_range(min.to_string(), max.to_string()));
            }
        }
        AttributeKind::Text { max_len } => {
            if *max_len == 0 {
                problems.push(TaxonomyProblem::BadTextLength {
                    type_code: type_code.to_owned(),
                    key: key.clone(),
                });
            }
        }
        AttributeKind::Choice { options } => {
            if options.is_empty() {
                problems.push(TaxonomyProblem::EmptyChoice {
                    type_code: type_code.to_owned(),
                    key: key.clone(),
                });
            }
            // Every label a person may type must name exactly one option, or parsing would
            // depend on the options' order.
            let mut labels: HashMap<String, &str> = HashMap::new();
            for option in options {
                if !is_option_code(&option.code) {
                    problems.push(TaxonomyProblem::BadOptionCode {
                        type_code: type_code.to_owned(),
                        key: key.clone(),
                        option: option.code.clone(),
                    });
                }
                check_names(
                    problems,
                    || format!("{type_code}/{key}/{}", option.code),
                    &option.name_en,
                    &option.name_zh,
                );
                let mut own = [
                    option.code.to_ascii_lowercase(),
                    option.name_en.trim().to_ascii_lowercase(),
                    option.name_zh.trim().to_owned(),
                ]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>();
                own.sort();
                own.dedup();
                for label in own {
                    if let Some(other) = labels.insert(label.clone(), &option.code)
                        && other != option.code
                    {
                        problems.push(TaxonomyProblem::AmbiguousChoice {
                            type_code: type_code.to_owned(),
                            key: key.clone(),
                            label,
                        });
                    }
                }
            }
        }
        AttributeKind::Boolean => {}
    }
}

/// Type and subcategory codes: `TRN.ROAD.TRUCK_HEAVY`. Short and ASCII so they survive
/// spreadsheets, URLs and file names unchanged.
fn is_upper_code(code: &str) -> bool {
    (1..=48).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

fn is_lower_code(code: &str) -> bool {
    (1..=24).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_attribute_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_option_code(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// An integer as typed; "12.0" and "12.00" count as 12 because spreadsheets write whole
/// numbers that way.
fn parse_integer(text: &str) -> Option<i64> {
    let number = normalize_number(text)?;
    let whole = match number.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => number.as_str(),
    };
    whole.parse().ok()
}

/// Yes or no in the ways people write them in English and Chinese forms.
fn parse_boolean(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "是" | "有" | "√" => Some(true),
        "no" | "n" | "false" | "0" | "否" | "无" | "×" => Some(false),
        _ => None,
    }
}

/// Echoed input, cut short so that a pasted paragraph does not flood a problem list.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 40;
    let text = text.trim();
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(LIMIT).collect();
        cut.push('…');
        cut
    }
}

impl TaxonomyError {
    /// The error in Chinese, for the Chinese pages. A JSON error keeps the parser's English
    /// reason in brackets: it comes from serde_json and has no Chinese.
    pub fn zh(&self) -> String {
        match self {
            TaxonomyError::Json {
                line,
                column,
                message,
            } => format!("分类格式有误（第 {line} 行第 {column} 列）：{message}"),
            TaxonomyError::Invalid { problems } => format!(
                "分类有 {} 个问题：{}",
                problems.len(),
                problems
                    .iter()
                    .map(TaxonomyProblem::zh)
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        }
    }
}

impl TaxonomyProblem {
    /// The problem in Chinese, for the Chinese pages: the same codes as the English, with no
    /// `；` inside, so that a list of them joins with `；`.
    pub fn zh(&self) -> String {
        match self {
            TaxonomyProblem::BadUnitCode { code } => {
                format!("计量单位代码“{code}”只能由小写 ASCII 字母、数字和“_”组成")
            }
            TaxonomyProblem::BadSubcategoryCode { code } => {
                format!("子类代码“{code}”只能由大写 ASCII 字母、数字、“.”、“-”和“_”组成")
            }
            TaxonomyProblem::BadResourceTypeCode { code } => {
                format!("资源类型代码“{code}”只能由大写 ASCII 字母、数字、“.”、“-”和“_”组成")
            }
            TaxonomyProblem::BadAttributeKey { type_code, key } => {
                format!("{type_code}：属性键“{key}”须为小写 snake_case ASCII")
            }
            TaxonomyProblem::BadOptionCode {
                type_code,
                key,
                option,
            } => {
                format!("{type_code}/{key}：选项代码“{option}”只能由小写 ASCII 字母、数字和“_”组成")
            }
            TaxonomyProblem::MissingName { item, field } => {
                let field = match *field {
                    "name_en" => "英文名称",
                    "name_zh" => "中文名称",
                    other => other,
                };
                format!("{}：{field}为空", item_zh(item))
            }
            TaxonomyProblem::DuplicateUnit { code } => {
                format!("计量单位“{code}”重复定义")
            }
            TaxonomyProblem::DuplicateSubcategory { code } => {
                format!("子类“{code}”重复定义")
            }
            TaxonomyProblem::DuplicateResourceType { code } => {
                format!("资源类型“{code}”重复定义")
            }
            TaxonomyProblem::DuplicateAttribute { type_code, key } => {
                format!("{type_code}：属性“{key}”重复定义")
            }
            TaxonomyProblem::UnknownUnit { type_code, unit } => {
                format!("{type_code}：没有计量单位“{unit}”")
            }
            TaxonomyProblem::UnknownSubcategory {
                type_code,
                subcategory,
            } => format!("{type_code}：没有子类“{subcategory}”"),
            TaxonomyProblem::CategoryMismatch {
                type_code,
                category,
                subcategory,
                subcategory_category,
            } => format!(
                "{type_code}：类别“{}”与子类 {subcategory} 不符，该子类属于“{}”",
                category.name_zh(),
                subcategory_category.name_zh()
            ),
            TaxonomyProblem::BadMaxQuantity {
                type_code,
                max_quantity,
            } => format!("{type_code}：最大数量须为大于零的有限数，实为 {max_quantity}"),
            TaxonomyProblem::BadRange {
                type_code,
                key,
                min,
                max,
            } => format!("{type_code}/{key}：范围 {min} 至 {max} 为空或不是有限数"),
            TaxonomyProblem::BadTextLength { type_code, key } => {
                format!("{type_code}/{key}：最大长度（max_len）至少为 1")
            }
            TaxonomyProblem::EmptyChoice { type_code, key } => {
                format!("{type_code}/{key}：选择项至少要有一个选项")
            }
            TaxonomyProblem::AmbiguousChoice {
                type_code,
                key,
                label,
            } => format!("{type_code}/{key}：“{label}”对应不止一个选项"),
        }
    }
}

/// A [`TaxonomyProblem::MissingName`]'s item ("unit pcs", "resource type WATER") in Chinese;
/// an attribute or option path (`WATER/volume`) stays as it is.
fn item_zh(item: &str) -> String {
    for (en, zh) in [
        ("unit ", "计量单位 "),
        ("subcategory ", "子类 "),
        ("resource type ", "资源类型 "),
    ] {
        if let Some(code) = item.strip_prefix(en) {
            return format!("{zh}{code}");
        }
    }
    item.to_owned()
}

fn join_problems(problems: &[TaxonomyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
