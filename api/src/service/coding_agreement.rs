//! Intercoder agreement on coding, as NVivo's coding comparison counts it: for each code, the
//! code points of the compared transcripts that two coders marked with it (both, one of
//! them, or neither), percent agreement and Cohen's kappa over those code points. A code
//! counts alone: a quotation coded with a child is not one of its parent's, since coders
//! who chose different levels of the codebook disagree.

use std::collections::{BTreeSet, HashMap};

use crate::error::{ServiceError, ServiceResult};
use crate::service::analysis::Coding;

/// [start, end) in code points.
type Span = (u64, u64);

/// What to compare: two coders' coding of some interviews of a study, for some codes.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub coders: (i64, i64),
    /// The interviews to compare (each once, in the order given); by default those both
    /// coders coded: an interview one of them never coded says nothing of their agreement.
    pub interviews: Option<Vec<i64>>,
    /// By default, the codes either coder used in the interviews compared.
    pub codes: Option<Vec<i64>>,
}

/// Code points of the compared transcripts by how the two coders marked them with one code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub both: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub neither: u64,
}

impl Marks {
    pub fn code_points(&self) -> u64 {
        self.both + self.only_a + self.only_b + self.neither
    }

    /// The share of code points marked alike (by both or by neither); None for none.
    pub fn percent(&self) -> Option<f64> {
        let n = self.code_points();
        (n > 0).then(|| (self.both + self.neither) as f64 / n as f64)
    }

    /// Cohen's kappa of the two coders' marks; None when chance alone agrees on every code
    /// point (neither coder used the code, or each marked all of the text with it), where it
    /// is undefined.
    pub fn kappa(&self) -> Option<f64> {
        let n = self.code_points() as f64;
        if n == 0.0 {
            return None;
        }
        let observed = (self.both + self.neither) as f64 / n;
        let a = (self.both + self.only_a) as f64 / n;
        let b = (self.both + self.only_b) as f64 / n;
        let chance = a * b + (1.0 - a) * (1.0 - b);
        (1.0 - chance > 1e-12).then(|| (observed - chance) / (1.0 - chance))
    }

