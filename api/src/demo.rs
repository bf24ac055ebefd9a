//! The demo dataset (`api/demo/`), loaded into an empty database on first start through the
//! same service functions the API calls. Facts come from the research reports; transcripts,
//! quotations and judgments are our own writing.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _};
use chrono::NaiveDate;
use entities::{ambito, study};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde::Deserialize;

use crate::auth::{Caller, CallerUser, StudyRole};
use crate::db::{begin_write, Writable};
use crate::service::members::grant_role;
use crate::service::users::ensure_user;
use crate::service::{codes, discontinuities, interviews, quotations, studies, territory};

const TERRITORY: &str = include_str!("../demo/territory.json");
const PROJECTS: &str = include_str!("../demo/projects.json");
const STUDIES: &str = include_str!("../demo/studies.json");
const CODEBOOK: &str = include_str!("../demo/codebook.json");
const INTERVIEWS: &str = include_str!("../demo/interviews.json");
const DISCONTINUITIES: &str = include_str!("../demo/discontinuities.json");
/// (file stem, transcript, quotations)
const TRANSCRIPTS: &[(&str, &str, &str)] = &[
    (
        "int01",
        include_str!("../demo/transcripts/int01.txt"),
        include_str!("../demo/quotations/int01.json"),
    ),
    (
        "int02",
        include_str!("../demo/transcripts/int02.txt"),
        include_str!("../demo/quotations/int02.json"),
    ),
    (
        "int03",
        include_str!("../demo/transcripts/int03.txt"),
        include_str!("../demo/quotations/int03.json"),
    ),
    (
        "int04",
        include_str!("../demo/transcripts/int04.txt"),
        include_str!("../demo/quotations/int04.json"),
    ),
    (
        "int05",
        include_str!("../demo/transcripts/int05.txt"),
        include_str!("../demo/quotations/int05.json"),
    ),
    (
        "int06",
        include_str!("../demo/transcripts/int06.txt"),
        include_str!("../demo/quotations/int06.json"),
    ),
    (
        "int07",
        include_str!("../demo/transcripts/int07.txt"),
        include_str!("../demo/quotations/int07.json"),
    ),
    (
        "int08",
        include_str!("../demo/transcripts/int08.txt"),
        include_str!("../demo/quotations/int08.json"),
    ),
    (
        "int09",
        include_str!("../demo/transcripts/int09.txt"),
        include_str!("../demo/quotations/int09.json"),
    ),
    (
        "int10",
        include_str!("../demo/transcripts/int10.txt"),
        include_str!("../demo/quotations/int10.json"),
    ),
    (
        "int11",
        include_str!("../demo/transcripts/int11.txt"),
        include_str!("../demo/quotations/int11.json"),
    ),
    (
        "int12",
        include_str!("../demo/transcripts/int12.txt"),
        include_str!("../demo/quotations/int12.json"),
    ),
    (
        "int13",
        include_str!("../demo/transcripts/int13.txt"),
        include_str!("../demo/quotations/int13.json"),
    ),
    (
        "int14",
        include_str!("../demo/transcripts/int14.txt"),
        include_str!("../demo/quotations/int14.json"),
    ),
    (
        "int15",
        include_str!("../demo/transcripts/int15.txt"),
        include_str!("../demo/quotations/int15.json"),
    ),
    (
        "int16",
        include_str!("../demo/transcripts/int16.txt"),
        include_str!("../demo/quotations/int16.json"),
    ),
];

