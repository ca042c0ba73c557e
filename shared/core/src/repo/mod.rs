//! Repositories: the domain's records on the item-store port, written once for both
//! backends. Every key of the single table is spelled in [`keys`].

pub mod accounts;
pub mod api_idempotency;
pub mod billing;
pub mod cost_config;
pub mod embeddings;
pub mod integrations;
pub mod keys;
pub mod ledger;
pub mod optimizations;
pub mod pipeline;
pub mod publications;
pub mod runs;
pub mod site_lock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::ports::item_store::{Item, Key, StoreError, GSI1PK, GSI1SK, PK, SK};

pub use accounts::{AccountRepo, SiteRepo};
pub use billing::BillingRepo;
pub use cost_config::CostConfigRepo;
pub use embeddings::{EmbeddingCache, EmbeddingScope};
pub use ledger::{BalanceState, IdempotencyMarker, LedgerRepo};
pub use optimizations::{OptimizationRepo, OptimizationState, StoredOptimization};
pub use pipeline::{ClusterPlanCursor, ClusterPlanCursors, Records, SiteRecord};
pub use publications::{ClaimOutcome, PublicationRepo, StoredPublication};
pub use runs::{ConfigRepo, RunRepo};

/// Errors of the repositories.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The store failed or refused the write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored item does not decode into its record type.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt {
        /// Where it is.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl RepoError {
    /// The stable code the API and the CLI report: the store's, or `internal` for a
    /// corrupt record.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Corrupt { .. } => "internal",
        }
    }
}

/// Attribute naming the record type, so a table dump reads on its own.
pub const TYPE_ATTR: &str = "type";

/// Encodes a record as an item under `key`, optionally indexed on GSI1.
pub fn to_item<T: Serialize>(
    record: &T,
    record_type: &str,
    key: &Key,
    gsi1: Option<(String, String)>,
) -> Result<Item, RepoError> {
    let mut item = match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => return Err(RepoError::Corrupt { key: key.to_string(), reason: "not a JSON object".into() }),
    };
    item.insert(PK.into(), Value::from(key.pk.clone()));
    item.insert(SK.into(), Value::from(key.sk.clone()));
    item.insert(TYPE_ATTR.into(), Value::from(record_type));
    if let Some((pk, sk)) = gsi1 {
        item.insert(GSI1PK.into(), Value::from(pk));
        item.insert(GSI1SK.into(), Value::from(sk));
    }
    Ok(item)
}

/// Decodes an item into its record type (extra attributes such as keys are ignored).
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, RepoError> {
    let key = Key::of(&item).map(|k| k.to_string()).unwrap_or_default();
    serde_json::from_value(Value::Object(item)).map_err(|e| RepoError::Corrupt { key, reason: e.to_string() })
}

/// Reads an integer attribute, treating absence as zero.
pub fn int_attr(item: &Item, name: &str) -> i64 {
    item.get(name).and_then(Value::as_i64).unwrap_or(0)
}
