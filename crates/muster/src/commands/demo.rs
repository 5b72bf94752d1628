//! `muster demo`: synthetic regions, organizations and one user per role, in an empty
//! database, and a survey round that brings the demo's potential into the registry as it
//! comes in real life. Also used by `muster serve --demo`.

mod demands;
pub(crate) mod facilities;
mod requisition;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_domain::demo::potential::demo_potential;
use muster_domain::demo::survey::{
    ApprovalPass, DemoReport, DemoRoundPlan, ReportPlan, Review, SEND_BACK_COMMENT, Timing,
    plan_demo_round,
};
use muster_domain::demo::verification::{SampledRecord, plan_findings};
use muster_domain::demo::{DEMO_PASSWORD, DemoData, DemoScale, demo_data};
use muster_domain::organization::Roles;
use muster_domain::potential::RecordDraft;
use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv};
use muster_domain::survey::AssignmentKey;
use muster_domain::taxonomy::Taxonomy;
use muster_domain::verification::{SampleSize, Tolerance};
use muster_domain::{Actor, RegionLevel, RegionPath, Scope};
use muster_storage::{
    BaselineRow, BlobLimits, BlobStore, Database, FindingInput, NewOrganization, NewUser,
    OpenRound, RecordProvenance, SampleMethod, SampleRequest, StorageError, SubmissionSource, User,
};
use muster_web::password::{HashCost, hash_password_blocking};

use super::{CommandResult, command_line_actor, group_digits, open_database};
use crate::cli::DemoArgs;
use crate::config::Settings;
use crate::progress::Progress;
use crate::table::Table;

/// The seed `muster serve --demo` uses, the same as `muster demo`'s default.
pub const DEFAULT_SEED: u64 = 2026;

/// Organizations are created in transactions of this many, so the bar can move.
const ORGANIZATIONS_PER_TRANSACTION: usize = 2_000;

pub async fn run(settings: &Settings, args: &DemoArgs) -> CommandResult {
    let db = open_database(settings).await?;
    let regions = db.region_count().await?;
    if regions > 0 {
        db.close().await;
        bail!(
            "the database already has {} regions; demo data goes only into an empty database. \
             Choose another --data-dir (or --database-url), or run `muster serve --demo` to use what is there",
            group_digits(regions.unsigned_abs())
        );
    }
    let loaded = load(&db, &settings.files_dir, args.scale.into(), args.seed).await?;
    print!("{}", loaded.users_table());
    println!(
        "Loaded {} regions, {} organizations, {} users and {} potential records in {:.1} s. Every demo user's password is {DEMO_PASSWORD}.",
        group_digits(loaded.regions as u64),
        group_digits(loaded.organizations as u64),
        loaded.users.len(),
        group_digits(loaded.records as u64),
        loaded.seconds,
    );
    println!("{}", loaded.survey.summary_line());
    let facilities =
        facilities::load(&db, &settings.files_dir, args.scale.into(), args.seed).await?;
    println!("{}", facilities.summary_line());
    if args.serve {
        super::serve::serve(settings, db, true).await
    } else {
        db.close().await;
        Ok(ExitCode::SUCCESS)
    }
}

/// What was loaded, for the summary and the table of users.
#[derive(Debug)]
pub struct LoadedDemo {
    pub regions: usize,
    pub organizations: usize,
    pub users: Vec<LoadedUser>,
    /// Records in the registry: those of approved reports, plus, in a nation, the other
    /// provinces' records loaded as earlier years' registry.
    pub records: usize,
    pub survey: SurveySummary,
    pub seconds: f64,
}

/// What the demo's survey round and its verification came to, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveySummary {
    pub round_id: i64,
    pub title: String,
    pub assignments: u64,
    pub on_time: u64,
    pub late: u64,
    pub missing: u64,
    pub approved: u64,
    pub awaiting_review: u64,
    pub returned: u64,
    pub approved_records: usize,
    pub sample_id: i64,
    pub sample_size: usize,
    pub checked: u32,
    pub accurate: u32,
    /// Accurate out of checked, from 0 to 1.
    pub accuracy: f64,
    /// Findings that corrected a quantity or reopened a record.
    pub wrong: usize,
}

