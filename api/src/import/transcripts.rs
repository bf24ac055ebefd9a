//! Transcripts from files: .txt, .md and .docx become one normalised text each, with the
//! speaker turns that search passages follow (`search::passages`).
//!
//! Normalisation, in this order, each step recorded only when it changed the text:
//! 1. the bytes must be UTF-8 (a .docx's XML is decoded by its parser); otherwise the file
//!    is refused, naming the first bad byte — guessing Latin-1 would silently garble à è ’;
//! 2. a leading byte-order mark is dropped (`BOM_STRIPPED`);
//! 3. CRLF and lone CR become LF (`LINE_ENDINGS`);
//! 4. Unicode NFC (`UNICODE_NFC`), so that "è" typed as e + combining accent is the same code
//!    point as everywhere else, and offsets and search agree;
//! 5. Markdown only (`MARKDOWN`): the text is kept readable as prose — heading markers
//!    (`# `), block quotes (`> `), emphasis and code markers (`**`, `__`, `*`, `_`, `` ` ``),
//!    link targets (`[text](url)` keeps "text"), backslash escapes and code fences are
//!    removed; list markers, tables and HTML are left as written;
//! 6. speaker labels (`SPEAKER_LABELS`): a label on a paragraph of its own — "Intervistatore"
//!    in bold in a Word file, `**R:**` in Markdown, "INT:" followed by a blank line — gets its
//!    colon and is joined to the turn it opens, so that the passage of the turn starts with it.
//!
//! A Word paragraph becomes a line, or several where it has line breaks (Shift+Enter), with
//! no empty line among them. Where the document has speaker turns, the lines of a turn stay
//! together and a blank line separates turns; without turns a blank line separates
//! paragraphs. Either way search passages are turns, or paragraphs.

use std::collections::HashMap;

use crate::error::{ServiceError, ServiceResult};
use crate::import::docx;
use crate::search::passages::{is_speaker_label, is_turn_start, speaker_of, turn_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Docx,
}

impl Format {
    /// The format by file extension (case-insensitive).
    pub fn of_file(name: &str) -> ServiceResult<Format> {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "txt" | "text" => Ok(Format::Text),
            "md" | "markdown" => Ok(Format::Markdown),
            "docx" => Ok(Format::Docx),
            "qdpx" | "qdc" => Err(ServiceError::bad_input(format!(
                "{name}: REFI-QDA projects and codebooks are not transcripts; import them with importQdpx"
            ))),
            "doc" => Err(ServiceError::bad_input(format!(
                "{name}: old Word (.doc) files cannot be read; save it as .docx"
            ))),
            _ => Err(ServiceError::bad_input(format!(
                "{name}: unknown transcript format; use .txt, .md or .docx"
            ))),
        }
    }
}

/// A normalisation step that changed the text (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    BomStripped,
    LineEndings,
    UnicodeNfc,
    Markdown,
    SpeakerLabels,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::BomStripped,
        Step::LineEndings,
        Step::UnicodeNfc,
        Step::Markdown,
        Step::SpeakerLabels,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::BomStripped => "BOM_STRIPPED",
            Step::LineEndings => "LINE_ENDINGS",
            Step::UnicodeNfc => "UNICODE_NFC",
            Step::Markdown => "MARKDOWN",
            Step::SpeakerLabels => "SPEAKER_LABELS",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == s)
    }
}

/// A file read and normalised, ready to become an interview.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The file name without directories.
    pub file_name: String,
    pub format: Format,
    pub text: String,
    pub steps: Vec<Step>,
    /// Lines that open a speaker turn, and the speakers in order of first appearance.
    pub turns: usize,
    pub speakers: Vec<String>,
    pub warnings: Vec<String>,
}

impl Transcript {
    /// The interview label the file name suggests: "Int. 3.docx" → "Int. 3".
    pub fn label(&self) -> String {
        use unicode_normalization::UnicodeNormalization as _;
        let stem = self
            .file_name
            .rsplit_once('.')
            .map_or(self.file_name.as_str(), |(s, _)| s)
            .trim();
        // In NFC, as every label: macOS writes file names decomposed ("Citta\u{300}").
        if stem.is_empty() {
            self.file_name.nfc().collect()
        } else {
            stem.nfc().collect()
        }
    }
}

