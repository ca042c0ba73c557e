//! The embedded adapter family: everything runs on a laptop with no cloud account.

pub mod sqlite;

pub use sqlite::SqliteStore;
