//! The shared fixture of the HTTP API tests: one world per test binary, built once on a
//! process-wide tokio runtime (so the run executions it spawns outlive any one test).
//!
//! The world holds account A (owner, editor and viewer tokens) and account B (an owner
//! token), each with a site whose automation run went through every stage, so that
//! keywords, clusters, ideas, tasks, articles and generated images exist; a platform
//! account whose admin token may act for either; and [`World::call`], which sends one
//! request through the router in process and checks the invariant every error shares:
//! an `application/problem+json` body with a stable `code`.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use igny8_ai::OfflineProvider;
use igny8_api::{mint_token, router, ApiState, AuthMode, Role};
use igny8_asl::ExecutorOptions;
use igny8_core::billing::payments::ManualPayment;
use igny8_core::billing::{InvoiceDocuments, NewPackage, NewPlan};
use igny8_core::domain::{
    AccountId, BillingDetails, Invoice, PackageId, PaymentMethod, PlanId, RunId, RunStatus, SellerDetails, SiteId,
};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{InvoiceRenderer, Platforms, RenderError};
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_tests::fake_platform::FakePlatform;
use igny8_wiring::embedded::LocalRuntime;
use serde_json::Value;
use tower::ServiceExt;

/// The HS256 secret the router verifies tokens with.
pub const SECRET: &[u8] = b"igny8-api-tests-secret-0123456789";
/// The example keyword export.
pub const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");
/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One tenant's ids: its account, a site with a completed run, and one record of each kind.
#[derive(Debug, Clone)]
pub struct Ids {
    /// The account.
    pub account: String,
    /// Its site with a completed run.
    pub site: String,
    /// The completed run.
    pub run: String,
    /// A keyword of the site.
    pub keyword: String,
    /// A cluster.
    pub cluster: String,
    /// An idea.
    pub idea: String,
    /// A writer task.
    pub task: String,
    /// An article.
    pub content: String,
    /// A generated image.
    pub image: String,
    /// The site's WordPress integration (on the world's fake WordPress).
    pub integration: String,
    /// A keyword-import job (waiting for its file).
    pub import: String,
    /// An open invoice (a credit package's), partly paid.
    pub invoice: String,
    /// The manual payment made on it.
    pub payment: String,
    /// The catalog's credit package (shared by every account, so not in [`Ids::all`]).
    pub package: String,
    /// The catalog's plan (shared too), which the account subscribes to.
    pub plan: String,
}

impl Ids {
    /// Every id, for "this body must not mention any of them".
    pub fn all(&self) -> Vec<&str> {
        vec![
            &self.account,
            &self.site,
            &self.run,
            &self.keyword,
            &self.cluster,
            &self.idea,
            &self.task,
            &self.content,
            &self.image,
            &self.integration,
            &self.import,
            &self.invoice,
            &self.payment,
        ]
    }

    /// Fills `{site_id}`, `{run_id}` and a record route's `{id}` (by the collection the
    /// path names) of an OpenAPI path template with this tenant's ids.
    pub fn fill(&self, template: &str) -> String {
        let record = [
            ("/keywords/", &self.keyword),
            ("/clusters/", &self.cluster),
            ("/ideas/", &self.idea),
            ("/tasks/", &self.task),
            ("/content/", &self.content),
            ("/images/", &self.image),
            ("/integrations/", &self.integration),
            ("/keyword-imports/", &self.import),
            ("/invoices/", &self.invoice),
            ("/payments/", &self.payment),
            ("/packages/", &self.package),
            ("/plans/", &self.plan),
        ]
        .into_iter()
        .find(|(segment, _)| template.contains(&format!("{segment}{{id}}")))
        .map(|(_, id)| id.as_str());
        let mut path = template.replace("{site_id}", &self.site).replace("{run_id}", &self.run);
        if let Some(id) = record {
            path = path.replace("{id}", id);
        }
        assert!(!path.contains("{site_id}") && !path.contains("{run_id}"), "unfilled template {template}");
        path
    }
}

