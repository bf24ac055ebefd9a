//! Questions analysts ask of their coding: how often each code occurs (quotations,
//! interviews, cases; descendants included) by study, case or ambito; which codes co-occur;
//! and a code × case matrix with the quotations behind each cell.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entities::{case_ambito, code, interview, quotation, study_case};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::auth::Caller;
use crate::error::ServiceResult;
use crate::service::codes::with_descendants;
use crate::service::studies::readable_study;

/// A study's coding, loaded once (five queries).
pub struct Coding {
    pub codes: Vec<code::Model>,
    pub quotations: Vec<quotation::Model>,
    /// interview → case
    pub case_of_interview: HashMap<i64, i64>,
    /// case → ambiti
    pub ambiti_of_case: HashMap<i64, Vec<i64>>,
    /// quotation → codes carried directly
    pub codes_of: HashMap<i64, BTreeSet<i64>>,
    pub case_ids: Vec<i64>,
}

impl Coding {
    pub async fn load(
        db: &DatabaseConnection,
        caller: &Caller,
        study_id: i64,
    ) -> ServiceResult<Self> {
        let study = readable_study(db, caller, study_id).await?;
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.eq(study.id))
            .all(db)
            .await?;
        let cases = study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(study.id))
            .all(db)
            .await?;
        let case_ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
        let interviews = interview::Entity::find()
            .filter(interview::Column::CaseId.is_in(case_ids.clone()))
            .all(db)
            .await?;
        let case_of_interview: HashMap<i64, i64> =
            interviews.iter().map(|i| (i.id, i.case_id)).collect();
        let quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.is_in(case_of_interview.keys().copied()))
            .all(db)
            .await?;
        let codes_of =
            super::quotations::codes_of_quotations(db, quotations.iter().map(|q| q.id)).await?;
        let mut ambiti_of_case: HashMap<i64, Vec<i64>> = HashMap::new();
        for link in case_ambito::Entity::find()
            .filter(case_ambito::Column::CaseId.is_in(case_ids.clone()))
            .all(db)
            .await?
        {
            ambiti_of_case
                .entry(link.case_id)
                .or_default()
                .push(link.ambito_id);
        }
        Ok(Self {
            codes,
            quotations,
            case_of_interview,
            ambiti_of_case,
            codes_of,
            case_ids,
        })
    }

    /// The quotations carrying `code` or one of its descendants.
    pub fn quotations_of(&self, code: i64) -> BTreeSet<i64> {
        let subtree: BTreeSet<i64> = with_descendants(&self.codes, &[code]).into_iter().collect();
        self.quotations
            .iter()
            .filter(|q| {
                self.codes_of
                    .get(&q.id)
                    .is_some_and(|cs| !cs.is_disjoint(&subtree))
            })
            .map(|q| q.id)
            .collect()
    }

    fn case_of(&self, q: &quotation::Model) -> i64 {
        self.case_of_interview[&q.interview_id]
    }

    /// The codes asked for, or all codes of the study.
    pub fn codes_or_all(&self, asked: Option<Vec<i64>>) -> Vec<i64> {
        let known: BTreeSet<i64> = self.codes.iter().map(|c| c.id).collect();
        match asked {
            Some(ids) => ids.into_iter().filter(|c| known.contains(c)).collect(),
            None => known.into_iter().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Study,
    Case,
    Ambito,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frequency {
    pub code_id: i64,
    /// The case or ambito of the row (none when grouped by study).
    pub group: Option<i64>,
    pub quotations: usize,
    pub interviews: usize,
    pub cases: usize,
}

pub fn frequencies(coding: &Coding, codes: &[i64], by: Grouping) -> Vec<Frequency> {
    let mut out = Vec::new();
    for &c in codes {
        let qs = coding.quotations_of(c);
        let tagged: Vec<&quotation::Model> = coding
            .quotations
            .iter()
            .filter(|q| qs.contains(&q.id))
            .collect();
        let mut groups: BTreeMap<Option<i64>, Vec<&quotation::Model>> = BTreeMap::new();
        for q in tagged {
            match by {
                Grouping::Study => groups.entry(None).or_default().push(q),
                Grouping::Case => groups.entry(Some(coding.case_of(q))).or_default().push(q),
                Grouping::Ambito => {
                    for a in coding
                        .ambiti_of_case
                        .get(&coding.case_of(q))
                        .into_iter()
                        .flatten()
                    {
                        groups.entry(Some(*a)).or_default().push(q);
                    }
                }
            }
        }
        if by == Grouping::Study {
            groups.entry(None).or_default();
        }
        for (group, qs) in groups {
            out.push(Frequency {
                code_id: c,
                group,
                quotations: qs.len(),
                interviews: qs
                    .iter()
                    .map(|q| q.interview_id)
                    .collect::<BTreeSet<_>>()
                    .len(),
                cases: qs
                    .iter()
                    .map(|q| coding.case_of(q))
                    .collect::<BTreeSet<_>>()
                    .len(),
            });
        }
    }
    out
}

/// For each pair of codes (a < b): quotations carrying both, plus pairs of distinct
/// overlapping quotations of one interview carrying one each. Zero cells are left out.
pub fn cooccurrence(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, usize)> {
    let sets: BTreeMap<i64, BTreeSet<i64>> = codes
        .iter()
        .map(|&c| (c, coding.quotations_of(c)))
        .collect();
    let mut by_interview: HashMap<i64, Vec<&quotation::Model>> = HashMap::new();
    for q in &coding.quotations {
        by_interview.entry(q.interview_id).or_default().push(q);
    }
    let overlapping: Vec<(i64, i64)> = by_interview
        .values()
        .flat_map(|qs| {
            let mut pairs = Vec::new();
            for (i, a) in qs.iter().enumerate() {
                for b in &qs[i + 1..] {
                    if a.start_pos < b.end_pos && b.start_pos < a.end_pos {
                        pairs.push((a.id, b.id));
                    }
                }
            }
            pairs
        })
        .collect();
    let mut out = Vec::new();
    let ids: Vec<i64> = sets.keys().copied().collect();
    for (i, &a) in ids.iter().enumerate() {
        for &b in &ids[i + 1..] {
            let (qa, qb) = (&sets[&a], &sets[&b]);
            let both = qa.intersection(qb).count();
            let across = overlapping
                .iter()
                .filter(|(x, y)| {
                    (qa.contains(x) && qb.contains(y)) || (qb.contains(x) && qa.contains(y))
                })
                .count();
            if both + across > 0 {
                out.push((a, b, both + across));
            }
        }
    }
    out
}

/// (code, case) → the quotations of that case carrying the code (or a descendant).
pub fn code_case_matrix(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, Vec<i64>)> {
    let mut out = Vec::new();
    for &c in codes {
        let qs = coding.quotations_of(c);
        for &case in &coding.case_ids {
            let cell: Vec<i64> = coding
                .quotations
                .iter()
                .filter(|q| qs.contains(&q.id) && coding.case_of(q) == case)
                .map(|q| q.id)
                .collect();
            out.push((c, case, cell));
        }
    }
    out
}
