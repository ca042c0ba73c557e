//! Cloud adapters: the ports implemented on AWS services.
//!
//! Only the item store lives here so far; each adapter keeps the exact semantics of its
//! embedded twin in `local/`, so services and repositories never know which one runs.

pub mod dynamodb;

pub use dynamodb::DynamoStore;
