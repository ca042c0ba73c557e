//! Accounts and sites.

use std::sync::Arc;

use super::{from_item, keys, to_item, RepoError};
use crate::domain::{Account, AccountId, Site, SiteId};
use crate::ports::{Condition, ItemStore, Page, Query, WriteOp};

/// Stores accounts together with their (initially empty) balance item.
#[derive(Clone)]
pub struct AccountRepo {
    store: Arc<dyn ItemStore>,
}

impl AccountRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// Writes a new account and its zero balance in one transaction.
    pub async fn create(&self, account: &Account) -> Result<(), RepoError> {
        let meta = to_item(account, "account", &keys::account(&account.id), None)?;
        let balance = super::ledger::initial_balance_item(&account.id);
        self.store
            .transact(vec![
                WriteOp::Put { item: meta, condition: Some(Condition::ItemNotExists) },
                WriteOp::Put { item: balance, condition: Some(Condition::ItemNotExists) },
            ])
            .await?;
        Ok(())
    }

    /// Reads an account.
    pub async fn get(&self, id: &AccountId) -> Result<Option<Account>, RepoError> {
        self.store.get(&keys::account(id)).await?.map(from_item).transpose()
    }
}

/// Stores sites, indexed by account.
#[derive(Clone)]
pub struct SiteRepo {
    store: Arc<dyn ItemStore>,
}

impl SiteRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// A site's item, indexed under its account.
    fn item(site: &Site) -> Result<crate::ports::Item, RepoError> {
        to_item(
            site,
            "site",
            &keys::site(&site.id),
            Some((keys::account_sites_index(&site.account_id), keys::account_sites_sort(&site.id))),
        )
    }

    /// Writes a new site; fails with a condition error when its account does not exist.
    pub async fn create(&self, site: &Site) -> Result<(), RepoError> {
        let item = Self::item(site)?;
        self.store
            .transact(vec![
                WriteOp::Check { key: keys::account(&site.account_id), condition: Condition::ItemExists },
                WriteOp::Put { item, condition: Some(Condition::ItemNotExists) },
            ])
            .await?;
        Ok(())
    }

    /// Replaces an existing site's record (its account and id never change).
    pub async fn save(&self, site: &Site) -> Result<(), RepoError> {
        self.store.put(Self::item(site)?, Some(Condition::ItemExists)).await?;
        Ok(())
    }

    /// Reads a site.
    pub async fn get(&self, id: &SiteId) -> Result<Option<Site>, RepoError> {
        self.store.get(&keys::site(id)).await?.map(from_item).transpose()
    }

    /// Lists an account's sites (one page).
    pub async fn list(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Site>, RepoError> {
        let page = self
            .store
            .query(&Query::partition(keys::account_sites_index(account)).on_gsi1().limit(limit).after(cursor))
            .await?;
        page.try_map(from_item)
    }
}