    fn add(&mut self, other: Marks) {
        self.both += other.both;
        self.only_a += other.only_a;
        self.only_b += other.only_b;
        self.neither += other.neither;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodeAgreement {
    pub code_id: i64,
    /// Over every interview compared.
    pub marks: Marks,
    /// Per interview compared, in the comparison's order.
    pub by_interview: Vec<(i64, Marks)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodingAgreement {
    pub interviews: Vec<i64>,
    /// The length of the transcripts compared, together.
    pub code_points: u64,
    pub codes: Vec<CodeAgreement>,
}

/// Compares two coders' coding of a study (`coding`, loaded with the caller's rights).
pub fn compare(coding: &Coding, asked: &Comparison) -> ServiceResult<CodingAgreement> {
    let (a, b) = asked.coders;
    if a == b {
        return Err(ServiceError::bad_input(
            "`coderA` and `coderB` are the same coder: compare two",
        ));
    }
    let interviews = compared_interviews(coding, asked)?;
    let compared: BTreeSet<i64> = interviews.iter().copied().collect();
    // (interview, code) → the spans each coder marked with that code.
    let mut spans: HashMap<(i64, i64), [Vec<Span>; 2]> = HashMap::new();
    for q in &coding.quotations {
        let side = match q.coder_id {
            Some(c) if c == a => 0,
            Some(c) if c == b => 1,
            _ => continue,
        };
        if !compared.contains(&q.interview_id) {
            continue;
        }
        let span = (q.start_pos.max(0) as u64, q.end_pos.max(0) as u64);
        for &code in coding.codes_of.get(&q.id).into_iter().flatten() {
            spans.entry((q.interview_id, code)).or_default()[side].push(span);
        }
    }
    let codes = match &asked.codes {
        Some(ids) => coding.codes_or_all(Some(ids.clone()))?,
        None => {
            let book: BTreeSet<i64> = coding.codes.iter().map(|c| c.id).collect();
            spans
                .keys()
                .map(|&(_, code)| code)
                .filter(|code| book.contains(code))
                .collect::<BTreeSet<i64>>()
                .into_iter()
                .collect()
        }
    };
    let no_spans = [Vec::new(), Vec::new()];
    let codes = codes
        .into_iter()
        .map(|code_id| {
            let mut marks = Marks::default();
            let by_interview = interviews
                .iter()
                .map(|&i| {
                    let [of_a, of_b] = spans.get(&(i, code_id)).unwrap_or(&no_spans);
                    let length = length_of(coding, i);
                    let m = marks_of(of_a, of_b, length);
                    marks.add(m);
                    (i, m)
                })
                .collect();
            CodeAgreement {
                code_id,
                marks,
                by_interview,
            }
        })
        .collect();
    let code_points = interviews.iter().map(|&i| length_of(coding, i)).sum();
    Ok(CodingAgreement {
        interviews,
        code_points,
        codes,
    })
}

fn length_of(coding: &Coding, interview: i64) -> u64 {
    let length = coding.length_of_interview.get(&interview).copied();
    length.unwrap_or(0).max(0) as u64
}

/// The interviews asked for (NOT_FOUND for one outside the study), or those both coders
/// coded, by id.
fn compared_interviews(coding: &Coding, asked: &Comparison) -> ServiceResult<Vec<i64>> {
    if let Some(ids) = &asked.interviews {
        let mut seen = BTreeSet::new();
        let mut interviews = Vec::with_capacity(ids.len());
        for &id in ids {
            if !coding.case_of_interview.contains_key(&id) {
                return Err(ServiceError::not_found("interview"));
            }
            if seen.insert(id) {
                interviews.push(id);
            }
        }
        return Ok(interviews);
    }
    let coded_by = |coder: i64| -> BTreeSet<i64> {
        coding
            .quotations
            .iter()
            .filter(|q| q.coder_id == Some(coder))
            .map(|q| q.interview_id)
            .collect()
    };
    let (a, b) = asked.coders;
    Ok(coded_by(a).intersection(&coded_by(b)).copied().collect())
}

/// How two coders' spans of one code mark a transcript of `length` code points.
fn marks_of(of_a: &[Span], of_b: &[Span], length: u64) -> Marks {
    let a = union(of_a, length);
    let b = union(of_b, length);
    let both = overlap(&a, &b);
    let covered = |spans: &[Span]| spans.iter().map(|(s, e)| e - s).sum::<u64>();
    let (in_a, in_b) = (covered(&a), covered(&b));
    Marks {
        both,
        only_a: in_a - both,
        only_b: in_b - both,
        neither: length - (in_a + in_b - both),
    }
}

/// The spans merged into disjoint ones, in order, within [0, length): a coder who marked the
/// same words twice marked them once.
fn union(spans: &[Span], length: u64) -> Vec<Span> {
    let mut sorted: Vec<Span> = spans
        .iter()
        .map(|&(s, e)| (s.min(length), e.min(length)))
        .filter(|(s, e)| s < e)
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(sorted.len());
    for (s, e) in sorted {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The code points two sets of disjoint, ordered spans share.
fn overlap(a: &[Span], b: &[Span]) -> u64 {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        shared += end.saturating_sub(start);
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The same counts, code point by code point.
    fn marks_by_hand(of_a: &[(u64, u64)], of_b: &[(u64, u64)], length: u64) -> Marks {
        let marked = |spans: &[(u64, u64)], p: u64| spans.iter().any(|&(s, e)| s <= p && p < e);
        let mut m = Marks::default();
        for p in 0..length {
            match (marked(of_a, p), marked(of_b, p)) {
                (true, true) => m.both += 1,
                (true, false) => m.only_a += 1,
                (false, true) => m.only_b += 1,
                (false, false) => m.neither += 1,
            }
        }
        m
    }

    #[test]
    fn marks_equal_a_count_code_point_by_code_point() {
        let mut rng = StdRng::seed_from_u64(20261207);
        for _ in 0..2000 {
            let length = rng.random_range(1..80);
            let mut spans = || {
                (0..rng.random_range(0..5))
                    .map(|_| {
                        let s = rng.random_range(0..length + 5);
                        (s, s + rng.random_range(0..20))
                    })
                    .collect::<Vec<_>>()
            };
            let (a, b) = (spans(), spans());
            assert_eq!(
                marks_of(&a, &b, length),
                marks_by_hand(&a, &b, length),
                "{a:?} {b:?} in {length}"
            );
        }
    }

    #[test]
    fn kappa_is_cohens_on_the_two_by_two_table() {
        // 20 both, 5 only A, 10 only B, 65 neither: po = 0.85, pe = 0.25·0.30 + 0.75·0.70.
        let m = Marks {
            both: 20,
            only_a: 5,
            only_b: 10,
            neither: 65,
        };
        let chance = 0.25 * 0.30 + 0.75 * 0.70;
        assert!((m.kappa().unwrap() - (0.85 - chance) / (1.0 - chance)).abs() < 1e-12);
        assert_eq!(m.percent(), Some(0.85));
        let perfect = Marks {
            both: 30,
            neither: 70,
            ..Marks::default()
        };
        assert_eq!(perfect.kappa(), Some(1.0));
        // Neither coder used the code: they agree everywhere, by chance alone.
        let unused = Marks {
            neither: 100,
            ..Marks::default()
        };
        assert_eq!((unused.percent(), unused.kappa()), (Some(1.0), None));
        assert_eq!(Marks::default().percent(), None);
    }
}
