//! Re-anchoring quotations when a transcript is edited: each quotation is looked for by its
//! text in the new transcript, and where the text occurs more than once, by the context
//! around it. A quotation whose text is gone is reported, never shifted: no quotation may
//! read differently from its span.

/// Characters of context compared on each side.
const CONTEXT: usize = 40;

/// The new [start, end) of each span of `old` in `new` (code points), or `None` where its
/// text no longer occurs.
pub fn reanchor(old: &str, new: &str, spans: &[(usize, usize)]) -> Vec<Option<(usize, usize)>> {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    spans
        .iter()
        .map(|&(start, end)| {
            let quote = old.get(start..end)?;
            if quote.is_empty() {
                return None;
            }
            let before = &old[start.saturating_sub(CONTEXT)..start];
            let after = &old[end..(end + CONTEXT).min(old.len())];
            let candidates: Vec<usize> = (0..=new.len().saturating_sub(quote.len()))
                .filter(|&p| new.len() >= quote.len() && new[p..p + quote.len()] == *quote)
                .collect();
            let score = |p: usize| {
                let left = before
                    .iter()
                    .rev()
                    .zip(new[..p].iter().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                let right = after
                    .iter()
                    .zip(new[p + quote.len()..].iter())
                    .take_while(|(a, b)| a == b)
                    .count();
                left + right
            };
            let best = candidates
                .iter()
                .copied()
                .max_by_key(|&p| (score(p), std::cmp::Reverse(p.abs_diff(start))))?;
            Some((best, best + quote.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(s: &str, span: (usize, usize)) -> String {
        s.chars().skip(span.0).take(span.1 - span.0).collect()
    }

    /// The code-point span of the n-th (0-based) occurrence of `needle`.
    fn span_of(s: &str, needle: &str, nth: usize) -> (usize, usize) {
        let (b, _) = s.match_indices(needle).nth(nth).unwrap();
        let start = s[..b].chars().count();
        (start, start + needle.chars().count())
    }

    #[test]
    fn spans_follow_their_text_and_context() {
        let old = "R: La città è cambiata. Poi la città è cresciuta — l’ente c’è.";
        let new = "INT: Premessa nuova.\nR: La città è cambiata molto. Poi la città è cresciuta — l’ente c’è.";
        let first = span_of(old, "città", 0);
        let second = span_of(old, "città", 1);
        let ente = span_of(old, "l’ente", 0);
        let moved = reanchor(old, new, &[first, second, ente, (0, 2)]);
        assert_eq!(text_of(new, moved[0].unwrap()), "città");
        assert_eq!(text_of(new, moved[1].unwrap()), "città");
        assert_ne!(moved[0], moved[1], "each occurrence keeps its own place");
        assert!(moved[0].unwrap().0 < moved[1].unwrap().0);
        assert_eq!(text_of(new, moved[2].unwrap()), text_of(old, ente));
        assert_eq!(text_of(new, moved[3].unwrap()), "R:");
    }

    #[test]
    fn vanished_text_is_reported_not_shifted() {
        let old = "Il progetto è finito. Il lavoro continua.";
        let new = "Il lavoro continua.";
        let moved = reanchor(
            old,
            new,
            &[span_of(old, "progetto", 0), span_of(old, "lavoro", 0)],
        );
        assert_eq!(moved[0], None);
        assert_eq!(text_of(new, moved[1].unwrap()), "lavoro");
        assert_eq!(reanchor(old, new, &[(40, 60)]), vec![None]);
    }
}
