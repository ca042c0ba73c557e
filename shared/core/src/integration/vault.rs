//! Envelope encryption of integration credentials: AES-256-GCM (ring) under a fresh data
//! key per seal, the data key wrapped by the [`KeyProvider`], the account, site and
//! integration bound in as associated data and encryption context.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::domain::{Credentials, SealedCredentials};
use crate::ports::{KeyError, KeyProvider, SealContext};

/// The only algorithm sealed credentials use; anything else stored is refused.
pub const ALGORITHM: &str = "AES-256-GCM";

/// Length of an AES-GCM nonce (96 bits), exposed for wrapped-key layouts.
pub const AEAD_NONCE_LEN: usize = NONCE_LEN;

/// Length of the AES-GCM authentication tag appended to every ciphertext.
pub const AEAD_TAG_LEN: usize = 16;

/// Encrypts `plaintext` with AES-256-GCM under `key` and a fresh random 96-bit nonce,
/// authenticating `aad`; returns the nonce and ciphertext‖tag. Shared by the vault and
/// the local key file so the project has one AEAD call site.
pub fn aead_seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), KeyError> {
    let key = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Backend("the system random generator failed".into()))?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
        .map_err(|_| KeyError::Backend("AES-256-GCM encryption failed".into()))?;
    Ok((nonce, in_out))
}

/// Decrypts what [`aead_seal`] made; [`KeyError::Denied`] when the key, nonce, associated
/// data or ciphertext is not the one sealed (the tag does not verify).
pub fn aead_open(key: &[u8; 32], nonce: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = aead_key(key)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Denied)?;
    let mut in_out = ciphertext.to_vec();
    let plain_len = key.open_in_place(nonce, Aad::from(aad), &mut in_out).map_err(|_| KeyError::Denied)?.len();
    in_out.truncate(plain_len);
    Ok(in_out)
}

/// Fills a fresh 256-bit key from the system's secure random generator.
pub fn random_key() -> Result<[u8; 32], KeyError> {
    let mut key = [0u8; 32];
    SystemRandom::new().fill(&mut key).map_err(|_| KeyError::Backend("the system random generator failed".into()))?;
    Ok(key)
}

fn aead_key(key: &[u8; 32]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Backend("AES-256-GCM rejected the key".into()))
}

/// Seals and opens credentials.
#[derive(Clone)]
pub struct CredentialVault {
    keys: Arc<dyn KeyProvider>,
}

impl CredentialVault {
    /// A vault over `keys`.
    pub fn new(keys: Arc<dyn KeyProvider>) -> Self {
        Self { keys }
    }

    /// Seals `credentials` for `context` under a fresh data key; `now` is the RFC 3339
    /// time recorded as `sealed_at`.
    pub async fn seal(
        &self,
        context: &SealContext,
        credentials: &Credentials,
        now: &str,
    ) -> Result<SealedCredentials, KeyError> {
        let generated = self.keys.generate_data_key(context).await?;
        let mut plaintext = serde_json::to_vec(credentials)
            .map_err(|_| KeyError::Backend("the credentials could not be encoded".into()))?;
        let sealed = aead_seal(generated.plaintext.bytes(), &context.associated_data(), &plaintext);
        plaintext.fill(0);
        let (nonce, ciphertext) = sealed?;
        Ok(SealedCredentials {
            algorithm: ALGORITHM.to_string(),
            key_id: generated.key_id,
            wrapped_key: BASE64.encode(&generated.wrapped),
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
            kind: credentials.kind().to_string(),
            sealed_at: now.to_string(),
        })
    }

    /// Opens credentials sealed for `context`; [`KeyError::Denied`] when they were
    /// sealed for anyone else or tampered with.
    pub async fn open(&self, context: &SealContext, sealed: &SealedCredentials) -> Result<Credentials, KeyError> {
        if sealed.algorithm != ALGORITHM {
            return Err(KeyError::Denied);
        }
        let decode = |text: &str| BASE64.decode(text).map_err(|_| KeyError::Denied);
        let (wrapped, nonce, ciphertext) =
            (decode(&sealed.wrapped_key)?, decode(&sealed.nonce)?, decode(&sealed.ciphertext)?);
        let data_key = self.keys.unwrap_data_key(&sealed.key_id, &wrapped, context).await?;
        let mut plaintext = aead_open(data_key.bytes(), &nonce, &context.associated_data(), &ciphertext)?;
        let credentials = serde_json::from_slice::<Credentials>(&plaintext).map_err(|_| KeyError::Denied);
        plaintext.fill(0);
        let credentials = credentials?;
        if credentials.kind() != sealed.kind {
            return Err(KeyError::Denied);
        }
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, IntegrationId, SiteId};
    use crate::ports::{DataKey, GeneratedKey};
    use async_trait::async_trait;

