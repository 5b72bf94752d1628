use super::*;

fn default() -> Taxonomy {
    Taxonomy::from_json(DEFAULT_TAXONOMY_JSON).expect("the shipped taxonomy is valid")
}

fn heavy_truck() -> ResourceType {
    default()
        .resource_type("TRN.ROAD.TRUCK_HEAVY")
        .expect("heavy truck is in the default taxonomy")
        .clone()
}

fn option(code: &str) -> ChoiceOption {
    ChoiceOption {
        code: code.to_owned(),
        name_en: code.to_owned(),
        name_zh: format!("{code}(中)"),
    }
}

fn spec(key: &str, required: bool, kind: AttributeKind) -> AttributeSpec {
    AttributeSpec {
        key: key.to_owned(),
        name_en: key.to_owned(),
        name_zh: "属性".to_owned(),
        required,
        kind,
    }
}

/// A small type with one attribute of every kind, for value checks that do not depend on the
/// shipped data.
fn sample_type() -> ResourceType {
    ResourceType {
        code: "TST.SAMPLE".to_owned(),
        category: Category::Transportation,
        subcategory: "TST".to_owned(),
        name_en: "Sample".to_owned(),
        name_zh: "样例".to_owned(),
        unit: "vehicle".to_owned(),
        whole_units: true,
        max_quantity: 10_000.0,
        attributes: vec![
            spec("age", true, AttributeKind::Integer { min: 1, max: 60 }),
            spec(
                "payload_t",
                false,
                AttributeKind::Decimal {
                    min: 0.5,
                    max: 60.0,
                },
            ),
            spec("note", false, AttributeKind::Text { max_len: 5 }),
            spec(
                "class",
                false,
                AttributeKind::Choice {
                    options: vec![option("light"), option("medium"), option("heavy")],
                },
            ),
            spec("mobile", false, AttributeKind::Boolean),
        ],
    }
}

fn parse(raw: &[(&str, &str)]) -> Result<BTreeMap<String, AttributeValue>, Vec<AttributeProblem>> {
    sample_type().parse_attributes(raw)
}

fn problems(raw: &[(&str, &str)]) -> Vec<AttributeProblem> {
    match parse(raw) {
        Ok(values) => panic!("expected problems for {raw:?}, got {values:?}"),
        Err(problems) => problems,
    }
}

/// The (key, text) cells of one record, as a spreadsheet row gives them.
type Cells<'a> = Vec<(&'a str, &'a str)>;

fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

// ---- The shipped taxonomy ----

#[test]
fn default_taxonomy_parses_and_validates() {
    let taxonomy = default();
    // The infallible constructor must not have fallen back to the empty taxonomy.
    assert_eq!(Taxonomy::default_taxonomy(), taxonomy);
    assert!(taxonomy.resource_types().len() >= 150);
}

#[test]
fn every_category_has_subcategories_and_enough_types() {
    let taxonomy = default();
    for category in Category::ALL {
        let subcategories = taxonomy.subcategories_in(category).count();
        let types = taxonomy.resource_types_in(category).count();
        assert!(
            subcategories >= 3,
            "{category}: {subcategories} subcategories"
        );
        assert!(types >= 10, "{category}: {types} types");
    }
    // DOMAIN.md weighs these three heaviest.
    for category in [
        Category::NationalEconomy,
        Category::CivilAirDefense,
        Category::Transportation,
    ] {
        assert!(
            taxonomy.resource_types_in(category).count() >= 40,
            "{category}"
        );
    }
}

#[test]
fn every_subcategory_has_types() {
    let taxonomy = default();
    for subcategory in taxonomy.subcategories() {
        let types = taxonomy
            .resource_types_in_subcategory(&subcategory.code)
            .count();
        assert!(types >= 2, "{} has {types} types", subcategory.code);
    }
}

#[test]
fn every_unit_is_used() {
    let taxonomy = default();
    for unit in taxonomy.units() {
        assert!(
            taxonomy
                .resource_types()
                .iter()
                .any(|t| t.unit == unit.code),
            "unit {} is unused",
            unit.code
        );
    }
}

#[test]
fn codes_are_unique_and_look_ups_find_them() {
    let taxonomy = default();
    let mut seen = HashSet::new();
    for resource_type in taxonomy.resource_types() {
        assert!(seen.insert(&resource_type.code), "{}", resource_type.code);
        assert_eq!(
            taxonomy.resource_type(&resource_type.code),
            Some(resource_type)
        );
        // Codes start with their subcategory's code, so they read as a path.
        assert!(
            resource_type
                .code
                .starts_with(&format!("{}.", resource_type.subcategory)),
            "{}",
            resource_type.code
        );
    }
    for subcategory in taxonomy.subcategories() {
        assert_eq!(taxonomy.subcategory(&subcategory.code), Some(subcategory));
    }
    assert_eq!(taxonomy.resource_type("NO.SUCH.TYPE"), None);
}

