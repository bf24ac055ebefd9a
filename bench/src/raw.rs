//! The baseline a user would otherwise write: tantivy used directly, with quaderno's schema,
//! analyzers and passage splitting (its public items, so that the baseline follows them when
//! they change), but no database, no GraphQL, no HTTP.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, EmptyQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Term, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocId, Index, IndexReader, ReloadPolicy, Score, Searcher, SegmentOrdinal, SegmentReader,
    TantivyDocument,
};

use api::search::schema::{self, Fields, KIND_PASSAGE};
use api::search::{analyzer, passages, query};

use crate::corpus::Interview;

/// What a benchmark query asks, in a form both the GraphQL query and the raw query are made
/// from.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Words, all required (one word: a term query).
    Words(Vec<&'static str>),
    Or(&'static str, &'static str),
    Phrase(&'static str),
    Prefix(&'static str),
}

#[derive(Debug, Clone)]
pub struct BenchQuery {
    pub name: &'static str,
    pub shape: Shape,
    /// Restrict to one case (its database id).
    pub case: Option<i64>,
    /// Count hits per case and interview.
    pub facets: bool,
}

impl BenchQuery {
    /// The query in quaderno's search syntax.
    pub fn syntax(&self) -> String {
        match &self.shape {
            Shape::Words(w) => w.join(" "),
            Shape::Or(a, b) => format!("{a} OR {b}"),
            Shape::Phrase(p) => format!("\"{p}\""),
            Shape::Prefix(p) => format!("{p}*"),
        }
    }
}

/// The seven query kinds of W3 (case: filled in once the cases exist).
pub fn queries(case: i64) -> Vec<BenchQuery> {
    let q = |name, shape| BenchQuery {
        name,
        shape,
        case: None,
        facets: false,
    };
    vec![
        q("term", Shape::Words(vec!["pandemia"])),
        q("AND", Shape::Words(vec!["casa", "lavoro"])),
        q("OR", Shape::Or("anziani", "disabili")),
        q("phrase", Shape::Phrase("servizi sociali")),
        q("prefix", Shape::Prefix("progett")),
        BenchQuery {
            case: Some(case),
            ..q("filtered", Shape::Words(vec!["territorio"]))
        },
        BenchQuery {
            facets: true,
            ..q("faceted", Shape::Words(vec!["famiglie"]))
        },
    ]
}

/// The documents the server makes of a transcript's passages (the fields a search reads).
fn passage_docs(f: &Fields, id: u64, case: u64, i: &Interview) -> Vec<TantivyDocument> {
    passages::split(&i.transcript)
        .into_iter()
        .map(|p| {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.passage_of, id);
            doc.add_u64(f.interview_id, id);
            doc.add_text(f.interview_label, &i.label);
            doc.add_u64(f.study_id, 1);
            doc.add_u64(f.case_id, case);
            doc.add_u64(f.start, p.start as u64);
            doc.add_u64(f.end, p.end as u64);
            f.add_text(&mut doc, &p.text);
            doc
        })
        .collect()
}

/// W1's baseline: index every interview with one writer and one commit at the end.
pub fn index_loop(
    dir: &Path,
    interviews: impl Iterator<Item = Interview>,
) -> tantivy::Result<usize> {
    let (schema, fields) = schema::build();
    let index = Index::create_in_dir(dir, schema)?;
    analyzer::register(&index);
    let mut writer: tantivy::IndexWriter = index.writer(64 * 1024 * 1024)?;
    let mut docs = 0;
    for i in interviews {
        let case = i.case as u64 + 1;
        for d in passage_docs(&fields, i.number as u64 + 1, case, &i) {
            writer.add_document(d)?;
            docs += 1;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(docs)
}

/// A searcher over an index directory (the server's own, opened read-only beside it).
pub struct RawSearcher {
    reader: IndexReader,
    fields: Fields,
}

/// What a raw search returns: enough to check it agrees with the server.
#[derive(Debug, Default)]
pub struct RawResult {
    pub total: usize,
    pub hits: usize,
    pub snippet_bytes: usize,
    pub cases: usize,
}

impl RawSearcher {
    pub fn open(dir: &Path) -> tantivy::Result<Self> {
        let index = Index::open_in_dir(dir)?;
        analyzer::register(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (_, fields) = schema::build();
        Ok(Self { reader, fields })
    }

    pub fn reload(&self) -> tantivy::Result<()> {
        self.reader.reload()
    }

    /// The tantivy query quaderno compiles for `q`'s words in its default (LEMMA) mode, with
    /// its own parser and compiler, so that both sides look for the same thing. Each filter
    /// is a plain `TermQuery`, as one would write it; the server runs its filters unscored
    /// since session 7, one of the things it does better than this baseline (BENCHMARKS.md).
    fn query(&self, searcher: &Searcher, q: &BenchQuery) -> tantivy::Result<Box<dyn Query>> {
        let f = &self.fields;
        let expr =
            query::parse(&q.syntax()).map_err(|e| tantivy::TantivyError::InvalidArgument(e.0))?;
        let compiler = query::Compiler {
            searcher,
            text: f.text,
            text_exact: f.text_exact,
            text_lemma: f.text_lemma,
            mode: query::Mode::Lemma,
            fuzzy: false,
            excluded: HashSet::new(),
        };
        let text = compiler
            .compile(&expr)
            .map_err(|e| tantivy::TantivyError::InvalidArgument(e.to_string()))?
            .map_or_else(|| Box::new(EmptyQuery) as Box<dyn Query>, |c| c.query);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, text),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.kind, KIND_PASSAGE),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        if let Some(case) = q.case {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.case_id, case as u64),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// The top `limit` passages by BM25 with their stored text and a snippet, the total, and
    /// (faceted) counts per case and interview.
    pub fn search(&self, q: &BenchQuery, limit: usize) -> tantivy::Result<RawResult> {
        let searcher = self.reader.searcher();
        let query = self.query(&searcher, q)?;
        let (top, total, facets) = if q.facets {
            let (top, total, facets) = searcher.search(
                &query,
                &(
                    TopDocs::with_limit(limit).order_by_score(),
                    Count,
                    CaseCounter,
                ),
            )?;
            (top, total, facets)
        } else {
            let (top, total) = searcher.search(
                &query,
                &(TopDocs::with_limit(limit).order_by_score(), Count),
            )?;
            (top, total, HashMap::new())
        };
        // The lemma field holds the query's terms; its text is the stored passage.
        let snippets = SnippetGenerator::create(&searcher, &*query, self.fields.text_lemma)?;
        let mut out = RawResult {
            total,
            hits: top.len(),
            cases: facets.len(),
            ..Default::default()
        };
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = doc
                .get_first(self.fields.text)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            out.snippet_bytes += snippets.snippet(text).fragment().len();
        }
        Ok(out)
    }
}

/// Hits per case and interview, from the fast fields, in a hash map as one would write it
/// (the server counts in arrays indexed by id since session 7).
struct CaseCounter;

struct SegmentCases {
    case: Column<u64>,
    interview: Column<u64>,
    counts: HashMap<(u8, u64), usize>,
}

impl Collector for CaseCounter {
    type Fruit = HashMap<u64, usize>;
    type Child = SegmentCases;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let ff = reader.fast_fields();
        Ok(SegmentCases {
            case: ff.u64("case_id")?,
            interview: ff.u64("interview_id")?,
            counts: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<HashMap<(u8, u64), usize>>,
    ) -> tantivy::Result<HashMap<u64, usize>> {
        let mut cases = HashMap::new();
        for f in fruits {
            for ((kind, v), n) in f {
                if kind == 0 {
                    *cases.entry(v).or_default() += n;
                }
            }
        }
        Ok(cases)
    }
}

impl SegmentCollector for SegmentCases {
    type Fruit = HashMap<(u8, u64), usize>;

    fn collect(&mut self, doc: DocId, _: Score) {
        for v in self.case.values_for_doc(doc) {
            *self.counts.entry((0, v)).or_default() += 1;
        }
        for v in self.interview.values_for_doc(doc) {
            *self.counts.entry((1, v)).or_default() += 1;
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.counts
    }
}
