//! Storage stories, each run against SQLite and PostgreSQL.

use muster_domain::demo::{DemoScale, demo_regions};
use muster_domain::organization::Roles;
use muster_domain::region_import::{
    ColumnLayout, ParsedRegionCsv, ProblemKind, RegionRow, parse_region_csv,
};
use muster_domain::{Actor, DataClass, OrganizationKind, RegionCode, RegionPath, Scope, Side};
use muster_storage::testing::{
    constraint_definitions, foreign_key_columns, index_definitions, raw_execute,
};
use muster_storage::{
    AuditVerification, Database, NewOrganization, NewUser, RegionListFilter, StorageError,
    on_both_databases,
};

fn cli() -> Actor {
    Actor::command_line("test")
}

async fn import_tiny(db: &Database) {
    muster_storage::testing::import_tiny_demo_regions(db).await;
}

/// The tiny demo regions imported, and city 3401 as the reader of every region sees it.
async fn tiny_city(db: &Database) -> muster_storage::RegionView {
    import_tiny(db).await;
    db.region_view(&Scope::everything(), Some("3401"))
        .await
        .expect("city")
}

/// A potential CSV of `rows` tents held by "`holder` 0", "`holder` 1"… in region `code`.
fn tents_csv(rows: usize, holder: &str, code: &str) -> String {
    let mut text = String::from("type_code,quantity,holder_name,region_code\n");
    for i in 0..rows {
        text.push_str(&format!(
            "CAD.MAT.TENT_12,{},{holder} {i},{code}\n",
            i % 90 + 1
        ));
    }
    text
}

async fn intact(db: &Database) -> i64 {
    match db.verify_audit_chain(|_, _| {}).await.expect("verify runs") {
        AuditVerification::Intact { entries } => entries,
        AuditVerification::Broken(b) => panic!("chain broken: {b}"),
    }
}

fn county_scope(path: &str) -> Scope {
    Scope::new(RegionPath::parse(path).expect("path"), vec![])
}

