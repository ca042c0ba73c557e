//! The client of the Shopify Admin GraphQL API (docs/integrations.md).
//!
//! - Endpoint `https://<shop>/admin/api/<API_VERSION>/graphql.json`, header
//!   `X-Shopify-Access-Token` (<https://shopify.dev/docs/api/admin-graphql>). A base URL
//!   with an explicit scheme (`http://127.0.0.1:port`) is used as given, for the fake.
//! - Credentials: a static access token, or a client id and secret exchanged by the
//!   client-credentials grant (`POST https://<shop>/admin/oauth/access_token`,
//!   <https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/client-credentials-grant>)
//!   for a token that expires after 24 h: cached with its expiry, refreshed a minute
//!   before it or when Shopify answers 401.
//! - Rate limits: calculated query cost with a leaky bucket; a throttled request gets
//!   `THROTTLED` with `extensions.cost.throttleStatus`
//!   (<https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits>); the wait is
//!   `(requested cost − currently available) / restore rate`. Short waits are waited
//!   here (twice at most), longer ones are the caller's (`Throttled`).
//! - Mutations report problems in `userErrors` (`field`, `message`, `code`) with HTTP
//!   200: they become `Rejected` with the code (or the field path).
//! - Articles: the blog is the first category (found by title or created), else the
//!   first blog; the SEO fields go where `igny8_core::publishing::metadata::shopify_seo`
//!   maps them: title and description to the `global.title_tag` and
//!   `global.description_tag` metafields Shopify's themes read
//!   (<https://shopify.dev/docs/apps/build/marketing-analytics/optimize-storefront-seo>);
//!   Open Graph title/description are printed from those (accepted when equal and kept),
//!   the Open Graph image from the article's image; a focus keyphrase and a canonical
//!   URL have no field (reported rejected).
//! - Images: `stagedUploadsCreate` → multipart POST of the file to the staged target →
//!   `fileCreate` → the file's image URL once processed
//!   (<https://shopify.dev/docs/api/admin-graphql/latest/mutations/stagedUploadsCreate>);
//!   the article takes that URL as its `image`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use igny8_core::domain::{
    ConnectionReport, Credentials, Platform, RateLimitState, RemoteIdentity, RemoteStatus, RemoteTerm, SiteMetadata,
};
use igny8_core::ports::{
    ArticlePayload, Destination, MediaUpload, PlatformError, PublishingPlatform, RemoteMedia, RemotePost, SeoField,
};
use igny8_core::publishing::metadata::{self, ShopifySeo, ShopifySource};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde_json::{json, Map, Value};

use crate::http::{build_client, now_rfc3339, retry_after, short, transport_error, RequestCounter, Timeouts};

/// The Admin API version this client is written against.
pub const API_VERSION: &str = "2025-01";

/// The header carrying the access token.
const TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// The header naming the API version that answered.
const VERSION_HEADER: &str = "x-shopify-api-version";

/// Retries of a throttled (or, for queries, 5xx) request inside the client.
const RETRIES: u32 = 2;

/// The longest wait the client takes itself before retrying.
const LONGEST_OWN_WAIT: Duration = Duration::from_secs(2);

/// A client-credentials token is refreshed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Polls of a new file until Shopify has processed it and it has an image URL.
const FILE_POLLS: u32 = 20;

/// Pause between those polls.
const FILE_POLL_WAIT: Duration = Duration::from_millis(250);

/// Items per page of a listing (Shopify's maximum `first`).
const PAGE_SIZE: u32 = 250;

/// Pages of a listing read at most.
const MAX_PAGES: u32 = 40;

const ARTICLE_FIELDS: &str = "id title handle isPublished publishedAt updatedAt \
    blog { id handle } image { url altText } \
    seoTitle: metafield(namespace: \"global\", key: \"title_tag\") { value } \
    seoDescription: metafield(namespace: \"global\", key: \"description_tag\") { value }";

/// A token from the client-credentials grant and when it stops working.
#[derive(Clone)]
struct GrantedToken {
    token: String,
    expires_at: Instant,
}

/// Talks to Shopify stores through the Admin GraphQL API. Caches client-credentials
/// tokens (by shop, client id and secret), blog ids by title and uploaded files' URLs.
pub struct ShopifyClient {
    http: reqwest::Client,
    tokens: Mutex<HashMap<(String, String), GrantedToken>>,
    blogs: Mutex<HashMap<(String, String), String>>,
    file_urls: Mutex<HashMap<String, String>>,
    requests: RequestCounter,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyClient").field("requests", &self.requests.get()).finish_non_exhaustive()
    }
}

