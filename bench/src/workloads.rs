//! The workloads W1–W7, each measured beside its baseline in the same run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::corpus::{Corpus, Rng, CASES};
use crate::raw::{self, BenchQuery, RawSearcher};
use crate::report::{mib, ms, secs, Report, Samples};
use crate::server::{self, Client, Server, ServerSpec};
use crate::Config;

/// What the import created, for the later workloads.
struct Study {
    id: String,
    cases: Vec<String>,
    codes: Vec<String>,
    interviews: Vec<String>,
}

/// The number in a global ID ("Kind:number", base64url).
fn id_number(id: &str) -> anyhow::Result<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id)?;
    let s = String::from_utf8(raw)?;
    Ok(s.rsplit_once(':').context("kind:number")?.1.parse()?)
}

pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let mut report = Report::default();
    std::fs::create_dir_all(&config.work_dir)?;
    let corpus = Arc::new(Corpus::new(config.seed, config.seeds_dir.as_deref()));
    report.note(format!(
        "corpus {}: {} interviews, seed {}, vocabulary {} words ({})",
        config.size.name(),
        config.interviews,
        config.seed,
        corpus.vocabulary.len(),
        if config.seeds_dir.is_some() {
            "seed documents + built-in"
        } else {
            "built-in only"
        }
    ));

    // Generating alone, so that it can be told apart from indexing in both W1 timings.
    let t = Instant::now();
    let bytes: usize = (0..config.interviews)
        .map(|n| corpus.interview(n).transcript.len())
        .sum();
    let generation = t.elapsed();
    report.row(
        "W0",
        "corpus size / generation time",
        format!("{} / {}", mib(bytes as u64), secs(generation)),
    );

    // W1 baseline first: the machine is quietest before the server exists.
    let mut raw_index_time = None;
    if config.runs("W1") {
        let dir = config.work_dir.join("raw-index");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let c = corpus.clone();
        let n = config.interviews;
        let t = Instant::now();
        let docs = tokio::task::spawn_blocking(move || {
            raw::index_loop(&dir, (0..n).map(|i| c.interview(i)))
        })
        .await??;
        let elapsed = t.elapsed();
        raw_index_time = Some(elapsed);
        report.note(format!(
            "W1 baseline: bare tantivy loop indexed {docs} passages in {} (generation included)",
            secs(elapsed)
        ));
        let _ = std::fs::remove_dir_all(config.work_dir.join("raw-index"));
    }

    let data_dir = config.work_dir.join("server");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let server_db = match &config.server_postgres {
        Some(base) => Some(api::db::scratch_database_url(Some(base), &data_dir).await?),
        None => None,
    };
    let spec = ServerSpec {
        exe: config.exe.clone(),
        data_dir: data_dir.clone(),
        database_url: server_db.clone(),
    };
    let token = server::admin_token(&spec).await?;
    let (mut srv, first_start) = Server::start(&spec, &token).await?;
    report.note(format!(
        "server backend: {}; first start (migrations, demo data, empty index) took {}",
        if server_db.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        secs(first_start)
    ));
    let client = srv.client();

    let study = import(
        config,
        &corpus,
        &client,
        &srv,
        raw_index_time,
        bytes,
        &mut report,
    )
    .await?;

    if config.runs("W5") {
        quotations(config, &corpus, &client, &study, &mut report).await?;
    }
    let filter_case = id_number(&study.cases[0])?;
    let queries = raw::queries(filter_case);
    // Who searches in W3 and W4.
    let searcher_token = if config.search_as_viewer {
        let viewer = server::viewer_token(&spec, id_number(&study.id)?).await?;
        report.note("W3, W4: searching as a viewer of the corpus's study (not an admin)");
        viewer
    } else {
        token.clone()
    };
    let searcher = client.as_caller(&searcher_token);
    let mut api_p50 = Vec::new();
    if config.runs("W3") {
        api_p50 = search(
            config,
            &searcher,
            &srv,
            &data_dir,
            &queries,
            &study,
            &mut report,
        )
        .await?;
    }
    if config.runs("W4") {
        concurrency(config, &searcher, &queries, &study, &mut report).await?;
    }
    if config.runs("W2") {
        edits(config, &corpus, &client, &study, &mut report).await?;
    }
    if config.runs("W6") {
        let (peak, _) = srv.memory();
        report.row(
            "W1",
            "server peak RSS over the run (before restart)",
            mib(peak),
        );
        srv.stop().await?;
        let (again, ready) = Server::start(&spec, &token).await?;
        report
            .row(
                "W6",
                format!("cold start to /readyz 200 ({})", config.size.name()),
                secs(ready),
            )
            .goal("≤ 2 s on L", ready <= Duration::from_secs(2));
        report.note(format!(
            "W6: data directory {} (database and index)",
            mib(server::dir_size(&data_dir))
        ));
        srv = again;
    }
    let (peak, _) = srv.memory();
    report.row("W1", "server peak RSS (since last start)", mib(peak));
    srv.stop().await?;
    if config.runs("W3") {
        // The server's index is free now: open it in this process to see what of a search's
        // time is the search itself.
        search_in_process(
            config,
            &spec,
            &searcher_token,
            &queries,
            &study,
            &mut report,
        )
        .await?;
    }

    if config.runs("W7") {
        match &config.fts_postgres {
            Some(base) => {
                postgres_fts(config, &corpus, base, &queries, &api_p50, &mut report).await?
            }
            None => report.note("W7 skipped: no PostgreSQL named"),
        }
    }
    if let (Some(base), Some(url)) = (&config.server_postgres, &server_db) {
        drop_database(base, url).await?;
    }
    Ok(report)
}

