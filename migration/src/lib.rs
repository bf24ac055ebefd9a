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
            Box::new(m20261205_000007_reverse_lookup_indexes::Migration),
            Box::new(m20261205_000008_ambito_names::Migration),
        ]
    }
}
