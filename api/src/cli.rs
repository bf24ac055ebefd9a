//! The command line: `serve` (default), `migrate`, `reindex`, `schema`, `token`, `role`,
//! `user`, `import`, `export`, `backup`. Flags win over the environment.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::builder::BoolishValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::{auth, db, demo, http};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "quaderno",
    version,
    about = "GraphQL server for qualitative policy research"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOptions {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "QUADERNO_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,
    /// Directory for the SQLite database and the search index.
    #[arg(
        long,
        env = "QUADERNO_DATA_DIR",
        default_value = "./quaderno-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL; `postgres://…` selects PostgreSQL. Default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Do not load the demo dataset into an empty database.
    #[arg(long, env = "QUADERNO_NO_DEMO", value_parser = BoolishValueParser::new(), global = true)]
    pub no_demo: bool,
    /// The largest request body accepted, in MiB (uploads included), 1 to 4096.
    #[arg(long, env = "QUADERNO_MAX_BODY_MB", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mb: u64,
    /// Seconds before a request is abandoned (408), 1 to 86400.
    #[arg(
        long,
        env = "QUADERNO_REQUEST_TIMEOUT",
        default_value_t = 30,
        global = true,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub request_timeout: u64,
    /// Seconds a WebSocket may stay open without `connection_init` (then closed with 4408),
    /// 1 to 3600.
    #[arg(
        long,
        env = "QUADERNO_CONNECTION_INIT_TIMEOUT",
        default_value_t = 10,
        global = true,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub connection_init_timeout: u64,
    /// Refuse schema introspection (production deployments that publish the SDL instead).
    #[arg(long, env = "QUADERNO_NO_INTROSPECTION", value_parser = BoolishValueParser::new(), global = true)]
    pub no_introspection: bool,
    /// Do not serve GraphiQL at GET /graphql.
    #[arg(long, env = "QUADERNO_NO_GRAPHIQL", value_parser = BoolishValueParser::new(), global = true)]
    pub no_graphiql: bool,
    /// Most connections in the database pool.
    #[arg(
        long,
        env = "QUADERNO_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9100, where only monitoring
    /// reaches), not on --bind. By default /metrics is on --bind, open to anyone.
    #[arg(long, env = "QUADERNO_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Days the change log keeps its entries (0: forever). A replica down longer, whose
    /// index stopped at an entry pruned since, rebuilds its index from the database.
    #[arg(long, env = "QUADERNO_CHANGE_LOG_DAYS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub change_log_days: u32,
    /// Log lines on standard error: `text` for people, `json` for log collectors.
    #[arg(
        long,
        env = "QUADERNO_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Start the server (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Rebuild the search index from the database, with a progress bar, and exit.
    Reindex,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage users' roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Import transcripts (.txt, .md, .docx) as interviews of a case, all files or none; or
    /// REFI-QDA projects (.qdpx) and codebooks (.qdc), each into a new study or --study.
    Import(ImportArgs),
    /// Export a study to a file.
    Export {
        /// The study (global ID or number).
        #[arg(long)]
        study: String,
        /// qdpx (REFI-QDA project), csv (quotations) or matrix-csv (codes × cases).
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Copy the SQLite database to FILE, consistently, while the server may be running
    /// (for PostgreSQL use pg_dump: see README).
    Backup {
        /// Where to write the copy; it must not exist yet.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Qdpx,
    Csv,
    MatrixCsv,
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The files: transcripts, each becoming an interview labelled by its name ("Int. 3.docx"
    /// → "Int. 3"); or REFI-QDA files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The study (global ID or number). Transcripts need it; a REFI-QDA project without it
    /// becomes a new study.
    #[arg(long)]
    pub study: Option<String>,
    /// The case (global ID, number, or label); needed when the study has more than one.
    #[arg(long)]
    pub case: Option<String>,
    /// The transcripts' language.
    #[arg(long, default_value = "it")]
    pub language: String,
    /// The user the import is recorded under (created if new; owner of new studies, coder
    /// where a project names none); acts as an instance admin.
    #[arg(long, default_value = "cli")]
    pub user: String,
}

#[derive(Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Print a new token once, alone on standard output; only its hash is stored.
    Create {
        /// The user's name; created if new.
        #[arg(long)]
        user: String,
        /// admin (instance-wide), or owner, analyst, evaluator, viewer (with --study).
        #[arg(long)]
        role: String,
        /// The study (global ID or number) the role applies to.
        #[arg(long)]
        study: Option<String>,
        /// Days until the token expires (1 to 36,500); never by default.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=36_500))]
        expires_in_days: Option<i64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its number (from `token list`).
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Remove an account: revoke its tokens, take its roles and admin rights, and replace its
    /// name with `removed user #ID`. What it wrote stays, under that name. Refused while it
    /// is a study's last owner.
    Remove {
        /// The user's name.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum RoleCommand {
    /// Take a user's role in a study away (never the study's last owner), or their instance
    /// admin rights. Their tokens stay, without that role, from their next request on.
    #[command(group(ArgGroup::new("scope").required(true).args(["study", "admin"])))]
    Revoke {
        /// The user's name.
        #[arg(long)]
        user: String,
        /// The study (global ID or number) whose role is taken away.
        #[arg(long)]
        study: Option<String>,
        /// Take the instance admin rights away.
        #[arg(long)]
        admin: bool,
    },
}

impl GlobalOptions {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/quaderno.db?mode=rwc", self.data_dir.display()))
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing(cli.global.log_format);
    if matches!(cli.command, Some(Command::Schema)) {
        print!("{}", crate::graphql::sdl());
        return Ok(());
    }
    let opts = cli.global;
    if let Some(Command::Backup { output }) = &cli.command {
        return backup(&opts, output).await;
    }
    let command = cli.command.unwrap_or(Command::Serve);
    // An import may be how an instance begins (a REFI-QDA project brought over).
    let creates_the_database = matches!(
        command,
        Command::Serve | Command::Migrate | Command::Import { .. }
    );
    let sqlite_file = opts.data_dir.join("quaderno.db");
    if opts.database_url.is_none() && !creates_the_database && !sqlite_file.exists() {
        // A mistyped or forgotten --data-dir would otherwise get a new, empty database of its
        // own: a token made there works on no server, a reindex "succeeds" on nothing.
        anyhow::bail!(
            "no database at {}: name your server's data directory with --data-dir (or \
             QUADERNO_DATA_DIR), or create the database first with `quaderno migrate`",
            sqlite_file.display()
        );
    }
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    // A server, or a reindex, holds the data directory before it migrates or loads anything:
    // one started beside a running server stops here, its database untouched.
    let index_lock = match command {
        Command::Serve | Command::Reindex => Some(crate::search::IndexLock::take(
            &opts.data_dir.join("index"),
        )?),
        _ => None,
    };
    let database = db::connect(&opts.database_url(), opts.db_max_connections).await?;
    db::migrate(&database.conn).await?;
    let db = &database.conn;
    match command {
        Command::Schema | Command::Backup { .. } => unreachable!("handled before migrating"),
        Command::Reindex => reindex(&opts, &database, index_lock).await,
        Command::Migrate => {
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Export {
            study,
            format,
            output,
        } => export(db, &study, format, &output).await,
        Command::Token(TokenCommand::Create {
            user,
            role,
            study,
            expires_in_days,
        }) => {
            let study_id = study.as_deref().map(study_ref).transpose()?;
            let expires = expires_in_days.map(chrono::Duration::days);
            let secret =
                crate::service::tokens::create_token_for(db, &user, &role, study_id, expires)
                    .await?;
            println!("{secret}");
            Ok(())
        }
        Command::Import(args) => crate::import::cli::run(db, args).await,
        Command::Token(TokenCommand::List) => list_tokens(db).await,
        Command::Token(TokenCommand::Revoke { id }) => {
            crate::service::tokens::revoke_token(db, id).await?;
            eprintln!("token {id} revoked");
            Ok(())
        }
        Command::Role(RoleCommand::Revoke { user, study, admin }) => {
            // Exactly one of --study and --admin (the argument group).
            debug_assert!(study.is_some() != admin);
            let revoked = match study {
                Some(study) => {
                    let study_id = study_ref(&study)?;
                    let role =
                        crate::service::members::revoke_study_role(db, &user, study_id).await?;
                    format!("{} role in study {study_id}", role.as_str())
                }
                None => {
                    crate::service::members::revoke_admin(db, &user).await?;
                    "admin rights".to_owned()
                }
            };
            eprintln!("{user}: {revoked} revoked");
            Ok(())
        }
        Command::User(UserCommand::Remove { user }) => remove_user(db, &user).await,
        Command::Serve => serve(&opts, database, index_lock).await,
    }
}

/// A study named on the command line, by number or global ID.
fn study_ref(s: &str) -> anyhow::Result<i64> {
    crate::graphql::ids::parse_study_ref(s).map_err(anyhow::Error::msg)
}

/// Writes a study's export to a file.
async fn export(
    db: &sea_orm::DatabaseConnection,
    study: &str,
    format: ExportFormat,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    // Reading writes nothing, not even a user: an administrator without an account.
    let caller = auth::Caller {
        user: Some(auth::CallerUser {
            id: 0,
            name: "console".into(),
            is_admin: true,
            roles: Default::default(),
        }),
    };
    let content =
        crate::service::exchange::StudyContent::load(db, &caller, study_ref(study)?).await?;
    let bytes = match format {
        ExportFormat::Qdpx => crate::export::qdpx::qdpx(&content)?,
        ExportFormat::Csv => {
            crate::export::quotations_csv::quotations_csv(&content, Default::default())?
                .into_bytes()
        }
        ExportFormat::MatrixCsv => {
            crate::export::quotations_csv::code_case_matrix_csv(&content, Default::default())?
                .into_bytes()
        }
    };
    std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "study {} exported to {} ({} bytes)",
        content.study.id,
        output.display(),
        bytes.len()
    );
    Ok(())
}

async fn list_tokens(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    println!(
        "{:>5}  {:<20} {:<6} {:<25} {:<25} revoked",
        "id", "user", "admin", "created", "expires"
    );
    for t in crate::service::tokens::list_tokens(db).await? {
        let when =
            |d: Option<chrono::DateTime<chrono::Utc>>| d.map_or("-".to_owned(), |d| d.to_rfc3339());
        println!(
            "{:>5}  {:<20} {:<6} {:<25} {:<25} {}",
            t.id,
            t.user,
            t.admin,
            t.created_at.to_rfc3339(),
            when(t.expires_at),
            when(t.revoked_at)
        );
    }
    Ok(())
}

async fn remove_user(db: &sea_orm::DatabaseConnection, user: &str) -> anyhow::Result<()> {
    let removal = crate::service::users::remove_user(db, user).await?;
    let roles: Vec<String> = removal
        .roles
        .iter()
        .map(|(study, role)| format!("{} in study {study}", role.as_str()))
        .collect();
    eprintln!(
        "{user}: removed, now {:?}; roles taken: {}{}; tokens revoked: {}",
        removal.name,
        if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        },
        if removal.was_admin {
            "; admin rights taken"
        } else {
            ""
        },
        removal.tokens_revoked
    );
    Ok(())
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight, commits the index
/// and closes the database.
async fn serve(
    opts: &GlobalOptions,
    database: db::Database,
    index_lock: Option<crate::search::IndexLock>,
) -> anyhow::Result<()> {
    // The index writer has its own small pool, so that its polling neither waits
    // behind requests nor counts as their statements.
    let index_db = db::connect(&opts.database_url(), 2).await?;
    if !opts.no_demo {
        // The lock is held on the index pool, so that a one-connection main pool
        // is left to the loading itself.
        db::exclusively(&index_db.conn, demo::load_if_empty(&database.conn)).await?;
    }
    let pools = (database.conn.clone(), index_db.conn.clone());
    let search = crate::search::SearchIndex::open(
        &opts.data_dir.join("index"),
        index_db.conn,
        crate::search::OpenOptions {
            lock: index_lock,
            ..Default::default()
        },
    )?;
    let listener = tokio::net::TcpListener::bind(&opts.bind)
        .await
        .with_context(|| format!("binding {}", opts.bind))?;
    let addr = listener.local_addr()?;
    let limits = http::Limits {
        // At most 4 GiB (the flag's range): it fits a usize wherever this runs.
        max_body_bytes: (opts.max_body_mb * 1024 * 1024) as usize,
        request_timeout: std::time::Duration::from_secs(opts.request_timeout),
        connection_init_timeout: std::time::Duration::from_secs(opts.connection_init_timeout),
        introspection: !opts.no_introspection,
        graphiql: !opts.no_graphiql,
    };
    if opts.change_log_days > 0 {
        tokio::spawn(prune_change_log(
            database.conn.clone(),
            search.clone(),
            opts.change_log_days,
        ));
    }
    let state = http::AppState::with_limits(database, search.clone(), limits);
    let app = match &opts.metrics_bind {
        None => http::router(state),
        Some(metrics_bind) => {
            let (app, metrics) = http::router_and_metrics(state);
            let listener = tokio::net::TcpListener::bind(metrics_bind)
                .await
                .with_context(|| format!("binding {metrics_bind} for /metrics"))?;
            // Before the main address, which tests and scripts read as the last line.
            println!("metrics on http://{}/metrics", listener.local_addr()?);
            // Ends with the process: the scrapes it answers need no finishing.
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
            app
        }
    };
    println!("listening on http://{addr}");
    // On SIGTERM or Ctrl-C: stop accepting, let requests in flight finish (each is
    // bounded by the request timeout, so the wait is too), then commit the index.
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let server = http::serve(listener, app, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping_tx.send(true);
    });
    let grace = std::time::Duration::from_secs(opts.request_timeout + 5);
    let overdue = async move {
        let mut rx = stopping_rx;
        let _ = rx.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {}
        _ = overdue => tracing::warn!("requests still running after {grace:?}: leaving them"),
    }
    search.shutdown().await;
    tracing::info!(seq = search.applied_seq(), "search index committed");
    // Closed, the last connection folds SQLite's write-ahead log into the database
    // file and removes it: a log left behind would be replayed onto a backup copied
    // into its place (README, Backups) and corrupt it. Bounded, as requests left
    // running above may still hold connections.
    let (main, index) = pools;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        main.close().await.and(index.close().await)
    })
    .await;
    if !matches!(closed, Ok(Ok(()))) {
        tracing::warn!("the database connections did not close cleanly");
    }
    tracing::info!("bye");
    Ok(())
}

/// Prunes the change log once the index is ready, then every hour, keeping `days` of it and
/// never an entry this process's index has not applied (see `service::change_log::prune`).
async fn prune_change_log(
    db: sea_orm::DatabaseConnection,
    search: std::sync::Arc<crate::search::SearchIndex>,
    days: u32,
) {
    // Not before: until then the index's position says nothing. `ready` gives up after a
    // while (a slow start, a database hiccup); this keeps asking.
    while search.ready(&db).await.is_err() {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    }
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let before = chrono::Utc::now() - chrono::Duration::days(days.into());
        match crate::service::change_log::prune(&db, before, search.applied_seq()).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, days, "change-log entries pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning the change log failed; again in an hour"),
        }
    }
}

