//! Names, labels, titles and memos as they are stored, whichever service takes them: the
//! same text for the eye is the same text for every comparison, and nothing is taken in
//! that an export could not give back.

use crate::error::{ServiceError, ServiceResult};

/// A name, label or title as stored: trimmed, and in NFC, so that one typed with a combining
/// accent (or read from a macOS file name, "Citta\u{300}") is the same text as one typed
/// with the accented letter, for the eye and for every comparison.
pub fn stored_label(s: &str, what: &str) -> ServiceResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ServiceError::bad_input(format!("{what} must not be empty")));
    }
    exportable(t, what)?;
    Ok(normalised(t))
}

/// The form labels are stored and compared in (trimmed, NFC), without `stored_label`'s
/// checks: for labels read from a file that was checked otherwise, or from the database.
pub fn normalised(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.trim().nfc().collect()
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
        .map(|(n, entry)| stored_label(entry, &format!("{what}[{n}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{exportable, stored_label};

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
            stored_label("  Citta\u{300} ", "label").unwrap(),
            "Citt\u{e0}"
        );
    }
}
