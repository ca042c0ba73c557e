//! Planner: the site's keywords — importing them from keyword-tool exports — and
//! tenant-checked access to the records the pipeline makes from them.

pub mod import;
pub mod import_job;
pub mod keyword_file;
pub mod records;

pub use import::{parse_keywords_csv, ImportError, ImportReport, KeywordImporter, RowError};
pub use import_job::{CreatedJob, ImportJob, ImportJobError, ImportJobStatus, ImportJobs};
pub use records::{RecordsError, SiteRecords};
