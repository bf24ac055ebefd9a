//! The binary as an operator runs it: `quaderno serve` with no flags but a data directory,
//! `--bind 127.0.0.1:0`, `--no-demo`, and `quaderno token create`.

use std::process::Command;

use crate::common::{gql, serve, stdout_of, wait_ready, BIN};

#[tokio::test]
async fn serve_starts_on_a_free_port_with_the_demo_data_and_graphiql() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"));
    assert_ne!(server.url, "http://127.0.0.1:0");
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    wait_ready(&server.url).await;
    let page = reqwest::get(format!("{}/graphql", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.to_lowercase().contains("graphiql"));
    let data = gql(&server.url, None, "{ studies { totalCount edges { node { title cases { totalCount } } } } interviews { totalCount } }").await;
    assert_eq!(data["data"]["interviews"]["totalCount"], 16, "{data}");
    assert_eq!(
        data["data"]["studies"]["edges"][0]["node"]["cases"]["totalCount"],
        4
    );
    // SQLite in WAL mode, in the data directory.
    assert!(dir.path().join("quaderno.db").exists());
    assert!(dir.path().join("quaderno.db-wal").exists());

    // A token printed alone on stdout lets a script write.
    let out = Command::new(BIN)
        .args([
            "token",
            "create",
            "--user",
            "ricercatrice",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = stdout_of(out);
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1);
    assert!(token.len() >= 43, "a 256-bit token: {token}");
    let created = gql(
        &server.url,
        Some(token),
        r#"mutation { createStudy(input: {title: "Nuovo"}) { title } }"#,
    )
    .await;
    assert_eq!(
        created["data"]["createStudy"]["title"], "Nuovo",
        "{created}"
    );
    let refused = gql(
        &server.url,
        None,
        r#"mutation { createStudy(input: {title: "Nuovo"}) { title } }"#,
    )
    .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );

    // A bad role is refused with a clear message.
    let out = Command::new(BIN)
        .args([
            "token",
            "create",
            "--user",
            "x",
            "--role",
            "boss",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}

#[tokio::test]
async fn no_demo_starts_empty_and_restarts_keep_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = serve(dir.path(), &["--no-demo"]);
        wait_ready(&server.url).await;
        let data = gql(
            &server.url,
            None,
            "{ ambiti { totalCount } studies { totalCount } }",
        )
        .await;
        assert_eq!(data["data"]["ambiti"]["totalCount"], 0);
        assert_eq!(data["data"]["studies"]["totalCount"], 0);
    }
    // A later start with the demo enabled fills the still-empty database once.
    let server = serve(dir.path(), &[]);
    wait_ready(&server.url).await;
    let data = gql(&server.url, None, "{ studies { totalCount } }").await;
    assert_eq!(data["data"]["studies"]["totalCount"], 1);
    drop(server);
    let server = serve(dir.path(), &[]);
    wait_ready(&server.url).await;
    let data = gql(&server.url, None, "{ interviews { totalCount } }").await;
    // The demo was indexed at first start: search finds it after a restart.
    let found = gql(
        &server.url,
        None,
        "{ search(query: \"pandemia\") { totalCount } }",
    )
    .await;
    assert!(
        found["data"]["search"]["totalCount"].as_i64().unwrap() > 0,
        "{found}"
    );
    assert_eq!(
        data["data"]["interviews"]["totalCount"], 16,
        "the demo is not loaded twice"
    );
}

/// A second server started by mistake on a running server's data directory stops before it
/// migrates or loads anything: the running server's empty database gets no demo (it used to
/// load it, public study included, and only then fail on the index's lock).
#[tokio::test]
async fn a_second_server_on_the_same_data_directory_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--no-demo"]);
    wait_ready(&server.url).await;
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("is a server running on this data directory?"),
        "{stderr}"
    );
    let studies = gql(&server.url, None, "{ studies { totalCount } }").await;
    assert_eq!(studies["data"]["studies"]["totalCount"], 0, "{studies}");
}

/// On SQLite only `serve`, `migrate` and `import` create a database: a mistyped
/// `--data-dir` given to any other command is refused, rather than answered from a new, empty database of its own
/// (a token that works on no server, a reindex of nothing).
#[test]
fn other_commands_refuse_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("quaderno-dta");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&typo)
            .env_remove("DATABASE_URL")
            .env_remove("QUADERNO_DATA_DIR")
            .output()
            .unwrap()
    };
    let create = ["token", "create", "--user", "ada", "--role", "admin"];
    for args in [&create[..], &["token", "list"], &["reindex"]] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains("no database at"), "{args:?}: {stderr}");
    }
    assert!(!typo.exists(), "a refused command created the directory");
    assert!(run(&["migrate"]).status.success());
    let token = stdout_of(run(&create));
    assert!(token.trim().len() >= 43, "{token}");
}
