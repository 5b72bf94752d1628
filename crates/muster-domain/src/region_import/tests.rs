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

/// The placement computed the slow, obvious way: levels and paths by walking each row's
/// parent chain through the file, counts by crediting every ancestor on that chain.
fn placement_by_walking_parents(
    rows: &[RegionRow],
) -> Vec<(String, String, RegionLevel, i64, i64)> {
    let index_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.code.as_str(), i))
        .collect();
    let parent_of = |i: usize| {
        rows[i]
            .parent_code
            .as_ref()
            .and_then(|p| index_of.get(p.as_str()).copied())
    };
    let mut children = vec![0i64; rows.len()];
    let mut descendants = vec![0i64; rows.len()];
    let mut found = Vec::new();
    for i in 0..rows.len() {
        let mut chain = vec![i];
        while let Some(p) = parent_of(*chain.last().expect("non-empty")) {
            chain.push(p);
        }
        if let Some(&p) = chain.get(1) {
            children[p] += 1;
        }
        for &a in &chain[1..] {
            descendants[a] += 1;
        }
        let top = &rows[*chain.last().expect("non-empty")];
        // Above the file: the stored parent's path, here the path its code names.
        let mut path = top
            .parent_code
            .as_ref()
            .map_or_else(RegionPath::root, RegionPath::of_code);
        for &c in chain.iter().rev() {
            path = path.child(&rows[c].code);
        }
        let level = RegionLevel::from_depth(path.depth() as u8).expect("at most five levels");
        found.push((i, path, level));
    }
    let mut out: Vec<_> = found
        .into_iter()
        .map(|(i, path, level)| {
            (
                rows[i].code.to_string(),
                path.to_string(),
                level,
                children[i],
                descendants[i],
            )
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn placement_by_code(rows: &[RegionRow]) -> Vec<(String, String, RegionLevel, i64, i64)> {
    place_by_code(rows)
        .iter()
        .map(|p| {
            let region = p.new_region(rows[p.row].clone());
            (
                region.code.to_string(),
                region.path.to_string(),
                region.level,
                region.child_count,
                region.descendant_count,
            )
        })
        .collect()
}

#[test]
fn the_placement_from_codes_matches_walking_the_parents_on_a_demo_province() {
    let rows = crate::demo::demo_regions(crate::demo::DemoScale::Province, 11);
    assert_eq!(
        placement_by_code(&rows),
        placement_by_walking_parents(&rows)
    );
}

#[test]
fn a_placement_under_stored_regions_counts_only_the_rows_in_the_file() {
    // Two counties under a stored city, one township each, one village under the first.
    let csv = "code,name,parent_code\n340102001,T2,340102\n340101,A,3401\n340101001001,V,340101001\n340102,B,3401\n340101001,T1,340101\n";
    let parsed = parse_region_csv(csv.as_bytes()).expect("parses");
    assert_eq!(
        placement_by_code(&parsed.rows),
        placement_by_walking_parents(&parsed.rows)
    );
    let counts: Vec<(String, i64, i64)> = placement_by_code(&parsed.rows)
        .into_iter()
        .map(|(code, _, _, c, d)| (code, c, d))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("340101".to_owned(), 1, 2),
            ("340101001".to_owned(), 1, 1),
            ("340101001001".to_owned(), 0, 0),
            ("340102".to_owned(), 1, 1),
            ("340102001".to_owned(), 0, 0),
        ]
    );
}

proptest::proptest! {
    /// Any subset of a valid tree that keeps every row's parent, in any order, is placed by
    /// its codes exactly as by walking its parents.
    #[test]
    fn the_placement_from_codes_matches_walking_the_parents(seed in 0u64..200, keep_percent in 1u64..100) {
        use rand::{Rng, SeedableRng, seq::SliceRandom};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let all = crate::demo::demo_regions(crate::demo::DemoScale::Tiny, seed);
        // Drop a random share of the rows, with everything below each dropped row.
        let mut kept: Vec<RegionRow> = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        for row in all {
            let under_dropped = dropped.iter().any(|d| row.code.as_str().starts_with(d.as_str()));
            if under_dropped || (row.parent_code.is_some() && rng.random_range(0..100) >= keep_percent) {
                dropped.push(row.code.to_string());
            } else {
                kept.push(row);
            }
        }
        kept.shuffle(&mut rng);
        proptest::prop_assert_eq!(placement_by_code(&kept), placement_by_walking_parents(&kept));
    }

    /// The integer sort key orders codes exactly as their text does.
    #[test]
    fn the_code_key_orders_like_the_code_text(a in "[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3}([0-9]{3})?)?)?)?", b in "[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3}([0-9]{3})?)?)?)?") {
        let (a, b) = (RegionCode::parse(&a).expect("code"), RegionCode::parse(&b).expect("code"));
        proptest::prop_assert_eq!(code_order_key(&a).cmp(&code_order_key(&b)), a.as_str().cmp(b.as_str()));
    }
}

