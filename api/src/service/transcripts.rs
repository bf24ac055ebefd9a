//! Importing transcript files as the interviews of a case: every file is read and normalised
//! first (`import::transcripts`), then all interviews are written in one transaction, so a
//! batch with one bad file imports nothing.

use entities::{interview, study_case};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable};
use crate::error::{ServiceError, ServiceResult};
use crate::import::transcripts::{self, Transcript};
use crate::service::interviews::{insert_interview, NewInterview, Provenance};
use crate::service::studies::readable_case;

/// A file as uploaded: its name (which gives the format and the interview label) and bytes.
#[derive(Debug, Clone)]
pub struct TranscriptFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// One file made into an interview.
#[derive(Debug, Clone)]
pub struct ImportedTranscript {
    pub transcript: Transcript,
    pub interview: interview::Model,
}

/// Checks that the caller may add interviews to the case, before any file is read.
pub async fn authorize_import(
    db: &impl ConnectionTrait,
    caller: &Caller,
    case_id: i64,
) -> ServiceResult<()> {
    let (_, study) = readable_case(db, caller, case_id).await?;
    caller.authorize(study.id, study.is_public, Permission::Code)
}

/// Reads every file (off the async threads: a .docx is decompressed and parsed).
pub async fn read_all(files: Vec<TranscriptFile>) -> ServiceResult<Vec<Transcript>> {
    if files.is_empty() {
        return Err(ServiceError::bad_input("no files to import"));
    }
    tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|f| transcripts::read(&f.name, &f.bytes))
            .collect()
    })
    .await
    .map_err(|e| ServiceError::bad_input(format!("a file could not be read: {e}")))?
}

/// Writes the transcripts read as interviews of one case, all or none.
pub async fn save(
    db: &impl Writable,
    caller: &Caller,
    case_id: i64,
    language: &str,
    read: Vec<Transcript>,
) -> ServiceResult<Vec<ImportedTranscript>> {
    let txn = begin_write(db).await?;
    let mut labels: Vec<String> = interview::Entity::find()
        .filter(interview::Column::CaseId.eq(case_id))
        .all(&txn)
        .await?
        .into_iter()
        // Labels stored before they were kept in NFC compare as the new ones are.
        .map(|i| unicode_normalization::UnicodeNormalization::nfc(i.label.as_str()).collect())
        .collect();
    let mut out = Vec::with_capacity(read.len());
    for mut t in read {
        let label = t.label();
        if labels.contains(&label) {
            t.warnings.push(format!(
                "{}: the case already has an interview labelled {label:?}",
                t.file_name
            ));
        }
        labels.push(label);
        let interview = insert_interview(
            &txn,
            caller,
            NewInterview {
                case_id,
                label: t.label(),
                transcript: t.text.clone(),
                language: language.to_owned(),
                ..Default::default()
            },
            Some(Provenance {
                source_file: t.file_name.clone(),
                normalisation: t.steps.iter().map(|s| s.as_str().to_owned()).collect(),
            }),
        )
        .await
        .map_err(|e| match e {
            ServiceError::BadInput(m) => ServiceError::BadInput(format!("{}: {m}", t.file_name)),
            other => other,
        })?;
        out.push(ImportedTranscript {
            transcript: t,
            interview,
        });
    }
    txn.commit().await?;
    Ok(out)
}

/// The case of a study that an import goes into: by number, or by label, or the study's only
/// case when none is named.
pub async fn case_for_import(
    db: &DatabaseConnection,
    caller: &Caller,
    study_id: i64,
    case: Option<&str>,
) -> ServiceResult<i64> {
    let study = crate::service::studies::readable_study(db, caller, study_id).await?;
    let cases = study_case::Entity::find()
        .filter(study_case::Column::StudyId.eq(study.id))
        .order_by_asc(study_case::Column::Id)
        .all(db)
        .await?;
    let labels = || {
        cases
            .iter()
            .map(|c| format!("{} ({:?})", c.id, c.label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match case.map(str::trim) {
        Some(r) => cases
            .iter()
            .find(|c| r.parse() == Ok(c.id) || c.label == r)
            .ok_or_else(|| {
                ServiceError::bad_input(format!(
                    "the study has no case {r:?}; its cases: {}",
                    labels()
                ))
            })?,
        None => match cases.as_slice() {
            [only] => only,
            [] => {
                return Err(ServiceError::bad_input(
                    "the study has no cases yet: create one first",
                ))
            }
            _ => {
                return Err(ServiceError::bad_input(format!(
                    "the study has {} cases; name one with --case: {}",
                    cases.len(),
                    labels()
                )))
            }
        },
    };
    Ok(found.id)
}
