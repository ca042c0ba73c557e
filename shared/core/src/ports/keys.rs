//! The key-provider port of envelope encryption: a fresh 256-bit data key per sealed
//! secret, wrapped under a master key the provider holds (AWS KMS `GenerateDataKey` /
//! `Decrypt` in the cloud, a 32-byte key file on a laptop), always bound to an
//! encryption context so a wrapped key moved to another owner cannot be unwrapped.

use std::fmt;

use async_trait::async_trait;

use crate::domain::{AccountId, IntegrationId, SiteId};

/// Who a sealed secret belongs to: KMS encryption context and AEAD associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    /// The tenant.
    pub account_id: AccountId,
    /// The site.
    pub site_id: SiteId,
    /// The integration.
    pub integration_id: IntegrationId,
}

impl SealContext {
    /// The context as KMS encryption-context pairs, in a fixed order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("account_id", self.account_id.as_str()),
            ("site_id", self.site_id.as_str()),
            ("integration_id", self.integration_id.as_str()),
        ]
    }

    /// The context as AEAD associated data: the pairs, canonical and unambiguous.
    pub fn associated_data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in self.pairs() {
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }
}

/// A plaintext data key: 32 bytes that are zeroed when dropped and never printed.
pub struct DataKey {
    bytes: [u8; 32],
}

impl DataKey {
    /// Wraps 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }

    /// The key bytes, for the AEAD only.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Keeps the zeroing from being removed as a store nobody reads.
        std::hint::black_box(&self.bytes);
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(redacted)")
    }
}

/// A fresh data key: the plaintext to encrypt with now, the wrapped form to store.
#[derive(Debug)]
pub struct GeneratedKey {
    /// Use once, then drop.
    pub plaintext: DataKey,
    /// Store beside the ciphertext.
    pub wrapped: Vec<u8>,
    /// The master key that wrapped it (a KMS key ARN, or `local:<fingerprint>`).
    pub key_id: String,
}

/// Why a data key could not be made or unwrapped. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The wrapped key does not belong to this context or master key (moved, tampered
    /// with, or wrapped under another key).
    #[error("the sealed credentials cannot be opened for this integration")]
    Denied,
    /// The key service is throttling or unreachable; retry.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
    /// The key file or key service is misconfigured.
    #[error("key provider failed: {0}")]
    Backend(String),
}

impl KeyError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied => "credentials_unreadable",
            Self::Unavailable(_) => "unavailable",
            Self::Backend(_) => "internal",
        }
    }

    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Makes and unwraps data keys under a master key.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// A fresh 256-bit data key bound to `context`.
    async fn generate_data_key(&self, context: &SealContext) -> Result<GeneratedKey, KeyError>;

    /// The plaintext of a data key `generate_data_key` wrapped under `key_id` for the
    /// same `context`; [`KeyError::Denied`] for any other context.
    async fn unwrap_data_key(&self, key_id: &str, wrapped: &[u8], context: &SealContext) -> Result<DataKey, KeyError>;
}
