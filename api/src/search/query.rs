//! The search language analysts type: words, "phrases" (with ~slop), AND / OR / NOT,
//! `+word` / `-word`, `prefix*`, `=exact`, `-form:caso` (leave one surface form out),
//! parentheses. Parsed here rather than by tantivy's
//! parser so that every clause knows the terms it matched: highlights slice exactly the
//! matched words, and errors read as sentences.

use std::collections::{BTreeSet, HashSet};

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Term};
use tantivy::Searcher;

use super::analyzer::{self, Tok};
use super::forms;

/// Longest query accepted.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most index terms one `prefix*` may expand to.
const MAX_EXPANSION: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Word {
        text: String,
        prefix: bool,
        exact: bool,
    },
    Phrase {
        text: String,
        slop: u32,
    },
    /// `-form:caso`: a surface form the analyst leaves out of every word's match.
    ExcludedForm(String),
    /// Clauses that must (or must not) match.
    And(Vec<(Occur, Expr)>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Phrase(String, u32),
    Open,
    Close,
    And,
    Or,
    Not,
    Plus,
    Minus,
}

fn err(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' | '“' | '”' | '«' | '»' => {
                let close = |c: char| matches!(c, '"' | '“' | '”' | '«' | '»');
                let end = (i + 1..chars.len())
                    .find(|&j| close(chars[j]))
                    .ok_or_else(|| {
                        err("a quotation mark is not closed: phrases need a pair of \"")
                    })?;
                let text: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                let mut slop = 0;
                if chars.get(i) == Some(&'~') {
                    let digits: String = chars[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    slop = digits.parse().map_err(|_| {
                        err("`~` after a phrase needs a number, as in \"casa popolare\"~2")
                    })?;
                    if slop > 20 {
                        return Err(err("a phrase's slop may be at most 20"));
                    }
                    i += 1 + digits.len();
                }
                out.push(Token::Phrase(text, slop));
            }
            '+' | '-' => {
                let next = chars.get(i + 1);
                if next.is_none_or(|n| n.is_whitespace() || *n == ')') {
                    return Err(err(format!(
                        "`{c}` must stand right before a word or phrase"
                    )));
                }
                out.push(if c == '+' { Token::Plus } else { Token::Minus });
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '"' | '“' | '”' | '«' | '»')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "AND" | "&&" => Token::And,
                    "OR" | "||" => Token::Or,
                    "NOT" => Token::Not,
                    _ => Token::Word(word),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            if matches!(
                self.peek(),
                None | Some(Token::Close | Token::Or | Token::And)
            ) {
                return Err(err("`OR` needs a word or phrase on each side"));
            }
            items.push(self.and()?);
        }
        if items.len() == 1 {
            return Ok(items.remove(0));
        }
        // Matching every passage without the word, such a side would swamp the others: the
        // analyst meant to restrict a word, which takes the exclusion next to it.
        if let Some(alone) = items.iter().find(|e| !has_positive(e) && excludes(e)) {
            let shown = show(alone);
            return Err(err(format!(
                "`{shown}` stands alone on one side of OR, and an exclusion only leaves \
                 passages out of the words next to it: write `casa {shown}`, or \
                 `(casa OR abitare) {shown}` to leave them out of every side"
            )));
        }
        Ok(Expr::Or(items))
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None | Some(Token::Close | Token::Or) => break,
                Some(Token::And) => {
                    self.pos += 1;
                    if items.is_empty()
                        || matches!(
                            self.peek(),
                            None | Some(Token::Close | Token::Or | Token::And)
                        )
                    {
                        return Err(err("`AND` needs a word or phrase on each side"));
                    }
                }
                _ => items.push(self.unary()?),
            }
        }
        if items.is_empty() {
            return Err(match self.peek() {
                Some(Token::Or) => err("`OR` needs a word or phrase on each side"),
                _ => err("there is nothing to search for here"),
            });
        }
        Ok(if items.len() == 1 && items[0].0 == Occur::Must {
            items.remove(0).1
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<(Occur, Expr), ParseError> {
        match self.peek() {
            Some(Token::Not) => {
                self.pos += 1;
                if matches!(
                    self.peek(),
                    None | Some(Token::Close | Token::Or | Token::And)
                ) {
                    return Err(err("`NOT` must be followed by a word or phrase"));
                }
                negated(self.primary()?)
            }
            Some(Token::Minus) => {
                self.pos += 1;
                negated(self.primary()?)
            }
            Some(Token::Plus) => {
                self.pos += 1;
                Ok((Occur::Must, positive(self.primary()?)?))
            }
            _ => Ok((Occur::Must, positive(self.primary()?)?)),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let token = self.peek().cloned();
        self.pos += 1;
        match token {
            Some(Token::Open) => {
                if self.peek() == Some(&Token::Close) {
                    return Err(err("empty parentheses"));
                }
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(err("a parenthesis is not closed"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Phrase(text, slop)) => Ok(Expr::Phrase { text, slop }),
            Some(Token::Word(w)) => word(&w),
            Some(Token::Close) => Err(err("a closing parenthesis has no opening one")),
            _ => Err(err("an operator stands where a word or phrase should be")),
        }
    }
}

/// An excluded clause. Excluding a group of exclusions would mean looking for its words:
/// the analyst should write them so.
fn negated(e: Expr) -> Result<(Occur, Expr), ParseError> {
    if !has_positive(&e) && excludes(&e) {
        return Err(err(format!(
            "`-({})` excludes an exclusion: to look for those words, write them without `-` or \
             `NOT`",
            show(&e)
        )));
    }
    Ok((Occur::MustNot, e))
}

fn positive(e: Expr) -> Result<Expr, ParseError> {
    match e {
        Expr::ExcludedForm(f) => Err(err(format!(
            "`form:{f}` only leaves a form out: write -form:{f} next to the word it belongs to"
        ))),
        e => Ok(e),
    }
}

fn word(raw: &str) -> Result<Expr, ParseError> {
    if let Some(form) = raw.strip_prefix("form:") {
        if form.is_empty() || form.contains(['*', ':']) {
            return Err(err("`form:` needs one word, as in -form:caso"));
        }
        return Ok(Expr::ExcludedForm(form.to_owned()));
    }
    let (exact, rest) = match raw.strip_prefix('=') {
        Some(r) => (true, r),
        None => (false, raw),
    };
    let (prefix, rest) = match rest.strip_suffix('*') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if let Some((field, value)) = rest.split_once(':') {
        let is_field = !field.is_empty()
            && field.chars().all(|c| c.is_ascii_alphabetic())
            && !value.is_empty();
        if is_field {
            return Err(err(format!(
                "unknown field `{field}:`: search has no fields (put text with a colon in quotes)"
            )));
        }
    }
    if rest.contains('*') {
        return Err(err("`*` may only end a word, as in progett*"));
    }
    if rest.trim_matches(|c: char| !c.is_alphanumeric()).is_empty() {
        return Err(err(format!(
            "`{raw}` has no letters or digits to search for"
        )));
    }
    if prefix && rest.chars().count() < 2 {
        return Err(err("a prefix needs at least two letters before `*`"));
    }
    Ok(Expr::Word {
        text: rest.to_owned(),
        prefix,
        exact,
    })
}

/// Parses a query. The error says in plain words what is wrong.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(err(format!(
            "the query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Err(err("the query is empty"));
    }
    let mut p = Parser { tokens, pos: 0 };
    let expr = p.or()?;
    if p.pos < p.tokens.len() {
        return Err(match p.tokens[p.pos] {
            Token::Close => err("a closing parenthesis has no opening one"),
            _ => err("the query could not be read past an operator"),
        });
    }
    if !has_positive(&expr) {
        return Err(err(
            "the query only excludes: add a word or phrase to look for",
        ));
    }
    Ok(expr)
}

fn has_positive(e: &Expr) -> bool {
    match e {
        Expr::Word { .. } | Expr::Phrase { .. } => true,
        Expr::ExcludedForm(_) => false,
        Expr::Or(items) => items.iter().any(has_positive),
        Expr::And(items) => items
            .iter()
            .any(|(o, e)| *o != Occur::MustNot && has_positive(e)),
    }
}

/// Whether a clause leaves passages out (`-form:` only narrows how words match).
fn excludes(e: &Expr) -> bool {
    match e {
        Expr::Word { .. } | Expr::Phrase { .. } | Expr::ExcludedForm(_) => false,
        Expr::Or(items) => items.iter().any(excludes),
        Expr::And(items) => items.iter().any(|(o, e)| match o {
            Occur::MustNot => !matches!(e, Expr::ExcludedForm(_)),
            _ => excludes(e),
        }),
    }
}

/// A clause as the analyst could have typed it, for error messages.
fn show(e: &Expr) -> String {
    let grouped = |e: &Expr| match e {
        Expr::And(items) if items.len() > 1 => format!("({})", show(e)),
        Expr::Or(_) => format!("({})", show(e)),
        _ => show(e),
    };
    match e {
        Expr::Word {
            text,
            prefix,
            exact,
        } => format!(
            "{}{text}{}",
            if *exact { "=" } else { "" },
            if *prefix { "*" } else { "" }
        ),
        Expr::Phrase { text, slop: 0 } => format!("\"{text}\""),
        Expr::Phrase { text, slop } => format!("\"{text}\"~{slop}"),
        Expr::ExcludedForm(f) => format!("form:{f}"),
        Expr::Or(items) => items.iter().map(grouped).collect::<Vec<_>>().join(" OR "),
        Expr::And(items) => items
            .iter()
            .map(|(o, e)| match o {
                Occur::MustNot => format!("-{}", grouped(e)),
                _ => grouped(e),
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The `-form:` exclusions anywhere in a query.
pub fn excluded_forms(e: &Expr) -> Vec<String> {
    match e {
        Expr::ExcludedForm(f) => vec![f.clone()],
        Expr::Word { .. } | Expr::Phrase { .. } => Vec::new(),
        Expr::Or(items) => items.iter().flat_map(excluded_forms).collect(),
        Expr::And(items) => items.iter().flat_map(|(_, e)| excluded_forms(e)).collect(),
    }
}

/// Which analysed field a clause reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Lemma,
    Stemmed,
    Exact,
}

/// How plain words match (the `match` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The inflected forms of the same word (lexicon lemmas; a guarded stemmer otherwise).
    #[default]
    Lemma,
    /// Everything sharing the Snowball stem.
    Stem,
    /// The typed form only, ignoring case and accents.
    Exact,
}

impl Mode {
    fn side(self) -> Side {
        match self {
            Mode::Lemma => Side::Lemma,
            Mode::Stem => Side::Stemmed,
            Mode::Exact => Side::Exact,
        }
    }
}

/// Added to the score of a passage holding the typed form itself, so that it ranks above
/// passages holding only other forms of the word (BM25 scores stay far below this).
const TYPED_FORM_BONUS: f32 = 100.0;

/// What one positive clause matches, to find it again in a passage's text.
#[derive(Debug, Clone)]
pub enum Matcher {
    Terms {
        side: Side,
        terms: HashSet<String>,
    },
    Phrase {
        side: Side,
        terms: Vec<(usize, String)>,
        slop: u32,
    },
    Fuzzy {
        term: String,
        distance: u8,
    },
}

pub struct Compiled {
    pub query: Box<dyn Query>,
    pub matchers: Vec<Matcher>,
}

pub struct Compiler<'a> {
    pub searcher: &'a Searcher,
    pub text: Field,
    pub text_exact: Field,
    pub text_lemma: Field,
    pub mode: Mode,
    pub fuzzy: bool,
    /// Folded surface forms no word may match through.
    pub excluded: HashSet<String>,
}

impl Compiler<'_> {
    fn field(&self, side: Side) -> Field {
        match side {
            Side::Lemma => self.text_lemma,
            Side::Stemmed => self.text,
            Side::Exact => self.text_exact,
        }
    }

    /// Query-side analysis: a lemma-side word means one lemma (its query lemma).
    fn analyse(side: Side, text: &str) -> Vec<Tok> {
        match side {
            Side::Lemma => analyzer::tokens(&mut analyzer::folded_content(), text)
                .into_iter()
                .map(|t| Tok {
                    term: analyzer::query_lemma_term(&t.term),
                    ..t
                })
                .collect(),
            Side::Stemmed => analyzer::tokens(&mut analyzer::stemmed(), text),
            Side::Exact => analyzer::tokens(&mut analyzer::exact(), text),
        }
    }

    /// A single word on the lemma or stem side: the analysed term, with the typed form
    /// ranked first; or, when the analyst left forms out, exactly the remaining forms.
    fn single_word(
        &self,
        side: Side,
        tok: &Tok,
        typed: Option<&str>,
        out: &mut Vec<Matcher>,
    ) -> tantivy::Result<Box<dyn Query>> {
        if side != Side::Exact && !self.excluded.is_empty() {
            let all = forms::forms_of_term(self.searcher, self.text_exact, side, &tok.term)?;
            if all.iter().any(|f| self.excluded.contains(f)) {
                let kept: HashSet<String> = all
                    .into_iter()
                    .filter(|f| !self.excluded.contains(f))
                    .collect();
                let query = BooleanQuery::new(
                    kept.iter()
                        .map(|f| (Occur::Should, self.term_query(Side::Exact, f)))
                        .collect(),
                );
                out.push(Matcher::Terms {
                    side: Side::Exact,
                    terms: kept,
                });
                return Ok(Box::new(query));
            }
        }
        if side == Side::Exact && self.excluded.contains(&tok.term) {
            return Ok(Box::new(EmptyQuery));
        }
        out.push(Matcher::Terms {
            side,
            terms: HashSet::from([tok.term.clone()]),
        });
        let base = self.term_query(side, &tok.term);
        Ok(match typed {
            Some(form) if side != Side::Exact => Box::new(BooleanQuery::new(vec![
                (Occur::Must, base),
                (
                    Occur::Should,
                    Box::new(ConstScoreQuery::new(
                        self.term_query(Side::Exact, form),
                        TYPED_FORM_BONUS,
                    )),
                ),
            ])),
            _ => base,
        })
    }

    fn term_query(&self, side: Side, term: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(self.field(side), term),
            IndexRecordOption::WithFreqs,
        ))
    }

    fn expand_prefix(&self, prefix: &str) -> tantivy::Result<Vec<String>> {
        let mut out = BTreeSet::new();
        for segment in self.searcher.segment_readers() {
            let inverted = segment.inverted_index(self.text_exact)?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()?;
            while stream.advance() && out.len() < MAX_EXPANSION {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                out.insert(String::from_utf8_lossy(key).into_owned());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Compiles a phrase (or a word that analyses into several tokens) on one side.
    fn phrase(
        &self,
        side: Side,
        text: &str,
        slop: u32,
        out: &mut Vec<Matcher>,
    ) -> tantivy::Result<Option<Box<dyn Query>>> {
        let toks = Self::analyse(side, text);
        Ok(match toks.len() {
            0 => None,
            1 => {
                // The form as typed (folded), to rank passages that hold it first.
                let typed = Self::analyse(Side::Exact, text)
                    .into_iter()
                    .find(|t| t.from == toks[0].from)
                    .map(|t| t.term);
                Some(self.single_word(side, &toks[0], typed.as_deref(), out)?)
            }
            _ => {
                let base = toks[0].position;
                let terms: Vec<(usize, String)> = toks
                    .iter()
                    .map(|t| (t.position - base, t.term.clone()))
                    .collect();
                let field = self.field(side);
                let query = PhraseQuery::new_with_offset_and_slop(
                    terms
                        .iter()
                        .map(|(o, t)| (*o, Term::from_field_text(field, t)))
                        .collect(),
                    slop,
                );
                out.push(Matcher::Phrase { side, terms, slop });
                Some(Box::new(query))
            }
        })
    }

    fn compile_expr(
        &self,
        e: &Expr,
        positive: bool,
        out: &mut Vec<Matcher>,
    ) -> tantivy::Result<Clause> {
        // Matchers of negated clauses are not highlights.
        let mut sink = Vec::new();
        let out = if positive { out } else { &mut sink };
        Ok(match e {
            Expr::Word {
                text, prefix: true, ..
            } => {
                let stem = Self::analyse(Side::Exact, text);
                let [tok] = stem.as_slice() else {
                    return Ok(Clause::Query(Box::new(EmptyQuery)));
                };
                let mut terms = self.expand_prefix(&tok.term)?;
                terms.retain(|t| !self.excluded.contains(t));
                if terms.is_empty() {
                    return Ok(Clause::Query(Box::new(EmptyQuery)));
                }
                let query = BooleanQuery::new(
                    terms
                        .iter()
                        .map(|t| (Occur::Should, self.term_query(Side::Exact, t)))
                        .collect(),
                );
                out.push(Matcher::Terms {
                    side: Side::Exact,
                    terms: terms.into_iter().collect(),
                });
                Clause::Query(Box::new(query))
            }
            Expr::Word { text, exact, .. } if self.fuzzy && !*exact => {
                let toks = Self::analyse(Side::Exact, text);
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for t in toks {
                    let distance = if t.term.chars().count() >= 8 { 2 } else { 1 };
                    out.push(Matcher::Fuzzy {
                        term: t.term.clone(),
                        distance,
                    });
                    clauses.push((
                        Occur::Must,
                        Box::new(FuzzyTermQuery::new(
                            Term::from_field_text(self.text_exact, &t.term),
                            distance,
                            true,
                        )),
                    ));
                }
                Clause::from(
                    (!clauses.is_empty())
                        .then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>),
                )
            }
            Expr::Word { text, exact, .. } => {
                let side = if *exact {
                    Side::Exact
                } else {
                    self.mode.side()
                };
                Clause::from(self.phrase(side, text, 0, out)?)
            }
            Expr::Phrase { text, slop } => {
                Clause::from(self.phrase(self.mode.side(), text, *slop, out)?)
            }
            Expr::ExcludedForm(_) => Clause::Nothing,
            Expr::Or(items) => {
                let mut clauses = Vec::new();
                for item in items {
                    // A side left with exclusions alone (the parser refuses them as typed, so
                    // its words were stop words) has nothing to look for, like a side of stop
                    // words.
                    if let Clause::Query(q) = self.compile_expr(item, positive, out)? {
                        clauses.push((Occur::Should, q));
                    }
                }
                Clause::from(
                    (!clauses.is_empty())
                        .then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>),
                )
            }
            Expr::And(items) => {
                let mut clauses = Vec::new();
                for (occur, item) in items {
                    let keep = positive && *occur != Occur::MustNot;
                    match (self.compile_expr(item, keep, out)?, occur) {
                        (Clause::Nothing, _) => {}
                        (Clause::Query(q), _) => clauses.push((*occur, q)),
                        // `casa -(di -affitto)` with `di` a stop word: not (not affitto).
                        (Clause::Exclusions(excluded), Occur::MustNot) => clauses.push((
                            Occur::Must,
                            Box::new(BooleanQuery::new(
                                excluded.into_iter().map(|q| (Occur::Should, q)).collect(),
                            )),
                        )),
                        // `casa (-affitto -mutuo)` is `casa -affitto -mutuo`.
                        (Clause::Exclusions(excluded), _) => {
                            clauses.extend(excluded.into_iter().map(|q| (Occur::MustNot, q)))
                        }
                    }
                }
                if clauses.is_empty() {
                    Clause::Nothing
                } else if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    // Nothing to look for here (a group of exclusions, or of stop words and
                    // exclusions): what is left narrows the conjunction around it. tantivy
                    // would match nothing with these clauses alone.
                    Clause::Exclusions(clauses.into_iter().map(|(_, q)| q).collect())
                } else {
                    Clause::Query(Box::new(BooleanQuery::new(clauses)))
                }
            }
        })
    }

    /// `None` when nothing searchable is left (a query of stop words, perhaps with
    /// exclusions: there is nothing to leave them out of).
    pub fn compile(&self, e: &Expr) -> tantivy::Result<Option<Compiled>> {
        let mut matchers = Vec::new();
        Ok(match self.compile_expr(e, true, &mut matchers)? {
            Clause::Query(query) => Some(Compiled { query, matchers }),
            Clause::Nothing | Clause::Exclusions(_) => None,
        })
    }
}

