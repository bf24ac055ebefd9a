//! The initial schema. Written out table by table (not derived from the entities) so that it
//! stays fixed once released, whatever the entities become.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order: every foreign key points to a table created before it.
const TABLES: &[&str] = &[
    "app_user",
    "ambito",
    "ambito_succession",
    "ente_gestore",
    "ambito_membership",
    "comune",
    "project",
    "project_partner",
    "project_ambito",
    "study",
    "study_case",
    "case_ambito",
    "case_project",
    "intervention",
    "interview",
    "code",
    "quotation",
    "quotation_code",
    "discontinuity",
    "discontinuity_evidence",
    "discontinuity_cause",
    "study_member",
    "api_token",
    "change_log",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("app_user")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("name"))
                    .col(boolean("is_admin"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_app_user_name")
                    .table("app_user")
                    .col("name")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("ambito")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("code"))
                    .col(string("name"))
                    .col(date_null("valid_from"))
                    .col(date_null("valid_until"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_ambito_code")
                    .table("ambito")
                    .col("code")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("ambito_succession")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("predecessor_id"))
                    .col(big_integer("successor_id"))
                    .col(string("kind"))
                    .col(date_null("effective_on"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ambito_succession_predecessor_id")
                            .from("ambito_succession", "predecessor_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ambito_succession_successor_id")
                            .from("ambito_succession", "successor_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_ambito_succession_predecessor_id")
                    .table("ambito_succession")
                    .col("predecessor_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_ambito_succession_successor_id")
                    .table("ambito_succession")
                    .col("successor_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("ente_gestore")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("acronym"))
                    .col(string_null("name"))
                    .col(string("legal_form"))
                    .col(string_null("seat"))
                    .col(integer_null("population"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("ambito_membership")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("ambito_id"))
                    .col(big_integer("ente_id"))
                    .col(date_null("valid_from"))
                    .col(date_null("valid_until"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ambito_membership_ambito_id")
                            .from("ambito_membership", "ambito_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ambito_membership_ente_id")
                            .from("ambito_membership", "ente_id")
                            .to("ente_gestore", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_ambito_membership_ambito_id")
                    .table("ambito_membership")
                    .col("ambito_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_ambito_membership_ente_id")
                    .table("ambito_membership")
                    .col("ente_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("comune")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("name"))
                    .col(integer_null("population"))
                    .col(big_integer_null("ente_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comune_ente_id")
                            .from("comune", "ente_id")
                            .to("ente_gestore", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_comune_ente_id")
                    .table("comune")
                    .col("ente_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("title"))
                    .col(string_null("programme"))
                    .col(big_integer_null("lead_ente_id"))
                    .col(big_integer_null("funding_cents"))
                    .col(integer_null("population"))
                    .col(date_null("started_on"))
                    .col(date_null("ended_on"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_lead_ente_id")
                            .from("project", "lead_ente_id")
                            .to("ente_gestore", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project_partner")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("ente_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_partner_project_id")
                            .from("project_partner", "project_id")
                            .to("project", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_partner_ente_id")
                            .from("project_partner", "ente_id")
                            .to("ente_gestore", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_project_partner_project_id_ente_id")
                    .table("project_partner")
                    .col("project_id")
                    .col("ente_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project_ambito")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("project_id"))
                    .col(big_integer("ambito_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_ambito_project_id")
                            .from("project_ambito", "project_id")
                            .to("project", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_project_ambito_ambito_id")
                            .from("project_ambito", "ambito_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_project_ambito_project_id_ambito_id")
                    .table("project_ambito")
                    .col("project_id")
                    .col("ambito_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("study")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("title"))
                    .col(text("authors"))
                    .col(integer_null("year"))
                    .col(text("research_questions"))
                    .col(boolean("is_public"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("study_case")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("study_id"))
                    .col(string("label"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_study_case_study_id")
                            .from("study_case", "study_id")
                            .to("study", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_study_case_study_id")
                    .table("study_case")
                    .col("study_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("case_ambito")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("case_id"))
                    .col(big_integer("ambito_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_case_ambito_case_id")
                            .from("case_ambito", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_case_ambito_ambito_id")
                            .from("case_ambito", "ambito_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_case_ambito_case_id_ambito_id")
                    .table("case_ambito")
                    .col("case_id")
                    .col("ambito_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("case_project")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("case_id"))
                    .col(big_integer("project_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_case_project_case_id")
                            .from("case_project", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_case_project_project_id")
                            .from("case_project", "project_id")
                            .to("project", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_case_project_case_id_project_id")
                    .table("case_project")
                    .col("case_id")
                    .col("project_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("intervention")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("case_id"))
                    .col(string("label"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_intervention_case_id")
                            .from("intervention", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_intervention_case_id")
                    .table("intervention")
                    .col("case_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("interview")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("case_id"))
                    .col(string("label"))
                    .col(date_null("conducted_on"))
                    .col(string_null("interviewee_role"))
                    .col(string("language"))
                    .col(text("transcript"))
                    .col(integer("length"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_interview_case_id")
                            .from("interview", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_interview_case_id")
                    .table("interview")
                    .col("case_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("code")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("study_id"))
                    .col(big_integer_null("parent_id"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(string_null("color"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_code_study_id")
                            .from("code", "study_id")
                            .to("study", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_code_parent_id")
                            .from("code", "parent_id")
                            .to("code", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_code_study_id")
                    .table("code")
                    .col("study_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_code_parent_id")
                    .table("code")
                    .col("parent_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("quotation")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("interview_id"))
                    .col(integer("start_pos"))
                    .col(integer("end_pos"))
                    .col(text_null("memo"))
                    .col(big_integer_null("coder_id"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_quotation_interview_id")
                            .from("quotation", "interview_id")
                            .to("interview", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_quotation_coder_id")
                            .from("quotation", "coder_id")
                            .to("app_user", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_quotation_interview_id_start_pos")
                    .table("quotation")
                    .col("interview_id")
                    .col("start_pos")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("quotation_code")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("quotation_id"))
                    .col(big_integer("code_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_quotation_code_quotation_id")
                            .from("quotation_code", "quotation_id")
                            .to("quotation", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_quotation_code_code_id")
                            .from("quotation_code", "code_id")
                            .to("code", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_quotation_code_quotation_id_code_id")
                    .table("quotation_code")
                    .col("quotation_id")
                    .col("code_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_quotation_code_code_id")
                    .table("quotation_code")
                    .col("code_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("discontinuity")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("case_id"))
                    .col(big_integer_null("intervention_id"))
                    .col(big_integer("intervention_key"))
                    .col(string("dimension"))
                    .col(string("intensity"))
                    .col(string_null("kind"))
                    .col(text_null("description"))
                    .col(string_null("covid_effect"))
                    .col(big_integer("evaluator_id"))
                    .col(big_integer("evaluator_slot"))
                    .col(boolean("is_consensus"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_case_id")
                            .from("discontinuity", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_intervention_id")
                            .from("discontinuity", "intervention_id")
                            .to("intervention", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_evaluator_id")
                            .from("discontinuity", "evaluator_id")
                            .to("app_user", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_discontinuity_case_id_intervention_key_dimension_evaluator_slot")
                    .table("discontinuity")
                    .col("case_id")
                    .col("intervention_key")
                    .col("dimension")
                    .col("evaluator_slot")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("discontinuity_evidence")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("discontinuity_id"))
                    .col(big_integer("quotation_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_evidence_discontinuity_id")
                            .from("discontinuity_evidence", "discontinuity_id")
                            .to("discontinuity", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_evidence_quotation_id")
                            .from("discontinuity_evidence", "quotation_id")
                            .to("quotation", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_discontinuity_evidence_discontinuity_id_quotation_id")
                    .table("discontinuity_evidence")
                    .col("discontinuity_id")
                    .col("quotation_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_discontinuity_evidence_quotation_id")
                    .table("discontinuity_evidence")
                    .col("quotation_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("discontinuity_cause")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("effect_id"))
                    .col(big_integer("cause_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_cause_effect_id")
                            .from("discontinuity_cause", "effect_id")
                            .to("discontinuity", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_discontinuity_cause_cause_id")
                            .from("discontinuity_cause", "cause_id")
                            .to("discontinuity", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_discontinuity_cause_effect_id_cause_id")
                    .table("discontinuity_cause")
                    .col("effect_id")
                    .col("cause_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("study_member")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("study_id"))
                    .col(big_integer("user_id"))
                    .col(string("role"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_study_member_study_id")
                            .from("study_member", "study_id")
                            .to("study", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_study_member_user_id")
                            .from("study_member", "user_id")
                            .to("app_user", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_study_member_study_id_user_id")
                    .table("study_member")
                    .col("study_id")
                    .col("user_id")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ix_study_member_user_id")
                    .table("study_member")
                    .col("user_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_token")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string("token_hash"))
                    .col(string_null("label"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_token_user_id")
                            .from("api_token", "user_id")
                            .to("app_user", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_api_token_token_hash")
                    .table("api_token")
                    .col("token_hash")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("change_log")
                    .if_not_exists()
                    .col(big_pk_auto("seq"))
                    .col(string("entity"))
                    .col(big_integer("entity_id"))
                    .col(string("op"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
