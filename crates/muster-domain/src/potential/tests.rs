use std::collections::{HashMap, HashSet};

use super::import::{
    ImportRules, MAX_LISTED_PROBLEMS, RecordImporter, RegionInfo, great_circle_km, import_workbook,
    read_records,
};
use super::rollup::{RecordFigures, RollupDeltas, enclosing_paths};
use super::*;
use crate::region::RegionLevel;
use crate::sheet::{Sheet, SheetRow, Workbook};
use crate::taxonomy::Taxonomy;

fn path(text: &str) -> RegionPath {
    RegionPath::parse(text).expect("a valid path")
}

#[test]
fn a_holding_key_ignores_case_width_and_spacing_but_not_the_site() {
    let region = path("/34/3401/");
    let a = Holder::Organization {
        id: None,
        name: "ＡＢＣ  Logistics".into(),
    };
    let b = Holder::Organization {
        id: Some(7),
        name: " abc logistics ".into(),
    };
    let key_a = holding_key(&region, "TRN.ROAD.TRUCK_HEAVY", &a, Some("North Yard"));
    let key_b = holding_key(&region, "TRN.ROAD.TRUCK_HEAVY", &b, Some("north   yard"));
    assert_eq!(key_a, key_b);
    assert!(key_a.starts_with("/34/3401/|"));
    assert_ne!(
        key_a,
        holding_key(&region, "TRN.ROAD.TRUCK_HEAVY", &b, Some("South Yard"))
    );
    assert_ne!(
        key_a,
        holding_key(&region, "TRN.ROAD.TRUCK_LIGHT", &b, Some("North Yard"))
    );
}

#[test]
fn a_holding_key_is_spelled_as_stored_keys_are() {
    // Stored records are found by these exact texts: how a key is built may change, its
    // spelling may not.
    let region = path("/34/3401/");
    let company = Holder::Organization {
        id: None,
        name: " ＡＢＣ  Logistics|Co ".into(),
    };
    assert_eq!(
        holding_key(
            &region,
            "TRN.ROAD.TRUCK_HEAVY",
            &company,
            Some(" North\u{3000} Yard ")
        ),
        "/34/3401/|TRN.ROAD.TRUCK_HEAVY|o:abc logistics/co|north yard"
    );
    let numbered = Holder::Person {
        name: "Wang Wei".into(),
        id_number: Some(" 34010219900101123X ".into()),
        phone: None,
    };
    assert_eq!(
        holding_key(&region, "MED.BED", &numbered, None),
        "/34/3401/|MED.BED|p:34010219900101123x|"
    );
    let named = Holder::Person {
        name: "王  伟".into(),
        id_number: Some("  ".into()),
        phone: None,
    };
    assert_eq!(
        holding_key(&region, "MED.BED", &named, Some("   ")),
        "/34/3401/|MED.BED|p:王 伟|"
    );
}

#[test]
fn one_holding_at_two_levels_of_one_line_is_the_same_holding() {
    let company = Holder::Organization {
        id: None,
        name: "ABC Logistics".into(),
    };
    let key = |region: &str, site: Option<&str>| {
        holding_key(&path(region), "TRN.ROAD.TRUCK_HEAVY", &company, site)
    };
    let village = key("/34/3401/340104/340104001/340104001001/", Some("Depot 3"));
    let township = key("/34/3401/340104/340104001/", Some("depot  3"));
    let sibling = key("/34/3401/340104/340104001/340104001002/", Some("Depot 3"));
    let elsewhere = key("/34/3402/", Some("Depot 3"));
    assert!(same_holding(&village, &township));
    assert!(same_holding(&township, &village));
    assert!(same_holding(&village, &village));
    assert!(
        !same_holding(&village, &sibling),
        "namesakes in two villages"
    );
    assert!(!same_holding(&township, &elsewhere));
    assert!(!same_holding(
        &village,
        &key("/34/3401/340104/340104001/", None)
    ));

    assert_eq!(
        holding_keys_above(&village),
        [
            key("/34/", Some("Depot 3")),
            key("/34/3401/", Some("Depot 3")),
            key("/34/3401/340104/", Some("Depot 3")),
            township.clone(),
        ]
    );
    assert!(holding_keys_above(&key("/34/", None)).is_empty());

    let repeats = repeated_across_levels([
        (2, village.as_str()),
        (4, township.as_str()),
        (3, sibling.as_str()),
        (5, elsewhere.as_str()),
        (6, village.as_str()),
    ]);
    // The sibling village clashes only with the township's row, itself a repeat.
    assert_eq!(repeats, [(4, 2), (3, 4), (6, 2)]);
    // Two levels apart: a village against its county.
    assert!(same_holding(
        &village,
        &key("/34/3401/340104/", Some("Depot 3"))
    ));

    // A person known by name alone is one holding at one region only; by identity number,
    // at any level.
    let person = |name: &str, id_number: Option<&str>| Holder::Person {
        name: name.into(),
        id_number: id_number.map(Into::into),
        phone: None,
    };
    let of =
        |region: &str, holder: &Holder| holding_key(&path(region), "ECO.MED.SURGEON", holder, None);
    let county = "/34/3401/340104/";
    let village_path = "/34/3401/340104/340104001/340104001001/";
    let zhang = person("张伟", None);
    assert!(!same_holding(
        &of(county, &zhang),
        &of(village_path, &zhang)
    ));
    assert!(same_holding(&of(county, &zhang), &of(county, &zhang)));
    assert!(holding_keys_above(&of(village_path, &zhang)).is_empty());
    assert!(
        repeated_across_levels([
            (2, of(county, &zhang).as_str()),
            (3, of(village_path, &zhang).as_str())
        ])
        .is_empty()
    );
    for number in ["34010419900101123X", "340104900101123"] {
        let known = person("张伟", Some(number));
        assert!(
            same_holding(&of(county, &known), &of(village_path, &known)),
            "{number}"
        );
        assert_eq!(holding_keys_above(&of(village_path, &known)).len(), 4);
    }
    let passport = person("张伟", Some("E12345678"));
    assert!(!same_holding(
        &of(county, &passport),
        &of(village_path, &passport)
    ));
}

