//! The search language analysts type: words, "phrases" (with ~slop), AND / OR / NOT,
//! `+word` / `-word`, `prefix*`, `=exact`, `-form:caso` (leave one surface form out),
//! parentheses. Parsed here rather than by tantivy's
//! parser so that every clause knows the terms it matched: highlights slice exactly the
//! matched words, and errors read as sentences.

use std::collections::{BTreeSet, HashSet};

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA, SINK_STATE};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query, RegexPhraseQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Term};
use tantivy::Searcher;

use super::analyzer::{self, Tok};
use super::forms;
use super::word::Word;
use super::SearchError;

/// Longest query accepted.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most index terms one `prefix*` may expand to.
const MAX_EXPANSION: usize = 256;
/// Bytes of alternatives in one position's pattern of a phrase of alternatives: tantivy
/// refuses an automaton of more than 1,000 states, and a list of words makes at most one
/// state per byte (plus the start).
const PATTERN_BYTES: usize = 900;
/// Most phrases of alternatives one phrase may become (one per combination of patterns).
const MAX_PHRASE_PATTERNS: usize = 64;
/// Terms skipped one by one under a dead prefix before the walk seeks past them.
const SKIP_BEFORE_SEEK: usize = 8;

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
                // Read as Lucene reads them, these would be silently dropped by the analyzer.
                if text.contains('*') {
                    return Err(err(format!(
                        "`*` cannot stand inside quotes: a phrase matches whole words (in \
                         \"{text}\"); a prefix goes outside them, as in progett*"
                    )));
                }
                if text.contains('~') {
                    return Err(err(format!(
                        "`~` cannot stand inside quotes (in \"{text}\"): a phrase's slop \
                         follows the closing quote, as in \"casa popolare\"~2"
                    )));
                }
                if text.split_whitespace().any(|w| w.starts_with('=')) {
                    return Err(err(format!(
                        "`=` cannot stand inside quotes (in \"{text}\"): for a phrase of \
                         these forms only, search with match: EXACT"
                    )));
                }
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
                if word.contains('~') {
                    return Err(err(format!(
                        "`~` in `{word}` does not follow a closing quote: write a phrase's slop \
                         right after it, as in \"casa popolare\"~2, and use `fuzzy: true` \
                         to tolerate typos"
                    )));
                }
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
        excluded_form_term(form)?;
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
    if prefix {
        prefix_stands_at_the_star(raw, rest)?;
    }
    Ok(Expr::Word {
        text: rest.to_owned(),
        prefix,
        exact,
    })
}

/// The prefix of `l’anzian*` or `co-progett*` is the last word before `*`: it has to end
/// right there and be long enough to mean something.
fn prefix_stands_at_the_star(raw: &str, rest: &str) -> Result<(), ParseError> {
    if !rest.ends_with(char::is_alphanumeric) {
        return Err(err(format!(
            "`*` must follow the letters of a word, as in progett* (not `{raw}`)"
        )));
    }
    match analyzer::tokens(&mut analyzer::exact(), rest).last() {
        Some(t) if t.to == rest.len() && rest[t.from..].chars().count() >= 2 => Ok(()),
        Some(t) if t.to == rest.len() => Err(err("a prefix needs at least two letters before `*`")),
        // The analyzer leaves out words too long to be indexed.
        _ => Err(err(format!(
            "the word before `*` in `{raw}` is too long to be searched for"
        ))),
    }
}

/// Parses a query. The error says in plain words what is wrong.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    // Transcripts are stored composed (NFC, `text::normalise`): a query pasted from a Mac or a
    // PDF with combining accents ("ne\u{301}") is composed too, or its words would be cut at
    // the accent ("ne", a stop word) and find nothing.
    let input = composed(input);
    let input = input.as_str();
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

/// The folded term a left-out form (`-form:`, `excludeForms`) stands for; `None` when it has
/// no word at all.
///
/// A form is one word of the index. An elided article before it is dropped (`l’anziana` is
/// the form `anziana`: the article is a stop word no word matches through). A compound
/// (`co-progettazione`) is several words of the index, and leaving each out would leave out
/// `progettazione` itself, wherever it stands: it is refused, with the phrase exclusion
/// that leaves its passages out.
/// Text as transcripts are stored: in NFC.
fn composed(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    text.nfc().collect()
}

