//! The database model of quaderno, as plain sea-orm entities.
//!
//! Entities carry no GraphQL or HTTP types: the `api` crate maps them. Relations are
//! resolved by foreign-key columns in batched queries (DataLoaders), so no `Relation`
//! variants are declared.

pub mod ambito;
pub mod ambito_membership;
pub mod ambito_name;
pub mod ambito_succession;
pub mod api_token;
pub mod app_user;
pub mod audit_log;
pub mod case_ambito;
pub mod case_project;
pub mod change_log;
pub mod code;
pub mod comune;
pub mod discontinuity;
pub mod discontinuity_cause;
pub mod discontinuity_evidence;
pub mod ente_gestore;
pub mod intervention;
pub mod interview;
pub mod memo;
pub mod project;
pub mod project_ambito;
pub mod project_partner;
pub mod quotation;
pub mod quotation_code;
pub mod retired_judgment;
pub mod study;
pub mod study_case;
pub mod study_member;