/// What a clause of the query compiles to.
enum Clause {
    /// Nothing to look for: only stop words, or `-form:` (applied to every word instead).
    Nothing,
    /// The passages it finds.
    Query(Box<dyn Query>),
    /// Only passages to leave out: it restricts the conjunction it stands in.
    Exclusions(Vec<Box<dyn Query>>),
}

impl From<Option<Box<dyn Query>>> for Clause {
    fn from(q: Option<Box<dyn Query>>) -> Self {
        q.map_or(Clause::Nothing, Clause::Query)
    }
}

/// The terms the matchers of each side look for, indexed by `Side`.
fn wanted_terms(matchers: &[Matcher]) -> [HashSet<&str>; 3] {
    let mut wanted: [HashSet<&str>; 3] = Default::default();
    for m in matchers {
        match m {
            Matcher::Terms { side, terms } => {
                wanted[*side as usize].extend(terms.iter().map(String::as_str))
            }
            Matcher::Phrase { side, terms, .. } => {
                wanted[*side as usize].extend(terms.iter().map(|(_, t)| t.as_str()))
            }
            Matcher::Fuzzy { .. } => {}
        }
    }
    wanted
}

/// Byte spans of `text` that the matchers match, sorted and merged.
///
/// Each side's analyzer reads the text once and keeps only the tokens some matcher looks
/// for, so a passage costs one pass whatever its length in words.
pub fn highlight(text: &str, matchers: &[Matcher]) -> Vec<(usize, usize)> {
    let wanted = wanted_terms(matchers);
    // A typo-tolerant word is compared with every exact token.
    let fuzzy = matchers.iter().any(|m| matches!(m, Matcher::Fuzzy { .. }));
    let mut lemmas: Option<Vec<Tok>> = None;
    let mut stemmed: Option<Vec<Tok>> = None;
    let mut exact: Option<Vec<Tok>> = None;
    let mut spans = Vec::new();
    for m in matchers {
        let side = match m {
            Matcher::Terms { side, .. } | Matcher::Phrase { side, .. } => *side,
            Matcher::Fuzzy { .. } => Side::Exact,
        };
        let toks: &Vec<Tok> = match side {
            Side::Lemma => lemmas.get_or_insert_with(|| {
                analyzer::lemma_tokens_among(text, &wanted[Side::Lemma as usize])
            }),
            Side::Stemmed => stemmed.get_or_insert_with(|| {
                let wanted = &wanted[Side::Stemmed as usize];
                analyzer::tokens_where(&mut analyzer::stemmed(), text, |t| wanted.contains(t))
            }),
            Side::Exact => exact.get_or_insert_with(|| {
                let wanted = &wanted[Side::Exact as usize];
                analyzer::tokens_where(&mut analyzer::exact(), text, |t| {
                    fuzzy || wanted.contains(t)
                })
            }),
        };
        match m {
            Matcher::Terms { terms, .. } => {
                spans.extend(
                    toks.iter()
                        .filter(|t| terms.contains(&t.term))
                        .map(|t| (t.from, t.to)),
                );
            }
            Matcher::Fuzzy { term, distance } => {
                let dfa = LevenshteinAutomatonBuilder::new(*distance, true).build_dfa(term);
                spans.extend(
                    toks.iter()
                        .filter(|t| matches!(dfa.eval(&t.term), Distance::Exact(_)))
                        .map(|t| (t.from, t.to)),
                );
            }
            Matcher::Phrase { terms, slop, .. } => {
                spans.extend(phrase_spans(toks, terms, *slop));
            }
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Occurrences of a phrase: the first term at some position, the others at their offsets
/// (give or take the slop), as one span from the first to the last word.
fn phrase_spans(toks: &[Tok], terms: &[(usize, String)], slop: u32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Some((_, first)) = terms.first() else {
        return out;
    };
    for (i, start) in toks.iter().enumerate().filter(|(_, t)| &t.term == first) {
        let mut end = start;
        let mut ok = true;
        for (offset, term) in &terms[1..] {
            let want = start.position + offset;
            let found = toks[i..].iter().find(|t| {
                &t.term == term
                    && t.position + (slop as usize) >= want
                    && t.position <= want + slop as usize
            });
            match found {
                Some(t) if t.position >= end.position => end = t,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            out.push((start.from, end.to));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(t: &str) -> Expr {
        Expr::Word {
            text: t.into(),
            prefix: false,
            exact: false,
        }
    }

    #[test]
    fn parses_the_operators_analysts_use() {
        assert_eq!(parse("casa").unwrap(), w("casa"));
        assert_eq!(
            parse("casa lavoro").unwrap(),
            Expr::And(vec![(Occur::Must, w("casa")), (Occur::Must, w("lavoro"))])
        );
        assert_eq!(
            parse("casa AND lavoro").unwrap(),
            parse("casa lavoro").unwrap()
        );
        assert_eq!(
            parse("casa OR lavoro").unwrap(),
            Expr::Or(vec![w("casa"), w("lavoro")])
        );
        assert_eq!(
            parse("casa -affitto").unwrap(),
            Expr::And(vec![
                (Occur::Must, w("casa")),
                (Occur::MustNot, w("affitto"))
            ])
        );
        assert_eq!(
            parse("casa NOT affitto").unwrap(),
            parse("casa -affitto").unwrap()
        );
        assert_eq!(
            parse("\"fasce grigie\"~2").unwrap(),
            Expr::Phrase {
                text: "fasce grigie".into(),
                slop: 2
            }
        );
        assert_eq!(
            parse("«fasce grigie»").unwrap(),
            Expr::Phrase {
                text: "fasce grigie".into(),
                slop: 0
            }
        );
        assert_eq!(
            parse("progett*").unwrap(),
            Expr::Word {
                text: "progett".into(),
                prefix: true,
                exact: false
            }
        );
        assert_eq!(
            parse("=casa").unwrap(),
            Expr::Word {
                text: "casa".into(),
                prefix: false,
                exact: true
            }
        );
        assert!(matches!(
            parse("(casa OR abitare) lavoro").unwrap(),
            Expr::And(_)
        ));
        assert_eq!(
            parse("casa\u{0007}\tlavoro").unwrap(),
            parse("casa lavoro").unwrap()
        );
        assert_eq!(parse("dell’ente").unwrap(), w("dell’ente"));
    }

    #[test]
    fn bad_queries_are_explained() {
        for q in [
            "\"fasce grigie",
            "casa AND",
            "OR casa",
            "AND",
            "NOT",
            "-",
            "casa -",
            "(casa",
            "casa)",
            "()",
            "-casa",
            "NOT casa",
            "campo:valore",
            "pro*gett",
            "a*",
            "***",
            &"parola ".repeat(300),
        ] {
            let e = parse(q).expect_err(q);
            assert!(!e.0.is_empty());
        }
    }

    /// Exclusions alone on a side of OR, or excluded again, are refused and named; beside
    /// the words they restrict they parse, in a group or not.
    #[test]
    fn exclusions_standing_alone_are_explained() {
        for (q, shown) in [
            ("-affitto OR casa", "`-affitto`"),
            ("casa OR -affitto", "`-affitto`"),
            ("casa OR (NOT affitto NOT mutuo)", "`-affitto -mutuo`"),
            (
                "casa (mutuo OR -\"canone concordato\")",
                "`-\"canone concordato\"`",
            ),
            ("casa -(-affitto)", "`-(-affitto)`"),
            ("casa NOT (-(affitto OR mutuo))", "`-(-(affitto OR mutuo))`"),
        ] {
            let e = parse(q).expect_err(q);
            assert!(e.0.contains(shown), "{q}: {}", e.0);
        }
        for q in [
            "casa (-affitto)",
            "casa AND (NOT affitto)",
            "casa (-affitto -mutuo)",
            "casa OR abitare -affitto",
            "(casa OR abitare) -affitto",
            // Leaving a form out is not an exclusion of passages.
            "-form:case OR casa",
        ] {
            assert!(parse(q).is_ok(), "{q}: {:?}", parse(q));
        }
    }

    /// Which of these passages a query finds, compiled against a small index.
    fn found(passages: &[&str], q: &str) -> Vec<usize> {
        use crate::search::schema;
        use tantivy::collector::DocSetCollector;
        use tantivy::schema::Value;
        use tantivy::{Index, TantivyDocument};

        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        for (n, text) in passages.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.start, n as u64);
            f.add_text(&mut doc, text);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let compiler = Compiler {
            searcher: &searcher,
            text: f.text,
            text_exact: f.text_exact,
            text_lemma: f.text_lemma,
            mode: Mode::Lemma,
            fuzzy: false,
            excluded: HashSet::new(),
        };
        let Some(compiled) = compiler.compile(&parse(q).unwrap()).unwrap() else {
            return Vec::new();
        };
        let mut out: Vec<usize> = searcher
            .search(&compiled.query, &DocSetCollector)
            .unwrap()
            .into_iter()
            .map(|a| {
                let doc: TantivyDocument = searcher.doc(a).unwrap();
                doc.get_first(f.start).and_then(|v| v.as_u64()).unwrap() as usize
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// A group of exclusions narrows the conjunction it stands in; it used to compile to
    /// nothing and be dropped, so `casa (-affitto)` found every casa.
    #[test]
    fn a_group_of_exclusions_leaves_its_words_out() {
        let passages = [
            "Cerchiamo una casa in affitto vicino al centro.",
            "La casa l'abbiamo comprata con il mutuo.",
            "Una casa popolare, finalmente, per la famiglia.",
            "L'affitto è troppo alto per le famiglie giovani.",
        ];
        for (q, want) in [
            ("casa", vec![0, 1, 2]),
            ("casa -affitto", vec![1, 2]),
            ("casa (-affitto)", vec![1, 2]),
            ("casa AND (NOT affitto)", vec![1, 2]),
            ("casa (-affitto -mutuo)", vec![2]),
            ("casa ((-affitto) -mutuo)", vec![2]),
            ("casa (-(affitto OR mutuo))", vec![2]),
            ("(casa OR famiglie) (-affitto)", vec![1, 2]),
            // With its word a stop word, the group still excludes; excluded again, its
            // exclusion becomes the word to look for.
            ("casa (per -affitto)", vec![1, 2]),
            ("casa -(per -affitto)", vec![0]),
            // Nothing to look for but stop words: nothing found, exclusions or not.
            ("per (-affitto)", vec![]),
        ] {
            assert_eq!(found(&passages, q), want, "{q}");
        }
    }
}
