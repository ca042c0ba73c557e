//! Picks the adapter family and wires the services once, for the CLI, the Lambdas and tests.

use std::path::PathBuf;
use std::sync::Arc;

use crate::accounts::AccountService;
use crate::automation::SiteLock;
use crate::aws::DynamoStore;
use crate::billing::CreditService;
use crate::local::SqliteStore;
use crate::ports::{Clock, IdGenerator, ItemStore, StoreError, SystemClock, UuidIds};
use crate::repo::{AccountRepo, SiteRepo};

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "igny8.sqlite";

/// Where the platform keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (and, later, blob folders) under a directory: the laptop default.
    Embedded {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// One DynamoDB table, optionally at an emulator's endpoint.
    DynamoDb {
        /// Endpoint override (e.g. `http://127.0.0.1:5000`), None for AWS itself.
        endpoint: Option<String>,
        /// Table name.
        table: String,
        /// Create the table when missing (emulators and first runs).
        ensure_table: bool,
    },
}

impl Backend {
    /// Opens the item store of this backend.
    pub async fn open_store(&self) -> Result<Arc<dyn ItemStore>, StoreError> {
        match self {
            Self::Embedded { data_dir } => Ok(Arc::new(SqliteStore::open(data_dir.join(SQLITE_FILE))?)),
            Self::DynamoDb { endpoint, table, ensure_table } => {
                let store = DynamoStore::connect(endpoint.as_deref(), table).await?;
                if *ensure_table {
                    store.ensure_table().await?;
                }
                Ok(Arc::new(store))
            }
        }
    }
}

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
        let account_service = AccountService::new(
            accounts.clone(),
            sites.clone(),
            credits.clone(),
            Arc::clone(&clock),
            Arc::clone(&ids),
        );
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
