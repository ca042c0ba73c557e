//! The blob-store port: put, get, list by prefix, presigned read link, presigned upload
//! link.
//!
//! It is as narrow as the part of S3 the services use (generated images, exported
//! documents), so a folder on disk and an S3 bucket honour the same contract. Keys are
//! checked by [`validate_key`] in every adapter, so a key that works on a laptop also
//! works on S3 and can never escape the folder of the embedded adapter.

use std::time::Duration;

use async_trait::async_trait;

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// One stored object as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobInfo {
    /// The object's full key.
    pub key: String,
    /// Size of the body in bytes.
    pub size: u64,
}

/// Errors of the blob store; a bad key is the caller's fault, a missing object is data.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key (or list prefix) is not S3-safe; nothing was read or written.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// The object does not exist (a presigned link to nothing is refused).
    #[error("no blob at key {0:?}")]
    NotFound(String),
    /// The backend is throttling or briefly unavailable (S3 503 SlowDown, 5xx, a
    /// timeout); nothing is known to have changed, retry with backoff.
    #[error("blob store busy, retry: {0}")]
    Throttled(String),
    /// The backend failed (I/O, network, permissions).
    #[error("blob backend error: {0}")]
    Backend(String),
}

impl BlobError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidKey { .. } => "invalid_request",
            Self::NotFound(_) => "not_found",
            Self::Throttled(_) => "unavailable",
            Self::Backend(_) => "internal",
        }
    }

    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled(_))
    }
}

/// The object-storage contract shared by the folder and S3 adapters.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Creates or replaces the object at `key`; readers see the old or the new body, never
    /// a part of one. `content_type` is what a browser is told when it follows a link
    /// (adapters without HTTP metadata may ignore it).
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError>;

    /// Reads the whole object; None when there is none at `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;

    /// Every object whose key starts with `prefix` (no delimiter: the whole subtree),
    /// sorted by key in byte order like S3's ListObjectsV2.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>, BlobError>;

    /// A URL that reads the object without credentials for about `expires_in`
    /// (adapters whose links cannot expire may ignore it); [`BlobError::NotFound`] when
    /// the object does not exist, so callers never hand out dead links.
    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError>;

    /// A URL that creates or replaces the object at `key` with one HTTP `PUT` of a body
    /// sent with `Content-Type: content_type`, without credentials, for about
    /// `expires_in`: how clients upload files larger than an API request may be (6 MB
    /// on Lambda). None when the store has no HTTP endpoint of its own (a folder): the
    /// caller then receives the upload itself and [`BlobStore::put`]s it. That is what
    /// this default says (after checking the key), so stores and wrappers without
    /// links of their own need not implement it.
    async fn presigned_put(
        &self,
        key: &str,
        _content_type: &str,
        _expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        validate_key(key)?;
        Ok(None)
    }
}

fn invalid(key: &str, reason: impl Into<String>) -> BlobError {
    BlobError::InvalidKey { key: key.to_owned(), reason: reason.into() }
}

/// Refuses characters that S3 mangles or a file system interprets.
fn check_chars(key: &str) -> Result<(), BlobError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(key, format!("longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.starts_with('/') {
        return Err(invalid(key, "starts with '/'"));
    }
    if key.contains('\\') {
        return Err(invalid(key, "contains a backslash"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid(key, "contains a control character"));
    }
    Ok(())
}

/// Refuses a segment that would be empty or move up or stay in a directory.
fn check_segment(key: &str, segment: &str) -> Result<(), BlobError> {
    match segment {
        "" => Err(invalid(key, "has an empty segment")),
        "." | ".." => Err(invalid(key, format!("has a '{segment}' segment"))),
        _ => Ok(()),
    }
}

/// Checks a key is S3-safe and maps to exactly one file below a folder.
///
/// 1 to 1024 bytes; no leading '/'; '/'-separated segments, none empty (so no `a//b`
/// and no trailing '/'), none `.` or `..`; no backslash and no control characters.
/// Every adapter calls it, so both backends accept exactly the same keys.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    if key.is_empty() {
        return Err(invalid(key, "is empty"));
    }
    check_chars(key)?;
    key.split('/').try_for_each(|segment| check_segment(key, segment))
}

/// Checks a list prefix: empty (everything), or a key's beginning.
///
/// The part up to the last '/' must be made of valid segments (it names the directory
/// the folder adapter walks); the text after it is only matched as a string prefix.
pub fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    check_chars(prefix)?;
    match prefix.rfind('/') {
        Some(last) => prefix[..last].split('/').try_for_each(|s| check_segment(prefix, s)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in ["a", "sites/1/images/x.png", ".hidden", "a/b c/ü.txt", "x..y", "a/..b"] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
    }

    #[test]
    fn refuses_unsafe_keys() {
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for key in ["", "/abs", "../x", "a/../b", "a//b", "a/", "./a", "a/.", "a\\b", "a\nb", "a\0", &long] {
            assert!(matches!(validate_key(key), Err(BlobError::InvalidKey { .. })), "{key:?} accepted");
        }
    }

    #[test]
    fn prefixes_may_end_anywhere_but_never_climb() {
        for prefix in ["", "a", "a/", "a/b", "a/.", "a/.."] {
            assert!(validate_prefix(prefix).is_ok(), "{prefix}");
        }
        for prefix in ["/", "/a", "../", "a/../b", "a//", "./"] {
            assert!(validate_prefix(prefix).is_err(), "{prefix:?} accepted");
        }
    }
}