/// Reads one file. Errors are `BadInput` sentences that start with the file name.
pub fn read(file_name: &str, bytes: &[u8]) -> ServiceResult<Transcript> {
    let file_name = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_name)
        .trim()
        .to_owned();
    if file_name.is_empty() {
        return Err(ServiceError::bad_input("a file has no name"));
    }
    let format = Format::of_file(&file_name)?;
    let bad = |m: String| ServiceError::bad_input(format!("{file_name}: {m}"));
    let mut steps = Vec::new();
    let mut text = match format {
        Format::Text | Format::Markdown => decode(bytes).map_err(bad)?,
        Format::Docx => {
            let paragraphs = docx::paragraphs(bytes).map_err(bad)?;
            let (text, labelled) = docx_text(paragraphs);
            if labelled {
                steps.push(Step::SpeakerLabels);
            }
            text
        }
    };
    if let Some(rest) = text.strip_prefix('\u{feff}') {
        text = rest.to_owned();
        steps.insert(0, Step::BomStripped);
    }
    let normalised = crate::text::normalise(text);
    text = normalised.text;
    if normalised.line_endings {
        steps.push(Step::LineEndings);
    }
    if normalised.nfc {
        steps.push(Step::UnicodeNfc);
    }
    if format == Format::Markdown {
        let stripped = strip_markdown(&text);
        if stripped != text {
            text = stripped;
            steps.push(Step::Markdown);
        }
    }
    if format != Format::Docx {
        let joined = join_lone_labels(&text);
        if joined != text {
            text = joined;
            steps.push(Step::SpeakerLabels);
        }
    }
    steps.sort_by_key(|s| Step::ALL.iter().position(|x| x == s));
    if text.trim().is_empty() {
        return Err(bad("the file holds no text".into()));
    }
    let mut speakers: Vec<String> = Vec::new();
    let mut turns = 0;
    for line in text.lines() {
        if let Some(s) = speaker_of(line) {
            turns += 1;
            if !speakers.iter().any(|k| k == s) {
                speakers.push(s.to_owned());
            }
        }
    }
    let mut warnings = Vec::new();
    if turns == 0 {
        warnings.push(format!(
            "{file_name}: no speaker turns recognised (\"INT:\", \"R:\", \"Intervistatore:\"…); search passages follow paragraphs"
        ));
    }
    Ok(Transcript {
        file_name,
        format,
        text,
        steps,
        turns,
        speakers,
        warnings,
    })
}

/// Strict UTF-8, with the usual wrong encodings named.
fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err("the file is UTF-16; save it as UTF-8".into());
    }
    // Before the UTF-8 check: UTF-16 without a byte-order mark fails that too, at its first
    // accented letter, and would be taken for Latin-1 (Italian text always has one).
    if bytes.contains(&0) {
        return Err(
            "the file contains NUL characters: not a text file (UTF-16 without a byte-order mark?)"
                .into(),
        );
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        format!(
            "not UTF-8: byte 0x{:02X} at offset {at} (line {line}) is not valid UTF-8 (a Latin-1 or Windows-1252 file?); save it as UTF-8",
            bytes[at]
        )
    })?;
    Ok(text.to_owned())
}

/// A Word document's paragraphs as text (see the module documentation); and whether a
/// speaker label was completed.
fn docx_text(paragraphs: Vec<docx::Paragraph>) -> (String, bool) {
    let mut labelled = false;
    // The lines of each paragraph. A line break is kept inside its paragraph, never as an
    // empty line: search reads an empty line as the end of a passage, and would cut the
    // turn there and leave its rest without a speaker.
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for p in paragraphs {
        let lines: Vec<String> = p
            .text
            .split('\n')
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        if lines.is_empty() {
            continue;
        }
        // A bold "Intervistatore" alone on its paragraph names the speaker of what follows.
        let bare = p.text.trim();
        if p.bold && !bare.ends_with(':') && is_speaker_label(bare) {
            blocks.push(vec![format!("{bare}:")]);
            labelled = true;
        } else {
            blocks.push(lines);
        }
    }
    let has_turns = blocks.iter().flatten().any(|l| is_turn_start(l));
    let mut out = String::new();
    for (i, block) in blocks.iter().enumerate() {
        for (j, line) in block.iter().enumerate() {
            if i + j > 0 {
                // Between turns, or between paragraphs where there are none; a turn opened
                // after a line break is still a turn.
                let blank = if has_turns {
                    is_turn_start(line)
                } else {
                    j == 0
                };
                out.push_str(if blank { "\n\n" } else { "\n" });
            }
            out.push_str(line);
        }
    }
    (out, labelled)
}

