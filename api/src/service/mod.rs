//! Domain functions: plain async functions over a connection and plain types, with the
//! validation, transactions and access rules. No GraphQL or HTTP types here.

pub mod agreement;
pub mod analysis;
pub mod anchoring;
pub mod audit;
pub mod change_log;
pub mod codes;
pub mod coding_agreement;
pub mod discontinuities;
pub mod exchange;
pub mod interviews;
pub mod labels;
pub mod members;
pub mod memos;
pub mod page;
pub mod quotations;
pub mod studies;
pub mod territory;
pub mod tokens;
pub mod transcripts;
pub mod users;