impl Default for ShopifyClient {
    fn default() -> Self {
        Self::new()
    }
}

/// One GraphQL answer: `data`, the cost extension and the API version that answered.
struct Answer {
    data: Value,
    cost: Option<Value>,
    version: Option<String>,
}

/// An opened destination: the shop's base URL and its credentials.
struct Shop<'d> {
    base: Url,
    credentials: &'d Credentials,
}

impl Shop<'_> {
    fn endpoint(&self) -> Result<Url, PlatformError> {
        self.base.join(&format!("admin/api/{API_VERSION}/graphql.json")).map_err(|e| PlatformError::Protocol {
            message: format!("cannot address the GraphQL endpoint under {}: {e}", self.base),
        })
    }

    /// The token cache's key: the shop, the client id and a hash of the secret, so a
    /// changed secret never reuses a token granted to the old one.
    fn key(&self, client_id: &str, client_secret: &str) -> (String, String) {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        client_secret.hash(&mut hasher);
        (self.base.to_string(), format!("{client_id}:{:016x}", hasher.finish()))
    }
}

impl ShopifyClient {
    /// A client with the default timeouts (10 s to connect, 60 s a request).
    pub fn new() -> Self {
        Self::with_timeouts(Timeouts::default())
    }

    /// A client with other timeouts.
    pub fn with_timeouts(timeouts: Timeouts) -> Self {
        Self {
            http: build_client(timeouts),
            tokens: Mutex::new(HashMap::new()),
            blogs: Mutex::new(HashMap::new()),
            file_urls: Mutex::new(HashMap::new()),
            requests: RequestCounter::default(),
        }
    }

