//! The client of the Shopify Admin GraphQL API.

use async_trait::async_trait;
use igny8_core::domain::{ConnectionReport, Platform, SiteMetadata};
use igny8_core::ports::{
    ArticlePayload, Destination, MediaUpload, PlatformError, PublishingPlatform, RemoteMedia, RemotePost,
};

/// Talks to the Shopify Admin GraphQL API.
#[derive(Debug, Default)]
pub struct ShopifyClient {}

impl ShopifyClient {
    /// A client with the default timeouts.
    pub fn new() -> Self {
        Self {}
    }
}

#[async_trait]
impl PublishingPlatform for ShopifyClient {
    fn platform(&self) -> Platform {
        Platform::Shopify
    }

    async fn test_connection(&self, _destination: &Destination) -> ConnectionReport {
        todo!("H4: test_connection")
    }

    async fn upload_media(
        &self,
        _destination: &Destination,
        _media: &MediaUpload,
    ) -> Result<RemoteMedia, PlatformError> {
        todo!("H4: upload_media")
    }

    async fn find_post_by_slug(
        &self,
        _destination: &Destination,
        _slug: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        todo!("H4: find_post_by_slug")
    }

    async fn create_post(
        &self,
        _destination: &Destination,
        _article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        todo!("H4: create_post")
    }

    async fn update_post(
        &self,
        _destination: &Destination,
        _remote_id: &str,
        _article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        todo!("H4: update_post")
    }

    async fn fetch_post(
        &self,
        _destination: &Destination,
        _remote_id: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        todo!("H4: fetch_post")
    }

    async fn fetch_metadata(&self, _destination: &Destination) -> Result<SiteMetadata, PlatformError> {
        todo!("H4: fetch_metadata")
    }
}
