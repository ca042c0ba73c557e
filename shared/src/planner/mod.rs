//! Planner: the site's keywords — importing them from keyword-tool exports.

pub mod import;

pub use import::{parse_keywords_csv, ImportError, ImportReport, KeywordImporter, RowError};
