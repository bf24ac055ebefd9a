//! Word (.docx) files: a zip archive whose main part, `word/document.xml`, holds the text in
//! paragraphs (`w:p`) of runs (`w:r`) of text (`w:t`). Only the text is read: tabs and line
//! breaks are kept, everything else (styles, fields, deleted text, drawings) is ignored.
//!
//! The file comes from outside, so the archive is checked before it is trusted: entry names
//! must stay inside the archive, sizes are capped as declared and again as actually read (a
//! small file must not expand into gigabytes), and the XML may not declare a DTD, so no entity
//! is ever defined, let alone fetched.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use zip::ZipArchive;

/// Caps on what an archive may hold and expand to.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    /// Uncompressed size of any one entry.
    pub max_entry_bytes: u64,
    /// Uncompressed size of all entries together, as declared, and of what is read.
    pub max_total_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        // A long transcript's document.xml is a few MiB; pictures in a Word file barely
        // compress, so real files stay far below these.
        Self {
            max_entries: 10_000,
            max_entry_bytes: 64 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
        }
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

/// The paragraphs of a .docx file. Errors are sentences for the user (without the file name).
pub fn paragraphs(bytes: &[u8]) -> Result<Vec<Paragraph>, String> {
    paragraphs_with(bytes, ArchiveLimits::default())
}

pub fn paragraphs_with(bytes: &[u8], limits: ArchiveLimits) -> Result<Vec<Paragraph>, String> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        format!("not a readable Word file (a .docx is a zip archive; this one is corrupt or truncated: {e})")
    })?;
    check_entries(&archive, limits)?;
    let mut read_so_far = 0u64;
    let main = main_part(&mut archive, limits, &mut read_so_far)?;
    let xml = read_entry(&mut archive, &main, limits, &mut read_so_far)?
        .ok_or_else(|| format!("not a Word document: the archive has no {main}"))?;
    document_paragraphs(&xml).map_err(|e| format!("{main}: {e}"))
}

/// Refuses archives with too many entries, names that escape the archive, or declared sizes
/// over the caps, before anything is decompressed.
fn check_entries(archive: &ZipArchive<Cursor<&[u8]>>, limits: ArchiveLimits) -> Result<(), String> {
    if archive.len() > limits.max_entries {
        return Err(format!(
            "the archive has {} entries, more than the {} allowed",
            archive.len(),
            limits.max_entries
        ));
    }
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_data(i)
            .map_err(|e| format!("corrupt archive entry {i}: {e}"))?;
        let name = entry
            .name()
            .map_err(|e| format!("archive entry {i} has an unreadable name: {e}"))?
            .into_owned();
        let escapes = entry.enclosed_name().is_none()
            || name.starts_with(['/', '\\'])
            || name.split(['/', '\\']).any(|part| part == "..")
            || name.contains(':');
        if escapes {
            return Err(format!(
                "archive entry {name:?} points outside the archive; refused"
            ));
        }
        if entry.size() > limits.max_entry_bytes {
            return Err(format!(
                "archive entry {name:?} would expand to {} bytes, more than the {} allowed",
                entry.size(),
                limits.max_entry_bytes
            ));
        }
        declared = declared.saturating_add(entry.size());
        if declared > limits.max_total_bytes {
            return Err(format!(
                "the archive would expand to more than the {} bytes allowed",
                limits.max_total_bytes
            ));
        }
    }
    Ok(())
}

/// Reads one entry whole, or None if there is no such entry. The declared size is a claim:
/// reading stops one byte past it (and past the caps), so a lying header cannot make the
/// decompressor run on.
fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limits: ArchiveLimits,
    read_so_far: &mut u64,
) -> Result<Option<Vec<u8>>, String> {
    let Some(index) = archive.index_for_name(name) else {
        return Ok(None);
    };
    let file = archive
        .by_index(index)
        .map_err(|e| format!("cannot open {name} in the archive: {e}"))?;
    if file.encrypted() {
        return Err(format!(
            "{name} is encrypted; save the file without a password"
        ));
    }
    let declared = file.size();
    let budget = limits
        .max_entry_bytes
        .min(limits.max_total_bytes.saturating_sub(*read_so_far));
    let mut buf = Vec::with_capacity(declared.min(budget).min(1 << 20) as usize);
    file.take(declared.min(budget).saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("{name} is corrupt or truncated: {e}"))?;
    let got = buf.len() as u64;
    if got > declared {
        return Err(format!(
            "{name} holds more data than the archive declares ({declared} bytes); refused"
        ));
    }
    if got > budget {
        return Err(format!(
            "{name} expands beyond the {budget} bytes allowed; refused"
        ));
    }
    *read_so_far += got;
    Ok(Some(buf))
}

