//! Questions analysts ask of their coding: how often each code occurs (quotations,
//! interviews, cases; descendants included) by study, case or ambito; which codes co-occur;
//! and a code × case matrix with the quotations behind each cell.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use entities::{case_ambito, code, interview, quotation, quotation_code, study_case};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::Caller;
use crate::db::RequestDb;
use crate::error::{ServiceError, ServiceResult};
use crate::service::codes::Codebook;
use crate::service::studies::readable_study;

/// A study's coding, loaded once (seven queries, in one snapshot).
pub struct Coding {
    pub codes: Vec<code::Model>,
    pub quotations: Vec<quotation::Model>,
    /// interview → case
    pub case_of_interview: HashMap<i64, i64>,
    /// interview → its transcript's length in code points
    pub length_of_interview: HashMap<i64, i64>,
    /// The interviewees' roles, each once, in order.
    pub roles: Vec<String>,
    /// interview → its interviewee's role, as an index into `roles` (none without a role)
    pub role_of_interview: HashMap<i64, usize>,
    /// case → ambiti
    pub ambiti_of_case: HashMap<i64, Vec<i64>>,
    /// quotation → codes carried directly
    pub codes_of: HashMap<i64, BTreeSet<i64>>,
    pub case_ids: Vec<i64>,
}

/// `SELECT id FROM study_case WHERE study_id = ?`. A study's rows are selected through
/// subqueries like this one rather than by listing their ids: a big study has more
/// interviews or quotations than a statement binds (see `db::IDS_PER_STATEMENT`).
pub(crate) fn cases_of_study(study_id: i64) -> SelectStatement {
    Query::select()
        .column(study_case::Column::Id)
        .from(study_case::Entity)
        .and_where(study_case::Column::StudyId.eq(study_id))
        .to_owned()
}

pub(crate) fn interviews_of_study(study_id: i64) -> SelectStatement {
    Query::select()
        .column(interview::Column::Id)
        .from(interview::Entity)
        .and_where(interview::Column::CaseId.in_subquery(cases_of_study(study_id)))
        .to_owned()
}

pub(crate) fn quotations_of_study(study_id: i64) -> SelectStatement {
    Query::select()
        .column(quotation::Column::Id)
        .from(quotation::Entity)
        .and_where(quotation::Column::InterviewId.in_subquery(interviews_of_study(study_id)))
        .to_owned()
}

/// quotation → the codes it carries, for every quotation of a study.
pub(crate) async fn codes_of_study_quotations<C: ConnectionTrait>(
    db: &C,
    study_id: i64,
) -> ServiceResult<HashMap<i64, BTreeSet<i64>>> {
    let mut codes_of: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    let links: Vec<(i64, i64)> = quotation_code::Entity::find()
        .select_only()
        .column(quotation_code::Column::QuotationId)
        .column(quotation_code::Column::CodeId)
        .filter(quotation_code::Column::QuotationId.in_subquery(quotations_of_study(study_id)))
        .into_tuple()
        .all(db)
        .await?;
    for (quotation_id, code_id) in links {
        codes_of.entry(quotation_id).or_default().insert(code_id);
    }
    Ok(codes_of)
}

