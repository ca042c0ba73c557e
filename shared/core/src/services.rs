//! Every service over one store, clock and id generator: what the API, the CLI and the
//! Lambdas share. Built by the wiring room for each adapter family.

use std::sync::Arc;

use crate::accounts::AccountService;
use crate::automation::SiteLock;
use crate::billing::{
    CatalogService, CreditService, InvoiceDocuments, InvoiceService, PaymentService, SubscriptionService,
};
use crate::integration::{IntegrationPorts, IntegrationService, SyncService};
use crate::linking::LinkingService;
use crate::optimization::ContentChecks;
use crate::ports::{Clock, IdGenerator, ItemStore, SystemClock, UuidIds};
use crate::publishing::PublishingService;
use crate::repo::{AccountRepo, BillingRepo, SiteRepo};

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
    /// Credit packages and plans.
    pub catalog: CatalogService,
    /// Invoices: drafts, finalize, lifecycle, documents.
    pub invoices: InvoiceService,
    /// Payments, refunds and credit notes.
    pub payments: PaymentService,
    /// Subscriptions and their renewal.
    pub subscriptions: SubscriptionService,
    /// Site integrations (WordPress, Shopify) and connection tests.
    pub integrations: IntegrationService,
    /// Content, metadata and health sync of integrations.
    pub sync: SyncService,
    /// Review and publishing.
    pub publishing: PublishingService,
    /// Validation and analysis of articles.
    pub checks: ContentChecks,
    /// Internal links between a site's articles.
    pub linking: LinkingService,
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
    ///
    /// Invoices have no documents yet: finalize records no `pdf_key` and asking for a
    /// PDF is `pdf_unavailable`, until [`Services::with_documents`] supplies the blob
    /// store, the renderer and the seller. Invoices finalized before that get their
    /// PDF rendered the first time one is asked for (rendering is deterministic).
    pub fn with(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        let accounts = AccountRepo::new(Arc::clone(&store));
        let sites = SiteRepo::new(Arc::clone(&store));
        let credits = CreditService::new(Arc::clone(&store), Arc::clone(&clock), Arc::clone(&ids));
        let account_service =
            AccountService::new(accounts.clone(), sites.clone(), credits.clone(), Arc::clone(&clock), Arc::clone(&ids));
        let billing = BillingRepo::new(Arc::clone(&store));
        let catalog = CatalogService::new(billing.clone(), Arc::clone(&clock), Arc::clone(&ids));
        let invoices =
            InvoiceService::new(billing, accounts.clone(), credits.clone(), Arc::clone(&clock), Arc::clone(&ids));
        let payments = PaymentService::new(invoices.clone(), credits.clone(), Arc::clone(&clock), Arc::clone(&ids));
        let subscriptions = SubscriptionService::new(invoices.clone(), Arc::clone(&clock));
        let integrations = IntegrationService::new(Arc::clone(&store), Arc::clone(&clock), Arc::clone(&ids));
        Self {
            checks: ContentChecks::new(Arc::clone(&store), Arc::clone(&clock)),
            linking: LinkingService::new(Arc::clone(&store), Arc::clone(&clock)),
            sync: SyncService::new(integrations.clone()),
            publishing: PublishingService::new(integrations.clone()),
            integrations,
            accounts,
            sites,
            credits,
            account_service,
            locks: SiteLock::new(Arc::clone(&store), Arc::clone(&clock)),
            catalog,
            invoices,
            payments,
            subscriptions,
            store,
            clock,
            ids,
        }
    }

    /// The same services rendering invoice documents: finalize and every status change
    /// render the PDF through `documents.renderer` and store it in `documents.blobs` at
    /// `invoices/<account>/<number>.pdf`.
    pub fn with_documents(mut self, documents: InvoiceDocuments) -> Self {
        self.invoices = self.invoices.with_documents(documents);
        self.payments = PaymentService::new(
            self.invoices.clone(),
            self.credits.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
        );
        self.subscriptions = SubscriptionService::new(self.invoices.clone(), Arc::clone(&self.clock));
        self
    }

    /// The same services with integrations configured: the key provider, the platform
    /// clients and the blob store with the images to publish.
    pub fn with_integrations(mut self, ports: IntegrationPorts) -> Self {
        self.integrations = self.integrations.with_ports(ports);
        self.sync = SyncService::new(self.integrations.clone());
        self.publishing = PublishingService::new(self.integrations.clone());
        self
    }
}