#[test]
fn a_person_is_known_by_identity_number_when_given() {
    let region = path("/34/");
    let one = Holder::Person {
        name: "张三".into(),
        id_number: Some("340104199001011234".into()),
        phone: None,
    };
    let same_number = Holder::Person {
        name: "张 三".into(),
        id_number: Some("340104199001011234".into()),
        phone: Some("13800000000".into()),
    };
    let namesake = Holder::Person {
        name: "张三".into(),
        id_number: Some("340104199202021111".into()),
        phone: None,
    };
    let k = |h: &Holder| holding_key(&region, "T", h, None);
    assert_eq!(k(&one), k(&same_number));
    assert_ne!(k(&one), k(&namesake));
}

#[test]
fn masking_hides_personal_data_and_leaves_organizations_alone() {
    let person = Holder::Person {
        name: "张三丰".into(),
        id_number: Some("340104199001011234".into()),
        phone: Some("13812345678".into()),
    };
    let Holder::Person {
        name,
        id_number,
        phone,
    } = person.masked()
    else {
        panic!("still a person");
    };
    assert_eq!(name, "张**");
    assert_eq!(id_number.as_deref(), Some("3401**********1234"));
    assert_eq!(phone.as_deref(), Some("138****5678"));
    let org = Holder::Organization {
        id: Some(1),
        name: "Hefei Transport Co.".into(),
    };
    assert_eq!(org.masked(), org);
    // Short values are still masked, never shown whole.
    let short = Holder::Person {
        name: "李".into(),
        id_number: Some("12".into()),
        phone: None,
    }
    .masked();
    assert_eq!(
        short,
        Holder::Person {
            name: "李*".into(),
            id_number: Some("1*".into()),
            phone: None
        }
    );
}

#[test]
fn enclosing_paths_run_from_the_root_to_the_region() {
    let paths: Vec<String> = enclosing_paths(&path("/34/3401/340104/"))
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    assert_eq!(paths, vec!["/", "/34/", "/34/3401/", "/34/3401/340104/"]);
}

#[test]
fn roll_up_deltas_reach_every_enclosing_subtree_and_cancel_out() {
    let county = path("/34/3401/340104/");
    let other_county = path("/34/3402/340202/");
    let truck = |p, q, verified| RecordFigures {
        region_path: p,
        type_code: "TRUCK",
        quantity: q,
        available: true,
        verified,
    };
    let mut deltas = RollupDeltas::new();
    deltas.insert(&truck(&county, 10.0, false));
    deltas.insert(&truck(&other_county, 5.0, true));
    let changes = deltas.into_changes();
    let at = |changes: &[(String, String, rollup::Totals)], p: &str| {
        changes
            .iter()
            .find(|(path, t, _)| path == p && t == "TRUCK")
            .map(|(_, _, totals)| *totals)
    };
    let root = at(&changes, "/").expect("root row");
    assert_eq!(root.record_count, 2);
    assert_eq!(root.quantity, 15.0);
    assert_eq!(root.verified_quantity, 5.0);
    assert_eq!(at(&changes, "/34/").expect("province").quantity, 15.0);
    assert_eq!(at(&changes, "/34/3401/").expect("city").quantity, 10.0);
    assert_eq!(
        at(&changes, "/34/3402/340202/")
            .expect("county")
            .verified_count,
        1
    );
    assert_eq!(changes.len(), 6);

    // Moving a record between counties changes only the paths that differ.
    let mut moved = RollupDeltas::new();
    moved.update(
        &truck(&county, 10.0, false),
        &truck(&other_county, 12.0, true),
    );
    let changes = moved.into_changes();
    assert!(at(&changes, "/34/3401/").is_some_and(|t| t.quantity == -10.0 && t.record_count == -1));
    assert!(at(&changes, "/34/3402/").is_some_and(|t| t.quantity == 12.0 && t.verified_count == 1));
    let province = at(&changes, "/34/").expect("province changes by the difference");
    assert_eq!(province.record_count, 0);
    assert_eq!(province.quantity, 2.0);

    // Removing what was inserted leaves nothing to apply.
    let mut nothing = RollupDeltas::new();
    nothing.insert(&truck(&county, 3.0, true));
    nothing.remove(&truck(&county, 3.0, true));
    assert!(nothing.into_changes().is_empty());
}