impl Coding {
    pub async fn load(db: &RequestDb, caller: &Caller, study_id: i64) -> ServiceResult<Self> {
        // One snapshot: a quotation read must belong to an interview read, and carry codes
        // of the codebook read.
        let snapshot = db.one_snapshot();
        let study = readable_study(&snapshot, caller, study_id).await?;
        // Ordered by id throughout, so that lists and cells built from these rows come out in
        // the same order whatever order the database keeps its rows in.
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.eq(study.id))
            .order_by_asc(code::Column::Id)
            .all(&snapshot)
            .await?;
        let case_ids: Vec<i64> = study_case::Entity::find()
            .select_only()
            .column(study_case::Column::Id)
            .filter(study_case::Column::StudyId.eq(study.id))
            .order_by_asc(study_case::Column::Id)
            .into_tuple()
            .all(&snapshot)
            .await?;
        // Transcripts are not needed here, and are most of an interview's bytes.
        let interviews: Vec<(i64, i64, i32, Option<String>)> = interview::Entity::find()
            .select_only()
            .column(interview::Column::Id)
            .column(interview::Column::CaseId)
            .column(interview::Column::Length)
            .column(interview::Column::IntervieweeRole)
            .filter(interview::Column::CaseId.in_subquery(cases_of_study(study.id)))
            .order_by_asc(interview::Column::Id)
            .into_tuple()
            .all(&snapshot)
            .await?;
        let case_of_interview = interviews.iter().map(|&(i, c, ..)| (i, c)).collect();
        let length_of_interview = interviews
            .iter()
            .map(|&(i, _, length, _)| (i, i64::from(length)))
            .collect();
        let (roles, role_of_interview) =
            roles(interviews.into_iter().map(|(i, _, _, role)| (i, role)));
        let quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.in_subquery(interviews_of_study(study.id)))
            .order_by_asc(quotation::Column::Id)
            .all(&snapshot)
            .await?;
        let codes_of = codes_of_study_quotations(&snapshot, study.id).await?;
        let mut ambiti_of_case: HashMap<i64, Vec<i64>> = HashMap::new();
        for link in case_ambito::Entity::find()
            .filter(case_ambito::Column::CaseId.in_subquery(cases_of_study(study.id)))
            .all(&snapshot)
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
            length_of_interview,
            roles,
            role_of_interview,
            ambiti_of_case,
            codes_of,
            case_ids,
        })
    }

    /// For each quotation (in order), the codes among `asked` it counts for: those it
    /// carries and their ancestors, as a code counts with its descendants. Ascending.
    fn counted_codes(&self, asked: &BTreeSet<i64>) -> Vec<Vec<i64>> {
        let book = Codebook::new(self.codes.clone());
        let mut lineage: HashMap<i64, Vec<i64>> = HashMap::new();
        self.quotations
            .iter()
            .map(|q| {
                let mut counted: Vec<i64> = Vec::new();
                for &carried in self.codes_of.get(&q.id).into_iter().flatten() {
                    let line = lineage.entry(carried).or_insert_with(|| {
                        book.lineage(carried)
                            .map(|c| c.id)
                            .filter(|c| asked.contains(c))
                            .collect()
                    });
                    counted.extend_from_slice(line);
                }
                counted.sort_unstable();
                counted.dedup();
                counted
            })
            .collect()
    }

    fn case_of(&self, q: &quotation::Model) -> i64 {
        self.case_of_interview[&q.interview_id]
    }

    /// The group of an interview's role (`Grouping::IntervieweeRole`).
    fn role_group(&self, interview_id: i64) -> Option<i64> {
        self.role_of_interview.get(&interview_id).map(|&r| r as i64)
    }

    /// The codes asked for (each once, in the order first asked), or all codes of the study.
    /// A code of another study answers as a missing one, so that nothing tells a code of a
    /// study the caller may not read from a code that does not exist; dropping it instead
    /// would answer with counts that look like zero.
    pub fn codes_or_all(&self, asked: Option<Vec<i64>>) -> ServiceResult<Vec<i64>> {
        let known: BTreeSet<i64> = self.codes.iter().map(|c| c.id).collect();
        let Some(ids) = asked else {
            return Ok(known.into_iter().collect());
        };
        let mut seen = BTreeSet::new();
        let mut codes = Vec::with_capacity(ids.len());
        for id in ids {
            if !known.contains(&id) {
                return Err(ServiceError::not_found("code"));
            }
            if seen.insert(id) {
                codes.push(id);
            }
        }
        Ok(codes)
    }

    /// Pairs (a < b) of the codes asked for where one is an ancestor of the other. Such a
    /// pair co-occurs by construction, as a code counts with its descendants: every
    /// quotation of the child would be reported as co-occurring with the parent.
    fn lineage_pairs(&self, asked: &BTreeSet<i64>) -> HashSet<(i64, i64)> {
        let book = Codebook::new(self.codes.clone());
        let mut pairs = HashSet::new();
        for &c in asked {
            for a in book.lineage(c).skip(1).map(|a| a.id) {
                if a != c && asked.contains(&a) {
                    pairs.insert((a.min(c), a.max(c)));
                }
            }
        }
        pairs
    }

    /// code → the quotations counting for it (descendants included), in quotation order.
    fn quotations_by_code(&self, codes: &[i64]) -> HashMap<i64, Vec<&quotation::Model>> {
        let asked: BTreeSet<i64> = codes.iter().copied().collect();
        let mut by_code: HashMap<i64, Vec<&quotation::Model>> = HashMap::new();
        for (q, counted) in self.quotations.iter().zip(self.counted_codes(&asked)) {
            for c in counted {
                by_code.entry(c).or_default().push(q);
            }
        }
        by_code
    }
}