on_both_databases!(
    region_import_drill_down_and_scope,
    region_import_drill_down_and_scope_story
);
async fn region_import_drill_down_and_scope_story(db: Database) {
    import_tiny(&db).await;
    assert_eq!(db.region_count().await.expect("count"), 79);

    let everything = Scope::everything();
    let top = db.region_view(&everything, None).await.expect("top view");
    assert_eq!(
        top.children
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>(),
        vec!["34"]
    );
    assert_eq!(top.children[0].descendant_count, 78);

    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city view");
    assert_eq!(
        city.breadcrumb
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>(),
        vec!["34"]
    );
    assert!(
        city.children
            .iter()
            .all(|c| c.parent_code.as_deref() == Some("3401"))
    );
    let county = &city.children[0];

    // A county user sees its subtree and nothing else, whatever they ask for.
    let scope = county_scope(&county.path);
    let roots = db.scope_roots(&scope).await.expect("roots");
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].code, county.code);
    let listed = db
        .regions(
            &scope,
            &RegionListFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len() as i64, county.descendant_count + 1);
    assert!(listed.iter().all(|r| r.path.starts_with(&county.path)));
    assert!(matches!(
        db.region(&scope, "34").await,
        Err(StorageError::NotFound { .. })
    ));
    let view = db
        .region_view(&scope, Some(&listed.last().expect("a village").code))
        .await
        .expect("village view");
    assert!(
        view.breadcrumb
            .iter()
            .all(|r| r.path.starts_with(&county.path)),
        "breadcrumb stops at the scope"
    );

    // Filters: level and name.
    let villages = db
        .regions(
            &everything,
            &RegionListFilter {
                level: Some(muster_domain::RegionLevel::Village),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("villages");
    assert_eq!(villages.len(), 60);
    let name = &villages[0].name;
    let by_name = db
        .regions(
            &everything,
            &RegionListFilter {
                name_contains: Some(name.clone()),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("by name");
    assert!(by_name.iter().any(|r| &r.name == name));

    // A second import under a stored township extends the tree and its counts.
    let township = db
        .regions(
            &everything,
            &RegionListFilter {
                level: Some(muster_domain::RegionLevel::Township),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .expect("township")[0]
        .clone();
    let csv = format!(
        "code,name,parent_code\n{}999,New village,{}\n",
        township.code, township.code
    );
    db.import_regions(
        &cli(),
        parse_region_csv(csv.as_bytes()).expect("parses"),
        "one village",
    )
    .await
    .expect("imports");
    let township_after = db
        .region(&everything, &township.code)
        .await
        .expect("township");
    assert_eq!(township_after.child_count, township.child_count + 1);
    assert_eq!(
        db.region(&everything, "34")
            .await
            .expect("province")
            .descendant_count,
        79
    );
    assert_eq!(intact(&db).await, 2);
}

on_both_databases!(
    a_bad_import_stores_nothing,
    a_bad_import_stores_nothing_story
);
async fn a_bad_import_stores_nothing_story(db: Database) {
    import_tiny(&db).await;
    let before = db.region_count().await.expect("count");
    // Line 2 is fine on its own; line 3 duplicates a stored code; line 4 has an unknown parent.
    let csv = "code,name,parent_code\n3409,Fine,34\n3401,Again,34\n340901,Orphan,3408\n";
    let error = db
        .import_regions(
            &cli(),
            parse_region_csv(csv.as_bytes()).expect("parses"),
            "bad",
        )
        .await
        .expect_err("rejected");
    let StorageError::ImportRejected(problems) = error else {
        panic!("expected problems, got {error:?}")
    };
    let kinds: Vec<(u64, ProblemKind)> = problems.0.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (3, ProblemKind::DuplicateCode),
            (4, ProblemKind::UnknownParent)
        ]
    );
    assert_eq!(
        db.region_count().await.expect("count"),
        before,
        "nothing stored"
    );
    assert!(matches!(
        db.region(&Scope::everything(), "3409").await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(
        intact(&db).await,
        1,
        "a rejected import writes no audit entry"
    );
}

on_both_databases!(
    organizations_and_users_respect_scope_and_roles,
    organizations_and_users_story
);
async fn organizations_and_users_story(db: Database) {
    import_tiny(&db).await;
    let admin_office = db
        .create_organization(
            &cli(),
            NewOrganization {
                name: "Province office".into(),
                kind: OrganizationKind::MobilizationOffice,
                side: Side::Civil,
                region_code: Some("3401".into()),
            },
        )
        .await
        .expect("org");
    assert_eq!(admin_office.region_path, "/34/3401/");
    let admin = db
        .create_user(
            &cli(),
            NewUser {
                username: "city-admin".into(),
                display_name: "City admin".into(),
                password_hash: "x".into(),
                organization_id: admin_office.id,
                roles: Roles::parse_list("administrator").expect("roles"),
            },
        )
        .await
        .expect("user");
    let city_admin = admin.actor();

    // Inside the city: allowed. In the other city: refused as out of scope.
    let inside = NewOrganization {
        name: "County liaison".into(),
        kind: OrganizationKind::MilitaryLiaison,
        side: Side::Military,
        region_code: Some("340101".into()),
    };
    db.create_organization(&city_admin, inside)
        .await
        .expect("inside scope");
    let outside = NewOrganization {
        name: "Elsewhere".into(),
        kind: OrganizationKind::MemberUnit,
        side: Side::Civil,
        region_code: Some("3402".into()),
    };
    assert!(matches!(
        db.create_organization(&city_admin, outside).await,
        Err(StorageError::OutOfScope { .. })
    ));
    let national = NewOrganization {
        name: "National".into(),
        kind: OrganizationKind::MobilizationOffice,
        side: Side::Civil,
        region_code: None,
    };
    assert!(matches!(
        db.create_organization(&city_admin, national).await,
        Err(StorageError::OutOfScope { .. })
    ));

    // A viewer may not write at all.
    let viewer = db
        .create_user(
            &city_admin,
            NewUser {
                username: "viewer".into(),
                display_name: "Viewer".into(),
                password_hash: "x".into(),
                organization_id: admin_office.id,
                roles: Roles::parse_list("viewer").expect("roles"),
            },
        )
        .await
        .expect("viewer");
    let again = NewOrganization {
        name: "X".into(),
        kind: OrganizationKind::MemberUnit,
        side: Side::Civil,
        region_code: Some("3401".into()),
    };
    assert!(matches!(
        db.create_organization(&viewer.actor(), again).await,
        Err(StorageError::Forbidden(_))
    ));

    // Usernames are unique, and the conflict is named.
    let duplicate = NewUser {
        username: "viewer".into(),
        display_name: "Again".into(),
        password_hash: "x".into(),
        organization_id: admin_office.id,
        roles: Roles::parse_list("viewer").expect("roles"),
    };
    match db.create_user(&cli(), duplicate).await {
        Err(StorageError::Conflict {
            field: "username",
            message_zh: Some(zh),
            ..
        }) if zh == "用户名 viewer 已被使用" => {}
        other => panic!("expected a username conflict, got {other:?}"),
    }

    // Reads are scoped: the city admin sees the city's organizations and users only.
    let other_city = db
        .create_organization(
            &cli(),
            NewOrganization {
                name: "Other city office".into(),
                kind: OrganizationKind::MobilizationOffice,
                side: Side::Civil,
                region_code: Some("3402".into()),
            },
        )
        .await
        .expect("org");
    let seen = db
        .organizations(city_admin.scope(), None, 1000, 0)
        .await
        .expect("orgs");
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|o| o.region_path.starts_with("/34/3401/")));
    assert!(matches!(
        db.organization(city_admin.scope(), other_city.id).await,
        Err(StorageError::NotFound { .. })
    ));
    let users = db.users(city_admin.scope(), 1000, 0).await.expect("users");
    assert_eq!(
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["city-admin", "viewer"]
    );
    // One import, three organizations, two users.
    assert_eq!(intact(&db).await, 1 + 3 + 2);
}

on_both_databases!(
    the_audit_chain_names_the_first_tampered_entry,
    audit_tamper_story
);
async fn audit_tamper_story(db: Database) {
    import_tiny(&db).await;
    for i in 0..4 {
        let org = NewOrganization {
            name: format!("Office {i}"),
            kind: OrganizationKind::MemberUnit,
            side: Side::Civil,
            region_code: Some("34".into()),
        };
        db.create_organization(&cli(), org).await.expect("org");
    }
    assert_eq!(intact(&db).await, 5);

    // The log refuses changes while its guard stands.
    assert!(
        raw_execute(&db, "UPDATE audit_log SET actor = 'x' WHERE seq = 3")
            .await
            .is_err()
    );
    assert!(
        raw_execute(&db, "DELETE FROM audit_log WHERE seq = 3")
            .await
            .is_err()
    );

    // An attacker with the database drops the guard and edits entry 3.
    let drop_guard = match db.backend() {
        muster_storage::Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        muster_storage::Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log;",
    };
    raw_execute(&db, drop_guard).await.expect("drop the guard");
    raw_execute(
        &db,
        "UPDATE audit_log SET after = '{\"name\":\"forged\"}' WHERE seq = 3",
    )
    .await
    .expect("tamper");
    let verdict = db.verify_audit_chain(|_, _| {}).await.expect("verify");
    assert_eq!(
        verdict,
        AuditVerification::Broken(muster_domain::audit::ChainBreak::Altered { seq: 3 })
    );

    raw_execute(&db, "DELETE FROM audit_log WHERE seq = 3")
        .await
        .expect("remove");
    let verdict = db.verify_audit_chain(|_, _| {}).await.expect("verify");
    assert_eq!(
        verdict,
        AuditVerification::Broken(muster_domain::audit::ChainBreak::Removed {
            expected: 3,
            found: 4
        })
    );
}

on_both_databases!(
    concurrent_writers_never_fork_the_chain,
    concurrent_writers_story
);
async fn concurrent_writers_story(db: Database) {
    import_tiny(&db).await;
    let writers = (0..24).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let org = NewOrganization {
                name: format!("Unit {i}"),
                kind: OrganizationKind::MemberUnit,
                side: Side::Civil,
                region_code: Some("3401".into()),
            };
            db.create_organization(&cli(), org).await.expect("org")
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer finished");
    }
    assert_eq!(intact(&db).await, 25);
    // Read back a few at a time, from each batch's last entry, the log is the same as read
    // at once: every entry once, newest first.
    let whole: Vec<i64> = db
        .audit_entries_read_by(&cli(), 1000)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(whole.len(), 25);
    let mut batched = Vec::new();
    let mut before = None;
    loop {
        let batch = db
            .audit_entries_read_by_before(&cli(), before, 7)
            .await
            .expect("a batch");
        before = batch.last().map(|e| e.seq);
        batched.extend(batch.iter().map(|e| e.seq));
        if batch.len() < 7 {
            break;
        }
    }
    assert_eq!(batched, whole);
}

on_both_databases!(sessions_tokens_and_setup, sessions_tokens_and_setup_story);
async fn sessions_tokens_and_setup_story(db: Database) {
    db.set_setup_token("hash-of-token")
        .await
        .expect("setup token");
    let admin = NewUser {
        username: "first".into(),
        display_name: "First admin".into(),
        password_hash: "x".into(),
        organization_id: 0,
        roles: Roles::parse_list("administrator").expect("roles"),
    };
    assert!(matches!(
        db.bootstrap_administrator("wrong", "National office", admin.clone())
            .await,
        Err(StorageError::Forbidden(_))
    ));
    // A refused name leaves the token valid and stores nothing, not even the office.
    assert!(matches!(
        db.bootstrap_administrator("hash-of-token", "  ", admin.clone())
            .await,
        Err(StorageError::Refused { field: "name", .. })
    ));
    let mut misnamed = admin.clone();
    misnamed.username = "x".into();
    assert!(matches!(
        db.bootstrap_administrator("hash-of-token", "National office", misnamed)
            .await,
        Err(StorageError::Refused {
            field: "username",
            ..
        })
    ));
    assert_eq!(db.user_count().await.expect("count"), 0);
    assert!(
        db.organizations(&Scope::everything(), None, 10, 0)
            .await
            .expect("organizations")
            .is_empty(),
        "a refused setup stores no office"
    );
    let user = db
        .bootstrap_administrator("hash-of-token", "National office", admin.clone())
        .await
        .expect("bootstrap");
    assert_eq!(user.region_path, "/");
    assert!(
        db.bootstrap_administrator("hash-of-token", "Again", admin)
            .await
            .is_err(),
        "a setup token works once"
    );

    let now = muster_storage::now();
    db.create_session(&user, "session-hash", "csrf", now.plus_millis(60_000))
        .await
        .expect("session");
    assert_eq!(
        db.session("session-hash", now)
            .await
            .expect("read")
            .map(|s| s.user_id),
        Some(user.id)
    );
    assert_eq!(
        db.session("session-hash", now.plus_millis(61_000))
            .await
            .expect("read"),
        None,
        "expired"
    );
    db.end_session(&user, "session-hash")
        .await
        .expect("sign out");
    assert_eq!(db.session("session-hash", now).await.expect("read"), None);

    // Sign-ins are their user's own: a colleague who does not administer reads only theirs
    // in the audit log; the administrator reads everyone's.
    let colleague = db
        .create_user(
            &user.actor(),
            NewUser {
                username: "colleague".into(),
                display_name: "Colleague".into(),
                password_hash: "x".into(),
                organization_id: user.organization_id,
                roles: Roles::parse_list("office_staff").expect("roles"),
            },
        )
        .await
        .expect("colleague");
    db.create_session(
        &colleague,
        "colleague-hash",
        "csrf",
        now.plus_millis(60_000),
    )
    .await
    .expect("session");
    let sign_ins = |entries: Vec<muster_storage::AuditEntry>| {
        entries
            .into_iter()
            .filter(|e| e.entity == "session")
            .map(|e| e.entity_id)
            .collect::<std::collections::BTreeSet<String>>()
    };
    let read = |actor: Actor| {
        let db = db.clone();
        async move { db.audit_entries_read_by(&actor, 100).await.expect("audit") }
    };
    assert_eq!(
        sign_ins(read(colleague.actor()).await),
        [colleague.id.to_string()].into()
    );
    assert_eq!(
        sign_ins(read(user.actor()).await),
        [user.id.to_string(), colleague.id.to_string()].into()
    );

    assert!(
        matches!(
            db.create_api_token(&user.actor(), &user, "late", "late-hash", now)
                .await,
            Err(StorageError::Refused {
                field: "expires_at",
                ..
            })
        ),
        "a token must expire in the future"
    );
    let token = db
        .create_api_token(&user.actor(), &user, "ci", "token-hash", now.plus_days(1))
        .await
        .expect("token");
    assert_eq!(token.expires_at, now.plus_days(1).as_millis());
    assert_eq!(
        db.user_id_for_token("token-hash", now)
            .await
            .expect("lookup"),
        Some(user.id)
    );
    assert_eq!(
        db.user_id_for_token("token-hash", now.plus_days(1))
            .await
            .expect("lookup"),
        None,
        "expired"
    );
    assert_eq!(
        db.user_id_for_token("other", now).await.expect("lookup"),
        None
    );

    let second = db
        .create_api_token(
            &user.actor(),
            &user,
            "export",
            "second-hash",
            now.plus_days(1),
        )
        .await
        .expect("second token");
    let listed = db.api_tokens(&user.actor(), &user).await.expect("list");
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["export", "ci"],
        "newest first"
    );
    let revoked = db
        .revoke_api_token(&user.actor(), &user, token.id)
        .await
        .expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        db.user_id_for_token("token-hash", now)
            .await
            .expect("lookup"),
        None,
        "revoked"
    );
    assert_eq!(
        db.user_id_for_token("second-hash", now)
            .await
            .expect("lookup"),
        Some(user.id),
        "the other token still works"
    );
    assert_eq!(
        db.revoke_api_token(&user.actor(), &user, token.id)
            .await
            .expect("again"),
        revoked,
        "revoking twice changes nothing"
    );
    assert!(matches!(
        db.revoke_api_token(&user.actor(), &user, second.id + 100)
            .await,
        Err(StorageError::NotFound { .. })
    ));
    let revocations = db
        .audit_entries(user.actor().scope(), 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "api_token" && e.action == "revoke")
        .count();
    assert_eq!(revocations, 1, "one revocation, audited");
    intact(&db).await;
}

