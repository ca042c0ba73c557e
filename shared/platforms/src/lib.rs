//! Publishing-platform clients: the adapters of `igny8_core::ports::PublishingPlatform`.
//!
//! [`WordPressClient`] speaks the WordPress REST API (application passwords, WordPress
//! 6.1 as Debian ships it); [`ShopifyClient`] speaks the Shopify Admin GraphQL API (a
//! static access token or the client-credentials grant). Both use reqwest with rustls
//! and a timeout on every request. No Rust client for either platform is well kept, so
//! each speaks the documented HTTP API directly (docs/integrations.md).

mod http;
pub mod shopify;
pub mod wordpress;

use std::sync::Arc;

use igny8_core::ports::Platforms;

pub use http::{RequestCounter, Timeouts};
pub use shopify::ShopifyClient;
pub use wordpress::WordPressClient;

/// The real clients of every supported platform, as the wiring hands them to the
/// services.
pub fn default_platforms() -> Platforms {
    Platforms::new().with(Arc::new(WordPressClient::new())).with(Arc::new(ShopifyClient::new()))
}
