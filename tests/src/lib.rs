//! Test support: a real quaderno server on an ephemeral port, over SQLite (default) or over
//! a fresh PostgreSQL database when `QUADERNO_TEST_DATABASE_URL` names a PostgreSQL server.

use api::db::Database;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;

pub use serde_json;

pub struct TestServer {
    pub url: String,
    pub db: Database,
    pub search: std::sync::Arc<api::search::SearchIndex>,
    pub data_dir: TempDir,
    http: reqwest::Client,
    handle: JoinHandle<()>,
}

#[derive(Clone, Default)]
pub struct Options {
    pub demo: bool,
    pub limits: api::http::Limits,
    /// Connections in the server's pool (8 when 0, as the server's default).
    pub db_connections: u32,
}

/// The PostgreSQL server the tests run on, if any (a URL naming one of its databases).
fn test_postgres() -> Option<String> {
    std::env::var("QUADERNO_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// A database URL for one test: a temporary SQLite file, or a new PostgreSQL database when
/// `QUADERNO_TEST_DATABASE_URL` names a server.
pub async fn fresh_database_url(dir: &TempDir) -> String {
    api::db::scratch_database_url(test_postgres().as_deref(), dir.path())
        .await
        .expect("PostgreSQL named by QUADERNO_TEST_DATABASE_URL is unreachable")
}

/// A migrated database, with the demo dataset or without, and its search index, made once
/// per test process: each test starts from a copy of both. Loading the demo through the
/// service functions, as a server's first start does, took a second per test (1.7 s on
/// PostgreSQL), and building its index 0.3–0.5 s; copies take milliseconds on SQLite and
/// 0.1–0.3 s on PostgreSQL. Each test's server resumes the copied index as it would its own
/// after a restart (the index records the change-log entry it reached, which the copy holds
/// too).
struct Template {
    database: TemplateDatabase,
    /// The index directory's files, by name.
    index: Vec<(std::ffi::OsString, Vec<u8>)>,
}

enum TemplateDatabase {
    /// The database file, whole.
    Sqlite(Vec<u8>),
    /// A database no one stays connected to (PostgreSQL copies only such a database), named
    /// as the tests' own are, so that `.ci/run` drops it with them.
    Postgres { server: String, name: String },
}

/// Without the demo dataset, and with it.
static TEMPLATES: [tokio::sync::OnceCell<Template>; 2] = [
    tokio::sync::OnceCell::const_new(),
    tokio::sync::OnceCell::const_new(),
];

impl Template {
    async fn get(demo: bool) -> &'static Template {
        TEMPLATES[usize::from(demo)]
            .get_or_init(|| Self::make(demo))
            .await
    }

    async fn make(demo: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = fresh_database_url(&dir).await;
        let db = api::db::connect(&url, 8).await.expect("connect");
        api::db::migrate(&db.conn).await.expect("migrate");
        if demo {
            api::demo::load_if_empty(&db.conn).await.expect("demo data");
        }
        let index_dir = dir.path().join("index");
        let (search, index_db) = open_index(&index_dir, &url, &db).await;
        search.shutdown().await;
        drop(search);
        index_db
            .conn
            .close()
            .await
            .expect("close the index's connections");
        let index = std::fs::read_dir(&index_dir)
            .expect("index directory")
            .map(|entry| {
                let entry = entry.expect("index file");
                let bytes = std::fs::read(entry.path()).expect("index file");
                (entry.file_name(), bytes)
            })
            .collect();
        let database = match (test_postgres(), url.rsplit_once('/')) {
            (Some(server), Some((_, name))) => TemplateDatabase::Postgres {
                server,
                name: name.to_owned(),
            },
            _ => {
                // One self-contained file, whatever the write-ahead log still holds.
                let file = dir.path().join("template.db");
                db.conn
                    .execute_unprepared(&format!("VACUUM INTO '{}'", file.display()))
                    .await
                    .expect("VACUUM INTO");
                TemplateDatabase::Sqlite(std::fs::read(file).expect("template file"))
            }
        };
        db.conn.close().await.expect("close the template");
        Template { database, index }
    }

    /// A copy for one test: its index in `dir/index`, and the URL of its database (in `dir`
    /// for SQLite).
    async fn copy(&self, dir: &TempDir) -> String {
        let index_dir = dir.path().join("index");
        std::fs::create_dir(&index_dir).expect("index directory");
        for (name, bytes) in &self.index {
            std::fs::write(index_dir.join(name), bytes).expect("copy the index");
        }
        match &self.database {
            TemplateDatabase::Sqlite(bytes) => {
                let file = dir.path().join("quaderno.db");
                std::fs::write(&file, bytes).expect("copy the template");
                format!("sqlite://{}?mode=rwc", file.display())
            }
            TemplateDatabase::Postgres { server, name } => {
                api::db::scratch_postgres_database(server, Some(name))
                    .await
                    .expect("PostgreSQL named by QUADERNO_TEST_DATABASE_URL is unreachable")
            }
        }
    }
}

/// The search index in `dir` for the database at `url`, once usable, and the pool its writer
/// reads the database through.
async fn open_index(
    dir: &std::path::Path,
    url: &str,
    db: &Database,
) -> (std::sync::Arc<api::search::SearchIndex>, Database) {
    let index_db = api::db::connect(url, 2).await.expect("connect");
    let search = api::search::SearchIndex::open(dir, index_db.conn.clone(), Default::default())
        .expect("search index");
    search.ready(&db.conn).await.expect("index ready");
    (search, index_db)
}

impl TestServer {
    pub async fn start(opts: Options) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let url = Template::get(opts.demo).await.copy(&data_dir).await;
        let connections = if opts.db_connections == 0 {
            8
        } else {
            opts.db_connections
        };
        let db = api::db::connect(&url, connections).await.expect("connect");
        let (search, _) = open_index(&data_dir.path().join("index"), &url, &db).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = api::http::router(api::http::AppState::with_limits(
            db.clone(),
            search.clone(),
            opts.limits,
        ));
        let handle = tokio::spawn(async move {
            axum_serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            db,
            search,
            data_dir,
            http: reqwest::Client::new(),
            handle,
        }
    }

    pub async fn demo() -> Self {
        Self::start(Options {
            demo: true,
            ..Default::default()
        })
        .await
    }

    pub async fn empty() -> Self {
        Self::start(Options::default()).await
    }

    /// A second server over the same data and search index, with its own state (event
    /// channel, download leaves), which the test can reach into: its url, its state and its
    /// task (to abort at the end).
    pub async fn second_server(&self) -> (String, api::http::AppState, JoinHandle<()>) {
        let state = api::http::AppState::new(self.db.clone(), self.search.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = api::http::router(state.clone());
        let serving = tokio::spawn(async move {
            api::http::serve(listener, router, std::future::pending()).await;
        });
        (url, state, serving)
    }

    /// Stops serving and drops this server's search index (its writer task then ends).
    pub async fn stop(&mut self) {
        self.handle.abort();
        let _ = (&mut self.handle).await;
        self.search.shutdown().await;
    }

    /// Runs a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        resp.json().await.expect("JSON body")
    }

    /// Runs an operation that must succeed and returns its `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// A token for a user with a role ("admin", or a study role with the study's number).
    /// An operation with one file, as a browser sends it: a multipart request
    /// (graphql-multipart-request-spec) whose variable `file_variable` takes the file.
    pub async fn upload(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        file_variable: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Value {
        let operations = json!({"query": query, "variables": variables});
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text(
                "map",
                json!({"0": [format!("variables.{file_variable}")]}).to_string(),
            )
            .part(
                "0",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(file_name.to_owned())
                    .mime_str("application/octet-stream")
                    .unwrap(),
            );
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    pub async fn token(&self, user: &str, role: &str, study: Option<i64>) -> String {
        api::service::tokens::create_token_for(&self.db.conn, user, role, study, None)
            .await
            .expect("token")
    }

    pub async fn admin(&self) -> String {
        self.token("admin", "admin", None).await
    }

    /// Writes a case's label straight into the database, past the API's checks: as an older
    /// version, or another writer, may have stored it.
    pub async fn store_case_label(&self, case: &Value, label: &str) {
        use sea_orm::{ConnectionTrait as _, Statement};
        let db = &self.db.conn;
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => "UPDATE study_case SET label = $1 WHERE id = $2",
                _ => "UPDATE study_case SET label = ? WHERE id = ?",
            },
            [label.into(), id_number(case.as_str().unwrap()).into()],
        ))
        .await
        .unwrap();
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// SQL statements the server has run so far (from /metrics).
    pub async fn statements(&self) -> u64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix("quaderno_sql_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("statement counter in /metrics")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    api::http::serve(listener, app, std::future::pending()).await;
}

/// A study made by a token's user, with one case and one interview per transcript.
pub struct Corpus {
    pub study: Value,
    pub case: Value,
    pub interviews: Vec<Value>,
}

impl TestServer {
    /// The one number a `SELECT count(*) ...` (or any single-integer query) answers, read
    /// straight from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        let db = &self.db.conn;
        db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
    }

    pub async fn corpus(&self, token: &str, title: &str, transcripts: &[&str]) -> Corpus {
        let t = Some(token);
        let study = self
            .ok(
                t,
                "mutation($t: String!) { createStudy(input: {title: $t}) { id } }",
                json!({"t": title}),
            )
            .await["createStudy"]["id"]
            .clone();
        let case = self
            .ok(
                t,
                "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Caso\"}) { id } }",
                json!({"s": study}),
            )
            .await["createCase"]["id"]
            .clone();
        let mut interviews = Vec::new();
        for (n, text) in transcripts.iter().enumerate() {
            let i = self
                .ok(
                    t,
                    "mutation($c: ID!, $l: String!, $t: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id length version } }",
                    json!({"c": case, "l": format!("Int. {}", n + 1), "t": text}),
                )
                .await["createInterview"]
                .clone();
            interviews.push(i);
        }
        Corpus {
            study,
            case,
            interviews,
        }
    }

    /// A study of `2^doublings` interviews, each with one quotation of "casa" carrying the
    /// code "Casa", copied in SQL: enough to pass what a statement takes in parameters
    /// (65,536 for 16 doublings: past PostgreSQL's 65,535 and SQLite's 32,766). Returns the
    /// study's and the code's IDs.
    pub async fn crowded_study(&self, token: &str, doublings: u32) -> (Value, Value) {
        use sea_orm::ConnectionTrait;
        let c = self
            .corpus(token, "Affollato", &["R: La casa popolare manca."])
            .await;
        let t = Some(token);
        let code = self
            .ok(
                t,
                "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\"}) { id } }",
                json!({"s": c.study}),
            )
            .await["createCode"]["id"]
            .clone();
        self.ok(t, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: []}) { id } }", json!({"i": c.interviews[0]["id"]}))
            .await;
        let db = &self.db.conn;
        for _ in 0..doublings {
            db.execute_unprepared("INSERT INTO interview (case_id, label, conducted_on, interviewee_role, language, transcript, length, version, created_at, updated_at, source_file, normalisation) SELECT case_id, label, conducted_on, interviewee_role, language, transcript, length, version, created_at, updated_at, source_file, normalisation FROM interview")
                .await
                .unwrap();
        }
        db.execute_unprepared("INSERT INTO quotation (interview_id, start_pos, end_pos, memo, coder_id, version, created_at, updated_at) SELECT i.id, q.start_pos, q.end_pos, q.memo, q.coder_id, q.version, q.created_at, q.updated_at FROM interview i CROSS JOIN quotation q WHERE i.id <> q.interview_id")
            .await
            .unwrap();
        let code_number = id_number(code.as_str().unwrap());
        db.execute_unprepared(&format!(
            "INSERT INTO quotation_code (quotation_id, code_id) SELECT id, {code_number} FROM quotation"
        ))
        .await
        .unwrap();
        (c.study, code)
    }
}

