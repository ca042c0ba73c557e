//! The wiring room: the one place that builds the services over an adapter family.
//!
//! `embedded` wires the laptop's adapters (SQLite, blob folder, the ASL interpreter),
//! `aws` the cloud's (DynamoDB, S3, SQS, Step Functions). Each is a cargo feature, so the
//! Lambdas turn on `aws` alone and never link SQLite or the interpreter; no adapter
//! crate depends on this one.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(all(feature = "aws", feature = "embedded"))]
pub mod backend;
#[cfg(feature = "embedded")]
pub mod embedded;

#[cfg(all(feature = "aws", feature = "embedded"))]
pub use backend::Backend;
pub use igny8_core::Services;
