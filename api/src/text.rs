//! Transcript positions. Every position in the API is a Unicode code point offset (as in
//! REFI-QDA), half-open; positions taken in or sent out are converted to and from bytes here.

/// Number of code points in `s`.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// The byte offset of code point `cp` in `s` (`s.len()` when `cp` is the length), or `None`
/// past the end.
pub fn byte_offset(s: &str, cp: usize) -> Option<usize> {
    // A code point starts at every byte that is not a continuation byte (0b10xx_xxxx).
    // Whole chunks are counted without decoding (the compiler vectorises the count), which
    // matters when a thousand quotations are cut out of 60 KB transcripts.
    const CHUNK: usize = 64;
    let starts = |bytes: &[u8]| bytes.iter().filter(|&&b| (b as i8) >= -0x40).count();
    let bytes = s.as_bytes();
    let (mut seen, mut at) = (0, 0);
    while at + CHUNK <= bytes.len() {
        let n = starts(&bytes[at..at + CHUNK]);
        if seen + n > cp {
            break;
        }
        seen += n;
        at += CHUNK;
    }
    for (i, &b) in bytes[at..].iter().enumerate() {
        if (b as i8) >= -0x40 {
            if seen == cp {
                return Some(at + i);
            }
            seen += 1;
        }
    }
    (seen == cp).then_some(bytes.len())
}

/// The slice [start, end) of `s` in code points, or `None` if the span is not inside `s`.
pub fn slice(s: &str, start: usize, end: usize) -> Option<&str> {
    if start > end {
        return None;
    }
    let b0 = byte_offset(s, start)?;
    let b1 = b0 + byte_offset(&s[b0..], end - start)?;
    Some(&s[b0..b1])
}

/// Code-point offset of the byte offset `b` (which must be a char boundary).
pub fn cp_offset(s: &str, b: usize) -> usize {
    s[..b].chars().count()
}

/// Byte spans of `text` as code-point spans, counted in one pass over the text: search
/// highlights come sorted and disjoint, so each conversion goes on from where the previous one
/// stopped (counting from the start for each was quadratic in a long passage full of
/// matches). A span out of order is still right, counted again from the start.
pub fn cp_spans(text: &str, spans: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let (mut byte, mut cp) = (0, 0);
    let mut to_cp = |b: usize| {
        if b < byte {
            (byte, cp) = (0, 0);
        }
        cp += text[byte..b].chars().count();
        byte = b;
        cp
    };
    spans
        .iter()
        .map(|&(a, b)| {
            let a = to_cp(a);
            (a, to_cp(b))
        })
        .collect()
}

/// A transcript as it is stored, typed in or imported: with LF line ends and in Unicode NFC,
/// so that "è" typed as e + combining accent counts as one code point like everywhere else,
/// passages split on line ends, and a text sent again as the client holds it (with CRLF)
/// matches what is stored. (A file's byte-order mark is the file's, dropped when it is
/// read; a U+FEFF in a typed-in text is a character like any other.)
pub struct Normalised {
    pub text: String,
    pub line_endings: bool,
    pub nfc: bool,
}

pub fn normalise(mut text: String) -> Normalised {
    use unicode_normalization::{is_nfc, UnicodeNormalization};
    let line_endings = text.contains('\r');
    if line_endings {
        text = text.replace("\r\n", "\n").replace('\r', "\n");
    }
    let nfc = !is_nfc(&text);
    if nfc {
        text = text.nfc().collect();
    }
    Normalised {
        text,
        line_endings,
        nfc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_are_stored_without_cr_or_decomposed_accents() {
        let n = normalise("\u{feff}INT: Com\u{2019}e\u{300}?\r\nR: Bene.\rFine.".to_owned());
        assert_eq!(n.text, "\u{feff}INT: Com\u{2019}\u{e8}?\nR: Bene.\nFine.");
        assert!(n.line_endings && n.nfc);
        let n = normalise("R: già\nINT: sì".to_owned());
        assert_eq!(n.text, "R: già\nINT: sì");
        assert!(!n.line_endings && !n.nfc);
    }

    #[test]
    fn slices_by_code_points_not_bytes() {
        let t = "Città dell’ente — più 🙂 è";
        assert_eq!(char_len(t), 25);
        assert_eq!(slice(t, 0, 5), Some("Città"));
        assert_eq!(slice(t, 6, 14), Some("dell’ent"));
        assert_eq!(slice(t, 17, 23), Some(" più 🙂"));
        assert_eq!(slice(t, 24, 25), Some("è"));
        assert_eq!(slice(t, 24, 26), None);
        assert_eq!(slice(t, 3, 2), None);
        assert_eq!(slice(t, 25, 25), Some(""));
    }

    #[test]
    fn offsets_in_long_texts_agree_with_decoding() {
        let t = "Nella città l’ente gestore più vicino è cambiato 🙂 — perché? ".repeat(50);
        let decoded: Vec<usize> = t.char_indices().map(|(b, _)| b).collect();
        for (cp, &b) in decoded.iter().enumerate() {
            assert_eq!(byte_offset(&t, cp), Some(b), "code point {cp}");
        }
        assert_eq!(byte_offset(&t, decoded.len()), Some(t.len()));
        assert_eq!(byte_offset(&t, decoded.len() + 1), None);
        assert_eq!(
            slice(&t, 3_000, 3_010),
            Some(&t[decoded[3_000]..decoded[3_010]])
        );
    }

    #[test]
    fn byte_and_code_point_offsets_round_trip() {
        let t = "perché l’è così 🙂!";
        for (cp, (b, _)) in t.char_indices().enumerate() {
            assert_eq!(byte_offset(t, cp), Some(b));
            assert_eq!(cp_offset(t, b), cp);
        }
        assert_eq!(byte_offset(t, char_len(t)), Some(t.len()));
    }
}
