//! The server under test: the quaderno server in a child process (so that its memory and its
//! start-up are its own), driven only through its public HTTP API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use serde_json::{json, Value};

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// An executable that runs the server when given `serve-quaderno <quaderno args>`
    /// (the harness binary itself).
    pub exe: PathBuf,
    pub data_dir: PathBuf,
    /// None: SQLite in the data directory.
    pub database_url: Option<String>,
}

impl ServerSpec {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/quaderno.db?mode=rwc", self.data_dir.display()))
    }
}

pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
    http: reqwest::Client,
}

/// A token for a viewer of one study, written while the server runs.
pub async fn viewer_token(spec: &ServerSpec, study_id: i64) -> anyhow::Result<String> {
    let db = api::db::connect(&spec.database_url(), 1).await?;
    let token =
        api::service::tokens::create_token_for(&db.conn, "lettore", "viewer", Some(study_id), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.conn.close().await?;
    Ok(token)
}

/// A token for an admin, written to the database before the server starts.
pub async fn admin_token(spec: &ServerSpec) -> anyhow::Result<String> {
    std::fs::create_dir_all(&spec.data_dir)?;
    let db = api::db::connect(&spec.database_url(), 1).await?;
    api::db::migrate(&db.conn).await?;
    let token = api::service::tokens::create_token_for(&db.conn, "bench", "admin", None, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.conn.close().await?;
    Ok(token)
}

impl Server {
    /// Starts the server and waits until /readyz answers 200; returns it with the time from
    /// spawning the process to that answer.
    pub async fn start(spec: &ServerSpec, token: &str) -> anyhow::Result<(Self, Duration)> {
        let log = std::fs::File::create(spec.data_dir.join("server.log"))?;
        let mut cmd = Command::new(&spec.exe);
        cmd.arg("serve-quaderno")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&spec.data_dir)
            // 64 concurrent clients must not queue on the pool more than on the CPU.
            .arg("--db-max-connections")
            .arg("16")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(url) = &spec.database_url {
            cmd.arg("--database-url").arg(url);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().context("starting the server")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(600)))
            .await?
            .context("the server did not say where it listens (see server.log)")?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()?;
        let server = Server {
            child,
            url,
            token: token.to_owned(),
            http,
        };
        loop {
            if let Ok(r) = server
                .http
                .get(format!("{}/readyz", server.url))
                .send()
                .await
            {
                if r.status().as_u16() == 200 {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(3_600) {
                bail!("the server was not ready within an hour");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok((server, started.elapsed()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's CPU time, readable from another thread.
    pub fn cpu_clock(&self) -> CpuClock {
        CpuClock(self.pid())
    }

    /// Waits until the server has been nearly idle (under 5% of a core) for a second, at
    /// most `limit`; returns how long that took. After a bulk import the index goes on
    /// merging segments for a while, with pauses between merges: a search timed meanwhile
    /// times the merges too.
    pub async fn settle(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        let window = Duration::from_millis(500);
        let clock = self.cpu_clock();
        let mut quiet = 0;
        while quiet < 2 && started.elapsed() < limit {
            let before = clock.read();
            tokio::time::sleep(window).await;
            let busy = clock.read().saturating_sub(before);
            quiet = if busy < window / 20 { quiet + 1 } else { 0 };
        }
        started.elapsed()
    }

    /// Peak and current resident memory of the server process, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Stops the server as an operator would (SIGTERM: finish requests, close the index).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("the server did not stop within two minutes of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn client(&self) -> Client {
        Client {
            http: self.http.clone(),
            url: self.url.clone(),
            token: self.token.clone(),
        }
    }
}

/// CPU time a process's threads have run so far (Linux `schedstat`): over a run of
/// requests, it tells the server's work per request from time spent waiting.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock(u32);

impl CpuClock {
    pub fn read(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.0));
        let ns: u64 = tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(ns)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A GraphQL-over-HTTP client with the admin's token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub url: String,
    token: String,
}

impl Client {
    /// The same server, with another caller's token.
    pub fn as_caller(&self, token: &str) -> Self {
        Self {
            http: self.http.clone(),
            url: self.url.clone(),
            token: token.to_owned(),
        }
    }

    /// The same client with a connection pool of its own, for use on another runtime (a
    /// pooled connection is served by a task of the runtime that opened it).
    pub fn with_own_connections(&self) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder().build()?,
            url: self.url.clone(),
            token: self.token.clone(),
        })
    }

    /// The whole response body (data and errors), failing only on transport errors.
    pub async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        json_body(resp).await
    }

    /// Posts a GraphQL request serialized once ([`graphql_body`]) and returns the response's
    /// body as it arrived, not decoded: W3 times this, the time to the last byte, and the
    /// client's own decoding apart ([`decode_data`]).
    pub async fn post_graphql(&self, body: &[u8]) -> anyhow::Result<Vec<u8>> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        ensure!(
            status.is_success(),
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(bytes.to_vec())
    }

    /// `data`, or an error carrying the first GraphQL error.
    pub async fn ok(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        data(self.gql(query, variables).await?)
    }

    /// `data` of an operation whose `files` variable is a list of uploads
    /// (graphql-multipart-request-spec), as a front end sends transcripts.
    pub async fn upload(
        &self,
        query: &str,
        mut variables: Value,
        files: Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<Value> {
        variables["files"] = Value::Array(vec![Value::Null; files.len()]);
        let map: serde_json::Map<String, Value> = (0..files.len())
            .map(|i| (i.to_string(), json!([format!("variables.files.{i}")])))
            .collect();
        let mut form = reqwest::multipart::Form::new()
            .text(
                "operations",
                json!({"query": query, "variables": variables}).to_string(),
            )
            .text("map", Value::Object(map).to_string());
        for (i, (name, bytes)) in files.into_iter().enumerate() {
            form = form.part(
                i.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        let resp = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        data(json_body(resp).await?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let resp = self.http.get(format!("{}{path}", self.url)).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// A gauge or counter from /metrics.
    pub async fn metric(&self, name: &str) -> anyhow::Result<u64> {
        let (_, body) = self.get("/metrics").await?;
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{name} not in /metrics"))
    }
}

async fn json_body(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    resp.json()
        .await
        .with_context(|| format!("HTTP {status}: body is not JSON"))
}

/// The body of a GraphQL request, for [`Client::post_graphql`].
pub fn graphql_body(query: &str, variables: &Value) -> Vec<u8> {
    json!({ "query": query, "variables": variables })
        .to_string()
        .into_bytes()
}

/// `data` of a response body [`Client::post_graphql`] returned, or an error carrying its
/// GraphQL errors.
pub fn decode_data(body: &[u8]) -> anyhow::Result<Value> {
    data(serde_json::from_slice(body).context("the body is not JSON")?)
}

/// `data`, or an error carrying the GraphQL errors.
fn data(mut body: Value) -> anyhow::Result<Value> {
    if let Some(errors) = body.get("errors") {
        bail!("GraphQL errors: {errors}");
    }
    Ok(body["data"].take())
}

/// Bytes of every file under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}
