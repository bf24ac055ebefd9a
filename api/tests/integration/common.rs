//! Running the `quaderno` binary in tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_quaderno");

pub struct Server {
    pub child: Child,
    pub url: String,
    /// Where /metrics is served, when on its own address (`--metrics-bind`).
    pub metrics_url: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(data_dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("DATABASE_URL")
        .env_remove("QUADERNO_NO_DEMO")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start quaderno");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut metrics_url = None;
    let url = loop {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read stdout");
        if let Some(url) = line.trim().strip_prefix("listening on ") {
            break url.to_owned();
        }
        match line.trim().strip_prefix("metrics on ") {
            Some(url) => metrics_url = Some(url.to_owned()),
            None => panic!("unexpected line {line:?}"),
        }
    };
    Server {
        child,
        url,
        metrics_url,
    }
}

/// Polls /readyz until 200 (the search index is built in the background at first start).
pub async fn wait_ready(url: &str) {
    for _ in 0..300 {
        let r = reqwest::get(format!("{url}/readyz")).await.unwrap();
        if r.status() == 200 {
            return;
        }
        assert_eq!(r.status(), 503, "/readyz answers 200 or 503");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} never became ready");
}

/// A GraphQL request with variables, as the token's user: the whole response.
pub async fn gql_vars(url: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `data` of a request that must succeed.
pub async fn gql_data(url: &str, token: &str, query: &str, variables: Value) -> Value {
    let body = gql_vars(url, token, query, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// An instance-admin token made by `quaderno token create`, as an operator would.
pub fn admin_token(data_dir: &std::path::Path, flags: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["token", "create", "--user", "ops", "--role", "admin"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    stdout_of(out).trim().to_owned()
}

/// The standard output of a command that must have succeeded; its standard error otherwise.
pub fn stdout_of(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub async fn gql(url: &str, token: Option<&str>, query: &str) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": query }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}