on_both_databases!(
    a_disabled_user_loses_every_way_in,
    a_disabled_user_loses_every_way_in_story
);
async fn a_disabled_user_loses_every_way_in_story(db: Database) {
    import_tiny(&db).await;
    let organization = |name: &str, region: &str| NewOrganization {
        name: name.into(),
        kind: OrganizationKind::MobilizationOffice,
        side: Side::Civil,
        region_code: Some(region.into()),
    };
    let city = db
        .create_organization(&cli(), organization("City office", "3401"))
        .await
        .expect("org");
    let other_city = db
        .create_organization(&cli(), organization("Other city office", "3402"))
        .await
        .expect("org");
    let person = |username: &str, organization_id: i64, roles: &str| NewUser {
        username: username.into(),
        display_name: username.into(),
        password_hash: "x".into(),
        organization_id,
        roles: Roles::parse_list(roles).expect("roles"),
    };
    let admin = db
        .create_user(&cli(), person("city-admin", city.id, "administrator"))
        .await
        .expect("admin");
    let clerk = db
        .create_user(&cli(), person("clerk", city.id, "office_staff"))
        .await
        .expect("clerk");
    let stranger = db
        .create_user(&cli(), person("stranger", other_city.id, "office_staff"))
        .await
        .expect("stranger");
    let now = muster_storage::now();
    db.create_session(&clerk, "clerk-session", "csrf", now.plus_days(1))
        .await
        .expect("session");
    for hash in ["clerk-token", "clerk-export"] {
        db.create_api_token(&clerk.actor(), &clerk, hash, hash, now.plus_days(1))
            .await
            .expect("token");
    }
    // A token is its owner's: their colleague in the same office does not read its entries
    // in the log, the owner and the administrator do.
    let colleague = db
        .create_user(&cli(), person("colleague", city.id, "office_staff"))
        .await
        .expect("colleague");
    for (reader, expected) in [(&colleague, 0), (&clerk, 2), (&admin, 2)] {
        let tokens = db
            .audit_entries_read_by(&reader.actor(), 1000)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.entity == "api_token")
            .count();
        assert_eq!(tokens, expected, "{}", reader.username);
    }

    // Who may not: the clerk (not an administrator), the admin on themselves, the admin on
    // someone outside their city (who, to them, does not exist).
    assert!(matches!(
        db.set_user_disabled(&clerk.actor(), admin.id, true).await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.set_user_disabled(&admin.actor(), admin.id, true).await,
        Err(StorageError::Conflict { .. })
    ));
    assert!(matches!(
        db.set_user_disabled(&admin.actor(), stranger.id, true)
            .await,
        Err(StorageError::NotFound { .. })
    ));

    let disabled = db
        .set_user_disabled(&admin.actor(), clerk.id, true)
        .await
        .expect("disable");
    assert_eq!(disabled.disabled, 1);
    assert_eq!(db.session("clerk-session", now).await.expect("read"), None);
    // Nothing new is issued to them either.
    assert!(matches!(
        db.create_api_token(
            &clerk.actor(),
            &clerk,
            "after",
            "after-hash",
            now.plus_days(1)
        )
        .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.create_session(&clerk, "after-session", "csrf", now.plus_days(1))
            .await,
        Err(StorageError::Forbidden(_))
    ));
    for hash in ["clerk-token", "clerk-export"] {
        assert_eq!(db.user_id_for_token(hash, now).await.expect("read"), None);
    }
    assert!(
        db.sign_in_credentials("clerk")
            .await
            .expect("read")
            .is_none(),
        "a disabled user cannot sign in"
    );
    assert!(
        db.user_for_authentication(clerk.id)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(
        db.user(admin.actor().scope(), clerk.id)
            .await
            .expect("listed")
            .disabled,
        1,
        "still listed, as disabled"
    );

    // Enabled again: they sign in afresh; what was revoked stays revoked.
    db.set_user_disabled(&admin.actor(), clerk.id, false)
        .await
        .expect("enable");
    assert!(
        db.sign_in_credentials("clerk")
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        db.user_id_for_token("clerk-token", now)
            .await
            .expect("read"),
        None
    );
    let again = db
        .set_user_disabled(&admin.actor(), clerk.id, false)
        .await
        .expect("enabling an enabled user changes nothing");
    assert_eq!(again.disabled, 0);

    let entries = db
        .audit_entries(admin.actor().scope(), 100)
        .await
        .expect("audit");
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e.entity == "user" && e.entity_id == clerk.id.to_string())
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "disable").count(), 1);
    assert_eq!(actions.iter().filter(|a| **a == "enable").count(), 1);
    intact(&db).await;
}

/// PostgreSQL runs writers side by side: a token being issued while its user is being
/// disabled waits for the disable, then is refused, so none outlives the revocation (and
/// comes back to life when the user is enabled again). SQLite runs one writer at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_racing_the_disable_of_its_user_waits_and_is_refused() {
    use muster_storage::DatabaseUrl;
    use muster_storage::testing::{TestDatabase, a_session_waits_for_a_lock};
    use sqlx::{Connection, PgConnection};
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let DatabaseUrl::Postgres(url) = &test_db.url else {
        panic!("a PostgreSQL test database");
    };
    let db = test_db.db.clone();
    import_tiny(&db).await;
    let city = db
        .create_organization(
            &cli(),
            NewOrganization {
                name: "City office".into(),
                kind: OrganizationKind::MobilizationOffice,
                side: Side::Civil,
                region_code: Some("3401".into()),
            },
        )
        .await
        .expect("org");
    let clerk = db
        .create_user(
            &cli(),
            NewUser {
                username: "clerk".into(),
                display_name: "clerk".into(),
                password_hash: "x".into(),
                organization_id: city.id,
                roles: Roles::parse_list("office_staff").expect("roles"),
            },
        )
        .await
        .expect("clerk");

    // An administrator's session disables the clerk and has not committed yet.
    let mut admin_session = PgConnection::connect(url).await.expect("a second session");
    let mut disabling = admin_session.begin().await.expect("begin");
    sqlx::query("UPDATE users SET disabled = 1 WHERE id = $1")
        .bind(clerk.id)
        .execute(&mut *disabling)
        .await
        .expect("disable");
    let now = muster_storage::now();
    let issuing = tokio::spawn({
        let db = db.clone();
        let clerk = clerk.clone();
        async move {
            db.create_api_token(
                &clerk.actor(),
                &clerk,
                "ci",
                "racing-hash",
                now.plus_days(1),
            )
            .await
        }
    });
    let waited = a_session_waits_for_a_lock(url, || issuing.is_finished()).await;
    assert!(
        waited,
        "the token was issued without waiting for the disable"
    );
    disabling.commit().await.expect("the disable commits");
    let refused = issuing.await.expect("the issuing task");
    assert!(
        matches!(refused, Err(StorageError::Forbidden(_))),
        "{refused:?}"
    );
    assert_eq!(
        db.user_id_for_token("racing-hash", now)
            .await
            .expect("read"),
        None
    );
    test_db.db.close().await;
}

