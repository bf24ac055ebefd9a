//! `quaderno role revoke` and `quaderno user remove`, as an operator runs them: a study role
//! taken back (never the last owner's), admin rights taken back, an account removed, each
//! audited. On PostgreSQL when
//! `QUADERNO_TEST_DATABASE_URL` names a server, else on a SQLite file in the data directory.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{stdout_of, BIN};
use entities::{app_user, audit_log, memo, study_member};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

fn quaderno(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--no-demo", "--database-url", url, "--data-dir"])
        .arg(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run quaderno")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The user's role in the study, read from the database.
async fn role(db: &DatabaseConnection, user: &str, study: i64) -> Option<String> {
    let user = app_user::Entity::find()
        .filter(app_user::Column::Name.eq(user))
        .one(db)
        .await
        .unwrap()?;
    study_member::Entity::find()
        .filter(study_member::Column::UserId.eq(user.id))
        .filter(study_member::Column::StudyId.eq(study))
        .one(db)
        .await
        .unwrap()
        .map(|m| m.role)
}

async fn is_admin(db: &DatabaseConnection, user: &str) -> bool {
    app_user::Entity::find()
        .filter(app_user::Column::Name.eq(user))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .is_admin
}

/// A scratch database, migrated, with olga (an admin, by the command line) and a study of
/// hers.
struct Setup {
    dir: tempfile::TempDir,
    url: String,
    db: DatabaseConnection,
    olga_secret: String,
    study: i64,
}

async fn setup(title: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
    let url = api::db::scratch_database_url(base.as_deref(), dir.path())
        .await
        .unwrap();
    let db = api::db::connect(&url, 2).await.unwrap().conn;
    api::db::migrate(&db).await.unwrap();
    let olga_secret = token(dir.path(), &url, &["--user", "olga", "--role", "admin"]);
    let olga = api::auth::caller_from_token(&db, &olga_secret)
        .await
        .unwrap();
    let study = api::service::studies::create_study(
        &db,
        &olga,
        api::service::studies::NewStudy {
            title: title.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    Setup {
        dir,
        url,
        db,
        olga_secret,
        study,
    }
}

/// Runs a command that must fail, saying `why` on standard error.
fn refused(dir: &Path, url: &str, args: &[&str], why: &str) {
    let out = quaderno(dir, url, args);
    assert!(!out.status.success(), "{args:?}");
    assert!(
        stderr_of(&out).contains(why),
        "{args:?}: {}",
        stderr_of(&out)
    );
}

/// Creates a token through the command line; returns its secret.
fn token(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = quaderno(dir, url, &[&["token", "create"][..], args].concat());
    assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    stdout_of(out).trim().to_owned()
}

#[tokio::test]
async fn role_revoke_takes_back_study_roles_and_admin_rights() {
    // olga, an admin, makes a study (and owns it); tina analyses it.
    let Setup {
        dir,
        url,
        db,
        olga_secret,
        study,
    } = setup("Revoche").await;
    let n = study.to_string();
    stdout_of(quaderno(
        dir.path(),
        &url,
        &[
            "token", "create", "--user", "tina", "--role", "analyst", "--study", &n,
        ],
    ));
    assert_eq!(role(&db, "tina", study).await.as_deref(), Some("ANALYST"));

    let out = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "tina", "--study", &n],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("ANALYST role in study {n} revoked")),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(role(&db, "tina", study).await, None);
    // Once only: tina is no member any more.
    refused(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "tina", "--study", &n],
        "not found",
    );

    // The last owner keeps the study.
    refused(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "olga", "--study", &n],
        "last owner",
    );
    assert_eq!(role(&db, "olga", study).await.as_deref(), Some("OWNER"));

    refused(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "nessuno", "--admin"],
        "quaderno token create",
    );

    assert!(is_admin(&db, "olga").await);
    let out = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "olga", "--admin"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!is_admin(&db, "olga").await);
    // Her token now carries her study role only.
    let now = api::auth::caller_from_token(&db, olga_secret.trim())
        .await
        .unwrap();
    assert!(!now.is_admin());
    assert_eq!(now.role_in(study), Some(api::auth::StudyRole::Owner));
    refused(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "olga", "--admin"],
        "admin rights",
    );

    // Both in the audit log, by the command line (no user): the study role in the study's
    // log, the admin rights without a study.
    let logged: Vec<audit_log::Model> = audit_log::Entity::find()
        .filter(audit_log::Column::Operation.is_in(["removeStudyMember", "revokeAdmin"]))
        .order_by_asc(audit_log::Column::Id)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[0].operation, "removeStudyMember");
    assert_eq!(logged[0].study_id, Some(study));
    assert_eq!(logged[0].user_id, None);
    let summary: serde_json::Value = serde_json::from_str(&logged[0].summary).unwrap();
    assert_eq!(summary["before"]["role"], "ANALYST");
    assert_eq!(summary["after"]["role"], serde_json::Value::Null);
    assert_eq!(logged[1].operation, "revokeAdmin");
    assert_eq!(logged[1].study_id, None);
    assert_eq!(logged[1].user_id, None);
}