/// A file big enough to be read in two halves, with a problem early in the first half and
/// three late in the second, and the same file with a quoted name on its first row, which
/// is read in one pass: both give the same rows and the same problems on the same lines.
#[test]
fn a_big_file_read_in_two_halves_reads_as_one_pass_does() {
    let rows = 40_000;
    let build = |first_name: &str| {
        let mut csv = String::from("code,name,parent_code,level,lat,lon\n");
        for i in 0..rows {
            let line = i + 2;
            let row = match line {
                2 => format!("34,{first_name},,1,31.5,117.2\n"),
                10 => "3x,Bad code,,1,31.5,117.2\n".to_owned(),
                39_990 => ",,,,,\n".to_owned(),
                39_995 => "3401,Short,34\n".to_owned(),
                39_999 => "3402,Far,34,2,91,117.2\n".to_owned(),
                _ => format!("{},Region {i},,1,31.5,117.2\n", 10 + i % 89),
            };
            csv.push_str(&row);
        }
        csv
    };
    let unquoted = build("Anhui");
    let quoted = build("\"Anhui\"");
    assert!(parallel_split(&unquoted).is_some(), "read in two halves");
    assert!(parallel_split(&quoted).is_none(), "read in one pass");
    let expected: Vec<Found> = vec![
        (10, Some(1), ProblemKind::BadCode),
        (39_995, None, ProblemKind::BrokenCsv),
        (39_999, Some(5), ProblemKind::BadCoordinate),
    ];
    let found = |csv: &str| match parse_region_csv(csv.as_bytes()) {
        Ok(parsed) => panic!("expected problems, got {} rows", parsed.rows.len()),
        Err(ImportProblems(list)) => list
            .iter()
            .map(|p| (p.line, p.column.as_ref().map(|c| c.position), p.kind))
            .collect::<Vec<Found>>(),
    };
    assert_eq!(found(&unquoted), expected);
    assert_eq!(found(&quoted), expected);

    // Without the bad rows, both give the same rows, numbered by their physical lines.
    let clean = |csv: &str| {
        csv.lines()
            .filter(|l| {
                !l.starts_with("3x,") && !l.starts_with("3401,Short") && !l.starts_with("3402,Far")
            })
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let (halves, one_pass) = (clean(&unquoted), clean(&quoted));
    assert!(parallel_split(&halves).is_some());
    let halves = parse_region_csv(halves.as_bytes()).expect("parses");
    let one_pass = parse_region_csv(one_pass.as_bytes()).expect("parses");
    assert_eq!(halves, one_pass);
    assert_eq!(
        halves.rows.len(),
        rows - 4,
        "three bad rows and one blank row left out"
    );
    assert_eq!(halves.rows.last().map(|r| r.line), Some(rows as u64 - 2));
}

/// Every kind of problem, and every way of running into it, says itself in Chinese too: a
/// call site left without Chinese would show English (or nothing) on the Chinese pages.
#[test]
fn every_problem_is_said_in_chinese() {
    let many_broken = format!("code,name,parent_code\n{}", "x\n".repeat(1_100));
    let bad_files: &[&[u8]] = &[
        many_broken.as_bytes(),
        b"code,name,parent_code\n34,A,\n\xff\xfe\xfd,B,34\n",
        b"code,name,parent_code\n34,A\n35,B,,extra\n",
        b"code,name\n34,A\n",
        b"name\n34\n",
        b"code,name,parent_code\n",
        b"code,name,parent_code\n3x,A,\n35,,3y\n36,C,\n36,D,\n",
        b"code,name,parent_code,level,lat,lon\n34,A,,9,91,\n35,B,,1,,abc\n",
        b"code,name,parent_code\n34,A,\n3401,B,34\n3401,C,34\n3402,D,35\n36,E,\n",
        b"code,name,parent_code\n3401,A,3402\n3402,B,3401\n",
        b"code,name,parent_code,level\n34,A,,1\n3401,B,34,county\n3501,C,34,\n",
        b"code,name,parent_code\n3401,A,\n",
        b"code,name,parent_code\n34,A,\n3401,B,34\n340101,C,3401\n340101001,D,340101\n340101001001,E,340101001\n340101001002,F,340101001001\n",
    ];
    let stored = HashMap::from([(
        RegionCode::parse("36").expect("a code"),
        ExistingRegion {
            level: RegionLevel::Province,
            path: RegionPath::of_code(&RegionCode::parse("36").expect("a code")),
        },
    )]);
    let mut kinds_seen = Vec::new();
    for bytes in bad_files {
        let refused = parse_region_csv(bytes)
            .and_then(|parsed| plan_region_import(parsed, &stored))
            .expect_err("a bad file");
        for problem in refused.0 {
            let has_chinese = problem
                .message_zh
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            assert!(
                has_chinese,
                "line {} ({:?}) has no Chinese: {:?}",
                problem.line, problem.kind, problem.message_zh
            );
            assert!(!problem.message.is_empty(), "{problem:?}");
            assert_eq!(problem.message_in("zh-CN"), problem.message_zh);
            assert_eq!(problem.message_in("en"), problem.message);
            kinds_seen.push(problem.kind);
        }
    }
    // Listed by a match so that a new kind cannot be added without a file that shows it.
    let every_kind = |kind: ProblemKind| match kind {
        ProblemKind::Encoding
        | ProblemKind::BrokenCsv
        | ProblemKind::MissingColumn
        | ProblemKind::EmptyFile
        | ProblemKind::BadCode
        | ProblemKind::MissingName
        | ProblemKind::BadLevel
        | ProblemKind::BadCoordinate
        | ProblemKind::DuplicateCode
        | ProblemKind::UnknownParent
        | ProblemKind::Cycle
        | ProblemKind::WrongLevel
        | ProblemKind::CodeNotUnderParent
        | ProblemKind::TooDeep
        | ProblemKind::TooMany => kind,
    };
    for kind in [
        ProblemKind::Encoding,
        ProblemKind::BrokenCsv,
        ProblemKind::MissingColumn,
        ProblemKind::EmptyFile,
        ProblemKind::BadCode,
        ProblemKind::MissingName,
        ProblemKind::BadLevel,
        ProblemKind::BadCoordinate,
        ProblemKind::DuplicateCode,
        ProblemKind::UnknownParent,
        ProblemKind::Cycle,
        ProblemKind::WrongLevel,
        ProblemKind::CodeNotUnderParent,
        ProblemKind::TooDeep,
        ProblemKind::TooMany,
    ] {
        assert!(
            kinds_seen.contains(&every_kind(kind)),
            "no bad file shows {kind:?}"
        );
    }
}

#[test]
fn a_file_of_countless_broken_lines_lists_a_thousand_and_stops() {
    let mut csv = String::from("code,name,parent_code\n");
    for _ in 0..20_000 {
        csv.push_str("x\n");
    }
    let found = problems(&csv);
    assert_eq!(found.len(), MAX_LISTED_PROBLEMS + 1);
    assert_eq!(found.last().map(|f| f.2), Some(ProblemKind::TooMany));
}

#[test]
fn a_cycle_through_many_lines_names_twenty_of_them_in_each_problem() {
    // 3401 → 3402 → … → 3460 → 3401: sixty lines in one cycle.
    let mut csv = String::from("code,name,parent_code\n");
    for i in 0..60u32 {
        let parent = 3401 + (i + 1) % 60;
        csv.push_str(&format!("{},R{i},{parent}\n", 3401 + i));
    }
    let ImportProblems(list) = plan(&csv).expect_err("refused");
    let cycle: Vec<&ImportProblem> = list
        .iter()
        .filter(|p| p.kind == ProblemKind::Cycle)
        .collect();
    assert_eq!(cycle.len(), 60);
    for problem in cycle {
        assert!(
            problem.message.contains("(60 in all)"),
            "{}",
            problem.message
        );
        assert!(problem.message.len() < 300, "{}", problem.message);
    }
}
