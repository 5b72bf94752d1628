//! `muster demo`: synthetic regions, organizations and one user per role, in an empty
//! database. Also used by `muster serve --demo`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use muster_domain::demo::potential::demo_potential;
use muster_domain::demo::{DEMO_PASSWORD, DemoData, DemoScale, demo_data};
use muster_domain::organization::Roles;
use muster_domain::potential::RecordDraft;
use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv};
use muster_domain::taxonomy::Taxonomy;
use muster_domain::{RegionLevel, Scope};
use muster_storage::{
    BaselineRow, Database, NewOrganization, NewUser, RecordProvenance, StorageError,
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
    let loaded = load(&db, args.scale.into(), args.seed).await?;
    print!("{}", loaded.users_table());
    println!(
        "Loaded {} regions, {} organizations, {} users and {} potential records in {:.1} s. Every demo user's password is {DEMO_PASSWORD}.",
        group_digits(loaded.regions as u64),
        group_digits(loaded.organizations as u64),
        loaded.users.len(),
        group_digits(loaded.records as u64),
        loaded.seconds,
    );
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
    pub records: usize,
    pub seconds: f64,
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
/// then organizations, then users sharing one password hash.
pub async fn load(db: &Database, scale: DemoScale, seed: u64) -> anyhow::Result<LoadedDemo> {
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
    let potential = {
        let regions = regions.clone();
        tokio::task::spawn_blocking(move || {
            demo_potential(&regions, &Taxonomy::default_taxonomy(), seed)
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
            username: created.username,
            roles: created.roles,
            organization: created.organization_name,
            region,
        });
    }
    progress.finish();

    let progress = Progress::spinner(format!(
        "adding {} potential records and {} baselines",
        group_digits(potential.records.len() as u64),
        group_digits(potential.baselines.len() as u64)
    ));
    let records = potential.records.len();
    let drafts: Vec<(u32, RecordDraft)> = potential
        .records
        .into_iter()
        .enumerate()
        .map(|(i, draft)| (u32::try_from(i + 1).unwrap_or(u32::MAX), draft))
        .collect();
    db.insert_records(&actor, drafts, RecordProvenance::default(), &source)
        .await
        .context("cannot store the demo potential records")?;
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
    Ok(LoadedDemo {
        regions: region_count,
        organizations: organization_ids.len(),
        users: loaded_users,
        records,
        seconds: started.elapsed().as_secs_f64(),
    })
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
            "Sign in as admin / muster-demo (other demo users: office, liaison, member, workstation, grid, viewer; same password)"
        );
    }
}
