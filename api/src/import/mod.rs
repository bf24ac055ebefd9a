//! Getting data in from files researchers already hold. Reading a file is pure (bytes in,
//! text or a clear `BadInput` out) and happens before any write, so that one bad file in a
//! batch leaves the database untouched.

pub mod cli;
pub mod docx;
pub mod transcripts;
