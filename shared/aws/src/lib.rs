//! `igny8-aws`: the ports implemented on AWS services.
//!
//! Item store (DynamoDB), blobs (S3), queue (SQS), workflow (Step Functions) and the
//! data keys of sealed credentials (KMS); each
//! adapter keeps the exact semantics of its embedded twin in `local/`, so services and
//! repositories never know which one runs.

pub mod config;
pub mod dynamodb;
pub mod kms;
pub mod s3;
pub mod sfn;
pub mod sqs;
mod transient;

pub use dynamodb::DynamoStore;
pub use kms::KmsKeys;
pub use s3::S3Blobs;
pub use sfn::SfnWorkflow;
pub use sqs::SqsQueue;
