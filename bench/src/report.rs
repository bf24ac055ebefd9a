//! Results: one row per measurement, with its baseline, the ratio and the goal.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub metric: String,
    pub value: String,
    pub baseline: String,
    pub ratio: String,
    pub goal: String,
    /// None when there is no goal, or no baseline to judge by.
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// Checks that do not depend on timing (the smoke test asserts them).
    /// W3: queries whose hit counts differ between GraphQL and the raw searcher.
    pub mismatches: Vec<String>,
    /// W4: responses with errors, all levels.
    pub errors: usize,
    /// W5: (rows, fewest, most) SQL statements per nested read.
    pub statements: Vec<(usize, u64, u64)>,
    /// W2: index segments after the single edits.
    pub segments_after_edits: Option<u64>,
}

impl Report {
    pub fn row(
        &mut self,
        workload: &str,
        metric: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut Row {
        self.rows.push(Row {
            workload: workload.to_owned(),
            metric: metric.into(),
            value: value.into(),
            baseline: String::new(),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        });
        let row = self.rows.last_mut().expect("just pushed");
        eprintln!("  {} {}: {}", row.workload, row.metric, row.value);
        row
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    /// The results as a Markdown table (what BENCHMARKS.md quotes).
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| workload | metric | quaderno | baseline | ratio | goal | met |\n|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.workload, r.metric, r.value, r.baseline, r.ratio, r.goal, met
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "\n- {n}");
        }
        for m in &self.mismatches {
            let _ = writeln!(out, "\n- **hit counts differ**: {m}");
        }
        out
    }
}

impl Row {
    pub fn baseline(&mut self, b: impl Into<String>) -> &mut Self {
        self.baseline = b.into();
        self
    }
    pub fn ratio(&mut self, r: f64) -> &mut Self {
        self.ratio = format!("{r:.2}×");
        self
    }
    pub fn goal(&mut self, g: impl Into<String>, met: bool) -> &mut Self {
        self.goal = g.into();
        self.met = Some(met);
        self
    }
}

/// Latency samples.
#[derive(Debug, Default, Clone)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Nearest-rank percentile (p in 0..=100).
    pub fn pct(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.0.clone();
        v.sort();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// "p50 / p95 / p99" in milliseconds.
    pub fn spread(&self) -> String {
        format!(
            "{} / {} / {}",
            ms(self.pct(50.0)),
            ms(self.pct(95.0)),
            ms(self.pct(99.0))
        )
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = Samples((1..=100).map(Duration::from_millis).collect());
        assert_eq!(s.pct(50.0), Duration::from_millis(50));
        assert_eq!(s.pct(99.0), Duration::from_millis(99));
        assert_eq!(s.pct(100.0), Duration::from_millis(100));
        assert_eq!(
            Samples(vec![Duration::from_millis(3)]).pct(99.0),
            Duration::from_millis(3)
        );
    }
}
