//! What parsing XML from outside needs besides `roxmltree`'s own guards. Its parser recurses
//! once per level of element nesting, and a few hundred levels fill a 2 MiB thread stack in a
//! debug build: a file of nested elements would abort the whole server. So the nesting is
//! measured first, without recursion, and capped; and the parse runs on a thread whose stack
//! holds that cap many times over.

/// The stack of the parsing thread: a debug build takes about 6 KiB a level, a release
/// build less. Only the pages a parse touches are ever committed.
const PARSER_STACK: usize = 32 * 1024 * 1024;

/// The deepest element nesting `on_parser_stack` is sized for.
pub const MAX_XML_DEPTH: usize = 1_000;

/// Whether `xml` nests elements more than `limit` levels deep. Read as the parser reads it,
/// up to where the parser would stop at an error: start and end tags, quoted attribute
/// values, comments, CDATA and processing instructions; a DTD ends the reading (the parser
/// refuses it before any element).
pub fn nests_deeper_than(xml: &str, limit: usize) -> bool {
    let b = xml.as_bytes();
    let find = |from: usize, what: &[u8]| {
        b.get(from..)
            .and_then(|rest| rest.windows(what.len()).position(|w| w == what))
            .map(|p| from + p + what.len())
    };
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'<') {
        i += p;
        let rest = &b[i..];
        let next = if rest.starts_with(b"<!--") {
            find(i + 4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            find(i + 9, b"]]>")
        } else if rest.starts_with(b"<?") {
            find(i + 2, b"?>")
        } else if rest.starts_with(b"<!") {
            None
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            Some(i + 2)
        } else {
            let mut quote = None;
            let end = rest.iter().enumerate().skip(1).find_map(|(k, &c)| {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == b'"' || c == b'\'' => quote = Some(c),
                    None if c == b'>' => return Some(i + k),
                    None => {}
                }
                None
            });
            if let Some(end) = end {
                if b[end - 1] != b'/' {
                    depth += 1;
                    if depth > limit {
                        return true;
                    }
                }
            }
            end.map(|e| e + 1)
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    false
}

/// Runs a parse (and whatever reads the tree it borrows) on a thread with a stack for
/// `MAX_XML_DEPTH` levels; the caller has checked the depth with `nests_deeper_than`.
pub fn on_parser_stack<T: Send>(parse: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("xml-parse".into())
            .stack_size(PARSER_STACK)
            // As `std::thread::spawn`, which panics too when the system has no thread left.
            .spawn_scoped(scope, parse)
            .expect("a thread for the XML parser")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_as_the_parser_reads_it() {
        let nested = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(!nests_deeper_than(&nested(3), 3));
        assert!(nests_deeper_than(&nested(4), 3));
        // Siblings, empty elements and closed ones do not add up.
        assert!(!nests_deeper_than("<a><b/><b></b><b x='/>'/></a>", 2));
        assert!(nests_deeper_than("<a><b/><b></b><b x='/>'/></a>", 1));
        // What looks like tags in values, comments, CDATA and instructions is not.
        let hidden = r#"<?xml version="1.0"?><a x="<b><b>" y='>'><!-- <b><b> --><![CDATA[<b><b>]]><?pi <b>?></a>"#;
        assert!(!nests_deeper_than(hidden, 1));
        assert!(nests_deeper_than(&format!("<r>{hidden}</r>"), 1));
        // Far deeper than any stack: measured all the same, without recursion.
        assert!(nests_deeper_than(&nested(1_000_000), MAX_XML_DEPTH));
        // The parser's thread holds the deepest nesting let through, in any build.
        let xml = nested(MAX_XML_DEPTH);
        assert!(!nests_deeper_than(&xml, MAX_XML_DEPTH));
        let parsed =
            on_parser_stack(|| roxmltree::Document::parse(&xml).map(|d| d.descendants().count()));
        assert_eq!(parsed.unwrap(), MAX_XML_DEPTH + 1);
    }
}
