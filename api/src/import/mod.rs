//! Getting data in from files researchers already hold: transcripts (.txt, .md, .docx) and
//! other tools' work as REFI-QDA projects (.qdpx) and codebooks (.qdc). A file is read and
//! checked whole first (archive, XML, text encoding, every referenced text and position), before
//! any write; then one transaction writes everything, or nothing is written. Every problem with
//! a file is `ServiceError::BadInput` with a sentence saying what is wrong.

pub mod archive;
pub mod cli;
pub mod docx;
pub mod qdpx;
pub mod refi;
pub mod transcripts;
mod xml;

use sea_orm::DatabaseConnection;

use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use refi::{Project, Text};

pub use archive::Limits;

#[derive(Debug)]
pub struct ImportReport {
    pub study: entities::study::Model,
    /// Codes created (codes matching an existing one by name and place are reused).
    pub codes: usize,
    pub interviews: usize,
    /// The quotations created.
    pub quotations: Vec<i64>,
    /// What was skipped or adjusted, one sentence each.
    pub warnings: Vec<String>,
}

/// A source's text as it is stored (CRLF and lone CR turned into LF, Unicode NFC, like every
/// transcript: `text::normalise`), and the vendor's positions mapped onto it. Most tools count
/// a CRLF as two positions; ATLAS.ti counts it as one, which is already our unit. Vendors count
/// the code points of the text as they hold it, so an "è" written as e + combining accent is
/// two positions there and one here. Positions count the characters of the text as given: a
/// text file's byte-order mark is gone before (`read_text`), a U+FEFF after it is a character.
#[derive(Debug)]
pub struct SourceText {
    pub text: String,
    pub length: usize,
    /// Code-point indexes, in the vendor's text, of the CRs dropped before an LF.
    dropped: Vec<usize>,
    crlf_counts_one: bool,
    /// The stretches of the LF text whose length NFC changed, in order.
    composed: Vec<Composed>,
    /// Whether NFC changed the text (not only its line ends), for the import report.
    pub nfc: bool,
    /// Whether a line end was rewritten (a CRLF or a lone CR became LF).
    line_endings: bool,
    /// Where the text was read: the archive entry, or None for a text inline in project.qde.
    pub entry: Option<String>,
    /// Whether the entry began with a byte-order mark, dropped.
    pub bom: bool,
}

/// A stretch of the LF text that NFC rewrote to a different number of code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Composed {
    /// Where it starts in the LF text.
    at: usize,
    len: usize,
    /// Where it starts in our text, and its length there.
    ours: usize,
    ours_len: usize,
}

/// Whether NFC never joins `c` with what comes before it, nor reorders across it: a starter
/// that is NFC_Quick_Check=Yes (not Maybe, which may compose backwards; not No). Text is
/// normalised piecewise between such characters, which gives NFC of the whole (UAX #15).
fn composition_boundary(c: char) -> bool {
    use unicode_normalization::{char::canonical_combining_class, is_nfc_quick, IsNormalized};
    c.is_ascii()
        || canonical_combining_class(c) == 0
            && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes
}

/// `text` in NFC, with the stretches whose length changed; `None` when it already is.
fn compose(text: &str) -> Option<(String, Vec<Composed>)> {
    use unicode_normalization::{is_nfc, UnicodeNormalization};
    if is_nfc(text) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut composed = Vec::new();
    let (mut at, mut ours) = (0, 0);
    let mut flush = |piece: &str, at: usize, ours: &mut usize, out: &mut String| {
        let len = crate::text::char_len(piece);
        let before = out.len();
        out.extend(piece.nfc());
        let ours_len = crate::text::char_len(&out[before..]);
        if ours_len != len {
            composed.push(Composed {
                at,
                len,
                ours: *ours,
                ours_len,
            });
        }
        *ours += ours_len;
        len
    };
    let mut start = 0;
    for (b, c) in text.char_indices() {
        if b > start && composition_boundary(c) {
            at += flush(&text[start..b], at, &mut ours, &mut out);
            start = b;
        }
    }
    flush(&text[start..], at, &mut ours, &mut out);
    Some((out, composed))
}

