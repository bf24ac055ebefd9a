//! Account names in NFC, trimmed, as they are now stored (`users::ensure_user`) and looked
//! up: a name stored before, typed with a combining accent ("Jose\u{301}") or with white
//! space at an end, would no longer be found by name, and a token made for it would make a
//! second account beside it.
//!
//! A name whose normal form another account already holds gets its id appended, e.g.
//! "José (17)", as clashing code names did (`m20261123_000006_code_sibling_names`): two
//! accounts stay two, and each can be named.

use std::collections::HashSet;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use unicode_normalization::UnicodeNormalization as _;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                manager.get_database_backend(),
                "SELECT id, name FROM app_user ORDER BY id",
            ))
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            users.push((
                row.try_get::<i64>("", "id")?,
                row.try_get::<String>("", "name")?,
            ));
        }
        let mut taken: HashSet<String> = users.iter().map(|(_, name)| name.clone()).collect();
        for (id, name) in users {
            let normal: String = trimmed(&name).nfc().collect();
            if normal == name || normal.is_empty() {
                continue;
            }
            let mut target = normal.clone();
            let mut n = 0;
            while taken.contains(&target) {
                target = match n {
                    0 => format!("{normal} ({id})"),
                    n => format!("{normal} ({id}.{n})"),
                };
                n += 1;
            }
            manager
                .exec_stmt(
                    Query::update()
                        .table(Alias::new("app_user"))
                        .value(Alias::new("name"), target.clone())
                        .and_where(Expr::col(Alias::new("id")).eq(id))
                        .to_owned(),
                )
                .await?;
            taken.insert(target);
        }
        Ok(())
    }

    /// Which spelling each name had is not recorded.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// As `labels::trimmed` in the api crate trims a label: white space and the invisible marks a
/// copy and paste leaves at either end.
fn trimmed(s: &str) -> &str {
    s.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
    })
}
