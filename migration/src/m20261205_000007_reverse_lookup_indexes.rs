//! Indexes for the lookups that go from the other end of a reference: a user's quotations,
//! memos and judgments (is a user visible to the caller), an ambito's cases and projects, an
//! ente's projects, a project's cases, an intervention's judgments. The unique indexes on the
//! link tables lead with the other column, and PostgreSQL does not index foreign keys by
//! itself, so each of these scanned its whole table.

use crate::single_column_indexes::Migration;

pub(crate) const MIGRATION: Migration = Migration {
    name: "m20261205_000007_reverse_lookup_indexes",
    indexes: &[
        ("ix_quotation_coder_id", "quotation", "coder_id"),
        ("ix_memo_author_id", "memo", "author_id"),
        (
            "ix_discontinuity_evaluator_id",
            "discontinuity",
            "evaluator_id",
        ),
        (
            "ix_discontinuity_intervention_id",
            "discontinuity",
            "intervention_id",
        ),
        ("ix_case_ambito_ambito_id", "case_ambito", "ambito_id"),
        ("ix_case_project_project_id", "case_project", "project_id"),
        ("ix_project_lead_ente_id", "project", "lead_ente_id"),
        ("ix_project_partner_ente_id", "project_partner", "ente_id"),
        ("ix_project_ambito_ambito_id", "project_ambito", "ambito_id"),
    ],
};