async fn drop_database(base: &str, url: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait as _;
    let name = url.rsplit_once('/').map(|(_, n)| n).unwrap_or_default();
    let admin = sea_orm::Database::connect(base.to_owned()).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await?;
    Ok(())
}

/// Transcripts per importTranscripts request: about 2 MiB, well within the server's default
/// body limit.
const IMPORT_BATCH: usize = 32;

/// W1: study, cases and codebook, then every interview as a transcript file through
/// importTranscripts (the bulk path: one transaction and one wait for the index per request),
/// from `import_clients` concurrent clients.
async fn import(
    config: &Config,
    corpus: &Arc<Corpus>,
    client: &Client,
    srv: &Server,
    raw_time: Option<Duration>,
    bytes: usize,
    report: &mut Report,
) -> anyhow::Result<Study> {
    let ambiti = client
        .ok(
            "{ ambiti(first: 100) { edges { node { code } } } }",
            json!({}),
        )
        .await?;
    let codes_of_ambiti: Vec<String> = ambiti["ambiti"]["edges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["node"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let study = client
        .ok(
            "mutation { createStudy(input: {title: \"Benchmark: servizi sociali e territorio\"}) { id } }",
            json!({}),
        )
        .await?["createStudy"]["id"]
        .as_str()
        .context("study id")?
        .to_owned();
    let mut cases = Vec::new();
    for c in 0..CASES {
        let ambito: Vec<&String> = codes_of_ambiti
            .get(c % codes_of_ambiti.len().max(1))
            .into_iter()
            .collect();
        let id = client
            .ok(
                "mutation($s: ID!, $l: String!, $a: [String!]) { createCase(input: {studyId: $s, label: $l, ambitoCodes: $a}) { id } }",
                json!({"s": study, "l": format!("Caso {}", c + 1), "a": ambito}),
            )
            .await?["createCase"]["id"]
            .as_str()
            .context("case id")?
            .to_owned();
        cases.push(id);
    }
    let mut codes = Vec::new();
    for root in ["Governance", "Strumenti", "Attori", "Covid-19", "Bisogni"] {
        let r = client
            .ok(
                "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }",
                json!({"s": study, "n": root}),
            )
            .await?["createCode"]["id"]
            .as_str()
            .context("code id")?
            .to_owned();
        for child in ["Continuità", "Discontinuità", "Ostacolo", "Risorsa"] {
            let id = client
                .ok(
                    "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }",
                    json!({"s": study, "n": child, "p": r}),
                )
                .await?["createCode"]["id"]
                .as_str()
                .context("code id")?
                .to_owned();
            codes.push(id);
        }
        codes.push(r);
    }

    // Each request carries up to IMPORT_BATCH interviews of one case, as files.
    let batches: Vec<Vec<usize>> = (0..CASES)
        .flat_map(|c| {
            let numbers: Vec<usize> = (c..config.interviews).step_by(CASES).collect();
            numbers
                .chunks(IMPORT_BATCH)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    let batches = Arc::new(batches);
    let next = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..config.import_clients.max(1) {
        let (client, corpus, next, ids, cases, batches) = (
            client.clone(),
            corpus.clone(),
            next.clone(),
            ids.clone(),
            cases.clone(),
            batches.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = batches.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    return anyhow::Ok(());
                };
                let files: Vec<(String, Vec<u8>)> = batch
                    .iter()
                    .map(|&n| {
                        let i = corpus.interview(n);
                        (format!("{}.txt", i.label), i.transcript.into_bytes())
                    })
                    .collect();
                let case = &cases[batch[0] % CASES];
                let data = client
                    .upload(
                        "mutation($c: ID!, $files: [Upload!]!) { importTranscripts(caseId: $c, files: $files) { transcripts { interview { id } } } }",
                        json!({"c": case}),
                        files,
                    )
                    .await
                    .with_context(|| format!("importing interviews {batch:?}"))?;
                let created = data["importTranscripts"]["transcripts"]
                    .as_array()
                    .context("imported transcripts")?;
                if created.len() != batch.len() {
                    bail!("sent {} transcripts, {} imported", batch.len(), created.len());
                }
                let mut ids = ids.lock().expect("not poisoned");
                for (&n, t) in batch.iter().zip(created) {
                    let id = t["interview"]["id"].as_str().context("interview id")?;
                    ids.push((n, id.to_owned()));
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = t.elapsed();
    let mut ids = std::mem::take(&mut *ids.lock().expect("not poisoned"));
    ids.sort();
    let interviews: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();
    if config.runs("W1") {
        let mbps = bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64();
        let row = report.row(
            "W1",
            format!(
                "import {} interviews via importTranscripts ({} per request, {} clients)",
                config.interviews, IMPORT_BATCH, config.import_clients
            ),
            format!("{} ({mbps:.1} MiB/s)", secs(elapsed)),
        );
        if let Some(raw) = raw_time {
            let ratio = raw.as_secs_f64() / elapsed.as_secs_f64();
            row.baseline(format!("{} (bare tantivy loop)", secs(raw)))
                .ratio(ratio)
                .goal("≥ 0.5× baseline throughput", ratio >= 0.5);
        }
        let (peak, rss) = srv.memory();
        report.row(
            "W1",
            "server peak RSS after import / RSS now",
            format!("{} / {}", mib(peak), mib(rss)),
        );
        let segments = client
            .metric(r#"quaderno_index{measure="segments"}"#)
            .await?;
        report.row("W1", "index segments after import", segments.to_string());
    }
    Ok(Study {
        id: study,
        cases,
        codes,
        interviews,
    })
}

/// Quotations for W5: spans of about a sentence, with one to three codes, spread over the
/// first interviews; then the nested read.
async fn quotations(
    config: &Config,
    corpus: &Corpus,
    client: &Client,
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(config.seed ^ 0x51);
    let per_interview = 20;
    let mut jobs = Vec::new();
    for k in 0..config.quotations {
        let n = (k / per_interview) % study.interviews.len();
        let i = corpus.interview(n);
        let len = i.transcript.chars().count();
        let start = rng.below(len.saturating_sub(400).max(1));
        let end = (start + 50 + rng.below(250)).min(len);
        let codes: Vec<&String> = (0..1 + rng.below(3))
            .map(|_| rng.pick(&study.codes))
            .collect();
        let mut codes: Vec<String> = codes.into_iter().cloned().collect();
        codes.sort();
        codes.dedup();
        jobs.push(json!({"i": study.interviews[n], "s": start, "e": end, "c": codes}));
    }
    let jobs = Arc::new(Mutex::new(jobs));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..config.import_clients.max(1) {
        let (client, jobs) = (client.clone(), jobs.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(vars) = jobs.lock().expect("not poisoned").pop() else {
                    return anyhow::Ok(());
                };
                client
                    .ok(
                        "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }",
                        vars,
                    )
                    .await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = t.elapsed();
    report.row(
        "W5",
        format!("create {} quotations via GraphQL", config.quotations),
        format!(
            "{} ({:.0}/s)",
            secs(elapsed),
            config.quotations as f64 / elapsed.as_secs_f64()
        ),
    );

    let nested = "query($s: ID!, $n: Int!) { quotations(filter: {studyIds: [$s]}, first: $n) { totalCount edges { node { id start end text memo codes { id name path } interview { id label case { id label } } } } } }";
    // (rows, fewest statements, most statements) over the repetitions: a range, so that a
    // read whose batches split (they did, before `graphql::batching`) shows as such.
    let mut statements: Vec<(usize, u64, u64)> = Vec::new();
    let reps = (config.search_iterations / 4).clamp(3, 30);
    let mut sizes: Vec<usize> = [10, 100, config.quotations]
        .into_iter()
        .filter(|&n| n <= config.quotations)
        .collect();
    sizes.sort();
    sizes.dedup();
    for n in sizes {
        let vars = json!({"s": study.id, "n": n});
        let data = client.ok(nested, vars.clone()).await?;
        let got = data["quotations"]["edges"].as_array().map_or(0, Vec::len);
        if got != n.min(config.quotations) {
            bail!("W5: asked for {n} quotations, got {got}");
        }
        let mut lat = Samples::default();
        let (mut fewest, mut most) = (u64::MAX, 0);
        for _ in 0..reps {
            let before = client.metric("quaderno_sql_statements_total").await?;
            let t = Instant::now();
            client.ok(nested, vars.clone()).await?;
            lat.push(t.elapsed());
            let used = client.metric("quaderno_sql_statements_total").await? - before;
            fewest = fewest.min(used);
            most = most.max(used);
        }
        statements.push((got, fewest, most));
        report.row(
            "W5",
            format!("nested read of {got} quotations with codes, interview, case"),
            format!(
                "p50 {} · p99 {} · {fewest}–{most} SQL statements",
                ms(lat.pct(50.0)),
                ms(lat.pct(99.0))
            ),
        );
    }
    let constant = statements
        .windows(2)
        .all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2);
    let listed: Vec<String> = statements
        .iter()
        .map(|(n, a, b)| format!("{n} rows: {a}–{b}"))
        .collect();
    report
        .row("W5", "SQL statements per read", listed.join(", "))
        .goal("constant in rows", constant);
    report.statements = statements;
    Ok(())
}

fn search_query(facets: bool) -> String {
    format!(
        "query($q: String!, $f: SearchFilter) {{ search(query: $q, first: 20, filter: $f) {{ totalCount edges {{ node {{ score start end snippet highlights {{ start end }} interview {{ id label }} }} }} {} }} }}",
        if facets {
            "facets { cases { value label count } interviews { value label count } }"
        } else {
            ""
        }
    )
}

fn search_vars(q: &BenchQuery, study: &Study) -> Value {
    let filter = q.case.map(|_| json!({"caseIds": [study.cases[0]]}));
    json!({"q": q.syntax(), "f": filter})
}

/// W3: every query through GraphQL over HTTP and on the raw searcher over the same index.
/// Returns the API's p50 per query. The server's CPU time per request, read around each
/// request, says how much of a request's time is work in the server rather than waiting.
async fn search(
    config: &Config,
    client: &Client,
    server: &Server,
    data_dir: &std::path::Path,
    queries: &[BenchQuery],
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<Vec<Duration>> {
    let raw = RawSearcher::open(&data_dir.join("index"))?;
    raw.reload()?;
    // The import leaves the index merging segments for a while (3 s on L in session 8):
    // searches are timed on the index as it stays, not while it is being rewritten.
    let settled = server.settle(config.settle_limit).await;
    report.note(format!(
        "W3: the server was idle {} after the import (index merges)",
        secs(settled)
    ));
    let requests = queries
        .iter()
        .map(|q| (search_query(q.facets), search_vars(q, study), q.clone()))
        .collect();
    let (client, clock, iterations) = (
        client.with_own_connections()?,
        server.cpu_clock(),
        config.search_iterations,
    );
    let timed = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(time_queries(client, raw, clock, requests, iterations))
    })
    .await??;
    let per_request = |cpu: Duration| ms(cpu / iterations.max(1) as u32);
    report.row(
        "W3",
        "transport: GET /healthz over HTTP p50/p95/p99 (no token, no GraphQL)",
        timed.transport.spread(),
    );
    report.row(
        "W3",
        "floor: authenticated `{ __typename }` over HTTP p50/p95/p99 · server CPU per request",
        format!(
            "{} · {}",
            timed.floor.spread(),
            per_request(timed.floor_cpu)
        ),
    );
    let mut p50s = Vec::new();
    for (q, t) in queries.iter().zip(&timed.queries) {
        if t.api_total != t.raw_total {
            report.mismatches.push(format!(
                "{} `{}`: {} hits through GraphQL, {} on the raw searcher",
                q.name,
                q.syntax(),
                t.api_total,
                t.raw_total
            ));
        }
        let (a50, a95, a99) = (t.api.pct(50.0), t.api.pct(95.0), t.api.pct(99.0));
        let (b50, b95, b99) = (t.raw.pct(50.0), t.raw.pct(95.0), t.raw.pct(99.0));
        let r50 = a50.as_secs_f64() / b50.as_secs_f64().max(1e-9);
        let r99 = a99.as_secs_f64() / b99.as_secs_f64().max(1e-9);
        report
            .row(
                "W3",
                format!(
                    "{} `{}` p50/p95/p99 (hits {} vs {}) · server CPU per request · the client's JSON decoding p50",
                    q.name,
                    q.syntax(),
                    t.api_total,
                    t.raw_total
                ),
                format!(
                    "{} / {} / {} · {} · {}",
                    ms(a50),
                    ms(a95),
                    ms(a99),
                    per_request(t.api_cpu),
                    ms(t.decode.pct(50.0))
                ),
            )
            .baseline(format!("{} / {} / {}", ms(b50), ms(b95), ms(b99)))
            .ratio(r50)
            .goal(
                format!("p50 ≤ 1.3×, p99 ≤ 2× (p99 {r99:.2}×)"),
                r50 <= 1.3 && r99 <= 2.0,
            );
        p50s.push(a50);
    }
    Ok(p50s)
}

/// What W3 timed.
#[derive(Default)]
struct Timed {
    /// GET /healthz: the loopback, hyper and the router's layers, without a token or GraphQL.
    transport: Samples,
    floor: Samples,
    /// The server's CPU time over the timed floor requests.
    floor_cpu: Duration,
    queries: Vec<QueryTimes>,
}

#[derive(Default)]
struct QueryTimes {
    /// To the response's last byte.
    api: Samples,
    /// The client's own decoding of the response (JSON to a tree, errors checked), not in
    /// `api`: a server's latency ends where its answer has arrived.
    decode: Samples,
    raw: Samples,
    api_cpu: Duration,
    api_total: usize,
    raw_total: usize,
}

/// W3's timing: the floors (what no query can go below: HTTP alone, then HTTP with the token
/// lookup and the GraphQL executor), then each query through GraphQL and on the raw searcher,
/// alternately so that both see the same noise; the first runs of each warm caches on both
/// sides.
///
/// It runs alone on a single-threaded runtime, the raw search inline. On a multi-threaded
/// runtime the client hands every request and response between threads (its connection is
/// served by a task of its own) and the blocking pool adds two hand-offs to every raw search:
/// each costs 50–100 µs on these VMs, noise added to whichever side it falls on.
async fn time_queries(
    client: Client,
    raw: RawSearcher,
    clock: server::CpuClock,
    requests: Vec<(String, Value, BenchQuery)>,
    iterations: usize,
) -> anyhow::Result<Timed> {
    const WARM_UP: usize = 3;
    let mut timed = Timed::default();
    for k in 0..iterations + WARM_UP {
        let t = Instant::now();
        let (status, _) = client.get("/healthz").await?;
        let d = t.elapsed();
        ensure!(status == 200, "/healthz answered {status}");
        if k >= WARM_UP {
            timed.transport.push(d);
        }
    }
    let floor = server::graphql_body("{ __typename }", &json!({}));
    for k in 0..iterations + WARM_UP {
        let cpu = clock.read();
        let t = Instant::now();
        let reply = client.post_graphql(&floor).await?;
        let d = t.elapsed();
        server::decode_data(&reply)?;
        if k >= WARM_UP {
            timed.floor.push(d);
            timed.floor_cpu += clock.read().saturating_sub(cpu);
        }
    }
    for (gql, vars, q) in requests {
        let mut times = QueryTimes::default();
        let request = server::graphql_body(&gql, &vars);
        for k in 0..iterations + WARM_UP {
            let cpu = clock.read();
            let t = Instant::now();
            let reply = client.post_graphql(&request).await?;
            let d = t.elapsed();
            let cpu = clock.read().saturating_sub(cpu);
            let t = Instant::now();
            let body = server::decode_data(&reply)?;
            let decoded = t.elapsed();
            times.api_total = body["search"]["totalCount"].as_u64().unwrap_or(0) as usize;
            let t = Instant::now();
            let out = raw.search(&q, 20)?;
            let rd = t.elapsed();
            times.raw_total = out.total;
            if k >= WARM_UP {
                times.api.push(d);
                times.decode.push(decoded);
                times.api_cpu += cpu;
                times.raw.push(rd);
            }
        }
        timed.queries.push(times);
    }
    Ok(timed)
}

/// W3 without HTTP: each query through quaderno's search function as the resolver calls it,
/// and through the GraphQL executor in this process (token and query shape checked as the
/// HTTP handler does, hits resolved as GraphQL objects), beside the raw searcher. Together with
/// the HTTP numbers this says where a search's time goes.
async fn search_in_process(
    config: &Config,
    spec: &ServerSpec,
    token: &str,
    queries: &[BenchQuery],
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    use api::search::{FacetSelection, Filter, SearchIndex, SearchRequest};
    let db = api::db::connect(&spec.database_url(), 2).await?;
    let index_dir = spec.data_dir.join("index");
    let index = SearchIndex::open(&index_dir, db.conn.clone(), Default::default())?;
    index.ready(&db.conn).await?;
    let raw = RawSearcher::open(&index_dir)?;
    raw.reload()?;
    let schema = api::graphql::build_schema();
    let events = api::graphql::live::Events::default();
    // What every request pays before its fields: the token's statement, then the executor
    // on an operation with nothing to resolve.
    let (mut token_times, mut floor) = (Samples::default(), Samples::default());
    for k in 0..config.search_iterations + 3 {
        let t = Instant::now();
        let caller = api::auth::caller_from_token(&db.conn, token)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let d_token = t.elapsed();
        let t = Instant::now();
        let ctx =
            api::graphql::RequestCtx::new(db.conn.clone(), caller, index.clone(), events.clone());
        let answer = api::graphql::batching::in_passes(
            schema.execute(async_graphql::Request::new("{ __typename }").data(ctx)),
        )
        .await;
        let d_floor = t.elapsed();
        if !answer.errors.is_empty() {
            bail!("floor: {:?}", answer.errors);
        }
        if k >= 3 {
            token_times.push(d_token);
            floor.push(d_floor);
        }
    }
    report.row(
        "W3",
        "in process p50: token statement / executor on `{ __typename }` (no HTTP)",
        format!("{} / {}", ms(token_times.pct(50.0)), ms(floor.pct(50.0))),
    );
    // The studies the resolver restricts this caller's searches to (a viewer's: scored with
    // the statistics of those studies alone).
    let readable = {
        let caller = api::auth::caller_from_token(&db.conn, token)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        api::service::studies::readable_studies(&db.conn, &caller).await?
    };
    for q in queries {
        let request = SearchRequest {
            query: q.syntax(),
            filter: Filter {
                study_ids: readable.ids.clone(),
                statistics_of_these_studies: !readable.everything,
                case_ids: q.case.map(|c| vec![c]),
                ..Default::default()
            },
            limit: 20,
            // What the W3 query selects.
            facets: FacetSelection {
                cases: q.facets,
                interviews: q.facets,
                ..Default::default()
            },
            ..Default::default()
        };
        // Whether the resolver runs it on the request's thread (`search_if_small`) or hands
        // it to the blocking pool, whose two hand-offs the second column shows.
        let in_place = index
            .search_if_small(&request, api::search::INLINE_WORK)?
            .is_some();
        let gql = search_query(q.facets);
        let vars = async_graphql::Variables::from_json(search_vars(q, study));
        let (mut core, mut pooled, mut executor, mut base) = (
            Samples::default(),
            Samples::default(),
            Samples::default(),
            Samples::default(),
        );
        let (mut found, mut raw_found) = (0, 0);
        for k in 0..config.search_iterations + 3 {
            let t = Instant::now();
            let out = index.search(&request)?;
            let d_core = t.elapsed();
            // As the resolver runs it: on the blocking pool, another thread (and maybe core).
            let t = Instant::now();
            let (i, r) = (index.clone(), request.clone());
            tokio::task::spawn_blocking(move || i.search(&r)).await??;
            let d_pooled = t.elapsed();
            let t = Instant::now();
            let caller = api::auth::caller_from_token(&db.conn, token)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut operation = async_graphql::Request::new(gql.as_str()).variables(vars.clone());
            api::graphql::limits::check_request(&mut operation, &caller)
                .map_err(|e| anyhow::anyhow!("{}: {}", q.name, e.message))?;
            let ctx = api::graphql::RequestCtx::new(
                db.conn.clone(),
                caller,
                index.clone(),
                events.clone(),
            );
            let answer =
                api::graphql::batching::in_passes(schema.execute(operation.data(ctx))).await;
            let d_executor = t.elapsed();
            if !answer.errors.is_empty() {
                bail!("{}: {:?}", q.name, answer.errors);
            }
            let t = Instant::now();
            let raw_out = raw.search(q, 20)?;
            let d_raw = t.elapsed();
            (found, raw_found) = (out.total, raw_out.total);
            if k >= 3 {
                core.push(d_core);
                pooled.push(d_pooled);
                executor.push(d_executor);
                base.push(d_raw);
            }
        }
        if found != raw_found {
            report.mismatches.push(format!(
                "{} in process: {found} hits, {raw_found} on the raw searcher",
                q.name
            ));
        }
        let raw50 = base.pct(50.0).as_secs_f64().max(1e-9);
        report
            .row(
                "W3",
                format!(
                    "{} in process p50: search function / on the blocking pool / GraphQL executor (no HTTP) · the resolver runs it in place",
                    q.name
                ),
                format!(
                    "{} / {} / {} · {}",
                    ms(core.pct(50.0)),
                    ms(pooled.pct(50.0)),
                    ms(executor.pct(50.0)),
                    if in_place { "yes" } else { "no" }
                ),
            )
            .baseline(ms(base.pct(50.0)))
            .ratio(core.pct(50.0).as_secs_f64() / raw50);
        if q.syntax().contains('"') {
            phrase_forms_in_process(config, &index, &request, q, report)?;
        }
    }
    index.shutdown().await;
    db.conn.close().await?;
    Ok(())
}

/// What asking a phrase search for its matched forms adds: they are read off the text of its
/// results, at most `MAX_PHRASE_RESULTS_READ` of them.
fn phrase_forms_in_process(
    config: &Config,
    index: &api::search::SearchIndex,
    request: &api::search::SearchRequest,
    q: &BenchQuery,
    report: &mut Report,
) -> anyhow::Result<()> {
    let with_forms = api::search::SearchRequest {
        with_forms: true,
        ..request.clone()
    };
    let (mut without, mut with) = (Samples::default(), Samples::default());
    let mut out = index.search(&with_forms)?;
    for _ in 0..(config.search_iterations / 10).max(3) {
        let t = Instant::now();
        index.search(request)?;
        without.push(t.elapsed());
        let t = Instant::now();
        out = index.search(&with_forms)?;
        with.push(t.elapsed());
    }
    let read = if out.matched_forms_partial {
        api::search::MAX_PHRASE_RESULTS_READ
    } else {
        out.total
    };
    report.row(
        "W3",
        format!(
            "{} in process p50: search function without / with its matched forms · results read for the forms · forms",
            q.name
        ),
        format!(
            "{} / {} · {read} of {} · {}",
            ms(without.pct(50.0)),
            ms(with.pct(50.0)),
            out.total,
            out.matched_forms.len()
        ),
    );
    Ok(())
}

/// W4: clients in parallel running the query mix for a while; every body is checked.
async fn concurrency(
    config: &Config,
    client: &Client,
    queries: &[BenchQuery],
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mix: Arc<Vec<(String, Value)>> = Arc::new(
        queries
            .iter()
            .map(|q| (search_query(q.facets), search_vars(q, study)))
            .collect(),
    );
    let mut single_qps = None;
    for &clients in &config.concurrency_levels {
        let deadline = Instant::now() + Duration::from_secs_f64(config.concurrency_seconds);
        let errors = Arc::new(AtomicUsize::new(0));
        let first_error: Arc<Mutex<Option<String>>> = Arc::default();
        let t = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, mix, errors, first_error) = (
                client.clone(),
                mix.clone(),
                errors.clone(),
                first_error.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Samples::default();
                let mut k = c;
                while Instant::now() < deadline {
                    let (q, v) = &mix[k % mix.len()];
                    k += 1;
                    let t = Instant::now();
                    let body = client.gql(q, v.clone()).await;
                    lat.push(t.elapsed());
                    let bad = match &body {
                        Ok(b) => {
                            b.get("errors").is_some() || !b["data"]["search"]["totalCount"].is_u64()
                        }
                        Err(_) => true,
                    };
                    if bad {
                        errors.fetch_add(1, Ordering::SeqCst);
                        first_error
                            .lock()
                            .expect("not poisoned")
                            .get_or_insert_with(|| format!("{body:?}"));
                    }
                }
                lat
            }));
        }
        let mut all = Samples::default();
        for task in tasks {
            all.0.extend(task.await?.0);
        }
        let wall = t.elapsed();
        let qps = all.len() as f64 / wall.as_secs_f64();
        let errors = errors.load(Ordering::SeqCst);
        report.errors += errors;
        let row = report.row(
            "W4",
            format!("{clients} clients: QPS · p99 · errors"),
            format!("{qps:.0} · {} · {errors}/{}", ms(all.pct(99.0)), all.len()),
        );
        if let Some(one) = single_qps {
            row.baseline(format!("{one:.0} QPS with 1 client"))
                .ratio(qps / one);
        }
        row.goal("0 errors", errors == 0);
        if single_qps.is_none() {
            single_qps = Some(qps);
        }
        let first = first_error.lock().expect("not poisoned").take();
        if let Some(e) = first {
            report.note(format!("W4 first error with {clients} clients: {e}"));
        }
    }
    Ok(())
}

/// A word the corpus never has, unique per edit.
fn marker(n: usize) -> String {
    let mut s = String::from("zq");
    let mut n = n + 1;
    while n > 0 {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}

/// W2: single transcript edits, timed until a search finds them, then many more (from four
/// clients, each on its own interview) and the segment count.
async fn edits(
    config: &Config,
    corpus: &Corpus,
    client: &Client,
    study: &Study,
    report: &mut Report,
) -> anyhow::Result<()> {
    let writers = 4;
    let mut targets = Vec::new();
    for w in 0..writers {
        let i = corpus.interview_of_size(1_000_000 + w, 2_000);
        let data = client
            .ok(
                "mutation($c: ID!, $l: String!, $t: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id version } }",
                json!({"c": study.cases[w % study.cases.len()], "l": format!("Modifiche {w}"), "t": i.transcript}),
            )
            .await?;
        let id = data["createInterview"]["id"]
            .as_str()
            .context("id")?
            .to_owned();
        let version = data["createInterview"]["version"]
            .as_i64()
            .context("version")?;
        targets.push((id, version, i.transcript));
    }
    let update = "mutation($id: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $id, version: $v, transcript: $t}) { interview { version } } }";
    let find = "query($q: String!, $i: ID!) { search(query: $q, first: 1, filter: {interviewIds: [$i]}) { totalCount } }";
    let mut mutation = Samples::default();
    let mut visible = Samples::default();
    let samples = config.edit_samples.min(config.edits);
    for n in 0..samples {
        let (id, version, base) = &mut targets[0];
        let word = marker(n);
        let t = Instant::now();
        let data = client
            .ok(
                update,
                json!({"id": id, "v": version, "t": format!("{base}R: {word}.\n")}),
            )
            .await?;
        mutation.push(t.elapsed());
        *version = data["updateInterview"]["interview"]["version"]
            .as_i64()
            .context("version")?;
        loop {
            let found = client.ok(find, json!({"q": word, "i": id})).await?;
            if found["search"]["totalCount"].as_u64() == Some(1) {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("W2: edit {n} not searchable after 30 s");
            }
        }
        visible.push(t.elapsed());
    }
    let p99 = visible.pct(99.0);
    report
        .row(
            "W2",
            format!("edit → searchable p50/p99 ({samples} edits)"),
            format!("{} / {}", ms(visible.pct(50.0)), ms(p99)),
        )
        .baseline(format!(
            "mutation alone {} / {}",
            ms(mutation.pct(50.0)),
            ms(mutation.pct(99.0))
        ))
        .goal("p99 ≤ 1 s", p99 <= Duration::from_secs(1));

    let next = Arc::new(AtomicUsize::new(samples));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (id, mut version, base) in targets {
        let (client, next) = (client.clone(), next.clone());
        let total = config.edits;
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= total {
                    return anyhow::Ok(());
                }
                let data = client
                    .ok(
                        update,
                        json!({"id": id, "v": version, "t": format!("{base}R: {}.\n", marker(n))}),
                    )
                    .await?;
                version = data["updateInterview"]["interview"]["version"]
                    .as_i64()
                    .context("version")?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rest = config.edits.saturating_sub(samples);
    let elapsed = t.elapsed();
    let segments = client
        .metric(r#"quaderno_index{measure="segments"}"#)
        .await?;
    report.segments_after_edits = Some(segments);
    report.row(
        "W2",
        format!("{rest} more edits from {writers} clients"),
        format!(
            "{} ({:.0} edits/s)",
            secs(elapsed),
            rest as f64 / elapsed.as_secs_f64().max(1e-9)
        ),
    );
    report
        .row(
            "W2",
            format!("index segments after {} single edits", config.edits),
            segments.to_string(),
        )
        .goal("≤ 50", segments <= 50);
    Ok(())
}

/// W7: the same corpus and queries on PostgreSQL full-text search.
async fn postgres_fts(
    config: &Config,
    corpus: &Arc<Corpus>,
    base: &str,
    queries: &[BenchQuery],
    api_p50: &[Duration],
    report: &mut Report,
) -> anyhow::Result<()> {
    let fts = crate::pg::PgFts::create(base).await?;
    let result = async {
        let t = Instant::now();
        let rows = fts
            .load((0..config.interviews).map(|n| corpus.interview(n)))
            .await?;
        let loaded = t.elapsed();
        let t = Instant::now();
        fts.build_index().await?;
        let indexed = t.elapsed();
        report.row(
            "W7",
            format!("PostgreSQL: load {rows} passages / build GIN index"),
            format!(
                "{} / {} ({} on disk)",
                secs(loaded),
                secs(indexed),
                mib(fts.size().await?)
            ),
        );
        // The case filter names the first case: id 1 in this table, as in the corpus.
        for (k, q) in queries.iter().enumerate() {
            let q = BenchQuery {
                case: q.case.map(|_| 1),
                ..q.clone()
            };
            let mut lat = Samples::default();
            let mut total = 0;
            for i in 0..config.search_iterations.clamp(1, 50) + 2 {
                let t = Instant::now();
                total = fts.search(&q).await?;
                if i >= 2 {
                    lat.push(t.elapsed());
                }
            }
            let row = report.row(
                "W7",
                format!("{} `{}` p50/p95/p99 (hits {total})", q.name, q.syntax()),
                format!(
                    "{} / {} / {}",
                    ms(lat.pct(50.0)),
                    ms(lat.pct(95.0)),
                    ms(lat.pct(99.0))
                ),
            );
            if let Some(api) = api_p50.get(k) {
                row.baseline(format!("quaderno GraphQL p50 {}", ms(*api)))
                    .ratio(lat.pct(50.0).as_secs_f64() / api.as_secs_f64().max(1e-9));
            }
        }
        anyhow::Ok(())
    }
    .await;
    fts.drop().await?;
    result
}