    /// The count of HTTP requests this client sent (token grants and uploads included).
    pub fn requests(&self) -> RequestCounter {
        self.requests.clone()
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), GrantedToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_blogs(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        self.blogs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.file_urls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The access token to send: the static one, or a cached or new granted one.
    async fn token(&self, shop: &Shop<'_>, fresh: bool) -> Result<String, PlatformError> {
        match shop.credentials {
            Credentials::ShopifyAccessToken { access_token } => Ok(access_token.clone()),
            Credentials::ShopifyClientCredentials { client_id, client_secret } => {
                let key = shop.key(client_id, client_secret);
                if !fresh {
                    if let Some(granted) = self.lock_tokens().get(&key) {
                        if granted.expires_at > Instant::now() + REFRESH_MARGIN {
                            return Ok(granted.token.clone());
                        }
                    }
                }
                let granted = self.grant(shop, client_id, client_secret).await?;
                self.lock_tokens().insert(key, granted.clone());
                Ok(granted.token)
            }
            other => Err(PlatformError::BadCredentials {
                platform_code: None,
                message: format!("Shopify needs an access token or a client id and secret, not {}", other.kind()),
            }),
        }
    }

    /// The client-credentials grant.
    async fn grant(
        &self,
        shop: &Shop<'_>,
        client_id: &str,
        client_secret: &str,
    ) -> Result<GrantedToken, PlatformError> {
        let url = shop.base.join("admin/oauth/access_token").map_err(|e| PlatformError::Protocol {
            message: format!("cannot address the token endpoint under {}: {e}", shop.base),
        })?;
        self.requests.add();
        let response = self
            .http
            .post(url)
            .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret)])
            .send()
            .await
            .map_err(|e| transport_error(&e, &format!("cannot reach {}", shop.base)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| transport_error(&e, "reading the token answer"))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body.get("error").and_then(Value::as_str).map(str::to_string);
            let message =
                body.get("error_description").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
                    format!("the client-credentials grant answered HTTP {status}: {}", short(&text))
                });
            return Err(match status.as_u16() {
                400 | 401 | 403 => PlatformError::BadCredentials { platform_code: code, message },
                404 => {
                    PlatformError::NoApi { message: format!("{} has no Shopify token endpoint: {message}", shop.base) }
                }
                429 => PlatformError::Throttled { retry_after: retry_after(&headers), message },
                s if s >= 500 => PlatformError::Unavailable { status: s, platform_code: code, message },
                s => PlatformError::Rejected { status: s, platform_code: code, message },
            });
        }
        let token = body.get("access_token").and_then(Value::as_str).ok_or_else(|| PlatformError::Protocol {
            message: "the client-credentials grant answered without an access_token".into(),
        })?;
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(86_399);
        Ok(GrantedToken { token: token.to_string(), expires_at: Instant::now() + Duration::from_secs(lifetime) })
    }

    /// Runs one GraphQL operation: the token (refreshed once on 401 for granted
    /// tokens), throttling waited out when short, errors mapped.
    async fn graphql(&self, shop: &Shop<'_>, query: &str, variables: Value) -> Result<Answer, PlatformError> {
        let endpoint = shop.endpoint()?;
        let is_mutation = query.trim_start().starts_with("mutation");
        let granted = matches!(shop.credentials, Credentials::ShopifyClientCredentials { .. });
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(shop, false).await?;
            self.requests.add();
            let response = self
                .http
                .post(endpoint.clone())
                .header(TOKEN_HEADER, token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .map_err(|e| transport_error(&e, &format!("cannot reach {}", shop.base)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.map_err(|e| transport_error(&e, "reading the GraphQL answer"))?;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == StatusCode::UNAUTHORIZED && granted && !refreshed {
                // The granted token expired early or was revoked: get a new one, once.
                refreshed = true;
                self.token(shop, true).await?;
                continue;
            }
            let outcome = answer_of(status, &headers, body, &text);
            match outcome {
                Err(PlatformError::Throttled { retry_after: Some(wait), .. })
                    if attempt <= RETRIES && wait <= LONGEST_OWN_WAIT =>
                {
                    tracing::debug!(?wait, attempt, "Shopify throttled the request; waiting");
                    tokio::time::sleep(wait).await;
                }
                Err(PlatformError::Unavailable { .. }) if !is_mutation && attempt <= RETRIES => {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// The blog id for the article: the first category's blog (found by title or
    /// created), else the shop's first blog (created as "News" when it has none).
    async fn blog_id(&self, shop: &Shop<'_>, categories: &[String]) -> Result<String, PlatformError> {
        let wanted = categories.iter().map(|c| c.trim()).find(|c| !c.is_empty()).map(str::to_string);
        let key = (shop.base.to_string(), wanted.clone().unwrap_or_default().to_lowercase());
        if let Some(id) = self.lock_blogs().get(&key) {
            return Ok(id.clone());
        }
        let blogs = self.blogs(shop).await?;
        let found = match &wanted {
            Some(title) => blogs.iter().find(|b| b.name.eq_ignore_ascii_case(title) || b.slug == slug_of(title)),
            None => blogs.first(),
        };
        let id = match found {
            Some(blog) => blog.id.clone(),
            None => {
                let title = wanted.unwrap_or_else(|| "News".to_string());
                let answer = self
                    .graphql(
                        shop,
                        "mutation BlogCreate($blog: BlogCreateInput!) { blogCreate(blog: $blog) { blog { id title handle } userErrors { field message code } } }",
                        json!({ "blog": { "title": title } }),
                    )
                    .await?;
                let payload = mutation_payload(&answer.data, "blogCreate")?;
                payload.pointer("/blog/id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    PlatformError::Protocol { message: "blogCreate answered without a blog id".into() }
                })?
            }
        };
        self.lock_blogs().insert(key, id.clone());
        Ok(id)
    }

    /// Every blog of the shop.
    async fn blogs(&self, shop: &Shop<'_>) -> Result<Vec<RemoteTerm>, PlatformError> {
        let nodes = self
            .all_nodes(shop, "blogs", "id title handle", |node| {
                Some(RemoteTerm {
                    id: node.get("id")?.as_str()?.to_string(),
                    name: node.get("title").and_then(Value::as_str).unwrap_or_default().to_string(),
                    slug: node.get("handle").and_then(Value::as_str).unwrap_or_default().to_string(),
                })
            })
            .await?;
        Ok(nodes)
    }

    /// Every node of a top-level connection (`blogs`, `articles`), page by page.
    async fn all_nodes<T>(
        &self,
        shop: &Shop<'_>,
        connection: &str,
        fields: &str,
        map: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, PlatformError> {
        let query = format!(
            "query Page($first: Int!, $after: String) {{ {connection}(first: $first, after: $after) {{ nodes {{ {fields} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let mut out = Vec::new();
        let mut after = Value::Null;
        for _ in 0..MAX_PAGES {
            let answer = self.graphql(shop, &query, json!({ "first": PAGE_SIZE, "after": after })).await?;
            let page = answer.data.get(connection).cloned().unwrap_or(Value::Null);
            out.extend(page.get("nodes").and_then(Value::as_array).into_iter().flatten().filter_map(&map));
            let more = page.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) == Some(true);
            match page.pointer("/pageInfo/endCursor").and_then(Value::as_str) {
                Some(cursor) if more => after = json!(cursor),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The URL of an uploaded file (cached from the upload, else asked for).
    async fn file_url(&self, shop: &Shop<'_>, file_id: &str) -> Result<String, PlatformError> {
        if let Some(url) = self.lock_files().get(file_id) {
            return Ok(url.clone());
        }
        for poll in 0..FILE_POLLS {
            let answer = self
                .graphql(
                    shop,
                    "query File($id: ID!) { node(id: $id) { ... on MediaImage { id fileStatus image { url } } } }",
                    json!({ "id": file_id }),
                )
                .await?;
            let node = answer.data.get("node").cloned().unwrap_or(Value::Null);
            if node.is_null() {
                return Err(PlatformError::NotFound { message: format!("Shopify has no file {file_id}") });
            }
            if let Some(url) = node.pointer("/image/url").and_then(Value::as_str) {
                self.lock_files().insert(file_id.to_string(), url.to_string());
                return Ok(url.to_string());
            }
            if node.get("fileStatus").and_then(Value::as_str) == Some("FAILED") {
                return Err(PlatformError::Rejected {
                    status: 200,
                    platform_code: Some("FAILED".into()),
                    message: format!("Shopify could not process the file {file_id}"),
                });
            }
            if poll + 1 < FILE_POLLS {
                tokio::time::sleep(FILE_POLL_WAIT).await;
            }
        }
        Err(PlatformError::Unavailable {
            status: 200,
            platform_code: Some("PROCESSING".into()),
            message: format!("Shopify is still processing the file {file_id}"),
        })
    }

    /// The article input of create and update, and the SEO fields it sends.
    async fn article_input(
        &self,
        shop: &Shop<'_>,
        article: &ArticlePayload,
        with_blog: bool,
    ) -> Result<(Map<String, Value>, ShopifySeo), PlatformError> {
        let mut input = Map::new();
        input.insert("title".into(), json!(article.title));
        if !article.slug.trim().is_empty() {
            input.insert("handle".into(), json!(article.slug));
        }
        input.insert("body".into(), json!(article.html));
        input.insert("summary".into(), json!(article.excerpt));
        input.insert("tags".into(), json!(article.tags));
        let author = article.author_name.clone().filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "Staff".into());
        input.insert("author".into(), json!({ "name": author }));
        match article.status {
            RemoteStatus::Draft => {
                input.insert("isPublished".into(), json!(false));
            }
            RemoteStatus::Publish => {
                input.insert("isPublished".into(), json!(true));
            }
            RemoteStatus::Scheduled => {
                // A future publishDate with isPublished true is INVALID_PUBLISH_DATE.
                let at = article.publish_at.as_deref().ok_or_else(|| PlatformError::Rejected {
                    status: 400,
                    platform_code: Some("publish_at_required".into()),
                    message: "a scheduled article needs publish_at".into(),
                })?;
                input.insert("isPublished".into(), json!(false));
                input.insert("publishDate".into(), json!(at));
            }
        }
        if with_blog {
            input.insert("blogId".into(), json!(self.blog_id(shop, &article.categories).await?));
        }
        if let Some(file_id) = &article.featured_media {
            let url = self.file_url(shop, file_id).await?;
            let alt = article.title.clone();
            input.insert("image".into(), json!({ "url": url, "altText": alt }));
        }
        let seo = metadata::shopify_seo(&article.seo);
        let metafields: Vec<Value> = seo
            .metafields
            .iter()
            .map(|m| json!({"namespace": m.namespace, "key": m.key, "type": m.kind, "value": m.value}))
            .collect();
        if !metafields.is_empty() {
            input.insert("metafields".into(), Value::Array(metafields));
        }
        Ok((input, seo))
    }

    /// Creates (`remote_id` none) or updates an article.
    async fn save_article(
        &self,
        destination: &Destination,
        remote_id: Option<&str>,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        let shop = open(destination)?;
        let (input, seo) = self.article_input(&shop, article, remote_id.is_none()).await?;
        let (field, answer) = match remote_id {
            None => {
                let query = format!(
                    "mutation ArticleCreate($article: ArticleCreateInput!) {{ articleCreate(article: $article) {{ article {{ {ARTICLE_FIELDS} }} userErrors {{ field message code }} }} }}"
                );
                ("articleCreate", self.graphql(&shop, &query, json!({ "article": input })).await?)
            }
            Some(id) => {
                let query = format!(
                    "mutation ArticleUpdate($id: ID!, $article: ArticleUpdateInput!) {{ articleUpdate(id: $id, article: $article) {{ article {{ {ARTICLE_FIELDS} }} userErrors {{ field message code }} }} }}"
                );
                ("articleUpdate", self.graphql(&shop, &query, json!({ "id": id, "article": input })).await?)
            }
        };
        let payload = mutation_payload(&answer.data, field)?;
        let node = payload.get("article").filter(|a| !a.is_null()).ok_or_else(|| PlatformError::Protocol {
            message: format!("{field} answered without an article and without userErrors"),
        })?;
        let mut post = remote_article(&shop, node)?;
        if node.pointer("/image/url").and_then(Value::as_str).is_some() {
            post.featured_media = article.featured_media.clone();
        }
        // The metafields as the article now has them (aliases of ARTICLE_FIELDS).
        let kept = |field: SeoField| {
            let alias = if field == SeoField::Title { "seoTitle" } else { "seoDescription" };
            let stored = node.pointer(&format!("/{alias}/value")).and_then(Value::as_str);
            seo.metafields.iter().any(|m| m.field == field && stored == Some(m.value.as_str()))
        };
        let mut accepted = Vec::new();
        for m in &seo.metafields {
            if kept(m.field) {
                accepted.push(m.field);
            }
        }
        for (field, source) in &seo.derived {
            let shown = match source {
                ShopifySource::Field(from) => accepted.contains(from),
                ShopifySource::ArticleImage => node.pointer("/image/url").and_then(Value::as_str).is_some(),
            };
            if shown {
                accepted.push(*field);
            }
        }
        for (field, _) in article.seo.present() {
            if accepted.contains(&field) {
                post.seo_accepted.push(field.name().to_string());
            } else {
                post.seo_rejected.push(field.name().to_string());
            }
        }
        Ok(post)
    }

    /// The steps of a connection test.
    async fn check_connection(
        &self,
        destination: &Destination,
        report: &mut ConnectionReport,
    ) -> Result<(), PlatformError> {
        let shop = open(destination)?;
        report.api_root = Some(shop.endpoint()?.to_string());
        let answer = self
            .graphql(
                &shop,
                "query Connection { shop { id name myshopifyDomain } currentAppInstallation { accessScopes { handle } } }",
                json!({}),
            )
            .await?;
        let shop_node = answer.data.get("shop").cloned().unwrap_or(Value::Null);
        report.identity = Some(RemoteIdentity {
            id: shop_node.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
            name: shop_node.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            roles: Vec::new(),
        });
        report.scopes = answer
            .data
            .pointer("/currentAppInstallation/accessScopes")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(|s| s.get("handle").and_then(Value::as_str)).map(str::to_string).collect())
            .unwrap_or_default();
        let has = |scope: &str| report.scopes.iter().any(|s| s == scope);
        report.can_publish = has("write_content");
        report.can_upload = has("write_files") || has("write_content");
        report.version = Some(answer.version.unwrap_or_else(|| API_VERSION.to_string()));
        report.rate_limit = answer.cost.as_ref().and_then(throttle_status);
        report.success = true;
        Ok(())
    }

    /// Stages, uploads and registers one image; returns the file id and its URL.
    async fn upload(&self, shop: &Shop<'_>, media: &MediaUpload) -> Result<RemoteMedia, PlatformError> {
        let filename = if media.filename.trim().is_empty() { "image.png".to_string() } else { media.filename.clone() };
        let answer = self
            .graphql(
                shop,
                "mutation Stage($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) { stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }",
                json!({ "input": [{
                    "resource": "IMAGE",
                    "filename": filename,
                    "mimeType": media.content_type,
                    "httpMethod": "POST",
                    "fileSize": media.bytes.len().to_string(),
                }]}),
            )
            .await?;
        let payload = mutation_payload(&answer.data, "stagedUploadsCreate")?;
        let target = payload.pointer("/stagedTargets/0").cloned().unwrap_or(Value::Null);
        let (Some(url), Some(resource_url)) =
            (target.get("url").and_then(Value::as_str), target.get("resourceUrl").and_then(Value::as_str))
        else {
            return Err(PlatformError::Protocol { message: "stagedUploadsCreate answered without a target".into() });
        };
        let parameters: Vec<(String, String)> = target
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get("name")?.as_str()?.to_string(), p.get("value")?.as_str()?.to_string())))
            .collect();
        self.post_staged(url, &parameters, &filename, media).await?;
        let answer = self
            .graphql(
                shop,
                "mutation FileCreate($files: [FileCreateInput!]!) { fileCreate(files: $files) { files { id fileStatus alt ... on MediaImage { image { url } } } userErrors { field message code } } }",
                json!({ "files": [{ "originalSource": resource_url, "alt": media.alt_text, "contentType": "IMAGE" }] }),
            )
            .await?;
        let payload = mutation_payload(&answer.data, "fileCreate")?;
        let id = payload
            .pointer("/files/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PlatformError::Protocol { message: "fileCreate answered without a file id".into() })?;
        if let Some(url) = payload.pointer("/files/0/image/url").and_then(Value::as_str) {
            self.lock_files().insert(id.clone(), url.to_string());
        }
        let url = self.file_url(shop, &id).await?;
        Ok(RemoteMedia { id, url })
    }

    /// The multipart form upload to a staged target: its parameters, then the file
    /// (the storage service reads the fields in order). The target is not Shopify:
    /// no access token goes with it.
    async fn post_staged(
        &self,
        url: &str,
        parameters: &[(String, String)],
        filename: &str,
        media: &MediaUpload,
    ) -> Result<(), PlatformError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let boundary = format!("igny8-boundary-{nanos:x}");
        let mut body = Vec::with_capacity(media.bytes.len() + 1024);
        for (name, value) in parameters {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n", quoted(name))
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                quoted(filename),
                media.content_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(&media.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.requests.add();
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e, "cannot reach the staged upload target"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let message = format!("the staged upload answered HTTP {status}: {}", short(&text));
        Err(if status.is_server_error() {
            PlatformError::Unavailable { status: status.as_u16(), platform_code: None, message }
        } else {
            PlatformError::Rejected { status: status.as_u16(), platform_code: None, message }
        })
    }
}

#[async_trait]
impl PublishingPlatform for ShopifyClient {
    fn platform(&self) -> Platform {
        Platform::Shopify
    }

    async fn test_connection(&self, destination: &Destination) -> ConnectionReport {
        let mut report = ConnectionReport::unchecked(Platform::Shopify, now_rfc3339());
        if let Err(error) = self.check_connection(destination, &mut report).await {
            report.success = false;
            report.error = Some(error.fault());
        }
        report
    }

    async fn upload_media(&self, destination: &Destination, media: &MediaUpload) -> Result<RemoteMedia, PlatformError> {
        let shop = open(destination)?;
        self.upload(&shop, media).await
    }

    async fn find_post_by_slug(
        &self,
        destination: &Destination,
        slug: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        let shop = open(destination)?;
        let query = format!(
            "query ArticleByHandle($query: String!) {{ articles(first: 1, query: $query) {{ nodes {{ {ARTICLE_FIELDS} }} }} }}"
        );
        let search = format!("handle:\"{}\"", slug.replace(['"', '\\'], ""));
        let answer = self.graphql(&shop, &query, json!({ "query": search })).await?;
        let node = answer.data.pointer("/articles/nodes/0").cloned();
        match node {
            Some(node) if node.get("handle").and_then(Value::as_str) == Some(slug) => {
                remote_article(&shop, &node).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn create_post(
        &self,
        destination: &Destination,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        self.save_article(destination, None, article).await
    }

    async fn update_post(
        &self,
        destination: &Destination,
        remote_id: &str,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        self.save_article(destination, Some(remote_id), article).await
    }

    async fn fetch_post(
        &self,
        destination: &Destination,
        remote_id: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        let shop = open(destination)?;
        let query = format!("query Article($id: ID!) {{ article(id: $id) {{ {ARTICLE_FIELDS} }} }}");
        let answer = self.graphql(&shop, &query, json!({ "id": remote_id })).await?;
        match answer.data.get("article") {
            Some(node) if !node.is_null() => remote_article(&shop, node).map(Some),
            _ => Ok(None),
        }
    }

    async fn fetch_metadata(&self, destination: &Destination) -> Result<SiteMetadata, PlatformError> {
        let shop = open(destination)?;
        let categories = self.blogs(&shop).await?;
        let answer = self.graphql(&shop, "query Tags { articleTags(limit: 250) }", json!({})).await?;
        let tags = answer
            .data
            .get("articleTags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|t| RemoteTerm { id: t.to_string(), name: t.to_string(), slug: slug_of(t) })
            .collect();
        let names = self
            .all_nodes(&shop, "articles", "author { name }", |node| {
                node.pointer("/author/name").and_then(Value::as_str).map(str::to_string)
            })
            .await?;
        let mut authors: Vec<RemoteTerm> = Vec::new();
        for name in names {
            if !authors.iter().any(|a| a.name == name) {
                authors.push(RemoteTerm { id: name.clone(), slug: slug_of(&name), name });
            }
        }
        Ok(SiteMetadata { categories, tags, authors, synced_at: now_rfc3339() })
    }
}

/// The shop's base URL (`https://<domain>/`, or the URL as given with a scheme) and
/// the credentials.
fn open(destination: &Destination) -> Result<Shop<'_>, PlatformError> {
    let text = destination.base_url.trim();
    let with_scheme = if text.contains("://") { text.to_string() } else { format!("https://{text}") };
    let mut base = Url::parse(&with_scheme)
        .map_err(|e| PlatformError::NoApi { message: format!("{text:?} is not a shop domain: {e}") })?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(PlatformError::NoApi { message: format!("{text:?} is not a shop domain") });
    }
    base.set_path("/");
    base.set_query(None);
    base.set_fragment(None);
    Ok(Shop { base, credentials: &destination.credentials })
}

/// Maps an HTTP answer of the GraphQL endpoint to data or an error.
fn answer_of(status: StatusCode, headers: &HeaderMap, body: Value, text: &str) -> Result<Answer, PlatformError> {
    let message = || error_message(&body).unwrap_or_else(|| format!("HTTP {status}: {}", short(text)));
    let cost = body.pointer("/extensions/cost").cloned();
    match status.as_u16() {
        200..=299 => {}
        401 => return Err(PlatformError::BadCredentials { platform_code: Some("401".into()), message: message() }),
        402 | 423 => {
            return Err(PlatformError::Forbidden {
                platform_code: Some(status.as_u16().to_string()),
                message: message(),
            })
        }
        403 => return Err(PlatformError::Forbidden { platform_code: Some("403".into()), message: message() }),
        404 => {
            return Err(PlatformError::NoApi {
                message: format!("no Admin GraphQL API {API_VERSION} answered here: {}", message()),
            })
        }
        429 => {
            let wait = retry_after(headers).or_else(|| cost.as_ref().and_then(throttle_wait));
            return Err(PlatformError::Throttled { retry_after: wait, message: message() });
        }
        s if s >= 500 => return Err(PlatformError::Unavailable { status: s, platform_code: None, message: message() }),
        s => return Err(PlatformError::Rejected { status: s, platform_code: None, message: message() }),
    }
    if let Some(errors) = body.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        let code =
            errors.iter().find_map(|e| e.pointer("/extensions/code").and_then(Value::as_str)).map(str::to_string);
        let message = message();
        return Err(match code.as_deref() {
            Some("THROTTLED") => {
                PlatformError::Throttled { retry_after: cost.as_ref().and_then(throttle_wait), message }
            }
            Some("ACCESS_DENIED") => PlatformError::Forbidden { platform_code: code, message },
            Some("INTERNAL_SERVER_ERROR") => PlatformError::Unavailable { status: 200, platform_code: code, message },
            _ => PlatformError::Rejected { status: 200, platform_code: code, message },
        });
    }
    let data = body.get("data").cloned().filter(|d| !d.is_null()).ok_or_else(|| PlatformError::Protocol {
        message: format!("a GraphQL answer without data: {}", short(text)),
    })?;
    let version = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok(Answer { data, cost, version })
}

/// The message of a GraphQL or REST error body (`errors` as a list or a string).
fn error_message(body: &Value) -> Option<String> {
    match body.get("errors")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => {
            let messages: Vec<&str> = list.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        }
        other => Some(other.to_string()),
    }
}

/// The payload of a mutation, or its first user error as `Rejected`.
fn mutation_payload(data: &Value, field: &str) -> Result<Value, PlatformError> {
    let payload = data
        .get(field)
        .cloned()
        .filter(|p| !p.is_null())
        .ok_or_else(|| PlatformError::Protocol { message: format!("the answer has no {field}") })?;
    if let Some(errors) = payload.get("userErrors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        let first = &errors[0];
        let path = first
            .get("field")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("."))
            .unwrap_or_default();
        let code = first.get("code").and_then(Value::as_str).map(str::to_string);
        let messages: Vec<String> =
            errors.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).map(str::to_string).collect();
        let message = if path.is_empty() {
            format!("{field}: {}", messages.join("; "))
        } else {
            format!("{field} ({path}): {}", messages.join("; "))
        };
        let platform_code = code.or_else(|| (!path.is_empty()).then_some(path));
        return Err(PlatformError::Rejected { status: 200, platform_code, message });
    }
    Ok(payload)
}

/// `extensions.cost.throttleStatus` as the domain's rate-limit state.
fn throttle_status(cost: &Value) -> Option<RateLimitState> {
    let status = cost.get("throttleStatus")?;
    Some(RateLimitState {
        maximum_available: status.get("maximumAvailable")?.as_f64()?,
        currently_available: status.get("currentlyAvailable")?.as_f64()?,
        restore_rate: status.get("restoreRate")?.as_f64()?,
    })
}

/// How long until the bucket holds the requested cost again.
fn throttle_wait(cost: &Value) -> Option<Duration> {
    let state = throttle_status(cost)?;
    let requested = cost.get("requestedQueryCost").and_then(Value::as_f64).unwrap_or(state.maximum_available / 10.0);
    if state.restore_rate <= 0.0 {
        return None;
    }
    let seconds = ((requested - state.currently_available) / state.restore_rate).max(0.0);
    Some(Duration::from_secs_f64(seconds.min(3600.0)))
}

/// A post from an article node; the link is the storefront's `/blogs/<blog>/<article>`.
fn remote_article(shop: &Shop<'_>, node: &Value) -> Result<RemotePost, PlatformError> {
    let text = |pointer: &str| node.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    let id = text("/id").ok_or_else(|| PlatformError::Protocol { message: "an article without an id".into() })?;
    let handle = text("/handle").unwrap_or_default();
    let published = node.get("isPublished").and_then(Value::as_bool) == Some(true);
    let scheduled = !published && text("/publishedAt").is_some_and(|at| at.as_str() > now_rfc3339().as_str());
    let status = if published {
        "publish"
    } else if scheduled {
        "future"
    } else {
        "draft"
    };
    let url = text("/blog/handle").and_then(|blog| shop.base.join(&format!("blogs/{blog}/{handle}")).ok());
    Ok(RemotePost {
        id,
        url: url.map(|u| u.to_string()),
        status: status.to_string(),
        modified: text("/updatedAt"),
        slug: handle,
        featured_media: None,
        seo_accepted: Vec::new(),
        seo_rejected: Vec::new(),
        skipped_terms: Vec::new(),
    })
}

/// A handle as Shopify derives one from a title.
fn slug_of(text: &str) -> String {
    let mut slug = String::new();
    for c in text.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// A multipart field name or file name without quotes or line breaks.
fn quoted(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '"' | '\r' | '\n' | '\\')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_answers_give_the_wait_from_the_bucket() {
        let body = json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 110, "actualQueryCost": null,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 10, "restoreRate": 100.0}}}
        });
        let text = body.to_string();
        match answer_of(StatusCode::OK, &HeaderMap::new(), body, &text) {
            Err(PlatformError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(1))),
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn errors_map_to_the_port() {
        let denied = json!({"errors": [{"message": "Access denied for articleCreate field.", "extensions": {"code": "ACCESS_DENIED"}}]});
        let text = denied.to_string();
        let e = answer_of(StatusCode::OK, &HeaderMap::new(), denied, &text).err().unwrap();
        assert_eq!((e.code(), e.platform_code()), ("forbidden_by_platform", Some("ACCESS_DENIED")));
        let unauthorized =
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"});
        let text = unauthorized.to_string();
        let e = answer_of(StatusCode::UNAUTHORIZED, &HeaderMap::new(), unauthorized, &text).err().unwrap();
        assert_eq!(e.code(), "bad_credentials");
        assert!(e.to_string().contains("Invalid API key"));
        let user_errors = json!({"articleCreate": {"article": null, "userErrors": [{"field": ["article", "title"], "message": "Title can't be blank", "code": "BLANK"}]}});
        let e = mutation_payload(&user_errors, "articleCreate").unwrap_err();
        assert_eq!((e.code(), e.platform_code()), ("platform_rejected", Some("BLANK")));
        assert!(e.to_string().contains("article.title"), "{e}");
    }

    #[test]
    fn shop_domains_become_https_and_explicit_schemes_stay() {
        let token = Credentials::ShopifyAccessToken { access_token: "t".into() };
        let destination =
            |base: &str| Destination { platform: Platform::Shopify, base_url: base.into(), credentials: token.clone() };
        let d = destination("demo.myshopify.com");
        assert_eq!(
            open(&d).unwrap().endpoint().unwrap().as_str(),
            "https://demo.myshopify.com/admin/api/2025-01/graphql.json"
        );
        let d = destination("http://127.0.0.1:9000");
        assert_eq!(
            open(&d).unwrap().endpoint().unwrap().as_str(),
            "http://127.0.0.1:9000/admin/api/2025-01/graphql.json"
        );
        assert_eq!(open(&destination("ftp://x")).err().unwrap().code(), "platform_api_missing");
    }
}
