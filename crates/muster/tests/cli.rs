//! The built `muster` binary, run as an operator would run it, against a fresh data
//! directory per test.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use muster_domain::Scope;
use muster_storage::{BlobLimits, BlobStore, ContentHash, Database, DatabaseUrl, RecordFilter};

const VALID_REGIONS: &str = "code,name,parent_code,level,lat,lon\n\
    34,演示省,,1,31.86,117.28\n\
    3401,合肥市,34,2,31.82,117.23\n\
    340102,瑶海区,3401,3,31.86,117.31\n\
    340102001,明光路街道,340102,4,,\n";

/// Line 3 has a letter in its code; line 4 a latitude beyond the pole.
const BAD_REGIONS: &str = "code,name,parent_code,level,lat,lon\n\
    34,演示省,,1,31.86,117.28\n\
    34X1,合肥市,34,2,31.82,117.23\n\
    340102,瑶海区,3401,3,91.5,117.31\n";

/// A scratch directory and the binary pointed at it.
struct Operator {
    dir: tempfile::TempDir,
}

impl Operator {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// `muster --data-dir DIR ARGS…`, with no `MUSTER_…` settings leaking in from the
    /// environment the tests run in.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
        for (name, _) in std::env::vars() {
            if name.starts_with("MUSTER_") {
                command.env_remove(name);
            }
        }
        command
            .env("RUST_LOG", "warn")
            .current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("the muster binary runs")
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write a test file");
        path.display().to_string()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn a_valid_region_file_imports_and_leaves_an_intact_audit_chain() {
    let operator = Operator::new();
    let file = operator.write("regions.csv", VALID_REGIONS);

    let imported = operator.run(&["import", "regions", &file]);
    assert_exit(&imported, 0);
    assert!(
        stdout(&imported).contains("Imported 4 regions"),
        "{}",
        stdout(&imported)
    );

    let verified = operator.run(&["audit", "verify"]);
    assert_exit(&verified, 0);
    assert_eq!(stdout(&verified).trim(), "audit chain intact: 1 entries");
}

#[test]
fn a_bad_region_file_names_every_problem_exits_2_and_stores_nothing() {
    let operator = Operator::new();
    let bad = operator.write("bad.csv", BAD_REGIONS);

    let refused = operator.run(&["import", "regions", &bad]);
    assert_exit(&refused, 2);
    let problems = stderr(&refused);
    assert!(problems.contains("nothing was imported"), "{problems}");
    assert!(
        problems.contains("line 3, column 1 (code)"),
        "the bad code is named by line and column:\n{problems}"
    );
    assert!(
        problems.contains("line 4, column 5 (lat)"),
        "every problem is named, not just the first:\n{problems}"
    );

    // Had any row of the bad file been stored, 34 would now be a duplicate.
    let valid = operator.write("regions.csv", VALID_REGIONS);
    let imported = operator.run(&["import", "regions", &valid]);
    assert_exit(&imported, 0);
    let verified = operator.run(&["audit", "verify"]);
    assert_exit(&verified, 0);
    assert_eq!(stdout(&verified).trim(), "audit chain intact: 1 entries");
}

#[test]
fn importing_the_same_file_twice_is_refused_the_second_time() {
    let operator = Operator::new();
    let file = operator.write("regions.csv", VALID_REGIONS);
    assert_exit(&operator.run(&["import", "regions", &file]), 0);
    let again = operator.run(&["import", "regions", &file]);
    assert_exit(&again, 2);
    assert!(
        stderr(&again).contains("region 34 already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_missing_file_is_an_error_not_a_refusal() {
    let operator = Operator::new();
    let missing = operator.path("missing.csv").display().to_string();
    let output = operator.run(&["import", "regions", &missing]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("cannot read"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_demo_loads_once_prints_its_users_and_can_be_backed_up() {
    let operator = Operator::new();
    let demo = operator.run(&["demo", "--scale", "tiny", "--seed", "7"]);
    assert_exit(&demo, 0);
    let table = stdout(&demo);
    for username in [
        "admin",
        "office",
        "liaison",
        "member",
        "workstation",
        "grid",
        "manager",
        "viewer",
    ] {
        assert!(table.contains(username), "{table}");
    }
    assert!(table.contains("muster-demo"), "{table}");
    let summary = table
        .lines()
        .find(|l| l.starts_with("Survey round 1 "))
        .unwrap_or_else(|| panic!("no survey summary:\n{table}"));
    let stored = operator.stored_demo();
    let c = &stored.completeness;
    for figure in [
        format!("{} assignments", c.assigned),
        format!(
            "{} on time, {} late, {} missing",
            c.on_time, c.late, c.missing
        ),
        format!("{} records approved", stored.from_survey),
        format!("{} records, {} checked", stored.sample_size, stored.checked),
    ] {
        assert!(summary.contains(&figure), "{figure} in {summary}");
    }

    let again = operator.run(&["demo", "--scale", "tiny"]);
    assert_exit(&again, 1);
    assert!(stderr(&again).contains("already has"), "{}", stderr(&again));

    let backup = operator.path("backup.db");
    let backup_text = backup.display().to_string();
    let backed_up = operator.run(&["backup", &backup_text]);
    assert_exit(&backed_up, 0);
    assert!(std::fs::metadata(&backup).expect("backup written").len() > 0);

    // The copy is a complete database: the audit chain in it verifies.
    let in_copy = operator.run(&[
        "--database-url",
        &format!("sqlite://{backup_text}"),
        "audit",
        "verify",
    ]);
    assert_exit(&in_copy, 0);
    assert!(
        stdout(&in_copy).starts_with("audit chain intact"),
        "{}",
        stdout(&in_copy)
    );

    // A backup never overwrites.
    assert_exit(&operator.run(&["backup", &backup_text]), 1);
}

/// What `muster demo` left in the database, read back through the storage API.
#[derive(Debug, PartialEq)]
struct StoredDemo {
    completeness: muster_domain::survey::Completeness,
    /// Assignments with more than one version.
    corrected: usize,
    /// (id, holding key, quantity, first reported, verified, reopened), by id.
    records: Vec<(i64, String, f64, f64, Option<f64>, i64)>,
    /// Records that came in through the survey round (the requisition demo adds an
    /// enterprise's record of its own).
    from_survey: usize,
    /// Records the round renewed from last year's registry (a previous quantity kept).
    renewed: usize,
    sample_size: usize,
    checked: u32,
    /// (record, quantity seen, accurate) of the checked items.
    findings: Vec<(i64, f64, bool)>,
    /// The photos (SHA-256) of each checked item, and whether the attachment store holds them.
    finding_photos: Vec<(Vec<String>, bool)>,
    /// Cities with checked records.
    cities_with_accuracy: usize,
    /// Types whose gap counts some verified potential and still falls short.
    gaps_with_verified_figures: usize,
    units_with_credibility: usize,
}

impl Operator {
    fn stored_demo(&self) -> StoredDemo {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let url = DatabaseUrl::Sqlite(self.data_dir().join("muster.db"));
            let db = Database::connect(&url).await.expect("the demo database");
            let files = BlobStore::new(self.data_dir().join("files"), BlobLimits::default());
            let stored = read_demo(&db, &files).await;
            db.close().await;
            stored
        })
    }
}

async fn read_demo(db: &Database, files: &BlobStore) -> StoredDemo {
    let everything = Scope::everything();
    let rounds = db.survey_rounds(&everything).await.expect("rounds");
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    let round = &rounds[0];
    let dashboard = db
        .round_dashboard(&everything, round.id, None)
        .await
        .expect("dashboard");
    let mut corrected = 0;
    for assignment in db
        .round_assignments(&everything, round.id, None)
        .await
        .expect("assignments")
    {
        let view = db
            .assignment_view(&everything, assignment.id)
            .await
            .expect("assignment");
        corrected += usize::from(view.versions.len() > 1);
    }
    let mut records = Vec::new();
    let mut from_survey = 0;
    let mut renewed = 0;
    loop {
        let page = db
            .potential_records(
                &everything,
                &RecordFilter {
                    region_code: None,
                    type_code: None,
                    status: None,
                    limit: 1000,
                    after_id: records.last().map_or(0, |r: &(i64, _, _, _, _, _)| r.0),
                },
            )
            .await
            .expect("records");
        if page.is_empty() {
            break;
        }
        from_survey += page.iter().filter(|r| r.round_id.is_some()).count();
        renewed += page
            .iter()
            .filter(|r| r.round_id.is_some() && r.previous_quantity.is_some())
            .count();
        records.extend(page.into_iter().map(|r| {
            (
                r.id,
                r.holding_key,
                r.quantity,
                r.first_reported_quantity,
                r.verified_quantity,
                r.reopened,
            )
        }));
    }
    let samples = db
        .verification_samples(&everything, 10)
        .await
        .expect("samples");
    assert_eq!(samples.len(), 1, "{samples:?}");
    let items = db
        .verification_items(&everything, samples[0].id)
        .await
        .expect("items");
    let findings = items
        .iter()
        .filter_map(|i| Some((i.record_id, i.quantity_seen?, i.accurate? == 1)))
        .collect::<Vec<_>>();
    let mut finding_photos = Vec::new();
    for item in items.iter().filter(|i| i.quantity_seen.is_some()) {
        let photos = item.photo_list();
        let mut stored = true;
        for photo in &photos {
            let hash = ContentHash::parse(photo).expect("a photo is named by its SHA-256");
            stored &= files.contains(&hash).await.expect("the attachment store");
        }
        finding_photos.push((photos, stored));
    }
    let accuracy = db
        .verification_accuracy(&everything, Some("34"), Some(samples[0].id))
        .await
        .expect("accuracy");
    let gaps = db.gaps(&everything, None).await.expect("gaps");
    let credibility = db
        .unit_credibility(&everything, None)
        .await
        .expect("credibility");
    StoredDemo {
        completeness: dashboard.completeness,
        corrected,
        records,
        from_survey,
        renewed,
        sample_size: items.len(),
        checked: accuracy.total.figure.checked,
        findings,
        finding_photos,
        cities_with_accuracy: accuracy
            .children
            .iter()
            .filter(|c| c.figure.checked > 0)
            .count(),
        gaps_with_verified_figures: gaps
            .iter()
            .filter(|g| g.verified > 0.0 && g.shortfall > 0.0)
            .count(),
        units_with_credibility: credibility.iter().filter(|u| u.checked > 0).count(),
    }
}

#[test]
fn the_demo_runs_a_survey_round_with_every_state_and_a_checked_sample_the_same_every_time() {
    let first = Operator::new();
    let second = Operator::new();
    for operator in [&first, &second] {
        assert_exit(
            &operator.run(&["demo", "--scale", "tiny", "--seed", "11"]),
            0,
        );
    }
    let stored = first.stored_demo();
    // Last year's registry was renewed by the round, not doubled.
    assert!(
        stored.renewed > 0 && stored.renewed < stored.from_survey,
        "{} renewed of {}",
        stored.renewed,
        stored.from_survey
    );

    // The dashboard: reports on time, late and never; approved, awaiting review, sent back.
    let c = &stored.completeness;
    assert_eq!(c.assigned, 31, "{c:?}");
    assert!(c.on_time > c.assigned * 3 / 4, "most came on time: {c:?}");
    assert!(c.late >= 1 && c.missing >= 1, "{c:?}");
    assert_eq!(c.on_time + c.late + c.missing, c.assigned, "{c:?}");
    assert_eq!(c.returned, 1, "{c:?}");
    assert!(
        c.awaiting_review >= 1 && c.approved > c.assigned / 2,
        "{c:?}"
    );
    assert_eq!(
        stored.corrected, 2,
        "two reports were corrected by a second version"
    );

    // The registry holds the approved reports' records, some corrected since first reported.
    assert!(stored.records.len() > 100, "{}", stored.records.len());
    assert!(
        stored.records.iter().any(|r| r.2 != r.3),
        "some quantity moved from the first report"
    );

    // The sample: two records per county, most checked, mostly accurate, a few wrong
    // (corrected and reopened), one left for the verifier.
    assert_eq!(stored.sample_size, 8);
    assert_eq!(stored.findings.len(), 7);
    assert_eq!(stored.checked, 7);
    assert!(
        stored
            .finding_photos
            .iter()
            .all(|(photos, stored)| !photos.is_empty() && *stored),
        "every finding has a photo the attachment store holds: {:?}",
        stored.finding_photos
    );
    let wrong: Vec<_> = stored.findings.iter().filter(|f| !f.2).collect();
    assert_eq!(
        wrong.len(),
        2,
        "a quantity well off and a wrong place: {wrong:?}"
    );
    let reopened = stored.records.iter().filter(|r| r.5 == 1).count();
    assert_eq!(reopened, wrong.len());
    let verified = stored.records.iter().filter(|r| r.4.is_some()).count();
    assert_eq!(verified, stored.findings.len() - wrong.len());
    assert_eq!(stored.cities_with_accuracy, 2, "accuracy for both cities");
    assert!(stored.gaps_with_verified_figures > 0);
    assert!(stored.units_with_credibility > 0);

    // The same seed gives the same round, registry and findings; only times differ.
    assert_eq!(second.stored_demo(), stored);
}

#[test]
fn a_user_is_added_with_a_password_from_standard_input() {
    let operator = Operator::new();
    assert_exit(&operator.run(&["demo", "--scale", "tiny"]), 0);
    let add = |username: &str, password: &str| {
        let mut child = operator
            .command(&[
                "user",
                "add",
                "--username",
                username,
                "--display-name",
                "Test User",
                "--organization-id",
                "1",
                "--roles",
                "office_staff,viewer",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the muster binary runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{password}").expect("write the password");
        }
        child.wait_with_output().expect("muster finishes")
    };

    let added = add("tester", "a long enough password");
    assert_exit(&added, 0);
    let id: i64 = stdout(&added).trim().parse().expect("the new user's id");
    assert!(id > 0);

    let short = add("tester2", "short");
    assert_exit(&short, 1);
    assert!(
        stderr(&short).contains("at least 8 characters"),
        "{}",
        stderr(&short)
    );

    let taken = add("tester", "another long password");
    assert_exit(&taken, 1);
    assert!(stderr(&taken).contains("taken"), "{}", stderr(&taken));
}

#[test]
fn a_forgotten_password_is_set_again_from_the_command_line() {
    let operator = Operator::new();
    assert_exit(&operator.run(&["demo", "--scale", "tiny"]), 0);
    let set = |username: &str, password: &str| {
        let mut child = operator
            .command(&[
                "user",
                "password",
                "--username",
                username,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the muster binary runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{password}").expect("write the password");
        }
        child.wait_with_output().expect("muster finishes")
    };
    let unknown = set("nobody", "a long enough password");
    assert_exit(&unknown, 1);
    assert!(
        stderr(&unknown).contains("no user nobody"),
        "{}",
        stderr(&unknown)
    );
    assert_exit(&set("admin", "short"), 1);
    assert_exit(&set("admin", "the admin's new password"), 0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let url = DatabaseUrl::Sqlite(operator.data_dir().join("muster.db"));
        let db = Database::connect(&url).await.expect("the database");
        let stored = db
            .sign_in_credentials("admin")
            .await
            .expect("read")
            .expect("admin")
            .password_hash;
        assert!(muster_web::password::verify_password(
            "the admin's new password",
            &stored
        ));
        assert!(!muster_web::password::verify_password(
            muster_domain::demo::DEMO_PASSWORD,
            &stored
        ));
        let audit = db
            .audit_entries(&Scope::everything(), 5)
            .await
            .expect("audit");
        assert!(
            audit.iter().any(|e| e.action == "reset_password"),
            "{audit:?}"
        );
        db.close().await;
    });
}

#[test]
fn a_user_is_disabled_and_enabled_again_from_the_command_line() {
    let operator = Operator::new();
    assert_exit(&operator.run(&["demo", "--scale", "tiny"]), 0);
    let unknown = operator.run(&["user", "disable", "--username", "nobody"]);
    assert_exit(&unknown, 1);
    assert!(
        stderr(&unknown).contains("no user nobody"),
        "{}",
        stderr(&unknown)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = DatabaseUrl::Sqlite(operator.data_dir().join("muster.db"));
    let disabled_flag = |url: &DatabaseUrl| {
        runtime.block_on(async {
            let db = Database::connect(url).await.expect("the database");
            let id = db
                .user_id_by_username("office")
                .await
                .expect("read")
                .expect("office");
            let user = db.user(&Scope::everything(), id).await.expect("user");
            let may_sign_in = db
                .sign_in_credentials("office")
                .await
                .expect("read")
                .is_some();
            db.close().await;
            (user.disabled, may_sign_in)
        })
    };
    assert_eq!(disabled_flag(&url), (0, true));
    assert_exit(
        &operator.run(&["user", "disable", "--username", "office"]),
        0,
    );
    assert_eq!(disabled_flag(&url), (1, false));
    assert_exit(
        &operator.run(&["user", "enable", "--username", "office"]),
        0,
    );
    assert_eq!(disabled_flag(&url), (0, true));
}

#[test]
fn without_a_terminal_or_password_stdin_user_add_explains_itself() {
    let operator = Operator::new();
    let output = operator.run(&[
        "user",
        "add",
        "--username",
        "x1",
        "--display-name",
        "X",
        "--organization-id",
        "1",
        "--roles",
        "viewer",
    ]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("--password-stdin"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn commands_that_only_read_refuse_a_database_that_does_not_exist() {
    let operator = Operator::new();
    let output = operator.run(&["audit", "verify"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("there is no database"),
        "{}",
        stderr(&output)
    );
    assert!(!operator.data_dir().join("muster.db").exists());
}

#[test]
fn a_config_file_sets_the_data_dir_and_the_flag_beats_it() {
    let operator = Operator::new();
    let from_file = operator.path("from-file");
    let config = operator.write(
        "muster.toml",
        &format!("data_dir = {:?}\n", from_file.display().to_string()),
    );
    // Operator::command passes --data-dir, so run the binary bare for the file alone.
    let output = Command::new(env!("CARGO_BIN_EXE_muster"))
        .env("RUST_LOG", "warn")
        .env_remove("MUSTER_DATA_DIR")
        .env_remove("MUSTER_DATABASE_URL")
        .env("MUSTER_CONFIG", &config)
        .current_dir(operator.dir.path())
        .arg("migrate")
        .output()
        .expect("the muster binary runs");
    assert_exit(&output, 0);
    assert!(from_file.join("muster.db").exists());

    let flagged = operator.run(&["--config", &config, "migrate"]);
    assert_exit(&flagged, 0);
    assert!(operator.data_dir().join("muster.db").exists());
}

#[test]
fn every_subcommand_has_help_that_mentions_each_of_its_flags() {
    let operator = Operator::new();
    let global = [
        "--config",
        "--database-url",
        "--data-dir",
        "--bind",
        "--behind-tls",
        "--trusted-proxy",
        "--session-hours",
    ];
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[],
            &[
                "serve", "migrate", "demo", "import", "user", "audit", "backup", "bench",
            ],
        ),
        (&["serve"], &["--demo"]),
        (&["migrate"], &[]),
        (
            &["demo"],
            &["--seed", "--scale", "--serve", "province", "nation"],
        ),
        (&["import"], &["regions"]),
        (&["import", "regions"], &["FILE.csv", "line and column"]),
        (
            &["user", "add"],
            &[
                "--username",
                "--display-name",
                "--organization-id",
                "--roles",
                "--password-stdin",
            ],
        ),
        (&["user", "disable"], &["--username"]),
        (&["user", "enable"], &["--username"]),
        (&["audit", "verify"], &[]),
        (&["backup"], &["FILE", "pg_dump"]),
        (&["bench"], &["regions", "--quick", "--json"]),
    ];
    for (subcommand, mentions) in cases {
        let mut args = subcommand.to_vec();
        args.push("--help");
        let output = operator.run(&args);
        assert_exit(&output, 0);
        let help = stdout(&output);
        for flag in global.iter().chain(mentions.iter()) {
            assert!(
                help.contains(flag),
                "`muster {}` does not mention {flag}:\n{help}",
                args.join(" ")
            );
        }
    }
    // The test-only scale stays out of the help.
    let demo_help = stdout(&operator.run(&["demo", "--help"]));
    assert!(!demo_help.contains("tiny"), "{demo_help}");
}

#[cfg(unix)]
#[test]
fn serve_prints_its_address_and_the_setup_link_and_stops_on_ctrl_c() {
    use std::io::BufRead;

    let operator = Operator::new();
    let mut child = operator
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the muster binary runs");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    // Reading blocks until the server prints; if it dies instead, the lines end.
    for line in lines.by_ref() {
        let line = line.expect("a line of output");
        let done = line.starts_with("Press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let running = seen
        .iter()
        .find_map(|l| l.strip_prefix("Muster is running at http://"))
        .unwrap_or_else(|| panic!("no address printed: {seen:?}"));
    let port: u16 = running
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    assert_ne!(port, 0, "the bound port is printed, not the requested 0");
    assert!(
        seen.iter().any(|l| l.contains("/setup?token=")),
        "an empty database gets a setup link: {seen:?}"
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let status = child.wait().expect("muster exits");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        status.success(),
        "exit {status:?}, output after Ctrl-C: {rest:?}"
    );
    assert!(rest.iter().any(|l| l == "Muster stopped."), "{rest:?}");
}

#[test]
fn an_unknown_bench_is_refused_with_the_list_of_benches() {
    let operator = Operator::new();
    let output = operator.run(&["bench", "nonsense"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("regions"), "{}", stderr(&output));
}