#[test]
fn every_name_has_chinese_and_english() {
    let taxonomy = default();
    let mut names: Vec<(String, &str, &str)> = Vec::new();
    names.extend(
        taxonomy
            .units()
            .iter()
            .map(|u| (u.code.clone(), u.name_en.as_str(), u.name_zh.as_str())),
    );
    names.extend(
        taxonomy
            .subcategories()
            .iter()
            .map(|s| (s.code.clone(), s.name_en.as_str(), s.name_zh.as_str())),
    );
    for t in taxonomy.resource_types() {
        names.push((t.code.clone(), &t.name_en, &t.name_zh));
        for a in &t.attributes {
            names.push((format!("{}/{}", t.code, a.key), &a.name_en, &a.name_zh));
            if let AttributeKind::Choice { options } = &a.kind {
                for o in options {
                    let item = format!("{}/{}/{}", t.code, a.key, o.code);
                    names.push((item, &o.name_en, &o.name_zh));
                }
            }
        }
    }
    for (item, name_en, name_zh) in names {
        assert!(!name_en.trim().is_empty(), "{item}: no English name");
        // Codes such as "KN95" or "4F" are their own Chinese name; everything else is Chinese.
        let is_code_like = name_zh
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-".contains(c));
        assert!(
            has_cjk(name_zh) || is_code_like,
            "{item}: Chinese name {name_zh:?}"
        );
        assert!(
            !has_cjk(name_en),
            "{item}: English name {name_en:?} has Chinese"
        );
    }
}

#[test]
fn whole_units_follow_the_unit() {
    // Counting units (vehicles, persons) are whole; measures (t, m², kl) are not. A mismatch in
    // the data would let "2.5 persons" through or refuse "2.5 t".
    let measures = ["t", "kg", "m2", "m3", "kl", "km", "ha", "cny_10k"];
    for t in default().resource_types() {
        assert_eq!(
            t.whole_units,
            !measures.contains(&t.unit.as_str()),
            "{}",
            t.code
        );
    }
}

#[test]
fn categories_round_trip_through_codes_names_and_serde() {
    let zh = [
        "政治",
        "武装力量",
        "国民经济",
        "人民防空",
        "交通运输",
        "新兴领域",
    ];
    for (category, zh) in Category::ALL.into_iter().zip(zh) {
        assert_eq!(Category::parse(category.code()), Some(category));
        assert_eq!(category.name("zh-CN"), zh);
        assert_eq!(category.name("en"), category.name_en());
        let json = serde_json::to_string(&category).expect("serialises");
        assert_eq!(json, format!("\"{}\"", category.code()));
    }
    assert_eq!(
        Category::parse(" civil_air_defense "),
        Some(Category::CivilAirDefense)
    );
    assert_eq!(Category::parse("Civil air defense"), None);
    let truck = heavy_truck();
    assert_eq!(truck.name("zh-CN"), "重型货车(载重≥10吨)");
    assert_eq!(truck.name("en"), "Heavy truck (payload ≥ 10 t)");
}

#[test]
fn to_json_reads_back_to_the_same_taxonomy() {
    let taxonomy = default();
    assert_eq!(Taxonomy::from_json(&taxonomy.to_json()), Ok(taxonomy));
}

// ---- Quantities ----

#[test]
fn quantities_within_the_rules_are_accepted() {
    let truck = heavy_truck();
    for quantity in [0.0, 1.0, 250.0, 10_000.0] {
        assert_eq!(truck.check_quantity(quantity), Ok(()), "{quantity}");
    }
    let grain = default()
        .resource_type("ECO.AGR.GRAIN")
        .expect("grain")
        .clone();
    assert_eq!(grain.check_quantity(1234.567), Ok(()));
}

#[test]
fn each_kind_of_bad_quantity_is_refused() {
    let truck = heavy_truck();
    let cases = [
        (f64::NAN, QuantityProblem::NotFinite),
        (f64::INFINITY, QuantityProblem::NotFinite),
        (-1.0, QuantityProblem::Negative { quantity: -1.0 }),
        (
            2.5,
            QuantityProblem::NotWhole {
                quantity: 2.5,
                unit: "vehicle".to_owned(),
            },
        ),
        (
            10_001.0,
            QuantityProblem::TooLarge {
                quantity: 10_001.0,
                max_quantity: 10_000.0,
                unit: "vehicle".to_owned(),
            },
        ),
    ];
    for (quantity, expected) in cases {
        assert_eq!(truck.check_quantity(quantity), Err(expected), "{quantity}");
    }
    assert_eq!(
        truck.check_quantity(2.5).map_err(|p| p.to_string()),
        Err("expected a whole number (unit: vehicle), found 2.5".to_owned())
    );
}

