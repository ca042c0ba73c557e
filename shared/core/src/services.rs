//! Every service over one store, clock and id generator: what the API, the CLI and the
//! Lambdas share. Built by the wiring room for each adapter family.

use std::sync::Arc;

use crate::accounts::AccountService;
use crate::automation::SiteLock;
use crate::billing::CreditService;
use crate::ports::{Clock, IdGenerator, ItemStore, SystemClock, UuidIds};
use crate::repo::{AccountRepo, SiteRepo};

/// Every service, wired over one store, clock and id generator.
#[derive(Clone)]
pub struct Services {
    /// The store they share.
    pub store: Arc<dyn ItemStore>,
    /// Accounts.
    pub accounts: AccountRepo,
    /// Sites.
    pub sites: SiteRepo,
    /// The credit ledger.
    pub credits: CreditService,
    /// Opening accounts and sites.
    pub account_service: AccountService,
    /// The per-site run lock.
    pub locks: SiteLock,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
}

impl Services {
    /// Services on the system clock and UUIDv7 ids.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self::with(store, Arc::new(SystemClock), Arc::new(UuidIds))
    }

    /// Services with an injected clock and id generator (tests).
    pub fn with(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        let accounts = AccountRepo::new(Arc::clone(&store));
        let sites = SiteRepo::new(Arc::clone(&store));
        let credits = CreditService::new(Arc::clone(&store), Arc::clone(&clock), Arc::clone(&ids));
        let account_service =
            AccountService::new(accounts.clone(), sites.clone(), credits.clone(), Arc::clone(&clock), Arc::clone(&ids));
        Self {
            accounts,
            sites,
            credits,
            account_service,
            locks: SiteLock::new(Arc::clone(&store), Arc::clone(&clock)),
            store,
            clock,
            ids,
        }
    }
}