/// `quaderno reindex`: rebuilds the index in the data directory (the server must be stopped:
/// the index has one writer).
async fn reindex(
    opts: &GlobalOptions,
    database: &db::Database,
    lock: Option<crate::search::IndexLock>,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} interviews ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("indexing");
    let progress_bar = bar.clone();
    let index = crate::search::SearchIndex::open(
        &opts.data_dir.join("index"),
        database.conn.clone(),
        crate::search::OpenOptions {
            force_rebuild: true,
            lock,
            progress: Some(Box::new(move |done, total| {
                progress_bar.set_length(total as u64);
                progress_bar.set_position(done as u64);
            })),
        },
    )
    .context("opening the search index")?;
    index.ready(&database.conn).await?;
    bar.finish_with_message("indexed");
    eprintln!(
        "search index rebuilt: {} segments, change log at {}",
        index.segment_count(),
        index.applied_seq()
    );
    Ok(())
}

/// `quaderno backup -o FILE`: `VACUUM INTO` copies the database as of one read transaction,
/// so it is consistent while a server keeps writing (WAL lets both run).
async fn backup(opts: &GlobalOptions, output: &std::path::Path) -> anyhow::Result<()> {
    let url = opts.database_url();
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "quaderno backup copies SQLite databases; for PostgreSQL use pg_dump \
             (e.g. `pg_dump --format=custom --file=quaderno.dump \"$DATABASE_URL\"`, \
             restore with pg_restore; see README, Backups)"
        );
    }
    if output.exists() {
        anyhow::bail!("{} exists already; name a new file", output.display());
    }
    let database_file = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if !std::path::Path::new(database_file).exists() {
        anyhow::bail!("no database at {database_file}");
    }
    let database = db::connect(&url, 1).await?;
    let target = output.to_str().context("the backup path must be UTF-8")?;
    use sea_orm::ConnectionTrait as _;
    database
        .conn
        .execute_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            format!("VACUUM INTO '{}'", target.replace('\'', "''")),
        ))
        .await
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!("backup written to {}", output.display());
    Ok(())
}