pub fn excluded_form_term(form: &str) -> Result<Option<String>, ParseError> {
    let form = composed(form);
    let form = form.as_str();
    // The same form whether written `-form:case*` in the query (refused there) or listed in
    // `excludeForms`, where the analyzer would otherwise drop the `*` unseen.
    if form.contains(['*', ':', '~', '(', ')', '"']) {
        return Err(err(format!(
            "`{form}` is not a form: a left-out form is one word as it is written, without \
             `*`, `~`, `:`, quotes or parentheses"
        )));
    }
    let toks = analyzer::tokens(&mut analyzer::exact(), form);
    let articles = elided_articles(form, &toks).min(toks.len().saturating_sub(1));
    match &toks[articles..] {
        [] => Ok(None),
        [t] => Ok(Some(t.term.clone())),
        words => Err(err(format!(
            "the form `{form}` is {} words in the index ({}), and a left-out form is one word: \
             leaving out each would leave them out wherever they stand. To leave out the \
             passages holding it, write -\"{form}\"",
            words.len(),
            words
                .iter()
                .map(|t| t.term.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// How many of `toks` (the exact field's words of `text`) are articles elided onto the word
/// after them (`l’`, `dell'`): stop words followed by an apostrophe and at once by a letter.
/// A stop word before a space is a word of its own, and so is one whose apostrophe stands
/// for its accent (`perche' non`).
fn elided_articles(text: &str, toks: &[Tok]) -> usize {
    let mut content = analyzer::folded_content();
    toks.iter()
        .take_while(|t| {
            let mut after = text[t.to..].chars();
            matches!(after.next(), Some('\'' | '’' | '\u{2BC}'))
                && after.next().is_some_and(char::is_alphanumeric)
                && analyzer::tokens(&mut content, &text[t.from..t.to]).is_empty()
        })
        .count()
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

/// A phrase's positions (offsets from its first word), each with the terms that may stand
/// there: one, unless forms were left out (then the phrase reads the exact field) or the
/// phrase ends in a prefix.
pub type Positions = Vec<(usize, HashSet<String>)>;

/// How far a typo-tolerant word reaches (two edits from eight letters, else one), and the
/// automaton that finds the terms that far.
fn typo_dfa(term: &str) -> (u8, DFA) {
    let distance = if term.chars().count() >= 8 { 2 } else { 1 };
    (
        distance,
        LevenshteinAutomatonBuilder::new(distance, true).build_dfa(term),
    )
}

/// What one positive clause matches, to find it again in a passage's text.
#[derive(Debug, Clone)]
pub enum Matcher {
    Terms {
        side: Side,
        terms: HashSet<String>,
    },
    Phrase {
        side: Side,
        terms: Positions,
        slop: u32,
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

    /// Query-side analysis: a lemma-side word means one lemma (its query lemma), looked up
    /// with its accents as the index looks it up.
    fn analyse(side: Side, text: &str) -> Vec<Tok> {
        match side {
            Side::Lemma => analyzer::tokens(&mut analyzer::content(), text)
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
    ) -> Result<Box<dyn Query>, SearchError> {
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
        let typed = typed
            .filter(|_| side != Side::Exact)
            .map(|form| (self.term(Side::Exact, form), TYPED_FORM_BONUS));
        Ok(Box::new(Word::new(self.term(side, &tok.term), typed)))
    }

    fn term(&self, side: Side, term: &str) -> Term {
        Term::from_field_text(self.field(side), term)
    }

    fn term_query(&self, side: Side, term: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            self.term(side, term),
            IndexRecordOption::WithFreqs,
        ))
    }

    /// The first `MAX_EXPANSION` words of the index under `prefix`, in the dictionary's
    /// order: each is among the first of its own segment, so those are read from each
    /// segment and the first of them all kept, the same words however the index is split
    /// into segments (a cap filled from the first segment alone hid a newer segment's).
    fn expand_prefix(&self, prefix: &str) -> tantivy::Result<Vec<String>> {
        let mut out = BTreeSet::new();
        for segment in self.searcher.segment_readers() {
            let inverted = segment.inverted_index(self.text_exact)?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()?;
            let mut taken = 0;
            while taken < MAX_EXPANSION && stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                out.insert(String::from_utf8_lossy(key).into_owned());
                taken += 1;
            }
        }
        Ok(out.into_iter().take(MAX_EXPANSION).collect())
    }

    /// The index terms a typo-tolerant word reaches, found by walking the dictionary with its
    /// automaton: once a term's beginning leaves the automaton, every term under that
    /// beginning is passed over (skipped one by one for a few terms, then by seeking).
    fn expand_fuzzy(&self, dfa: &DFA) -> tantivy::Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for segment in self.searcher.segment_readers() {
            let inverted = segment.inverted_index(self.text_exact)?;
            let terms = inverted.terms();
            let mut from: Vec<u8> = Vec::new();
            'seek: loop {
                let mut stream = terms.range().ge(&from).into_stream()?;
                let mut dead: Option<Vec<u8>> = None;
                let mut skipped = 0;
                while stream.advance() {
                    let key = stream.key();
                    if let Some(prefix) = &dead {
                        if key.starts_with(prefix) {
                            skipped += 1;
                            if skipped < SKIP_BEFORE_SEEK {
                                continue;
                            }
                            match forms::successor(prefix) {
                                Some(next) => {
                                    from = next;
                                    continue 'seek;
                                }
                                None => break 'seek,
                            }
                        }
                    }
                    let mut state = dfa.initial_state();
                    dead = None;
                    for (i, &b) in key.iter().enumerate() {
                        state = dfa.transition(state, b);
                        if state == SINK_STATE {
                            dead = Some(key[..=i].to_vec());
                            skipped = 0;
                            break;
                        }
                    }
                    if dead.is_none() && matches!(dfa.distance(state), Distance::Exact(_)) {
                        out.insert(String::from_utf8_lossy(key).into_owned());
                    }
                }
                break;
            }
        }
        Ok(out)
    }

    /// A phrase of terms on one side; positions holding several terms (forms left out, a
    /// final prefix) are on the exact field. tantivy's phrases of patterns compile each
    /// pattern to an automaton of at most 1,000 states, so a long list of alternatives is
    /// cut into patterns of bounded length and the phrase looked for with each combination.
    fn phrase_query(
        &self,
        side: Side,
        terms: &[(usize, HashSet<String>)],
        slop: u32,
        shown: &str,
    ) -> Result<Box<dyn Query>, SearchError> {
        let field = self.field(side);
        if terms.iter().all(|(_, t)| t.len() == 1) {
            return Ok(Box::new(PhraseQuery::new_with_offset_and_slop(
                terms
                    .iter()
                    .flat_map(|(o, t)| t.iter().map(|t| (*o, Term::from_field_text(field, t))))
                    .collect(),
                slop,
            )));
        }
        let patterns: Vec<Vec<String>> = terms.iter().map(|(_, t)| patterns(t)).collect();
        let combinations = patterns
            .iter()
            .try_fold(1usize, |n, p| n.checked_mul(p.len()))
            .unwrap_or(usize::MAX);
        if combinations > MAX_PHRASE_PATTERNS {
            return Err(SearchError::BadQuery(format!(
                "{shown} stands for too many phrases once its words' forms are listed: leave \
                 fewer forms out of it, or make its prefix longer"
            )));
        }
        let mut phrases: Vec<Vec<(usize, String)>> = vec![Vec::new()];
        for ((offset, _), alternatives) in terms.iter().zip(&patterns) {
            phrases = phrases
                .into_iter()
                .flat_map(|phrase| {
                    alternatives.iter().map(move |p| {
                        let mut longer = phrase.clone();
                        longer.push((*offset, p.clone()));
                        longer
                    })
                })
                .collect();
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for phrase in phrases {
            let query = RegexPhraseQuery::new_with_offset_and_slop(field, phrase, slop);
            // Compiled now so that a pattern tantivy refuses is the analyst's error, not a
            // failed search.
            query
                .regexes()
                .map_err(|e| SearchError::BadQuery(format!("{shown} cannot be searched: {e}")))?;
            clauses.push((Occur::Should, Box::new(query)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// A phrase's positions with the forms the analyst left out taken away. `None` when
    /// none of its words has such a form (it stays on its side); an empty position means it
    /// cannot match. On the lemma and stem sides each word becomes the forms it stands for
    /// in the index, on the exact field, as a single word does.
    fn phrase_without_excluded(
        &self,
        side: Side,
        terms: &[(usize, HashSet<String>)],
    ) -> tantivy::Result<Option<Positions>> {
        if self.excluded.is_empty() {
            return Ok(None);
        }
        if side == Side::Exact {
            if !terms
                .iter()
                .flat_map(|(_, t)| t)
                .any(|t| self.excluded.contains(t))
            {
                return Ok(None);
            }
            return Ok(Some(
                terms
                    .iter()
                    .map(|(o, t)| (*o, t - &self.excluded))
                    .collect(),
            ));
        }
        let mut forms = Vec::with_capacity(terms.len());
        let mut touched = false;
        for (offset, alternatives) in terms {
            let mut all = HashSet::new();
            for term in alternatives {
                all.extend(forms::forms_of_term(
                    self.searcher,
                    self.text_exact,
                    side,
                    term,
                )?);
            }
            touched |= all.iter().any(|f| self.excluded.contains(f));
            forms.push((*offset, &all - &self.excluded));
        }
        Ok(touched.then_some(forms))
    }

    /// A phrase on the lemma or stem side that begins or ends with a stop word (`"non è"`,
    /// `"idea era"`), as positions on the exact field; `None` for any other. Those fields
    /// leave stop words out: there the stop word would drop and the phrase become its other
    /// words, anywhere in the passage (a stop word inside keeps its place as a gap). On the
    /// exact field each stop word is itself (folded, as in EXACT) and each other word the
    /// forms it stands for in the index, as a phrase with forms left out is read. Articles
    /// elided onto the first word (`l’idea`) drop, as from a single word.
    fn phrase_with_stop_word_ends(
        &self,
        side: Side,
        text: &str,
    ) -> tantivy::Result<Option<Positions>> {
        let (words, stop) = Self::phrase_words(text);
        let at_an_end = stop.first() == Some(&true) || stop.last() == Some(&true);
        if !at_an_end || stop.iter().all(|s| *s) {
            return Ok(None);
        }
        let analysed = Self::analyse(side, text);
        let base = words[0].position;
        let mut positions = Vec::with_capacity(words.len());
        for (word, stop) in words.iter().zip(&stop) {
            let mut alternatives = HashSet::new();
            if *stop {
                alternatives.insert(word.term.clone());
            } else {
                for t in analysed.iter().filter(|t| t.position == word.position) {
                    alternatives.extend(forms::forms_of_term(
                        self.searcher,
                        self.text_exact,
                        side,
                        &t.term,
                    )?);
                }
            }
            positions.push((word.position - base, &alternatives - &self.excluded));
        }
        Ok(Some(positions))
    }

    /// A phrase's words as the exact field holds them, without the articles elided onto its
    /// first word (`l’idea`), and which of them are stop words.
    fn phrase_words(text: &str) -> (Vec<Tok>, Vec<bool>) {
        let words = Self::analyse(Side::Exact, text);
        let articles = elided_articles(text, &words);
        let words = words[articles..].to_vec();
        let mut content = analyzer::folded_content();
        let stop = words
            .iter()
            .map(|t| analyzer::tokens(&mut content, &text[t.from..t.to]).is_empty())
            .collect();
        (words, stop)
    }

    /// A phrase with `fuzzy: true`: each of its words the index terms within its typo
    /// distance, as a lone word reaches them, and each stop word as typed (one edit from
    /// `di` is every short word). Without it a phrase's typo (`"casa popolre"`) found
    /// nothing, though the same words unquoted were found.
    fn fuzzy_phrase(
        &self,
        text: &str,
        slop: u32,
        out: &mut Vec<Matcher>,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        let (words, stop) = Self::phrase_words(text);
        if stop.iter().all(|s| *s) {
            return Ok(None);
        }
        if let [word] = words.as_slice() {
            return Ok(Some(self.fuzzy_word(&word.term, out)?));
        }
        let base = words[0].position;
        let mut terms: Positions = Vec::with_capacity(words.len());
        for (word, stop) in words.iter().zip(&stop) {
            let reach: HashSet<String> = if *stop {
                HashSet::from([word.term.clone()])
            } else {
                self.expand_fuzzy(&typo_dfa(&word.term).1)?
                    .into_iter()
                    .filter(|f| !analyzer::may_be_stop_word(f))
                    .collect()
            };
            let reach = &reach - &self.excluded;
            if reach.is_empty() {
                return Ok(Some(Box::new(EmptyQuery)));
            }
            terms.push((word.position - base, reach));
        }
        let query = self.phrase_query(Side::Exact, &terms, slop, &format!("\"{text}\""))?;
        out.push(Matcher::Phrase {
            side: Side::Exact,
            terms,
            slop,
        });
        Ok(Some(query))
    }

    /// Compiles a phrase (or a word that analyses into several tokens) on one side.
    fn phrase(
        &self,
        side: Side,
        text: &str,
        slop: u32,
        out: &mut Vec<Matcher>,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        // A plain word is one token: no stop word at the end of anything (the check costs
        // two analyses, on the path of every lone word).
        let one_word = text.chars().all(char::is_alphanumeric);
        if side != Side::Exact && !one_word {
            if let Some(terms) = self.phrase_with_stop_word_ends(side, text)? {
                if terms.iter().any(|(_, t)| t.is_empty()) {
                    return Ok(Some(Box::new(EmptyQuery)));
                }
                let query = self.phrase_query(Side::Exact, &terms, slop, &format!("\"{text}\""))?;
                out.push(Matcher::Phrase {
                    side: Side::Exact,
                    terms,
                    slop,
                });
                return Ok(Some(query));
            }
        }
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
                let mut terms: Positions = toks
                    .iter()
                    .map(|t| (t.position - base, HashSet::from([t.term.clone()])))
                    .collect();
                let mut side = side;
                if let Some(kept) = self.phrase_without_excluded(side, &terms)? {
                    if kept.iter().any(|(_, t)| t.is_empty()) {
                        return Ok(Some(Box::new(EmptyQuery)));
                    }
                    (side, terms) = (Side::Exact, kept);
                }
                let query = self.phrase_query(side, &terms, slop, &format!("\"{text}\""))?;
                out.push(Matcher::Phrase { side, terms, slop });
                Some(query)
            }
        })
    }

    /// `progett*`: the words of the index beginning so. A prefix on an elided or hyphenated
    /// word (`l’anzian*`, `dell’ent*`, `co-progett*`) analyses into several words: the
    /// leading stop words (the elided articles) are dropped, as from any word, and what is
    /// left is a phrase whose last word is the prefix.
    fn prefix(&self, text: &str, out: &mut Vec<Matcher>) -> Result<Clause, SearchError> {
        let toks = Self::analyse(Side::Exact, text);
        // The parser has made sure that a prefix ends in a word.
        let Some((stem, before)) = toks.split_last() else {
            return Ok(Clause::Nothing);
        };
        let words = &before[elided_articles(text, before)..];
        let mut expansions = self.expand_prefix(&stem.term)?;
        expansions.retain(|t| !self.excluded.contains(t));
        if expansions.is_empty() || words.iter().any(|w| self.excluded.contains(&w.term)) {
            return Ok(Clause::Query(Box::new(EmptyQuery)));
        }
        if words.is_empty() {
            let query = BooleanQuery::new(
                expansions
                    .iter()
                    .map(|t| (Occur::Should, self.term_query(Side::Exact, t)))
                    .collect(),
            );
            out.push(Matcher::Terms {
                side: Side::Exact,
                terms: expansions.into_iter().collect(),
            });
            return Ok(Clause::Query(Box::new(query)));
        }
        let base = words[0].position;
        let mut terms: Positions = words
            .iter()
            .map(|w| (w.position - base, HashSet::from([w.term.clone()])))
            .collect();
        terms.push((stem.position - base, expansions.into_iter().collect()));
        let query = self.phrase_query(Side::Exact, &terms, 0, &format!("`{text}*`"))?;
        out.push(Matcher::Phrase {
            side: Side::Exact,
            terms,
            slop: 0,
        });
        Ok(Clause::Query(query))
    }

    /// A typo-tolerant word: the index terms one or two edits away, scored as a lone word is
    /// (BM25, the typed form first), without the stop words it reaches (`al` from `ASL`) and
    /// none for a stop word typed, as for any lone word. An elided or hyphenated word is a
    /// phrase of its parts (`fuzzy_phrase`).
    fn fuzzy(&self, text: &str, out: &mut Vec<Matcher>) -> Result<Clause, SearchError> {
        Ok(Clause::from(self.fuzzy_phrase(text, 0, out)?))
    }

    /// One word of a typo-tolerant query, analysed for the exact field.
    fn fuzzy_word(&self, term: &str, out: &mut Vec<Matcher>) -> tantivy::Result<Box<dyn Query>> {
        let kept: HashSet<String> = self
            .expand_fuzzy(&typo_dfa(term).1)?
            .into_iter()
            .filter(|f| !self.excluded.contains(f) && !analyzer::may_be_stop_word(f))
            .collect();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = kept
            .iter()
            .map(|f| (Occur::Should, self.term_query(Side::Exact, f)))
            .collect();
        if kept.contains(term) {
            clauses.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    self.term_query(Side::Exact, term),
                    TYPED_FORM_BONUS,
                )),
            ));
        }
        out.push(Matcher::Terms {
            side: Side::Exact,
            terms: kept,
        });
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn compile_expr(
        &self,
        e: &Expr,
        positive: bool,
        out: &mut Vec<Matcher>,
    ) -> Result<Clause, SearchError> {
        // Matchers of negated clauses are not highlights.
        let mut sink = Vec::new();
        let out = if positive { out } else { &mut sink };
        Ok(match e {
            Expr::Word {
                text, prefix: true, ..
            } => self.prefix(text, out)?,
            Expr::Word { text, exact, .. } if self.fuzzy && !*exact => self.fuzzy(text, out)?,
            Expr::Word { text, exact, .. } => {
                let side = if *exact {
                    Side::Exact
                } else {
                    self.mode.side()
                };
                Clause::from(self.phrase(side, text, 0, out)?)
            }
            Expr::Phrase { text, slop } if self.fuzzy => {
                Clause::from(self.fuzzy_phrase(text, *slop, out)?)
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
    /// exclusions: there is nothing to leave them out of). A query that parses but still
    /// cannot be searched (a phrase standing for too many) is `SearchError::BadQuery`.
    pub fn try_compile(&self, e: &Expr) -> Result<Option<Compiled>, SearchError> {
        let mut matchers = Vec::new();
        Ok(match self.compile_expr(e, true, &mut matchers)? {
            Clause::Query(query) => Some(Compiled { query, matchers }),
            Clause::Nothing | Clause::Exclusions(_) => None,
        })
    }

    /// `try_compile` in tantivy's errors, for code that speaks only those (the benchmark's
    /// baseline): a query that cannot be searched is an invalid argument.
    pub fn compile(&self, e: &Expr) -> tantivy::Result<Option<Compiled>> {
        self.try_compile(e).map_err(|e| match e {
            SearchError::Tantivy(e) => e,
            other => tantivy::TantivyError::InvalidArgument(other.to_string()),
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

/// Patterns matching exactly these terms, each listing at most `PATTERN_BYTES` of them.
fn patterns(terms: &HashSet<String>) -> Vec<String> {
    let mut sorted: Vec<&String> = terms.iter().collect();
    sorted.sort();
    let mut out: Vec<String> = Vec::new();
    let mut bytes = 0;
    for term in sorted {
        let literal = literal_pattern(term);
        match out.last_mut() {
            Some(last) if bytes + term.len() <= PATTERN_BYTES => {
                last.push('|');
                last.push_str(&literal);
                bytes += term.len();
            }
            _ => {
                out.push(literal);
                bytes = term.len();
            }
        }
    }
    out
}

/// A term as a pattern matching only itself. Index terms are letters and digits; anything
/// else is written by its code point.
fn literal_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:X}}}", c as u32));
        }
    }
    out
}

/// The terms the matchers of each side look for, indexed by `Side`.
fn wanted_terms(matchers: &[Matcher]) -> [HashSet<&str>; 3] {
    let mut wanted: [HashSet<&str>; 3] = Default::default();
    for m in matchers {
        match m {
            Matcher::Terms { side, terms } => {
                wanted[*side as usize].extend(terms.iter().map(String::as_str))
            }
            Matcher::Phrase { side, terms, .. } => wanted[*side as usize]
                .extend(terms.iter().flat_map(|(_, t)| t.iter().map(String::as_str))),
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
    let mut lemmas: Option<Vec<Tok>> = None;
    let mut stemmed: Option<Vec<Tok>> = None;
    let mut exact: Option<Vec<Tok>> = None;
    let mut spans = Vec::new();
    for m in matchers {
        let side = match m {
            Matcher::Terms { side, .. } | Matcher::Phrase { side, .. } => *side,
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
                analyzer::tokens_where(&mut analyzer::exact(), text, |t| wanted.contains(t))
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

/// Occurrences of a phrase, each as one span from its first to its last word in the text.
fn phrase_spans(
    toks: &[Tok],
    terms: &[(usize, HashSet<String>)],
    slop: u32,
) -> Vec<(usize, usize)> {
    if slop > 0 {
        return sloppy_phrase_spans(toks, terms, slop);
    }
    let mut out = Vec::new();
    let Some((_, first)) = terms.first() else {
        return out;
    };
    for (i, start) in toks
        .iter()
        .enumerate()
        .filter(|(_, t)| first.contains(&t.term))
    {
        let mut end = start;
        let mut ok = true;
        for (offset, alternatives) in &terms[1..] {
            let want = start.position + offset;
            let found = toks[i..]
                .iter()
                .find(|t| alternatives.contains(&t.term) && t.position == want);
            match found {
                Some(t) => end = t,
                None => {
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

/// Occurrences of a phrase with slop, matched as tantivy matches them. A word's place is
/// its position less its offset in the phrase; going from one word to the next spends the
/// distance between their places, in either direction, and the phrase matches while the
/// slop lasts: `"casa popolare"~2` finds "popolare casa" too. From each pair it matched,
/// tantivy goes on from either word, and so does this. Unscored (a concordance, a count),
/// tantivy allows the last word the whole slop from the word before whatever was spent:
/// so does this, that every passage found has its highlight. Looking forward only, such
/// hits had none, and the concordance left them out.
fn sloppy_phrase_spans(
    toks: &[Tok],
    terms: &[(usize, HashSet<String>)],
    slop: u32,
) -> Vec<(usize, usize)> {
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    let Some(((first_offset, first), rest)) = terms.split_first() else {
        return out;
    };
    let place = |t: &Tok, offset: usize| t.position as i64 - offset as i64;
    for start in toks.iter().filter(|t| first.contains(&t.term)) {
        // (place gone on from, slop spent) → the span of the words matched so far.
        let mut states: BTreeMap<(i64, u32), (usize, usize)> = BTreeMap::new();
        states.insert((place(start, *first_offset), 0), (start.from, start.to));
        for (k, (offset, alternatives)) in rest.iter().enumerate() {
            let last = k + 1 == rest.len();
            let mut next = BTreeMap::new();
            for (&(anchor, spent), &(from, to)) in &states {
                let left = i64::from(if last { slop } else { slop - spent });
                let lowest = anchor + *offset as i64 - left;
                let begin = toks.partition_point(|t| (t.position as i64) < lowest);
                for t in toks[begin..]
                    .iter()
                    .take_while(|t| place(t, *offset) <= anchor + left)
                    .filter(|t| alternatives.contains(&t.term))
                {
                    let here = place(t, *offset);
                    let spent = spent + here.abs_diff(anchor) as u32;
                    let span = (from.min(t.from), to.max(t.to));
                    for anchor in [anchor, here] {
                        next.entry((anchor, spent)).or_insert(span);
                    }
                }
            }
            states = next;
            if states.is_empty() {
                break;
            }
        }
        if let Some((_, span)) = states.iter().min_by_key(|((_, spent), _)| *spent) {
            out.push(*span);
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

    /// A search for one word runs as `Word::among` its filters (execute/mod.rs): the compiler
    /// must hand every lone word over as a `Word`, and nothing else.
    #[test]
    fn a_lone_word_compiles_to_a_word_and_nothing_else_does() {
        use crate::search::schema;
        use tantivy::{Index, TantivyDocument};

        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        let mut doc = TantivyDocument::default();
        f.add_text(&mut doc, "La casa e le case popolari, più in là.");
        writer.add_document(doc).unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        for mode in [Mode::Lemma, Mode::Stem, Mode::Exact] {
            for (fuzzy, excluded) in [(false, vec![]), (true, vec![]), (false, vec!["case"])] {
                let compiler = Compiler {
                    searcher: &searcher,
                    text: f.text,
                    text_exact: f.text_exact,
                    text_lemma: f.text_lemma,
                    mode,
                    fuzzy,
                    excluded: excluded.iter().map(|x| x.to_string()).collect(),
                };
                let is_word = |q: &str| {
                    let compiled = compiler.try_compile(&parse(q).unwrap()).unwrap();
                    compiled.is_some_and(|c| c.query.is::<Word>())
                };
                for q in ["casa", "Popolari", "città"] {
                    // Typo tolerance makes a lone word something else, and so does leaving
                    // out one of its forms ("case" of "casa", except where forms are not
                    // matched at all).
                    let loses_a_form = q == "casa" && !excluded.is_empty() && mode != Mode::Exact;
                    let lone = !fuzzy && !loses_a_form;
                    assert_eq!(is_word(q), lone, "{q} {mode:?} fuzzy {fuzzy} {excluded:?}");
                }
                for q in [
                    "casa popolari",
                    "casa OR case",
                    "\"casa popolari\"",
                    "cas*",
                    "casa -popolari",
                ] {
                    assert!(!is_word(q), "{q} {mode:?}");
                }
            }
        }
    }

    /// How a test compiles its query.
    #[derive(Default, Clone, Copy)]
    struct Options {
        mode: Mode,
        fuzzy: bool,
        /// Forms left out, as typed.
        excluded: &'static [&'static str],
    }

    /// Which of these passages a query finds, compiled against a small index.
    fn found(passages: &[&str], q: &str) -> Vec<usize> {
        searched(passages, q, Options::default()).0
    }

    /// Which of these passages a query finds, and the words it highlights in them
    /// (lower-cased, in passage order).
    fn searched(passages: &[&str], q: &str, o: Options) -> (Vec<usize>, Vec<String>) {
        searched_in_segments(&[passages], q, o)
    }

    /// As `searched`, over an index of one segment per group of passages (numbered on
    /// across groups).
    fn searched_in_segments(
        segments: &[&[&str]],
        q: &str,
        o: Options,
    ) -> (Vec<usize>, Vec<String>) {
        use crate::search::schema;
        use tantivy::collector::DocSetCollector;
        use tantivy::schema::Value;
        use tantivy::{Index, TantivyDocument};

        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        // Segments as they are made, unmerged.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let passages: Vec<&str> = segments.iter().flat_map(|s| s.iter().copied()).collect();
        let ends: Vec<usize> = segments
            .iter()
            .scan(0, |n, s| {
                *n += s.len();
                Some(*n)
            })
            .collect();
        for (n, text) in passages.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.start, n as u64);
            f.add_text(&mut doc, text);
            writer.add_document(doc).unwrap();
            if ends.contains(&(n + 1)) {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let expr = parse(q).unwrap();
        let compiler = Compiler {
            searcher: &searcher,
            text: f.text,
            text_exact: f.text_exact,
            text_lemma: f.text_lemma,
            mode: o.mode,
            fuzzy: o.fuzzy,
            // As `SearchIndex::compile` gathers them.
            excluded: o
                .excluded
                .iter()
                .map(|x| x.to_string())
                .chain(excluded_forms(&expr))
                .filter_map(|x| excluded_form_term(&x).unwrap())
                .collect(),
        };
        let Some(compiled) = compiler.try_compile(&expr).unwrap() else {
            return (Vec::new(), Vec::new());
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
        let words = out
            .iter()
            .flat_map(|&n| {
                let text = passages[n];
                highlight(text, &compiled.matchers)
                    .into_iter()
                    .map(move |(a, b)| text[a..b].to_lowercase())
            })
            .collect();
        (out, words)
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
    /// A query pasted with combining accents finds what the same query typed composed finds
    /// (transcripts are stored composed): "ne\u{301}" is the negation né, not the stop word
    /// ne, and "lavoro\u{300}" the verb, not the noun.
    #[test]
    fn a_query_with_combining_accents_reads_as_composed() {
        let passages = [
            "Non ho né tempo né soldi.",
            "Ne parlo domani.",
            "Lavorò tutta la vita in fabbrica.",
            "Il lavoro manca.",
        ];
        let o = Options::default();
        for (decomposed, composed) in [("ne\u{301}", "né"), ("lavoro\u{300}", "lavorò")] {
            let got = searched(&passages, decomposed, o).0;
            assert_eq!(got, searched(&passages, composed, o).0, "{decomposed}");
            assert!(!got.is_empty(), "{decomposed}");
        }
        assert_eq!(
            excluded_form_term("citta\u{300}").unwrap(),
            excluded_form_term("città").unwrap()
        );
    }

    /// An elision typed with U+02BC (a modifier letter, which some keyboards and converters
    /// give for the apostrophe) is an elision, in the transcript and in the query.
    #[test]
    fn an_elision_with_a_modifier_letter_apostrophe_is_split() {
        let passages = ["La sede dell\u{2BC}ente è chiusa.", "Nessuno."];
        let o = Options::default();
        for q in [
            "ente",
            "dell’ente",
            "dell\u{2BC}ente",
            "\"dell'ente è\"",
            "dell\u{2BC}ent*",
        ] {
            assert_eq!(searched(&passages, q, o).0, vec![0], "{q}");
        }
    }

    /// A prefix on an elided or hyphenated word analyses into several words. It used to
    /// compile to nothing, silently: `l’anzian*` found nothing, and `l’anzian* soli` emptied
    /// the whole conjunction. Leading articles drop as from any word; what is left is a
    /// phrase ending in the prefix, highlighted as one span.
    #[test]
    fn a_prefix_on_an_elided_or_hyphenated_word_finds_its_words() {
        let passages = [
            "L’anziano vive solo, l’anziana con la figlia.",
            "Gli anziani del paese e le anziane sole.",
            "Il tavolo di co-progettazione è partito; la co-progettazione richiede tempo.",
            "La progettazione dell’ente è in ritardo, però.",
            "Dell’entusiasmo iniziale è rimasto poco: c’è stanchezza.",
        ];
        let o = Options::default();
        for (q, want) in [
            ("l’anzian*", vec![0, 1]),
            ("l'anzian* sole", vec![1]),
            ("dell’ent*", vec![3, 4]),
            ("all’ent* ritardo", vec![3]),
            ("co-progett*", vec![2]),
            ("co-progett* tempo", vec![2]),
            ("co-progett* ritardo", vec![]),
            ("progett* ritardo", vec![3]),
        ] {
            assert_eq!(searched(&passages, q, o).0, want, "{q}");
        }
        let (_, words) = searched(&passages, "co-progett*", o);
        assert_eq!(words, ["co-progettazione", "co-progettazione"]);
        let (_, words) = searched(&passages, "l’anzian*", o);
        assert_eq!(words, ["anziano", "anziana", "anziani", "anziane"]);
        // Left out, a form is not reached through the prefix either.
        let leaving = Options {
            excluded: &["progettazione"],
            ..o
        };
        assert_eq!(
            searched(&passages, "co-progett*", leaving).0,
            Vec::<usize>::new()
        );
        let leaving = Options {
            excluded: &["anziani", "anziane"],
            ..o
        };
        assert_eq!(searched(&passages, "l’anzian*", leaving).0, vec![0]);
    }

    /// What a prefix cannot mean is said, never searched for as nothing.
    #[test]
    fn a_prefix_that_ends_in_no_word_is_explained() {
        for (q, says) in [
            ("l’*", "must follow the letters"),
            ("co-*", "must follow the letters"),
            ("progett’*", "must follow the letters"),
            ("l’a*", "two letters"),
            ("co-p*", "two letters"),
        ] {
            let e = parse(q).expect_err(q);
            assert!(e.0.contains(says), "{q}: {}", e.0);
        }
        let long = format!("{}*", "a".repeat(60));
        assert!(parse(&long).expect_err("long").0.contains("too long"));
        assert!(parse("co-progett*").is_ok());
    }

    /// A left-out form is left out of phrases and typo-tolerant words too (they used to
    /// ignore it): a phrase matches only through the forms left, and a passage holding the
    /// phrase through a kept form still matches.
    #[test]
    fn left_out_forms_are_left_out_of_phrases_and_typo_tolerant_words() {
        let passages = [
            "La casa popolare è lontana dal centro.",
            "Le case popolari sono poche, città per città.",
            "Case popolari qui, e una casa popolare là.",
            "La cosa più difficile è la casa.",
            "Una cassa comune per la comunità.",
            "Una cosa sola: più fiducia.",
        ];
        let lemma = Options::default();
        let leaving = |excluded| Options { excluded, ..lemma };
        for (q, o, want) in [
            ("\"casa popolare\"", lemma, vec![0, 1, 2]),
            ("\"casa popolare\"", leaving(&["case"]), vec![0, 2]),
            ("\"casa popolare\" -form:case", lemma, vec![0, 2]),
            ("\"casa popolare\"", leaving(&["popolari"]), vec![0, 2]),
            ("\"casa popolare\"", leaving(&["casa", "case"]), vec![]),
            ("\"casa popolare\"~1", leaving(&["case"]), vec![0, 2]),
            // Forms of other words leave the phrase as it was.
            ("\"casa popolare\"", leaving(&["cosa"]), vec![0, 1, 2]),
            // Typed in EXACT, a phrase holding a left-out form finds nothing.
            (
                "\"case popolari\"",
                Options {
                    mode: Mode::Exact,
                    excluded: &["case"],
                    ..lemma
                },
                vec![],
            ),
            (
                "\"casa popolare\"",
                Options {
                    mode: Mode::Exact,
                    excluded: &["case"],
                    ..lemma
                },
                vec![0, 2],
            ),
        ] {
            assert_eq!(
                searched(&passages, q, o).0,
                want,
                "{q} leaving {:?}",
                o.excluded
            );
        }
        let (_, words) = searched(&passages, "\"casa popolare\"", leaving(&["case"]));
        assert_eq!(words, ["casa popolare", "casa popolare"]);

        let fuzzy = |excluded| Options {
            fuzzy: true,
            excluded,
            ..lemma
        };
        assert_eq!(
            searched(&passages, "casa", fuzzy(&[])).0,
            vec![0, 1, 2, 3, 4, 5]
        );
        let (found, words) = searched(&passages, "casa", fuzzy(&["cosa"]));
        assert_eq!(found, vec![0, 1, 2, 3, 4]);
        assert!(!words.contains(&"cosa".to_owned()), "{words:?}");
        assert!(words.contains(&"cassa".to_owned()), "{words:?}");
        assert_eq!(
            searched(&passages, "casa", fuzzy(&["cosa", "cassa", "case", "casa"])).0,
            Vec::<usize>::new()
        );
    }

    /// A phrase that begins or ends with a stop word keeps it: the lemma and stem fields
    /// leave stop words out, and `"non è"` used to find every "non", `"idea era"` every
    /// "idea". It matches as EXACT does at its stop words and as the mode does elsewhere.
    #[test]
    fn a_phrase_keeps_the_stop_words_at_its_ends() {
        let passages = [
            "Non è facile, davvero.",
            "Non lo so, e non voglio.",
            "L'idea era buona.",
            "Le idee erano tante, era tardi.",
            "Un'idea: era tardi.",
            "La centrale di progettazione.",
            "Le idee non erano buone, non è vero.",
            "Perché non lo so.",
        ];
        for mode in [Mode::Lemma, Mode::Stem] {
            let o = Options {
                mode,
                ..Options::default()
            };
            let (found, words) = searched(&passages, "\"non è\"", o);
            assert_eq!(found, [0, 6], "{mode:?}");
            assert_eq!(words, ["non è", "non è"], "{mode:?}");
            // The other words keep the mode's forms: "idee" is a form of idea.
            assert_eq!(searched(&passages, "\"idea era\"", o).0, [2, 4], "{mode:?}");
            assert_eq!(searched(&passages, "\"idee era\"", o).0, [2, 4], "{mode:?}");
            assert_eq!(searched(&passages, "\"era buona\"", o).0, [2], "{mode:?}");
            // An apostrophe for an accent is no elision: "perche'" stays a word.
            assert_eq!(searched(&passages, "\"perche' non\"", o).0, [7], "{mode:?}");
            // A stop word inside keeps its place, and an elided article still drops.
            assert_eq!(
                searched(&passages, "\"centrale di progettazione\"", o).0,
                [5],
                "{mode:?}"
            );
            assert_eq!(
                searched(&passages, "\"l'idea\"", o).0,
                [2, 3, 4, 6],
                "{mode:?}"
            );
            // A word left out is left out here too.
            let leaving = Options {
                excluded: &["idea"],
                ..o
            };
            assert_eq!(
                searched(&passages, "\"idea era\"", leaving).0,
                Vec::<usize>::new()
            );
        }
    }

    /// With `fuzzy: true` a phrase's words reach their typos as lone words do, in their
    /// order; its stop words stay as typed. A typo in a phrase found nothing.
    #[test]
    fn a_fuzzy_phrase_reaches_typos_of_its_words() {
        let passages = [
            "La casa popolare è vuota.",
            "Le fasce grigie crescono.",
            "Popolare la casa, dicevano.",
            "Le case di riposo e la casa del popolo.",
            "Una casa di riposo nuova.",
        ];
        let fuzzy = Options {
            fuzzy: true,
            ..Options::default()
        };
        let (found, words) = searched(&passages, "\"casa popolre\"", fuzzy);
        assert_eq!(found, [0]);
        assert_eq!(words, ["casa popolare"]);
        assert_eq!(searched(&passages, "\"fasce grige\"", fuzzy).0, [1]);
        // A phrase of one word is that word (a phrase query of one term panicked).
        assert_eq!(searched(&passages, "\"popolre\"", fuzzy).0, [0, 2]);
        assert_eq!(
            searched(&passages, "\"la popolre\"", fuzzy).0,
            Vec::<usize>::new()
        );
        assert_eq!(
            searched(&passages, "\"l’idea\"", fuzzy).0,
            Vec::<usize>::new()
        );
        assert_eq!(
            searched(&passages, "\"casa popolre\"", Options::default()).0,
            Vec::<usize>::new()
        );
        // The stop word as typed, the others within reach (case, casa).
        assert_eq!(searched(&passages, "\"casa di ripso\"", fuzzy).0, [3, 4]);
        assert_eq!(
            searched(&passages, "\"casa del ripso\"", fuzzy).0,
            Vec::<usize>::new()
        );
        // Slop and left-out forms hold.
        assert_eq!(searched(&passages, "\"popolre casa\"~2", fuzzy).0, [0, 2]);
        let leaving = Options {
            excluded: &["case"],
            ..fuzzy
        };
        assert_eq!(searched(&passages, "\"casa di ripso\"", leaving).0, [4]);
        let leaving = Options {
            excluded: &["casa"],
            ..fuzzy
        };
        assert_eq!(searched(&passages, "\"casa di ripso\"", leaving).0, [3]);
    }

    /// Phrases of alternatives are cut into patterns tantivy accepts (at most 1,000
    /// automaton states each): a prefix reaching hundreds of words still finds each.
    #[test]
    fn a_phrase_prefix_reaching_many_words_finds_every_one() {
        let words: Vec<String> = (0..300).map(|n| format!("progettazione{n:03}")).collect();
        let passages: Vec<String> = words
            .iter()
            .map(|w| format!("Il co-{w} è partito."))
            .collect();
        let passages: Vec<&str> = passages.iter().map(String::as_str).collect();
        let found = searched(&passages, "co-progettazione1*", Options::default()).0;
        assert_eq!(found, (100..200).collect::<Vec<_>>());
        let total: usize = words[..MAX_EXPANSION].iter().map(String::len).sum();
        assert!(total > PATTERN_BYTES, "the expansions fit one pattern");
        let found = searched(&passages, "co-progett*", Options::default()).0;
        assert_eq!(found, (0..MAX_EXPANSION).collect::<Vec<_>>());
    }

    /// A prefix reaching more words than it may expand to takes the first in the dictionary's
    /// order whatever segments hold them: each segment here has 300 words under `pro`, and
    /// its own `proa…` word among the first 256 of them all.
    #[test]
    fn a_capped_prefix_takes_the_same_words_however_the_index_is_split() {
        let segment = |first: &str, tag: &str| -> Vec<String> {
            std::iter::once(format!("Il {first} è qui."))
                .chain((0..300).map(|n| format!("Il proz{tag}{n:03} è qui.")))
                .collect()
        };
        let (one, two) = (segment("proattività", "a"), segment("proattivo", "b"));
        let one: Vec<&str> = one.iter().map(String::as_str).collect();
        let two: Vec<&str> = two.iter().map(String::as_str).collect();
        let o = Options {
            mode: Mode::Exact,
            ..Options::default()
        };
        let found = searched_in_segments(&[&one, &two], "pro*", o).0;
        assert_eq!(found.len(), MAX_EXPANSION);
        // Both `proa…` words, and the first 254 `proz…` words in the dictionary's order.
        assert!(found.contains(&0) && found.contains(&301), "{found:?}");
        let together: Vec<&str> = one.iter().chain(&two).copied().collect();
        assert_eq!(searched(&together, "pro*", o).0, found);
    }

    /// Lucene's marks where this language has none were silently misread: `*` inside quotes
    /// dropped, `casa~1` read as the phrase "casa 1", `~2` after a space as the word "2".
    #[test]
    fn lucene_marks_out_of_place_are_explained() {
        for (q, says) in [
            ("\"casa popolar*\"", "inside quotes"),
            ("«città popolar*»", "inside quotes"),
            ("\"casa~ popolare\"", "inside quotes"),
            ("\"=fasce grigie\"", "match: EXACT"),
            ("\"fasce =grigie\"", "match: EXACT"),
            ("casa~", "fuzzy: true"),
            ("casa~1", "fuzzy: true"),
            ("perché~2 città", "fuzzy: true"),
            ("\"casa popolare\" ~2", "\"casa popolare\"~2"),
            ("\"casa popolare\" ~", "closing quote"),
        ] {
            let e = parse(q).expect_err(q);
            assert!(e.0.contains(says), "{q}: {}", e.0);
        }
        assert_eq!(
            parse("\"casa popolare\"~2 città").unwrap(),
            Expr::And(vec![
                (
                    Occur::Must,
                    Expr::Phrase {
                        text: "casa popolare".into(),
                        slop: 2
                    }
                ),
                (Occur::Must, w("città"))
            ])
        );
    }

    /// A left-out form is one word: an elided article before it drops, a compound is
    /// refused. Each of its words used to be left out on its own, so that
    /// `-form:co-progettazione` left out "progettazione" itself.
    #[test]
    fn a_left_out_form_is_one_word() {
        assert_eq!(
            excluded_form_term("Città").unwrap().as_deref(),
            Some("citta")
        );
        assert_eq!(
            excluded_form_term("l’anziana").unwrap().as_deref(),
            Some("anziana")
        );
        assert_eq!(
            excluded_form_term("dell'ente").unwrap().as_deref(),
            Some("ente")
        );
        assert_eq!(excluded_form_term("è").unwrap().as_deref(), Some("e"));
        assert_eq!(excluded_form_term("’").unwrap(), None);
        for syntax in ["case*", "(case)", "case~", "\"case\"", "r:case"] {
            let e = excluded_form_term(syntax).expect_err(syntax);
            assert!(e.0.contains("is not a form"), "{syntax}: {}", e.0);
        }
        // A stop word before a space is a word of its own, not an elided article.
        for form in [
            "co-progettazione",
            "casa popolare",
            "l’anziano-solo",
            "a b",
            "di casa",
        ] {
            let e = excluded_form_term(form).expect_err(form);
            assert!(e.0.contains(&format!("-\"{form}\"")), "{form}: {}", e.0);
        }
        let e = parse("progettazione -form:co-progettazione").expect_err("compound");
        assert!(e.0.contains("co, progettazione"), "{}", e.0);
        assert!(parse("anziana -form:l’anziana").is_ok());
    }

    /// A typo-tolerant elided or hyphenated word: its article drops (`l` one edit away was
    /// every short word, and highlighted), and its parts stay one word (they were each
    /// required anywhere in the passage).
    #[test]
    fn a_typo_tolerant_elided_or_hyphenated_word_stays_one_word() {
        let passages = [
            "L’anziano vive da solo, e la figlia è lontana.",
            "L’assistente sociale è arrivata tardi.",
            "La progettazione del comune: co-working e altro.",
            "La co-progettazione è partita; le co-progettazioni pure.",
            "Gli anziani del paese: lì c’è poco.",
        ];
        let fuzzy = Options {
            fuzzy: true,
            ..Options::default()
        };
        let (found, words) = searched(&passages, "l’anziano", fuzzy);
        assert_eq!(found, vec![0, 4]);
        assert_eq!(words, ["anziano", "anziani"]);
        let (found, words) = searched(&passages, "dell’assistente", fuzzy);
        assert_eq!(found, vec![1]);
        assert_eq!(words, ["assistente"]);
        let (found, words) = searched(&passages, "co-progettazione", fuzzy);
        assert_eq!(found, vec![3]);
        assert_eq!(words, ["co-progettazione", "co-progettazioni"]);
        let (found, _) = searched(&passages, "co-progettazione sociale", fuzzy);
        assert_eq!(found, Vec::<usize>::new());
        let leaving = Options {
            excluded: &["progettazioni"],
            ..fuzzy
        };
        let (found, words) = searched(&passages, "co-progettazione", leaving);
        assert_eq!(found, vec![3]);
        assert_eq!(words, ["co-progettazione"]);
    }

    /// tantivy matches a phrase with slop in either order: such a hit used to have no
    /// highlight at all (the words were looked for after the first one only).
    #[test]
    fn a_sloppy_phrase_is_highlighted_in_either_order() {
        let passages = [
            "La casa popolare è lontana dal centro.",
            "Popolare casa? Così dicono in città.",
            "Una casa, poi la vita popolare di quartiere.",
            "Le case di periferia, popolari e grigie, più lontane.",
            "La popolare e antica casa di città è là.",
        ];
        for mode in [Mode::Lemma, Mode::Stem, Mode::Exact] {
            let o = Options {
                mode,
                ..Options::default()
            };
            for q in [
                "\"casa popolare\"~2",
                "\"casa popolare\"~4",
                "\"casa popolare città\"~3",
                "\"casa popolare città\"~6",
            ] {
                for n in searched(&passages, q, o).0 {
                    let (_, words) = searched(&passages[n..=n], q, o);
                    assert!(!words.is_empty(), "{q} {mode:?}: no highlight in {n}");
                }
            }
        }
        let lemma = Options::default();
        let (found, words) = searched(&passages, "\"casa popolare\"~2", lemma);
        assert_eq!(found, vec![0, 1, 3]);
        assert_eq!(
            words,
            [
                "casa popolare",
                "popolare casa",
                "case di periferia, popolari"
            ]
        );
        let (found, words) = searched(&passages, "\"casa popolare\"~4", lemma);
        assert_eq!(found, vec![0, 1, 2, 3, 4]);
        assert_eq!(words[4], "popolare e antica casa");
    }
}