/// The `extensions.code` of the first error.
/// An audit entry's `summary`, which the API gives as a JSON string, parsed.
pub fn audit_summary(entry: &Value) -> Value {
    serde_json::from_str(entry["summary"].as_str().unwrap()).unwrap()
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body:#}"))
}

/// The global ID of a `kind` and number ("Kind:number", base64url), as the server writes it.
pub fn global_id(kind: &str, number: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{number}"))
}

/// The number in a global ID ("Kind:number", base64url).
pub fn id_number(id: &str) -> i64 {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .expect("base64 id");
    let s = String::from_utf8(raw).expect("utf8 id");
    s.rsplit_once(':')
        .expect("kind:number")
        .1
        .parse()
        .expect("number")
}

/// How many sessions of the test's PostgreSQL database wait for a lock now.
pub async fn lock_waiters(db: &sea_orm::DatabaseConnection) -> i64 {
    db.query_one_raw(Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

/// Runs `paused` up to its audit entry, its last write before it commits (after the locks it
/// takes), and holds it there while `meanwhile` runs, until `meanwhile` has answered or waits
/// for a lock itself; then lets `paused` commit. That is the window in which a write has read
/// what it read and has not committed yet. `operations` names the audited operations to pause.
/// PostgreSQL only: SQLite runs one writer at a time, so there the two run one after the
/// other.
pub async fn with_paused<P, M>(
    server: &TestServer,
    operations: &[&str],
    paused: P,
    meanwhile: M,
) -> (Value, Value)
where
    P: std::future::Future<Output = Value>,
    M: std::future::Future<Output = Value>,
{
    use sea_orm::{DbBackend, TransactionTrait};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let db = &server.db.conn;
    if db.get_database_backend() != DbBackend::Postgres {
        let first = paused.await;
        return (first, meanwhile.await);
    }
    // Advisory locks belong to one database: tests running side by side do not meet here.
    db.execute_unprepared(
        "CREATE OR REPLACE FUNCTION pause_audit() RETURNS trigger AS $$ \
         BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$ LANGUAGE plpgsql",
    )
    .await
    .unwrap();
    let names: Vec<String> = operations.iter().map(|o| format!("'{o}'")).collect();
    db.execute_unprepared(&format!(
        "CREATE TRIGGER pause_audit BEFORE INSERT ON audit_log FOR EACH ROW \
         WHEN (NEW.operation IN ({})) EXECUTE FUNCTION pause_audit()",
        names.join(", ")
    ))
    .await
    .unwrap();
    let hold = db.begin().await.unwrap();
    hold.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();
    let waiting = || lock_waiters(db);
    let go = tokio::sync::Notify::new();
    let answered = AtomicBool::new(false);
    let (first, second, ()) = tokio::join!(
        paused,
        async {
            go.notified().await;
            let r = meanwhile.await;
            answered.store(true, Ordering::SeqCst);
            r
        },
        async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while waiting().await < 1 {
                assert!(
                    Instant::now() < deadline,
                    "the paused operation never reached its pause"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            go.notify_one();
            while !answered.load(Ordering::SeqCst) && waiting().await < 2 {
                assert!(
                    Instant::now() < deadline,
                    "the other operation neither answered nor waited"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            hold.commit().await.unwrap();
        }
    );
    db.execute_unprepared("DROP TRIGGER pause_audit ON audit_log")
        .await
        .unwrap();
    (first, second)
}

/// A graphql-transport-ws client for the live tests: a socket with `connection_init` sent.
pub mod ws {
    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    pub type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    pub async fn connect(server: &crate::TestServer, token: Option<&str>) -> Socket {
        connect_to(&server.url, token).await
    }

    /// A socket to the server's endpoint, nothing sent on it yet.
    pub async fn open(url: &str) -> Socket {
        let mut request = format!("{}/graphql/ws", url.replace("http", "ws"))
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        socket
    }

    pub async fn connect_to(url: &str, token: Option<&str>) -> Socket {
        let mut socket = open(url).await;
        let payload = token.map_or(
            json!({}),
            |t| json!({"Authorization": format!("Bearer {t}")}),
        );
        socket
            .send(Message::text(
                json!({"type": "connection_init", "payload": payload}).to_string(),
            ))
            .await
            .unwrap();
        socket
    }

    pub async fn next(socket: &mut Socket) -> Value {
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
                .await
                .expect("a message in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] != "ping" && v["type"] != "pong" {
                        return v;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return json!({
                        "type": "closed",
                        "code": frame.as_ref().map(|f| u16::from(f.code)),
                        "reason": frame.map(|f| f.reason.to_string()),
                    })
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
    }
}