/// The study whose interviews, codebook and judgments the demo carries.
const CODED_STUDY: &str = "004";
/// Who records the consensus (the demo study's owner).
pub const OWNER: &str = "curatrice";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Territory {
    ambiti: Vec<AmbitoRow>,
    successions: Vec<SuccessionRow>,
    enti: Vec<EnteRow>,
    memberships: Vec<MembershipRow>,
    comuni: Vec<ComuneRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmbitoRow {
    code: String,
    name: String,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
    #[serde(default)]
    earlier_names: Vec<NameRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameRow {
    name: String,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

#[derive(Deserialize)]
struct SuccessionRow {
    from: String,
    to: String,
    kind: String,
    on: Option<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnteRow {
    key: String,
    acronym: String,
    name: Option<String>,
    legal_form: String,
    seat: Option<String>,
    population: Option<i32>,
}

#[derive(Deserialize)]
struct MembershipRow {
    ambito: String,
    ente: String,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
}

#[derive(Deserialize)]
struct ComuneRow {
    name: String,
    population: Option<i32>,
    ente: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRow {
    key: String,
    title: String,
    programme: Option<String>,
    lead: Option<String>,
    #[serde(default)]
    partners: Vec<String>,
    funding_eur: Option<String>,
    population: Option<i32>,
    started_on: Option<NaiveDate>,
    ended_on: Option<NaiveDate>,
    #[serde(default)]
    ambiti: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StudyRow {
    key: String,
    title: String,
    #[serde(default)]
    authors: Vec<String>,
    year: Option<i32>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    research_questions: Vec<String>,
    cases: Vec<CaseRow>,
}

#[derive(Deserialize)]
struct CaseRow {
    key: String,
    label: String,
    #[serde(default)]
    ambiti: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    interventions: Vec<String>,
}

#[derive(Deserialize)]
struct CodeRow {
    name: String,
    color: Option<String>,
    description: Option<String>,
    #[serde(default)]
    children: Vec<CodeRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InterviewRow {
    label: String,
    study: String,
    case: String,
    file: String,
    conducted_on: Option<NaiveDate>,
    interviewee_role: Option<String>,
}

#[derive(Deserialize)]
struct QuotationRow {
    key: String,
    text: String,
    occurrence: Option<usize>,
    codes: Vec<String>,
    memo: Option<String>,
    coder: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JudgmentRow {
    case: String,
    intervention: Option<String>,
    dimension: String,
    intensity: String,
    kind: Option<String>,
    covid_effect: Option<String>,
    description: Option<String>,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    causes: Vec<String>,
    evaluator: String,
}

/// Loads the demo dataset unless the database already holds studies or ambiti. It loads in
/// one transaction: a first start killed while loading leaves the database empty, and the
/// next start loads the demo again, rather than finding part of it and keeping that.
pub async fn load_if_empty(db: &DatabaseConnection) -> anyhow::Result<()> {
    let txn = begin_write(db).await?;
    if study::Entity::find().count(&txn).await? > 0 || ambito::Entity::find().count(&txn).await? > 0
    {
        return Ok(());
    }
    tracing::info!("empty database: loading the demo dataset");
    load(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// A caller acting as a named demo user, with the roles given.
async fn act_as(
    db: &impl ConnectionTrait,
    name: &str,
    roles: &[(i64, StudyRole)],
) -> anyhow::Result<Caller> {
    let user = ensure_user(db, name).await?;
    for &(study_id, role) in roles {
        grant_role(db, user.id, study_id, role).await?;
    }
    Ok(Caller {
        user: Some(CallerUser {
            id: user.id,
            name: user.name,
            is_admin: false,
            roles: roles.iter().copied().collect(),
        }),
    })
}

/// Code-point offsets of the n-th (1-based) occurrence of `needle` in `haystack`.
fn find_span(haystack: &str, needle: &str, occurrence: usize) -> Option<(i64, i64)> {
    let (b, _) = haystack
        .match_indices(needle)
        .nth(occurrence.checked_sub(1)?)?;
    let start = crate::text::cp_offset(haystack, b);
    Some((start as i64, (start + crate::text::char_len(needle)) as i64))
}

/// The id a demo file's key stands for, once created.
fn id_of<K>(ids: &HashMap<K, i64>, key: &K, what: &str) -> anyhow::Result<i64>
where
    K: std::hash::Hash + Eq + std::fmt::Debug,
{
    ids.get(key)
        .copied()
        .ok_or_else(|| anyhow!("unknown {what} {key:?}"))
}

/// The ids of what the demo files name by key, filled in as they are created: later files
/// refer to earlier ones (a case to its projects, a quotation to its codes...).
#[derive(Default)]
struct Ids {
    ambiti: HashMap<String, i64>,
    enti: HashMap<String, i64>,
    projects: HashMap<String, i64>,
    studies: HashMap<String, i64>,
    /// By (study key, case key).
    cases: HashMap<(String, String), i64>,
    /// By (case key, intervention label).
    interventions: HashMap<(String, String), i64>,
    /// By path ("Parent/Child").
    codes: HashMap<String, i64>,
    quotations: HashMap<String, i64>,
}

/// Who works on the coded study besides its owner, by the names the demo files use.
struct Team {
    owner: Caller,
    /// Coders, by name; "valutatrice-b" also judges.
    coders: HashMap<String, Caller>,
    /// Evaluator A, whose judgments are the consensus's.
    evaluator_a: Caller,
}

async fn load(db: &impl Writable) -> anyhow::Result<()> {
    let mut ids = Ids::default();
    load_territory(db, &mut ids).await?;
    let mut owner = act_as(db, OWNER, &[]).await?;
    load_studies(db, &mut owner, &mut ids).await?;
    let coded = id_of(&ids.studies, &CODED_STUDY.to_owned(), "study")?;
    load_codebook(db, &owner, coded, &mut ids).await?;
    let team = Team {
        coders: HashMap::from([
            (
                "analista".to_owned(),
                act_as(db, "analista", &[(coded, StudyRole::Analyst)]).await?,
            ),
            (
                "valutatrice-b".to_owned(),
                act_as(db, "valutatrice-b", &[(coded, StudyRole::Owner)]).await?,
            ),
        ]),
        evaluator_a: act_as(db, "valutatrice-a", &[(coded, StudyRole::Evaluator)]).await?,
        owner,
    };
    load_interviews(db, &team, &mut ids).await?;
    let judgments = load_judgments(db, &team, &ids).await?;
    tracing::info!(
        studies = ids.studies.len(),
        quotations = ids.quotations.len(),
        judgments,
        "demo dataset loaded"
    );
    Ok(())
}

/// Ambiti (with their earlier names and successions), enti, memberships, comuni and
/// projects.
async fn load_territory(db: &impl Writable, ids: &mut Ids) -> anyhow::Result<()> {
    let territory: Territory = serde_json::from_str(TERRITORY).context("territory.json")?;
    let projects: Vec<ProjectRow> = serde_json::from_str(PROJECTS).context("projects.json")?;
    let txn = begin_write(db).await?;
    for a in &territory.ambiti {
        let m =
            territory::create_ambito(&txn, &a.code, &a.name, a.valid_from, a.valid_until).await?;
        for n in &a.earlier_names {
            territory::add_ambito_name(&txn, m.id, &n.name, n.valid_from, n.valid_until).await?;
        }
        ids.ambiti.insert(a.code.clone(), m.id);
    }
    let ambito = |ids: &Ids, code: &String| id_of(&ids.ambiti, code, "ambito");
    let ente = |ids: &Ids, key: &String| id_of(&ids.enti, key, "ente");
    for s in &territory.successions {
        let (from, to) = (ambito(ids, &s.from)?, ambito(ids, &s.to)?);
        territory::add_succession(&txn, from, to, &s.kind, s.on).await?;
    }
    for e in territory.enti {
        let m = territory::create_ente(
            &txn,
            territory::NewEnte {
                acronym: e.acronym,
                name: e.name,
                legal_form: e.legal_form,
                seat: e.seat,
                population: e.population,
            },
        )
        .await?;
        ids.enti.insert(e.key, m.id);
    }
    for m in &territory.memberships {
        let (a, e) = (ambito(ids, &m.ambito)?, ente(ids, &m.ente)?);
        territory::add_membership(&txn, a, e, m.from, m.until).await?;
    }
    for c in &territory.comuni {
        let e = c.ente.as_ref().map(|k| ente(ids, k)).transpose()?;
        territory::create_comune(&txn, &c.name, c.population, e).await?;
    }
    for p in projects {
        let m = territory::create_project(
            &txn,
            territory::NewProject {
                title: p.title,
                programme: p.programme,
                lead_ente_id: p.lead.as_ref().map(|k| ente(ids, k)).transpose()?,
                partner_ids: p
                    .partners
                    .iter()
                    .map(|k| ente(ids, k))
                    .collect::<Result<_, _>>()?,
                funding_cents: p
                    .funding_eur
                    .as_deref()
                    .map(territory::parse_euro_cents)
                    .transpose()?,
                population: p.population,
                started_on: p.started_on,
                ended_on: p.ended_on,
                ambito_ids: p
                    .ambiti
                    .iter()
                    .map(|c| ambito(ids, c))
                    .collect::<Result<_, _>>()?,
            },
        )
        .await?;
        ids.projects.insert(p.key, m.id);
    }
    txn.commit().await?;
    Ok(())
}

/// Studies with their cases and interventions, created by their owner, who becomes the
/// owner of each.
async fn load_studies(db: &impl Writable, owner: &mut Caller, ids: &mut Ids) -> anyhow::Result<()> {
    let study_rows: Vec<StudyRow> = serde_json::from_str(STUDIES).context("studies.json")?;
    for s in study_rows {
        let m = studies::create_study(
            db,
            owner,
            studies::NewStudy {
                title: s.title,
                authors: s.authors,
                year: s.year,
                research_questions: s.research_questions,
                is_public: s.public,
            },
        )
        .await?;
        if let Some(u) = owner.user.as_mut() {
            u.roles.insert(m.id, StudyRole::Owner);
        }
        for c in s.cases {
            let case = studies::create_case(
                db,
                owner,
                studies::NewCase {
                    study_id: m.id,
                    label: c.label,
                    ambito_codes: c.ambiti,
                    project_ids: c
                        .projects
                        .iter()
                        .map(|k| id_of(&ids.projects, k, "project"))
                        .collect::<Result<_, _>>()?,
                },
            )
            .await?;
            for label in c.interventions {
                let i = studies::create_intervention(db, owner, case.id, &label).await?;
                ids.interventions.insert((c.key.clone(), label), i.id);
            }
            ids.cases.insert((s.key.clone(), c.key), case.id);
        }
        ids.studies.insert(s.key, m.id);
    }
    Ok(())
}

/// The coded study's codebook, parents before their children.
async fn load_codebook(
    db: &impl Writable,
    owner: &Caller,
    study_id: i64,
    ids: &mut Ids,
) -> anyhow::Result<()> {
    let tree: Vec<CodeRow> = serde_json::from_str(CODEBOOK).context("codebook.json")?;
    let mut stack: Vec<(Option<(String, i64)>, CodeRow)> =
        tree.into_iter().rev().map(|c| (None, c)).collect();
    while let Some((parent, row)) = stack.pop() {
        let c = codes::create_code(
            db,
            owner,
            codes::NewCode {
                study_id,
                name: row.name.clone(),
                parent_id: parent.as_ref().map(|p| p.1),
                description: row.description,
                color: row.color,
            },
        )
        .await?;
        let path = match &parent {
            Some((p, _)) => format!("{p}/{}", row.name),
            None => row.name,
        };
        for child in row.children.into_iter().rev() {
            stack.push((Some((path.clone(), c.id)), child));
        }
        ids.codes.insert(path, c.id);
    }
    Ok(())
}

/// Interviews with their transcripts, and each one's quotations by their coders.
async fn load_interviews(db: &impl Writable, team: &Team, ids: &mut Ids) -> anyhow::Result<()> {
    let interview_rows: Vec<InterviewRow> =
        serde_json::from_str(INTERVIEWS).context("interviews.json")?;
    for row in interview_rows {
        let stem = row.file.trim_end_matches(".txt");
        let &(_, transcript, quotes) = TRANSCRIPTS
            .iter()
            .find(|t| t.0 == stem)
            .ok_or_else(|| anyhow!("no transcript {}", row.file))?;
        let interview = interviews::create_interview(
            db,
            &team.owner,
            interviews::NewInterview {
                case_id: id_of(&ids.cases, &(row.study, row.case), "case")?,
                label: row.label,
                transcript: transcript.to_owned(),
                conducted_on: row.conducted_on,
                interviewee_role: row.interviewee_role,
                language: "it".into(),
            },
        )
        .await?;
        let quotes: Vec<QuotationRow> =
            serde_json::from_str(quotes).with_context(|| format!("quotations of {stem}"))?;
        for q in quotes {
            let (start, end) = find_span(transcript, &q.text, q.occurrence.unwrap_or(1))
                .ok_or_else(|| anyhow!("quotation {} is not in {stem}", q.key))?;
            let coder = q.coder.as_deref().unwrap_or("analista");
            let coder = team
                .coders
                .get(coder)
                .ok_or_else(|| anyhow!("unknown coder {coder} for {}", q.key))?;
            let code_ids = q
                .codes
                .iter()
                .map(|p| id_of(&ids.codes, p, "code"))
                .collect::<Result<_, _>>()?;
            let m = quotations::create_quotation(
                db,
                coder,
                quotations::NewQuotation {
                    interview_id: interview.id,
                    start,
                    end,
                    code_ids,
                    memo: q.memo,
                    interview_version: None,
                },
            )
            .await?;
            ids.quotations.insert(q.key, m.quotation.id);
        }
    }
    Ok(())
}

/// The judgments: the consensus (also recorded as evaluator A's own view) and evaluator
/// B's. Each is tagged once all those it follows from exist. Returns how many were tagged.
async fn load_judgments(db: &impl Writable, team: &Team, ids: &Ids) -> anyhow::Result<usize> {
    let judgments: Vec<JudgmentRow> =
        serde_json::from_str(DISCONTINUITIES).context("discontinuities.json")?;
    // (judge, case, intervention, dimension) → the judgment's id.
    let mut tagged: HashMap<(String, String, Option<String>, String), i64> = HashMap::new();
    let mut pending: Vec<(&JudgmentRow, &Caller, bool, &str)> = Vec::new();
    for j in &judgments {
        match j.evaluator.as_str() {
            "consensus" => {
                pending.push((j, &team.owner, true, "consensus"));
                pending.push((j, &team.evaluator_a, false, "valutatrice-a"));
            }
            name => pending.push((
                j,
                team.coders
                    .get(name)
                    .ok_or_else(|| anyhow!("unknown evaluator {name}"))?,
                false,
                name,
            )),
        }
    }
    while !pending.is_empty() {
        let before = pending.len();
        let mut later = Vec::new();
        for (j, caller, consensus, who) in pending {
            let key = |dim: &str| {
                (
                    who.to_owned(),
                    j.case.clone(),
                    j.intervention.clone(),
                    dim.to_owned(),
                )
            };
            let causes: Option<Vec<i64>> = j
                .causes
                .iter()
                .map(|d| tagged.get(&key(d)).copied())
                .collect();
            let Some(cause_ids) = causes else {
                later.push((j, caller, consensus, who));
                continue;
            };
            let intervention_id = j
                .intervention
                .as_ref()
                .map(|label| {
                    id_of(
                        &ids.interventions,
                        &(j.case.clone(), label.clone()),
                        "intervention",
                    )
                })
                .transpose()?;
            let d = discontinuities::tag(
                db,
                caller,
                discontinuities::Tag {
                    case_id: id_of(
                        &ids.cases,
                        &(CODED_STUDY.to_owned(), j.case.clone()),
                        "case",
                    )?,
                    intervention_id,
                    dimension: j.dimension.clone(),
                    intensity: j.intensity.clone(),
                    kind: j.kind.clone(),
                    description: j.description.clone(),
                    covid_effect: j.covid_effect.clone(),
                    evidence_quotation_ids: j
                        .evidence
                        .iter()
                        .map(|k| id_of(&ids.quotations, k, "evidence"))
                        .collect::<Result<_, _>>()?,
                    cause_ids,
                    consensus,
                    expected_version: None,
                },
            )
            .await?;
            tagged.insert(key(&j.dimension), d.id);
        }
        if later.len() == before {
            bail!("discontinuities.json has causes that are never judged or form a cycle");
        }
        pending = later;
    }
    Ok(tagged.len())
}