impl SourceText {
    pub fn new(raw: &str, crlf_counts_one: bool) -> Self {
        let mut text = String::with_capacity(raw.len());
        let mut dropped = Vec::new();
        let line_endings = raw.contains('\r');
        let mut chars = raw.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\r' {
                if matches!(chars.peek(), Some((_, '\n'))) {
                    dropped.push(i);
                } else {
                    text.push('\n');
                }
            } else {
                text.push(c);
            }
        }
        let (text, composed, nfc) = match compose(&text) {
            Some((text, composed)) => (text, composed, true),
            None => (text, Vec::new(), false),
        };
        let length = crate::text::char_len(&text);
        Self {
            text,
            length,
            dropped,
            crlf_counts_one,
            composed,
            nfc,
            line_endings,
            entry: None,
            bom: false,
        }
    }

    /// The normalisation steps that changed the text on its way in, as the transcript
    /// importer records them.
    pub fn steps(&self) -> Vec<transcripts::Step> {
        use transcripts::Step;
        [
            (self.bom, Step::BomStripped),
            (self.line_endings, Step::LineEndings),
            (self.nfc, Step::UnicodeNfc),
        ]
        .into_iter()
        .filter_map(|(changed, step)| changed.then_some(step))
        .collect()
    }

    /// The position in our text of a vendor position, if it lies within the text. A position
    /// inside a stretch that NFC rewrote (between a letter and its accent) goes to the same
    /// offset within the rewritten stretch, at most its end: the accented letter stays whole.
    pub fn position(&self, vendor: i64) -> Option<usize> {
        let p = usize::try_from(vendor).ok()?;
        let lf = if self.crlf_counts_one {
            p
        } else {
            p - self.dropped.partition_point(|&d| d < p)
        };
        let ours = match self.composed.partition_point(|c| c.at <= lf) {
            0 => lf,
            n => {
                let c = self.composed[n - 1];
                if lf >= c.at + c.len {
                    c.ours + c.ours_len + (lf - c.at - c.len)
                } else {
                    c.ours + (lf - c.at).min(c.ours_len)
                }
            }
        };
        (ours <= self.length).then_some(ours)
    }
}

/// Whether the file is a zip (a .qdpx) rather than bare XML.
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK")
}

/// Imports a REFI-QDA file: a `.qdpx` project, a `.qdc` codebook, or a bare `project.qde`
/// whose sources carry their text inline. `study_id` None creates a study named after the
/// project (the caller becomes its owner).
pub async fn import_refi(
    db: &DatabaseConnection,
    caller: &Caller,
    file_name: &str,
    bytes: Vec<u8>,
    study_id: Option<i64>,
    limits: Limits,
) -> ServiceResult<ImportReport> {
    caller.require_user()?;
    // Inflating, decoding and parsing a project of hundreds of megabytes takes seconds: off
    // the async threads, which would otherwise stop serving every other request meanwhile.
    let name = file_name.to_owned();
    let prepared = tokio::task::spawn_blocking(move || read_refi(&name, &bytes, limits))
        .await
        .map_err(|e| ServiceError::bad_input(format!("the file could not be read: {e}")))??;
    qdpx::write(db, caller, prepared, study_id).await
}

/// A REFI-QDA file read and checked whole, before anything is written.
fn read_refi(file_name: &str, bytes: &[u8], limits: Limits) -> ServiceResult<Prepared> {
    let lower = file_name.to_ascii_lowercase();
    if is_zip(bytes) {
        let mut zip = archive::Archive::open(bytes, limits)?;
        let qde = zip.read("project.qde")?.ok_or_else(|| {
            ServiceError::bad_input(
                "the archive has no project.qde at its root: not a REFI-QDA project",
            )
        })?;
        let project = refi::parse_project(&refi::decode_xml(&qde, "project.qde")?)?;
        return prepare(file_name, project, Some(&mut zip));
    }
    if lower.ends_with(".qdpx") {
        return Err(ServiceError::bad_input(
            "the .qdpx file is not a zip archive (corrupt, truncated, or another format)",
        ));
    }
    let xml = refi::decode_xml(bytes, "the file")?;
    let root_is_codebook =
        lower.ends_with(".qdc") || xml.contains("<CodeBook") && !xml.contains("<Project");
    let project = if root_is_codebook {
        refi::parse_codebook(&xml)?
    } else {
        refi::parse_project(&xml)?
    };
    let mut p = prepare(file_name, project, None)?;
    if p.title.is_none() {
        let stem = base_name(file_name);
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
        p.title = Some(format!("Codebook {stem}"));
    }
    Ok(p)
}