/// The main document part named by the package relationships (`_rels/.rels`), else the
/// usual `word/document.xml`.
fn main_part(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    limits: ArchiveLimits,
    read_so_far: &mut u64,
) -> Result<String, String> {
    let Some(rels) = read_entry(archive, "_rels/.rels", limits, read_so_far)? else {
        return Ok(MAIN_PART.to_owned());
    };
    let mut reader = NsReader::from_reader(&rels[..]);
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("_rels/.rels is not well-formed XML: {e}"))?;
        match event {
            Event::DocType(_) => return Err(DTD_REFUSED.into()),
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let attr = |key: &str| {
                    e.try_get_attribute(key).ok().flatten().and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
                };
                let is_main = attr("Type").is_some_and(|t| t.ends_with("/officeDocument"));
                if let (true, Some(target)) = (is_main, attr("Target")) {
                    return Ok(target.trim_start_matches('/').to_owned());
                }
            }
            Event::Eof => return Ok(MAIN_PART.to_owned()),
            _ => {}
        }
        buf.clear();
    }
}

const DTD_REFUSED: &str =
    "the XML declares a DTD (<!DOCTYPE>), which a Word file never does; refused, entities are never resolved";

fn is_w(ns: &ResolveResult) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == W || *n == W_STRICT)
}

/// A paragraph being read.
#[derive(Default)]
struct Open {
    text: String,
    /// Runs with visible text, and how many of them were bold.
    runs: usize,
    bold_runs: usize,
}

/// The paragraphs of `word/document.xml`.
pub fn document_paragraphs(xml: &[u8]) -> Result<Vec<Paragraph>, String> {
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // Paragraphs nest (a text box inside a paragraph): the inner one is finished first.
    let mut open: Vec<Open> = Vec::new();
    let mut in_run = false;
    let mut run_bold = false;
    let mut run_text = false;
    let mut in_run_props = false;
    let mut in_text = false;
    let mut depth = 0usize;
    let mut is_document = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::DocType(_) => return Err(DTD_REFUSED.into()),
            Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                is_document = is_w(&ns) && e.local_name().as_ref() == "document";
                depth += usize::from(matches!(event, Event::Start(_)));
            }
            Event::Start(ref e) | Event::Empty(ref e) if is_w(&ns) => {
                // An empty element (`<w:p/>`, `<w:t/>`) opens and closes at once.
                let empty = matches!(event, Event::Empty(_));
                depth += usize::from(!empty);
                match e.local_name().as_ref() {
                    "p" if empty => out.push(Paragraph {
                        text: String::new(),
                        bold: false,
                    }),
                    "p" => open.push(Open::default()),
                    "r" if !empty => {
                        in_run = true;
                        run_bold = false;
                        run_text = false;
                    }
                    "rPr" if in_run && !empty => in_run_props = true,
                    "b" if in_run_props => {
                        let off = e
                            .attributes()
                            .flatten()
                            .find(|a| a.key.local_name().as_ref() == "val")
                            .and_then(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .ok()
                                    .map(|v| v.into_owned())
                            })
                            .is_some_and(|v| matches!(v.as_str(), "0" | "false" | "off"));
                        run_bold = !off;
                    }
                    "t" if !empty => in_text = true,
                    "tab" if in_run => push_text(&mut open, "\t", &mut run_text),
                    "br" | "cr" if in_run => push_text(&mut open, "\n", &mut run_text),
                    _ => {}
                }
            }
            Event::Start(_) => depth += 1,
            Event::End(_) if depth == 0 => {
                return Err("not well-formed XML: a stray end tag".into())
            }
            Event::End(e) if is_w(&ns) => {
                depth -= 1;
                match e.local_name().as_ref() {
                    "p" => {
                        if let Some(p) = open.pop() {
                            out.push(Paragraph {
                                bold: p.runs > 0 && p.bold_runs == p.runs,
                                text: p.text,
                            });
                        }
                    }
                    "r" => {
                        if run_text {
                            if let Some(p) = open.last_mut() {
                                p.runs += 1;
                                p.bold_runs += usize::from(run_bold);
                            }
                        }
                        in_run = false;
                        in_run_props = false;
                    }
                    "rPr" => in_run_props = false,
                    "t" => in_text = false,
                    _ => {}
                }
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) if in_text => {
                push_text(&mut open, &t.xml10_content(), &mut run_text);
            }
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r)?;
                if in_text {
                    push_text(&mut open, c.encode_utf8(&mut [0; 4]), &mut run_text);
                }
            }
            Event::Eof if depth > 0 => {
                return Err("the XML ends before its elements close: the file is truncated".into())
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !is_document {
        return Err("not a Word document body (no w:document element)".into());
    }
    Ok(out)
}

fn push_text(open: &mut [Open], text: &str, run_text: &mut bool) {
    if let Some(p) = open.last_mut() {
        p.text.push_str(text);
        if !text.trim().is_empty() {
            *run_text = true;
        }
    }
}

/// `&lt;`-style predefined entities and character references; with no DTD allowed, any other
/// name is undeclared, which XML makes a fatal error.
fn resolve_reference(r: &quick_xml::events::BytesRef) -> Result<char, String> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| format!("bad character reference &{};: {e}", &**r))?
    {
        return Ok(c);
    }
    match &**r {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!(
            "the XML uses the undeclared entity &{other};; refused, entities are never resolved"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
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

    fn limits() -> ArchiveLimits {
        ArchiveLimits {
            max_entries: 10,
            max_entry_bytes: 4096,
            max_total_bytes: 8192,
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
}
