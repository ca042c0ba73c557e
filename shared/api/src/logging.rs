//! One JSON log line per request: request id, account, route template, status and
//! latency. Only these fields are logged: never a header, a token or a body.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The request id header: taken from the caller (or API Gateway) when present, else made.
pub const REQUEST_ID: &str = "x-request-id";

/// Where the authenticated account of a request is noted for its log line.
#[derive(Debug, Clone, Default)]
pub struct AccountSlot(Arc<OnceLock<String>>);

impl AccountSlot {
    /// Notes the account (the first one noted wins).
    pub fn set(&self, account: String) {
        let _ = self.0.set(account);
    }
}

/// The route template that served a response (`/v1/runs/{run_id}`).
#[derive(Debug, Clone)]
struct RouteName(String);

/// Inner layer: carries the matched route template out to [`log_requests`].
pub async fn name_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteName(route));
    }
    response
}

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// Outer layer: times the request and writes its log line.
pub async fn log_requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().as_str().to_owned();
    let slot = AccountSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let route = response.extensions().get::<RouteName>().map_or("unmatched", |r| r.0.as_str()).to_owned();
    let status = response.status().as_u16();
    tracing::info!(
        target: "igny8::api",
        request_id = %id,
        account = slot.0.get().map_or("-", String::as_str),
        method = %method,
        route = %route,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID), value);
    }
    response
}
