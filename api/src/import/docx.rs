//! Word (.docx) files: a zip archive whose main part, `word/document.xml`, holds the text in
//! paragraphs (`w:p`) of runs (`w:r`) of text (`w:t`). Only the text is read: tabs and line
//! breaks are kept, and so are the characters Word writes as elements of their own
//! (non-breaking hyphens, symbols); everything else (styles, fields, deleted text,
//! drawings) is ignored.
//!
//! The file comes from outside, so the archive is read through [`Archive`], as a REFI-QDA
//! project is: entry names must stay inside the archive, sizes are capped as declared and
//! again as actually read (a small file must not expand into gigabytes), and the XML is
//! parsed with `roxmltree`, which refuses any DTD, so no entity is ever defined, let alone
//! fetched.

use roxmltree::{Document, Node};

use crate::error::ServiceError;
use crate::import::archive::{Archive, Limits};
use crate::import::refi::decode_xml;
use crate::import::xml::{on_parser_stack, MAX_XML_DEPTH};

/// Caps on what a Word file may hold and expand to.
pub fn default_limits() -> Limits {
    // A long transcript's document.xml is a few MiB; pictures in a Word file barely
    // compress, so real files stay far below these.
    Limits {
        max_entries: 10_000,
        max_entry_bytes: 64 * 1024 * 1024,
        max_total_bytes: 256 * 1024 * 1024,
        ..Limits::default()
    }
}

/// One paragraph of the document, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    pub text: String,
    /// Every run that carries text is bold: how transcribers often mark a speaker.
    pub bold: bool,
}

const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const W_STRICT: &str = "http://purl.oclc.org/ooxml/wordprocessingml/main";
const MAIN_PART: &str = "word/document.xml";
/// More XML nodes than a `word/document.xml` within the 64 MiB entry cap is likely to hold
/// (as for REFI-QDA), and a bound on the parser's memory: unlike a streaming reader,
/// `roxmltree` keeps the whole tree.
const MAX_XML_NODES: u32 = 5_000_000;

/// The paragraphs of a .docx file. Errors are sentences for the user (without the file name).
pub fn paragraphs(bytes: &[u8]) -> Result<Vec<Paragraph>, String> {
    paragraphs_with(bytes, default_limits())
}

pub fn paragraphs_with(bytes: &[u8], limits: Limits) -> Result<Vec<Paragraph>, String> {
    let mut archive = Archive::open(bytes, limits).map_err(message)?;
    // A Word file is read whole: refuse it before anything is inflated.
    archive.check_declared_total().map_err(message)?;
    let main = main_part(&mut archive)?;
    let xml = archive
        .read(&main)
        .map_err(message)?
        .ok_or_else(|| format!("not a Word document: the archive has no {main}"))?;
    document_paragraphs(&xml).map_err(|e| format!("{main}: {e}"))
}

/// The sentence of a `BadInput` error (the caller prefixes the file name).
fn message(e: ServiceError) -> String {
    match e {
        ServiceError::BadInput(m) => m,
        other => other.to_string(),
    }
}

const DTD_REFUSED: &str =
    "the XML declares a DTD (<!DOCTYPE>), which a Word file never does; refused, entities are never resolved";

/// Parses one XML part, on the parser's stack (`xml::on_parser_stack`). Errors do not name
/// it: the caller does.
fn parse(xml: &str) -> Result<Document<'_>, String> {
    if super::xml::nests_deeper_than(xml, MAX_XML_DEPTH) {
        return Err(format!(
            "the XML nests elements more than {MAX_XML_DEPTH} levels deep, which a Word file never does; refused"
        ));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => DTD_REFUSED.to_owned(),
        roxmltree::Error::UnknownEntityReference(name, _) => format!(
            "the XML uses the undeclared entity &{name};; refused, entities are never resolved"
        ),
        roxmltree::Error::NodesLimitReached => {
            format!("the XML has more than {MAX_XML_NODES} nodes; refused")
        }
        e => format!("not well-formed XML: {e}"),
    })
}

