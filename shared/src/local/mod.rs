//! The embedded adapter family: everything runs on a laptop with no cloud account.

pub mod asl;
pub mod blob_dir;
pub mod runtime;
pub mod sqlite;
pub mod sqlite_queue;
pub mod workflow;

pub use blob_dir::BlobDir;
pub use sqlite::SqliteStore;
pub use sqlite_queue::SqliteQueue;
