//! The last foreign keys without an index, found by the test that now reads every foreign key
//! from the schema (`api::db`): a judgment's causes seen from the cause (deleting a judgment
//! cascades to the judgments naming it as a cause), a study's memos (export, deletion of a
//! study), a user's tokens.

use crate::single_column_indexes::Migration;

pub(crate) const MIGRATION: Migration = Migration {
    name: "m20261206_000009_foreign_key_indexes",
    indexes: &[
        (
            "ix_discontinuity_cause_cause_id",
            "discontinuity_cause",
            "cause_id",
        ),
        ("ix_memo_study_id", "memo", "study_id"),
        ("ix_api_token_user_id", "api_token", "user_id"),
    ],
};