#[test]
fn quantities_are_read_as_people_type_them() {
    let truck = heavy_truck();
    let cases: &[(&str, Result<f64, QuantityProblem>)] = &[
        ("12", Ok(12.0)),
        (" 12 ", Ok(12.0)),
        ("12.0", Ok(12.0)),
        ("1,200", Ok(1200.0)),
        ("１２", Ok(12.0)),
        ("-0", Ok(0.0)),
        (
            "12,00",
            Err(QuantityProblem::NotANumber {
                found: "12,00".to_owned(),
            }),
        ),
        (
            "twelve",
            Err(QuantityProblem::NotANumber {
                found: "twelve".to_owned(),
            }),
        ),
        (
            "inf",
            Err(QuantityProblem::NotANumber {
                found: "inf".to_owned(),
            }),
        ),
        (
            "",
            Err(QuantityProblem::NotANumber {
                found: String::new(),
            }),
        ),
        ("-3", Err(QuantityProblem::Negative { quantity: -3.0 })),
    ];
    for (text, expected) in cases {
        assert_eq!(&truck.parse_quantity(text), expected, "{text:?}");
    }
    assert!(truck.parse_quantity("-0").is_ok_and(f64::is_sign_positive));
}

// ---- Attributes ----

#[test]
fn good_attribute_values_are_parsed_into_typed_values() {
    let values = parse(&[
        ("age", " 42 "),
        ("payload_t", "12.5"),
        ("note", "五个字符呀"),
        ("class", "HEAVY"),
        ("mobile", "是"),
    ])
    .expect("all valid");
    let expected = BTreeMap::from([
        ("age".to_owned(), AttributeValue::Integer(42)),
        ("payload_t".to_owned(), AttributeValue::Decimal(12.5)),
        (
            "note".to_owned(),
            AttributeValue::Text("五个字符呀".to_owned()),
        ),
        (
            "class".to_owned(),
            AttributeValue::Choice("heavy".to_owned()),
        ),
        ("mobile".to_owned(), AttributeValue::Boolean(true)),
    ]);
    assert_eq!(values, expected);
    assert_eq!(
        serde_json::to_value(&values).expect("serialises"),
        serde_json::json!({"age": 42, "payload_t": 12.5, "note": "五个字符呀", "class": "heavy", "mobile": true})
    );
}

#[test]
fn each_spelling_of_a_value_is_accepted() {
    let cases: &[(&str, &str, AttributeValue)] = &[
        ("age", "60", AttributeValue::Integer(60)),
        ("age", "1", AttributeValue::Integer(1)),
        ("age", "12.00", AttributeValue::Integer(12)),
        ("age", "＋１２", AttributeValue::Integer(12)),
        ("payload_t", "0.5", AttributeValue::Decimal(0.5)),
        ("payload_t", "60", AttributeValue::Decimal(60.0)),
        ("payload_t", "１２．５", AttributeValue::Decimal(12.5)),
        ("class", "light", AttributeValue::Choice("light".to_owned())),
        (
            "class",
            "medium(中)",
            AttributeValue::Choice("medium".to_owned()),
        ),
        ("note", "abc", AttributeValue::Text("abc".to_owned())),
    ];
    for (key, text, expected) in cases {
        let raw = if *key == "age" {
            vec![(*key, *text)]
        } else {
            vec![("age", "30"), (*key, *text)]
        };
        let values = parse(&raw);
        let values = values.unwrap_or_else(|p| panic!("{key}={text:?}: {p:?}"));
        assert_eq!(values.get(*key), Some(expected), "{key}={text:?}");
    }
    for (text, expected) in [
        ("yes", true),
        ("Y", true),
        ("TRUE", true),
        ("1", true),
        ("是", true),
        ("有", true),
        ("no", false),
        ("n", false),
        ("false", false),
        ("0", false),
        ("否", false),
        ("无", false),
    ] {
        let values = parse(&[("age", "30"), ("mobile", text)]).expect(text);
        assert_eq!(
            values.get("mobile"),
            Some(&AttributeValue::Boolean(expected)),
            "{text:?}"
        );
    }
}

