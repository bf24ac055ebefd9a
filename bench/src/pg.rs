//! W7's alternative: PostgreSQL full-text search as a user would build it — the `italian`
//! configuration, a stored generated tsvector, a GIN index, ts_rank and ts_headline — on the
//! same passages, in a scratch database that is dropped afterwards.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};

use api::search::passages;

use crate::corpus::Interview;
use crate::raw::{BenchQuery, Shape};

pub struct PgFts {
    admin_url: String,
    name: String,
    pub db: DatabaseConnection,
}

/// Rows per INSERT (6 parameters each, under PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 1_000;

impl PgFts {
    /// Creates the scratch database and the table (the index comes after loading, as a bulk
    /// load would do it).
    pub async fn create(base: &str) -> anyhow::Result<Self> {
        let name = format!("quaderno_bench_{}", std::process::id());
        let admin = Database::connect(base.to_owned()).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let (prefix, _) = base
            .rsplit_once('/')
            .ok_or_else(|| anyhow::anyhow!("{base} names no database"))?;
        let db = Database::connect(format!("{prefix}/{name}")).await?;
        db.execute_unprepared(
            "CREATE TABLE passage (
                id bigserial PRIMARY KEY,
                interview_id bigint NOT NULL,
                case_id bigint NOT NULL,
                start_cp int NOT NULL,
                end_cp int NOT NULL,
                body text NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('italian', body)) STORED
            )",
        )
        .await?;
        Ok(Self {
            admin_url: base.to_owned(),
            name,
            db,
        })
    }

    /// Loads the passages of these interviews; returns the rows written.
    pub async fn load(&self, interviews: impl Iterator<Item = Interview>) -> anyhow::Result<usize> {
        let mut rows: Vec<Value> = Vec::new();
        let mut n = 0;
        for i in interviews {
            for p in passages::split(&i.transcript) {
                rows.extend([
                    Value::from(i.number as i64 + 1),
                    Value::from(i.case as i64 + 1),
                    Value::from(p.start as i32),
                    Value::from(p.end as i32),
                    Value::from(p.text),
                ]);
                n += 1;
                if rows.len() >= ROWS_PER_INSERT * 5 {
                    self.insert(std::mem::take(&mut rows)).await?;
                }
            }
        }
        if !rows.is_empty() {
            self.insert(rows).await?;
        }
        Ok(n)
    }

    async fn insert(&self, values: Vec<Value>) -> anyhow::Result<()> {
        let rows = values.len() / 5;
        let mut sql = String::from(
            "INSERT INTO passage (interview_id, case_id, start_cp, end_cp, body) VALUES ",
        );
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            let b = r * 5;
            sql.push_str(&format!(
                "(${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
        }
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        Ok(())
    }

    pub async fn build_index(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("CREATE INDEX passage_tsv ON passage USING GIN (tsv)")
            .await?;
        self.db
            .execute_unprepared("CREATE INDEX passage_case ON passage (case_id)")
            .await?;
        self.db.execute_unprepared("ANALYZE passage").await?;
        Ok(())
    }

    /// The tsquery expression for a benchmark query.
    fn tsquery(q: &BenchQuery) -> (String, String) {
        match &q.shape {
            Shape::Words(w) => ("plainto_tsquery('italian', $1)".into(), w.join(" ")),
            Shape::Or(a, b) => ("to_tsquery('italian', $1)".into(), format!("{a} | {b}")),
            Shape::Phrase(p) => ("phraseto_tsquery('italian', $1)".into(), (*p).into()),
            Shape::Prefix(p) => ("to_tsquery('italian', $1)".into(), format!("{p}:*")),
        }
    }

    /// Top 20 by ts_rank with ts_headline snippets, the total, and (faceted) counts per case
    /// and interview; returns the total.
    pub async fn search(&self, q: &BenchQuery) -> anyhow::Result<usize> {
        let (tsq, arg) = Self::tsquery(q);
        let case = q
            .case
            .map(|c| format!(" AND case_id = {c}"))
            .unwrap_or_default();
        let top = format!(
            "SELECT id, interview_id, start_cp, end_cp, rank,
                    ts_headline('italian', body, q, 'MaxFragments=1') AS snippet
             FROM (SELECT p.id, p.interview_id, p.start_cp, p.end_cp, p.body, q,
                          ts_rank(p.tsv, q) AS rank
                   FROM passage p, {tsq} q
                   WHERE p.tsv @@ q{case}
                   ORDER BY rank DESC LIMIT 20) t
             ORDER BY rank DESC"
        );
        let stmt = |sql: String| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, [Value::from(arg.clone())])
        };
        self.db.query_all_raw(stmt(top)).await?;
        let count = self
            .db
            .query_one_raw(stmt(format!(
                "SELECT count(*) AS n FROM passage p, {tsq} q WHERE p.tsv @@ q{case}"
            )))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if q.facets {
            for col in ["case_id", "interview_id"] {
                self.db
                    .query_all_raw(stmt(format!(
                        "SELECT {col}, count(*) FROM passage p, {tsq} q WHERE p.tsv @@ q{case} GROUP BY {col}"
                    )))
                    .await?;
            }
        }
        Ok(count as usize)
    }

    /// Bytes of the table with its indexes.
    pub async fn size(&self) -> anyhow::Result<u64> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_total_relation_size('passage') AS n",
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0) as u64)
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.db.close().await?;
        let admin = Database::connect(self.admin_url).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        admin.close().await?;
        Ok(())
    }
}

/// Times a closure's future.
pub async fn timed<T, F: std::future::Future<Output = T>>(f: F) -> (T, Duration) {
    let t = Instant::now();
    let out = f.await;
    (out, t.elapsed())
}
