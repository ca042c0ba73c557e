//! `igny8-core`: the domain, the ports the services depend on, the repositories written
//! once over the item-store port, and the services that hold the rules. No AWS SDK and
//! no SQLite: the adapter crates implement the ports, the wiring crate plugs them in.

pub mod accounts;
pub mod automation;
pub mod billing;
pub mod clustering;
pub mod domain;
pub mod integration;
pub mod linking;
pub mod optimization;
pub mod planner;
pub mod ports;
pub mod publishing;
pub mod repo;
pub mod retry;
pub mod services;

/// The text rules the optimization and linking services apply, for the edges that show
/// their results (the API's schemas, the CLI's tables).
pub use igny8_seo as seo;
pub use services::Services;
