//! AccountService: opening tenants and their sites.

use std::sync::Arc;

use crate::billing::credits::MAX_CREDITS_PER_REQUEST;
use crate::billing::{CreditError, CreditService, LedgerReceipt};
use crate::domain::{Account, AccountId, AccountStatus, Site, SiteId, SiteStatus, TransactionKind};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, IdGenerator, StoreError};
use crate::ports::{IdGeneratorExt, Page};
use crate::repo::{AccountRepo, RepoError, SiteRepo};

/// Refusals and failures of account and site management.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A name, domain or amount is unusable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The account does not exist.
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    /// Starting credits could not be granted.
    #[error(transparent)]
    Credits(#[from] CreditError),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl AccountError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "validation_failed",
            Self::AccountNotFound(_) => "not_found",
            Self::Credits(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }
}

/// The fields of a site an owner may change; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteChange {
    /// New display name.
    pub name: Option<String>,
    /// New public domain.
    pub domain: Option<String>,
    /// Switch automation on or off for the site.
    pub status: Option<SiteStatus>,
}

/// Opens accounts and sites.
#[derive(Clone)]
pub struct AccountService {
    accounts: AccountRepo,
    sites: SiteRepo,
    credits: CreditService,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

/// Longest account or site name, in characters (the API declares it).
pub const NAME_MAX: usize = 200;

fn check_text(field: &'static str, value: &str, max: usize) -> Result<String, AccountError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        return Err(AccountError::Invalid { field, reason: format!("must be 1 to {max} printable characters") });
    }
    Ok(trimmed.to_owned())
}

fn check_domain(domain: &str) -> Result<String, AccountError> {
    let d = domain.trim().trim_end_matches('/').to_ascii_lowercase();
    let d = d.strip_prefix("https://").or_else(|| d.strip_prefix("http://")).unwrap_or(&d).to_owned();
    let labels_ok = d.split('.').count() >= 2
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !labels_ok || d.len() > 253 {
        return Err(AccountError::Invalid { field: "domain", reason: format!("{domain:?} is not a domain name") });
    }
    Ok(d)
}

impl AccountService {
    /// The service over its repositories and the ledger.
    pub fn new(
        accounts: AccountRepo,
        sites: SiteRepo,
        credits: CreditService,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { accounts, sites, credits, clock, ids }
    }

    /// Opens an account; starting credits become a grant in its ledger.
    pub async fn create_account(
        &self,
        name: &str,
        starting_credits: i64,
    ) -> Result<(Account, Option<LedgerReceipt>), AccountError> {
        let name = check_text("name", name, NAME_MAX)?;
        if starting_credits < 0 {
            return Err(AccountError::Invalid { field: "credits", reason: "cannot be negative".into() });
        }
        if starting_credits > MAX_CREDITS_PER_REQUEST {
            let reason = format!("at most {MAX_CREDITS_PER_REQUEST} starting credits");
            return Err(AccountError::Invalid { field: "credits", reason });
        }
        let account = Account {
            id: self.ids.generate::<AccountId>(),
            name,
            status: AccountStatus::Active,
            created_at: rfc3339(self.clock.now_ms()),
        };
        self.accounts.create(&account).await?;
        let grant = if starting_credits > 0 {
            let key = format!("opening-grant:{}", account.id);
            let receipt = self
                .credits
                .add(&account.id, starting_credits, TransactionKind::Grant, "opening credits", None, Some(key))
                .await?;
            Some(receipt)
        } else {
            None
        };
        Ok((account, grant))
    }

    /// Reads an account.
    pub async fn account(&self, id: &AccountId) -> Result<Account, AccountError> {
        self.accounts.get(id).await?.ok_or_else(|| AccountError::AccountNotFound(id.clone()))
    }

    /// Opens a site of an existing account.
    pub async fn create_site(&self, account: &AccountId, name: &str, domain: &str) -> Result<Site, AccountError> {
        let site = Site {
            id: self.ids.generate::<SiteId>(),
            account_id: account.clone(),
            name: check_text("name", name, NAME_MAX)?,
            domain: check_domain(domain)?,
            status: SiteStatus::Active,
            created_at: rfc3339(self.clock.now_ms()),
        };
        match self.sites.create(&site).await {
            Ok(()) => Ok(site),
            Err(RepoError::Store(StoreError::ConditionFailed(f))) if f.iter().any(|w| w.index == 0) => {
                Err(AccountError::AccountNotFound(account.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a site of the caller's account (another account's site is not found).
    pub async fn site(&self, account: &AccountId, id: &SiteId) -> Result<Option<Site>, AccountError> {
        Ok(self.sites.get(id).await?.filter(|s| &s.account_id == account))
    }

    /// Changes a site's name, domain or status; None when the account has no such site.
    pub async fn update_site(
        &self,
        account: &AccountId,
        id: &SiteId,
        change: SiteChange,
    ) -> Result<Option<Site>, AccountError> {
        let Some(mut site) = self.site(account, id).await? else {
            return Ok(None);
        };
        if let Some(name) = change.name {
            site.name = check_text("name", &name, NAME_MAX)?;
        }
        if let Some(domain) = change.domain {
            site.domain = check_domain(&domain)?;
        }
        if let Some(status) = change.status {
            site.status = status;
        }
        self.sites.save(&site).await?;
        Ok(Some(site))
    }

    /// Lists the account's sites.
    pub async fn sites(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Site>, AccountError> {
        self.account(account).await?;
        Ok(self.sites.list(account, limit.clamp(1, 1000), cursor).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(check_domain("https://Example.COM/").ok().as_deref(), Some("example.com"));
        assert!(check_domain("localhost").is_err());
        assert!(check_domain("bad_domain.com").is_err());
        assert!(check_domain("-a.com").is_err());
    }
}