#[test]
fn great_circle_distance_is_right_on_known_cities() {
    // Hefei to Beijing is about 900 km along the great circle.
    let distance = great_circle_km((31.82, 117.23), (39.90, 116.40));
    assert!((880.0..920.0).contains(&distance), "{distance}");
    assert_eq!(great_circle_km((31.0, 117.0), (31.0, 117.0)), 0.0);
}

fn regions() -> HashMap<String, RegionInfo> {
    HashMap::from([
        (
            "340104".to_owned(),
            RegionInfo {
                path: path("/34/3401/340104/"),
                level: RegionLevel::County,
                coordinates: Some((31.86, 117.28)),
            },
        ),
        (
            "340202".to_owned(),
            RegionInfo {
                path: path("/34/3402/340202/"),
                level: RegionLevel::County,
                coordinates: None,
            },
        ),
    ])
}

fn workbook(rows: &[&[&str]]) -> Workbook {
    Workbook {
        sheets: vec![
            Sheet {
                name: "说明".into(),
                hidden: false,
                rows: vec![SheetRow {
                    number: 1,
                    cells: vec!["Fill in the second sheet".into()],
                }],
                cell_errors: Vec::new(),
                unlisted_cell_errors: 0,
            },
            Sheet {
                name: "Report".into(),
                hidden: false,
                rows: rows
                    .iter()
                    .enumerate()
                    .map(|(i, cells)| SheetRow {
                        number: i as u32 + 2,
                        cells: cells.iter().map(|c| (*c).to_owned()).collect(),
                    })
                    .collect(),
                cell_errors: Vec::new(),
                unlisted_cell_errors: 0,
            },
        ],
    }
}

const HEADER: &[&str] = &[
    "资源类型代码 (type_code)",
    "数量 (quantity)",
    "unit",
    "holder_name",
    "region_code",
    "lat",
    "lon",
    "载重(吨) (payload_t)",
    "fuel",
    "beds",
];

#[test]
fn a_good_sheet_gives_one_record_per_row_with_parsed_attributes() {
    let rules = any_type_rules();
    let book = workbook(&[
        HEADER,
        &[
            "TRN.ROAD.TRUCK_HEAVY",
            "12",
            "辆",
            "Hefei Transport",
            "340104",
            "31.9",
            "117.3",
            "18",
            "柴油",
        ],
        &["CAD.MAT.TENT_12", "400", "", "Red Cross depot", "340202"],
        &[
            "ECO.MED.HOSPITAL",
            "1",
            "site",
            "First Hospital",
            "340104",
            "",
            "",
            "",
            "",
            "800",
        ],
    ]);
    // The hospital lacks its required grade: the whole file is refused.
    let problems = import_workbook(&book, rules)
        .expect("the header reads")
        .finish(&regions(), &path("/34/"))
        .expect_err("a row without a required attribute is refused");
    assert_eq!(problems.0.len(), 1, "{problems}");
    let problem = &problems.0[0];
    assert_eq!(problem.sheet, "Report");
    assert_eq!(problem.row, Some(5));
    assert!(problem.message.contains("grade"), "{problem}");

    let fixed = workbook(&[
        HEADER,
        &[
            "TRN.ROAD.TRUCK_HEAVY",
            "12",
            "辆",
            "Hefei Transport",
            "340104",
            "31.9",
            "117.3",
            "18",
            "柴油",
        ],
        &["CAD.MAT.TENT_12", "400", "", "Red Cross depot", "340202"],
    ]);
    let importer = import_workbook(&fixed, rules).expect("the sheet reads");
    assert_eq!(
        importer.region_codes().into_iter().collect::<Vec<_>>(),
        vec!["340104", "340202"]
    );
    let drafts = importer
        .finish(&regions(), &path("/34/"))
        .expect("every row is good");
    assert_eq!(drafts.len(), 2);
    let (row, truck) = &drafts[0];
    assert_eq!(*row, 3);
    assert_eq!(truck.quantity, 12.0);
    assert_eq!(truck.region_path, path("/34/3401/340104/"));
    assert_eq!(truck.coordinates, Some((31.9, 117.3)));
    assert_eq!(
        truck.attributes.get("fuel"),
        Some(&crate::taxonomy::AttributeValue::Choice("diesel".into()))
    );
    assert!(
        truck
            .holding_key
            .starts_with("/34/3401/340104/|TRN.ROAD.TRUCK_HEAVY|")
    );
    assert_eq!(truck.status, RecordStatus::Available);
}