/// The main document part named by the package relationships (`_rels/.rels`), else the
/// usual `word/document.xml`.
fn main_part(archive: &mut Archive) -> Result<String, String> {
    let Some(rels) = archive.read("_rels/.rels").map_err(message)? else {
        return Ok(MAIN_PART.to_owned());
    };
    let rels = decode_xml(&rels, "_rels/.rels").map_err(message)?;
    let main = on_parser_stack(|| {
        let rels = parse(&rels).map_err(|e| format!("_rels/.rels: {e}"))?;
        let main = rels
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "Relationship")
            .find(|n| {
                n.attribute("Type")
                    .is_some_and(|t| t.ends_with("/officeDocument"))
                    && n.attribute("Target").is_some()
            })
            .and_then(|n| n.attribute("Target"))
            .map(|t| t.trim_start_matches('/').to_owned());
        Ok::<_, String>(main)
    })?;
    Ok(main.unwrap_or_else(|| MAIN_PART.to_owned()))
}

/// A WordprocessingML element named `name`.
fn is_w(n: Node, name: &str) -> bool {
    n.is_element()
        && n.tag_name().name() == name
        && matches!(n.tag_name().namespace(), Some(ns) if ns == W || ns == W_STRICT)
}

/// Markup compatibility: alternative renderings of one piece of content.
const MC: &str = "http://schemas.openxmlformats.org/markup-compatibility/2006";

fn is_skipped(n: Node) -> bool {
    is_w(n, "del")
        || is_w(n, "moveFrom")
        || (n.tag_name().name() == "Fallback" && n.tag_name().namespace() == Some(MC))
}

/// What is open around the current node: paragraphs nest (a text box inside a paragraph),
/// runs sit in paragraphs.
enum Open {
    Paragraph {
        text: String,
        /// Runs with visible text, and how many of them were bold.
        runs: usize,
        bold_runs: usize,
        /// Its mark was deleted with tracked changes (`w:pPr/w:rPr/w:del`): accepted, the
        /// paragraph runs on into the next one.
        mark_deleted: bool,
    },
    Run {
        bold: bool,
        /// Whether it gave its paragraph visible text.
        text: bool,
    },
}

/// Adds text to the innermost paragraph, and marks the run it is in (if that run is in the
/// paragraph) as carrying text when it is not white space.
fn push_text(open: &mut [Open], text: &str) {
    let mut run_marked = false;
    for o in open.iter_mut().rev() {
        match o {
            Open::Run { text: t, .. } if !run_marked => {
                *t |= !text.trim().is_empty();
                run_marked = true;
            }
            Open::Run { .. } => {}
            Open::Paragraph { text: p, .. } => {
                p.push_str(text);
                return;
            }
        }
    }
}

enum Edge<'a, 'i> {
    Open(Node<'a, 'i>),
    Close(Node<'a, 'i>),
}

/// Every element under `root` (itself included), opened and closed in document order,
/// without recursion: a hostile file may nest deeply.
fn walk<'a, 'i>(root: Node<'a, 'i>, mut visit: impl FnMut(Edge<'a, 'i>)) {
    let mut ancestors: Vec<Node<'a, 'i>> = Vec::new();
    for n in root.descendants().filter(|n| n.is_element()) {
        while let Some(&top) = ancestors.last() {
            if n.parent() == Some(top) {
                break;
            }
            ancestors.pop();
            visit(Edge::Close(top));
        }
        visit(Edge::Open(n));
        ancestors.push(n);
    }
    while let Some(top) = ancestors.pop() {
        visit(Edge::Close(top));
    }
}

/// The paragraphs of `word/document.xml`, innermost first when they nest.
pub fn document_paragraphs(xml: &[u8]) -> Result<Vec<Paragraph>, String> {
    let xml = decode_xml(xml, "its XML").map_err(message)?;
    on_parser_stack(|| paragraphs_of(&xml))
}