on_both_databases!(
    a_password_is_changed_by_its_user_or_reset_by_an_administrator,
    password_story
);
async fn password_story(db: Database) {
    import_tiny(&db).await;
    let city = db
        .create_organization(
            &cli(),
            NewOrganization {
                name: "City office".into(),
                kind: OrganizationKind::MobilizationOffice,
                side: Side::Civil,
                region_code: Some("3401".into()),
            },
        )
        .await
        .expect("org");
    let person = |username: &str, roles: &str| NewUser {
        username: username.into(),
        display_name: username.into(),
        password_hash: "old".into(),
        organization_id: city.id,
        roles: Roles::parse_list(roles).expect("roles"),
    };
    let admin = db
        .create_user(&cli(), person("admin", "administrator"))
        .await
        .expect("admin");
    let clerk = db
        .create_user(&cli(), person("clerk", "office_staff"))
        .await
        .expect("clerk");
    let colleague = db
        .create_user(&cli(), person("colleague", "office_staff"))
        .await
        .expect("colleague");
    let now = muster_storage::now();
    for session in ["here", "elsewhere"] {
        db.create_session(&clerk, session, "csrf", now.plus_days(1))
            .await
            .expect("session");
    }
    let hash_of = |db: Database| async move {
        db.sign_in_credentials("clerk")
            .await
            .expect("read")
            .expect("clerk")
            .password_hash
    };

    db.create_api_token(
        &clerk.actor(),
        &clerk,
        "script",
        "token-hash",
        now.plus_days(30),
    )
    .await
    .expect("token");

    // Their own, from one session: the others end, and their API token keeps working.
    db.set_password(&clerk.actor(), clerk.id, "new", Some("here"))
        .await
        .expect("changed");
    assert_eq!(hash_of(db.clone()).await, "new");
    assert!(db.session("here", now).await.expect("read").is_some());
    assert!(db.session("elsewhere", now).await.expect("read").is_none());
    assert_eq!(
        db.user_id_for_token("token-hash", now).await.expect("read"),
        Some(clerk.id)
    );

    // Not a colleague's; an administrator resets it, and every session ends.
    assert!(matches!(
        db.set_password(&colleague.actor(), clerk.id, "mine", None)
            .await,
        Err(StorageError::Forbidden(_))
    ));
    db.set_password(&admin.actor(), clerk.id, "reset", None)
        .await
        .expect("reset");
    assert_eq!(hash_of(db.clone()).await, "reset");
    assert!(db.session("here", now).await.expect("read").is_none());
    // A reset is for a password lost or known to another: the token goes with it.
    assert_eq!(
        db.user_id_for_token("token-hash", now).await.expect("read"),
        None
    );

    let actions: Vec<String> = db
        .audit_entries(admin.actor().scope(), 50)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "user" && e.entity_id == clerk.id.to_string())
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"change_password".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"reset_password".to_owned()),
        "{actions:?}"
    );
    assert!(
        db.audit_entries(admin.actor().scope(), 50)
            .await
            .expect("audit")
            .iter()
            .all(|e| !e.after.as_deref().unwrap_or("").contains("reset\"")),
        "no hash in the audit log"
    );
    intact(&db).await;
}

#[tokio::test]
async fn a_sqlite_backup_is_a_consistent_copy() {
    let test_db = muster_storage::testing::TestDatabase::sqlite().await;
    import_tiny(&test_db.db).await;
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("backup.db");
    test_db.db.backup_to(&target).await.expect("backup");
    assert!(
        test_db.db.backup_to(&target).await.is_err(),
        "never overwrites"
    );
    let copy = Database::open(&muster_storage::DatabaseUrl::Sqlite(target))
        .await
        .expect("open the copy");
    assert_eq!(copy.region_count().await.expect("count"), 79);
    assert_eq!(intact(&copy).await, 1);
}

