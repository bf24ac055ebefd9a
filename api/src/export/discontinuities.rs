//! The discontinuity matrix and a case's cascade as SVG, and the matrix as CSV.

use std::fmt::Write as _;

use super::table::{Separator, Table};
use super::xml::Within;
use entities::discontinuity;

use crate::service::discontinuities::{
    by_judge, strongest, Judgments, MatrixRow, Rows, DIMENSIONS, INTENSITIES,
};

/// Italian labels, as evaluators know the framework.
fn dimension_label(d: &str) -> &'static str {
    match d {
        "PROBLEM_DEFINITION" => "Definizione del problema",
        "INTERVENTION_THEORY" => "Teoria dell’intervento",
        "POLICY_INSTRUMENTS" => "Strumenti di policy",
        _ => "Rete di attori",
    }
}

/// A sequential palette: the more intense, the darker.
fn intensity_colour(i: Option<&str>) -> &'static str {
    match i {
        Some("NONE") => "#f0f0f0",
        Some("PARTIAL") => "#fdd49e",
        Some("SIGNIFICANT") => "#fc8d59",
        Some("PARADIGMATIC") => "#d7301f",
        _ => "#ffffff",
    }
}

fn intensity_label(i: &str) -> &'static str {
    match i {
        "NONE" => "assente",
        "PARTIAL" => "parziale",
        "SIGNIFICANT" => "significativa",
        "PARADIGMATIC" => "paradigmatica",
        _ => "",
    }
}

/// Every string the pictures show goes between tags.
fn escape(s: &str) -> String {
    super::xml::escape(s, Within::Text)
}

const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";