#[test]
fn each_kind_of_bad_value_is_refused_with_its_key() {
    let age = |found: &str| AttributeProblem::ExpectedInteger {
        key: "age".to_owned(),
        min: 1,
        max: 60,
        found: found.to_owned(),
    };
    let payload = |found: &str| AttributeProblem::ExpectedDecimal {
        key: "payload_t".to_owned(),
        min: 0.5,
        max: 60.0,
        found: found.to_owned(),
    };
    let cases: Vec<(Cells, Vec<AttributeProblem>)> = vec![
        (vec![("age", "0")], vec![age("0")]),
        (vec![("age", "61")], vec![age("61")]),
        (vec![("age", "12.5")], vec![age("12.5")]),
        (vec![("age", "abc")], vec![age("abc")]),
        (
            vec![("age", "99999999999999999999")],
            vec![age("99999999999999999999")],
        ),
        (
            vec![("age", "30"), ("payload_t", "0.4")],
            vec![payload("0.4")],
        ),
        (
            vec![("age", "30"), ("payload_t", "NaN")],
            vec![payload("NaN")],
        ),
        (
            vec![("age", "30"), ("payload_t", "1e400")],
            vec![payload("1e400")],
        ),
        (
            vec![("age", "30"), ("note", "六个字符呀呀")],
            vec![AttributeProblem::TooLong {
                key: "note".to_owned(),
                max_len: 5,
                found_len: 6,
            }],
        ),
        (
            vec![("age", "30"), ("class", "huge")],
            vec![AttributeProblem::ExpectedChoice {
                key: "class".to_owned(),
                options: vec!["light".to_owned(), "medium".to_owned(), "heavy".to_owned()],
                found: "huge".to_owned(),
            }],
        ),
        (
            vec![("age", "30"), ("mobile", "maybe")],
            vec![AttributeProblem::ExpectedBoolean {
                key: "mobile".to_owned(),
                found: "maybe".to_owned(),
            }],
        ),
        (
            vec![],
            vec![AttributeProblem::Required {
                key: "age".to_owned(),
            }],
        ),
        (
            vec![("age", "   ")],
            vec![AttributeProblem::Required {
                key: "age".to_owned(),
            }],
        ),
        (
            vec![("age", "30"), ("colour", "red")],
            vec![AttributeProblem::Unknown {
                key: "colour".to_owned(),
            }],
        ),
        (
            vec![("age", "30"), ("age", "31")],
            vec![AttributeProblem::Repeated {
                key: "age".to_owned(),
            }],
        ),
    ];
    for (raw, expected) in cases {
        assert_eq!(problems(&raw), expected, "{raw:?}");
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let found = problems(&[("payload_t", "x"), ("class", "huge"), ("mobile", "?")]);
    let keys: Vec<&str> = found.iter().map(AttributeProblem::key).collect();
    assert_eq!(keys, ["payload_t", "class", "mobile", "age"]);
}

#[test]
fn problems_read_as_instructions() {
    let messages: Vec<String> = problems(&[("age", "abc"), ("class", "huge")])
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "age: expected an integer from 1 to 60, found \"abc\"",
            "class: expected one of: light, medium, heavy, found \"huge\"",
        ]
    );
    assert_eq!(
        AttributeProblem::Required {
            key: "beds".to_owned()
        }
        .to_string(),
        "beds: required"
    );
}

#[test]
fn blank_cells_are_ignored_even_when_repeated_or_unknown() {
    let values = parse(&[
        ("age", ""),
        ("age", "30"),
        ("payload_t", ""),
        ("extra", " "),
        ("payload_t", "\u{3000}"),
    ])
    .expect("valid");
    assert_eq!(values.keys().collect::<Vec<_>>(), ["age"]);
}

#[test]
fn long_input_is_cut_short_in_problems() {
    let long = "x".repeat(500);
    let found = problems(&[("age", &long)]);
    let AttributeProblem::ExpectedInteger { found, .. } = &found[0] else {
        panic!("{found:?}");
    };
    assert_eq!(found.chars().count(), 41);
}

#[test]
fn attributes_from_json_read_numbers_strings_and_booleans() {
    let object = serde_json::json!({
        "age": 30, "payload_t": 12.5, "class": "medium", "mobile": false, "note": null
    });
    let object = object.as_object().expect("object");
    let values = sample_type().attributes_from_json(object).expect("valid");
    assert_eq!(values.get("age"), Some(&AttributeValue::Integer(30)));
    assert_eq!(
        values.get("payload_t"),
        Some(&AttributeValue::Decimal(12.5))
    );
    assert_eq!(values.get("mobile"), Some(&AttributeValue::Boolean(false)));
    assert_eq!(values.get("note"), None);

    let object = serde_json::json!({ "age": [30], "class": 3, "note": {"a": 1} });
    let found = sample_type()
        .attributes_from_json(object.as_object().expect("object"))
        .expect_err("invalid");
    let keys: Vec<&str> = found.iter().map(AttributeProblem::key).collect();
    // serde_json's map is sorted by key.
    assert_eq!(keys, ["age", "class", "note"]);
    assert!(matches!(found[0], AttributeProblem::NotASingleValue { .. }));
}

#[test]
fn shipped_types_check_realistic_records() {
    let taxonomy = default();
    let hospital = taxonomy
        .resource_type("ECO.MED.HOSPITAL")
        .expect("hospital");
    let values = hospital
        .parse_attributes(&[("beds", "1200"), ("grade", "三级"), ("kind", "general")])
        .expect("valid hospital");
    assert_eq!(
        values.get("grade"),
        Some(&AttributeValue::Choice("tertiary".to_owned()))
    );
    let found = hospital
        .parse_attributes(&[("beds", "1200"), ("grade", "top")])
        .expect_err("bad grade");
    assert_eq!(
        found[0].to_string(),
        "grade: expected one of: tertiary, secondary, primary, found \"top\""
    );

    let truck = heavy_truck();
    let found = truck
        .parse_attributes(&[("payload_t", "8"), ("fuel", "diesel")])
        .expect_err("a heavy truck carries at least 10 t");
    assert_eq!(
        found[0].to_string(),
        "payload_t: expected a number from 10 to 60, found \"8\""
    );

    let shelter = taxonomy
        .resource_type("CAD.SHL.PERSONNEL_SHELTER")
        .expect("shelter");
    assert!(
        shelter
            .parse_attributes(&[("protected_persons", "800"), ("protection_class", "核6级")])
            .is_ok()
    );
}