#[test]
fn every_problem_is_named_by_row_and_column_and_nothing_is_returned() {
    let taxonomy = Taxonomy::default_taxonomy();
    let allowed: HashSet<String> = ["TRN.ROAD.TRUCK_HEAVY", "CAD.MAT.TENT_12"]
        .into_iter()
        .map(String::from)
        .collect();
    let rules = ImportRules {
        taxonomy: &taxonomy,
        allowed_types: Some(&allowed),
    };
    let book = workbook(&[
        HEADER,
        // 3: fine.
        &[
            "TRN.ROAD.TRUCK_HEAVY",
            "12",
            "",
            "Hefei Transport",
            "340104",
            "",
            "",
            "18",
            "diesel",
        ],
        // 4: unknown type.
        &["NOPE.TYPE", "1", "", "X", "340104"],
        // 5: type not in the round.
        &["ECO.MED.HOSPITAL", "1", "", "X", "340104"],
        // 6: negative quantity, wrong unit.
        &["CAD.MAT.TENT_12", "-3", "kg", "Depot", "340104"],
        // 7: fractional trucks, payload out of range, fuel unknown.
        &[
            "TRN.ROAD.TRUCK_HEAVY",
            "2.5",
            "",
            "Y",
            "340104",
            "",
            "",
            "99",
            "coal",
        ],
        // 8: a tent has no payload.
        &["CAD.MAT.TENT_12", "3", "", "Depot", "340104", "", "", "18"],
        // 9: unknown region; 10: outside the scope; 11: coordinates far away.
        &["CAD.MAT.TENT_12", "3", "", "Depot", "999999"],
        &["CAD.MAT.TENT_12", "3", "", "Depot B", "340202"],
        &[
            "CAD.MAT.TENT_12",
            "3",
            "",
            "Depot C",
            "340104",
            "39.9",
            "116.4",
        ],
        // 12: the same holding as row 3; 13: latitude out of range.
        &[
            "TRN.ROAD.TRUCK_HEAVY",
            "1",
            "",
            "HEFEI  transport",
            "340104",
            "",
            "",
            "12",
            "diesel",
        ],
        &["CAD.MAT.TENT_12", "3", "", "Depot D", "340104", "91", "117"],
        // 14: its own problem and an unknown region, both listed in the one pass; 15: its
        // own problem and a region outside the scope.
        &["CAD.MAT.TENT_12", "-1", "", "Depot E", "999998"],
        &["CAD.MAT.TENT_12", "-1", "", "Depot F", "340202"],
    ]);
    let importer = import_workbook(&book, rules).expect("the header reads");
    assert!(importer.has_problems());
    let problems = importer
        .finish(&regions(), &path("/34/3401/"))
        .expect_err("the file is refused whole");
    let at = |row: u32| -> Vec<(Option<String>, String)> {
        problems
            .0
            .iter()
            .filter(|p| p.row == Some(row))
            .map(|p| (p.column.clone(), p.message.clone()))
            .collect()
    };
    assert!(at(3).is_empty());
    assert!(at(4)[0].1.contains("unknown resource type NOPE.TYPE"));
    assert_eq!(at(4)[0].0.as_deref(), Some("A"));
    assert!(at(5)[0].1.contains("not asked for in this round"));
    let row6 = at(6);
    assert!(
        row6.iter()
            .any(|(c, m)| c.as_deref() == Some("C") && m.contains("tent"))
    );
    assert!(row6.iter().any(|(c, _)| c.as_deref() == Some("B")));
    let row7 = at(7);
    assert_eq!(row7.len(), 3, "{row7:?}");
    assert!(row7.iter().any(|(c, _)| c.as_deref() == Some("B")));
    assert!(
        row7.iter()
            .any(|(c, m)| c.as_deref() == Some("H") && m.contains("payload_t"))
    );
    assert!(
        row7.iter()
            .any(|(c, m)| c.as_deref() == Some("I") && m.contains("diesel"))
    );
    assert!(at(8)[0].1.contains("no attribute"));
    assert!(at(9)[0].1.contains("unknown region 999999"));
    assert!(at(10)[0].1.contains("outside the area"));
    assert!(at(11)[0].1.contains("km from region 340104"));
    assert!(at(12)[0].1.contains("already on row 3"));
    assert!(at(13)[0].1.contains("latitude"));
    let columns =
        |row: u32| -> Vec<Option<String>> { at(row).into_iter().map(|(c, _)| c).collect() };
    assert_eq!(columns(14), [Some("B".to_owned()), Some("E".to_owned())]);
    assert!(at(14)[1].1.contains("unknown region 999998"));
    assert_eq!(columns(15), [Some("B".to_owned()), Some("E".to_owned())]);
    assert!(at(15)[1].1.contains("outside the area"));
    let rows: Vec<Option<u32>> = problems.0.iter().map(|p| p.row).collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted, "problems come in row order");
    assert!(
        problems
            .to_string()
            .contains("sheet \"Report\", row 4, column A")
    );
    // Every problem also speaks Chinese, for the Chinese pages; the English stays for the API.
    for problem in &problems.0 {
        let zh = problem.message_in("zh-CN");
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "row {:?}: {zh}",
            problem.row
        );
        assert_eq!(problem.message_in("en"), problem.message);
    }
    let row12_zh = problems
        .0
        .iter()
        .find(|p| p.row == Some(12))
        .and_then(|p| p.message_zh.clone());
    assert_eq!(
        row12_zh.as_deref(),
        Some("同一持有者、类型和地点的潜力已在第 3 行填报，请只报一次")
    );
}

