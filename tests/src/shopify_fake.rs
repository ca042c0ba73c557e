//! A fake Shopify store for the Shopify client's tests (issue 12: no local Shopify
//! exists). An axum server on 127.0.0.1:0 that answers the part of the Admin GraphQL
//! API the client uses, the way Shopify's documentation says it answers:
//!
//! - Authentication: `X-Shopify-Access-Token` on `POST /admin/api/<version>/graphql.json`;
//!   a missing, unknown or expired token is a 401 with
//!   `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`
//!   (<https://shopify.dev/docs/api/usage/response-codes>: "401 Unauthorized — the
//!   necessary authentication credentials are not present in the request or are
//!   incorrect"). Every answer carries `X-Shopify-API-Version`.
//! - The client-credentials grant, `POST /admin/oauth/access_token` with a form body
//!   (`grant_type=client_credentials`, `client_id`, `client_secret`) answering
//!   `{"access_token", "scope", "expires_in": 86399}`
//!   (<https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/client-credentials-grant>,
//!   <https://shopify.dev/docs/apps/build/authentication-authorization/client-secrets>);
//!   wrong client credentials are a 400 `{"error": "invalid_client"}` (RFC 6749 §5.2).
//!   [`FakeShopify::expire_tokens`] makes every granted token expire, as 24 hours would.
//! - Access scopes: `currentAppInstallation { accessScopes { handle } }`; a field whose
//!   scope the app lacks is an `ACCESS_DENIED` error with `data` null for it
//!   (<https://shopify.dev/docs/api/admin-graphql>, "Status and error codes"), or, with
//!   [`ScopeDenial::Http403`], an HTTP 403 ("403 Forbidden — generally returned if you
//!   haven't requested the appropriate scope", response-codes page above).
//! - Rate limits: a leaky bucket of calculated query cost
//!   (<https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits>): every answer
//!   has `extensions.cost` with `requestedQueryCost`, `actualQueryCost` and
//!   `throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}`; a request
//!   costing more than is available gets `{"errors": [{"message": "Throttled",
//!   "extensions": {"code": "THROTTLED"}}]}` with `actualQueryCost` null and no data.
//!   Queries cost 2 points, mutations 10; the bucket holds 2,000 and restores 100 a
//!   second (Standard plan) unless a test changes it.
//! - Mutations report invalid input in `userErrors {field, message, code}` with HTTP
//!   200: `articleCreate` / `articleUpdate` (`BLANK` title or author, `NOT_FOUND` blog
//!   or article, `TAKEN` handle, `INVALID_PUBLISH_DATE` for published with a future
//!   date; <https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/articleCreate>,
//!   `ArticleCreateUserErrorCode`), `blogCreate`, `stagedUploadsCreate` (image types
//!   only) and `fileCreate`.
//! - Files: `stagedUploadsCreate` returns a target on this server (`url`, `resourceUrl`,
//!   `parameters`); the file is POSTed there as multipart form data without the access
//!   token (the real target is a storage bucket); `fileCreate` answers the file as
//!   `UPLOADED` without an image, and `node(id:)` answers it `READY` with its URL from
//!   the next poll on, as Shopify processes files asynchronously
//!   (<https://shopify.dev/docs/api/admin-graphql/latest/mutations/stagedUploadsCreate>,
//!   <https://shopify.dev/docs/api/admin-graphql/latest/mutations/fileCreate>).
//! - Articles carry SEO title and description as the `global.title_tag` and
//!   `global.description_tag` metafields
//!   (<https://shopify.dev/docs/apps/build/marketing-analytics/optimize-storefront-seo>).
//!
//! What it does not do: parse GraphQL. It finds the root fields by name in the query
//! text, reads the inputs from `variables`, and answers each root field with a fixed
//! selection — the fields (and aliases) the client asks for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The documented 401 body.
const UNAUTHORIZED: &str = "[API] Invalid API key or access token (unrecognized login or wrong password)";

