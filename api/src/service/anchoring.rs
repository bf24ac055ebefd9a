//! Re-anchoring quotations when a transcript is edited, the way QDA tools treat a document
//! change: the old and new transcripts are aligned by a diff, and a quotation inside text the
//! edit left alone follows that text. A quotation the edit touched keeps its place only if
//! its exact words are still there, inside the text that replaced it. Anything else is
//! reported, never shifted onto the same words elsewhere: another speaker may say them.

use std::collections::HashMap;
use std::hash::Hash;

/// Characters of context compared on each side, to choose among repeats of a quotation's
/// words inside the text that replaced it.
const CONTEXT: usize = 40;

/// The work one split of the diff may take, in edits explored × compared length (about a
/// tenth of a second). Past it the stretch is split at the words each side holds once, and
/// what is still too different between those counts as rewritten whole: its quotations
/// survive only where their exact words are in the rewritten text. Deleting, adding and
/// correcting dozens of turns of a 100,000-character transcript stays far below it (3 ms).
const MAX_STEPS: usize = 1 << 26;

/// The new [start, end) of each span of `old` in `new` (code points), or `None` where the
/// edit changed or removed its text.
pub fn reanchor(old: &str, new: &str, spans: &[(usize, usize)]) -> Vec<Option<(usize, usize)>> {
    reanchor_within(old, new, spans, MAX_STEPS)
}

fn reanchor_within(
    old: &str,
    new: &str,
    spans: &[(usize, usize)],
    budget: usize,
) -> Vec<Option<(usize, usize)>> {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let stretches = align(&old, &new, budget);
    let slides: Vec<Slide> = (0..stretches.len())
        .map(|i| slide(&old, &new, &stretches, i))
        .collect();
    spans
        .iter()
        .map(|&(start, end)| place(&old, &new, &stretches, &slides, start, end))
        .collect()
}

/// A stretch of the alignment, [old_start, old_end) of the old text against [new_start,
/// new_end) of the new: the same characters, or text the edit replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stretch {
    same: bool,
    old_start: usize,
    old_end: usize,
    new_start: usize,
    new_end: usize,
}

impl Stretch {
    fn changed_size(&self) -> usize {
        (self.old_end - self.old_start).max(self.new_end - self.new_start)
    }
}