/// SQLite's automatic checkpoint is off (it ran inside commits); the background one copies
/// committed pages into the database file on its own, with the database still open.
#[tokio::test]
async fn sqlite_commits_reach_the_database_file_without_a_close() {
    let test_db = muster_storage::testing::TestDatabase::sqlite().await;
    let muster_storage::DatabaseUrl::Sqlite(path) = &test_db.url else {
        unreachable!("a SQLite test database")
    };
    import_tiny(&test_db.db).await;
    let dir = tempfile::tempdir().expect("dir");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut attempt = 0;
    loop {
        // The database file alone, without its WAL: it holds what was checkpointed.
        attempt += 1;
        let copy = dir.path().join(format!("file-only-{attempt}.db"));
        std::fs::copy(path, &copy).expect("copy the database file");
        let regions = match Database::open(&muster_storage::DatabaseUrl::Sqlite(copy)).await {
            Ok(opened) => {
                let count = opened.region_count().await.unwrap_or(0);
                opened.close().await;
                count
            }
            // Copied in the middle of a checkpoint: try again.
            Err(_) => 0,
        };
        if regions == 79 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 30 s the database file still holds {regions} of the 79 regions committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

on_both_databases!(
    bulk_load_restores_the_schema,
    bulk_load_restores_the_schema_story
);
/// A first import large enough to take the bulk path (secondary indexes dropped and rebuilt)
/// leaves exactly the indexes the migrations made, and they answer drill-down queries.
async fn bulk_load_restores_the_schema_story(db: Database) {
    let before = index_definitions(&db, "regions").await.expect("indexes");
    assert!(
        before.len() >= 2,
        "the migration makes secondary indexes: {before:?}"
    );
    let rows = demo_regions(DemoScale::Province, 5);
    let count = rows.len();
    assert!(
        count > 10_000,
        "the province is big enough for the bulk path"
    );
    db.import_regions(
        &cli(),
        ParsedRegionCsv {
            rows,
            layout: ColumnLayout::default(),
        },
        "province demo",
    )
    .await
    .expect("the province imports");
    assert_eq!(
        index_definitions(&db, "regions").await.expect("indexes"),
        before
    );
    assert_eq!(db.region_count().await.expect("count"), count as i64);
    let top = db
        .region_view(&Scope::everything(), None)
        .await
        .expect("top");
    let province = &top.children[0];
    let view = db
        .region_view(&Scope::everything(), Some(&province.code))
        .await
        .expect("province view");
    assert_eq!(view.children.len() as i64, province.child_count);
    assert!(view.children.len() > 5);
    assert_eq!(intact(&db).await, 1);
}

on_both_databases!(
    a_bulk_import_refused_late_stores_nothing,
    a_bulk_import_refused_late_stores_nothing_story
);
/// A big first import is inserted while it is checked. One whose last row hangs under a
/// parent nobody has, and one whose last row repeats a code (which also breaks the primary
/// key in the middle of the insert), are both refused with the problem named, and leave no
/// region, no audit entry and the indexes the migration made; a good import then goes in.
async fn a_bulk_import_refused_late_stores_nothing_story(db: Database) {
    let indexes = index_definitions(&db, "regions").await.expect("indexes");
    let rows = demo_regions(DemoScale::Province, 5);
    assert!(rows.len() > 10_000, "big enough for the bulk path");
    let province = rows[0].code.clone();
    let next_line = rows.iter().map(|r| r.line).max().expect("rows") + 1;
    let code = |text: String| RegionCode::parse(&text).expect("a code");

    let mut orphan = rows.clone();
    orphan.push(RegionRow {
        line: next_line,
        code: code(format!("{province}9999999999")),
        name: "Orphan".into(),
        parent_code: Some(code(format!("{province}9999999"))),
        level: None,
        coordinates: None,
    });
    let mut repeated = rows.clone();
    let mut again = rows[rows.len() / 2].clone();
    again.line = next_line;
    repeated.push(again);

    for (name, file, expected) in [
        ("orphan", orphan, ProblemKind::UnknownParent),
        ("repeated code", repeated, ProblemKind::DuplicateCode),
    ] {
        let error = db
            .import_regions(
                &cli(),
                ParsedRegionCsv {
                    rows: file,
                    layout: ColumnLayout::default(),
                },
                name,
            )
            .await
            .expect_err("refused");
        let StorageError::ImportRejected(problems) = error else {
            panic!("{name}: expected problems, got {error:?}")
        };
        let found: Vec<(u64, ProblemKind)> = problems.0.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(found, vec![(next_line, expected)], "{name}");
        assert_eq!(db.region_count().await.expect("count"), 0, "{name}");
        assert_eq!(intact(&db).await, 0, "{name}: no audit entry");
        assert_eq!(
            index_definitions(&db, "regions").await.expect("indexes"),
            indexes,
            "{name}"
        );
    }

    let count = rows.len();
    db.import_regions(
        &cli(),
        ParsedRegionCsv {
            rows,
            layout: ColumnLayout::default(),
        },
        "province demo",
    )
    .await
    .expect("the good file imports after the refused ones");
    assert_eq!(db.region_count().await.expect("count"), count as i64);
    assert_eq!(intact(&db).await, 1);
}

mod potential_helpers {
    use muster_domain::RegionPath;
    use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};

    pub fn draft(
        code: &str,
        path: &str,
        type_code: &str,
        holder: &str,
        quantity: f64,
    ) -> (u32, RecordDraft) {
        let region_path = RegionPath::parse(path).expect("path");
        let holder = Holder::Organization {
            id: None,
            name: holder.to_owned(),
        };
        let key = holding_key(&region_path, type_code, &holder, None);
        (
            1,
            RecordDraft {
                type_code: type_code.to_owned(),
                quantity,
                attributes: Default::default(),
                quality: QualityGrade::Good,
                holder,
                site: None,
                region_code: code.to_owned(),
                region_path,
                coordinates: None,
                status: RecordStatus::Available,
                holding_key: key,
            },
        )
    }

    pub fn person(code: &str, path: &str) -> (u32, RecordDraft) {
        let (row, mut d) = draft(code, path, "CAD.MAT.TENT_12", "x", 2.0);
        d.holder = Holder::Person {
            name: "王小明".into(),
            id_number: Some("340104199001011234".into()),
            phone: Some("13812345678".into()),
        };
        d.holding_key = holding_key(&d.region_path, &d.type_code, &d.holder, None);
        (row, d)
    }
}

on_both_databases!(
    potential_records_and_roll_ups,
    potential_records_and_roll_ups_story
);
/// Records stored in bulk keep the roll-ups equal to a GROUP BY over the records at every
/// level; a holding is never registered twice; scope, masking and the audit chain hold.
async fn potential_records_and_roll_ups_story(db: Database) {
    use muster_domain::potential::RecordStatus;
    use muster_storage::{RecordFilter, RecordProvenance, StorageError as E};
    use potential_helpers::{draft, person};

    import_tiny(&db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let county_a = city.children[0].clone();
    let county_b = city.children[1].clone();
    let other_city = db
        .region_view(&everything, Some("34"))
        .await
        .expect("province")
        .children[1]
        .clone();
    let mut drafts = vec![
        draft(
            &county_a.code,
            &county_a.path,
            "TRN.ROAD.TRUCK_HEAVY",
            "Hefei Transport",
            12.0,
        ),
        draft(
            &county_a.code,
            &county_a.path,
            "CAD.MAT.TENT_12",
            "Red Cross",
            400.0,
        ),
        draft(
            &county_b.code,
            &county_b.path,
            "TRN.ROAD.TRUCK_HEAVY",
            "Feixi Haulage",
            3.0,
        ),
        draft(
            &other_city.code,
            &other_city.path,
            "TRN.ROAD.TRUCK_HEAVY",
            "Wuhu Freight",
            7.0,
        ),
        person(&county_b.code, &county_b.path),
    ];
    for (i, d) in drafts.iter_mut().enumerate() {
        d.0 = i as u32 + 2;
    }
    let summary = db
        .insert_records(
            &cli(),
            drafts.clone(),
            RecordProvenance::default(),
            "test.csv",
        )
        .await
        .expect("records store");
    assert_eq!(summary.inserted, 5);

    for path in [
        "/",
        "/34/",
        city.region.as_ref().map(|r| r.path.as_str()).unwrap_or("/"),
        &county_a.path,
        &county_b.path,
        &other_city.path,
    ] {
        let path = RegionPath::parse(path).expect("path");
        let rolled = db
            .totals_of_subtrees(&everything, std::slice::from_ref(&path))
            .await
            .expect("totals");
        let rolled = rolled.get(path.as_str()).cloned().unwrap_or_default();
        let counted = db
            .totals_from_records(&everything, &path)
            .await
            .expect("group by");
        assert_eq!(rolled, counted, "roll-up and GROUP BY agree at {path:?}");
    }
    let province = db
        .subtree_totals(&everything, Some("34"))
        .await
        .expect("province totals");
    let trucks = province
        .by_type
        .iter()
        .find(|t| t.type_code == "TRN.ROAD.TRUCK_HEAVY")
        .expect("trucks");
    assert_eq!(trucks.totals.quantity, 22.0);
    assert_eq!(trucks.totals.record_count, 3);

    // The same holding again — in a second file, spelled differently — is refused by row.
    let mut again = draft(
        &county_a.code,
        &county_a.path,
        "TRN.ROAD.TRUCK_HEAVY",
        "HEFEI  transport",
        5.0,
    );
    again.0 = 9;
    match db
        .insert_records(
            &cli(),
            vec![again],
            RecordProvenance::default(),
            "second.csv",
        )
        .await
    {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0[0].row, Some(9));
            assert!(
                problems.0[0].message.contains("already registered"),
                "{problems}"
            );
        }
        other => panic!("expected the duplicate holding to be refused, got {other:?}"),
    }
    assert_eq!(
        province,
        db.subtree_totals(&everything, Some("34"))
            .await
            .expect("unchanged")
    );

    // A record must name a stored region at the path it carries (the check that stands for
    // a foreign key): a made-up code, or a real code under another region's path, is
    // refused by row and stores nothing.
    for (row, code, path) in [
        (11, "3401999", county_a.path.as_str()),
        (12, county_b.code.as_str(), county_a.path.as_str()),
    ] {
        let mut stray = draft(code, path, "CAD.MAT.TENT_12", "Stray Depot", 1.0);
        stray.0 = row;
        match db
            .insert_records(
                &cli(),
                vec![stray],
                RecordProvenance::default(),
                "stray.csv",
            )
            .await
        {
            Err(E::Refused { field, message, .. }) => {
                assert_eq!(field, "region_code");
                assert!(message.contains(&format!("row {row}")), "{message}");
                assert!(message.contains(code), "{message}");
            }
            other => panic!("expected region {code} at {path} to be refused, got {other:?}"),
        }
    }
    assert_eq!(
        province,
        db.subtree_totals(&everything, Some("34"))
            .await
            .expect("still unchanged")
    );

    // A county user: sees its subtree only, cannot write outside it, sees people masked.
    let county_scope = county_scope(&county_b.path);
    let visible = db
        .potential_records(
            &county_scope,
            &RecordFilter {
                limit: 100,
                ..RecordFilter::default()
            },
        )
        .await
        .expect("records");
    assert_eq!(visible.len(), 2);
    assert!(
        visible
            .iter()
            .all(|r| r.region_path.starts_with(&county_b.path))
    );
    let person_record = visible
        .iter()
        .find(|r| r.holder_kind == "person")
        .expect("the person");
    assert_eq!(
        person_record.holder_id_number.as_deref(),
        Some("3401**********1234")
    );
    assert!(person_record.holding_key.is_empty());
    let cleared = Scope::new(
        RegionPath::parse(&county_b.path).expect("p"),
        vec![DataClass::PersonalData],
    );
    let unmasked = db
        .potential_record(&cleared, person_record.id)
        .await
        .expect("record");
    assert_eq!(
        unmasked.holder_id_number.as_deref(),
        Some("340104199001011234")
    );
    assert!(matches!(
        db.subtree_totals(&county_scope, Some(&county_a.code)).await,
        Err(E::NotFound { .. })
    ));
    let county_actor = Actor::user(
        99,
        "county".into(),
        &Roles::parse_list("office_staff").expect("roles"),
        RegionPath::parse(&county_b.path).expect("path"),
    );
    let outside = draft(&county_a.code, &county_a.path, "CAD.MAT.TENT_36", "Y", 1.0);
    assert!(matches!(
        db.insert_records(
            &county_actor,
            vec![outside],
            RecordProvenance::default(),
            "x"
        )
        .await,
        Err(E::OutOfScope { .. })
    ));

    // A status change moves the available figure, not the total.
    let truck_a = db
        .potential_records(
            &everything,
            &RecordFilter {
                region_code: Some(county_a.code.clone()),
                type_code: Some("TRN.ROAD.TRUCK_HEAVY".into()),
                limit: 10,
                ..RecordFilter::default()
            },
        )
        .await
        .expect("records")[0]
        .clone();
    db.set_record_status(&cli(), truck_a.id, RecordStatus::Reserved)
        .await
        .expect("reserve");
    let after = db
        .subtree_totals(&everything, Some("34"))
        .await
        .expect("totals");
    let trucks = after
        .by_type
        .iter()
        .find(|t| t.type_code == "TRN.ROAD.TRUCK_HEAVY")
        .expect("trucks");
    assert_eq!(trucks.totals.quantity, 22.0);
    assert_eq!(trucks.totals.available_quantity, 10.0);
    assert_eq!(
        db.totals_from_records(&everything, &RegionPath::parse("/34/").expect("p"))
            .await
            .expect("gb"),
        after.by_type
    );
    assert!(matches!(
        db.set_record_status(&county_actor, truck_a.id, RecordStatus::Available)
            .await,
        Err(E::OutOfScope { .. })
    ));
    assert_eq!(intact(&db).await, 3);
}