/// The distinct roles of `(interview, role)`, in order, and each interview's index into
/// them.
pub(crate) fn roles(
    interviews: impl IntoIterator<Item = (i64, Option<String>)>,
) -> (Vec<String>, HashMap<i64, usize>) {
    let interviews: Vec<(i64, Option<String>)> = interviews.into_iter().collect();
    let roles: Vec<String> = interviews
        .iter()
        .filter_map(|(_, r)| r.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let role_of = interviews
        .into_iter()
        .filter_map(|(i, r)| Some((i, roles.binary_search(&r?).ok()?)))
        .collect();
    (roles, role_of)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Study,
    Case,
    Ambito,
    /// By the interviewee's role, an index into `Coding::roles`; none for interviews
    /// without one.
    IntervieweeRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frequency {
    pub code_id: i64,
    /// The case or ambito of the row, or the index of its role in `Coding::roles` (none when
    /// grouped by study, or for the interviews without a role).
    pub group: Option<i64>,
    pub quotations: usize,
    pub interviews: usize,
    pub cases: usize,
}

/// Every group a code gets a row in, with no quotations or not: the study; each case of the
/// study; each ambito of those cases. A front end comparing cases or ambiti then finds every
/// one of them, as in `code_case_matrix`, rather than having to tell a group with no
/// quotations from a group it was not sent.
fn all_groups(coding: &Coding, by: Grouping) -> BTreeSet<Option<i64>> {
    match by {
        Grouping::Study => BTreeSet::from([None]),
        Grouping::Case => coding.case_ids.iter().copied().map(Some).collect(),
        Grouping::Ambito => coding
            .ambiti_of_case
            .values()
            .flatten()
            .copied()
            .map(Some)
            .collect(),
        Grouping::IntervieweeRole => coding
            .case_of_interview
            .keys()
            .map(|i| coding.role_group(*i))
            .collect(),
    }
}

pub fn frequencies(coding: &Coding, codes: &[i64], by: Grouping) -> Vec<Frequency> {
    let by_code = coding.quotations_by_code(codes);
    let every_group = all_groups(coding, by);
    let mut out = Vec::new();
    for &c in codes {
        let tagged = by_code.get(&c).map_or(&[][..], Vec::as_slice);
        let mut groups: BTreeMap<Option<i64>, Vec<&quotation::Model>> =
            every_group.iter().map(|&g| (g, Vec::new())).collect();
        for &q in tagged {
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
                Grouping::IntervieweeRole => groups
                    .entry(coding.role_group(q.interview_id))
                    .or_default()
                    .push(q),
            }
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
/// overlapping quotations of one interview carrying one each. Zero cells are left out, and
/// so are pairs of a code and its ancestor (see `Coding::lineage_pairs`).
pub fn cooccurrence(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, usize)> {
    let asked: BTreeSet<i64> = codes.iter().copied().collect();
    let lineage = coding.lineage_pairs(&asked);
    let counted = coding.counted_codes(&asked);
    let mut cells: HashMap<(i64, i64), usize> = HashMap::new();
    for cs in &counted {
        for (i, &a) in cs.iter().enumerate() {
            for &b in &cs[i + 1..] {
                *cells.entry((a, b)).or_default() += 1;
            }
        }
    }
    // Quotations counting for no asked code pair with nothing.
    let mut by_interview: HashMap<i64, Vec<usize>> = HashMap::new();
    for (n, q) in coding.quotations.iter().enumerate() {
        if !counted[n].is_empty() {
            by_interview.entry(q.interview_id).or_default().push(n);
        }
    }
    let mut pairs: Vec<(i64, i64)> = Vec::new();
    for mut qs in by_interview.into_values() {
        let q = |n: usize| &coding.quotations[n];
        qs.sort_unstable_by_key(|&n| q(n).start_pos);
        for (i, &x) in qs.iter().enumerate() {
            // By start: the first quotation starting at or past x's end ends the overlaps.
            for &y in qs[i + 1..]
                .iter()
                .take_while(|&&y| q(y).start_pos < q(x).end_pos)
            {
                if q(x).start_pos >= q(y).end_pos {
                    continue;
                }
                // One pair of quotations counts once for a pair of codes, whichever
                // carries which.
                pairs.clear();
                for &a in &counted[x] {
                    for &b in &counted[y] {
                        if a != b {
                            pairs.push((a.min(b), a.max(b)));
                        }
                    }
                }
                pairs.sort_unstable();
                pairs.dedup();
                for &pair in &pairs {
                    *cells.entry(pair).or_default() += 1;
                }
            }
        }
    }
    let mut out: Vec<(i64, i64, usize)> = cells
        .into_iter()
        .filter(|(pair, _)| !lineage.contains(pair))
        .map(|((a, b), n)| (a, b, n))
        .collect();
    out.sort_unstable();
    out
}

/// (code, case) → the quotations of that case carrying the code (or a descendant).
pub fn code_case_matrix(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, Vec<i64>)> {
    let mut cells: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
    for (c, qs) in coding.quotations_by_code(codes) {
        for q in qs {
            cells.entry((c, coding.case_of(q))).or_default().push(q.id);
        }
    }
    // In the order they were made, a descendant's quotations among the code's own.
    for ids in cells.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    let mut out = Vec::with_capacity(codes.len() * coding.case_ids.len());
    for &c in codes {
        for &case in &coding.case_ids {
            out.push((c, case, cells.get(&(c, case)).cloned().unwrap_or_default()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::codes::Codebook;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The counts as first written: every code against every quotation, every pair of codes
    /// against every overlapping pair. Slow, and plainly right.
    mod reference {
        use super::*;

        pub fn quotations_of(coding: &Coding, code: i64) -> BTreeSet<i64> {
            let subtree: BTreeSet<i64> = Codebook::new(coding.codes.clone())
                .subtree(&[code])
                .into_iter()
                .collect();
            coding
                .quotations
                .iter()
                .filter(|q| {
                    coding
                        .codes_of
                        .get(&q.id)
                        .is_some_and(|cs| !cs.is_disjoint(&subtree))
                })
                .map(|q| q.id)
                .collect()
        }

        pub fn frequencies(coding: &Coding, codes: &[i64], by: Grouping) -> Vec<Frequency> {
            let mut out = Vec::new();
            for &c in codes {
                let qs = quotations_of(coding, c);
                // Every group has its row, with quotations or not.
                let mut groups: BTreeMap<Option<i64>, Vec<&quotation::Model>> = BTreeMap::new();
                match by {
                    Grouping::Study => {
                        groups.insert(None, Vec::new());
                    }
                    Grouping::Case => {
                        for &case in &coding.case_ids {
                            groups.insert(Some(case), Vec::new());
                        }
                    }
                    Grouping::Ambito => {
                        for &a in coding.ambiti_of_case.values().flatten() {
                            groups.insert(Some(a), Vec::new());
                        }
                    }
                    Grouping::IntervieweeRole => {
                        for i in coding.case_of_interview.keys() {
                            let role = coding.role_of_interview.get(i).map(|&r| r as i64);
                            groups.insert(role, Vec::new());
                        }
                    }
                }
                for q in coding.quotations.iter().filter(|q| qs.contains(&q.id)) {
                    match by {
                        Grouping::Study => groups.entry(None).or_default().push(q),
                        Grouping::Case => {
                            groups.entry(Some(coding.case_of(q))).or_default().push(q)
                        }
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
                        Grouping::IntervieweeRole => {
                            let role = coding
                                .role_of_interview
                                .get(&q.interview_id)
                                .map(|&r| r as i64);
                            groups.entry(role).or_default().push(q);
                        }
                    }
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

        pub fn cooccurrence(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, usize)> {
            let sets: BTreeMap<i64, BTreeSet<i64>> = codes
                .iter()
                .map(|&c| (c, quotations_of(coding, c)))
                .collect();
            let qs = &coding.quotations;
            let mut overlapping = Vec::new();
            for (i, a) in qs.iter().enumerate() {
                for b in &qs[i + 1..] {
                    if a.interview_id == b.interview_id
                        && a.start_pos < b.end_pos
                        && b.start_pos < a.end_pos
                    {
                        overlapping.push((a.id, b.id));
                    }
                }
            }
            let mut out = Vec::new();
            let ids: Vec<i64> = sets.keys().copied().collect();
            let below = |c: i64| -> BTreeSet<i64> {
                Codebook::new(coding.codes.clone())
                    .subtree(&[c])
                    .into_iter()
                    .collect()
            };
            for (i, &a) in ids.iter().enumerate() {
                for &b in &ids[i + 1..] {
                    // A code and its ancestor co-occur by construction: left out.
                    if below(a).contains(&b) || below(b).contains(&a) {
                        continue;
                    }
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

        pub fn code_case_matrix(coding: &Coding, codes: &[i64]) -> Vec<(i64, i64, Vec<i64>)> {
            let mut out = Vec::new();
            for &c in codes {
                let qs = quotations_of(coding, c);
                for &case in &coding.case_ids {
                    let cell = coding
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
    }

    /// A study with nested codes (now and then a code whose parent is outside the codebook,
    /// or a cycle the rules should have prevented), quotations piled on a few short
    /// transcripts so that many overlap, some carrying codes of another codebook.
    fn random_coding(rng: &mut StdRng) -> Coding {
        let now = chrono::Utc::now();
        let n_codes = rng.random_range(1..12);
        let mut codes: Vec<code::Model> = (0..n_codes)
            .map(|n| code::Model {
                id: 100 + n,
                study_id: 1,
                parent_id: (n > 0 && rng.random_bool(0.6))
                    .then(|| 100 + rng.random_range(0..n))
                    .or_else(|| rng.random_bool(0.05).then_some(999)),
                name: format!("codice {n}"),
                color: None,
                description: None,
                created_at: now,
                version: 1,
            })
            .collect();
        if n_codes > 2 && rng.random_bool(0.05) {
            codes[0].parent_id = Some(100 + n_codes - 1);
        }
        let case_ids: Vec<i64> = (0..rng.random_range(1..4)).map(|c| 10 + c).collect();
        let mut case_of_interview = HashMap::new();
        let mut roles_asked = Vec::new();
        for i in 0..rng.random_range(1..6) {
            case_of_interview.insert(1000 + i, case_ids[rng.random_range(0..case_ids.len())]);
            let role = ["dirigente", "assistente sociale", "educatrice"][rng.random_range(0..3)];
            roles_asked.push((1000 + i, rng.random_bool(0.8).then(|| role.to_owned())));
        }
        let (roles, role_of_interview) = super::roles(roles_asked);
        let interviews: Vec<i64> = case_of_interview.keys().copied().collect();
        let mut ambiti_of_case: HashMap<i64, Vec<i64>> = HashMap::new();
        for &c in &case_ids {
            for a in 0..rng.random_range(0..3) {
                ambiti_of_case.entry(c).or_default().push(500 + a);
            }
        }
        let mut quotations = Vec::new();
        let mut codes_of: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for n in 0..rng.random_range(0..40) {
            let start = rng.random_range(0..30);
            let q = quotation::Model {
                id: 5000 + n,
                interview_id: interviews[rng.random_range(0..interviews.len())],
                start_pos: start,
                end_pos: start + rng.random_range(0..12),
                memo: None,
                coder_id: None,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let carried: BTreeSet<i64> = (0..rng.random_range(0..4))
                .map(|_| {
                    if rng.random_bool(0.05) {
                        7777
                    } else {
                        100 + rng.random_range(0..n_codes)
                    }
                })
                .collect();
            if !carried.is_empty() {
                codes_of.insert(q.id, carried);
            }
            quotations.push(q);
        }
        Coding {
            codes,
            quotations,
            length_of_interview: case_of_interview.keys().map(|&i| (i, 1_000)).collect(),
            roles,
            role_of_interview,
            case_of_interview,
            ambiti_of_case,
            codes_of,
            case_ids,
        }
    }

    #[test]
    fn counts_equal_the_code_by_code_reference_on_random_studies() {
        let mut rng = StdRng::seed_from_u64(20261123);
        for round in 0..3000 {
            let coding = random_coding(&mut rng);
            let asked = rng.random_bool(0.5).then(|| {
                let n = coding.codes.len() as i64;
                // Now and then twice the same code, or one outside the codebook.
                (0..rng.random_range(0..8))
                    .map(|_| {
                        if rng.random_bool(0.05) {
                            [98, 99, 100 + n][rng.random_range(0..3)]
                        } else {
                            100 + rng.random_range(0..n)
                        }
                    })
                    .collect()
            });
            let codes = match coding.codes_or_all(asked.clone()) {
                Ok(codes) => codes,
                Err(e) => {
                    // Refused only for a code outside the codebook.
                    assert!(matches!(e, ServiceError::NotFound(ref w) if w == "code"));
                    let asked: Vec<i64> = asked.unwrap();
                    assert!(
                        asked
                            .iter()
                            .any(|a| coding.codes.iter().all(|c| c.id != *a)),
                        "round {round}"
                    );
                    continue;
                }
            };
            if let Some(asked) = &asked {
                let unique: BTreeSet<&i64> = asked.iter().collect();
                assert_eq!(codes.len(), unique.len(), "round {round}: each code once");
            }
            for by in [
                Grouping::Study,
                Grouping::Case,
                Grouping::Ambito,
                Grouping::IntervieweeRole,
            ] {
                assert_eq!(
                    frequencies(&coding, &codes, by),
                    reference::frequencies(&coding, &codes, by),
                    "round {round}, {by:?}"
                );
            }
            assert_eq!(
                cooccurrence(&coding, &codes),
                reference::cooccurrence(&coding, &codes),
                "round {round}"
            );
            assert_eq!(
                code_case_matrix(&coding, &codes),
                reference::code_case_matrix(&coding, &codes),
                "round {round}"
            );
        }
    }
}