fn place(
    old: &[char],
    new: &[char],
    stretches: &[Stretch],
    slides: &[Slide],
    start: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let quote = old.get(start..end)?;
    if quote.is_empty() {
        return None;
    }
    // Left alone: it lies inside one unchanged stretch (an insertion inside it would have
    // split the stretch).
    let first = stretches.partition_point(|s| s.old_end <= start);
    if let Some(s) = stretches
        .get(first)
        .filter(|s| s.same && s.old_start <= start)
    {
        if end <= s.old_end {
            let new_start = s.new_start + (start - s.old_start);
            return Some((new_start, new_start + quote.len()));
        }
    }
    // Touched: its words must still be there, in the text that replaced it or between
    // where its ends went.
    let (mut from, mut to) = (usize::MAX, 0);
    let touching = stretches.partition_point(|s| s.old_end < start);
    for (i, s) in stretches.iter().enumerate().skip(touching) {
        let overlaps = s.old_start < end && s.old_end > start;
        let inserted_within = s.old_start == s.old_end && (start..=end).contains(&s.old_start);
        if s.old_start > end {
            break;
        }
        if !overlaps && !inserted_within {
            continue;
        }
        let (lo, hi) = if s.same {
            let at = |p: usize| s.new_start + (p.clamp(s.old_start, s.old_end) - s.old_start);
            (at(start), at(end))
        } else {
            let Slide { left, right } = slides[i];
            (s.new_start - left, s.new_end + right)
        };
        from = from.min(lo);
        to = to.max(hi);
    }
    if from == usize::MAX || to < from + quote.len() {
        return None;
    }
    let before = &old[start.saturating_sub(CONTEXT)..start];
    let after = &old[end..(end + CONTEXT).min(old.len())];
    let context = |p: usize| {
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
    let best = (from..=to - quote.len())
        .filter(|&p| new[p..p + quote.len()] == *quote)
        .max_by_key(|&p| (context(p), std::cmp::Reverse(p - from)))?;
    Some((best, best + quote.len()))
}

/// How far a pure insertion or deletion could slide over the unchanged text beside it and
/// still be as short a diff, in characters each way.
#[derive(Debug, Clone, Copy, Default)]
struct Slide {
    left: usize,
    right: usize,
}

/// How far `stretches[i]` slides and still falls on boundaries as good as where it is.
/// Removing the second "il " of "il il servizio" aligns as well as removing the first, and
/// removing either copy of a turn pasted twice as well as the other: a quotation on the
/// words must not hang on which one the diff chose. A deleted turn whose last words the
/// turn before it repeats could slide onto those words too, but not to whole lines: its
/// quotations are not moved there. Each stretch is measured once, only over its
/// neighbours, so all of them together cost a pass over both texts.
fn slide(old: &[char], new: &[char], stretches: &[Stretch], i: usize) -> Slide {
    let s = stretches[i];
    let (text, start, end) = if s.old_start == s.old_end {
        (new, s.new_start, s.new_end)
    } else if s.new_start == s.new_end {
        (old, s.old_start, s.old_end)
    } else {
        return Slide::default();
    };
    let same_len = |j: Option<usize>| {
        j.and_then(|j| stretches.get(j))
            .filter(|n| n.same)
            .map_or(0, |n| n.old_end - n.old_start)
    };
    let left_room = same_len(i.checked_sub(1));
    let right_room = same_len(Some(i + 1));
    let left = (1..=left_room)
        .take_while(|k| text[start - k] == text[end - k])
        .count();
    let right = (0..right_room)
        .take_while(|k| end + k < text.len() && text[start + k] == text[end + k])
        .count();
    let here = boundary_fit(text, start, end);
    let as_good = |k: &usize| boundary_fit(text, start - k, end - k) >= here;
    let left = (1..=left).rev().find(as_good).unwrap_or(0);
    let as_good = |k: &usize| boundary_fit(text, start + k, end + k) >= here;
    let right = (1..=right).rev().find(as_good).unwrap_or(0);
    Slide { left, right }
}

/// How well [start, end) of `text` falls on boundaries: whole lines best, then whole words.
fn boundary_fit(text: &[char], start: usize, end: usize) -> u8 {
    let after = |p: usize, line: bool| {
        p == 0
            || (if line {
                text[p - 1] == '\n'
            } else {
                text[p - 1].is_whitespace()
            })
    };
    2 * (after(start, true) as u8 + after(end, true) as u8)
        + after(start, false) as u8
        + after(end, false) as u8
}

/// The alignment of `old` with `new`: words first, then the characters of the words that
/// differ, then small coincidences inside rewritten text folded into it.
fn align(old: &[char], new: &[char], budget: usize) -> Vec<Stretch> {
    let old_words = words(old);
    let new_words = words(new);
    let mut ids: HashMap<&[char], usize> = HashMap::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (words, out) in [(&old_words, &mut a), (&new_words, &mut b)] {
        for &w in words.iter() {
            let next = ids.len();
            out.push(*ids.entry(w).or_insert(next));
        }
    }
    let chars = |ws: &[&[char]]| ws.iter().map(|w| w.len()).sum::<usize>();
    let mut out = Alignment::default();
    let (mut i, mut j) = (0, 0);
    for run in edit_script(&a, &b, budget) {
        match run {
            Run::Same(n) => {
                out.push(
                    true,
                    chars(&old_words[i..i + n]),
                    chars(&new_words[j..j + n]),
                );
                i += n;
                j += n;
            }
            Run::Changed(removed, inserted) => {
                let (o, n) = (out.old, out.new);
                let (o_len, n_len) = (
                    chars(&old_words[i..i + removed]),
                    chars(&new_words[j..j + inserted]),
                );
                for run in edit_script(&old[o..o + o_len], &new[n..n + n_len], budget) {
                    match run {
                        Run::Same(k) => out.push(true, k, k),
                        Run::Changed(r, s) => out.push(false, r, s),
                    }
                }
                i += removed;
                j += inserted;
            }
        }
    }
    let mut stretches = fold_coincidences(out.stretches);
    settle_on_boundaries(old, new, &mut stretches);
    stretches
}

/// Words with the spaces after them; every character belongs to one.
fn words(text: &[char]) -> Vec<&[char]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=text.len() {
        if i == text.len() || (text[i - 1].is_whitespace() && !text[i].is_whitespace()) {
            out.push(&text[start..i]);
            start = i;
        }
    }
    out
}