#[test]
fn attribute_labels_find_attributes_in_either_language() {
    let truck = heavy_truck();
    for label in ["payload_t", "Payload (t)", "payload (T)", "载重(吨)"] {
        assert_eq!(
            truck.attribute_by_label(label).map(|a| a.key.as_str()),
            Some("payload_t"),
            "{label}"
        );
    }
    assert_eq!(truck.attribute_by_label("weight"), None);
}

proptest::proptest! {
    /// Whatever text arrives, parsing returns values or problems; never a panic.
    #[test]
    fn arbitrary_cells_never_panic(key in "[a-z_]{0,12}", text in "\\PC{0,30}") {
        let _ = sample_type().parse_attributes(&[(key.as_str(), text.as_str())]);
        let _ = sample_type().parse_quantity(&text);
    }

    /// A value written out with `Display` reads back as the same value.
    #[test]
    fn values_round_trip_through_text(
        age in 1i64..=60,
        payload in 0.5f64..=60.0,
        class in 0usize..3,
        mobile in proptest::bool::ANY,
    ) {
        let values = BTreeMap::from([
            ("age".to_owned(), AttributeValue::Integer(age)),
            ("payload_t".to_owned(), AttributeValue::Decimal(payload)),
            ("class".to_owned(), AttributeValue::Choice(["light", "medium", "heavy"][class].to_owned())),
            ("mobile".to_owned(), AttributeValue::Boolean(mobile)),
        ]);
        let texts: Vec<(String, String)> = values.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        proptest::prop_assert_eq!(sample_type().parse_attributes(&texts), Ok(values));
    }
}

// ---- Versioning ----

#[test]
fn changes_meaning_only_when_stored_values_would_be_reinterpreted() {
    let base = sample_type();
    let edit = |change: fn(&mut ResourceType)| {
        let mut newer = base.clone();
        change(&mut newer);
        newer
    };

    let meaning_kept: Vec<(&str, ResourceType)> = vec![
        ("unchanged", base.clone()),
        (
            "renamed",
            edit(|t| {
                t.name_en = "Renamed".to_owned();
                t.name_zh = "改名".to_owned();
                t.attributes[0].name_zh = "年龄".to_owned();
            }),
        ),
        ("max_quantity widened", edit(|t| t.max_quantity = 20_000.0)),
        (
            "optional attribute added",
            edit(|t| {
                t.attributes
                    .push(spec("colour", false, AttributeKind::Boolean))
            }),
        ),
        (
            "integer range widened",
            edit(|t| t.attributes[0].kind = AttributeKind::Integer { min: 0, max: 70 }),
        ),
        (
            "decimal range widened",
            edit(|t| {
                t.attributes[1].kind = AttributeKind::Decimal {
                    min: 0.0,
                    max: 100.0,
                }
            }),
        ),
        (
            "text lengthened",
            edit(|t| t.attributes[2].kind = AttributeKind::Text { max_len: 50 }),
        ),
        (
            "choice option added",
            edit(|t| {
                if let AttributeKind::Choice { options } = &mut t.attributes[3].kind {
                    options.push(option("super_heavy"));
                }
            }),
        ),
        (
            "choice option renamed",
            edit(|t| {
                if let AttributeKind::Choice { options } = &mut t.attributes[3].kind {
                    options[0].name_en = "Light duty".to_owned();
                }
            }),
        ),
        (
            "required attribute made optional",
            edit(|t| t.attributes[0].required = false),
        ),
        ("attributes reordered", edit(|t| t.attributes.reverse())),
    ];
    for (change, newer) in meaning_kept {
        assert!(!base.changes_meaning(&newer), "{change}");
    }

    let meaning_changed: Vec<(&str, ResourceType)> = vec![
        ("unit", edit(|t| t.unit = "set".to_owned())),
        ("whole_units", edit(|t| t.whole_units = false)),
        ("category", edit(|t| t.category = Category::NationalEconomy)),
        ("subcategory", edit(|t| t.subcategory = "TST2".to_owned())),
        ("max_quantity narrowed", edit(|t| t.max_quantity = 100.0)),
        ("attribute removed", edit(|t| t.attributes.truncate(4))),
        (
            "required attribute added",
            edit(|t| {
                t.attributes
                    .push(spec("colour", true, AttributeKind::Boolean))
            }),
        ),
        (
            "optional attribute made required",
            edit(|t| t.attributes[1].required = true),
        ),
        (
            "integer became decimal",
            edit(|t| {
                t.attributes[0].kind = AttributeKind::Decimal {
                    min: 1.0,
                    max: 60.0,
                }
            }),
        ),
        (
            "integer range narrowed",
            edit(|t| t.attributes[0].kind = AttributeKind::Integer { min: 1, max: 50 }),
        ),
        (
            "decimal minimum raised",
            edit(|t| {
                t.attributes[1].kind = AttributeKind::Decimal {
                    min: 1.0,
                    max: 60.0,
                }
            }),
        ),
        (
            "text shortened",
            edit(|t| t.attributes[2].kind = AttributeKind::Text { max_len: 4 }),
        ),
        (
            "choice option removed",
            edit(|t| {
                if let AttributeKind::Choice { options } = &mut t.attributes[3].kind {
                    options.pop();
                }
            }),
        ),
        (
            "boolean became choice",
            edit(|t| {
                t.attributes[4].kind = AttributeKind::Choice {
                    options: vec![option("yes"), option("no")],
                }
            }),
        ),
    ];
    for (change, newer) in meaning_changed {
        assert!(base.changes_meaning(&newer), "{change}");
    }
}

