//! REFI-QDA exchange: `importQdpx` (a multipart upload, graphql-multipart-request-spec) and
//! the URLs of a study's downloads (.qdpx and CSV), served by `http`.

use async_graphql::{Context, Object, SimpleObject, Upload, ID};

use super::ids::{decode, encode, Kind};
use super::live::ChangeKind;
use super::studies::Study;
use super::{rc, read_upload};
use crate::import;

pub struct ImportReport(import::ImportReport);

#[Object]
impl ImportReport {
    /// The study imported into (new, or the one named).
    async fn study(&self) -> Study {
        Study(self.0.study.clone())
    }
    /// Codes created (those matching an existing code by name and parent are reused).
    async fn codes(&self) -> i32 {
        self.0.codes as i32
    }
    async fn interviews(&self) -> i32 {
        self.0.interviews as i32
    }
    async fn quotations(&self) -> i32 {
        self.0.quotations.len() as i32
    }
    /// What was skipped (non-text sources and their selections, variables, sets…) or
    /// adjusted, one sentence each.
    async fn warnings(&self) -> &[String] {
        &self.0.warnings
    }
}

/// Where to GET a study's exports, with the same Bearer token. The tables are
/// comma-separated; `?separator=semicolon` gives them for Excel in an Italian locale.
#[derive(SimpleObject)]
pub struct StudyExports {
    /// The REFI-QDA project (.qdpx), for ATLAS.ti, MAXQDA, NVivo, QualCoder…
    pub qdpx_url: String,
    /// Every quotation: study, case, interview, start, end, text, codes, coder, memo, notes.
    pub quotations_csv_url: String,
    /// Codes × cases, quotation counts (descendants included).
    pub code_case_matrix_csv_url: String,
}

#[derive(Default)]
pub struct QdpxQuery;

#[Object]
impl QdpxQuery {
    /// The download URLs of a study the caller may read.
    async fn study_exports(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
    ) -> async_graphql::Result<StudyExports> {
        let r = rc(ctx);
        let id = decode(&study_id, Kind::Study)?;
        crate::service::studies::readable_study(&r.db, &r.caller, id).await?;
        let base = format!("/studies/{}", encode(Kind::Study, id).0);
        Ok(StudyExports {
            qdpx_url: format!("{base}/export.qdpx"),
            quotations_csv_url: format!("{base}/quotations.csv"),
            code_case_matrix_csv_url: format!("{base}/code-case-matrix.csv"),
        })
    }
}

#[derive(Default)]
pub struct QdpxMutation;

#[Object]
impl QdpxMutation {
    /// Import a REFI-QDA project (.qdpx) as a new study, or into an existing one.
    async fn import_qdpx(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        study_id: Option<ID>,
    ) -> async_graphql::Result<ImportReport> {
        let r = rc(ctx);
        let study_id = study_id
            .as_ref()
            .map(|s| decode(s, Kind::Study))
            .transpose()?;
        let (name, bytes) = read_upload(ctx, &file)?;
        let report = import::import_refi(
            r.db.pool(),
            &r.caller,
            &name,
            bytes,
            study_id,
            import::Limits::default(),
        )
        .await?;
        r.searchable().await;
        if study_id.is_some() {
            // Into a study subscribers may be watching (a new one has none yet).
            let created: Vec<_> = report
                .quotations
                .iter()
                .map(|&q| (ChangeKind::Created, q))
                .collect();
            r.events.publish_all(report.study.id, &created);
        }
        Ok(ImportReport(report))
    }
}