#[derive(Default)]
struct Alignment {
    stretches: Vec<Stretch>,
    old: usize,
    new: usize,
}

impl Alignment {
    fn push(&mut self, same: bool, removed: usize, inserted: usize) {
        if removed == 0 && inserted == 0 {
            return;
        }
        let (old_start, new_start) = (self.old, self.new);
        self.old += removed;
        self.new += inserted;
        match self.stretches.last_mut() {
            Some(last) if last.same == same => {
                last.old_end = self.old;
                last.new_end = self.new;
            }
            _ => self.stretches.push(Stretch {
                same,
                old_start,
                old_end: self.old,
                new_start,
                new_end: self.new,
            }),
        }
    }
}

/// A minimal diff of a rewritten sentence still matches the letters the two versions
/// happen to share ("e", "la ", a comma). A shared stretch no longer than the changes on
/// both sides of it is such a coincidence, not text the edit left alone: it joins them (the
/// rule of diff-match-patch's semantic cleanup).
fn fold_coincidences(stretches: Vec<Stretch>) -> Vec<Stretch> {
    let mut out: Vec<Stretch> = Vec::with_capacity(stretches.len());
    for s in stretches {
        match out.last_mut() {
            Some(last) if last.same == s.same => {
                last.old_end = s.old_end;
                last.new_end = s.new_end;
            }
            _ => out.push(s),
        }
        // Each fold can make the shared stretch before it a coincidence too.
        while let [.., left, shared, right] = out[..] {
            let len = shared.old_end - shared.old_start;
            if left.same
                || !shared.same
                || right.same
                || len > left.changed_size()
                || len > right.changed_size()
            {
                break;
            }
            out.truncate(out.len() - 3);
            out.push(Stretch {
                same: false,
                old_start: left.old_start,
                old_end: right.old_end,
                new_start: left.new_start,
                new_end: right.new_end,
            });
        }
    }
    out
}

/// How far an insertion or deletion is looked at sliding each way.
const SLIDE: usize = 1000;

