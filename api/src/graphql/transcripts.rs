//! Transcript import over GraphQL: files arrive as multipart uploads
//! (graphql-multipart-request-spec) and become interviews of one case, all or none.

use async_graphql::{Context, Enum, Object, SimpleObject, Upload, ID};

use super::ids::{decode, Kind};
use super::interviews::Interview;
use super::{rc, read_upload};
use crate::import::transcripts::{Format, Step};
use crate::service::transcripts as service;

/// A normalisation step that changed an imported text.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NormalisationStep {
    /// A leading byte-order mark was dropped.
    BomStripped,
    /// CRLF or lone CR line endings became LF.
    LineEndings,
    /// The text was brought to Unicode NFC (composed accents).
    UnicodeNfc,
    /// Markdown markup (headings, emphasis, links, quotes) was removed.
    Markdown,
    /// A speaker label on its own paragraph was completed with its colon and joined to its turn.
    SpeakerLabels,
}

impl From<Step> for NormalisationStep {
    fn from(s: Step) -> Self {
        match s {
            Step::BomStripped => Self::BomStripped,
            Step::LineEndings => Self::LineEndings,
            Step::UnicodeNfc => Self::UnicodeNfc,
            Step::Markdown => Self::Markdown,
            Step::SpeakerLabels => Self::SpeakerLabels,
        }
    }
}

/// The steps recorded on an interview (a JSON array of step names).
pub fn recorded_steps(json: Option<&str>) -> Option<Vec<NormalisationStep>> {
    json.map(|j| {
        crate::service::studies::string_list(j)
            .iter()
            .filter_map(|s| Step::parse(s))
            .map(NormalisationStep::from)
            .collect()
    })
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TranscriptFormat {
    Text,
    Markdown,
    Docx,
}

impl From<Format> for TranscriptFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Text => Self::Text,
            Format::Markdown => Self::Markdown,
            Format::Docx => Self::Docx,
        }
    }
}

/// One file made into an interview.
#[derive(SimpleObject)]
pub struct ImportedTranscript {
    /// The uploaded file's name; its stem is the interview's label.
    pub file_name: String,
    pub format: TranscriptFormat,
    pub interview: Interview,
    /// The steps that changed the text on the way in (empty: stored as read).
    pub normalisation: Vec<NormalisationStep>,
    /// Lines that open a speaker turn ("INT:", "R:", "Intervistatore:"…); search passages
    /// follow them.
    pub turns: i32,
    /// The speakers, in order of first appearance.
    pub speakers: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(SimpleObject)]
pub struct TranscriptImport {
    pub transcripts: Vec<ImportedTranscript>,
    /// Every file's warnings together.
    pub warnings: Vec<String>,
}

#[derive(Default)]
pub struct TranscriptMutation;

#[Object]
impl TranscriptMutation {
    /// Imports transcripts (.txt, .md, .docx; UTF-8, normalised) as new interviews of a case,
    /// labelled by file name. One unreadable file fails the whole batch and imports nothing.
    async fn import_transcripts(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        files: Vec<Upload>,
        #[graphql(default = "it")] language: String,
    ) -> async_graphql::Result<TranscriptImport> {
        let r = rc(ctx);
        let case_id = decode(&case_id, Kind::Case)?;
        service::authorize_import(&r.db, &r.caller, case_id).await?;
        let mut uploaded = Vec::with_capacity(files.len());
        for f in &files {
            let (name, bytes) = read_upload(ctx, f)?;
            uploaded.push(service::TranscriptFile { name, bytes });
        }
        let read = service::read_all(uploaded).await?;
        let saved = service::save(&r.db, &r.caller, case_id, &language, read).await?;
        r.searchable().await;
        let transcripts: Vec<ImportedTranscript> = saved
            .into_iter()
            .map(|s| ImportedTranscript {
                file_name: s.transcript.file_name,
                format: s.transcript.format.into(),
                interview: Interview::from(s.interview),
                normalisation: s.transcript.steps.into_iter().map(Into::into).collect(),
                turns: i32::try_from(s.transcript.turns).unwrap_or(i32::MAX),
                speakers: s.transcript.speakers,
                warnings: s.transcript.warnings,
            })
            .collect();
        let warnings = transcripts
            .iter()
            .flat_map(|t| t.warnings.iter().cloned())
            .collect();
        Ok(TranscriptImport {
            transcripts,
            warnings,
        })
    }
}
