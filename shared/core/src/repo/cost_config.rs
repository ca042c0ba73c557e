//! Per-operation credit prices, over the built-in constants.

use std::sync::Arc;

use super::{from_item, keys, to_item, RepoError};
use crate::domain::CreditCostConfig;
use crate::ports::{all_pages, ItemStore, Query};

/// Stores the configured price of each operation.
#[derive(Clone)]
pub struct CostConfigRepo {
    store: Arc<dyn ItemStore>,
}

impl CostConfigRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The configured price of an operation, if one is stored.
    pub async fn get(&self, operation: &str) -> Result<Option<CreditCostConfig>, RepoError> {
        self.store.get(&keys::cost_config(operation)).await?.map(from_item).transpose()
    }

    /// Stores (replaces) an operation's price.
    pub async fn put(&self, config: &CreditCostConfig) -> Result<(), RepoError> {
        let mut stored = config.clone();
        stored.configured = true;
        let item = to_item(&stored, "credit_cost_config", &keys::cost_config(&config.operation), None)?;
        self.store.put(item, None).await?;
        Ok(())
    }

    /// Every stored price.
    pub async fn list(&self) -> Result<Vec<CreditCostConfig>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::COST_CONFIG_PARTITION).prefix(keys::COST_CONFIG_PREFIX).after(cursor);
            self.store.query(&q).await?.try_map(from_item)
        })
        .await
    }
}