/// Where repeated text lets an insertion or deletion slide ("R12: … cresciuta.\n" removed
/// from between two turns ending in the same words aligns as well a few words earlier),
/// puts it where a person would: whole lines, else whole words. The quotations of a deleted
/// turn are then the ones lost, not the last words of the turn before it.
fn settle_on_boundaries(old: &[char], new: &[char], stretches: &mut [Stretch]) {
    for i in 1..stretches.len().saturating_sub(1) {
        let (prev, s, next) = (stretches[i - 1], stretches[i], stretches[i + 1]);
        let (text, start, end) = if s.old_start == s.old_end {
            (new, s.new_start, s.new_end)
        } else if s.new_start == s.new_end {
            (old, s.old_start, s.old_end)
        } else {
            continue;
        };
        if !prev.same || !next.same {
            continue;
        }
        // Each neighbour keeps a character, so that the stretches stay as they are.
        let left_room = (prev.old_end - prev.old_start - 1).min(SLIDE);
        let right_room = (next.old_end - next.old_start - 1).min(SLIDE);
        let left = (1..=left_room)
            .take_while(|k| text[start - k] == text[end - k])
            .count();
        let right = (0..right_room)
            .take_while(|k| text[start + k] == text[end + k])
            .count();
        let fit = |shift: isize| {
            let at = |p: usize| (p as isize + shift) as usize;
            (
                boundary_fit(text, at(start), at(end)),
                std::cmp::Reverse(shift.unsigned_abs()),
            )
        };
        let Some(shift) = (-(left as isize)..=right as isize).max_by_key(|&d| fit(d)) else {
            continue;
        };
        let moved = |p: usize| (p as isize + shift) as usize;
        stretches[i - 1].old_end = moved(prev.old_end);
        stretches[i - 1].new_end = moved(prev.new_end);
        stretches[i] = Stretch {
            same: false,
            old_start: moved(s.old_start),
            old_end: moved(s.old_end),
            new_start: moved(s.new_start),
            new_end: moved(s.new_end),
        };
        stretches[i + 1].old_start = moved(next.old_start);
        stretches[i + 1].new_start = moved(next.new_start);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Same(usize),
    /// Removed from the old side, inserted on the new.
    Changed(usize, usize),
}

/// A shortest edit script from `a` to `b` (Myers' linear-space divide and conquer), as runs.
/// A part too different to split within `MAX_STEPS`, with nothing unique to both sides to
/// split it at either, comes back changed whole.
fn edit_script<T: Eq + Hash>(a: &[T], b: &[T], budget: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    diff_into(a, b, &mut runs, budget);
    runs
}

fn diff_into<T: Eq + Hash>(a: &[T], b: &[T], runs: &mut Vec<Run>, budget: usize) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    push_run(runs, Run::Same(prefix));
    let split = middle(a, b, budget).filter(|&p| p != (0, 0) && p != (a.len(), b.len()));
    if let Some((x, y)) = split {
        diff_into(&a[..x], &b[..y], runs, budget);
        diff_into(&a[x..], &b[y..], runs, budget);
    } else {
        // Too far apart for a shortest diff within the budget: split at what each side
        // holds once (patience diff), so that only the stretches between are given up on.
        let (mut i, mut j) = (0, 0);
        for (x, y) in unique_anchors(a, b) {
            diff_into(&a[i..x], &b[j..y], runs, budget);
            push_run(runs, Run::Same(1));
            (i, j) = (x + 1, y + 1);
        }
        if (i, j) == (0, 0) {
            push_run(runs, Run::Changed(a.len(), b.len()));
        } else {
            diff_into(&a[i..], &b[j..], runs, budget);
        }
    }
    push_run(runs, Run::Same(suffix));
}

/// The elements found exactly once in `a` and once in `b`, as pairs of positions: the
/// longest chain of them in the same order on both sides.
fn unique_anchors<T: Eq + Hash>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    // element → (times in a, times in b, position in a)
    let mut counts: HashMap<&T, (usize, usize, usize)> = HashMap::new();
    for (i, x) in a.iter().enumerate() {
        counts.entry(x).or_insert((0, 0, i)).0 += 1;
    }
    for y in b {
        if let Some(c) = counts.get_mut(y) {
            c.1 += 1;
        }
    }
    let pairs: Vec<(usize, usize)> = b
        .iter()
        .enumerate()
        .filter_map(|(j, y)| match counts.get(y) {
            Some(&(1, 1, i)) => Some((i, j)),
            _ => None,
        })
        .collect();
    // The longest run increasing in a among pairs ordered by b (patience sorting).
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = Vec::with_capacity(pairs.len());
    for (k, &(i, _)) in pairs.iter().enumerate() {
        let pile = tails.partition_point(|&t| pairs[t].0 < i);
        before.push(pile.checked_sub(1).map(|p| tails[p]));
        if pile == tails.len() {
            tails.push(k);
        } else {
            tails[pile] = k;
        }
    }
    let mut chain = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(k) = at {
        chain.push(pairs[k]);
        at = before[k];
    }
    chain.reverse();
    chain
}