// ---- Reading and validating taxonomies ----

const MINIMAL: &str = r#"{
  "units": [{"code": "vehicle", "name_en": "vehicle", "name_zh": "辆"}],
  "subcategories": [
    {"code": "TRN.ROAD", "category": "transportation", "name_en": "Road", "name_zh": "公路"},
    {"code": "ECO.IND", "category": "national_economy", "name_en": "Industry", "name_zh": "工业"}
  ],
  "resource_types": [
    {"code": "TRN.ROAD.BUS", "category": "transportation", "subcategory": "TRN.ROAD",
     "name_en": "Bus", "name_zh": "客车", "unit": "vehicle", "whole_units": true,
     "max_quantity": 100,
     "attributes": [{"key": "seats", "name_en": "Seats", "name_zh": "座位", "required": true,
                     "kind": {"type": "integer", "min": 10, "max": 70}}]}
  ]
}"#;

fn minimal_type() -> ResourceType {
    Taxonomy::from_json(MINIMAL)
        .expect("minimal taxonomy is valid")
        .resource_types()[0]
        .clone()
}

fn minimal_with(resource_type: ResourceType) -> Result<Taxonomy, TaxonomyError> {
    Taxonomy::from_json(MINIMAL)
        .expect("minimal taxonomy is valid")
        .with_resource_type(resource_type)
}

fn invalid(result: Result<Taxonomy, TaxonomyError>) -> Vec<TaxonomyProblem> {
    match result {
        Err(TaxonomyError::Invalid { problems }) => problems,
        other => panic!("expected an invalid taxonomy, got {other:?}"),
    }
}