#[test]
fn a_sheet_without_the_required_columns_is_refused_naming_them() {
    let rules = any_type_rules();
    let problems = RecordImporter::new(rules, "S", 1, &["type_code", "quantity", "quantity"])
        .expect_err("refused");
    let text = problems.to_string();
    assert!(text.contains("appears twice"), "{text}");
    assert!(text.contains("holder_name"), "{text}");
    assert!(text.contains("region_code"), "{text}");
    let none = import_workbook(&workbook(&[&["a", "b"]]), rules).expect_err("no header");
    assert!(none.to_string().contains("no sheet has a header row"));
    let empty = import_workbook(&workbook(&[HEADER]), rules)
        .expect("header only")
        .finish(&regions(), &RegionPath::root())
        .expect_err("no rows");
    assert!(empty.to_string().contains("no data rows"));
}

#[test]
fn random_cells_never_panic_the_importer() {
    use rand::{Rng, SeedableRng};
    let rules = any_type_rules();
    let pool = [
        "",
        "-",
        "1e309",
        "NaN",
        "3",
        "0",
        "TRN.ROAD.TRUCK_HEAVY",
        "CAD.MAT.TENT_12",
        "340104",
        "个人",
        "person",
        "是",
        "（",
        "|",
        "91",
        "-180",
        "  ",
        "1,200",
        "１２",
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for _ in 0..300 {
        let mut rows: Vec<Vec<&str>> = vec![HEADER.to_vec()];
        for _ in 0..rng.random_range(0..8) {
            let len = rng.random_range(0..HEADER.len() + 2);
            rows.push(
                (0..len)
                    .map(|_| pool[rng.random_range(0..pool.len())])
                    .collect(),
            );
        }
        let slices: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
        if let Ok(importer) = import_workbook(&workbook(&slices), rules) {
            let _ = importer.finish(&regions(), &RegionPath::root());
        }
    }
}

#[test]
fn a_csv_streams_into_the_importer_with_its_own_line_numbers() {
    use super::import::read_records;
    let rules = any_type_rules();
    let text = "2026年度潜力调查\r\n\r\ntype_code,quantity,holder_name,region_code\r\nCAD.MAT.TENT_12,3,Depot,340104\r\n\r\nCAD.MAT.TENT_12,-1,Depot 2,340104\r\n";
    let problems = read_records(text.as_bytes(), "r.csv", rules)
        .expect("the header is found below the title")
        .finish(&regions(), &RegionPath::root())
        .expect_err("row 6 is refused");
    assert_eq!(problems.0.len(), 1, "{problems}");
    assert_eq!(problems.0[0].row, Some(6));
    assert_eq!(problems.0[0].column.as_deref(), Some("B"));
    let empty = read_records(b"", "e.csv", rules).expect_err("empty");
    assert!(empty.to_string().contains("empty"), "{empty}");
    let headless = read_records(b"a,b\n1,2\n", "h.csv", rules).expect_err("no header");
    assert!(headless.to_string().contains("no header row"), "{headless}");
}

/// Import rules over the default taxonomy with every type allowed.
fn any_type_rules() -> ImportRules<'static> {
    static TAXONOMY: std::sync::LazyLock<Taxonomy> =
        std::sync::LazyLock::new(Taxonomy::default_taxonomy);
    ImportRules {
        taxonomy: &TAXONOMY,
        allowed_types: None,
    }
}

/// A small valid upload, as CSV or as XLSX, for the damage below.
fn valid_upload(xlsx: bool) -> Vec<u8> {
    use crate::sheet::{Table, TableCell, write_csv, write_xlsx};
    let text = |t: &str| TableCell::Text(t.to_owned());
    let table = Table {
        title: "records".into(),
        headers: HEADER.iter().map(|h| (*h).to_owned()).collect(),
        rows: (0..6)
            .map(|i| {
                vec![
                    text("CAD.MAT.TENT_12"),
                    TableCell::Number(f64::from(i) + 1.0),
                    text(""),
                    text(&format!("Depot {i}")),
                    text("340104"),
                ]
            })
            .collect(),
    };
    if xlsx {
        write_xlsx(&[table]).expect("writes")
    } else {
        write_csv(&table)
    }
}

#[test]
fn the_undamaged_upload_reads_whole_in_both_formats() {
    use super::import::read_records;
    let rules = any_type_rules();
    for xlsx in [false, true] {
        let records = read_records(&valid_upload(xlsx), "upload", rules)
            .expect("reads")
            .finish(&regions(), &RegionPath::root())
            .expect("every row passes");
        assert_eq!(records.len(), 6, "xlsx: {xlsx}");
    }
}