fn paragraphs_of(xml: &str) -> Result<Vec<Paragraph>, String> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if !is_w(root, "document") {
        return Err("not a Word document body (no w:document element)".into());
    }
    let mut out = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    // Nothing is read inside a subtree whose text is not, or not only here, part of the
    // document: tracked deletions (`w:del`), the old place of tracked moves (`w:moveFrom`,
    // whose text is also in its `w:moveTo`), and the `mc:Fallback` copy Word writes of every
    // text box beside its `mc:Choice` (read, it would bring each box's text in twice).
    let mut skipped = 0usize;
    // A paragraph whose mark was deleted, waiting to run on into the next one.
    let mut runs_on: Option<Paragraph> = None;
    walk(root, |edge| match edge {
        Edge::Open(n) if is_skipped(n) => {
            if skipped == 0 && is_deleted_paragraph_mark(n) {
                if let Some(Open::Paragraph { mark_deleted, .. }) = open
                    .iter_mut()
                    .rev()
                    .find(|o| matches!(o, Open::Paragraph { .. }))
                {
                    *mark_deleted = true;
                }
            }
            skipped += 1;
        }
        Edge::Close(n) if is_skipped(n) => skipped -= 1,
        _ if skipped > 0 => {}
        Edge::Open(n) => {
            let in_run = matches!(open.last(), Some(Open::Run { .. }));
            if is_w(n, "p") {
                open.push(Open::Paragraph {
                    text: String::new(),
                    runs: 0,
                    bold_runs: 0,
                    mark_deleted: false,
                });
            } else if is_w(n, "r") {
                open.push(Open::Run {
                    bold: false,
                    text: false,
                });
            } else if is_w(n, "b")
                && n.parent()
                    .is_some_and(|p| is_w(p, "rPr") && p.parent().is_some_and(|r| is_w(r, "r")))
                && in_run
            {
                // The run's own properties (`w:r/w:rPr/w:b`), not the paragraph mark's, nor
                // those it had before a tracked change (`w:rPr/w:rPrChange/w:rPr/w:b`).
                let off = n
                    .attributes()
                    .find(|a| a.name() == "val")
                    .is_some_and(|a| matches!(a.value(), "0" | "false" | "off"));
                if let Some(Open::Run { bold, .. }) = open.last_mut() {
                    *bold = !off;
                }
            } else if is_w(n, "t") {
                for t in n.children().filter(|c| c.is_text()) {
                    push_text(&mut open, t.text().unwrap_or_default());
                }
            } else if (is_w(n, "tab") || is_w(n, "ptab")) && in_run {
                push_text(&mut open, "\t");
            } else if (is_w(n, "br") || is_w(n, "cr")) && in_run {
                push_text(&mut open, "\n");
            } else if is_w(n, "noBreakHyphen") && in_run {
                // U+002D, not U+2011: the index splits words at either, but the forms shown
                // for hits, what analysts type and a browser's find all have the plain hyphen.
                push_text(&mut open, "-");
            } else if is_w(n, "sym") && in_run {
                let attribute = |name| n.attributes().find(|a| a.name() == name);
                if let Some(c) = symbol(
                    attribute("font").map(|a| a.value()),
                    attribute("char").map(|a| a.value()),
                ) {
                    push_text(&mut open, c.encode_utf8(&mut [0; 4]));
                }
            }
        }
        Edge::Close(n) if is_w(n, "p") => {
            if let Some(Open::Paragraph {
                text,
                runs,
                bold_runs,
                mark_deleted,
            }) = open.pop()
            {
                let mut paragraph = Paragraph {
                    bold: runs > 0 && bold_runs == runs,
                    text,
                };
                if let Some(before) = runs_on.take() {
                    // A deleted empty paragraph says nothing of whether the label after it
                    // is bold.
                    if !before.text.trim().is_empty() {
                        paragraph.bold &= before.bold;
                    }
                    paragraph.text.insert_str(0, &before.text);
                }
                if mark_deleted {
                    runs_on = Some(paragraph);
                } else {
                    out.push(paragraph);
                }
            }
        }
        Edge::Close(n) if is_w(n, "r") => {
            if let Some(Open::Run { bold, text: true }) = open.pop() {
                if let Some(Open::Paragraph {
                    runs, bold_runs, ..
                }) = open
                    .iter_mut()
                    .rev()
                    .find(|o| matches!(o, Open::Paragraph { .. }))
                {
                    *runs += 1;
                    *bold_runs += usize::from(bold);
                }
            }
        }
        _ => {}
    });
    out.extend(runs_on);
    Ok(out)
}

