//! Schema migrations, applied at start-up (`quaderno migrate`, or implicitly by `serve`).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_init;
mod m20261123_000002_memos;
mod m20261123_000003_audit_log;
mod m20261123_000004_interview_source;
mod m20261123_000005_transcript_last;
mod m20261123_000006_code_sibling_names;
mod m20261205_000007_reverse_lookup_indexes;
mod m20261205_000008_ambito_names;
mod m20261206_000009_foreign_key_indexes;
mod m20261206_000010_user_removal;
mod m20261207_000011_retired_judgments;
mod m20261208_000012_code_versions;
mod m20261208_000013_user_names_nfc;
mod single_column_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_init::Migration),
            Box::new(m20261123_000002_memos::Migration),
            Box::new(m20261123_000003_audit_log::Migration),
            Box::new(m20261123_000004_interview_source::Migration),
            Box::new(m20261123_000005_transcript_last::Migration),
            Box::new(m20261123_000006_code_sibling_names::Migration),
            Box::new(m20261205_000007_reverse_lookup_indexes::MIGRATION),
            Box::new(m20261205_000008_ambito_names::Migration),
            Box::new(m20261206_000009_foreign_key_indexes::MIGRATION),
            Box::new(m20261206_000010_user_removal::Migration),
            Box::new(m20261207_000011_retired_judgments::Migration),
            Box::new(m20261208_000012_code_versions::Migration),
            Box::new(m20261208_000013_user_names_nfc::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration table records names: each must stay its file's name, also where it is
    /// written by hand rather than derived (`single_column_indexes`), and none may repeat.
    #[test]
    fn every_migration_is_named_after_its_file() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for name in &names {
            assert!(src.join(format!("{name}.rs")).is_file(), "{name}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, names, "in file order, each once");
    }
}
