//! `quaderno import FILE… [--study ID] [--case ID]`: the same imports as the GraphQL mutations
//! (transcripts, REFI-QDA projects), run by an operator against the database; a running
//! server's search index picks the new interviews up from the change log.

use anyhow::{bail, Context as _};
use sea_orm::DatabaseConnection;

use crate::auth::{Caller, CallerUser};
use crate::cli::ImportArgs;
use crate::service::users::ensure_user;
use std::path::{Path, PathBuf};

use crate::graphql::ids::{decode_any, encode, parse_study_ref, Kind};
use crate::import::transcripts;
use crate::service::transcripts as service;

pub async fn run(db: &DatabaseConnection, args: ImportArgs) -> anyhow::Result<()> {
    let is_project = |p: &PathBuf| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "qdpx" | "qdc" | "qde"))
    };
    let projects = args.files.iter().filter(|p| is_project(p)).count();
    if projects > 0 && projects < args.files.len() {
        bail!("import REFI-QDA projects and transcripts with separate commands");
    }
    let study_id = args
        .study
        .as_deref()
        .map(parse_study_ref)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let caller = operator(db, &args.user).await?;
    if projects > 0 {
        for file in &args.files {
            import_project(db, &caller, file, study_id).await?;
        }
        return Ok(());
    }
    let Some(study_id) = study_id else {
        bail!("transcripts go into a study: name it with --study");
    };
    import_transcripts(db, &caller, study_id, &args).await
}

/// The person at the console: they hold the database, so they act as an administrator.
async fn operator(db: &DatabaseConnection, name: &str) -> anyhow::Result<Caller> {
    let user = ensure_user(db, name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Caller {
        user: Some(CallerUser {
            id: user.id,
            name: user.name,
            is_admin: true,
            roles: Default::default(),
        }),
    })
}

/// One REFI-QDA file (.qdpx project, .qdc codebook) into `study_id` or a new study.
async fn import_project(
    db: &DatabaseConnection,
    caller: &Caller,
    file: &Path,
    study_id: Option<i64>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let report = crate::import::import_refi(
        db,
        caller,
        name,
        bytes,
        study_id,
        crate::import::Limits::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!(
        "{}: study {} ({}): {} codes, {} interviews, {} quotations",
        file.display(),
        report.study.id,
        encode(Kind::Study, report.study.id).0,
        report.codes,
        report.interviews,
        report.quotations.len()
    );
    for w in &report.warnings {
        eprintln!("  warning: {w}");
    }
    Ok(())
}

/// Transcripts into one case of the study: every file read first, then all saved or none.
async fn import_transcripts(
    db: &DatabaseConnection,
    caller: &Caller,
    study_id: i64,
    args: &ImportArgs,
) -> anyhow::Result<()> {
    let case_ref = args.case.as_deref().map(|c| match decode_any(c) {
        Some((Kind::Case, n)) => n.to_string(),
        _ => c.to_owned(),
    });
    let case_id = service::case_for_import(db, caller, study_id, case_ref.as_deref())
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
    let saved = service::save(db, caller, case_id, &args.language, read)
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