/// Rows × dimensions, each cell coloured by the intensity of the judgment it shows (see
/// `Cell::shown`) with its evidence count.
pub fn matrix_svg(j: &Judgments, rows: &[MatrixRow], title: &str) -> String {
    let labels: Vec<String> = rows.iter().map(|row| row_label(j, row)).collect();
    // About 7.5 px a character at 13 px Helvetica.
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_w = (longest * 15 / 2 + 30).max(200);
    let (cell_w, cell_h, top) = (150, 44, 80);
    let width = label_w + cell_w * DIMENSIONS.len() + 20;
    let height = top + cell_h * rows.len() + 90;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="13">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (n, d) in DIMENSIONS.iter().enumerate() {
        let x = label_w + n * cell_w + cell_w / 2;
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
            top - 12,
            escape(dimension_label(d))
        );
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + r * cell_h;
        let _ = write!(
            svg,
            r#"<text x="10" y="{}">{}</text>"#,
            y + cell_h / 2 + 5,
            escape(&labels[r])
        );
        for (n, cell) in row.cells.iter().enumerate() {
            let x = label_w + n * cell_w;
            let shown = cell.shown.as_ref();
            let intensity = shown.map(|d| d.intensity.as_str());
            let evidence = shown.map_or(0, |d| j.evidence.get(&d.id).map_or(0, Vec::len));
            let dash = if shown.is_none() {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            };
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{}" stroke="#999"{dash}><title>{}</title></rect>"##,
                intensity_colour(intensity),
                escape(&match shown {
                    Some(d) => format!(
                        "{}: {} ({} evidenze)",
                        dimension_label(cell.dimension),
                        intensity_label(&d.intensity),
                        evidence
                    ),
                    None => format!("{}: non valutata", dimension_label(cell.dimension)),
                })
            );
            let text = match shown {
                Some(d) => format!("{} · {} ev.", intensity_label(&d.intensity), evidence),
                None => "n.v.".to_owned(),
            };
            let ink = if intensity == Some("PARADIGMATIC") {
                "white"
            } else {
                "#222"
            };
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{ink}">{}</text>"#,
                x + cell_w / 2,
                y + cell_h / 2 + 5,
                escape(&text)
            );
        }
    }
    let legend_y = top + rows.len() * cell_h + 30;
    for (n, i) in INTENSITIES.iter().enumerate() {
        let x = 10 + n * 150;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{legend_y}" width="18" height="18" fill="{}" stroke="#999"/><text x="{}" y="{}">{}</text>"##,
            intensity_colour(Some(i)),
            x + 24,
            legend_y + 14,
            intensity_label(i)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn row_label(j: &Judgments, row: &MatrixRow) -> String {
    let case = j
        .cases
        .iter()
        .find(|c| c.id == row.case_id)
        .map_or("", |c| c.label.as_str());
    match row
        .intervention_id
        .and_then(|i| j.interventions.iter().find(|x| x.id == i))
    {
        Some(i) => format!("{case} — {}", i.label),
        None => case.to_owned(),
    }
}

/// Node ellipses of the cascade picture.
const RX: f64 = 95.0;
const RY: f64 = 42.0;

/// Distance from an ellipse's centre to its edge in the direction (ux, uy).
fn to_edge(ux: f64, uy: f64) -> f64 {
    1.0 / ((ux / RX).powi(2) + (uy / RY).powi(2)).sqrt()
}

/// The four dimensions on the policy-change cycle, each coloured by the judgment the case's
/// row of the matrix shows for it, with an arrow for every cascade link (cause → effect).
/// Unlike the matrix, a cell without a consensus stays blank rather than showing an
/// evaluator's assessment: the arrows are the consensus's links only.
pub fn cascade_svg(
    j: &Judgments,
    case_id: i64,
    links: &[(i64, i64)],
    evaluator: Option<i64>,
    title: &str,
) -> String {
    let (w, h) = (640, 520);
    let positions = [(320, 90), (540, 260), (320, 430), (100, 260)];
    let judge = by_judge(evaluator);
    let judged = |dim: &str| {
        let here: Vec<&discontinuity::Model> = j
            .all
            .iter()
            .filter(|d| d.case_id == case_id && d.dimension == dim && judge(d))
            .collect();
        strongest(Rows::Case, &here)
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" {FONT} font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs><rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-weight="bold">{}</text>"##,
        escape(title)
    );
    let dim_of = |id: i64| {
        j.all
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.dimension.as_str())
    };
    let index = |dim: &str| DIMENSIONS.iter().position(|d| *d == dim);
    let mut pairs: Vec<(usize, usize)> = links
        .iter()
        .filter_map(|&(c, e)| Some((index(dim_of(c)?)?, index(dim_of(e)?)?)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    for (a, b) in pairs {
        let ((x1, y1), (x2, y2)) = (positions[a], positions[b]);
        // Stop short of the nodes' edges; bend opposite arrows apart.
        let (dx, dy) = ((x2 - x1) as f64, (y2 - y1) as f64);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Leave each node at its edge, a few pixels out, so the arrowhead shows.
        let gap = to_edge(ux, uy) + 6.0;
        let (sx, sy) = (x1 as f64 + ux * gap, y1 as f64 + uy * gap);
        let (ex, ey) = (x2 as f64 - ux * gap, y2 as f64 - uy * gap);
        let (mx, my) = ((sx + ex) / 2.0 - uy * 30.0, (sy + ey) / 2.0 + ux * 30.0);
        let _ = write!(
            svg,
            r##"<path d="M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}" fill="none" stroke="#444" stroke-width="2" marker-end="url(#arrow)"/>"##
        );
    }
    for (n, dim) in DIMENSIONS.iter().enumerate() {
        let (x, y) = positions[n];
        let d = judged(dim);
        let evidence = d.map_or(0, |d| j.evidence.get(&d.id).map_or(0, Vec::len));
        let ink = if d.is_some_and(|d| d.intensity == "PARADIGMATIC") {
            "white"
        } else {
            "#222"
        };
        let _ = write!(
            svg,
            r##"<ellipse cx="{x}" cy="{y}" rx="{RX}" ry="{RY}" fill="{}" stroke="#666" stroke-width="1.5"/><text x="{x}" y="{}" text-anchor="middle" font-weight="bold" fill="{ink}">{}</text><text x="{x}" y="{}" text-anchor="middle" fill="{ink}">{}</text>"##,
            intensity_colour(d.map(|d| d.intensity.as_str())),
            y - 4,
            escape(dimension_label(dim)),
            y + 14,
            escape(&match d {
                Some(d) => format!("{} · {} ev.", intensity_label(&d.intensity), evidence),
                None => "non valutata".to_owned(),
            })
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The matrix as CSV: one line per judgment of each cell, every consensus judgment (in a case
/// row the whole case's and each intervention's) and the assessments shown.
pub fn matrix_csv(
    j: &Judgments,
    rows: &[MatrixRow],
    separator: Separator,
) -> Result<String, csv::Error> {
    let mut out = Table::new(separator);
    out.row([
        "case",
        "intervention",
        "dimension",
        "intensity",
        "kind",
        "covid_effect",
        "evidence_count",
        "evaluator",
        "consensus",
    ])?;
    for row in rows {
        let case = j
            .cases
            .iter()
            .find(|c| c.id == row.case_id)
            .map_or("", |c| c.label.as_str());
        for cell in &row.cells {
            for d in cell.all_consensus.iter().chain(&cell.assessments) {
                let intervention = d
                    .intervention_id
                    .and_then(|i| j.interventions.iter().find(|x| x.id == i))
                    .map_or("", |i| i.label.as_str());
                let evaluator = j.evaluators.get(&d.evaluator_id).map_or("", String::as_str);
                let evidence = j.evidence.get(&d.id).map_or(0, Vec::len).to_string();
                out.row([
                    case,
                    intervention,
                    cell.dimension,
                    d.intensity.as_str(),
                    d.kind.as_deref().unwrap_or(""),
                    d.covid_effect.as_deref().unwrap_or(""),
                    evidence.as_str(),
                    evaluator,
                    if d.is_consensus { "true" } else { "false" },
                ])?;
            }
        }
    }
    out.finish()
}