#[test]
fn broken_json_is_reported_with_line_and_column() {
    let broken = MINIMAL.replacen("\"max_quantity\": 100,", "\"max_quantity\": 100", 1);
    match Taxonomy::from_json(&broken) {
        Err(TaxonomyError::Json {
            line,
            column,
            message,
        }) => {
            // The missing comma is noticed at the next field, `"attributes"` on line 11.
            assert_eq!((line, column), (11, 6), "{message}");
            assert!(!message.contains("at line"), "{message}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn wrong_shapes_are_reported_with_line_and_column() {
    let cases = [
        (MINIMAL.replace("\"min\": 10", "\"minimum\": 10"), "minimum"),
        (MINIMAL.replace("\"integer\"", "\"integr\""), "integr"),
        (
            MINIMAL.replace(
                "\"transportation\", \"subcategory\"",
                "\"transport\", \"subcategory\"",
            ),
            "transport",
        ),
        (MINIMAL.replace("\"units\"", "\"unit_list\""), "unit_list"),
    ];
    for (json, word) in cases {
        match Taxonomy::from_json(&json) {
            Err(error @ TaxonomyError::Json { .. }) => {
                assert!(error.to_string().contains(word), "{error}");
            }
            other => panic!("{word}: expected a JSON error, got {other:?}"),
        }
    }
}

#[test]
fn a_duplicate_code_is_named() {
    let taxonomy = Taxonomy::from_json(MINIMAL).expect("valid");
    let types = vec![minimal_type(), minimal_type()];
    let problems = invalid(Taxonomy::new(
        taxonomy.units().to_vec(),
        taxonomy.subcategories().to_vec(),
        types,
    ));
    assert_eq!(
        problems,
        [TaxonomyProblem::DuplicateResourceType {
            code: "TRN.ROAD.BUS".to_owned()
        }]
    );

    let json = MINIMAL.replace("\"code\": \"ECO.IND\"", "\"code\": \"TRN.ROAD\"");
    let error = Taxonomy::from_json(&json).expect_err("duplicate subcategory");
    assert!(
        error
            .to_string()
            .contains("subcategory \"TRN.ROAD\" is defined more than once"),
        "{error}"
    );
}

#[test]
fn each_broken_rule_is_named_with_the_offending_code() {
    let with = |change: fn(&mut ResourceType)| {
        let mut resource_type = minimal_type();
        change(&mut resource_type);
        invalid(minimal_with(resource_type))
    };
    let bus = || "TRN.ROAD.BUS".to_owned();
    let seats = || "seats".to_owned();
    let cases: Vec<(&str, Vec<TaxonomyProblem>, Vec<TaxonomyProblem>)> = vec![
        (
            "unknown subcategory",
            with(|t| t.subcategory = "TRN.RAIL".to_owned()),
            vec![TaxonomyProblem::UnknownSubcategory {
                type_code: bus(),
                subcategory: "TRN.RAIL".to_owned(),
            }],
        ),
        (
            "subcategory of another category",
            with(|t| t.subcategory = "ECO.IND".to_owned()),
            vec![TaxonomyProblem::CategoryMismatch {
                type_code: bus(),
                category: Category::Transportation,
                subcategory: "ECO.IND".to_owned(),
                subcategory_category: Category::NationalEconomy,
            }],
        ),
        (
            "unknown unit",
            with(|t| t.unit = "bus".to_owned()),
            vec![TaxonomyProblem::UnknownUnit {
                type_code: bus(),
                unit: "bus".to_owned(),
            }],
        ),
        (
            "bad code",
            with(|t| t.code = "trn road bus".to_owned()),
            vec![TaxonomyProblem::BadResourceTypeCode {
                code: "trn road bus".to_owned(),
            }],
        ),
        (
            "zero max_quantity",
            with(|t| t.max_quantity = 0.0),
            vec![TaxonomyProblem::BadMaxQuantity {
                type_code: bus(),
                max_quantity: 0.0,
            }],
        ),
        (
            "missing Chinese name",
            with(|t| t.name_zh = " ".to_owned()),
            vec![TaxonomyProblem::MissingName {
                item: "resource type TRN.ROAD.BUS".to_owned(),
                field: "name_zh",
            }],
        ),
        (
            "duplicate attribute",
            with(|t| t.attributes.push(t.attributes[0].clone())),
            vec![TaxonomyProblem::DuplicateAttribute {
                type_code: bus(),
                key: seats(),
            }],
        ),
        (
            "bad attribute key",
            with(|t| t.attributes[0].key = "Seats".to_owned()),
            vec![TaxonomyProblem::BadAttributeKey {
                type_code: bus(),
                key: "Seats".to_owned(),
            }],
        ),
        (
            "integer min above max",
            with(|t| t.attributes[0].kind = AttributeKind::Integer { min: 70, max: 10 }),
            vec![TaxonomyProblem::BadRange {
                type_code: bus(),
                key: seats(),
                min: "70".to_owned(),
                max: "10".to_owned(),
            }],
        ),
        (
            "decimal bound not finite",
            with(|t| {
                t.attributes[0].kind = AttributeKind::Decimal {
                    min: 0.0,
                    max: f64::INFINITY,
                }
            }),
            vec![TaxonomyProblem::BadRange {
                type_code: bus(),
                key: seats(),
                min: "0".to_owned(),
                max: "inf".to_owned(),
            }],
        ),
        (
            "empty text",
            with(|t| t.attributes[0].kind = AttributeKind::Text { max_len: 0 }),
            vec![TaxonomyProblem::BadTextLength {
                type_code: bus(),
                key: seats(),
            }],
        ),
        (
            "empty choice",
            with(|t| t.attributes[0].kind = AttributeKind::Choice { options: vec![] }),
            vec![TaxonomyProblem::EmptyChoice {
                type_code: bus(),
                key: seats(),
            }],
        ),
        (
            "ambiguous choice",
            with(|t| {
                let mut second = option("b");
                second.name_en = "A".to_owned();
                t.attributes[0].kind = AttributeKind::Choice {
                    options: vec![option("a"), second],
                }
            }),
            vec![TaxonomyProblem::AmbiguousChoice {
                type_code: bus(),
                key: seats(),
                label: "a".to_owned(),
            }],
        ),
        (
            "bad option code",
            with(|t| {
                t.attributes[0].kind = AttributeKind::Choice {
                    options: vec![option("Big One")],
                }
            }),
            vec![TaxonomyProblem::BadOptionCode {
                type_code: bus(),
                key: seats(),
                option: "Big One".to_owned(),
            }],
        ),
    ];
    for (rule, found, expected) in cases {
        assert_eq!(found, expected, "{rule}");
    }
}

#[test]
fn all_problems_are_listed_in_one_error() {
    let mut resource_type = minimal_type();
    resource_type.unit = "bus".to_owned();
    resource_type.subcategory = "TRN.RAIL".to_owned();
    let error = minimal_with(resource_type).expect_err("two problems");
    assert_eq!(
        error.to_string(),
        "the taxonomy has 2 problem(s): TRN.ROAD.BUS: unknown unit \"bus\"; \
         TRN.ROAD.BUS: unknown subcategory \"TRN.RAIL\""
    );
}

#[test]
fn with_resource_type_replaces_by_code_or_adds() {
    let taxonomy = Taxonomy::from_json(MINIMAL).expect("valid");
    let mut wider = minimal_type();
    wider.max_quantity = 500.0;
    let replaced = taxonomy.with_resource_type(wider).expect("valid edit");
    assert_eq!(replaced.resource_types().len(), 1);
    assert_eq!(
        replaced
            .resource_type("TRN.ROAD.BUS")
            .map(|t| t.max_quantity),
        Some(500.0)
    );
    let added = taxonomy
        .with_resource_type(ResourceType {
            code: "TRN.ROAD.VAN".to_owned(),
            ..minimal_type()
        })
        .expect("valid addition");
    assert_eq!(added.resource_types().len(), 2);
    assert!(added.resource_type("TRN.ROAD.VAN").is_some());
}

#[test]
fn a_refused_taxonomy_edit_is_said_in_chinese_problem_by_problem() {
    let taxonomy = default();
    let mut broken = heavy_truck();
    broken.name_zh = " ".to_owned();
    broken.unit = "no_such_unit".to_owned();
    broken.max_quantity = 0.0;
    let error = taxonomy
        .with_resource_type(broken)
        .expect_err("three problems");
    let TaxonomyError::Invalid { problems } = &error else {
        panic!("expected broken rules, got {error:?}");
    };
    let zh = error.zh();
    assert!(
        zh.starts_with(&format!("分类有 {} 个问题：", problems.len())),
        "{zh}"
    );
    assert_eq!(
        zh.matches('；').count() + 1,
        problems.len(),
        "one Chinese problem for each: {zh}"
    );
    assert!(
        zh.contains("资源类型 TRN.ROAD.TRUCK_HEAVY：中文名称为空"),
        "{zh}"
    );
    assert!(zh.contains("没有计量单位“no_such_unit”"), "{zh}");
    assert!(zh.contains("最大数量须为大于零的有限数"), "{zh}");
    // The English stays as it was.
    assert!(error.to_string().contains("unknown unit \"no_such_unit\""));
}

#[test]
fn every_taxonomy_problem_is_said_in_chinese() {
    let t = || "T.X".to_owned();
    let k = || "key".to_owned();
    let problems = [
        TaxonomyProblem::BadUnitCode { code: "Kg".into() },
        TaxonomyProblem::BadSubcategoryCode { code: "x".into() },
        TaxonomyProblem::BadResourceTypeCode { code: "x".into() },
        TaxonomyProblem::BadAttributeKey {
            type_code: t(),
            key: "Key".into(),
        },
        TaxonomyProblem::BadOptionCode {
            type_code: t(),
            key: k(),
            option: "A".into(),
        },
        TaxonomyProblem::MissingName {
            item: "unit kg".into(),
            field: "name_en",
        },
        TaxonomyProblem::DuplicateUnit { code: "kg".into() },
        TaxonomyProblem::DuplicateSubcategory { code: "S".into() },
        TaxonomyProblem::DuplicateResourceType { code: t() },
        TaxonomyProblem::DuplicateAttribute {
            type_code: t(),
            key: k(),
        },
        TaxonomyProblem::UnknownUnit {
            type_code: t(),
            unit: "kg".into(),
        },
        TaxonomyProblem::UnknownSubcategory {
            type_code: t(),
            subcategory: "S".into(),
        },
        TaxonomyProblem::CategoryMismatch {
            type_code: t(),
            category: Category::Political,
            subcategory: "S".into(),
            subcategory_category: Category::Transportation,
        },
        TaxonomyProblem::BadMaxQuantity {
            type_code: t(),
            max_quantity: -1.0,
        },
        TaxonomyProblem::BadRange {
            type_code: t(),
            key: k(),
            min: "5".into(),
            max: "1".into(),
        },
        TaxonomyProblem::BadTextLength {
            type_code: t(),
            key: k(),
        },
        TaxonomyProblem::EmptyChoice {
            type_code: t(),
            key: k(),
        },
        TaxonomyProblem::AmbiguousChoice {
            type_code: t(),
            key: k(),
            label: "重".into(),
        },
    ];
    let mut said = std::collections::BTreeSet::new();
    for problem in &problems {
        let zh = problem.zh();
        assert!(has_cjk(&zh), "{problem:?}: {zh}");
        assert!(!zh.contains('；'), "{zh}");
        assert!(said.insert(zh.clone()), "said twice: {zh}");
    }
    assert_eq!(problems[5].zh(), "计量单位 kg：英文名称为空");
    assert!(problems[12].zh().contains("政治") && problems[12].zh().contains("交通运输"));
}