impl SurveySummary {
    /// One line for the terminal.
    pub fn summary_line(&self) -> String {
        format!(
            "Survey round {} \"{}\": {} assignments, {} on time, {} late, {} missing; {} approved, {} awaiting review, {} sent back; {} records approved into the registry. Verification sample {}: {} records, {} checked, {} wrong, {:.1} % accurate.",
            self.round_id,
            self.title,
            group_digits(self.assignments),
            group_digits(self.on_time),
            group_digits(self.late),
            group_digits(self.missing),
            group_digits(self.approved),
            group_digits(self.awaiting_review),
            group_digits(self.returned),
            group_digits(self.approved_records as u64),
            self.sample_id,
            group_digits(self.sample_size as u64),
            self.checked,
            self.wrong,
            self.accuracy * 100.0,
        )
    }
}

#[derive(Debug)]
pub struct LoadedUser {
    pub username: String,
    pub roles: String,
    pub organization: String,
    pub region: String,
}

impl LoadedDemo {
    pub fn users_table(&self) -> String {
        let mut table = Table::new(["username", "role", "organization", "region", "password"]);
        for user in &self.users {
            table.row([
                user.username.as_str(),
                user.roles.as_str(),
                user.organization.as_str(),
                user.region.as_str(),
                DEMO_PASSWORD,
            ]);
        }
        table.render()
    }
}

