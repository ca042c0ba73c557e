//! Publishing: review (draft → approved → published), the publisher that sends an
//! article and its images to each active integration exactly once, and the deployment
//! record (`Publication`) that makes every retry an update.

pub mod article;
pub mod service;

pub use service::{PublishError, PublishOutcome, PublishRequest, PublishingService, RunPublishBatch, BUSY_CODE};