fn push_run(runs: &mut Vec<Run>, run: Run) {
    match (runs.last_mut(), run) {
        (_, Run::Same(0) | Run::Changed(0, 0)) => {}
        (Some(Run::Same(n)), Run::Same(m)) => *n += m,
        (Some(Run::Changed(r, i)), Run::Changed(s, j)) => {
            *r += s;
            *i += j;
        }
        _ => runs.push(run),
    }
}

/// A point on a shortest edit path from (0, 0) to (a.len(), b.len()) with half the edits on
/// each side (the start of Myers' middle snake), or `None` when `a` and `b` cannot be split
/// that way within the budget. Expects `a` and `b` to differ at both ends.
fn middle<T: PartialEq>(a: &[T], b: &[T], budget: usize) -> Option<(usize, usize)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.len() as isize, b.len() as isize);
    let delta = n - m;
    let odd = delta % 2 != 0;
    let max_d = ((n + m + 1) / 2).min((budget / (a.len() + b.len())).max(1) as isize);
    let offset = max_d + 1;
    // Forward: the furthest x reached on each diagonal k = x − y from (0, 0). Backward: the
    // furthest distance from (n, m) reached on each diagonal of the reversed texts, whose
    // diagonal delta − k is the forward k.
    let mut forward = vec![0isize; (2 * max_d + 3) as usize];
    let mut backward = forward.clone();
    let at = |k: isize| (k + offset) as usize;
    for d in 0..=max_d {
        for k in (-d..=d).step_by(2) {
            let mut x = if k == -d || (k != d && forward[at(k - 1)] < forward[at(k + 1)]) {
                forward[at(k + 1)]
            } else {
                forward[at(k - 1)] + 1
            };
            let (x0, y0) = (x, x - k);
            let mut y = y0;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            forward[at(k)] = x;
            let back = delta - k;
            if odd && back.abs() < d && x + backward[at(back)] >= n {
                return Some((x0.min(n) as usize, y0.min(m) as usize));
            }
        }
        for k in (-d..=d).step_by(2) {
            let mut u = if k == -d || (k != d && backward[at(k - 1)] < backward[at(k + 1)]) {
                backward[at(k + 1)]
            } else {
                backward[at(k - 1)] + 1
            };
            let mut w = u - k;
            while u < n && w < m && a[(n - u - 1) as usize] == b[(m - w - 1) as usize] {
                u += 1;
                w += 1;
            }
            backward[at(k)] = u;
            let fwd = delta - k;
            if !odd && fwd.abs() <= d && u + forward[at(fwd)] >= n {
                return Some(((n - u).max(0) as usize, (m - w).max(0) as usize));
            }
        }
    }
    None
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

    #[test]
    fn deleted_words_are_not_moved_onto_the_same_words_of_another_turn() {
        let old = "INT: Come va il servizio?\nR1: Il servizio domiciliare è stato chiuso durante la pandemia.\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.";
        let first = span_of(old, "servizio domiciliare", 0);
        let second = span_of(old, "servizio domiciliare", 1);
        assert_eq!(first, (33, 53));
        for new in [
            "INT: Come va il servizio?\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.",
            "INT: Come va il servizio?\nR1: Il servizio.\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.",
            "INT: Come va il servizio?\nR1: Non ricordo.\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.",
        ] {
            let moved = reanchor(old, new, &[first, second]);
            assert_eq!(moved[0], None, "{new}");
            assert_eq!(moved[1], Some(span_of(new, "servizio domiciliare", 0)), "{new}");
        }
    }

    #[test]
    fn a_quotation_whose_words_were_edited_is_reported() {
        let old = "R: La casa popolare manca da anni.";
        let quote = span_of(old, "casa popolare", 0);
        for new in [
            "R: La casa molto popolare manca da anni.",
            "R: La cassa popolare manca da anni.",
            "R: La casa popolar manca da anni.",
        ] {
            assert_eq!(reanchor(old, new, &[quote]), vec![None], "{new}");
        }
        // Edits right beside it leave it in place.
        let new = "R: Sì, la nostra casa popolare, manca da anni.";
        let moved = reanchor(old, new, &[quote]);
        assert_eq!(moved, vec![Some(span_of(new, "casa popolare", 0))]);
    }

    #[test]
    fn removing_or_adding_a_repeated_word_leaves_quotations_on_the_repeat_in_place() {
        let stutter = "R: E il il servizio domiciliare, il il servizio, funziona.";
        let clean = "R: E il servizio domiciliare, il servizio, funziona.";
        let spans = [
            span_of(stutter, "il servizio domiciliare", 0),
            span_of(stutter, "il il servizio domiciliare", 0),
            span_of(stutter, "il servizio,", 0),
        ];
        let moved = reanchor(stutter, clean, &spans);
        assert_eq!(moved[0], Some(span_of(clean, "il servizio domiciliare", 0)));
        assert_eq!(moved[1], None);
        assert_eq!(moved[2], Some(span_of(clean, "il servizio,", 0)));
        let back = reanchor(
            clean,
            stutter,
            &[
                span_of(clean, "il servizio domiciliare", 0),
                span_of(clean, "E il", 0),
                span_of(clean, "il servizio,", 0),
            ],
        );
        assert_eq!(
            back[0].map(|p| text_of(stutter, p)).as_deref(),
            Some("il servizio domiciliare")
        );
        assert_eq!(back[1], Some(span_of(stutter, "E il", 0)));
        assert_eq!(
            back[2].map(|p| text_of(stutter, p)).as_deref(),
            Some("il servizio,")
        );
    }

    /// A turn pasted twice, then one copy deleted: the diff cannot tell which copy went, so
    /// the quotations on either copy stay on the one that remains.
    #[test]
    fn deleting_one_copy_of_a_repeated_turn_keeps_the_quotations_of_both_copies() {
        let turn = "R2: Il consorzio ha aperto uno sportello unico per l’abitare, e la città l’ha usato.\n";
        let old = format!("INT: Che cosa è cambiato?\n{turn}{turn}INT: Grazie.");
        let new = format!("INT: Che cosa è cambiato?\n{turn}INT: Grazie.");
        let mut spans = Vec::new();
        for words in [
            "R2:",
            "consorzio",
            "sportello unico",
            "l’abitare",
            "la città l’ha usato.",
        ] {
            spans.push(span_of(&old, words, 0));
            spans.push(span_of(&old, words, 1));
        }
        let moved = reanchor(&old, &new, &spans);
        for (span, moved) in spans.iter().zip(&moved) {
            let words = text_of(&old, *span);
            assert_eq!(
                *moved,
                Some(span_of(&new, &words, 0)),
                "{words} at {span:?}"
            );
        }
    }

    #[test]
    fn words_still_there_in_a_rewritten_sentence_keep_their_codes() {
        let old =
            "INT: E la casa?\nR: La casa popolare manca, e nessuno se ne occupa.\nINT: Grazie.";
        let new =
            "INT: E la casa?\nR: Nessuno si occupa della casa popolare, che manca.\nINT: Grazie.";
        let moved = reanchor(old, new, &[span_of(old, "casa popolare", 0)]);
        assert_eq!(moved, vec![Some(span_of(new, "casa popolare", 0))]);
    }

    #[test]
    fn every_unchanged_quotation_follows_its_text_through_scattered_edits() {
        scattered_edits(MAX_STEPS);
    }

    /// Past its budget the diff splits at words found once on each side (here the turn
    /// numbers) rather than giving up on the whole transcript.
    #[test]
    fn a_diff_past_its_budget_still_keeps_unchanged_turns_apart() {
        scattered_edits(64);
    }

    fn scattered_edits(budget: usize) {
        let turn = |n: usize| format!("R{n}: Nel comune {n} la rete dei servizi è cresciuta.\n");
        let old: String = (0..200).map(turn).collect();
        let mut new = String::new();
        for n in 0..200 {
            let t = turn(n);
            new.push_str(&match n % 7 {
                0 => t.replace("cresciuta", "crescuta"),
                3 => format!("INT: Perché?\n{t}"),
                5 => String::new(),
                _ => t,
            });
        }
        // Every turn says "la rete dei servizi": a deleted turn's must not land on another's.
        let spans: Vec<(usize, usize)> = (0..200)
            .map(|n| span_of(&old, "la rete dei servizi", n))
            .collect();
        let moved = reanchor_within(&old, &new, &spans, budget);
        for (n, place) in moved.iter().enumerate() {
            if n % 7 == 5 {
                assert_eq!(*place, None, "turn {n} was deleted");
            } else {
                let (turn_start, _) = span_of(&new, &format!("comune {n} la rete"), 0);
                let start = turn_start + format!("comune {n} ").chars().count();
                assert_eq!(*place, Some((start, start + 19)), "turn {n}");
            }
        }
    }

    /// The diff is a shortest one: its edits match the edit distance (insertions and
    /// deletions only) computed the slow way.
    #[test]
    fn the_diff_is_a_shortest_edit_script() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let gen = |rng: &mut StdRng| -> Vec<char> {
                let len = rng.random_range(0..14);
                (0..len)
                    .map(|_| ['a', 'b', 'c', ' '][rng.random_range(0..4)])
                    .collect()
            };
            let (a, b) = (gen(&mut rng), gen(&mut rng));
            let runs = edit_script(&a, &b, MAX_STEPS);
            let (mut i, mut j, mut edits) = (0, 0, 0);
            for run in &runs {
                match *run {
                    Run::Same(n) => {
                        assert_eq!(a[i..i + n], b[j..j + n]);
                        i += n;
                        j += n;
                    }
                    Run::Changed(r, s) => {
                        edits += r + s;
                        i += r;
                        j += s;
                    }
                }
            }
            assert_eq!((i, j), (a.len(), b.len()));
            let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
            for x in (0..a.len()).rev() {
                for y in (0..b.len()).rev() {
                    lcs[x][y] = if a[x] == b[y] {
                        lcs[x + 1][y + 1] + 1
                    } else {
                        lcs[x + 1][y].max(lcs[x][y + 1])
                    };
                }
            }
            assert_eq!(edits, a.len() + b.len() - 2 * lcs[0][0], "{a:?} → {b:?}");
            // And the alignments built on it, within any budget, read the same text on both
            // sides and cover both.
            for budget in [MAX_STEPS, 1] {
                let stretches = align(&a, &b, budget);
                for s in stretches.iter().filter(|s| s.same) {
                    assert_eq!(a[s.old_start..s.old_end], b[s.new_start..s.new_end]);
                }
                let ends = stretches.last().map_or((0, 0), |s| (s.old_end, s.new_end));
                assert_eq!(ends, (a.len(), b.len()));
            }
        }
    }

    /// Whatever the edit, a quotation keeps exactly its words or is reported.
    #[test]
    fn a_placed_quotation_always_reads_its_old_words() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        let vocabulary = ["casa", "la", "città", "R:", "\n", "servizio", "è", "più"];
        for _ in 0..500 {
            let gen = |rng: &mut StdRng| -> String {
                (0..rng.random_range(0..30))
                    .map(|_| vocabulary[rng.random_range(0..vocabulary.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let (old, new) = (gen(&mut rng), gen(&mut rng));
            let len = old.chars().count();
            let spans: Vec<(usize, usize)> = (0..10)
                .map(|_| {
                    let s = rng.random_range(0..=len);
                    (s, rng.random_range(s..=len + 1))
                })
                .collect();
            for (&span, place) in spans.iter().zip(reanchor(&old, &new, &spans)) {
                if let Some(p) = place {
                    assert_eq!(text_of(&new, p), text_of(&old, span));
                }
            }
        }
    }
}