    /// A provider that wraps data keys under a fixed master key with the context as
    /// associated data: the local key file's scheme without the file.
    struct FixedMaster([u8; 32]);

    #[async_trait]
    impl KeyProvider for FixedMaster {
        async fn generate_data_key(&self, context: &SealContext) -> Result<GeneratedKey, KeyError> {
            let key = random_key()?;
            let (nonce, wrapped) = aead_seal(&self.0, &context.associated_data(), &key)?;
            Ok(GeneratedKey {
                plaintext: DataKey::new(key),
                wrapped: [nonce.as_slice(), &wrapped].concat(),
                key_id: "test:fixed".into(),
            })
        }

        async fn unwrap_data_key(
            &self,
            key_id: &str,
            wrapped: &[u8],
            context: &SealContext,
        ) -> Result<DataKey, KeyError> {
            if key_id != "test:fixed" || wrapped.len() < AEAD_NONCE_LEN {
                return Err(KeyError::Denied);
            }
            let (nonce, body) = wrapped.split_at(AEAD_NONCE_LEN);
            let plain = aead_open(&self.0, nonce, &context.associated_data(), body)?;
            let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| KeyError::Denied)?;
            Ok(DataKey::new(bytes))
        }
    }

    fn vault() -> CredentialVault {
        CredentialVault::new(Arc::new(FixedMaster([7; 32])))
    }

    fn context(account: u8, site: u8, integration: u8) -> SealContext {
        let id = |prefix: &str, n: u8| format!("{prefix}_{}", format!("{n:02x}").repeat(16));
        SealContext {
            account_id: id("acct", account).parse::<AccountId>().unwrap_or_else(|e| panic!("{e}")),
            site_id: id("site", site).parse::<SiteId>().unwrap_or_else(|e| panic!("{e}")),
            integration_id: id("intg", integration).parse::<IntegrationId>().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn credentials() -> Credentials {
        Credentials::WordpressAppPassword { username: "editor".into(), app_password: "abcd efgh ijkl mnop".into() }
    }

    async fn sealed() -> SealedCredentials {
        match vault().seal(&context(1, 1, 1), &credentials(), "2026-12-02T00:00:00Z").await {
            Ok(s) => s,
            Err(e) => panic!("seal: {e}"),
        }
    }

    #[tokio::test]
    async fn sealed_credentials_open_for_their_own_context() {
        let sealed = sealed().await;
        assert_eq!(sealed.algorithm, ALGORITHM);
        assert_eq!(sealed.kind, "wordpress_app_password");
        assert_eq!(sealed.key_id, "test:fixed");
        assert_eq!(sealed.sealed_at, "2026-12-02T00:00:00Z");
        let text = serde_json::to_string(&sealed).unwrap_or_default();
        assert!(!text.contains("abcd efgh"), "plaintext in {text}");
        let opened = vault().open(&context(1, 1, 1), &sealed).await;
        assert_eq!(opened.ok(), Some(credentials()));
    }

    #[tokio::test]
    async fn another_site_account_or_integration_is_denied() {
        let sealed = sealed().await;
        for other in [context(1, 2, 1), context(2, 1, 1), context(1, 1, 2)] {
            let opened = vault().open(&other, &sealed).await;
            assert!(matches!(opened, Err(KeyError::Denied)), "{other:?}: {opened:?}");
        }
    }

    #[tokio::test]
    async fn a_flipped_byte_or_a_bad_field_is_denied() {
        let sealed = sealed().await;
        let mut bytes = BASE64.decode(&sealed.ciphertext).unwrap_or_default();
        bytes[0] ^= 1;
        let flipped = SealedCredentials { ciphertext: BASE64.encode(&bytes), ..sealed.clone() };
        let not_base64 = SealedCredentials { nonce: "***".into(), ..sealed.clone() };
        let short_nonce = SealedCredentials { nonce: BASE64.encode([0u8; 4]), ..sealed.clone() };
        let other_algorithm = SealedCredentials { algorithm: "ROT13".into(), ..sealed.clone() };
        let other_kind = SealedCredentials { kind: "shopify_access_token".into(), ..sealed.clone() };
        let other_key = SealedCredentials { key_id: "test:other".into(), ..sealed.clone() };
        for bad in [flipped, not_base64, short_nonce, other_algorithm, other_kind, other_key] {
            let opened = vault().open(&context(1, 1, 1), &bad).await;
            assert!(matches!(opened, Err(KeyError::Denied)), "{bad:?}: {opened:?}");
        }
    }

    #[tokio::test]
    async fn two_seals_of_the_same_credentials_differ() {
        let (a, b) = (sealed().await, sealed().await);
        assert_ne!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
