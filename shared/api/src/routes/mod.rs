//! The routes, one module per area; each exposes `routes()` and its handlers (which
//! the OpenAPI document lists).

pub mod automation;
pub mod billing;
pub mod planner;
pub mod sites;