/// How a missing access scope is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScopeDenial {
    /// HTTP 200 with an `ACCESS_DENIED` error for the field (the GraphQL way).
    #[default]
    AccessDenied,
    /// HTTP 403 for the whole request.
    Http403,
}

/// The store the fake pretends to be and the app installed in it.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The shop's name.
    pub shop_name: String,
    /// A static Admin API access token that always works.
    pub static_token: String,
    /// The app's client id, for the client-credentials grant.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The access scopes granted to the app.
    pub scopes: Vec<String>,
    /// How a missing scope is answered.
    pub scope_denial: ScopeDenial,
    /// Blogs the store already has (titles).
    pub blogs: Vec<String>,
}

impl Default for FakeConfig {
    /// A store with a "News" blog and an app with `write_content` and `write_files`.
    fn default() -> Self {
        Self {
            shop_name: "IGNY8 test shop".into(),
            static_token: "shpat_fake_static_0123456789abcdef".into(),
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            scopes: vec!["read_content".into(), "write_content".into(), "read_files".into(), "write_files".into()],
            scope_denial: ScopeDenial::AccessDenied,
            blogs: vec!["News".into()],
        }
    }
}

#[derive(Debug, Clone)]
struct Blog {
    id: String,
    title: String,
    handle: String,
}

#[derive(Debug, Clone)]
struct FileRecord {
    source: String,
    alt: String,
    ready: bool,
    url: Option<String>,
}

#[derive(Debug)]
struct Shop {
    config: FakeConfig,
    base: String,
    tokens: HashMap<String, Instant>,
    grants: u32,
    available: f64,
    maximum: f64,
    restore_rate: f64,
    last_restore: Instant,
    blogs: Vec<Blog>,
    articles: BTreeMap<u64, Value>,
    staged: HashMap<u64, (String, Vec<u8>)>,
    files: HashMap<String, FileRecord>,
    next_id: u64,
    operations: Vec<String>,
    token_sent_to_storage: bool,
}

type Shared = Arc<Mutex<Shop>>;

fn lock(shop: &Shared) -> MutexGuard<'_, Shop> {
    shop.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake store; stopped when dropped.
