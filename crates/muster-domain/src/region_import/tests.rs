use super::*;

fn plan(csv: &str) -> Result<RegionImportPlan, ImportProblems> {
    plan_with(csv, &HashMap::new())
}

fn plan_with(
    csv: &str,
    existing: &HashMap<RegionCode, ExistingRegion>,
) -> Result<RegionImportPlan, ImportProblems> {
    plan_region_import(parse_region_csv(csv.as_bytes())?, existing)
}

/// A problem as (line, column position, kind), for compact expectations.
type Found = (u64, Option<usize>, ProblemKind);

/// Every problem in a file, for compact expectations.
fn problems(csv: &str) -> Vec<Found> {
    match plan(csv) {
        Ok(plan) => panic!(
            "expected problems, got a plan of {} regions",
            plan.regions.len()
        ),
        Err(ImportProblems(list)) => list
            .iter()
            .map(|p| (p.line, p.column.as_ref().map(|c| c.position), p.kind))
            .collect(),
    }
}

#[test]
fn rows_in_any_order_are_placed_with_paths_levels_and_counts() {
    let csv = "code,name,parent_code\n\
               340104001001,Village,340104001\n\
               3401,Hefei,34\n\
               340104,Shushan,3401\n\
               34,Anhui,\n\
               340104001,Township,340104\n\
               340105,Luyang,3401\n";
    let plan = plan(csv).expect("valid file");
    let summary: Vec<(&str, &str, RegionLevel, i64, i64)> = plan
        .regions
        .iter()
        .map(|r| {
            (
                r.code.as_str(),
                r.path.as_str(),
                r.level,
                r.child_count,
                r.descendant_count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("34", "/34/", RegionLevel::Province, 1, 5),
            ("3401", "/34/3401/", RegionLevel::City, 2, 4),
            ("340104", "/34/3401/340104/", RegionLevel::County, 1, 2),
            (
                "340104001",
                "/34/3401/340104/340104001/",
                RegionLevel::Township,
                1,
                1
            ),
            (
                "340104001001",
                "/34/3401/340104/340104001/340104001001/",
                RegionLevel::Village,
                0,
                0
            ),
            ("340105", "/34/3401/340105/", RegionLevel::County, 0, 0),
        ]
    );
    assert!(plan.existing_increments.is_empty());
}

#[test]
fn each_kind_of_bad_row_is_named_by_line_and_column() {
    let cases: &[(&str, &str, Vec<Found>)] = &[
        (
            "unknown parent",
            "code,name,parent_code\n34,A,\n3402,B,35\n",
            vec![(3, Some(3), ProblemKind::UnknownParent)],
        ),
        (
            "duplicate code",
            "code,name,parent_code\n34,A,\n3401,B,34\n3401,C,34\n",
            vec![(4, Some(1), ProblemKind::DuplicateCode)],
        ),
        (
            "cycle",
            "code,name,parent_code\n3401,A,3402\n3402,B,3401\n",
            vec![
                (2, Some(3), ProblemKind::Cycle),
                (3, Some(3), ProblemKind::Cycle),
            ],
        ),
        (
            "given level disagrees with depth",
            "code,name,parent_code,level\n34,A,,1\n3401,B,34,county\n",
            vec![(3, Some(4), ProblemKind::WrongLevel)],
        ),
        (
            "code length disagrees with depth",
            "code,name,parent_code\n3401,A,\n",
            vec![(2, Some(1), ProblemKind::WrongLevel)],
        ),
        (
            "code not under parent",
            "code,name,parent_code\n34,A,\n3501,B,34\n",
            vec![(3, Some(1), ProblemKind::CodeNotUnderParent)],
        ),
        (
            "bad coordinates",
            "code,name,parent_code,lat,lon\n34,A,,91,117\n35,B,,31,abc\n36,C,,31,\n",
            vec![
                (2, Some(4), ProblemKind::BadCoordinate),
                (3, Some(5), ProblemKind::BadCoordinate),
                (4, Some(5), ProblemKind::BadCoordinate),
            ],
        ),
        (
            "broken csv",
            "code,name,parent_code\n34,A\n35,B,,extra\n",
            vec![
                (2, None, ProblemKind::BrokenCsv),
                (3, None, ProblemKind::BrokenCsv),
            ],
        ),
        (
            "bad code",
            "code,name,parent_code\n3x,A,\n",
            vec![(2, Some(1), ProblemKind::BadCode)],
        ),
        (
            "missing name",
            "code,name,parent_code\n34,,\n",
            vec![(2, Some(2), ProblemKind::MissingName)],
        ),
        (
            "bad level",
            "code,name,parent_code,level\n34,A,,9\n",
            vec![(2, Some(4), ProblemKind::BadLevel)],
        ),
        (
            "missing column",
            "code,name\n34,A\n",
            vec![(1, None, ProblemKind::MissingColumn)],
        ),
        (
            "header only",
            "code,name,parent_code\n",
            vec![(1, None, ProblemKind::EmptyFile)],
        ),
        (
            "too deep",
            "code,name,parent_code\n34,A,\n3401,B,34\n340101,C,3401\n340101001,D,340101\n340101001001,E,340101001\n340101001002,F,340101001001\n",
            vec![(7, Some(3), ProblemKind::TooDeep)],
        ),
        (
            "children of a failed row are not reported twice",
            "code,name,parent_code\n3401,A,99\n340101,B,3401\n",
            vec![(2, Some(3), ProblemKind::UnknownParent)],
        ),
    ];
    for (name, csv, expected) in cases {
        assert_eq!(&problems(csv), expected, "case: {name}");
    }
}

#[test]
fn problems_name_reordered_columns_by_their_real_position() {
    let got = problems("parent_code,name,code\n99,A,3401\n");
    assert_eq!(got, vec![(2, Some(1), ProblemKind::UnknownParent)]);
}

#[test]
fn chinese_headers_and_gbk_files_are_read() {
    let text = "编码,名称,上级编码\n34,安徽省,\n3401,合肥市,34\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    let plan = plan_region_import(parse_region_csv(&gbk).expect("parses"), &HashMap::new())
        .expect("valid");
    assert_eq!(plan.regions[1].name, "合肥市");
}

#[test]
fn blank_rows_are_skipped_but_line_numbers_stay_physical() {
    let got = problems("code,name,parent_code\n34,A,\n,,\n3402,B,35\n");
    assert_eq!(got, vec![(4, Some(3), ProblemKind::UnknownParent)]);
}

#[test]
fn rows_under_stored_regions_extend_them_and_count_up_the_stored_ancestors() {
    let mut existing = HashMap::new();
    let province = RegionCode::parse("34").expect("code");
    let city = RegionCode::parse("3401").expect("code");
    existing.insert(
        city.clone(),
        ExistingRegion {
            level: RegionLevel::City,
            path: RegionPath::root().child(&province).child(&city),
        },
    );
    let plan = plan_with(
        "code,name,parent_code\n340101,A,3401\n340101001,B,340101\n",
        &existing,
    )
    .expect("valid");
    assert_eq!(plan.regions[1].path.as_str(), "/34/3401/340101/340101001/");
    assert_eq!(
        plan.existing_increments,
        vec![
            CountIncrement {
                code: province,
                children: 0,
                descendants: 2
            },
            CountIncrement {
                code: city.clone(),
                children: 1,
                descendants: 2
            },
        ]
    );
    let duplicate = plan_with("code,name,parent_code\n3401,Again,34\n", &existing)
        .expect_err("duplicate of stored");
    assert_eq!(duplicate.0[0].kind, ProblemKind::DuplicateCode);
}

proptest::proptest! {
    /// Whatever bytes arrive, parsing and planning return a plan or problems; never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        if let Ok(parsed) = parse_region_csv(&bytes) {
            let _ = plan_region_import(parsed, &HashMap::new());
        }
    }

    /// Shuffling a valid file's rows never changes the plan.
    #[test]
    fn row_order_does_not_matter(seed in 0u64..1000) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut lines: Vec<String> = vec!["34,P,".into(), "3401,C,34".into(), "340101,X,3401".into(), "340102,Y,3401".into(), "340101001,T,340101".into()];
        let baseline = plan(&format!("code,name,parent_code\n{}\n", lines.join("\n"))).expect("valid");
        lines.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let shuffled = plan(&format!("code,name,parent_code\n{}\n", lines.join("\n"))).expect("valid");
        let strip = |p: &RegionImportPlan| p.regions.iter().map(|r| (r.path.clone(), r.child_count, r.descendant_count)).collect::<Vec<_>>();
        proptest::prop_assert_eq!(strip(&baseline), strip(&shuffled));
    }
}
