//! The key-provider port on AWS KMS: envelope encryption of integration credentials.
//!
//! A data key is `GenerateDataKey` (AES_256) under the configured KMS key with the
//! account, site and integration as encryption context; KMS returns the plaintext (used
//! once by the vault, then zeroed) and the wrapped form the vault stores. Opening is
//! `Decrypt` with the same context and the key id recorded at sealing, so a wrapped key
//! copied to another integration, site or account is refused by KMS itself — and the key
//! policy can require that context (`kms:EncryptionContextKeys`, infra/template.yaml).
//!
//! Refusals (`InvalidCiphertextException`, `AccessDeniedException`,
//! `IncorrectKeyException`) become [`KeyError::Denied`]; throttles, 5xx and timeouts
//! [`KeyError::Unavailable`] (the state machine and callers retry); anything else
//! [`KeyError::Backend`]. No message ever carries key material.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;

use super::config::sdk_config;
use super::transient::is_transient;
use igny8_core::ports::{DataKey, GeneratedKey, KeyError, KeyProvider, SealContext};

/// KMS error codes meaning "this wrapped key is not yours to open".
const DENIED_CODES: [&str; 5] = [
    "InvalidCiphertextException",
    "AccessDeniedException",
    "AccessDenied",
    "IncorrectKeyException",
    "NotFoundException",
];

/// KMS error codes of a key service briefly unable to answer (beyond the throttles and
/// 5xx every SDK error is checked for).
const UNAVAILABLE_CODES: [&str; 3] = ["KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException"];

/// Data keys from one KMS key.
///
/// Cheap to clone: the SDK client is a handle to a shared connection pool.
#[derive(Debug, Clone)]
pub struct KmsKeys {
    client: Client,
    key_id: String,
}

impl KmsKeys {
    /// Data keys under `key_id` (a key ARN, key id or `alias/...`), over an already
    /// configured client so the functions share one `SdkConfig` across adapters.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }

    /// Builds a client from the shared AWS configuration (see `aws::config`);
    /// `endpoint` points it at an emulator.
    pub async fn connect(endpoint: Option<&str>, key_id: &str) -> Self {
        let config = sdk_config(endpoint).await;
        Self::new(Client::new(&config), key_id)
    }

    /// The KMS key new data keys are generated under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The underlying client, for provisioning in tests and emulators (CreateKey).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The context as KMS encryption-context pairs.
fn encryption_context(context: &SealContext) -> HashMap<String, String> {
    context.pairs().iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// 32 plaintext key bytes, or a backend error (KMS answered with another length).
fn data_key(plaintext: Option<&Blob>) -> Result<DataKey, KeyError> {
    let bytes = plaintext.map(Blob::as_ref).unwrap_or_default();
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Backend(format!("KMS returned a {}-byte data key, expected 32", bytes.len())))?;
    Ok(DataKey::new(key))
}

/// Maps a KMS error of `operation` to the port's error (see [`classify`]).
fn key_error<E>(
    operation: &str,
    err: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
    refusal_denies: bool,
) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    classify(err.code(), is_transient(err), refusal_denies, || format!("KMS {operation}: {}", DisplayErrorContext(err)))
}

/// A refusal by `code` is [`KeyError::Denied`] when `refusal_denies` (opening: the
/// wrapped key is not this context's), a throttle or outage [`KeyError::Unavailable`],
/// anything else [`KeyError::Backend`] (a misconfigured or disabled key).
fn classify(code: Option<&str>, transient: bool, refusal_denies: bool, message: impl FnOnce() -> String) -> KeyError {
    if refusal_denies && code.is_some_and(|c| DENIED_CODES.contains(&c)) {
        return KeyError::Denied;
    }
    if transient || code.is_some_and(|c| UNAVAILABLE_CODES.contains(&c)) {
        KeyError::Unavailable(message())
    } else {
        KeyError::Backend(message())
    }
}

#[async_trait]
impl KeyProvider for KmsKeys {
    async fn generate_data_key(&self, context: &SealContext) -> Result<GeneratedKey, KeyError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(encryption_context(context)))
            .send()
            .await
            .map_err(|e| key_error("GenerateDataKey", &e, false))?;
        let plaintext = data_key(out.plaintext())?;
        let wrapped = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| KeyError::Backend("KMS GenerateDataKey returned no wrapped key".into()))?;
        // The ARN KMS answers with, not the alias we asked under: Decrypt is pinned to it.
        let key_id = out.key_id().map_or_else(|| self.key_id.clone(), str::to_owned);
        Ok(GeneratedKey { plaintext, wrapped, key_id })
    }

    async fn unwrap_data_key(&self, key_id: &str, wrapped: &[u8], context: &SealContext) -> Result<DataKey, KeyError> {
        if wrapped.is_empty() || key_id.is_empty() {
            return Err(KeyError::Denied);
        }
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(encryption_context(context)))
            .send()
            .await
            .map_err(|e| key_error("Decrypt", &e, true))?;
        data_key(out.plaintext())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_kms::operation::decrypt::DecryptError;

    use super::*;

    fn msg() -> String {
        "m".into()
    }

    #[test]
    fn a_refused_ciphertext_is_denied_when_opening_and_a_fault_when_generating() {
        for code in ["InvalidCiphertextException", "AccessDeniedException", "IncorrectKeyException"] {
            assert!(matches!(classify(Some(code), false, true, msg), KeyError::Denied), "{code}");
            assert!(matches!(classify(Some(code), false, false, msg), KeyError::Backend(_)), "{code}");
        }
        assert!(matches!(classify(Some("DisabledException"), false, true, msg), KeyError::Backend(_)));
    }

    #[test]
    fn throttles_outages_and_timeouts_are_unavailable() {
        assert!(matches!(classify(Some("KMSInternalException"), false, true, msg), KeyError::Unavailable(_)));
        assert!(matches!(classify(Some("ThrottlingException"), true, true, msg), KeyError::Unavailable(_)));
        type Error = SdkError<DecryptError, aws_sdk_kms::config::http::HttpResponse>;
        assert!(matches!(key_error("Decrypt", &Error::timeout_error("slow"), true), KeyError::Unavailable(_)));
        assert!(matches!(key_error("Decrypt", &Error::construction_failure("bad"), true), KeyError::Backend(_)));
    }

    #[test]
    fn a_data_key_must_be_32_bytes() {
        assert!(data_key(Some(&Blob::new(vec![7u8; 32]))).is_ok());
        assert!(matches!(data_key(Some(&Blob::new(vec![7u8; 16]))), Err(KeyError::Backend(_))));
        assert!(matches!(data_key(None), Err(KeyError::Backend(_))));
    }

    #[test]
    fn the_context_is_the_three_pairs() {
        let ctx = SealContext {
            account_id: igny8_core::domain::AccountId::derive("a"),
            site_id: igny8_core::domain::SiteId::derive("s"),
            integration_id: igny8_core::domain::IntegrationId::derive("i"),
        };
        let map = encryption_context(&ctx);
        assert_eq!(map.len(), 3);
        assert_eq!(map["site_id"], ctx.site_id.as_str());
    }
}