pub struct FakeShopify {
    /// `http://127.0.0.1:<port>`: what goes into an integration's base URL.
    pub url: String,
    shop: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl FakeShopify {
    /// Starts a fake store on 127.0.0.1 (a free port).
    pub async fn start(config: FakeConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Shopify");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let mut next_id = 1;
        let blogs = config
            .blogs
            .iter()
            .map(|title| {
                next_id += 1;
                Blog { id: format!("gid://shopify/Blog/{next_id}"), title: title.clone(), handle: handle_of(title) }
            })
            .collect();
        let shop = Arc::new(Mutex::new(Shop {
            config,
            base: url.clone(),
            tokens: HashMap::new(),
            grants: 0,
            available: 2000.0,
            maximum: 2000.0,
            restore_rate: 100.0,
            last_restore: Instant::now(),
            blogs,
            articles: BTreeMap::new(),
            staged: HashMap::new(),
            files: HashMap::new(),
            next_id: next_id + 1,
            operations: Vec::new(),
            token_sent_to_storage: false,
        }));
        let router = Router::new()
            .route("/admin/oauth/access_token", post(grant))
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .route("/staged-uploads/{n}", post(staged_upload))
            .route("/cdn/files/{n}/{name}", get(cdn_file))
            .with_state(shop.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, shop, server }
    }

    /// Makes every token granted so far expire now (as after 24 hours).
    pub fn expire_tokens(&self) {
        let mut shop = lock(&self.shop);
        let now = Instant::now();
        for expiry in shop.tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Client-credentials grants answered so far.
    pub fn grants(&self) -> u32 {
        lock(&self.shop).grants
    }

    /// Empties the cost bucket, so the next request is throttled.
    pub fn drain_bucket(&self) {
        let mut shop = lock(&self.shop);
        shop.available = 0.0;
        shop.last_restore = Instant::now();
    }

    /// Sets the points restored per second.
    pub fn set_restore_rate(&self, points_per_second: f64) {
        lock(&self.shop).restore_rate = points_per_second;
    }

    /// The articles as stored (the same JSON the API answers).
    pub fn articles(&self) -> Vec<Value> {
        lock(&self.shop).articles.values().cloned().collect()
    }

    /// The titles of the store's blogs.
    pub fn blog_titles(&self) -> Vec<String> {
        lock(&self.shop).blogs.iter().map(|b| b.title.clone()).collect()
    }

    /// The files received by staged uploads: (file name, bytes).
    pub fn uploads(&self) -> Vec<(String, Vec<u8>)> {
        lock(&self.shop).staged.values().cloned().collect()
    }

    /// The root fields of every GraphQL request answered, in order (throttled ones too).
    pub fn operations(&self) -> Vec<String> {
        lock(&self.shop).operations.clone()
    }

    /// True when a staged upload arrived with an access token (it must not).
    pub fn token_sent_to_storage(&self) -> bool {
        lock(&self.shop).token_sent_to_storage
    }
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `POST /admin/oauth/access_token`.
async fn grant(State(shop): State<Shared>, body: Bytes) -> Response {
    let form = parse_form(&body);
    let mut shop = lock(&shop);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        let body =
            json!({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    if field("client_id") != shop.config.client_id || field("client_secret") != shop.config.client_secret {
        let body = json!({"error": "invalid_client", "error_description": "Client authentication failed"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    shop.grants += 1;
    let token = format!("shpat_fake_granted_{}_{}", shop.grants, uuid::Uuid::new_v4().simple());
    shop.tokens.insert(token.clone(), Instant::now() + std::time::Duration::from_secs(86_399));
    let scope = shop.config.scopes.join(",");
    Json(json!({"access_token": token, "scope": scope, "expires_in": 86399})).into_response()
}

/// `POST /admin/api/<version>/graphql.json`.
async fn graphql(
    State(shared): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let mut shop = lock(&shared);
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let valid = token == shop.config.static_token || shop.tokens.get(token).is_some_and(|e| *e > Instant::now());
    let mut answer = if !valid {
        (StatusCode::UNAUTHORIZED, Json(json!({ "errors": UNAUTHORIZED }))).into_response()
    } else {
        let query = request.get("query").and_then(Value::as_str).unwrap_or_default().to_string();
        let variables = request.get("variables").cloned().unwrap_or(Value::Null);
        shop.answer(&query, &variables)
    };
    if let Ok(value) = version.parse() {
        answer.headers_mut().insert("x-shopify-api-version", value);
    }
    answer
}

/// The root fields the fake knows, mutations first (their names contain query names).
const ROOT_FIELDS: &[(&str, bool, &str)] = &[
    ("articleCreate(", true, "write_content"),
    ("articleUpdate(", true, "write_content"),
    ("blogCreate(", true, "write_content"),
    ("stagedUploadsCreate(", true, "write_files"),
    ("fileCreate(", true, "write_files"),
    ("articles(", false, "read_content"),
    ("article(", false, "read_content"),
    ("blogs(", false, "read_content"),
    ("articleTags(", false, "read_content"),
    ("node(", false, "read_files"),
    ("shop {", false, ""),
    ("currentAppInstallation", false, ""),
];

impl Shop {
    fn has_scope(&self, scope: &str) -> bool {
        if scope.is_empty() {
            return true;
        }
        let has = |s: &str| self.config.scopes.iter().any(|g| g == s);
        // A write scope includes its read scope; content writers may also upload files.
        match scope {
            "read_content" => has("read_content") || has("write_content"),
            "read_files" => has("read_files") || has("write_files") || has("write_content"),
            "write_files" => has("write_files") || has("write_content"),
            other => has(other),
        }
    }

    fn cost(&self, requested: f64, actual: Option<f64>) -> Value {
        json!({
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": self.available,
                "restoreRate": self.restore_rate,
            }
        })
    }

    fn answer(&mut self, query: &str, variables: &Value) -> Response {
        let fields: Vec<(&str, bool, &str)> = ROOT_FIELDS
            .iter()
            .filter(|(name, _, _)| query.contains(name))
            .map(|(name, mutation, scope)| (name.trim_end_matches(['(', ' ', '{']), *mutation, *scope))
            .collect();
        self.operations.extend(fields.iter().map(|(name, _, _)| name.to_string()));
        let requested: f64 = if fields.iter().any(|(_, mutation, _)| *mutation) { 10.0 } else { 2.0 };

        // The leaky bucket: restore since the last request, then take the cost or throttle.
        let now = Instant::now();
        let restored = now.duration_since(self.last_restore).as_secs_f64() * self.restore_rate;
        self.available = (self.available + restored).min(self.maximum);
        self.last_restore = now;
        if self.available < requested {
            let body = json!({
                "errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits"
                }}],
                "extensions": {"cost": self.cost(requested, None)},
            });
            return Json(body).into_response();
        }
        self.available -= requested;

        let mut data = serde_json::Map::new();
        let mut errors = Vec::new();
        for (name, _, scope) in &fields {
            if !self.has_scope(scope) {
                if self.config.scope_denial == ScopeDenial::Http403 {
                    let message = format!("[API] This action requires merchant approval for {scope} scope.");
                    return (StatusCode::FORBIDDEN, Json(json!({ "errors": message }))).into_response();
                }
                data.insert(name.to_string(), Value::Null);
                errors.push(json!({
                    "message": format!("Access denied for {name} field. Required access: `{scope}` access scope."),
                    "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes", "requiredAccess": format!("`{scope}` access scope.")},
                    "path": [name],
                }));
                continue;
            }
            let value = match *name {
                "shop" => {
                    json!({"id": "gid://shopify/Shop/1", "name": self.config.shop_name, "myshopifyDomain": "igny8-test.myshopify.com"})
                }
                "currentAppInstallation" => {
                    json!({"accessScopes": self.config.scopes.iter().map(|s| json!({"handle": s})).collect::<Vec<_>>()})
                }
                "blogs" => {
                    let nodes: Vec<Value> = self.blogs.iter().map(blog_json).collect();
                    json!({"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}})
                }
                "blogCreate" => self.blog_create(variables),
                "articles" => self.articles_query(variables),
                "article" => {
                    let id = variables.get("id").and_then(Value::as_str).unwrap_or_default();
                    article_number(id).and_then(|n| self.articles.get(&n).cloned()).unwrap_or(Value::Null)
                }
                "articleTags" => {
                    let tags: BTreeSet<String> = self
                        .articles
                        .values()
                        .flat_map(|a| a.get("tags").and_then(Value::as_array).cloned().unwrap_or_default())
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect();
                    json!(tags)
                }
                "articleCreate" => self.article_save(None, variables),
                "articleUpdate" => {
                    let id = variables.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                    self.article_save(Some(&id), variables)
                }
                "stagedUploadsCreate" => self.staged_uploads_create(variables),
                "fileCreate" => self.file_create(variables),
                "node" => self.node(variables),
                _ => Value::Null,
            };
            data.insert(name.to_string(), value);
        }
        let mut body = json!({"data": data, "extensions": {"cost": self.cost(requested, Some(requested))}});
        if !errors.is_empty() {
            body["errors"] = Value::Array(errors);
        }
        Json(body).into_response()
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn blog_create(&mut self, variables: &Value) -> Value {
        let title = variables.pointer("/blog/title").and_then(Value::as_str).unwrap_or_default().trim().to_string();
        if title.is_empty() {
            return json!({"blog": null, "userErrors": [{"field": ["blog", "title"], "message": "Title can't be blank", "code": "BLANK"}]});
        }
        let id = self.new_id();
        let blog = Blog { id: format!("gid://shopify/Blog/{id}"), handle: handle_of(&title), title };
        let answer = json!({"blog": blog_json(&blog), "userErrors": []});
        self.blogs.push(blog);
        answer
    }

    fn articles_query(&self, variables: &Value) -> Value {
        let search = variables.get("query").and_then(Value::as_str).unwrap_or_default();
        let handle = search.strip_prefix("handle:").map(|h| h.trim_matches('"').to_string());
        let first = variables.get("first").and_then(Value::as_u64).unwrap_or(250) as usize;
        let nodes: Vec<Value> = self
            .articles
            .values()
            .filter(|a| handle.as_deref().is_none_or(|h| a.get("handle").and_then(Value::as_str) == Some(h)))
            .take(first)
            .cloned()
            .collect();
        json!({"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}})
    }

    fn article_save(&mut self, id: Option<&str>, variables: &Value) -> Value {
        let input = variables.get("article").cloned().unwrap_or(Value::Null);
        let field = |name: &str| input.get(name).filter(|v| !v.is_null());
        let user_error = |path: &[&str], message: &str, code: &str| json!({"article": null, "userErrors": [{"field": path, "message": message, "code": code}]});
        let existing = match id {
            Some(id) => match article_number(id).and_then(|n| self.articles.get(&n).cloned()) {
                Some(article) => Some(article),
                None => return user_error(&["id"], "Article does not exist", "NOT_FOUND"),
            },
            None => None,
        };
        let mut article = existing.clone().unwrap_or_else(|| json!({}));
        let title = field("title").and_then(Value::as_str).map(str::to_string);
        if (existing.is_none() || title.is_some()) && title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return user_error(&["article", "title"], "Title can't be blank", "BLANK");
        }
        if existing.is_none()
            && field("author").and_then(|a| a.get("name")).and_then(Value::as_str).is_none_or(str::is_empty)
        {
            return user_error(&["article", "author"], "Author can't be blank", "BLANK");
        }
        let blog = match field("blogId").and_then(Value::as_str) {
            Some(blog_id) => match self.blogs.iter().find(|b| b.id == blog_id) {
                Some(blog) => Some(blog.clone()),
                None => return user_error(&["article", "blogId"], "Blog does not exist", "NOT_FOUND"),
            },
            None if existing.is_none() => return user_error(&["article", "blogId"], "Blog must exist", "BLANK"),
            None => None,
        };
        let now = time::OffsetDateTime::now_utc();
        let now_text = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let publish_date = field("publishDate").and_then(Value::as_str).map(str::to_string);
        let future = publish_date
            .as_deref()
            .and_then(|d| time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok())
            .is_some_and(|d| d > now);
        let published = field("isPublished").and_then(Value::as_bool);
        if published == Some(true) && future {
            return user_error(
                &["article", "publishDate"],
                "Can’t set isPublished to true and also set a future publish date.",
                "INVALID_PUBLISH_DATE",
            );
        }
        let handle =
            field("handle").and_then(Value::as_str).map(str::to_string).or_else(|| title.as_deref().map(handle_of));
        let blog_id = blog
            .as_ref()
            .map(|b| b.id.clone())
            .or_else(|| article.pointer("/blog/id").and_then(Value::as_str).map(str::to_string));
        if let Some(handle) = &handle {
            let taken = self.articles.iter().any(|(n, a)| {
                Some(format!("gid://shopify/Article/{n}"))
                    != existing.as_ref().and_then(|e| e.get("id")).and_then(Value::as_str).map(str::to_string)
                    && a.get("handle").and_then(Value::as_str) == Some(handle)
                    && a.pointer("/blog/id").and_then(Value::as_str) == blog_id.as_deref()
            });
            if taken {
                return user_error(&["article", "handle"], "Handle has already been taken", "TAKEN");
            }
        }
        if let Some(url) = field("image").and_then(|i| i.get("url")).and_then(Value::as_str) {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return user_error(&["article", "image", "url"], "Image upload failed", "UPLOAD_FAILED");
            }
        }

        let number = match existing.as_ref().and_then(|e| e.get("id")).and_then(Value::as_str).and_then(article_number)
        {
            Some(n) => n,
            None => self.new_id(),
        };
        article["id"] = json!(format!("gid://shopify/Article/{number}"));
        if let Some(title) = title {
            article["title"] = json!(title);
        }
        if let Some(handle) = handle {
            article["handle"] = json!(handle);
        }
        for key in ["body", "summary", "tags", "author"] {
            if let Some(value) = field(key) {
                article[key] = value.clone();
            }
        }
        if let Some(blog) = &blog {
            article["blog"] = json!({"id": blog.id, "handle": blog.handle});
        }
        if let Some(image) = field("image") {
            article["image"] = json!({"url": image.get("url"), "altText": image.get("altText")});
        } else if article.get("image").is_none() {
            article["image"] = Value::Null;
        }
        match (published, &publish_date) {
            (_, Some(date)) if future => {
                article["isPublished"] = json!(false);
                article["publishedAt"] = json!(date);
            }
            (Some(true), _) => {
                article["isPublished"] = json!(true);
                article["publishedAt"] = json!(publish_date.clone().unwrap_or_else(|| now_text.clone()));
            }
            (Some(false), _) => {
                article["isPublished"] = json!(false);
                article["publishedAt"] = Value::Null;
            }
            (None, _) => {}
        }
        for metafield in field("metafields").and_then(Value::as_array).into_iter().flatten() {
            let namespace = metafield.get("namespace").and_then(Value::as_str).unwrap_or_default();
            let key = metafield.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = metafield.get("value").cloned().unwrap_or(Value::Null);
            match (namespace, key) {
                ("global", "title_tag") => article["seoTitle"] = json!({ "value": value }),
                ("global", "description_tag") => article["seoDescription"] = json!({ "value": value }),
                _ => {}
            }
        }
        for alias in ["seoTitle", "seoDescription"] {
            if article.get(alias).is_none() {
                article[alias] = Value::Null;
            }
        }
        article["updatedAt"] = json!(now_text);
        self.articles.insert(number, article.clone());
        json!({"article": article, "userErrors": []})
    }

    fn staged_uploads_create(&mut self, variables: &Value) -> Value {
        let mut targets = Vec::new();
        for input in variables.get("input").and_then(Value::as_array).into_iter().flatten() {
            let mime = input.get("mimeType").and_then(Value::as_str).unwrap_or_default().to_string();
            if input.get("resource").and_then(Value::as_str) != Some("IMAGE") || !mime.starts_with("image/") {
                return json!({"stagedTargets": null, "userErrors": [{"field": ["input", "mimeType"], "message": format!("{mime} is not an image type")}]});
            }
            let filename = input.get("filename").and_then(Value::as_str).unwrap_or("file").to_string();
            let n = self.new_id();
            self.staged.insert(n, (filename.clone(), Vec::new()));
            targets.push(json!({
                "url": format!("{}/staged-uploads/{n}", self.base),
                "resourceUrl": format!("{}/staged-uploads/{n}/{filename}", self.base),
                "parameters": [
                    {"name": "Content-Type", "value": mime},
                    {"name": "key", "value": format!("tmp/{n}/{filename}")},
                    {"name": "policy", "value": "fake-policy"},
                ],
            }));
        }
        json!({"stagedTargets": targets, "userErrors": []})
    }

    fn file_create(&mut self, variables: &Value) -> Value {
        let mut files = Vec::new();
        for input in variables.get("files").and_then(Value::as_array).into_iter().flatten() {
            let source = input.get("originalSource").and_then(Value::as_str).unwrap_or_default().to_string();
            if source.is_empty() {
                return json!({"files": null, "userErrors": [{"field": ["files", "0", "originalSource"], "message": "Original source can't be blank", "code": "BLANK"}]});
            }
            let alt = input.get("alt").and_then(Value::as_str).unwrap_or_default().to_string();
            let id = format!("gid://shopify/MediaImage/{}", self.new_id());
            files.push(json!({"id": id, "fileStatus": "UPLOADED", "alt": alt, "image": null}));
            self.files.insert(id, FileRecord { source, alt, ready: false, url: None });
        }
        json!({"files": files, "userErrors": []})
    }

    /// `node(id:)` for files: processed on the first poll after creation.
    fn node(&mut self, variables: &Value) -> Value {
        let id = variables.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let base = self.base.clone();
        let staged = self.staged.clone();
        let Some(file) = self.files.get_mut(&id) else { return Value::Null };
        if !file.ready {
            file.ready = true;
            // Processing succeeds when the staged upload really received the file.
            let uploaded = staged.iter().find(|(n, (name, bytes))| {
                !bytes.is_empty() && file.source == format!("{base}/staged-uploads/{n}/{name}")
            });
            file.url = uploaded.map(|(n, (name, _))| format!("{base}/cdn/files/{n}/{name}"));
        }
        match &file.url {
            Some(url) => json!({"id": id, "fileStatus": "READY", "alt": file.alt, "image": {"url": url}}),
            None => json!({"id": id, "fileStatus": "FAILED", "alt": file.alt, "image": null}),
        }
    }
}

/// `POST /staged-uploads/<n>`: the multipart form with the file.
async fn staged_upload(State(shared): State<Shared>, Path(n): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let mut shop = lock(&shared);
    if headers.contains_key("x-shopify-access-token") {
        shop.token_sent_to_storage = true;
    }
    let boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string());
    let Some(boundary) = boundary else {
        return (StatusCode::BAD_REQUEST, "multipart/form-data with a boundary expected").into_response();
    };
    let Some(file) = multipart_file(&body, &boundary) else {
        return (StatusCode::BAD_REQUEST, "no file field in the form").into_response();
    };
    match shop.staged.get_mut(&n) {
        Some((_, bytes)) => {
            *bytes = file;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such staged target").into_response(),
    }
}

/// `GET /cdn/files/<n>/<name>`: a processed file.
async fn cdn_file(State(shared): State<Shared>, Path((n, _name)): Path<(u64, String)>) -> Response {
    match lock(&shared).staged.get(&n) {
        Some((_, bytes)) if !bytes.is_empty() => bytes.clone().into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The bytes of the `file` field of a multipart body.
fn multipart_file(body: &[u8], boundary: &str) -> Option<Vec<u8>> {
    let delimiter = format!("--{boundary}");
    let marker = b"name=\"file\"";
    let start = find(body, marker)?;
    let header_end = find(&body[start..], b"\r\n\r\n")? + start + 4;
    let end = find(&body[header_end..], format!("\r\n{delimiter}").as_bytes())? + header_end;
    Some(body[header_end..end].to_vec())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An `application/x-www-form-urlencoded` body as a map.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let decode = |s: &str| crate::percent_decode(&s.replace('+', " "));
            Some((decode(key), decode(value)))
        })
        .collect()
}

fn blog_json(blog: &Blog) -> Value {
    json!({"id": blog.id, "title": blog.title, "handle": blog.handle})
}

fn article_number(id: &str) -> Option<u64> {
    id.strip_prefix("gid://shopify/Article/")?.parse().ok()
}

fn handle_of(title: &str) -> String {
    let mut handle = String::new();
    for c in title.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            handle.push(c);
        } else if !handle.ends_with('-') {
            handle.push('-');
        }
    }
    handle.trim_matches('-').to_string()
}
