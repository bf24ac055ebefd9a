//! Escaping for the XML we write (the REFI-QDA project and the SVG pictures): one place, so
//! that every writer drops the characters XML 1.0 cannot carry rather than emit a file no
//! parser reads.

/// Where an escaped string goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// Character data between tags.
    Text,
    /// A double-quoted attribute value.
    Attribute,
}

/// XML 1.0 cannot carry most C0 controls, not even escaped.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

pub fn escape(s: &str, within: Within) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match (c, within) {
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            // A literal CR would be read back as LF.
            ('\r', _) => out.push_str("&#13;"),
            ('"', Within::Attribute) => out.push_str("&quot;"),
            // Attribute-value normalisation would turn these into spaces.
            ('\n', Within::Attribute) => out.push_str("&#10;"),
            ('\t', Within::Attribute) => out.push_str("&#9;"),
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_xml_cannot_carry_are_replaced_and_markup_escaped() {
        let s = "a\u{1}b\u{0}<è>&\"’\t\r\n\u{FFFE}";
        assert_eq!(
            escape(s, Within::Text),
            "a\u{FFFD}b\u{FFFD}&lt;è&gt;&amp;\"’\t&#13;\n\u{FFFD}"
        );
        assert_eq!(
            escape(s, Within::Attribute),
            "a\u{FFFD}b\u{FFFD}&lt;è&gt;&amp;&quot;’&#9;&#13;&#10;\u{FFFD}"
        );
        for within in [Within::Text, Within::Attribute] {
            let xml = format!(
                "<t a=\"{}\">{}</t>",
                escape(s, Within::Attribute),
                escape(s, within)
            );
            let doc = roxmltree::Document::parse(&xml).expect("well-formed");
            let back = "a\u{FFFD}b\u{FFFD}<è>&\"’\t\r\n\u{FFFD}";
            assert_eq!(doc.root_element().attribute("a"), Some(back));
            assert_eq!(doc.root_element().text(), Some(back));
        }
    }
}