#[test]
fn role_revoke_needs_a_study_or_admin() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["role", "revoke", "--user", "x"][..],
        &["role", "revoke", "--user", "x", "--study", "1", "--admin"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr_of(&out).contains("--study"), "{}", stderr_of(&out));
    }
}

/// `quaderno user remove`: the account's tokens stop at once, its roles and admin rights go
/// and its name is replaced, while what it wrote stays its own; a study's last owner and
/// unknown names are refused, and no one can take the removed account's name.
#[tokio::test]
async fn user_remove_ends_an_account_and_keeps_its_work() {
    let Setup {
        dir,
        url,
        db,
        olga_secret,
        study,
    } = setup("Rimozioni").await;
    let (d, u) = (dir.path(), url.as_str());
    let n = study.to_string();
    // Zoë analyses the study and is an admin too, with a token for each.
    let analyst = ["--user", "Zoë", "--role", "analyst", "--study", &n];
    let secrets = [
        token(d, u, &analyst),
        token(d, u, &["--user", "Zoë", "--role", "admin"]),
    ];
    let zoe = api::auth::caller_from_token(&db, &secrets[0])
        .await
        .unwrap();
    let zoe_id = zoe.user_id().unwrap();
    let note = api::service::memos::create_memo(
        &db,
        &zoe,
        api::service::memos::Target::Study(study),
        "perché l’ambito è cambiato",
    )
    .await
    .unwrap();

    // Olga is the study's only owner: refused, nothing changed.
    let last = quaderno(d, u, &["user", "remove", "--user", "olga"]);
    assert!(!last.status.success());
    assert!(
        stderr_of(&last).contains(&format!("study {study}: this is the study's last owner")),
        "{}",
        stderr_of(&last)
    );
    assert!(api::auth::caller_from_token(&db, &olga_secret)
        .await
        .unwrap()
        .is_admin());
    assert_eq!(role(&db, "olga", study).await.as_deref(), Some("OWNER"));

    let out = quaderno(d, u, &["user", "remove", "--user", "Zoë"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let placeholder = api::service::users::removed_user_name(zoe_id);
    let said = stderr_of(&out);
    for part in [
        placeholder.as_str(),
        &format!("ANALYST in study {n}"),
        "admin rights taken",
        "tokens revoked: 2",
    ] {
        assert!(said.contains(part), "{part:?} in {said}");
    }
    for secret in &secrets {
        let refused = api::auth::caller_from_token(&db, secret).await;
        assert!(
            matches!(refused, Err(api::error::ServiceError::Unauthenticated)),
            "{refused:?}"
        );
    }
    let account = app_user::Entity::find_by_id(zoe_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.name, placeholder);
    assert!(account.removed_at.is_some() && !account.is_admin);
    assert_eq!(role(&db, &placeholder, study).await, None);
    let kept = memo::Entity::find_by_id(note.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.author_id, Some(zoe_id), "the memo stays hers");

    // The removal's own audit entries (the role in the study's log, the removal without a
    // study) do not write her name again.
    let logged: Vec<audit_log::Model> = audit_log::Entity::find()
        .filter(audit_log::Column::Operation.is_in(["removeStudyMember", "removeUser"]))
        .order_by_asc(audit_log::Column::Id)
        .all(&db)
        .await
        .unwrap();
    let ops: Vec<_> = logged
        .iter()
        .map(|e| (e.operation.as_str(), e.study_id, e.entity_id, e.user_id))
        .collect();
    assert_eq!(
        ops,
        [
            ("removeStudyMember", Some(study), zoe_id, None),
            ("removeUser", None, zoe_id, None)
        ]
    );
    assert!(
        logged.iter().all(|e| !e.summary.contains("Zo")),
        "{logged:?}"
    );

    // Once only; the placeholder is no one's to take; her old name makes a new account.
    refused(d, u, &["user", "remove", "--user", "Zoë"], "not found");
    refused(
        d,
        u,
        &[
            "token",
            "create",
            "--user",
            &placeholder,
            "--role",
            "viewer",
            "--study",
            &n,
        ],
        "removed accounts",
    );
    // Nor in another case, which would read as the removed account's name.
    let shouted = placeholder.to_uppercase();
    refused(
        d,
        u,
        &[
            "token", "create", "--user", &shouted, "--role", "viewer", "--study", &n,
        ],
        "removed accounts",
    );
    let fresh = token(d, u, &analyst);
    let fresh = api::auth::caller_from_token(&db, &fresh).await.unwrap();
    assert_ne!(fresh.user_id(), Some(zoe_id));
    assert_eq!(fresh.role_in(study), Some(api::auth::StudyRole::Analyst));

    refused(d, u, &["user", "remove", "--user", "nessuno"], "not found");
}
