//! Names, labels, titles and memos as they are stored, whichever service takes them: the
//! same text for the eye is the same text for every comparison, and nothing is taken in
//! that an export could not give back.

use crate::error::{ServiceError, ServiceResult};

/// Most characters a name, label or title holds: more is a paragraph, not a name. A code's
/// and a user's names are keys of unique indexes, which PostgreSQL refuses beyond about
/// 2,700 bytes, with an error that would reach the caller as INTERNAL.
pub const MAX_LABEL_CHARS: usize = 500;

/// Most characters of one entry of a list (an author, a research question), which may be a
/// sentence or two.
pub const MAX_ENTRY_CHARS: usize = 2_000;

/// A name, label or title as stored: trimmed, and in NFC, so that one typed with a combining
/// accent (or read from a macOS file name, "Citta\u{300}") is the same text as one typed
/// with the accented letter, for the eye and for every comparison.
pub fn stored_label(s: &str, what: &str) -> ServiceResult<String> {
    stored_within(s, what, MAX_LABEL_CHARS)
}

fn stored_within(s: &str, what: &str, max: usize) -> ServiceResult<String> {
    let t = trimmed(s);
    if blank(t) {
        return Err(ServiceError::bad_input(format!("{what} must not be empty")));
    }
    exportable(t, what)?;
    // Counted as stored: NFC makes some text longer ("\u{958}" is two characters in it).
    let stored = normalised(t);
    short_enough(&stored, what, max)?;
    Ok(stored)
}

/// Refuses a text of more than `max` characters (code points, as every length here).
pub fn short_enough(s: &str, what: &str, max: usize) -> ServiceResult<()> {
    let chars = s.chars().count();
    if chars > max {
        return Err(ServiceError::bad_input(format!(
            "{what} is {chars} characters long: at most {max}"
        )));
    }
    Ok(())
}

/// An optional label (an interviewee's role) as stored: as `stored_label`, but one of
/// nothing visible is none, not an error: clearing the field by blanking it. Stored
/// untrimmed, " direttore " and "   " made groups of their own beside "direttore" and
/// beside the interviews without one.
pub fn stored_optional_label(s: &str, what: &str) -> ServiceResult<Option<String>> {
    let t = trimmed(s);
    if blank(t) {
        return Ok(None);
    }
    exportable(t, what)?;
    let stored = normalised(t);
    short_enough(&stored, what, MAX_LABEL_CHARS)?;
    Ok(Some(stored))
}

/// The form labels are stored and compared in (trimmed, NFC), without `stored_label`'s
/// checks: for labels read from a file that was checked otherwise, or from the database.
pub fn normalised(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    trimmed(s).nfc().collect()
}

/// Whether a label is made of nothing visible (white space, "\u{200B}", a lone byte-order
/// mark): it would be an entry nobody can see or tell apart in a codebook, a list or a CSV
/// header. Where a label comes from a file, such a one is taken for none.
pub fn blank(s: &str) -> bool {
    s.chars().all(default_ignorable)
}

/// Without the white space and the invisible marks a copy and paste leaves at either end (a
/// byte-order mark, a zero-width space, non-joiner or joiner, a soft hyphen, a word joiner).
/// Variation selectors and tag characters stay, as an emoji may end with one, and so do the
/// direction marks, which a right-to-left label may need at its end.
/// (The migration that normalised stored account names trims as this does.)
fn trimmed(s: &str) -> &str {
    s.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
    })
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), and white space: the
/// characters that show nothing when alone.
pub(crate) fn default_ignorable(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{AD}'
                | '\u{34F}'
                | '\u{61C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Refuses what an export could not carry: control characters other than tab and line
/// breaks, and the noncharacters U+FFFE and U+FFFF, which XML 1.0 (REFI-QDA) cannot hold
/// even escaped. Taken in, they came back from an export replaced, without a word.
pub fn exportable(s: &str, what: &str) -> ServiceResult<()> {
    match s.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }) {
        None => Ok(()),
        Some(c) => Err(ServiceError::bad_input(format!(
            "{what} contains the character U+{:04X}, which exports cannot carry: remove it",
            c as u32
        ))),
    }
}

