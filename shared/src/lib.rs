//! `igny8-core`: the domain, the services that hold its rules, the ports they depend on,
//! and both adapter families (`local/` for a laptop, `aws/` for the cloud).

pub mod accounts;
pub mod ai;
pub mod api;
pub mod automation;
pub mod aws;
pub mod backend;
pub mod billing;
pub mod domain;
pub mod local;
pub mod planner;
pub mod ports;
pub mod repo;
