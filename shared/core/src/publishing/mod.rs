//! Publishing: review (draft → approved → published), the publisher that sends an
//! article and its images to each active integration exactly once, and the deployment
//! record (`Publication`) that makes every retry an update.

pub mod article;
pub mod metadata;
pub mod service;

pub use service::{
    validation, ApproveAll, PublishError, PublishOutcome, PublishRequest, PublishingService, RunPublishBatch,
    BUSY_CODE, CONTENT_INVALID,
};
