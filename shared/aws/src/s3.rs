//! The blob store on one S3 bucket.
//!
//! Each port operation is one S3 call (a listing is one call per page), so the
//! guarantees callers rely on are S3's own: a put replaces the whole object atomically
//! and reads are strongly consistent. Keys go through the port's [`validate_key`] /
//! [`validate_prefix`] exactly as in the folder adapter, so a key accepted on a laptop
//! is accepted here and vice versa.
//!
//! Where S3 and the port differ, this adapter bends to the port:
//!
//! * a presigned link is only handed out for an object that exists (one HeadObject
//!   first), because S3 would happily sign a link to nothing;
//! * S3 cannot sign a link for longer than [`MAX_PRESIGN`]; longer requests get a link
//!   valid for that long (the port allows links to expire earlier than asked);
//! * a listing is sorted by key here too, although S3 already returns byte order, so
//!   the contract does not hang on an emulator's ordering.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_s3::Client;

use super::config::{endpoint_override, sdk_config, SharedInterceptor, DEFAULT_REGION};
use igny8_core::ports::blob::{validate_key, validate_prefix, BlobError, BlobInfo, BlobStore};

/// Longest validity S3 accepts for a SigV4 presigned URL (7 days).
pub const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The blob store on one S3 bucket.
///
/// Cheap to clone: the SDK client is a handle to a shared connection pool, so build it
/// once per process and clone it into every service.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    /// Wraps an already configured client, so callers sharing one `SdkConfig` across
    /// adapters (or tests with a custom client) can reuse it.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// Builds a client from the shared AWS configuration (see `aws::config`).
    ///
    /// With an `endpoint` override (an emulator such as moto) requests use path-style
    /// addressing, because `bucket.127.0.0.1` does not resolve; real S3 keeps
    /// virtual-hosted addressing.
    pub async fn connect(endpoint: Option<&str>, bucket: &str) -> Result<Self, BlobError> {
        if bucket.is_empty() {
            return Err(BlobError::Backend("S3 bucket name is empty".into()));
        }
        let shared = sdk_config(endpoint).await;
        let config =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint_override(endpoint).is_some()).build();
        Ok(Self::new(Client::from_conf(config), bucket))
    }

    /// The underlying client, for the rare caller that needs an operation the port
    /// deliberately leaves out (admin scripts, lifecycle rules).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same adapter with `interceptor` on its client (request counting, tracing):
    /// the benchmarks count S3 round trips per stage item this way.
    #[must_use]
    pub fn with_interceptor(self, interceptor: SharedInterceptor) -> Self {
        let mut config = self.client.config().to_builder();
        config.push_interceptor(interceptor);
        Self { client: Client::from_conf(config.build()), bucket: self.bucket }
    }

    /// The bucket every operation targets, for logs and admin tooling.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it is missing, so local runs and fresh stages need no
    /// separate provisioning step. Safe to call on every start: a bucket we already
    /// own is success, one owned by another account is an error.
    pub async fn ensure_bucket(&self) -> Result<(), BlobError> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        // us-east-1 refuses an explicit location constraint; every other region needs one.
        let region = self.client.config().region().map(|r| r.as_ref().to_owned());
        if let Some(region) = region.filter(|r| r != DEFAULT_REGION) {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyExists") => {
                // Some emulators answer this for our own bucket too; HeadBucket tells
                // whether we can really use it.
                self.client
                    .head_bucket()
                    .bucket(&self.bucket)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|_| backend("CreateBucket", &e))
            }
            Err(e) => Err(backend("CreateBucket", &e)),
        }
    }
}

/// A backend error naming the operation, with the SDK's full error chain.
/// A throttle, 5xx (SlowDown, 503) or dropped connection is `Throttled` (retry).
fn backend<E>(op: &str, err: &SdkError<E>) -> BlobError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let message = format!("S3 {op}: {}", DisplayErrorContext(err));
    if super::transient::is_transient(err) {
        BlobError::Throttled(message)
    } else {
        BlobError::Backend(message)
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let mut request = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body));
        if !content_type.is_empty() {
            request = request.content_type(content_type);
        }
        request.send().await.map(drop).map_err(|e| backend("PutObject", &e))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        validate_key(key)?;
        let result = self.client.get_object().bucket(&self.bucket).key(key).send().await;
        let output = match result {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(backend("GetObject", &e)),
        };
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Throttled(format!("S3 GetObject body of {key:?} broke off: {e}")))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>, BlobError> {
        validate_prefix(prefix)?;
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = self.client.list_objects_v2().bucket(&self.bucket);
            if !prefix.is_empty() {
                request = request.prefix(prefix);
            }
            if let Some(t) = token.take() {
                request = request.continuation_token(t);
            }
            let page = request.send().await.map_err(|e| backend("ListObjectsV2", &e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    let size = u64::try_from(object.size().unwrap_or(0)).unwrap_or(0);
                    found.push(BlobInfo { key: key.to_owned(), size });
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        Ok(found)
    }

    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError> {
        validate_key(key)?;
        let head = self.client.head_object().bucket(&self.bucket).key(key).send().await;
        match head {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                return Err(BlobError::NotFound(key.to_owned()))
            }
            Err(e) => return Err(backend("HeadObject", &e)),
        }
        let config = PresigningConfig::expires_in(expires_in.min(MAX_PRESIGN))
            .map_err(|e| BlobError::Backend(format!("S3 presigning config: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| backend("presign GetObject", &e))?;
        Ok(request.uri().to_owned())
    }

    /// A SigV4 presigned PutObject whose signature covers the content type, so the
    /// upload must send the same `Content-Type`.
    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        validate_key(key)?;
        let config = PresigningConfig::expires_in(expires_in.min(MAX_PRESIGN))
            .map_err(|e| BlobError::Backend(format!("S3 presigning config: {e}")))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| backend("presign PutObject", &e))?;
        Ok(Some(request.uri().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_keys_are_refused_before_any_request() {
        // An unroutable endpoint: any request would fail as Backend, not InvalidKey.
        let blobs = S3Blobs::connect(Some("http://127.0.0.1:1"), "b").await.expect("connect");
        for key in ["", "/a", "a/../b", "a//b"] {
            assert!(matches!(blobs.get(key).await, Err(BlobError::InvalidKey { .. })), "{key:?}");
            assert!(matches!(blobs.put(key, vec![1], "text/plain").await, Err(BlobError::InvalidKey { .. })));
        }
        assert!(matches!(blobs.list("../").await, Err(BlobError::InvalidKey { .. })));
    }

    #[tokio::test]
    async fn an_empty_bucket_name_is_refused() {
        assert!(S3Blobs::connect(None, "").await.is_err());
    }
}