/// Loads the demo into an empty database: regions through the same import as a CSV file,
/// then organizations, then users sharing one password hash, then the survey round that
/// brings the potential into the registry and its on-site verification
/// (`run_survey_round`, whose findings carry photos stored under `files_dir`), then the
/// baselines. Deterministic in `seed` but for times (and,
/// on a machine too slow to submit the on-time reports within the round's few seconds,
/// which reports count as late).
pub async fn load(
    db: &Database,
    files_dir: &Path,
    scale: DemoScale,
    seed: u64,
) -> anyhow::Result<LoadedDemo> {
    let started = Instant::now();
    let actor = command_line_actor();
    let progress = Progress::spinner("generating the demo data");
    let demo =
        tokio::task::spawn_blocking(move || organizations_for_scale(demo_data(scale, seed), scale))
            .await
            .context("the demo generator stopped unexpectedly")?;
    let DemoData {
        regions,
        organizations,
        users,
    } = demo;
    let region_count = regions.len();
    // The round covers the first province: the demo's province, or a nation's first.
    let round_region = regions
        .first()
        .map(|r| (r.code.clone(), r.name.clone()))
        .context("the demo has no regions (a bug)")?;
    let (potential, plan) = {
        let regions = regions.clone();
        let organizations = organizations.clone();
        let round_path = RegionPath::of_code(&round_region.0);
        tokio::task::spawn_blocking(move || {
            let taxonomy = Taxonomy::default_taxonomy();
            let potential = demo_potential(&regions, &taxonomy, seed);
            let plan = plan_demo_round(
                &round_path,
                &regions,
                &organizations,
                &potential.records,
                &taxonomy,
                seed,
            );
            (potential, plan)
        })
        .await
        .context("the demo generator stopped unexpectedly")?
    };

    progress.phase(format!(
        "importing {} demo regions",
        group_digits(region_count as u64)
    ));
    let parsed = ParsedRegionCsv {
        rows: regions,
        layout: ColumnLayout::default(),
    };
    let source = format!("demo data ({scale:?} scale, seed {seed})");
    db.import_regions(&actor, parsed, &source)
        .await
        .map_err(|e| match e {
            StorageError::ImportRejected(problems) => {
                anyhow::anyhow!("the generated demo regions were refused (a bug): {problems}")
            }
            other => anyhow::Error::new(other).context("cannot store the demo regions"),
        })?;
    progress.finish();

    let new_organizations: Vec<NewOrganization> = organizations
        .iter()
        .map(|org| NewOrganization {
            name: org.name.clone(),
            kind: org.kind,
            side: org.side,
            region_code: Some(org.region_code.as_str().to_owned()),
        })
        .collect();
    let progress = Progress::counter(new_organizations.len() as u64, "organizations");
    let mut organization_ids = Vec::with_capacity(new_organizations.len());
    for chunk in new_organizations.chunks(ORGANIZATIONS_PER_TRANSACTION) {
        let created = db
            .create_organizations(&actor, chunk)
            .await
            .context("cannot store the demo organizations")?;
        organization_ids.extend(created.iter().map(|org| org.id));
        progress.bar().inc(chunk.len() as u64);
    }
    progress.finish();

    let progress = Progress::spinner("hashing the demo password and adding the demo users");
    let password_hash = hash_password_blocking(DEMO_PASSWORD.to_owned(), HashCost::Production)
        .await
        .context("cannot hash the demo password")?;
    let mut loaded_users = Vec::with_capacity(users.len());
    let mut verifier: Option<User> = None;
    for user in users {
        let organization_id = *organization_ids
            .get(user.organization)
            .context("a demo user points at an organization that was not created (a bug)")?;
        let roles = Roles::new(user.roles.clone()).context("a demo user without roles (a bug)")?;
        let created = db
            .create_user(
                &actor,
                NewUser {
                    username: user.username.clone(),
                    display_name: user.display_name.clone(),
                    password_hash: password_hash.clone(),
                    organization_id,
                    roles,
                },
            )
            .await
            .with_context(|| format!("cannot add the demo user {}", user.username))?;
        let region = match &created.region_code {
            Some(code) => match db.region(&Scope::everything(), code).await {
                Ok(region) => format!("{code} {}", region.name),
                Err(_) => code.clone(),
            },
            None => "(national)".to_owned(),
        };
        loaded_users.push(LoadedUser {
            username: created.username.clone(),
            roles: created.roles.clone(),
            organization: created.organization_name.clone(),
            region,
        });
        if created.username == VERIFIER_USERNAME {
            verifier = Some(created);
        }
    }
    progress.finish();
    let verifier = verifier.context("the demo has no user to verify its sample (a bug)")?;

    let potential_records = potential.records;
    // A nation's other provinces are last year's registry, loaded as it stands.
    let mut records = 0;
    if !plan.outside_round.is_empty() {
        let progress = Progress::spinner(format!(
            "adding {} potential records of the other provinces",
            group_digits(plan.outside_round.len() as u64)
        ));
        let drafts: Vec<(u32, RecordDraft)> = plan
            .outside_round
            .iter()
            .filter_map(|&i| potential_records.get(i).cloned())
            .enumerate()
            .map(|(i, draft)| (u32::try_from(i + 1).unwrap_or(u32::MAX), draft))
            .collect();
        records += drafts.len();
        db.insert_records(&actor, drafts, RecordProvenance::default(), &source)
            .await
            .context("cannot store the demo potential records")?;
        progress.finish();
    }

    // Last year's registry of the round's region: every third holding of each approved report
    // (its first among them, so about two in five in all), as an earlier load left them, so that the round renews them (their old figure
    // becomes `previous_quantity`, the year-on-year factor of risk-based sampling) instead of
    // finding the registry empty. They are the same records after the round, not more.
    let last_year = last_years_records(&plan, &potential_records);
    if !last_year.is_empty() {
        let progress = Progress::spinner(format!(
            "adding last year's {} records of the round's region",
            group_digits(last_year.len() as u64)
        ));
        db.insert_records(&actor, last_year, RecordProvenance::default(), &source)
            .await
            .context("cannot store last year's demo records")?;
        progress.finish();
    }

    let survey = run_survey_round(
        db,
        &actor,
        &verifier.actor(),
        SurveyInputs {
            region_code: round_region.0.as_str(),
            region_name: &round_region.1,
            plan: &plan,
            records: &potential_records,
            organization_ids: &organization_ids,
            files_dir,
            seed,
        },
    )
    .await?;
    records += survey.approved_records;

    let progress = Progress::spinner(format!(
        "setting {} baselines",
        group_digits(potential.baselines.len() as u64)
    ));
    db.set_baselines(
        &actor,
        potential
            .baselines
            .into_iter()
            .map(|(region_code, type_code, required_quantity)| BaselineRow {
                region_code,
                type_code,
                required_quantity,
            })
            .collect(),
    )
    .await
    .context("cannot store the demo baselines")?;
    progress.finish();
    let progress = Progress::spinner("requisitioning and running a sustainment scenario");
    let requisition = requisition::load(db, seed).await?;
    progress.finish();
    if let Some(requisition) = &requisition {
        println!("{}", requisition.summary_line());
    }
    let demands = demands::load(db).await?;
    if let Some(demands) = &demands {
        println!("{}", demands.summary_line());
    }
    Ok(LoadedDemo {
        regions: region_count,
        organizations: organization_ids.len(),
        users: loaded_users,
        records,
        survey,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every third record of each report the round will approve, with the figure it had a year
/// before: half as many for some, one fewer (or more) for the others.
fn last_years_records(plan: &DemoRoundPlan, records: &[RecordDraft]) -> Vec<(u32, RecordDraft)> {
    plan.reports
        .iter()
        .filter(|r| {
            matches!(
                r.plan,
                ReportPlan::Submitted {
                    review: Review::Approved(_),
                    ..
                }
            )
        })
        .flat_map(|r| r.records.iter().step_by(3).enumerate())
        .filter_map(|(n, &i)| {
            let mut draft = records.get(i)?.clone();
            let q = draft.quantity;
            draft.quantity = if n % 2 == 0 {
                (q / 2.0).floor()
            } else if q >= 2.0 {
                q - 1.0
            } else {
                q + 1.0
            };
            Some(draft)
        })
        .enumerate()
        .map(|(row, draft)| (u32::try_from(row + 1).unwrap_or(u32::MAX), draft))
        .collect()
}

/// The demo user who verifies the sample: the province's administrator, the only demo user
/// whose region covers the whole round (a verifier's region must contain the sample's).
const VERIFIER_USERNAME: &str = "admin";

/// Records drawn per county for on-site verification.
const SAMPLE_PER_COUNTY: u32 = 2;

/// Photos the demo verifier took, shared round the findings.
const VERIFICATION_PHOTOS: usize = 6;

/// How long the round stays open for its on-time reports: a floor, and a share per report
/// that comes on time, so that a slow machine still submits them all before the deadline.
/// The approvals that do not wait for late reports run in this time too.
const DEADLINE_FLOOR: Duration = Duration::from_secs(1);
const DEADLINE_PER_ON_TIME_REPORT: Duration = Duration::from_millis(2);

/// What the survey round needs besides the database and the actors.
struct SurveyInputs<'a> {
    region_code: &'a str,
    region_name: &'a str,
    plan: &'a DemoRoundPlan,
    records: &'a [RecordDraft],
    /// The stored id of each demo organization, by the demo's index.
    organization_ids: &'a [i64],
    /// The attachment store's directory, for the findings' photos.
    files_dir: &'a Path,
    seed: u64,
}

/// The survey round, as the plan says it goes: the province office opens it; the reports
/// that come on time are submitted, corrected or sent back, and approved bottom-up where
/// nothing below them is late, while the round waits for its deadline; then the late
/// reports come and the rest is approved. Then a sample is drawn, dealt to the verifier and
/// mostly checked. The command line submits and reviews for every office and unit (the demo
/// has one user per role, not one per region); the verifier records the findings in person.
async fn run_survey_round(
    db: &Database,
    actor: &Actor,
    verifier: &Actor,
    inputs: SurveyInputs<'_>,
) -> anyhow::Result<SurveySummary> {
    let SurveyInputs {
        region_code,
        region_name,
        plan,
        records,
        organization_ids,
        files_dir,
        seed,
    } = inputs;
    let planned = plan.counts();
    let type_codes: BTreeSet<String> = records.iter().map(|r| r.type_code.clone()).collect();
    let budget = DEADLINE_FLOOR
        + DEADLINE_PER_ON_TIME_REPORT * u32::try_from(planned.on_time).unwrap_or(u32::MAX);
    let deadline =
        muster_storage::now().plus_millis(i64::try_from(budget.as_millis()).unwrap_or(i64::MAX));
    let (round, _) = db
        .open_round(
            actor,
            OpenRound {
                title: format!("{region_name}国防动员潜力统计调查（演示）"),
                region_code: Some(region_code.to_owned()),
                type_codes,
                deadline,
            },
        )
        .await
        .context("cannot open the demo survey round")?;
    let stored = db
        .round_assignments(&Scope::everything(), round.id, None)
        .await
        .context("cannot read the demo round's assignments")?;
    let assignment_ids: HashMap<AssignmentKey, i64> = stored
        .iter()
        .filter_map(|a| {
            Some((
                AssignmentKey {
                    region_path: RegionPath::parse(&a.region_path)?,
                    organization_id: a.organization_id,
                },
                a.id,
            ))
        })
        .collect();
    let id_of = |report: &DemoReport| -> anyhow::Result<i64> {
        let organization_id = match report.key.organization_id {
            Some(index) => Some(
                usize::try_from(index)
                    .ok()
                    .and_then(|i| organization_ids.get(i).copied())
                    .context("a demo report names an organization that was not created (a bug)")?,
            ),
            None => None,
        };
        let key = AssignmentKey {
            region_path: report.key.region_path.clone(),
            organization_id,
        };
        assignment_ids.get(&key).copied().with_context(|| {
            format!(
                "the demo round has no assignment for {} (a bug)",
                key.region_path.as_str()
            )
        })
    };

    let progress = Progress::counter(
        (planned.on_time + planned.late + planned.approved) as u64,
        "survey round: reports and reviews",
    );
    for report in &plan.reports {
        let ReportPlan::Submitted {
            timing: Timing::OnTime,
            review,
            ..
        } = report.plan
        else {
            continue;
        };
        let id = id_of(report)?;
        submit(db, actor, id, report.versions(records)).await?;
        if review == Review::SentBack {
            db.send_back_assignment(actor, id, SEND_BACK_COMMENT)
                .await
                .with_context(|| format!("cannot send back the demo report of assignment {id}"))?;
        }
        progress.bar().inc(1);
    }
    approve(
        db,
        actor,
        plan,
        ApprovalPass::BeforeDeadline,
        &id_of,
        &progress,
    )
    .await?;

    // The late reports come once the deadline has passed.
    let now = muster_storage::now();
    if now <= deadline {
        let wait = u64::try_from(deadline.as_millis() - now.as_millis() + 50).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    for report in &plan.reports {
        if report.timing() == Some(Timing::Late) {
            submit(db, actor, id_of(report)?, report.versions(records)).await?;
            progress.bar().inc(1);
        }
    }
    approve(
        db,
        actor,
        plan,
        ApprovalPass::AfterLateReports,
        &id_of,
        &progress,
    )
    .await?;
    progress.finish();

    let progress = Progress::spinner("drawing and checking the verification sample");
    let sample = db
        .draw_sample(
            actor,
            &SampleRequest {
                region_code: Some(region_code.to_owned()),
                round_id: Some(round.id),
                method: SampleMethod::Stratified(SampleSize::Count(SAMPLE_PER_COUNTY)),
                // 53 bits, as a seed typed into the draw form would be.
                seed: Some(seed & ((1 << 53) - 1)),
                tolerance: Tolerance::default(),
            },
        )
        .await
        .context("cannot draw the demo verification sample")?;
    let verifier_id = verifier
        .user_id()
        .context("the demo verifier has no user id (a bug)")?;
    db.assign_sample(actor, sample.id, &[verifier_id])
        .await
        .context("cannot assign the demo verification sample")?;
    let items = db
        .verification_items(&Scope::everything(), sample.id)
        .await
        .context("cannot read the demo verification sample")?;
    let taxonomy = Taxonomy::default_taxonomy();
    let sampled: Vec<SampledRecord> = items
        .iter()
        .map(|item| {
            let resource_type = taxonomy.resource_type(&item.type_code);
            SampledRecord {
                record_id: item.record_id,
                quantity: item.current_quantity,
                whole_units: resource_type.is_some_and(|t| t.whole_units),
                max_quantity: resource_type.map_or(f64::INFINITY, |t| t.max_quantity),
            }
        })
        .collect();
    let photos = verification_photos(files_dir, verifier_id, seed).await?;
    let mut wrong = 0;
    for (index, (record_id, finding)) in plan_findings(&sampled, seed).into_iter().enumerate() {
        let Some(quantity_seen) = finding.quantity_seen() else {
            continue;
        };
        let outcome = db
            .record_finding(
                verifier,
                sample.id,
                record_id,
                FindingInput {
                    quantity_seen,
                    location_right: finding.location_right(),
                    type_right: true,
                    notes: finding.notes().to_owned(),
                    photos: vec![photos[index % photos.len()].clone()],
                },
            )
            .await
            .with_context(|| format!("cannot record the demo finding for record {record_id}"))?;
        wrong += usize::from(outcome.reopened || outcome.corrected.is_some());
    }
    progress.finish();

    let everything = Scope::everything();
    let dashboard = db
        .round_dashboard(&everything, round.id, Some(region_code))
        .await
        .context("cannot read the demo round's dashboard")?;
    let accuracy = db
        .verification_accuracy(&everything, Some(region_code), Some(sample.id))
        .await
        .context("cannot read the demo sample's accuracy")?
        .total
        .figure;
    let completeness = dashboard.completeness;
    Ok(SurveySummary {
        round_id: round.id,
        title: round.title,
        assignments: completeness.assigned,
        on_time: completeness.on_time,
        late: completeness.late,
        missing: completeness.missing,
        approved: completeness.approved,
        awaiting_review: completeness.awaiting_review,
        returned: completeness.returned,
        approved_records: planned.approved_records,
        sample_id: sample.id,
        sample_size: items.len(),
        checked: accuracy.checked,
        accurate: accuracy.accurate,
        accuracy: accuracy.rate,
        wrong,
    })
}

/// Photos of the sites the demo verifier visited, stored as the verifier's uploads (the
/// findings name them, as a phone's would).
async fn verification_photos(
    files_dir: &Path,
    verifier_id: i64,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let store = BlobStore::new(files_dir.to_path_buf(), BlobLimits::default());
    let mut photos = Vec::with_capacity(VERIFICATION_PHOTOS);
    for index in 0..VERIFICATION_PHOTOS {
        // Other seeds than the facilities' inspection photos, so the pictures differ.
        let photo_seed = seed.wrapping_add(1_000);
        let bytes = tokio::task::spawn_blocking(move || facilities::photo(photo_seed, index))
            .await
            .context("the photo generator stopped")??;
        let stored = facilities::store_photo(&store, verifier_id, bytes, index).await?;
        photos.push(stored.sha256.as_str().to_owned());
    }
    Ok(photos)
}

/// Submits a report's versions in order.
async fn submit(
    db: &Database,
    actor: &Actor,
    assignment_id: i64,
    versions: Vec<Vec<(u32, RecordDraft)>>,
) -> anyhow::Result<()> {
    for rows in versions {
        db.submit_survey_rows(actor, assignment_id, rows, SubmissionSource::Form)
            .await
            .with_context(|| {
                format!("cannot submit the demo report of assignment {assignment_id}")
            })?;
    }
    Ok(())
}

/// Approves a pass's reports, children before parents.
async fn approve(
    db: &Database,
    actor: &Actor,
    plan: &DemoRoundPlan,
    pass: ApprovalPass,
    id_of: &impl Fn(&DemoReport) -> anyhow::Result<i64>,
    progress: &Progress,
) -> anyhow::Result<()> {
    for report in plan.approvals(pass) {
        let id = id_of(report)?;
        db.approve_assignment(actor, id)
            .await
            .with_context(|| format!("cannot approve the demo report of assignment {id}"))?;
        progress.bar().inc(1);
    }
    Ok(())
}

/// At nation scale a contact point per village would be a million organizations that no
/// demo needs, so only the organizations down to county level are kept, plus those the demo
/// users belong to. Smaller scales keep everything. Users' organization indices are
/// renumbered to match.
fn organizations_for_scale(mut demo: DemoData, scale: DemoScale) -> DemoData {
    if scale != DemoScale::Nation {
        return demo;
    }
    let needed: Vec<usize> = demo.users.iter().map(|u| u.organization).collect();
    let mut renumbered: HashMap<usize, usize> = HashMap::new();
    let mut kept = Vec::new();
    for (index, organization) in std::mem::take(&mut demo.organizations)
        .into_iter()
        .enumerate()
    {
        let level = organization.region_code.implied_level();
        if level.depth() <= RegionLevel::County.depth() || needed.contains(&index) {
            renumbered.insert(index, kept.len());
            kept.push(organization);
        }
    }
    for user in &mut demo.users {
        user.organization = renumbered.get(&user.organization).copied().unwrap_or(0);
    }
    demo.organizations = kept;
    demo
}

/// The sign-in line printed when the server runs with demo data.
pub fn sign_in_hint() -> String {
    let usernames: Vec<String> = demo_data(DemoScale::Tiny, DEFAULT_SEED)
        .users
        .into_iter()
        .map(|u| u.username)
        .collect();
    let (first, others) = usernames
        .split_first()
        .map_or(("admin", &[][..]), |(f, o)| (f.as_str(), o));
    format!(
        "Sign in as {first} / {DEMO_PASSWORD} (other demo users: {}; same password)",
        others.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_nation_organizations_keeps_every_users_organization() {
        // Tiny stands in for the nation: the trimming rule is the same at any size.
        let demo = demo_data(DemoScale::Tiny, 1);
        let before: Vec<(String, String)> = demo
            .users
            .iter()
            .map(|u| {
                (
                    u.username.clone(),
                    demo.organizations[u.organization].name.clone(),
                )
            })
            .collect();
        let trimmed = organizations_for_scale(demo.clone(), DemoScale::Nation);
        assert!(trimmed.organizations.len() < demo.organizations.len());
        for (username, organization) in before {
            let user = trimmed
                .users
                .iter()
                .find(|u| u.username == username)
                .expect("user kept");
            assert_eq!(trimmed.organizations[user.organization].name, organization);
        }
        assert!(trimmed.organizations.iter().all(|o| {
            o.region_code.implied_level().depth() <= RegionLevel::County.depth()
                || trimmed
                    .users
                    .iter()
                    .any(|u| trimmed.organizations[u.organization].name == o.name)
        }));
    }

    #[test]
    fn the_sign_in_hint_names_the_admin_and_the_other_users() {
        assert_eq!(
            sign_in_hint(),
            "Sign in as admin / muster-demo (other demo users: office, liaison, member, workstation, grid, manager, viewer; same password)"
        );
    }
}
