//! `quaderno import FILE… --study ID [--case ID]`: the same import as the GraphQL mutation,
//! run by an operator against the database (a running server's search index picks the new
//! interviews up from the change log).

use anyhow::{bail, Context as _};
use sea_orm::DatabaseConnection;

use crate::auth::{ensure_user, Caller, CallerUser};
use crate::cli::ImportArgs;
use crate::graphql::ids::{decode_any, parse_study_ref, Kind};
use crate::import::transcripts;
use crate::service::transcripts as service;

pub async fn run(db: &DatabaseConnection, args: ImportArgs) -> anyhow::Result<()> {
    let is_project = |p: &std::path::PathBuf| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "qdpx" | "qdc"))
    };
    let projects: Vec<String> = args
        .files
        .iter()
        .filter(|p| is_project(p))
        .map(|p| p.display().to_string())
        .collect();
    if !projects.is_empty() {
        bail!(
            "{}: REFI-QDA (.qdpx/.qdc) import is not supported by this build of `quaderno import` yet",
            projects.join(", ")
        );
    }
    let study_id = parse_study_ref(&args.study).map_err(|e| anyhow::anyhow!("{e}"))?;
    let case_ref = args.case.as_deref().map(|c| match decode_any(c) {
        Some((Kind::Case, n)) => n.to_string(),
        _ => c.to_owned(),
    });
    let user = ensure_user(db, &args.user)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let caller = Caller {
        user: Some(CallerUser {
            id: user.id,
            name: user.name,
            is_admin: true,
            roles: Default::default(),
        }),
    };
    let case_id = service::case_for_import(db, &caller, study_id, case_ref.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let bar = indicatif::ProgressBar::new(args.files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("reading");
    let mut read = Vec::with_capacity(args.files.len());
    let mut problems = Vec::new();
    for path in &args.files {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let outcome = std::fs::read(path)
            .with_context(|| format!("reading {}", path.display()))
            .and_then(|bytes| transcripts::read(&name, &bytes).map_err(|e| anyhow::anyhow!("{e}")));
        match outcome {
            Ok(t) => read.push(t),
            Err(e) => problems.push(format!("{e:#}")),
        }
        bar.inc(1);
    }
    if !problems.is_empty() {
        bar.abandon_with_message("refused");
        bail!(
            "nothing imported; {} of {} files cannot be read:\n  {}",
            problems.len(),
            args.files.len(),
            problems.join("\n  ")
        );
    }
    bar.set_message("saving");
    let saved = service::save(db, &caller, case_id, &args.language, read)
        .await
        .map_err(|e| anyhow::anyhow!("nothing imported: {e}"))?;
    bar.finish_with_message("imported");
    for s in &saved {
        let t = &s.transcript;
        let steps: Vec<&str> = t.steps.iter().map(|s| s.as_str()).collect();
        println!(
            "{}\t{}\t{} code points\t{} turns ({})\tnormalised: {}",
            t.file_name,
            crate::graphql::ids::encode(Kind::Interview, s.interview.id).as_str(),
            s.interview.length,
            t.turns,
            t.speakers.join(", "),
            if steps.is_empty() {
                "-".to_owned()
            } else {
                steps.join(", ")
            }
        );
        for w in &t.warnings {
            eprintln!("warning: {w}");
        }
    }
    eprintln!("{} interviews imported", saved.len());
    Ok(())
}
