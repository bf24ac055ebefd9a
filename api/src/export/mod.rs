//! Downloads: pictures (SVG) and tables (CSV) built from service data. Pure functions of
//! their inputs; the HTTP layer checks access and serves them.

pub mod discontinuities;
pub mod project_description;
pub mod qdpx;
pub mod quotations_csv;
mod table;

pub use table::Separator;
mod xml;
