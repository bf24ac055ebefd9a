//! The index schema: passages and quotations, with the fields search filters and facets need.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED,
};

use super::analyzer::{EXACT, LEMMATISED, STEMMED, SURFACE};

/// What a document is.
pub const KIND_PASSAGE: u64 = 0;
pub const KIND_QUOTATION: u64 = 1;

#[derive(Clone, Copy)]
pub struct Fields {
    pub kind: Field,
    pub interview_id: Field,
    /// The interview's label when the document was made: a page of hits names its interviews
    /// without a database read (the interview's change log entry re-indexes it on a rename).
    pub interview_label: Field,
    /// Set on passages only: the interview whose transcript they cut (delete key).
    pub passage_of: Field,
    pub quotation_id: Field,
    /// Set on quotations only: their interview (delete key when the interview changes).
    pub quotation_interview: Field,
    pub study_id: Field,
    pub case_id: Field,
    pub ambito_id: Field,
    /// Codes of a quotation with all their ancestors (filters include descendants).
    pub code_id: Field,
    /// Codes carried directly (facets).
    pub code_direct: Field,
    /// Conducted date, days since 0001-01-01.
    pub conducted: Field,
    pub start: Field,
    pub end: Field,
    pub text: Field,
    pub text_exact: Field,
    pub text_lemma: Field,
    /// Lower-cased words with their accents, to report the forms a query matched.
    pub text_surface: Field,
}

impl Fields {
    /// Adds a passage's or quotation's text under every analyzer the search modes read.
    pub fn add_text(&self, doc: &mut tantivy::TantivyDocument, text: &str) {
        for field in [
            self.text,
            self.text_exact,
            self.text_lemma,
            self.text_surface,
        ] {
            doc.add_text(field, text);
        }
    }
}

/// Fast fields read by name (tantivy's sort keys and columns take names).
pub const INTERVIEW_ID: &str = "interview_id";
pub const START: &str = "start";
pub const QUOTATION_ID: &str = "quotation_id";

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = NumericOptions::default()
        .set_indexed()
        .set_fast()
        .set_stored();
    let filter = NumericOptions::default().set_indexed().set_fast();
    let stemmed = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(STEMMED)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let exact = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(EXACT)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let lemmatised = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(LEMMATISED)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let surface = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(SURFACE)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        kind: b.add_u64_field("kind", INDEXED | FAST),
        interview_id: b.add_u64_field(INTERVIEW_ID, key.clone()),
        interview_label: b.add_text_field("interview_label", STORED),
        passage_of: b.add_u64_field("passage_of", INDEXED),
        quotation_id: b.add_u64_field(QUOTATION_ID, key),
        quotation_interview: b.add_u64_field("quotation_interview", INDEXED),
        study_id: b.add_u64_field("study_id", filter.clone()),
        case_id: b.add_u64_field("case_id", filter.clone()),
        ambito_id: b.add_u64_field("ambito_id", filter.clone()),
        code_id: b.add_u64_field("code_id", filter.clone()),
        code_direct: b.add_u64_field("code_direct", FAST),
        conducted: b.add_u64_field("conducted", filter),
        // Fast: hits of equal score are ranked by place (`execute::ranking::ranked_page`).
        start: b.add_u64_field(START, STORED | FAST),
        end: b.add_u64_field("end", STORED),
        text: b.add_text_field("text", stemmed),
        text_exact: b.add_text_field("text_exact", exact),
        text_lemma: b.add_text_field("text_lemma", lemmatised),
        text_surface: b.add_text_field("text_surface", surface),
    };
    (b.build(), fields)
}