fn init_tracing(format: LogFormat) {
    // tantivy warns "couldn't find segment in SegmentManager" when a background merge ends
    // after a segment it read was dropped for holding only deleted documents, which bursts
    // of transcript edits do (each re-indexes its interview): the merge is discarded and
    // its other segments merge later (tantivy's own error text: "not necessarily a bug").
    // An operator reading the log at the default level would take it for damage.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,tantivy::indexer::segment_manager=error")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One object a line, with the request span's fields (request_id) in `span`.
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        // Colours only for a terminal: in a file or a pipe they are escape codes.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// Global options are read from the environment too, and one test below sets it: every
    /// parse holds this lock, so that none reads a variable another test set for itself.
    static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn parse<const N: usize>(args: [&str; N]) -> Result<Cli, clap::Error> {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        Cli::try_parse_from(args)
    }

    fn token_create(days: &str) -> Result<Cli, clap::Error> {
        parse([
            "quaderno",
            "token",
            "create",
            "--user",
            "ada",
            "--role",
            "admin",
            &format!("--expires-in-days={days}"),
        ])
    }

    /// The README documents `QUADERNO_NO_DEMO=1` and its siblings: clap's default parser for
    /// a flag's variable takes only `true`/`false`, and refused to start on `1`.
    #[test]
    fn switches_from_the_environment_take_1_and_0() {
        let vars = [
            "QUADERNO_NO_DEMO",
            "QUADERNO_NO_INTROSPECTION",
            "QUADERNO_NO_GRAPHIQL",
        ];
        let parse_with = |value: &str| {
            let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
            for v in vars {
                std::env::set_var(v, value);
            }
            let cli = Cli::try_parse_from(["quaderno", "serve"]);
            for v in vars {
                std::env::remove_var(v);
            }
            cli.map(|c| {
                let g = c.global;
                (g.no_demo, g.no_introspection, g.no_graphiql)
            })
        };
        assert_eq!(parse_with("1").unwrap(), (true, true, true));
        assert_eq!(parse_with("yes").unwrap(), (true, true, true));
        assert_eq!(parse_with("0").unwrap(), (false, false, false));
        assert_eq!(parse_with("false").unwrap(), (false, false, false));
        assert!(parse_with("maybe").is_err());
    }

    /// Sizes and times past what a server can use would overflow when turned into bytes or
    /// a grace period; zero would refuse every request.
    #[test]
    fn body_limit_and_timeout_are_refused_out_of_range() {
        let serve =
            |flag: &str, value: &str| parse(["quaderno", "serve", &format!("--{flag}={value}")]);
        let g = serve("max-body-mb", "4096").unwrap().global;
        assert_eq!(g.max_body_mb, 4096);
        assert_eq!(
            serve("request-timeout", "60")
                .unwrap()
                .global
                .request_timeout,
            60
        );
        for (flag, value) in [
            ("max-body-mb", "0"),
            ("max-body-mb", "18446744073709551615"),
            ("request-timeout", "0"),
            ("request-timeout", "18446744073709551615"),
        ] {
            let refused = serve(flag, value).unwrap_err();
            assert_eq!(
                refused.kind(),
                clap::error::ErrorKind::ValueValidation,
                "--{flag}={value}"
            );
        }
    }

    /// `role revoke` takes back one thing at a time: a study role or the admin rights.
    #[test]
    fn role_revoke_names_a_study_or_admin_but_not_both() {
        let revoke = |extra: &[&str]| {
            let mut args = vec!["quaderno", "role", "revoke", "--user", "ada"];
            args.extend_from_slice(extra);
            let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
            Cli::try_parse_from(args)
        };
        assert!(matches!(
            revoke(&["--study", "3"]).unwrap().command,
            Some(Command::Role(RoleCommand::Revoke { study: Some(ref s), admin: false, .. })) if s == "3"
        ));
        assert!(matches!(
            revoke(&["--admin"]).unwrap().command,
            Some(Command::Role(RoleCommand::Revoke {
                study: None,
                admin: true,
                ..
            }))
        ));
        for refused in [&[][..], &["--study", "3", "--admin"][..]] {
            assert!(revoke(refused).is_err(), "{refused:?}");
        }
    }

    /// An expiry past the calendar's end would overflow the date (a panic), and one of zero or
    /// fewer days would make a token that is dead on arrival.
    #[test]
    fn token_expiry_is_refused_outside_a_century() {
        assert!(token_create("30").is_ok());
        for days in ["0", "-5", "100000000"] {
            let refused = token_create(days).unwrap_err();
            assert_eq!(refused.kind(), clap::error::ErrorKind::ValueValidation);
        }
    }
}
