//! `quaderno-bench`: runs the workloads and prints the results table.
//!
//! `quaderno-bench serve-quaderno <args>` runs the quaderno server itself (the harness starts
//! the server under test as a child process of its own binary, so that one build serves both).

use std::path::PathBuf;

use clap::Parser;

use bench::corpus::Size;
use bench::Config;

#[derive(Parser, Debug)]
#[command(
    name = "quaderno-bench",
    about = "quaderno's benchmark harness (see BENCHMARKS.md)"
)]
struct Args {
    /// Corpus size: S (50 interviews, ~3 MB), M (1,000, ~60 MB), L (10,000, ~600 MB).
    #[arg(long, default_value = "S")]
    size: String,
    /// Generate this many interviews instead of the size's count.
    #[arg(long)]
    interviews: Option<usize>,
    #[arg(long, default_value_t = 8)]
    seed: u64,
    /// Seed documents to learn the vocabulary from.
    #[arg(long, default_value = "../shared/seeds")]
    seeds: PathBuf,
    /// Scratch directory (removed at the end unless --keep).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long)]
    keep: bool,
    /// Run the server under test on a scratch database on this PostgreSQL server.
    #[arg(long)]
    server_postgres: Option<String>,
    /// PostgreSQL server for W7 (full-text search baseline); "none" skips W7.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    fts_postgres: String,
    /// Workloads to run, comma separated (W1..W7).
    #[arg(long, value_delimiter = ',', default_value = "W1,W2,W3,W4,W5,W6,W7")]
    only: Vec<String>,
    /// Timed runs per W3 query.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// W3 and W4 as a viewer of the corpus's study instead of an admin.
    #[arg(long)]
    as_viewer: bool,
    /// W2: single edits in all.
    #[arg(long, default_value_t = 10_000)]
    edits: usize,
    /// W2: edits timed until searchable.
    #[arg(long, default_value_t = 200)]
    edit_samples: usize,
    /// W4: seconds per concurrency level.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 4)]
    import_clients: usize,
    #[arg(long, default_value_t = 1_000)]
    quotations: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("serve-quaderno") {
        let cli = api::cli::Cli::parse_from(
            std::iter::once("quaderno".to_owned()).chain(argv[2..].iter().cloned()),
        );
        return tokio::runtime::Runtime::new()?.block_on(api::cli::run(cli));
    }
    let args = Args::parse();
    let size = Size::parse(&args.size).ok_or_else(|| anyhow::anyhow!("--size is S, M or L"))?;
    let scratch = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("quaderno-bench-{}", std::process::id())),
    };
    let mut config = Config::new(size, scratch.clone(), std::env::current_exe()?);
    config.interviews = args.interviews.unwrap_or(size.interviews());
    config.seed = args.seed;
    config.seeds_dir = args.seeds.is_dir().then(|| args.seeds.clone());
    config.server_postgres = args.server_postgres.clone();
    config.fts_postgres = (args.fts_postgres != "none").then(|| args.fts_postgres.clone());
    config.workloads = args.only.clone();
    config.search_iterations = args.iterations;
    config.search_as_viewer = args.as_viewer;
    config.edits = args.edits;
    config.edit_samples = args.edit_samples;
    config.concurrency_seconds = args.seconds;
    config.import_clients = args.import_clients;
    config.quotations = args.quotations;
    let report = tokio::runtime::Runtime::new()?.block_on(bench::run(&config));
    if !args.keep {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let report = report?;
    println!("{}", report.markdown());
    if let Some(path) = args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