/// Everything the API tests share.
pub struct World {
    /// The embedded runtime behind the router.
    pub rt: LocalRuntime,
    /// The router under test.
    pub router: Router,
    /// Account A.
    pub a: Ids,
    /// Account B.
    pub b: Ids,
    /// The platform account the admin token belongs to.
    pub platform: String,
    /// A's owner.
    pub owner_a: String,
    /// A's editor.
    pub editor_a: String,
    /// A's viewer.
    pub viewer_a: String,
    /// B's owner.
    pub owner_b: String,
    /// A platform admin.
    pub admin: String,
    /// The fake WordPress every integration of the world publishes to.
    pub wordpress: Arc<FakePlatform>,
    /// The fake Shopify.
    pub shopify: Arc<FakePlatform>,
    _dir: tempfile::TempDir,
}

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
static WORLD: tokio::sync::OnceCell<World> = tokio::sync::OnceCell::const_new();

/// Runs a test body on the process-wide runtime that owns the world.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("test runtime")
        })
        .block_on(future)
}

/// The world, built on first use.
pub async fn world() -> &'static World {
    WORLD.get_or_init(build).await
}

/// Seconds since the epoch.
pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// A token for `account` with `role`, valid for an hour.
pub fn token(account: &str, role: Role) -> String {
    let account: AccountId = account.parse().expect("account id");
    mint_token(SECRET, &format!("{role:?}-user").to_lowercase(), &account, role, now_s(), 3600).expect("mint")
}

/// Bearer value of a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn build() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        options,
    )
    .expect("runtime");
    let mut rt = rt;
    // Invoices get documents (drawn by [`JsonDocuments`]), so the PDF-link route answers.
    let documents = InvoiceDocuments {
        blobs: Arc::clone(&rt.blobs),
        renderer: Arc::new(JsonDocuments),
        seller: SellerDetails { name: "IGNY8".into(), ..SellerDetails::default() },
    };
    rt.services = rt.services.clone().with_documents(documents);
    // Integrations seal with the data directory's key file and publish to fakes.
    let (wordpress, shopify) = (FakePlatform::wordpress(), FakePlatform::shopify());
    rt.set_platforms(Platforms::new().with(wordpress.clone()).with(shopify.clone()));
    let state = ApiState::new(rt.services.clone(), rt.automation.clone(), AuthMode::Hs256 { secret: SECRET.to_vec() });
    let router = router(state);
    let catalog = &rt.services.catalog;
    let package = catalog
        .create_package(NewPackage {
            name: "Matrix pack".into(),
            credits: 100,
            price: 900,
            currency: "EUR".parse().expect("currency"),
            tax_rate_bp: 0,
        })
        .await
        .expect("package");
    let plan = catalog
        .create_plan(NewPlan {
            name: "Matrix plan".into(),
            monthly_price: 2900,
            currency: "EUR".parse().expect("currency"),
            included_monthly_credits: 1000,
            tax_rate_bp: 0,
        })
        .await
        .expect("plan");
    let _ = PLAN.set(plan.id.to_string());
    let accounts = &rt.services.account_service;
    let (platform, _) = accounts.create_account("Platform", 0).await.expect("platform account");
    let keywords = parse_keywords_csv(KEYWORDS).expect("example keywords");
    let mut w = World {
        router,
        a: Ids::placeholder(),
        b: Ids::placeholder(),
        platform: platform.id.to_string(),
        owner_a: String::new(),
        editor_a: String::new(),
        viewer_a: String::new(),
        owner_b: String::new(),
        admin: token(platform.id.as_str(), Role::Admin),
        wordpress,
        shopify,
        rt,
        _dir: dir,
    };
    w.a = w.tenant("Acme", "blog.acme.example", &keywords[..30]).await;
    w.b = w.tenant("Bravo", "news.bravo.example", &keywords[200..225]).await;
    for ids in [&mut w.a, &mut w.b] {
        ids.package = package.id.to_string();
        ids.plan = plan.id.to_string();
    }
    w.billing(&w.a.clone(), &package.id, &plan.id).await;
    w.billing(&w.b.clone(), &package.id, &plan.id).await;
    w.owner_a = token(&w.a.account, Role::Owner);
    w.editor_a = token(&w.a.account, Role::Editor);
    w.viewer_a = token(&w.a.account, Role::Viewer);
    w.owner_b = token(&w.b.account, Role::Owner);
    w
}