on_both_databases!(
    baselines_gaps_and_taxonomy_edits,
    baselines_gaps_and_taxonomy_edits_story
);
async fn baselines_gaps_and_taxonomy_edits_story(db: Database) {
    use muster_storage::{BaselineRow, RecordProvenance, StorageError as E};
    use potential_helpers::draft;

    import_tiny(&db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let county = city.children[0].clone();
    db.insert_records(
        &cli(),
        vec![draft(
            &county.code,
            &county.path,
            "TRN.ROAD.TRUCK_HEAVY",
            "A",
            12.0,
        )],
        RecordProvenance::default(),
        "t",
    )
    .await
    .expect("stored");
    let baseline = |region: &str, type_code: &str, q: f64| BaselineRow {
        region_code: region.to_owned(),
        type_code: type_code.to_owned(),
        required_quantity: q,
    };
    db.set_baselines(
        &cli(),
        vec![
            baseline(&county.code, "TRN.ROAD.TRUCK_HEAVY", 30.0),
            baseline(&county.code, "CAD.MAT.TENT_12", 100.0),
        ],
    )
    .await
    .expect("baselines");
    let gaps = db.gaps(&everything, Some("3401")).await.expect("gaps");
    assert_eq!(
        gaps[0].type_code, "CAD.MAT.TENT_12",
        "nothing verified is the worst gap"
    );
    assert_eq!(gaps[0].shortfall, 100.0);
    let trucks = &gaps[1];
    assert_eq!(
        (trucks.required, trucks.reported, trucks.verified),
        (30.0, 12.0, 0.0)
    );
    match db
        .set_baselines(&cli(), vec![baseline("999999", "NOPE", -1.0)])
        .await
    {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 2, "{problems}");
            let said: Vec<&str> = problems
                .0
                .iter()
                .filter_map(|p| p.message_zh.as_deref())
                .collect();
            assert_eq!(
                said,
                ["没有行政区划 999999", "没有资源类型 NOPE"],
                "in Chinese too"
            );
        }
        other => panic!("expected refusal, got {other:?}"),
    }

    // Editing a used type: a rename is fine, a new unit is not.
    let taxonomy = db.taxonomy().await.expect("taxonomy");
    let mut truck = taxonomy
        .resource_type("TRN.ROAD.TRUCK_HEAVY")
        .expect("type")
        .clone();
    truck.name_en = "Heavy lorry".into();
    let updated = db
        .save_resource_type(&cli(), truck.clone())
        .await
        .expect("rename");
    assert_eq!(
        updated
            .resource_type("TRN.ROAD.TRUCK_HEAVY")
            .expect("t")
            .name_en,
        "Heavy lorry"
    );
    assert_eq!(
        db.taxonomy()
            .await
            .expect("t")
            .resource_type("TRN.ROAD.TRUCK_HEAVY")
            .expect("t")
            .name_en,
        "Heavy lorry"
    );
    truck.unit = "t".into();
    assert!(matches!(
        db.save_resource_type(&cli(), truck).await,
        Err(E::Conflict { .. })
    ));
    // A baseline gives a type its meaning too, with no record of it stored.
    let mut in_baseline = taxonomy
        .resource_type("CAD.MAT.TENT_12")
        .expect("type")
        .clone();
    in_baseline.unit = "piece".into();
    match db.save_resource_type(&cli(), in_baseline).await {
        Err(E::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("基准"), "{zh}"),
        other => panic!("a type with a baseline keeps its unit: {other:?}"),
    }
    let mut unused = taxonomy
        .resource_type("CAD.MAT.TENT_36")
        .expect("type")
        .clone();
    unused.unit = "piece".into();
    db.save_resource_type(&cli(), unused)
        .await
        .expect("an unused type may change");
    let viewer = Actor::user(
        5,
        "v".into(),
        &Roles::parse_list("viewer").expect("r"),
        RegionPath::root(),
    );
    let any = taxonomy
        .resource_type("CAD.MAT.TENT_60")
        .expect("t")
        .clone();
    assert!(matches!(
        db.save_resource_type(&viewer, any).await,
        Err(E::Forbidden(_))
    ));
    assert_eq!(intact(&db).await, 5);
}

