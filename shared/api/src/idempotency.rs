//! `Idempotency-Key` on the POSTs that start runs, move credits or publish: the first response
//! to a key is stored (per account, for a day) and a repeat of the same request gets it
//! back byte for byte; the same key on a different request is refused, and a repeat
//! while the first is still being served is told to wait.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::{authenticate, Caller};
use super::error::{body_too_large, ApiError};
use super::{ApiState, BODY_LIMIT};
pub use igny8_core::repo::api_idempotency::KEEP_SECONDS;
use igny8_core::repo::api_idempotency::{
    ApiIdempotencyRepo, Claim, IdempotencyRecord, IdempotencySlot, StoredResponse,
};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// A pending marker older than this belongs to a request that died; it may be retaken.
const STALE_PENDING_MS: i64 = 60_000;

/// Where a key's record lives: keys belong to the caller (subject and role) within the
/// acting account, so another caller repeating a key is a request of its own and meets
/// the route's role checks instead of being served the first caller's response.
fn slot_of(caller: &Caller, key: &str) -> IdempotencySlot {
    let mut h = Sha256::new();
    h.update(caller.subject.as_bytes());
    h.update([0]);
    h.update(format!("{:?}", caller.role).as_bytes());
    let who: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    IdempotencySlot::new(&caller.account, &who, key)
}

fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The keys `valid_key` accepts, as the OpenAPI document declares them: 1 to
/// [`MAX_KEY_LEN`] visible ASCII characters (`!` to `~`).
pub fn key_pattern() -> String {
    format!("^[!-~]{{1,{MAX_KEY_LEN}}}$")
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

fn replay(stored: &StoredResponse) -> Result<Response, ApiError> {
    let status =
        StatusCode::from_u16(stored.status).map_err(|_| ApiError::internal("stored response has no status"))?;
    let mut response = (status, stored.body.clone()).into_response();
    if let Some(ct) = stored.content_type.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(axum::http::header::CONTENT_TYPE, ct);
    }
    response.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    Ok(response)
}

fn in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_in_progress",
        "the first request with this key is still being served; retry",
    )
}

/// Middleware on the routes that start runs or move credits.
pub async fn idempotent(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match serve(state, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn serve(state: ApiState, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(raw) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(next.run(request).await);
    };
    let key = raw.to_str().ok().map(str::trim).filter(|k| valid_key(k)).map(str::to_owned).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    })?;
    let (mut parts, body) = request.into_parts();
    let Ok(caller) = authenticate(&state.auth, &parts) else {
        // Unauthenticated: the handler refuses it; nothing to remember.
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    // The handler's `Caller` extractor takes this one instead of verifying the token again.
    parts.extensions.insert(caller.clone());
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| body_too_large())?;
    let print = fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
    let records = ApiIdempotencyRepo::new(state.services.store.clone());
    let slot = slot_of(&caller, &key);
    let now = state.services.clock.now_ms();
    if let Claim::Taken(first) = records.claim(&slot, &print, now).await? {
        let first = first.ok_or_else(in_progress)?;
        if let Some(answer) = answer_for_taken_key(&first, &print, now) {
            return answer;
        }
        records.retake(&slot, &print, now, first.created_ms).await?;
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if response.status().is_server_error() {
        // Nothing was done that a retry must not redo: forget the key.
        if let Err(e) = records.forget(&slot).await {
            tracing::warn!(error = %e, "cannot forget an idempotency key after a server error");
        }
        return Ok(response);
    }
    remember(&records, &slot, &print, now, response).await
}

/// What a request meets when its key is already taken: the first response replayed, a
/// refusal, or None when the key may be taken over (expired, or its holder died).
fn answer_for_taken_key(first: &IdempotencyRecord, print: &str, now: i64) -> Option<Result<Response, ApiError>> {
    // Stores without TTL deletion (SQLite, emulators) keep expired records: past its
    // day a key is free again, whatever it was used for.
    if now - first.created_ms >= KEEP_SECONDS * 1000 {
        return None;
    }
    if first.fingerprint != print {
        return Some(Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )));
    }
    if first.done {
        return Some(
            first.response.as_ref().ok_or_else(|| ApiError::internal("stored response has no body")).and_then(replay),
        );
    }
    (now - first.created_ms < STALE_PENDING_MS).then(|| Err(in_progress()))
}

/// Keeps the response served for the key and hands it on.
async fn remember(
    records: &ApiIdempotencyRepo,
    slot: &IdempotencySlot,
    print: &str,
    now: i64,
    response: Response,
) -> Result<Response, ApiError> {
    let (head, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
    let stored = StoredResponse {
        status: head.status.as_u16(),
        body: bytes.to_vec(),
        content_type: head
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .map(str::to_owned),
    };
    if let Err(e) = records.complete(slot, print, now, &stored).await {
        tracing::warn!(error = %e, "cannot remember an idempotent response");
    }
    Ok(Response::from_parts(head, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint("POST", "/a", b"{}"), fingerprint("POST", "/a", b"{}"));
        assert_ne!(fingerprint("POST", "/a", b"{}"), fingerprint("POST", "/b", b"{}"));
        assert_ne!(fingerprint("POST", "/a", b"{}"), fingerprint("POST", "/a", b"{ }"));
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert!(valid_key("run-2026-11-26"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }
}
