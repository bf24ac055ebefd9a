//! `quaderno role revoke`, as an operator runs it: a study role taken back (never the last
//! owner's), admin rights taken back, each audited. On PostgreSQL when
//! `QUADERNO_TEST_DATABASE_URL` names a server, else on a SQLite file in the data directory.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{stdout_of, BIN};
use entities::{app_user, audit_log, study_member};
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

#[tokio::test]
async fn role_revoke_takes_back_study_roles_and_admin_rights() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
    let url = api::db::scratch_database_url(base.as_deref(), dir.path())
        .await
        .unwrap();
    let db = api::db::connect(&url, 2).await.unwrap().conn;
    api::db::migrate(&db).await.unwrap();
    // olga, an admin, makes a study (and owns it); tina analyses it.
    let olga_secret = stdout_of(quaderno(
        dir.path(),
        &url,
        &["token", "create", "--user", "olga", "--role", "admin"],
    ));
    let olga = api::auth::caller_from_token(&db, olga_secret.trim())
        .await
        .unwrap();
    let study = api::service::studies::create_study(
        &db,
        &olga,
        api::service::studies::NewStudy {
            title: "Revoche".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
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
    let again = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "tina", "--study", &n],
    );
    assert!(!again.status.success());
    assert!(
        stderr_of(&again).contains("not found"),
        "{}",
        stderr_of(&again)
    );

    // The last owner keeps the study.
    let last = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "olga", "--study", &n],
    );
    assert!(!last.status.success());
    assert!(
        stderr_of(&last).contains("last owner"),
        "{}",
        stderr_of(&last)
    );
    assert_eq!(role(&db, "olga", study).await.as_deref(), Some("OWNER"));

    let unknown = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "nessuno", "--admin"],
    );
    assert!(!unknown.status.success());
    assert!(
        stderr_of(&unknown).contains("quaderno token create"),
        "{}",
        stderr_of(&unknown)
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
    let again = quaderno(
        dir.path(),
        &url,
        &["role", "revoke", "--user", "olga", "--admin"],
    );
    assert!(!again.status.success());

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