/// A line holding only a speaker label ("R:") is joined to the text that follows it: blank
/// lines in between are dropped, the label's line then runs straight into the turn.
fn join_lone_labels(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut after_label = false;
    for line in text.split('\n') {
        if after_label && line.trim().is_empty() {
            continue;
        }
        // After the label, not after the first colon: "[00:01:05] INT:" has one in its time.
        after_label = turn_of(line).is_some_and(|(_, said)| said.trim().is_empty());
        out.push(line);
    }
    // A label at the very end has nothing to join; its dropped blank lines do not matter.
    out.join("\n")
}

/// Markdown kept readable as prose (see the module documentation).
fn strip_markdown(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.push(line.to_owned());
            continue;
        }
        // Quote markers go with the indentation before them; other lines keep theirs.
        let mut l = line;
        if trimmed.starts_with('>') {
            l = trimmed;
            while let Some(rest) = l.strip_prefix('>') {
                l = rest.trim_start();
            }
        }
        if is_rule(l) {
            out.push(String::new());
            continue;
        }
        let lt = l.trim_start();
        let hashes = lt.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && lt[hashes..].starts_with([' ', '\t']) {
            l = lt[hashes..].trim().trim_end_matches('#').trim_end();
        }
        let inline = strip_inline(l);
        // `**Intervistatore**` alone on its line is a speaker label.
        let bare = inline.trim();
        if l.trim().starts_with(['*', '_'])
            && bare != l.trim()
            && !bare.ends_with(':')
            && is_speaker_label(bare)
        {
            out.push(format!("{bare}:"));
        } else {
            out.push(inline);
        }
    }
    out.join("\n")
}

/// `---`, `***`, `___` (three or more, spaces allowed) and setext underlines `===`.
fn is_rule(l: &str) -> bool {
    let t: String = l.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3
        && (t.chars().all(|c| c == '-')
            || t.chars().all(|c| c == '*')
            || t.chars().all(|c| c == '_')
            || t.chars().all(|c| c == '='))
}