/// Whether `n` marks its paragraph's end as deleted (`w:p/w:pPr/w:rPr/w:del`).
fn is_deleted_paragraph_mark(n: Node) -> bool {
    let parent = n.parent().filter(|p| is_w(*p, "rPr"));
    is_w(n, "del")
        && parent
            .and_then(|p| p.parent())
            .is_some_and(|g| is_w(g, "pPr"))
}

/// The character a `w:sym` (Insert > Symbol) shows, where Unicode has it. `w:char` is hex:
/// a code point, or, in a symbol font, a position in the font's own encoding, usually
/// offset by F000 into the private-use area. Read as Latin-1, a position would turn the
/// Symbol font's α into "a" and a Wingdings arrow (F0E0) into "à": only the Symbol font's
/// encoding is read, and other symbol fonts' positions and private-use characters give
/// nothing.
fn symbol(font: Option<&str>, code: Option<&str>) -> Option<char> {
    let code = u32::from_str_radix(code?.trim(), 16).ok()?;
    let font = font.unwrap_or_default().trim().to_ascii_lowercase();
    let position = match code {
        0x20..=0xFF => Some(code),
        0xF020..=0xF0FF => Some(code - 0xF000),
        _ => None,
    };
    if let Some(position) = position {
        if font == "symbol" {
            return symbol_font(position);
        }
        if font.starts_with("wingdings") || font.starts_with("webdings") {
            return None;
        }
    }
    let c = char::from_u32(code)?;
    let private = matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..);
    (!c.is_control() && !private && !matches!(c, '\u{FFFE}' | '\u{FFFF}')).then_some(c)
}

/// The Symbol font's encoding from 0x20 to 0x7E, then from 0xA0 to 0xFE (Adobe's, with
/// Greek letters for Δ, Ω and μ and the standard ®, ©, ™ for the serif and sans ones);
/// `\0` for 0xF0, which is empty, and for the pieces of large brackets, integrals, roots and
/// arrows, which say nothing on their own.
const SYMBOL_LOW: &str =
    " !∀#∃%&∋()∗+,−./0123456789:;<=>?≅ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ[∴]⊥_\0αβχδεφγηιϕκλμνοπθρστυϖωξψζ{|}∼";
const SYMBOL_HIGH: &str = concat!(
    "€ϒ′≤⁄∞ƒ♣♦♥♠↔←↑→↓",
    "°±″≥×∝∂•÷≠≡≈…\0\0↵",
    "ℵℑℜ℘⊗⊕∅∩∪⊃⊇⊄⊂⊆∈∉",
    "∠∇®©™∏√⋅¬∧∨⇔⇐⇑⇒⇓",
    "◊⟨®©™∑\0\0\0\0\0\0\0\0\0\0",
    "\0⟩∫\0\0\0\0\0\0\0\0\0\0\0\0",
);