/// A file's name without the directories a client may have sent with it.
fn base_name(file_name: &str) -> &str {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    name.trim()
}

/// A project checked whole, with every text it needs in hand.
pub struct Prepared {
    /// The name of the file imported, without directories.
    pub file_name: String,
    pub project: Project,
    pub title: Option<String>,
    /// Per source of `project.sources`.
    pub texts: Vec<SourceText>,
    /// Per note of `project.notes`.
    pub note_texts: Vec<String>,
    pub warnings: Vec<String>,
}

/// The archive entry a `plainTextPath` names.
fn entry_name(path: &str, whose: &str) -> ServiceResult<String> {
    let outside = || {
        ServiceError::bad_input(format!(
            "{whose} refers to {path:?}, outside the archive: only files inside the .qdpx can be imported"
        ))
    };
    let name = if let Some(rest) = path.strip_prefix("internal://") {
        rest
    } else if path.contains("://") {
        return Err(outside());
    } else {
        path
    };
    if archive::escapes(name) {
        return Err(outside());
    }
    Ok(name.replace('\\', "/"))
}

/// A text as the file holds it, and where it was read.
struct RawText {
    text: String,
    /// The archive entry; None for a text inline in project.qde.
    entry: Option<String>,
    /// Whether the entry began with a byte-order mark, dropped.
    bom: bool,
}

fn read_text(
    zip: &mut Option<&mut archive::Archive<'_>>,
    text: &Text,
    whose: &str,
) -> ServiceResult<Option<RawText>> {
    let path = match text {
        Text::Content(t) => {
            return Ok(Some(RawText {
                text: t.clone(),
                entry: None,
                bom: false,
            }))
        }
        Text::Missing => return Ok(None),
        Text::Path(p) => p,
    };
    let name = entry_name(path, whose)?;
    let missing = || {
        ServiceError::bad_input(format!(
            "{whose} refers to {path:?}, which the archive does not contain"
        ))
    };
    let zip = zip.as_deref_mut().ok_or_else(missing)?;
    // Vendors put texts under sources/ and name them relative to it, or not.
    let candidates = [format!("sources/{name}"), name.clone()];
    let Some(found) = candidates.iter().find(|c| zip.contains(c)) else {
        return Err(missing());
    };
    let bytes = zip.read(found)?.ok_or_else(missing)?;
    Ok(Some(RawText {
        text: decode_text(&bytes, &format!("{found} ({whose})"))?,
        entry: Some(zip.written_name(found).unwrap_or_else(|| found.clone())),
        bom: bytes.starts_with(BOM),
    }))
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text file of the archive: UTF-8, without its byte-order mark. Only one mark goes: it
/// says the encoding, and vendors' positions do not count it; a second U+FEFF is the text's
/// own first character (our export writes one so, see `export::qdpx`).
fn decode_text(bytes: &[u8], what: &str) -> ServiceResult<String> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ServiceError::bad_input(format!(
            "{what} is not UTF-8 text (invalid byte at {}); REFI-QDA texts are UTF-8",
            e.valid_up_to()
        ))
    })?;
    // PostgreSQL refuses NUL in text, and no transcript holds one (the transcript importer
    // refuses it too): the file is wrong, not the server.
    if let Some(at) = text.find('\0') {
        return Err(ServiceError::bad_input(format!(
            "{what} contains a NUL character (at byte {at}): not a text file (UTF-16 without a byte-order mark?)"
        )));
    }
    Ok(text.to_owned())
}

/// Records the notes of a skipped source and of its selections (see `notes_of_skipped`).
fn note_skipped(project: &mut Project, s: &refi::TextSource, whose: &str) {
    let refs = s
        .note_refs
        .iter()
        .chain(s.selections.iter().flat_map(|x| &x.note_refs));
    for r in refs {
        project
            .notes_of_skipped
            .entry(r.clone())
            .or_insert_with(|| whose.to_owned());
    }
}