impl Ids {
    fn placeholder() -> Self {
        Self {
            account: String::new(),
            site: String::new(),
            run: String::new(),
            keyword: String::new(),
            cluster: String::new(),
            idea: String::new(),
            task: String::new(),
            content: String::new(),
            image: String::new(),
            integration: String::new(),
            import: String::new(),
            invoice: String::new(),
            payment: String::new(),
            package: String::new(),
            plan: String::new(),
        }
    }
}

/// The catalog's plan of the world, for request bodies that name it.
static PLAN: OnceLock<String> = OnceLock::new();

/// The world's plan id (the world must be built).
pub fn plan_id() -> String {
    PLAN.get().cloned().expect("the world is built first")
}

/// Draws an invoice as its JSON (with the seller's name): deterministic like a PDF
/// renderer must be, so the document routes are exercised without one.
struct JsonDocuments;

impl InvoiceRenderer for JsonDocuments {
    fn render(&self, invoice: &Invoice, seller: &SellerDetails) -> Result<Vec<u8>, RenderError> {
        serde_json::to_vec(&(invoice, &seller.name)).map_err(|e| RenderError::Failed(e.to_string()))
    }
}

impl World {
    /// The tenant's billing: its profile, a bought package with a first partial payment,
    /// and a subscription to the plan.
    async fn billing(&mut self, ids: &Ids, package: &PackageId, plan: &PlanId) {
        let account: AccountId = ids.account.parse().expect("account id");
        let services = &self.rt.services;
        let name = services.account_service.account(&account).await.expect("account").name;
        let details = BillingDetails { name, ..BillingDetails::default() };
        services.invoices.set_profile(&account, details).await.expect("profile");
        let draft = services.invoices.create_for_package(&account, package).await.expect("draft");
        let invoice = services.invoices.finalize(&account, &draft.id).await.expect("finalize");
        let payment = ManualPayment {
            amount: 1,
            reference: "matrix".into(),
            method: PaymentMethod::Manual,
            idempotency_key: format!("matrix-{}", invoice.id),
        };
        let paid = services.payments.record_manual_payment(&account, &invoice.id, payment).await.expect("payment");
        services.subscriptions.subscribe(&account, plan).await.expect("subscribe");
        let target = if self.a.account == ids.account { &mut self.a } else { &mut self.b };
        target.invoice = invoice.id.to_string();
        target.payment = paid.payment.id.to_string();
    }

