//! Integrations: a site's connections to WordPress or Shopify (create, update, delete,
//! get, list, test), their credentials sealed by envelope encryption, and the sync
//! services (content, metadata, health).
//!
//! SKELETON (session 6): signatures agreed between helpers; bodies land with H1.

pub mod service;
pub mod sync;
pub mod vault;

pub use service::{IntegrationError, IntegrationPorts, IntegrationService, IntegrationUpdate, NewIntegration};
pub use sync::{SyncReport, SyncService, SyncSweep};
pub use vault::CredentialVault;