fn prepare(
    file_name: &str,
    mut project: Project,
    mut zip: Option<&mut archive::Archive<'_>>,
) -> ServiceResult<Prepared> {
    let mut warnings = std::mem::take(&mut project.skipped);
    let crlf_counts_one = project
        .origin
        .as_deref()
        .is_some_and(|o| o.to_ascii_lowercase().contains("atlas"));
    let mut texts = Vec::new();
    let mut kept = Vec::new();
    for s in std::mem::take(&mut project.sources) {
        let whose = format!("source {:?}", s.name.as_deref().unwrap_or(&s.guid));
        match read_text(&mut zip, &s.text, &whose)? {
            Some(raw) => {
                let text = SourceText {
                    entry: raw.entry,
                    bom: raw.bom,
                    ..SourceText::new(&raw.text, crlf_counts_one)
                };
                // An interview must have a transcript (`insert_interview`), and nothing of an
                // empty one can have been coded; NVivo writes such sources for its documents
                // without text, so they are not reason enough to refuse the project.
                if text.text.trim().is_empty() {
                    warnings.push(format!(
                        "{whose} has no text: skipped with its {} selection(s)",
                        s.selections.len()
                    ));
                    note_skipped(&mut project, &s, &whose);
                    continue;
                }
                // Held to the limits of a transcript typed in: past them it could never be
                // edited, and re-anchoring or indexing it would take too long.
                crate::service::interviews::storable_length(&text.text).map_err(|e| match e {
                    ServiceError::BadInput(m) => ServiceError::bad_input(format!("{whose}: {m}")),
                    other => other,
                })?;
                if text.nfc {
                    warnings.push(format!(
                        "{whose}: accents written as separate characters were composed (Unicode NFC, as every transcript here); its selections were mapped onto the composed text"
                    ));
                }
                texts.push(text);
                kept.push(s);
            }
            None => {
                warnings.push(format!(
                    "{whose} has neither plainTextPath nor PlainTextContent: skipped with its {} selection(s)",
                    s.selections.len()
                ));
                note_skipped(&mut project, &s, &whose);
            }
        }
    }
    project.sources = kept;
    let mut note_texts = Vec::new();
    for n in &project.notes {
        let whose = format!("note {:?}", n.name.as_deref().unwrap_or(&n.guid));
        let raw = read_text(&mut zip, &n.text, &whose)?;
        // A text file can hold what XML cannot, and what a memo typed in may not (an export
        // would carry it replaced, without a word): Word's line and page breaks pasted as
        // text become line ends; a note with another such character is left out, and said.
        let text = raw.map(|r| r.text).unwrap_or_default();
        let text = text.replace(['\u{B}', '\u{C}'], "\n");
        match crate::service::labels::exportable(&text, &whose) {
            Ok(()) => note_texts.push(text),
            Err(ServiceError::BadInput(m)) => {
                let m = m.trim_end_matches(": remove it");
                warnings.push(format!("{m}: not imported"));
                note_texts.push(String::new());
            }
            Err(other) => return Err(other),
        }
    }
    Ok(Prepared {
        file_name: base_name(file_name).to_owned(),
        title: project.name.clone(),
        project,
        texts,
        note_texts,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_positions_map_onto_the_lf_text() {
        // "à\r\nè’\r\nz": vendor positions count CR and LF apart.
        let t = SourceText::new("à\r\nè’\r\nz", false);
        assert_eq!(t.text, "à\nè’\nz");
        assert_eq!(t.length, 6);
        let slice = |a: i64, b: i64| {
            crate::text::slice(&t.text, t.position(a).unwrap(), t.position(b).unwrap()).unwrap()
        };
        assert_eq!(slice(3, 5), "è’");
        assert_eq!(slice(7, 8), "z");
        assert_eq!(slice(0, 8), t.text);
        assert_eq!(t.position(9), None);
        // ATLAS.ti counts the CRLF as one position.
        let a = SourceText::new("à\r\nè’\r\nz", true);
        assert_eq!(
            crate::text::slice(&a.text, a.position(2).unwrap(), a.position(4).unwrap()),
            Some("è’")
        );
        assert_eq!(a.position(6), Some(6));
        assert_eq!(a.position(7), None);
        // A lone CR is a line break of its own.
        assert_eq!(SourceText::new("a\rb", false).text, "a\nb");
    }

    #[test]
    fn decomposed_accents_are_composed_and_positions_follow() {
        // As a Mac tool may hold it: accents as combining marks, CRLF line ends.
        let raw = "R: La citta\u{300} e\u{300} cambiata\r\nINT: Perche\u{301}? Cos\u{2019}e\u{300}";
        let vendor = |raw: &str, needle: &str| {
            let b = raw.find(needle).unwrap();
            let s = raw[..b].chars().count();
            (s as i64, (s + needle.chars().count()) as i64)
        };
        for crlf_counts_one in [false, true] {
            let raw = if crlf_counts_one {
                raw.replace("\r\n", "\n")
            } else {
                raw.to_owned()
            };
            let t = SourceText::new(&raw, crlf_counts_one);
            assert_eq!(t.text, crate::text::normalise(raw.clone()).text);
            assert_eq!(t.text, "R: La città è cambiata\nINT: Perché? Cos\u{2019}è");
            assert!(t.nfc);
            let slice = |(a, b): (i64, i64)| {
                crate::text::slice(&t.text, t.position(a).unwrap(), t.position(b).unwrap()).unwrap()
            };
            assert_eq!(slice(vendor(&raw, "citta\u{300}")), "città");
            assert_eq!(slice(vendor(&raw, "e\u{300} cambiata")), "è cambiata");
            assert_eq!(slice(vendor(&raw, "cambiata")), "cambiata");
            assert_eq!(slice(vendor(&raw, "Perche\u{301}?")), "Perché?");
            assert_eq!(slice(vendor(&raw, "Cos\u{2019}e\u{300}")), "Cos\u{2019}è");
            // Between a letter and its accent: the accented letter stays whole.
            let (a, _) = vendor(&raw, "\u{300} e");
            assert_eq!(t.position(a), t.position(a + 1));
            let end = raw.chars().count() as i64;
            assert_eq!(t.position(end), Some(t.length));
            assert_eq!(t.position(end + 1), None);
        }
        let plain = SourceText::new("Là è così\r\n", false);
        assert!(!plain.nfc);
        assert_eq!(plain.position(4), Some(4));
    }

    #[test]
    fn piecewise_composition_is_nfc_of_the_whole() {
        use unicode_normalization::UnicodeNormalization;
        // Every character in the company of marks and of starters that compose backwards
        // (Hangul vowels, Oriya length marks).
        for c in (0x80u32..0x30000).filter_map(char::from_u32) {
            for s in [
                format!("a{c}"),
                format!("e\u{301}{c}\u{323}\u{301}x"),
                format!("{c}\u{300}b\u{0B3E}"),
                format!("\u{1100}{c}\u{1161}\u{11A8}\u{0B47}\u{0B3E}"),
            ] {
                let expected: String = s.nfc().collect();
                let got = compose(&s).map_or_else(|| s.clone(), |(t, _)| t);
                assert_eq!(got, expected, "U+{:04X} in {s:?}", c as u32);
            }
        }
    }

    #[test]
    fn one_byte_order_mark_goes_and_nul_is_refused() {
        let bom = "\u{FEFF}";
        assert_eq!(decode_text("città".as_bytes(), "t").unwrap(), "città");
        assert_eq!(
            decode_text(format!("{bom}città").as_bytes(), "t").unwrap(),
            "città"
        );
        // The text's own U+FEFF, after the mark, counts as its first position.
        let own = decode_text(format!("{bom}{bom}è’").as_bytes(), "t").unwrap();
        assert_eq!(own, format!("{bom}è’"));
        let t = SourceText::new(&own, false);
        assert_eq!(t.length, 3);
        assert_eq!(crate::text::slice(&t.text, 1, 3), Some("è’"));
        for (bytes, reason) in [(&b"a\0b"[..], "NUL"), (b"citt\xE0", "not UTF-8")] {
            match decode_text(bytes, "sources/x.txt (source \"Int. 1\")") {
                Err(ServiceError::BadInput(m)) => {
                    assert!(m.contains(reason) && m.contains("source \"Int. 1\""), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn paths_outside_the_archive_are_refused() {
        assert_eq!(entry_name("internal://x.txt", "s").unwrap(), "x.txt");
        assert_eq!(entry_name("board.txt", "s").unwrap(), "board.txt");
        assert_eq!(
            entry_name("internal://Intervista 10:30.txt", "s").unwrap(),
            "Intervista 10:30.txt"
        );
        for bad in [
            "internal://../x.txt",
            "absolute:///etc/passwd",
            "relative://../a.txt",
            "/etc/passwd",
            "C:\\x.txt",
            "c:x.txt",
            "\\\\server\\x.txt",
        ] {
            assert!(entry_name(bad, "s").is_err(), "{bad}");
        }
    }
}
