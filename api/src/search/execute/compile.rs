//! From a request to tantivy's queries: the query text compiled, and the filters (readable
//! studies, cases, ambiti, interviews, codes, dates) that keep a search's hits.

use std::collections::HashSet;
use std::ops::Bound;

use chrono::NaiveDate;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermSetQuery};
use tantivy::schema::{Field, Term};

use super::readable::{kind_of, Readable};
use super::u64_term;
use super::{Filter, Scope, SearchRequest};
use crate::search::indexer::day_number;
use crate::search::query::{self, Compiler, Mode};
use crate::search::unscored::Unscored;
use crate::search::{SearchError, SearchIndex};

/// `query` restricted by `filters`, which add nothing to its score, as tantivy's boolean
/// query (a lone word has its own loop: `Word::among`).
pub(super) fn among(query: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> BooleanQuery {
    let mut clauses = vec![(Occur::Must, query)];
    clauses.extend(
        filters
            .into_iter()
            .map(|f| (Occur::Must, Box::new(Unscored(f)) as Box<dyn Query>)),
    );
    BooleanQuery::new(clauses)
}

/// Up to this many ids are filtered by a union of term queries: a `TermSetQuery` builds an
/// FST for every search, which cost more than the rest of a one-case search.
const SMALL_ID_SET: usize = 32;

/// Documents whose `field` holds one of `ids`.
fn term_set(field: Field, ids: &[i64]) -> Box<dyn Query> {
    if let [id] = ids {
        return u64_term(field, *id as u64);
    }
    if ids.len() > SMALL_ID_SET {
        let terms = ids.iter().map(|&id| Term::from_field_u64(field, id as u64));
        return Box::new(TermSetQuery::new(terms));
    }
    Box::new(BooleanQuery::union(
        ids.iter().map(|&id| u64_term(field, id as u64)).collect(),
    ))
}

impl SearchIndex {
    /// The filters for a scope: queries whose documents a search keeps (scores unused).
    pub(super) fn filters(&self, scope: Scope, f: &Filter) -> Vec<Box<dyn Query>> {
        let fl = &self.fields;
        let mut out: Vec<Box<dyn Query>> = vec![Box::new(Readable::new(
            fl,
            kind_of(scope),
            f.study_ids.as_deref(),
        ))];
        for (field, ids) in [
            (fl.case_id, &f.case_ids),
            (fl.ambito_id, &f.ambito_ids),
            (fl.interview_id, &f.interview_ids),
            (fl.code_id, &f.code_ids),
        ] {
            if let Some(ids) = ids {
                out.push(term_set(field, ids));
            }
        }
        if f.conducted_from.is_some() || f.conducted_to.is_some() {
            let bound = |d: Option<NaiveDate>, lower: bool| match d {
                Some(d) => Bound::Included(Term::from_field_u64(fl.conducted, day_number(d))),
                None if lower => Bound::Included(Term::from_field_u64(fl.conducted, 0)),
                None => Bound::Included(Term::from_field_u64(fl.conducted, u64::MAX)),
            };
            out.push(Box::new(RangeQuery::new(
                bound(f.conducted_from, true),
                bound(f.conducted_to, false),
            )));
        }
        out
    }

    fn compiler<'s>(
        &self,
        searcher: &'s tantivy::Searcher,
        mode: Mode,
        fuzzy: bool,
        excluded: HashSet<String>,
    ) -> Compiler<'s> {
        Compiler {
            searcher,
            text: self.fields.text,
            text_exact: self.fields.text_exact,
            text_lemma: self.fields.text_lemma,
            mode,
            fuzzy,
            excluded,
        }
    }

    pub(super) fn compile(
        &self,
        searcher: &tantivy::Searcher,
        text: &str,
        mode: Mode,
        fuzzy: bool,
        exclude_forms: &[String],
    ) -> Result<Option<query::Compiled>, SearchError> {
        let expr = query::parse(text).map_err(|e| SearchError::BadQuery(e.0))?;
        // Forms are compared folded, as the exact field holds them.
        let mut excluded = HashSet::new();
        for form in exclude_forms
            .iter()
            .cloned()
            .chain(query::excluded_forms(&expr))
        {
            let term = query::excluded_form_term(&form).map_err(|e| SearchError::BadQuery(e.0))?;
            excluded.extend(term);
        }
        let compiler = self.compiler(searcher, mode, fuzzy, excluded);
        compiler.try_compile(&expr)
    }

    pub(super) fn compile_request(
        &self,
        searcher: &tantivy::Searcher,
        req: &SearchRequest,
    ) -> Result<Option<query::Compiled>, SearchError> {
        self.compile(
            searcher,
            &req.query,
            req.mode,
            req.fuzzy,
            &req.exclude_forms,
        )
    }
}
