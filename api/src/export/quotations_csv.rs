//! Tables of a study's coding as CSV: every quotation with its context, and the code × case
//! matrix (quotations per cell, a code counting with its descendants as `codeCaseMatrix` does).
//! Texts are written as stored, but for the guard against formulas (`table`); offsets are code
//! points.

use std::collections::{HashMap, HashSet};

use super::table::{Separator, Table};
use crate::service::codes::Codebook;
use crate::service::exchange::StudyContent;

pub fn quotations_csv(content: &StudyContent, separator: Separator) -> Result<String, csv::Error> {
    let mut out = Table::new(separator);
    out.row([
        "study",
        "case",
        "interview",
        "start",
        "end",
        "text",
        "codes",
        "coder",
        "memo",
        "notes",
    ])?;
    let cases: HashMap<i64, &str> = content
        .cases
        .iter()
        .map(|c| (c.id, c.label.as_str()))
        .collect();
    let interviews: HashMap<i64, &entities::interview::Model> =
        content.interviews.iter().map(|i| (i.id, i)).collect();
    // The memos written on each quotation (`createMemo`), oldest first, each with its author:
    // a team's discussion of a quotation, which a report made from the table needs as much
    // as the quotation's own memo.
    let mut memos: Vec<&entities::memo::Model> = content
        .memos
        .iter()
        .filter(|m| m.target_kind == "quotation")
        .collect();
    memos.sort_by_key(|m| m.id);
    let mut notes: HashMap<i64, Vec<String>> = HashMap::new();
    for m in memos {
        let author = m
            .author_id
            .and_then(|u| content.users.get(&u))
            .map_or("", |u| u.name.as_str());
        notes
            .entry(m.target_id)
            .or_default()
            .push(format!("{author}: {}", m.text));
    }
    let book = Codebook::new(content.codes.clone());
    let mut paths: Vec<String> = Vec::new();
    for q in &content.quotations {
        let Some(i) = interviews.get(&q.interview_id) else {
            continue;
        };
        let text = crate::text::slice(&i.transcript, q.start_pos as usize, q.end_pos as usize)
            .unwrap_or_default();
        paths.clear();
        paths.extend(
            content
                .codes_of
                .get(&q.id)
                .into_iter()
                .flatten()
                .map(|c| book.path(*c)),
        );
        paths.sort();
        let coder = q
            .coder_id
            .and_then(|u| content.users.get(&u))
            .map_or("", |u| u.name.as_str());
        out.row([
            content.study.title.as_str(),
            cases.get(&i.case_id).copied().unwrap_or_default(),
            i.label.as_str(),
            &q.start_pos.to_string(),
            &q.end_pos.to_string(),
            text,
            &paths.join("; "),
            coder,
            q.memo.as_deref().unwrap_or_default(),
            &notes.get(&q.id).map_or(String::new(), |n| n.join("\n\n")),
        ])?;
    }
    out.finish()
}

/// One row per code (by path), one column per case (by number), quotation counts in the cells.
pub fn code_case_matrix_csv(
    content: &StudyContent,
    separator: Separator,
) -> Result<String, csv::Error> {
    let mut out = Table::new(separator);
    let mut header = vec!["code".to_owned()];
    header.extend(content.cases.iter().map(|c| c.label.clone()));
    out.row(&header)?;
    let case_of_interview: HashMap<i64, i64> = content
        .interviews
        .iter()
        .map(|i| (i.id, i.case_id))
        .collect();
    let book = Codebook::new(content.codes.clone());
    // One pass over the quotations: each counts once for every code it carries and every
    // ancestor of those, in its case.
    let mut counts: HashMap<(i64, i64), usize> = HashMap::new();
    for q in &content.quotations {
        let Some(&case) = case_of_interview.get(&q.interview_id) else {
            continue;
        };
        let under: HashSet<i64> = content
            .codes_of
            .get(&q.id)
            .into_iter()
            .flatten()
            .flat_map(|&c| book.lineage(c).map(|a| a.id))
            .collect();
        for code in under {
            *counts.entry((code, case)).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, i64)> = content
        .codes
        .iter()
        .map(|c| (book.path(c.id), c.id))
        .collect();
    rows.sort();
    for (path, code) in rows {
        let mut record = vec![path];
        record.extend(
            content
                .cases
                .iter()
                .map(|c| counts.get(&(code, c.id)).copied().unwrap_or(0).to_string()),
        );
        out.row(&record)?;
    }
    out.finish()
}