/// Each entry of a list as `stored_label` stores it; a blank one is refused, as it would show as an empty
/// author or question.
pub fn stored_labels(list: &[String], what: &str) -> ServiceResult<Vec<String>> {
    list.iter()
        .enumerate()
        .map(|(n, entry)| stored_within(entry, &format!("{what}[{n}]"), MAX_ENTRY_CHARS))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{
        exportable, stored_label, stored_labels, stored_optional_label, MAX_ENTRY_CHARS,
        MAX_LABEL_CHARS,
    };

    #[test]
    fn names_are_at_most_500_characters_and_list_entries_2000() {
        // Counted in characters: 500 `è` are 1,000 bytes and still a name.
        let longest = "è".repeat(MAX_LABEL_CHARS);
        assert_eq!(stored_label(&longest, "name").unwrap(), longest);
        // Trimmed before it is counted.
        assert!(stored_label(&format!("  {longest}  "), "name").is_ok());
        let refused = stored_label(&format!("{longest}a"), "name").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "name is 501 characters long: at most 500"
        );
        assert!(stored_optional_label(&format!("{longest}a"), "role").is_err());
        // Counted in NFC, as stored: U+0958 is two characters there.
        let qa = "\u{958}".repeat(MAX_LABEL_CHARS / 2 + 1);
        let refused = stored_label(&qa, "name").unwrap_err().to_string();
        assert_eq!(refused, "name is 502 characters long: at most 500");
        assert!(stored_optional_label(&qa, "role").is_err());
        let question = format!("perché{}", "x".repeat(MAX_ENTRY_CHARS - 6));
        assert!(stored_labels(std::slice::from_ref(&question), "questions").is_ok());
        let refused = stored_labels(&["x".repeat(MAX_ENTRY_CHARS + 1)], "questions");
        assert!(refused
            .unwrap_err()
            .to_string()
            .starts_with("questions[0] is 2001"));
    }

    #[test]
    fn what_an_export_cannot_carry_is_refused_and_the_rest_is_kept_in_nfc() {
        assert!(exportable("Perché\tqui:\r\nsì — «là» 👩🏽‍⚕️", "x").is_ok());
        for bad in [
            "ctrl \u{b} end",
            "esc \u{1b}",
            "\u{0}",
            "non \u{FFFF}",
            "\u{FFFE}",
        ] {
            let refused = exportable(bad, "the label").unwrap_err().to_string();
            assert!(
                refused.contains("exports cannot carry"),
                "{bad:?}: {refused}"
            );
        }
        assert!(stored_label("lab\u{b}el", "label").is_err());
        assert_eq!(
            stored_optional_label(" Direttore\u{200B} ", "role").unwrap(),
            Some("Direttore".to_owned())
        );
        assert_eq!(stored_optional_label("  \u{FEFF}", "role").unwrap(), None);
        assert!(stored_optional_label("a\u{1b}", "role").is_err());
        // Nothing visible is empty; invisible marks at either end go, an emoji's stay.
        for invisible in [
            "\u{200B}\u{200B}",
            "\u{FEFF}",
            " \u{2060} ",
            "\u{200D}",
            "\u{FE0F}",
        ] {
            let refused = stored_label(invisible, "the name").unwrap_err().to_string();
            assert!(
                refused.contains("must not be empty"),
                "{invisible:?}: {refused}"
            );
        }
        assert_eq!(
            stored_label("\u{FEFF}Casa\u{200B} ", "name").unwrap(),
            "Casa"
        );
        assert_eq!(
            stored_label("Cura \u{2764}\u{FE0F}", "name").unwrap(),
            "Cura \u{2764}\u{FE0F}"
        );
        assert_eq!(stored_label("a\u{200D}b", "name").unwrap(), "a\u{200D}b");
        assert_eq!(
            stored_label("  Citta\u{300} ", "label").unwrap(),
            "Citt\u{e0}"
        );
    }
}
