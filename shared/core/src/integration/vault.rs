//! Envelope encryption of integration credentials: AES-256-GCM (ring) under a fresh data
//! key per seal, the data key wrapped by the [`KeyProvider`], the account, site and
//! integration bound in as associated data and encryption context.

use std::sync::Arc;

use crate::domain::{Credentials, SealedCredentials};
use crate::ports::{KeyError, KeyProvider, SealContext};

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
        let _ = (&self.keys, context, credentials, now);
        todo!("H1: seal")
    }

    /// Opens credentials sealed for `context`; [`KeyError::Denied`] when they were
    /// sealed for anyone else or tampered with.
    pub async fn open(&self, context: &SealContext, sealed: &SealedCredentials) -> Result<Credentials, KeyError> {
        let _ = (context, sealed);
        todo!("H1: open")
    }
}