fn symbol_font(position: u32) -> Option<char> {
    let (table, first) = match position {
        0x20..=0x7E => (SYMBOL_LOW, 0x20),
        0xA0..=0xFE => (SYMBOL_HIGH, 0xA0),
        _ => return None,
    };
    let at = usize::try_from(position - first).ok()?;
    table.chars().nth(at).filter(|&c| c != '\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn document(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W}" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><w:body>{body}</w:body></w:document>"#
        )
    }

    fn limits() -> Limits {
        Limits {
            max_entries: 10,
            max_entry_bytes: 4096,
            max_total_bytes: 8192,
            ..default_limits()
        }
    }

    #[test]
    fn paragraphs_runs_tabs_breaks_and_bold_labels() {
        let body = r#"
<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs><w:rPr><w:b/></w:rPr></w:pPr>
  <w:r><w:rPr><w:b/></w:rPr><w:t>Intervistatrice</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Com&apos;è </w:t></w:r><w:r><w:rPr><w:b w:val="0"/></w:rPr><w:t>andata&#x2019;</w:t></w:r>
  <w:del><w:r><w:delText>cancellato</w:delText></w:r></w:del>
  <w:r><w:tab/><w:t>a &amp; b</w:t><w:br/><w:t>città</w:t></w:r><w:r><a:t>disegno</a:t></w:r></w:p>
<w:p/>
<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>R: </w:t></w:r><w:r><w:t>bene</w:t></w:r></w:p>"#;
        let doc = document(body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let p = paragraphs(&file).unwrap();
        let texts: Vec<(&str, bool)> = p.iter().map(|p| (p.text.as_str(), p.bold)).collect();
        assert_eq!(
            texts,
            [
                ("Intervistatrice", true),
                ("Com'è andata’\ta & b\ncittà", false),
                ("", false),
                ("R: bene", false),
            ]
        );
    }

    /// A run un-bolded with tracked changes on is not bold: the formatting it had before the
    /// change (`w:rPrChange`) comes after its own, and is not its own.
    #[test]
    fn formatting_from_before_a_tracked_change_is_not_the_run_s() {
        let body = r#"
<w:p><w:r><w:rPr><w:b w:val="0"/><w:rPrChange w:id="1" w:author="A"><w:rPr><w:b/></w:rPr></w:rPrChange></w:rPr><w:t>Grazie</w:t></w:r></w:p>
<w:p><w:r><w:rPr><w:b/><w:rPrChange w:id="2" w:author="A"><w:rPr/></w:rPrChange></w:rPr><w:t>Intervistatrice</w:t></w:r></w:p>"#;
        let doc = document(body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let p = paragraphs(&file).unwrap();
        let texts: Vec<(&str, bool)> = p.iter().map(|p| (p.text.as_str(), p.bold)).collect();
        assert_eq!(texts, [("Grazie", false), ("Intervistatrice", true)]);
    }

    /// A paragraph mark deleted with tracked changes joins its paragraph to the next, as
    /// accepting the change does: a turn split by an edit Word no longer shows is one turn.
    #[test]
    fn a_deleted_paragraph_mark_runs_its_paragraph_on_into_the_next() {
        let body = r#"
<w:p><w:pPr><w:rPr><w:del w:id="1" w:author="A"/></w:rPr></w:pPr><w:r><w:t xml:space="preserve">R: Sì, </w:t></w:r></w:p>
<w:p><w:pPr><w:rPr><w:del w:id="2" w:author="A"/></w:rPr></w:pPr><w:r><w:t xml:space="preserve">è così, </w:t></w:r></w:p>
<w:p><w:r><w:t>più o meno.</w:t></w:r></w:p>
<w:p><w:pPr><w:rPr><w:ins w:id="3" w:author="A"/></w:rPr></w:pPr><w:r><w:t>INT: Grazie.</w:t></w:r></w:p>
<w:p><w:pPr><w:rPr><w:del w:id="4" w:author="A"/></w:rPr></w:pPr></w:p>
<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Intervistatore</w:t></w:r></w:p>"#;
        let doc = document(body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let read: Vec<(String, bool)> = paragraphs(&file)
            .unwrap()
            .into_iter()
            .map(|p| (p.text, p.bold))
            .collect();
        assert_eq!(
            read,
            [
                ("R: Sì, è così, più o meno.".into(), false),
                ("INT: Grazie.".into(), false),
                // An empty paragraph deleted before a bold label leaves it a label.
                ("Intervistatore".into(), true),
            ]
        );
    }

    /// Word's special characters are elements, not text: a non-breaking hyphen (Ctrl+Shift+-)
    /// must stay a hyphen, or "co-progettazione" becomes "coprogettazione" and `co-progett*`
    /// no longer finds it.
    #[test]
    fn special_characters_give_their_text() {
        let body = r#"
<w:p><w:r><w:t>co</w:t><w:noBreakHyphen/><w:t>progetta</w:t><w:softHyphen/><w:t>zione</w:t><w:ptab w:relativeTo="margin" w:alignment="right" w:leader="none"/><w:t>p. 2</w:t></w:r></w:p>
<w:p><w:r><w:t>prima </w:t><w:sym w:font="Symbol" w:char="F0AE"/><w:t> dopo, </w:t><w:sym w:font="Symbol" w:char="f061"/><w:sym w:font="Symbol" w:char="F0B3"/><w:sym w:font="Symbol" w:char="0032"/><w:sym w:font="Calibri" w:char="2192"/><w:sym w:font="Arial" w:char="00E8"/></w:r></w:p>
<w:p><w:r><w:t>niente:</w:t><w:sym w:font="Wingdings" w:char="F0E0"/><w:sym w:font="Wingdings" w:char="004A"/><w:sym w:font="Symbol" w:char="F0E6"/><w:sym w:font="Arial" w:char="E001"/><w:sym w:font="Arial" w:char="000A"/><w:sym w:font="Arial" w:char="zz"/><w:sym w:font="Arial"/><w:t>.</w:t></w:r></w:p>
<w:p><w:r><w:rPr><w:b/></w:rPr><w:sym w:font="Symbol" w:char="F0AE"/></w:r></w:p>"#;
        let doc = document(body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let p = paragraphs(&file).unwrap();
        let texts: Vec<(&str, bool)> = p.iter().map(|p| (p.text.as_str(), p.bold)).collect();
        assert_eq!(
            texts,
            [
                ("co-progettazione\tp. 2", false),
                ("prima → dopo, α≥2→è", false),
                ("niente:.", false),
                ("→", true),
            ]
        );
        // A character too many or too few shifts every symbol after it.
        assert_eq!(SYMBOL_LOW.chars().count(), 0x7F - 0x20);
        assert_eq!(SYMBOL_HIGH.chars().count(), 0xFF - 0xA0);
        // The transcript is put in NFC: a symbol that is not would be recorded as a change.
        assert!(unicode_normalization::is_nfc(SYMBOL_LOW));
        assert!(unicode_normalization::is_nfc(SYMBOL_HIGH));
    }

    #[test]
    fn the_main_part_is_found_through_the_package_relationships() {
        let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/main.xml"/></Relationships>"#;
        let doc = document("<w:p><w:r><w:t>qui</w:t></w:r></w:p>");
        let file = archive(&[
            ("_rels/.rels", rels.as_bytes()),
            ("word/main.xml", doc.as_bytes()),
        ]);
        assert_eq!(paragraphs(&file).unwrap()[0].text, "qui");
        let missing = archive(&[("_rels/.rels", rels.as_bytes())]);
        assert!(paragraphs(&missing)
            .unwrap_err()
            .contains("no word/main.xml"));
    }

    #[test]
    fn corrupt_and_truncated_files_are_refused() {
        assert!(paragraphs(b"not a zip at all")
            .unwrap_err()
            .contains("corrupt or truncated"));
        let doc = document("<w:p><w:r><w:t>testo</w:t></w:r></w:p>");
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let cut = &file[..file.len() / 2];
        assert!(paragraphs(cut)
            .unwrap_err()
            .contains("corrupt or truncated"));
        let broken = archive(&[("word/document.xml", b"<w:document><w:p>")]);
        assert!(paragraphs(&broken).unwrap_err().contains("XML"));
        let not_word = archive(&[("mimetype", b"application/zip")]);
        assert!(paragraphs(&not_word)
            .unwrap_err()
            .contains("not a Word document"));
    }

    #[test]
    fn dtds_and_undeclared_entities_are_refused() {
        let xxe = format!(
            r#"<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"#
        );
        let file = archive(&[("word/document.xml", xxe.as_bytes())]);
        assert!(paragraphs(&file).unwrap_err().contains("DTD"));
        let undeclared = document("<w:p><w:r><w:t>&x;</w:t></w:r></w:p>");
        let file = archive(&[("word/document.xml", undeclared.as_bytes())]);
        assert!(paragraphs(&file)
            .unwrap_err()
            .contains("undeclared entity &x;"));
        let rels = r#"<!DOCTYPE r SYSTEM "http://example.org/r.dtd"><Relationships/>"#;
        let file = archive(&[("_rels/.rels", rels.as_bytes())]);
        assert!(paragraphs(&file).unwrap_err().contains("DTD"));
    }

    #[test]
    fn entry_names_escaping_the_archive_are_refused() {
        let doc = document("<w:p><w:r><w:t>x</w:t></w:r></w:p>");
        for evil in [
            "../evil.xml",
            "word/../../evil.xml",
            "/etc/evil",
            "..\\evil",
            "C:/evil",
        ] {
            let file = archive(&[("word/document.xml", doc.as_bytes()), (evil, b"x")]);
            let e = paragraphs(&file).unwrap_err();
            assert!(e.contains("outside the archive"), "{evil}: {e}");
        }
    }

    #[test]
    fn declared_sizes_over_the_caps_are_refused() {
        let big = document(&"<w:p><w:r><w:t>parola</w:t></w:r></w:p>".repeat(200));
        let file = archive(&[("word/document.xml", big.as_bytes())]);
        assert!(paragraphs(&file).is_ok());
        let e = paragraphs_with(&file, limits()).unwrap_err();
        assert!(e.contains("would expand to"), "{e}");
        let parts = archive(&[
            ("a", &[b' '; 3000]),
            ("b", &[b' '; 3000]),
            ("c", &[b' '; 3000]),
        ]);
        let e = paragraphs_with(&parts, limits()).unwrap_err();
        assert!(e.contains("more than the 8192 bytes"), "{e}");
        let many: Vec<(String, &[u8])> = (0..11).map(|i| (format!("f{i}"), &b"x"[..])).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        assert!(paragraphs_with(&archive(&refs), limits())
            .unwrap_err()
            .contains("11 entries"));
    }

    /// An archive that declares a small size for a large entry: reading stops past the claim.
    #[test]
    fn an_entry_larger_than_declared_is_refused() {
        let doc = document(&"<w:p><w:r><w:t>parola</w:t></w:r></w:p>".repeat(500));
        let mut file = archive(&[("word/document.xml", doc.as_bytes())]);
        let small = 100u32.to_le_bytes();
        // Uncompressed size: offset 22 of the local header, 24 of the central directory entry.
        for (sig, at) in [(0x04034b50u32, 22), (0x02014b50, 24)] {
            let pos = file
                .windows(4)
                .position(|w| w == sig.to_le_bytes())
                .unwrap();
            file[pos + at..pos + at + 4].copy_from_slice(&small);
        }
        let e = paragraphs(&file).unwrap_err();
        assert!(
            e.contains("more data than the archive declares") || e.contains("corrupt"),
            "{e}"
        );
    }

    #[test]
    fn text_boxes_nest_and_deleted_runs_leave_nothing() {
        let body = r#"
<w:p><w:r><w:t>Prima </w:t></w:r><w:r><w:pict><w:txbxContent><w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>nel riquadro</w:t></w:r></w:p></w:txbxContent></w:pict></w:r>
  <w:del w:id="1"><w:r><w:tab/><w:delText>via</w:delText><w:br/></w:r></w:del><w:r><w:t>dopo</w:t></w:r></w:p>"#;
        let doc = document(body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let p = paragraphs(&file).unwrap();
        let texts: Vec<(&str, bool)> = p.iter().map(|p| (p.text.as_str(), p.bold)).collect();
        assert_eq!(texts, [("nel riquadro", true), ("Prima dopo", false)]);
        let strict = r#"<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body><w:p><w:r><w:t>rigoroso</w:t></w:r></w:p></w:body></w:document>"#;
        let file = archive(&[("word/document.xml", strict.as_bytes())]);
        assert_eq!(paragraphs(&file).unwrap()[0].text, "rigoroso");
        let other = r#"<w:document xmlns:w="urn:altro"><w:p/></w:document>"#;
        let file = archive(&[("word/document.xml", other.as_bytes())]);
        assert!(paragraphs(&file)
            .unwrap_err()
            .contains("no w:document element"));
    }

    /// Word writes a text box twice, as `mc:Choice` (DrawingML) and `mc:Fallback` (VML), and a
    /// tracked move as `w:moveFrom` and `w:moveTo`: each text is read once.
    #[test]
    fn text_boxes_and_moves_are_read_once() {
        let body = format!(
            r#"<w:p><w:r><w:t>Intervista</w:t></w:r><w:r><mc:AlternateContent xmlns:mc="{MC}">
<mc:Choice Requires="wps"><w:drawing><wps:wsp xmlns:wps="urn:wps"><wps:txbx><w:txbxContent><w:p><w:r><w:t>Nota dell’intervistatrice</w:t></w:r></w:p></w:txbxContent></wps:txbx></wps:wsp></w:drawing></mc:Choice>
<mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Nota dell’intervistatrice</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>
</mc:AlternateContent></w:r></w:p>
<w:p><w:moveFrom w:id="2"><w:r><w:t>spostato </w:t></w:r></w:moveFrom><w:r><w:t>città</w:t></w:r><w:moveTo w:id="3"><w:r><w:t> spostato</w:t></w:r></w:moveTo></w:p>"#
        );
        let doc = document(&body);
        let file = archive(&[("word/document.xml", doc.as_bytes())]);
        let texts: Vec<String> = paragraphs(&file)
            .unwrap()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(
            texts,
            ["Nota dell’intervistatrice", "Intervista", "città spostato"]
        );
    }

    #[test]
    fn nesting_deeper_than_the_parser_stack_holds_is_refused() {
        // Text boxes in text boxes, as deep as the cap: read, innermost paragraph first.
        let boxes = |n: usize| {
            let open = "<w:p><w:r><w:pict><w:txbxContent>".repeat(n);
            let close = "</w:txbxContent></w:pict></w:r></w:p>".repeat(n);
            document(&format!(
                "{open}<w:p><w:r><w:t>fondo</w:t></w:r></w:p>{close}"
            ))
        };
        let levels = (MAX_XML_DEPTH - 8) / 4;
        let file = archive(&[("word/document.xml", boxes(levels).as_bytes())]);
        let p = paragraphs(&file).unwrap();
        assert_eq!(p.len(), levels + 1);
        assert_eq!(p[0].text, "fondo");
        // Far deeper: refused before the parser recurses into it.
        assert!(document_paragraphs(boxes(100_000).as_bytes())
            .unwrap_err()
            .contains("more than 1000 levels deep"));
        let rels = format!("{}{}", "<r>".repeat(100_000), "</r>".repeat(100_000));
        let file = archive(&[("_rels/.rels", rels.as_bytes())]);
        assert!(paragraphs(&file).unwrap_err().contains("_rels/.rels"));
    }
}