on_both_databases!(potential_file_import, potential_file_import_story);
/// A spreadsheet upload end to end: a GB18030 CSV is read, checked against the stored
/// regions and stored; a file with a bad row stores nothing and names the row; the same
/// file again is refused as holdings already registered.
async fn potential_file_import_story(db: Database) {
    use muster_storage::{RecordProvenance, StorageError as E};

    import_tiny(&db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let county = &city.children[0].code;
    let text = format!(
        "资源类型代码,数量,计量单位,持有者名称,行政区划代码,载重(吨),燃料\n\
         TRN.ROAD.TRUCK_HEAVY,12,辆,合肥运输公司,{county},18,柴油\n\
         CAD.MAT.TENT_12,300,顶,红十字会仓库,{county},,\n"
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    // Files are read a few at a time (each can take gigabytes): with every turn taken, the
    // import waits for one.
    let turns = muster_storage::every_file_read_turn()
        .await
        .expect("every turn");
    let waiting = tokio::spawn({
        let db = db.clone();
        let bytes = gb.to_vec();
        async move {
            db.import_potential_file(
                &cli(),
                bytes,
                "report.csv",
                None,
                RecordProvenance::default(),
            )
            .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the import waits for a turn");
    drop(turns);
    let summary = waiting
        .await
        .expect("the import runs")
        .expect("the file imports");
    assert_eq!(summary.inserted, 2);
    let totals = db
        .subtree_totals(&everything, Some("3401"))
        .await
        .expect("totals");
    assert_eq!(totals.by_type.len(), 2);

    let bad = format!(
        "type_code,quantity,holder_name,region_code\n\
         CAD.MAT.TENT_36,5,Depot,{county}\n\
         CAD.MAT.TENT_36,-5,Depot 2,{county}\n"
    );
    match db
        .import_potential_file(
            &cli(),
            bad.into_bytes(),
            "bad.csv",
            None,
            RecordProvenance::default(),
        )
        .await
    {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(3));
            assert_eq!(problems.0[0].column.as_deref(), Some("B"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        db.subtree_totals(&everything, Some("3401"))
            .await
            .expect("t"),
        totals
    );
    assert!(matches!(
        db.import_potential_file(
            &cli(),
            gb.to_vec(),
            "report.csv",
            None,
            RecordProvenance::default()
        )
        .await,
        Err(E::SheetRejected(_))
    ));
    let garbage = db
        .import_potential_file(
            &cli(),
            vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0],
            "old.xls",
            None,
            RecordProvenance::default(),
        )
        .await;
    assert!(matches!(garbage, Err(E::SheetRejected(p)) if p.0[0].message.contains("xls")));
}

on_both_databases!(
    a_file_stored_in_batches_is_all_or_nothing,
    a_file_stored_in_batches_is_all_or_nothing_story
);
on_both_databases!(
    record_foreign_keys_are_checked_from_partial_indexes,
    record_foreign_keys_are_checked_from_partial_indexes_story
);

/// On PostgreSQL a first bulk load adds the foreign keys of `potential_records` back before
/// its commit, and adding one checks the stored records whose column is not NULL. Each key's
/// column leads an index of exactly those records, which the check of a key the load leaves
/// NULL reads instead of the whole table (`add_record_foreign_keys` turns sequential scans
/// off for it; a million records that name no organization were read once per key). SQLite
/// keeps its foreign keys during a load and checks no such query.
async fn record_foreign_keys_are_checked_from_partial_indexes_story(db: Database) {
    let columns = foreign_key_columns(&db, "potential_records")
        .await
        .expect("foreign keys");
    assert_eq!(
        columns,
        [
            "holder_organization_id",
            "reporting_organization_id",
            "site_id"
        ],
        "the foreign keys of records (the region's was dropped for a set-based check)"
    );
    if db.backend() == muster_storage::Backend::Sqlite {
        return;
    }
    let indexes = index_definitions(&db, "potential_records")
        .await
        .expect("indexes");
    for column in &columns {
        assert!(
            indexes
                .iter()
                .any(|index| index.contains(&format!("btree ({column})"))
                    && index.ends_with(&format!("WHERE ({column} IS NOT NULL)"))),
            "no index of the records naming a {column}: {indexes:?}"
        );
    }
}

/// A file of several batches (the import stores each batch while it reads the next): a bad
/// row in the last batch, a holding twice across batches, or a holding stored before, each
/// leave nothing stored and no audit entry, and name every such row; the file put right is
/// stored whole, with roll-ups equal to a GROUP BY. Into a table this small, the load drops
/// the unique holding index (and on PostgreSQL the foreign keys) and builds it again (it then
/// refuses the repeat), and leaves indexes and constraints exactly as the migrations made them.
async fn a_file_stored_in_batches_is_all_or_nothing_story(db: Database) {
    use muster_storage::{RecordProvenance, StorageError as E};

    let everything = Scope::everything();
    let city = tiny_city(&db).await;
    let county = city.children[0].clone();
    // More rows than two of the import's batches of 25,000.
    const ROWS: usize = 60_000;
    let file = |last_row: &str| {
        let mut text = tents_csv(ROWS - 1, "Depot", &county.code);
        text.push_str(last_row);
        text.into_bytes()
    };
    let import = |bytes: Vec<u8>| {
        let db = &db;
        async move {
            db.import_potential_file(&cli(), bytes, "big.csv", None, RecordProvenance::default())
                .await
        }
    };
    let entries_before = intact(&db).await;
    let indexes = index_definitions(&db, "potential_records")
        .await
        .expect("indexes");
    assert!(
        indexes.len() >= 4,
        "the migrations index records: {indexes:?}"
    );
    let constraints = constraint_definitions(&db, "potential_records")
        .await
        .expect("constraints");
    assert!(
        constraints.iter().any(|c| c.contains("REFERENCES")),
        "records keep their foreign keys: {constraints:?}"
    );
    let empty = db
        .totals_from_records(&everything, &RegionPath::root())
        .await
        .expect("group by");
    let nothing_kept = || {
        let (db, everything, empty) = (&db, &everything, &empty);
        async move {
            assert_eq!(intact(db).await, entries_before, "no audit entry");
            assert_eq!(
                &db.totals_from_records(everything, &RegionPath::root())
                    .await
                    .expect("group by"),
                empty,
                "nothing stored"
            );
        }
    };

    // The last row is bad, and row 3's holding comes again on the file's last but one line
    // (both after the first batches were stored).
    let mut bytes = file(&format!("CAD.MAT.TENT_12,-1,Late Depot,{}\n", county.code));
    bytes.extend(format!("CAD.MAT.TENT_12,4,Depot 1,{}\n", county.code).into_bytes());
    match import(bytes).await {
        Err(E::SheetRejected(problems)) => {
            let rows: Vec<Option<u32>> = problems.0.iter().map(|p| p.row).collect();
            let last = ROWS as u32 + 1;
            assert_eq!(rows, vec![Some(last), Some(last + 1)], "{problems}");
            assert!(problems.0[1].message.contains("row 3"), "{problems}");
        }
        other => panic!("expected the file to be refused, got {other:?}"),
    }
    nothing_kept().await;

    // A file that breaks after two batches were stored (a quote never closed, so the cell
    // runs on past Excel's limit) keeps nothing either.
    let good = file(&format!("CAD.MAT.TENT_12,7,Late Depot,{}\n", county.code));
    let text = String::from_utf8(good.clone()).expect("UTF-8");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(55_000, "CAD.MAT.TENT_12,7,\"Open quote");
    let broken = lines.join("\n").into_bytes();
    match import(broken).await {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert!(problems.0[0].message.contains("quote"), "{problems}");
        }
        other => panic!("expected the broken file to be refused, got {other:?}"),
    }
    nothing_kept().await;

    // Put right, it is stored whole, with one audit entry.
    let summary = import(good.clone()).await.expect("the file imports");
    assert_eq!(summary.inserted, ROWS);
    assert_eq!(intact(&db).await, entries_before + 1);
    // A first load this big drops the secondary indexes and builds them again.
    assert_eq!(
        index_definitions(&db, "potential_records")
            .await
            .expect("indexes"),
        indexes
    );
    assert_eq!(
        constraint_definitions(&db, "potential_records")
            .await
            .expect("constraints"),
        constraints
    );
    let root = RegionPath::root();
    let counted = db
        .totals_from_records(&everything, &root)
        .await
        .expect("group by");
    let rolled = db
        .totals_of_subtrees(&everything, std::slice::from_ref(&root))
        .await
        .expect("roll-ups");
    assert_eq!(rolled.get("/").cloned().unwrap_or_default(), counted);
    assert_eq!(
        counted.iter().map(|t| t.totals.record_count).sum::<i64>(),
        ROWS as i64
    );

    // Again: every row names a holding stored before, and nothing more is stored.
    match import(good).await {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), ROWS, "every row is named");
            assert_eq!(problems.0[0].row, Some(2));
            assert!(problems.0[0].message.contains("already registered"));
        }
        other => panic!("expected the repeat to be refused, got {other:?}"),
    }
    assert_eq!(intact(&db).await, entries_before + 1);
    assert_eq!(
        index_definitions(&db, "potential_records")
            .await
            .expect("indexes"),
        indexes,
        "a refused bulk load leaves the indexes"
    );
    assert_eq!(
        constraint_definitions(&db, "potential_records")
            .await
            .expect("constraints"),
        constraints,
        "and the foreign keys"
    );
    assert_eq!(
        db.totals_from_records(&everything, &root)
            .await
            .expect("group by"),
        counted
    );
}

/// PostgreSQL: a bulk load leaves the planner without statistics of the records (a first
/// load) or with outdated ones, so the import gathers them again after its commit; without
/// them a village's totals were planned for a hundred times its records, and compiled.
/// A file below the bulk size leaves them to autovacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_gathers_the_planner_statistics_on_postgres() {
    use muster_storage::RecordProvenance;
    use muster_storage::testing::{TestDatabase, planner_statistics_columns};

    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = test_db.db.clone();
    let city = tiny_city(&db).await;
    let county = city.children[0].clone();
    let statistics = |table: &'static str| {
        let db = &db;
        async move {
            planner_statistics_columns(db, table)
                .await
                .expect("pg_stats")
                .expect("PostgreSQL keeps statistics")
        }
    };
    let import = |bytes: Vec<u8>| {
        let db = &db;
        async move {
            db.import_potential_file(
                &cli(),
                bytes,
                "depots.csv",
                None,
                RecordProvenance::default(),
            )
            .await
            .expect("the file imports")
        }
    };

    import(tents_csv(100, "Small", &county.code).into_bytes()).await;
    // What the small file left running, had it started anything, has finished by now.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        statistics("potential_records").await,
        0,
        "a small file leaves them alone"
    );

    import(tents_csv(60_000, "Depot", &county.code).into_bytes()).await;
    // Gathered in the background, each table in its own transaction: looked for every 50 ms
    // for up to ten seconds.
    let (mut records, mut totals) = (0, 0);
    for _ in 0..200 {
        (records, totals) = (
            statistics("potential_records").await,
            statistics("potential_totals").await,
        );
        if records > 0 && totals > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        records >= 20,
        "every column of the records has statistics after a bulk load: {records}"
    );
    assert!(totals >= 5, "and of their roll-ups: {totals}");
}

on_both_databases!(
    a_first_load_adds_to_the_totals_stored_before,
    a_first_load_adds_to_the_totals_stored_before_story
);
/// A first bulk load into a table that already holds a record: its roll-ups add to the totals
/// rows that record made (the same county and type) and create the rest (another type in
/// that county, the same type in another), so that the totals of every level equal a GROUP BY
/// of the records. (On PostgreSQL the new rows are copied in and only the others upserted.)
async fn a_first_load_adds_to_the_totals_stored_before_story(db: Database) {
    use muster_storage::RecordProvenance;
    use potential_helpers::draft;

    let everything = Scope::everything();
    let city = tiny_city(&db).await;
    let (county, other) = (city.children[0].clone(), city.children[1].clone());
    db.insert_records(
        &cli(),
        vec![draft(
            &county.code,
            county.path.as_str(),
            "CAD.MAT.TENT_12",
            "Stored Depot",
            5.0,
        )],
        RecordProvenance::default(),
        "before.csv",
    )
    .await
    .expect("a record before the load");
    const ROWS: usize = 60_000;
    let mut text = String::from("type_code,quantity,holder_name,region_code\n");
    for i in 0..ROWS {
        let (type_code, region) = match i % 3 {
            0 => ("CAD.MAT.TENT_12", &county.code),
            1 => ("CAD.MAT.TENT_36", &county.code),
            _ => ("CAD.MAT.TENT_12", &other.code),
        };
        text.push_str(&format!("{type_code},{},Depot {i},{region}\n", i % 90 + 1));
    }
    let summary = db
        .import_potential_file(
            &cli(),
            text.into_bytes(),
            "big.csv",
            None,
            RecordProvenance::default(),
        )
        .await
        .expect("the file imports");
    assert_eq!(summary.inserted, ROWS);
    let city_path = &city.region.as_ref().expect("the city").path;
    for (path, types) in [
        ("/", 2),
        (city_path.as_str(), 2),
        (county.path.as_str(), 2),
        (other.path.as_str(), 1),
    ] {
        let path = RegionPath::parse(path).expect("a stored path");
        let counted = db
            .totals_from_records(&everything, &path)
            .await
            .expect("group by");
        assert_eq!(counted.len(), types, "{path}");
        let rolled = db
            .totals_of_subtrees(&everything, std::slice::from_ref(&path))
            .await
            .expect("roll-ups");
        assert_eq!(
            rolled.get(path.as_str()).cloned().unwrap_or_default(),
            counted,
            "{path}"
        );
    }
    let root = db
        .totals_from_records(&everything, &RegionPath::root())
        .await
        .expect("group by");
    assert_eq!(
        root.iter().map(|t| t.totals.record_count).sum::<i64>(),
        ROWS as i64 + 1
    );
}

