//! Automation: the per-site run lock (and, later, the run itself).

pub mod site_lock;

pub use site_lock::{LockError, SiteLock};