    /// An account with a site whose run went through every stage, and its ids.
    async fn tenant(&self, name: &str, domain: &str, keywords: &[igny8_ai::KeywordInput]) -> Ids {
        let accounts = &self.rt.services.account_service;
        let (account, _) = accounts.create_account(name, 1_000_000).await.expect("account");
        let site = accounts.create_site(&account.id, "Blog", domain).await.expect("site");
        self.rt.importer.import(&account.id, &site.id, keywords).await.expect("import");
        // One image per article keeps the fixture quick; several articles still get one.
        let mut config = self.rt.automation.config(&account.id, &site.id).await.expect("config");
        config.images_per_article = 1;
        self.rt.automation.save_config(&account.id, config).await.expect("save config");
        let run = self.rt.automation.start(&account.id, &site.id, "manual").await.expect("start");
        self.rt.drive(&run.id, |_| {}).await.expect("drive");
        let done = self.rt.automation.run(&account.id, &run.id).await.expect("run");
        assert_eq!(done.status, RunStatus::Completed, "fixture run must complete: {done:?}");
        let owner = token(account.id.as_str(), Role::Owner);
        let first = |kind: &'static str| {
            let owner = owner.clone();
            let site = site.id.clone();
            async move { self.first_id(&owner, &site, kind, |_| true).await }
        };
        Ids {
            account: account.id.to_string(),
            site: site.id.to_string(),
            run: run.id.to_string(),
            keyword: first("keywords").await,
            cluster: first("clusters").await,
            idea: first("ideas").await,
            task: first("tasks").await,
            content: first("content").await,
            image: self.first_id(&owner, &site.id, "images", |i| i.get("url").and_then(Value::as_str).is_some()).await,
            import: self.import_job(&owner, &site.id).await,
            integration: self.integration(&owner, &site.id, domain).await,
            // Filled by `billing` once the tenant exists.
            invoice: String::new(),
            payment: String::new(),
            package: String::new(),
            plan: String::new(),
        }
    }

    /// A keyword-import job of the site, made through the API.
    async fn import_job(&self, owner: &str, site: &SiteId) -> String {
        let (status, _, body) = self.call("POST", &format!("/v1/sites/{site}/keyword-imports"), owner, None).await;
        assert_eq!(status, StatusCode::CREATED, "create an import job: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// A WordPress integration of the site, made through the API.
    async fn integration(&self, owner: &str, site: &SiteId, domain: &str) -> String {
        let body = serde_json::json!({
            "platform": "wordpress",
            "base_url": format!("https://{domain}"),
            "credentials": {"username": "matrix", "app_password": "matrix pass word 0001"},
        });
        let (status, _, body) = self.call("POST", &format!("/v1/sites/{site}/integrations"), owner, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "create an integration: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn first_id(&self, owner: &str, site: &SiteId, kind: &str, keep: impl Fn(&Value) -> bool) -> String {
        let (status, _, body) = self.call("GET", &format!("/v1/sites/{site}/{kind}?limit=100"), owner, None).await;
        assert_eq!(status, StatusCode::OK, "list {kind}: {body}");
        let items = body["items"].as_array().expect("items");
        let item =
            items.iter().find(|i| keep(i)).unwrap_or_else(|| panic!("the fixture run made no fitting {kind}: {body}"));
        item["id"].as_str().expect("id").to_owned()
    }

    /// Sends `method uri` with a bearer `token` (none when empty) and a JSON `body`.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if !token.is_empty() {
            request = request.header("authorization", bearer(token));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&json).expect("json body"))
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// Like [`World::call`] with extra headers (`X-Account-Id`, `Idempotency-Key`).
    pub async fn call_with(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if !token.is_empty() {
            request = request.header("authorization", bearer(token));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&json).expect("json body"))
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// Sends a raw request through the router. Every error response is checked here:
    /// a problem document (`application/problem+json`) whose `status` is the response's
    /// and whose `code` is a non-empty string.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let what = format!("{} {}", request.method(), request.uri());
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.expect("response body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if parts.status.is_client_error() || parts.status.is_server_error() {
            let media = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(
                media.starts_with(PROBLEM_JSON),
                "{what}: error {} with content-type {media:?}: {value}",
                parts.status
            );
            assert!(value["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: problem without a code: {value}");
            assert_eq!(
                value["status"].as_u64(),
                Some(u64::from(parts.status.as_u16())),
                "{what}: problem status: {value}"
            );
        }
        (parts.status, parts.headers, value)
    }

    /// Opens a fresh account (with `credits`) through the admin route; returns its id
    /// and an owner token.
    pub async fn fresh_account(&self, name: &str, credits: i64) -> (String, String) {
        let (status, _, body) = self
            .call("POST", "/v1/accounts", &self.admin, Some(serde_json::json!({"name": name, "credits": credits})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create account: {body}");
        let id = body["id"].as_str().expect("account id").to_owned();
        let owner = token(&id, Role::Owner);
        (id, owner)
    }

    /// Opens a site of the owner's account through the API; returns its id.
    pub async fn fresh_site(&self, owner: &str, domain: &str) -> String {
        let (status, _, body) =
            self.call("POST", "/v1/sites", owner, Some(serde_json::json!({"name": "Site", "domain": domain}))).await;
        assert_eq!(status, StatusCode::CREATED, "create site: {body}");
        body["id"].as_str().expect("site id").to_owned()
    }

    /// Imports the first `n` example keywords into a site as CSV through the API.
    pub async fn import_csv(&self, token: &str, site: &str, n: usize) -> Value {
        let text = String::from_utf8_lossy(KEYWORDS).into_owned();
        let csv: Vec<&str> = text.lines().take(n + 1).collect();
        let request = Request::builder()
            .method("POST")
            .uri(format!("/v1/sites/{site}/keywords"))
            .header("authorization", bearer(token))
            .header("content-type", "text/csv")
            .body(Body::from(csv.join("\n")))
            .expect("request");
        let (status, _, body) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "csv import: {body}");
        body
    }

    /// Drives a run started through the API to its end (works the image queue).
    pub async fn drive(&self, run: &str) {
        let id: RunId = run.parse().expect("run id");
        self.rt.drive(&id, |_| {}).await.expect("drive");
    }
}