/// PostgreSQL gives up one of two transactions that wait on each other. What it gives up
/// is a conflict to send again, not a server failure: made here with a real deadlock.
/// (SQLite has one writer, so it cannot deadlock.)
#[tokio::test]
async fn a_deadlock_is_a_conflict_to_try_again() {
    use sqlx::Connection;
    let Some(test_db) = muster_storage::testing::TestDatabase::postgres().await else {
        return;
    };
    let muster_storage::DatabaseUrl::Postgres(url) = &test_db.url else {
        panic!("a PostgreSQL test database");
    };
    raw_execute(
        &test_db.db,
        "CREATE TABLE deadlock_probe (id BIGINT PRIMARY KEY, n BIGINT)",
    )
    .await
    .expect("table");
    raw_execute(
        &test_db.db,
        "INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)",
    )
    .await
    .expect("rows");
    let mut first = sqlx::PgConnection::connect(url).await.expect("connect");
    let mut second = sqlx::PgConnection::connect(url).await.expect("connect");
    let update =
        |id: i64| sqlx::query("UPDATE deadlock_probe SET n = n + 1 WHERE id = $1").bind(id);
    for (conn, id) in [(&mut first, 1), (&mut second, 2)] {
        sqlx::query("BEGIN")
            .execute(&mut *conn)
            .await
            .expect("begin");
        update(id).execute(&mut *conn).await.expect("the first row");
    }
    // Each now wants the other's row; the loser rolls back so that the winner goes on.
    async fn cross(conn: &mut sqlx::PgConnection, id: i64) -> Result<(), sqlx::Error> {
        let outcome = sqlx::query("UPDATE deadlock_probe SET n = n + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ());
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        sqlx::query(end).execute(&mut *conn).await.expect("end");
        outcome
    }
    let (one, two) = tokio::join!(cross(&mut first, 2), cross(&mut second, 1));
    let given_up = match (one, two) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("exactly one transaction is given up: {other:?}"),
    };
    match StorageError::from(given_up) {
        StorageError::Conflict {
            field: "request",
            message_zh: Some(message_zh),
            ..
        } => assert!(message_zh.contains("请重新提交"), "{message_zh}"),
        other => panic!("a deadlock: {other:?}"),
    }
    // Any other driver error stays a database error.
    let other = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut first)
        .await
        .expect_err("no such table");
    assert!(matches!(
        StorageError::from(other),
        StorageError::Database(_)
    ));
}

on_both_databases!(
    a_reference_removed_meanwhile_is_a_conflict_to_try_again,
    reference_removed_meanwhile
);
/// A write inserting references it checked just before (an import's records naming sites),
/// whose reference the database then refuses, is a conflict to try again, said in both
/// languages; any other foreign key violation (a delete refused for what still refers to its
/// row) stays a database error, since sending it again would not help.
async fn reference_removed_meanwhile(db: Database) {
    let violation = || async {
        muster_storage::testing::raw_execute(
            &db,
            "INSERT INTO grid_members (grid_id, user_id) VALUES (987654, 987654)",
        )
        .await
        .expect_err("no such grid")
    };
    match StorageError::from_inserting_references(violation().await) {
        StorageError::Conflict {
            field: "request",
            message,
            message_zh: Some(message_zh),
        } => {
            assert!(message.contains("removed meanwhile"), "{message}");
            assert!(message_zh.contains("请刷新后重试"), "{message_zh}");
        }
        other => panic!("a foreign key violation: {other:?}"),
    }
    assert!(matches!(
        StorageError::from(violation().await),
        StorageError::Database(_)
    ));
}

/// Migration 0017 (SQLite only) rebuilds `potential_records` without the foreign key on its
/// region, which is checked once per write instead, as on PostgreSQL since its 0007. The
/// story puts the key back as the table had it before, with a deleted record's id above every
/// stored one, forgets the migration (and 0018, which follows it) and opens the database
/// again: every record comes back unchanged, no id is given twice, the indexes are as they
/// were, the other foreign keys still hold, and a dangling key stops the migration instead
/// of being carried over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0017_drops_the_region_key_of_records_and_keeps_the_rest() {
    use muster_storage::testing::TestDatabase;
    use muster_storage::{RecordFilter, RecordProvenance};
    use potential_helpers::draft;

    let test_db = TestDatabase::sqlite().await;
    let db = test_db.db.clone();
    import_tiny(&db).await;
    let everything = Scope::everything();
    let county = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city")
        .children[0]
        .clone();
    let records_of = |holders: &[&str]| {
        holders
            .iter()
            .map(|h| {
                draft(
                    &county.code,
                    county.path.as_str(),
                    "CAD.MAT.TENT_12",
                    h,
                    3.0,
                )
            })
            .collect::<Vec<_>>()
    };
    db.insert_records(
        &cli(),
        records_of(&["Depot A", "Depot B", "Depot C"]),
        RecordProvenance::default(),
        "before.csv",
    )
    .await
    .expect("records");
    let all_records = |db: &Database| {
        let (db, everything) = (db.clone(), everything.clone());
        async move {
            db.potential_records(
                &everything,
                &RecordFilter {
                    limit: 1000,
                    ..RecordFilter::default()
                },
            )
            .await
            .expect("records")
        }
    };
    let before = all_records(&db).await;
    let highest_id = before.iter().map(|r| r.id).max().expect("three records");
    // As 0002, 0003, 0009 and 0018 made them, by name (0017 builds the table again with 0005's
    // index on type and status, which 0018, forgotten with it, replaces again).
    let indexes = [
        "CREATE UNIQUE INDEX potential_records_holding ON potential_records (holding_key)",
        "CREATE INDEX potential_records_round ON potential_records (round_id, reporting_organization_id) WHERE round_id IS NOT NULL",
        "CREATE INDEX potential_records_site ON potential_records (site_id) WHERE site_id IS NOT NULL",
        "CREATE INDEX potential_records_type ON potential_records (type_code)",
    ];
    let index_definitions_of = |db: &Database| {
        let db = db.clone();
        async move {
            index_definitions(&db, "potential_records")
                .await
                .expect("indexes")
                .iter()
                .map(|sql| sql.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(index_definitions_of(&db).await, indexes);
    let referring = [
        "verification_items",
        "demand_allocations",
        "requisition_items",
        "superseded_records",
    ];
    let has_region_key = |db: &Database| {
        let db = db.clone();
        async move {
            constraint_definitions(&db, "potential_records")
                .await
                .expect("table")
                .concat()
                .contains("REFERENCES regions")
        }
    };
    assert!(
        !has_region_key(&db).await,
        "migrated without the region key"
    );

    let back_to_before_0017 = format!(
        "PRAGMA writable_schema = ON; \
         UPDATE sqlite_schema SET sql = replace(sql, 'region_code TEXT NOT NULL,', \
             'region_code TEXT NOT NULL REFERENCES regions (code),') \
             WHERE type = 'table' AND name = 'potential_records'; \
         PRAGMA writable_schema = OFF; \
         UPDATE sqlite_sequence SET seq = {} WHERE name = 'potential_records'; \
         DELETE FROM _sqlx_migrations WHERE version IN (17, 18)",
        highest_id + 100
    );
    raw_execute(&db, &back_to_before_0017)
        .await
        .expect("back to before 0017");
    db.close().await;
    let old_schema = Database::connect(&test_db.url).await.expect("reopens");
    assert!(has_region_key(&old_schema).await, "the key is back");
    old_schema.close().await;

    let db = Database::open(&test_db.url).await.expect("0017 runs again");
    assert!(!has_region_key(&db).await, "the region key is gone");
    assert_eq!(all_records(&db).await, before, "every record unchanged");
    assert_eq!(
        index_definitions_of(&db).await,
        indexes,
        "the indexes as they were"
    );
    for table in referring {
        let sql = constraint_definitions(&db, table)
            .await
            .expect("table")
            .concat();
        assert!(
            sql.contains("record_id BIGINT NOT NULL REFERENCES potential_records (id)"),
            "{table} still refers to the records: {sql}"
        );
    }
    db.insert_records(
        &cli(),
        records_of(&["Depot D"]),
        RecordProvenance::default(),
        "after.csv",
    )
    .await
    .expect("a record after the migration");
    let newest = all_records(&db).await.iter().map(|r| r.id).max();
    assert_eq!(newest, Some(highest_id + 101), "no id given twice");
    let dangling_site =
        format!("UPDATE potential_records SET site_id = 424242 WHERE id = {highest_id}");
    let refused = raw_execute(&db, &dangling_site)
        .await
        .expect_err("the site key still holds");
    assert!(refused.to_string().contains("FOREIGN KEY"), "{refused}");

    raw_execute(
        &db,
        &format!(
            "PRAGMA foreign_keys = OFF; {dangling_site}; PRAGMA foreign_keys = ON; \
             DELETE FROM _sqlx_migrations WHERE version = 17"
        ),
    )
    .await
    .expect("a dangling key, as a damaged file could hold");
    db.close().await;
    let stopped = Database::open(&test_db.url)
        .await
        .expect_err("a dangling key stops the migration");
    let cause = format!("{stopped:?}");
    assert!(
        cause.contains("is dangling: run PRAGMA foreign_key_check"),
        "{cause}"
    );
}
