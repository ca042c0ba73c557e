//! Integrations: a site's connections to WordPress or Shopify (create, update, delete,
//! get, list, test), their credentials sealed by envelope encryption, and the sync
//! services (content, metadata, health).

pub mod service;
pub mod sync;
pub mod vault;

pub use service::{
    apply_health, IntegrationError, IntegrationPorts, IntegrationService, IntegrationUpdate, NewIntegration,
};
pub use sync::{SyncReport, SyncService, SyncSweep};
pub use vault::CredentialVault;
