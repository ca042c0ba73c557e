//! `igny8-embedded`: the ports on a laptop with no cloud account — SQLite item store and
//! queue, a blob folder, and the ASL interpreter running the real state machine, its
//! executions kept durable in the same SQLite file.

pub mod blob_dir;
pub mod execution_store;
pub mod key_file;
pub mod sqlite;
pub mod sqlite_queue;
pub mod workflow;

pub use blob_dir::BlobDir;
pub use execution_store::SqliteExecutions;
pub use key_file::LocalKeyFile;
pub use sqlite::SqliteStore;
pub use sqlite_queue::SqliteQueue;