/// Both formats hand their checked rows over in batches of the size asked, the last one
/// smaller, and stop when the receiver says so.
#[test]
fn both_formats_hand_rows_over_in_batches() {
    use super::import::read_records_in_batches;
    let rules = any_type_rules();
    for xlsx in [false, true] {
        let bytes = valid_upload(xlsx);
        let mut batches: Vec<usize> = Vec::new();
        let problems = read_records_in_batches(&bytes, "upload", rules, 4, |batch| {
            batches.push(batch.len());
            // Known before the rows are read, for sizing the placer.
            assert_eq!(batch.rows_expected(), 6, "xlsx: {xlsx}");
            true
        })
        .expect("reads");
        assert!(problems.is_empty(), "xlsx: {xlsx}: {problems:?}");
        assert_eq!(batches, [4, 2], "xlsx: {xlsx}");

        let mut taken = 0;
        read_records_in_batches(&bytes, "upload", rules, 2, |_| {
            taken += 1;
            false
        })
        .expect("reads");
        assert_eq!(
            taken, 1,
            "xlsx: {xlsx}: no batch after the receiver stopped"
        );
    }
}

/// A CSV's expected rows are only a size: blank lines count, but no more of them than the
/// file's bytes could hold rows, so a small file of line breaks does not size the placer
/// for a million holdings.
#[test]
fn a_csv_of_blank_lines_expects_no_more_rows_than_its_bytes_hold() {
    use super::import::read_records_in_batches;
    let rules = any_type_rules();
    let mut bytes = b"type_code,quantity,holder_name,region_code\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'\n', 100_000));
    let mut expected = Vec::new();
    // Refused or not (it holds no row), every batch handed over says what it expects.
    let _ = read_records_in_batches(&bytes, "blank.csv", rules, 1_000, |batch| {
        expected.push(batch.rows_expected());
        true
    });
    assert!(!expected.is_empty(), "the header was read");
    assert!(
        expected
            .iter()
            .all(|&rows| rows > 0 && rows <= bytes.len() / 8),
        "{expected:?} for {} bytes",
        bytes.len()
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
    /// An upload damaged in transit or by hand (bytes changed, cut short) is read into
    /// records or refused with problems: never a panic, whatever the bytes.
    #[test]
    fn a_damaged_upload_never_panics_the_reader(
        xlsx in proptest::bool::ANY,
        keep_percent in 0usize..=100,
        changes in proptest::collection::vec((0usize..1_000_000, proptest::prelude::any::<u8>()), 0..16),
    ) {
        use super::import::{read_records, read_records_in_batches};
        let taxonomy = Taxonomy::default_taxonomy();
        let rules = ImportRules { taxonomy: &taxonomy, allowed_types: None };
        let mut bytes = valid_upload(xlsx);
        // A changed byte may end a line, so each may add a row.
        let most_rows = 6 + changes.len();
        for (at, byte) in changes {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        bytes.truncate(bytes.len() * keep_percent / 100);
        if let Ok(importer) = read_records(&bytes, "upload", rules) {
            let _ = importer.finish(&regions(), &RegionPath::root());
        }
        let mut delivered = 0;
        let _ = read_records_in_batches(&bytes, "upload", rules, 2, |batch| {
            delivered += batch.len();
            true
        });
        proptest::prop_assert!(delivered <= most_rows, "{delivered} rows from at most {most_rows}");
    }
}

/// The pairwise definition [`repeated_across_levels`] must agree with: each row against
/// every earlier one.
fn repeated_pairwise(keys: &[(u32, String)]) -> Vec<(u32, u32)> {
    keys.iter()
        .enumerate()
        .filter_map(|(i, (row, key))| {
            keys[..i]
                .iter()
                .find(|(_, earlier)| same_holding(earlier, key))
                .map(|(first, _)| (*row, *first))
        })
        .collect()
}

/// A small tree (a province, two cities, their counties and villages) where one holding can
/// recur at many regions, so the register's lookups (from nine places) are exercised.
const TREE: [&str; 13] = [
    "/34/",
    "/34/3401/",
    "/34/3402/",
    "/34/3401/340104/",
    "/34/3401/340105/",
    "/34/3402/340201/",
    "/34/3401/340104/340104001/",
    "/34/3401/340104/340104002/",
    "/34/3401/340105/340105001/",
    "/34/3402/340201/340201001/",
    "/34/3401/340104/340104001/340104001001/",
    "/34/3401/340104/340104001/340104001002/",
    "/34/3402/340201/340201001/340201001001/",
];

proptest::proptest! {
    #[test]
    fn the_register_finds_what_pairwise_comparison_finds(
        picks in proptest::collection::vec((0..TREE.len(), 0..4usize), 0..80)
    ) {
        let holders = [
            Holder::Organization { id: None, name: "ABC Logistics".into() },
            Holder::Organization { id: None, name: "Red Cross".into() },
            Holder::Person { name: "张伟".into(), id_number: None, phone: None },
            Holder::Person {
                name: "张伟".into(),
                id_number: Some("34010419900101123X".into()),
                phone: None,
            },
        ];
        let keys: Vec<(u32, String)> = picks
            .iter()
            .enumerate()
            .map(|(i, &(region, holder))| {
                let row = u32::try_from(i).expect("few rows") + 2;
                (row, holding_key(&path(TREE[region]), "CAD.MAT.TENT_12", &holders[holder], None))
            })
            .collect();
        let fast = repeated_across_levels(keys.iter().map(|(row, key)| (*row, key.as_str())));
        proptest::prop_assert_eq!(fast, repeated_pairwise(&keys));
    }
}

#[test]
fn a_holding_at_many_regions_is_still_matched_above_and_below() {
    let company = Holder::Organization {
        id: None,
        name: "ABC Logistics".into(),
    };
    let key = |region: &str| holding_key(&path(region), "TRN.ROAD.TRUCK_HEAVY", &company, None);
    let mut register = HoldingRegister::default();
    // Ten villages of ten townships: past the few places compared one by one.
    for i in 0..10u32 {
        let village = format!("/34/3401/340104/3401040{i:02}/3401040{i:02}001/");
        assert_eq!(register.register(i + 2, &key(&village)), Ok(()));
    }
    let township = register.register(20, &key("/34/3401/340104/340104003/"));
    assert_eq!(
        township,
        Err(Repeat {
            first_row: 5,
            at_same_region: false
        }),
        "the first row below it"
    );
    let county = register.register(21, &key("/34/3401/340104/"));
    assert_eq!(county.map_err(|r| r.first_row), Err(2));
    let again = register.register(22, &key("/34/3401/340104/340104009/340104009001/"));
    assert_eq!(
        again,
        Err(Repeat {
            first_row: 11,
            at_same_region: true
        })
    );
    assert_eq!(
        register.register(23, &key("/34/3402/")),
        Ok(()),
        "another city"
    );
    assert_eq!(
        register.len(),
        13,
        "a repeat at the same region adds nothing"
    );
    assert_eq!(register.keys().count(), 13);
}

#[test]
fn excel_errors_refuse_the_sheet_imported_and_no_other() {
    let rules = any_type_rules();
    let rows: &[&[&str]] = &[
        HEADER,
        &["CAD.MAT.TENT_12", "400", "", "Red Cross depot", "340202"],
    ];
    let error_at = |sheet: &str, row: u32, column: usize| crate::sheet::CellErrorAt {
        sheet: sheet.into(),
        row,
        column,
        error: "#N/A".into(),
    };
    // A hidden list sheet whose lookups show #N/A is not read: the report imports.
    let mut book = workbook(rows);
    book.sheets.push(Sheet {
        name: "lists".into(),
        hidden: true,
        rows: vec![SheetRow {
            number: 1,
            cells: vec!["下拉".into()],
        }],
        cell_errors: vec![error_at("lists", 2, 1)],
        unlisted_cell_errors: 0,
    });
    let importer = import_workbook(&book, rules).expect("the report reads");
    assert_eq!(
        importer
            .finish(&regions(), &path("/34/"))
            .expect("its rows are good")
            .len(),
        1
    );
    // In the report itself, every such cell is a problem at its place.
    let mut book = workbook(rows);
    book.sheets[1].cell_errors = vec![error_at("Report", 3, 1), error_at("Report", 3, 7)];
    let problems = import_workbook(&book, rules).expect_err("refused");
    let places: Vec<(Option<u32>, Option<&str>)> = problems
        .0
        .iter()
        .map(|p| (p.row, p.column.as_deref()))
        .collect();
    assert_eq!(places, vec![(Some(3), Some("B")), (Some(3), Some("H"))]);
    assert!(problems.0[0].message.contains("#N/A"), "{problems}");
    // Beyond the cells listed, one line counts the rest.
    book.sheets[1].unlisted_cell_errors = 7;
    let problems = import_workbook(&book, rules).expect_err("refused");
    assert_eq!(problems.0.len(), 3, "{problems}");
    assert_eq!(problems.0[2].row, None);
    assert!(
        problems.0[2].message.starts_with("7 more problems"),
        "{problems}"
    );
}

#[test]
fn a_required_attribute_left_blank_is_named_at_its_column() {
    let rules = any_type_rules();
    let mut header = HEADER.to_vec();
    header.push("等级 (grade)");
    let book = workbook(&[
        &header,
        &[
            "ECO.MED.HOSPITAL",
            "1",
            "site",
            "First Hospital",
            "340104",
            "",
            "",
            "",
            "",
            "800",
            "",
        ],
    ]);
    let problems = import_workbook(&book, rules)
        .expect("the header reads")
        .finish(&regions(), &path("/34/"))
        .expect_err("refused");
    assert_eq!(problems.0.len(), 1, "{problems}");
    let problem = &problems.0[0];
    assert!(problem.message.contains("grade"), "{problem}");
    assert_eq!(
        (problem.column.as_deref(), problem.field.as_deref()),
        (Some("K"), Some("等级 (grade)"))
    );
}

#[test]
fn an_identity_number_excel_has_mangled_is_refused_at_its_cell() {
    let rules = any_type_rules();
    let header: &[&str] = &[
        "type_code",
        "quantity",
        "holder_name",
        "holder_id_number",
        "region_code",
    ];
    let row = |id: &'static str| -> [&'static str; 5] {
        ["CAD.MAT.TENT_12", "1", "王建国", id, "340104"]
    };
    let good = [
        row("340104199001011234"),
        row("34010419900101123x"),
        row("340104900101123"),
    ];
    let book = workbook(&[header, &good[0], &good[1], &good[2]]);
    let drafts = import_workbook(&book, rules)
        .expect("the header reads")
        .finish(&regions(), &path("/34/"))
        .expect("every number reads");
    let numbers: Vec<Option<&str>> = drafts
        .iter()
        .map(|(_, d)| match &d.holder {
            Holder::Person { id_number, .. } => id_number.as_deref(),
            Holder::Organization { .. } => None,
        })
        .collect();
    assert_eq!(
        numbers,
        [
            Some("340104199001011234"),
            Some("34010419900101123x"),
            Some("340104900101123")
        ]
    );
    let bad = [
        row("3.40104E+17"),
        row("340104199001010000.0"),
        row("34010419900101123"),
        row("3401041990010112３4"),
    ];
    let book = workbook(&[header, &bad[0], &bad[1], &bad[2], &bad[3]]);
    let problems = import_workbook(&book, rules)
        .expect("the header reads")
        .finish(&regions(), &path("/34/"))
        .expect_err("refused");
    let places: Vec<(Option<u32>, Option<&str>)> = problems
        .0
        .iter()
        .map(|p| (p.row, p.column.as_deref()))
        .collect();
    assert_eq!(
        places,
        [
            (Some(3), Some("D")),
            (Some(4), Some("D")),
            (Some(5), Some("D")),
            (Some(6), Some("D"))
        ]
    );
    assert!(problems.0[0].message.contains("3.40104E+17"), "{problems}");
    assert!(
        problems.0[0].message_in("zh-CN").contains("身份证号码"),
        "{problems}"
    );
}

#[test]
fn a_file_of_countless_bad_rows_lists_the_first_thousand_and_counts_the_rest() {
    let rules = any_type_rules();
    // A header of ten thousand characters before the bracket still names its column; a
    // problem repeats it shortened.
    let long_header = format!("{}(quantity)", "数".repeat(10_000));
    let mut text = format!("type_code,{long_header},holder_name,region_code\n");
    for _ in 0..5_000 {
        text.push_str("CAD.MAT.TENT_12,lots,Depot,340104\n");
    }
    let problems = read_records(text.as_bytes(), "many.csv", rules)
        .expect("the header reads")
        .finish(&regions(), &path("/34/"))
        .expect_err("refused");
    assert_eq!(
        problems.0.len(),
        MAX_LISTED_PROBLEMS + 1,
        "and one to say so"
    );
    let summary = problems
        .0
        .iter()
        .find(|p| p.row.is_none())
        .expect("a line for the rest");
    assert!(summary.message.contains("4000 more"), "{summary}");
    assert!(
        summary.message_in("zh-CN").contains("另有 4000 个"),
        "{summary}"
    );
    let field = problems.0[1].field.as_deref().expect("its header");
    assert!(field.chars().count() <= 101, "{}", field.chars().count());
}

#[test]
fn grades_and_holder_kinds_read_as_codes_in_any_case_or_in_chinese() {
    for (text, grade) in [
        ("good", Some(QualityGrade::Good)),
        ("  EXCELLENT ", Some(QualityGrade::Excellent)),
        ("Fair", Some(QualityGrade::Fair)),
        ("差", Some(QualityGrade::Poor)),
        ("良好", Some(QualityGrade::Good)),
        ("goods", None),
        ("", None),
    ] {
        assert_eq!(QualityGrade::parse_label(text), grade, "{text:?}");
    }
    for (text, kind) in [
        ("Person", Some(HolderKind::Person)),
        ("ORGANIZATION", Some(HolderKind::Organization)),
        ("企业", Some(HolderKind::Organization)),
        ("个人", Some(HolderKind::Person)),
        ("people", None),
    ] {
        assert_eq!(HolderKind::parse_label(text), kind, "{text:?}");
    }
}

#[test]
fn roll_up_changes_come_sorted_by_path_then_type() {
    let mut deltas = RollupDeltas::new();
    for (region, type_code) in [
        ("/34/3402/340202/", "TRUCK"),
        ("/34/3401/340104/", "BOAT"),
        ("/34/3401/340104/", "TRUCK"),
        ("/34/3402/340202/", "AMBULANCE"),
    ] {
        deltas.insert(&RecordFigures {
            region_path: &path(region),
            type_code,
            quantity: 1.0,
            available: true,
            verified: false,
        });
    }
    let keys: Vec<(String, String)> = deltas
        .into_changes()
        .into_iter()
        .map(|(path, type_code, _)| (path, type_code))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "sorted, each (path, type) once");
    // Three types at the root and the province, two at each of two cities and two counties.
    assert_eq!(keys.len(), 2 * 3 + 4 * 2);
}