/// Removes emphasis, code and link markup from one line. The text inside emphasis and link
/// text is stripped in turn, as a line of its own would be: a span is worked through
/// from `lo` to `hi`, and looking around never crosses its ends.
///
/// Linear in the line but for a logarithm: closers and brackets are looked up in `Marks`,
/// built once, and spans are kept on a stack rather than the call stack. (Scanning from
/// every `[` or `*` to the end of the line made a long line of them cost minutes.)
fn strip_inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let marks = Marks::of(&chars);
    let mut out = String::with_capacity(line.len());
    // The spans enclosing the current one: (lo, hi, where to go on in it).
    let mut enclosing: Vec<(usize, usize, usize)> = Vec::new();
    let (mut lo, mut hi, mut i) = (0, chars.len(), 0);
    loop {
        if i >= hi {
            match enclosing.pop() {
                Some(span) => (lo, hi, i) = span,
                None => break,
            }
            continue;
        }
        let at = |k: usize| chars[..hi].get(k).copied();
        let c = chars[i];
        match c {
            '\\' if at(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '*' | '_' | '`' => {
                let run = chars[i..hi].iter().take_while(|&&x| x == c).count();
                let before = (i > lo).then(|| chars[i - 1]);
                let after = at(i + run);
                let opens = after.is_some_and(|a| !a.is_whitespace())
                    && (c != '_' || !before.is_some_and(char::is_alphanumeric));
                let closer = opens.then(|| marks.closer(c, run, i + run, hi)).flatten();
                match closer {
                    Some(end) if c == '`' => {
                        out.extend(&chars[i + run..end]);
                        i = end + run;
                    }
                    Some(end) => {
                        enclosing.push((lo, hi, end + run));
                        (lo, hi, i) = (i + run, end, i + run);
                    }
                    None => {
                        out.extend(&chars[i..i + run]);
                        i += run;
                    }
                }
            }
            '!' | '[' => {
                let open = if c == '!' { i + 1 } else { i };
                match (at(open) == Some('['))
                    .then(|| marks.link(&chars, open, hi))
                    .flatten()
                {
                    Some((close, next)) => {
                        enclosing.push((lo, hi, next));
                        (lo, hi, i) = (open + 1, close, open + 1);
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Where in a line emphasis can close and links end.
///
/// A closer is a run of exactly as many delimiters as the opener, preceded by a non-space,
/// and for `_` not followed by a letter or digit. Whether a run qualifies does not depend on
/// the span it is looked for in: spans end at a delimiter run of another kind, at a `]` or
/// at the end of the line, never inside a run, and the character after a run that ends a
/// span is such a delimiter or bracket, never a letter.
struct Marks {
    /// Starts of the runs that can close emphasis, by delimiter and run length, ascending.
    closers: HashMap<(char, usize), Vec<usize>>,
    brackets: Vec<usize>,
    parens: Vec<usize>,
}

impl Marks {
    fn of(chars: &[char]) -> Self {
        let mut marks = Marks {
            closers: HashMap::new(),
            brackets: Vec::new(),
            parens: Vec::new(),
        };
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match c {
                '*' | '_' | '`' => {
                    let len = chars[j..].iter().take_while(|&&x| x == c).count();
                    let before = j.checked_sub(1).map(|b| chars[b]);
                    let after = chars.get(j + len).copied();
                    if before.is_some_and(|b| !b.is_whitespace())
                        && (c != '_' || !after.is_some_and(char::is_alphanumeric))
                    {
                        marks.closers.entry((c, len)).or_default().push(j);
                    }
                    j += len;
                    continue;
                }
                ']' => marks.brackets.push(j),
                ')' => marks.parens.push(j),
                _ => {}
            }
            j += 1;
        }
        marks
    }

    /// The start of the first run that closes emphasis of `run` delimiters `c` opened before
    /// `from`, within the span ending at `hi`.
    fn closer(&self, c: char, run: usize, from: usize, hi: usize) -> Option<usize> {
        let starts = self.closers.get(&(c, run))?;
        let first = starts[starts.partition_point(|&s| s <= from)..].first()?;
        (*first < hi).then_some(*first)
    }

    /// `[text](target)` starting at `open` (the `[`), within the span ending at `hi`: the
    /// index of the `]` and the index after the `)`.
    fn link(&self, chars: &[char], open: usize, hi: usize) -> Option<(usize, usize)> {
        let first_after = |marks: &[usize], k: usize| {
            marks[marks.partition_point(|&m| m <= k)..]
                .first()
                .copied()
                .filter(|&m| m < hi)
        };
        let close = first_after(&self.brackets, open)?;
        if close + 1 >= hi || chars[close + 1] != '(' {
            return None;
        }
        let end = first_after(&self.parens, close + 1)?;
        Some((close, end + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::passages::split;

    fn error(r: ServiceResult<Transcript>) -> String {
        match r {
            Err(ServiceError::BadInput(m)) => m,
            other => panic!("expected BadInput, got {other:?}"),
        }
    }

    #[test]
    fn text_is_normalised_and_each_change_recorded() {
        // BOM, CRLF, a lone CR, and "è" as e + combining grave accent.
        let raw = "\u{feff}INT: Com\u{2019}\u{e8} andata?\r\nR: Bene, e\u{300} vero.\rFine.";
        let t = read("Int. 1.txt", raw.as_bytes()).unwrap();
        assert_eq!(t.text, "INT: Com’è andata?\nR: Bene, è vero.\nFine.");
        assert_eq!(
            t.steps,
            [Step::BomStripped, Step::LineEndings, Step::UnicodeNfc]
        );
        assert_eq!(t.turns, 2);
        assert_eq!(t.speakers, ["INT", "R"]);
        assert_eq!(t.label(), "Int. 1");
        assert!(t.warnings.is_empty());

        let clean = read("pulito.txt", "Intervistatore: già.\n".as_bytes()).unwrap();
        assert!(clean.steps.is_empty());
        assert!(clean.warnings.is_empty());
        let prose = read(
            "C:\\dati\\nota.txt",
            "Solo appunti, senza turni.".as_bytes(),
        )
        .unwrap();
        assert_eq!(prose.file_name, "nota.txt");
        assert_eq!(prose.turns, 0);
        assert!(
            prose.warnings[0].contains("no speaker turns"),
            "{:?}",
            prose.warnings
        );
    }

    #[test]
    fn wrong_encodings_are_refused_naming_the_file() {
        let latin1 = b"INT: citt\xe0\nR: s\xec";
        let m = error(read("vecchio.txt", latin1));
        assert!(m.starts_with("vecchio.txt: not UTF-8"), "{m}");
        assert!(m.contains("0xE0") && m.contains("line 1"), "{m}");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("R: s\u{ec}".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(error(read("w.txt", &utf16)).contains("UTF-16"));
        let no_bom: Vec<u8> = "R: si".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(error(read("w.txt", &no_bom)).contains("NUL"));
        assert!(error(read("vuoto.md", b" \n\n ")).contains("no text"));
        assert!(error(read("progetto.qdpx", b"PK")).contains("importQdpx"));
        assert!(error(read("foto.jpg", b"x")).contains("unknown transcript format"));
    }

    #[test]
    fn markdown_is_kept_readable_and_bold_labels_open_turns() {
        let md = "# Intervista 3\n\n> **Intervistatore**\n\nCom’è nata la rete?\n\n**R:** Con _fatica_ e *molta* pazienza, vedi [il sito](http://x.it).\n\n---\n\nUn file_name_con_trattini e 2 * 3 = 6.";
        let t = read("int3.md", md.as_bytes()).unwrap();
        assert_eq!(
            t.text,
            "Intervista 3\n\nIntervistatore:\nCom’è nata la rete?\n\nR: Con fatica e molta pazienza, vedi il sito.\n\n\n\nUn file_name_con_trattini e 2 * 3 = 6."
        );
        assert_eq!(t.steps, [Step::Markdown, Step::SpeakerLabels]);
        assert_eq!(t.speakers, ["Intervistatore", "R"]);
    }

    #[test]
    fn a_header_s_keys_are_not_counted_as_speakers() {
        let txt = "Data: 14 marzo 2023\nLuogo: sede dell’ente, Cuneo\nDOI: 10.1000/xyz\nNote:\n\naudio disturbato\n\nINT: Com’è cominciata?\nR: Con la co-progettazione.";
        let t = read("int7.txt", txt.as_bytes()).unwrap();
        assert_eq!(t.speakers, ["INT", "R"]);
        assert_eq!(t.turns, 2);
        // "Note:" is not a lone label either: its blank line stays.
        assert!(t.text.contains("Note:\n\naudio"), "{:?}", t.text);
        assert!(!t.steps.contains(&Step::SpeakerLabels));
        // The header is one passage of its own; the turns follow it.
        let passages = split(&t.text);
        assert!(passages[0].text.starts_with("Data:") && passages[0].text.contains("DOI:"));
        let turns: Vec<Option<&str>> = passages.iter().map(|p| speaker_of(&p.text)).collect();
        assert_eq!(turns[turns.len() - 2..], [Some("INT"), Some("R")]);
    }

    #[test]
    fn a_time_stamped_label_alone_on_its_line_is_joined_to_its_turn() {
        let txt = "[00:01:05] INT:\n\nCome sta?\n00:01:09 R:\n\nBene, in città.";
        let t = read("t.txt", txt.as_bytes()).unwrap();
        assert_eq!(
            t.text,
            "[00:01:05] INT:\nCome sta?\n00:01:09 R:\nBene, in città."
        );
        assert!(t.steps.contains(&Step::SpeakerLabels));
        let passages = split(&t.text);
        let speakers: Vec<Option<&str>> = passages.iter().map(|p| speaker_of(&p.text)).collect();
        assert_eq!(speakers, [Some("INT"), Some("R")]);
        assert!(
            passages[0].text.ends_with("Come sta?"),
            "{:?}",
            passages[0].text
        );
    }

    #[test]
    fn passages_of_an_imported_text_follow_its_turns() {
        let txt = "INT:\n\nCome va in città?\nR: Così così.\nSeconda riga della risposta.\n\nINT: E poi?\nD. Rossi: Poi è cambiato tutto.";
        let t = read("a.txt", txt.as_bytes()).unwrap();
        let passages = split(&t.text);
        let speakers: Vec<Option<&str>> = passages.iter().map(|p| speaker_of(&p.text)).collect();
        assert_eq!(
            speakers,
            [Some("INT"), Some("R"), Some("INT"), Some("D. Rossi")]
        );
        for p in &passages {
            let opening = p.text.lines().filter(|l| is_turn_start(l)).count();
            assert_eq!(opening, 1, "one speaker per passage: {:?}", p.text);
        }
        assert_eq!(t.turns, 4);
    }

    #[test]
    fn word_paragraphs_become_lines_grouped_by_turn() {
        let p = |text: &str, bold: bool| docx::Paragraph {
            text: text.into(),
            bold,
        };
        let (text, labelled) = docx_text(vec![
            p("Intervista del 3 maggio", false),
            p("Intervistatrice", true),
            p("Com’è andata?", false),
            p("", false),
            p("Intervistata:", true),
            p("Bene.", false),
            p("Poi però è cambiato.", false),
        ]);
        assert!(labelled);
        assert_eq!(
            text,
            "Intervista del 3 maggio\n\nIntervistatrice:\nCom’è andata?\n\nIntervistata:\nBene.\nPoi però è cambiato."
        );
        let (plain, labelled) = docx_text(vec![p("Primo.", false), p("Secondo.", false)]);
        assert!(!labelled);
        assert_eq!(plain, "Primo.\n\nSecondo.");
    }

    /// A soft line break (Shift+Enter, `w:br`) is a line of its paragraph, not a paragraph:
    /// it was turned into a blank line, which without turns made a paragraph of each line,
    /// and with turns cut a turn into two passages, the second without its speaker.
    #[test]
    fn word_line_breaks_stay_inside_their_paragraph() {
        let p = |text: &str| docx::Paragraph {
            text: text.into(),
            bold: false,
        };
        let (text, _) = docx_text(vec![p("Prima riga\nseconda riga"), p("Altro paragrafo.")]);
        assert_eq!(text, "Prima riga\nseconda riga\n\nAltro paragrafo.");
        // Breaks in a row, or at either end of a paragraph, leave no empty line.
        let (text, _) = docx_text(vec![p("\nUno \n\n \ndue\n"), p("\n"), p("Tre.")]);
        assert_eq!(text, "Uno\ndue\n\nTre.");

        let (text, _) = docx_text(vec![
            p("INT: Com’è andata?"),
            p("R: Bene.\n\nPoi meno."),
            p("Dopo la pausa.\n"),
            p("INT: E adesso?\nR: Adesso meglio."),
        ]);
        assert_eq!(
            text,
            "INT: Com’è andata?\n\nR: Bene.\nPoi meno.\nDopo la pausa.\n\nINT: E adesso?\n\nR: Adesso meglio."
        );
        let passages = split(&text);
        let speakers: Vec<Option<&str>> = passages.iter().map(|p| speaker_of(&p.text)).collect();
        assert_eq!(speakers, [Some("INT"), Some("R"), Some("INT"), Some("R")]);
        assert_eq!(passages[1].text, "R: Bene.\nPoi meno.\nDopo la pausa.");

        // A bold label ended by a line break still names the speaker of what follows.
        let (text, labelled) = docx_text(vec![
            docx::Paragraph {
                text: "Intervistata\n".into(),
                bold: true,
            },
            p("Bene."),
        ]);
        assert!(labelled);
        assert_eq!(text, "Intervistata:\nBene.");
    }
}
