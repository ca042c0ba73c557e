//! `Idempotency-Key` on the POSTs that start runs or move credits: the first response
//! to a key is stored (per account, for a day) and a repeat of the same request gets it
//! back byte for byte; the same key on a different request is refused, and a repeat
//! while the first is still being served is told to wait.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::{authenticate, Caller};
use super::error::{body_too_large, ApiError};
use super::{ApiState, BODY_LIMIT};
use igny8_core::ports::item_store::{PK, SK};
use igny8_core::ports::{Condition, Item, Key, StoreError};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const KEEP_SECONDS: i64 = 24 * 3600;
/// A pending marker older than this belongs to a request that died; it may be retaken.
const STALE_PENDING_MS: i64 = 60_000;

/// Where a key's record lives: keys belong to the caller (subject and role) within the
/// acting account, so another caller repeating a key is a request of its own and meets
/// the route's role checks instead of being served the first caller's response.
fn key_of(caller: &Caller, key: &str) -> Key {
    let mut h = Sha256::new();
    h.update(caller.subject.as_bytes());
    h.update([0]);
    h.update(format!("{:?}", caller.role).as_bytes());
    let who: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    Key::new(format!("ACCT#{}#APIIDEM", caller.account), format!("{who}#{key}"))
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

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn replay(item: &Item) -> Result<Response, ApiError> {
    let status = item.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok());
    let status = status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::internal("stored response has no status"))?;
    let body = item
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| ApiError::internal("stored response has no body"))?;
    let mut response = (status, body).into_response();
    if let Some(ct) = item.get("content_type").and_then(Value::as_str).and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(axum::http::header::CONTENT_TYPE, ct);
    }
    response.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    Ok(response)
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
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
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
    let store = &state.services.store;
    let id = key_of(&caller, &key);
    let now = state.services.clock.now_ms();
    let mut marker = Item::new();
    marker.insert(PK.into(), Value::from(id.pk.clone()));
    marker.insert(SK.into(), Value::from(id.sk.clone()));
    marker.insert("type".into(), json!("api_idempotency"));
    marker.insert("fingerprint".into(), Value::from(print.clone()));
    marker.insert("state".into(), json!("pending"));
    marker.insert("created_ms".into(), json!(now));
    marker.insert("ttl".into(), json!(now / 1000 + KEEP_SECONDS));
    match store.put(marker.clone(), Some(Condition::ItemNotExists)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed(_)) => {
            let first = store.get(&id).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "the first request with this key is still being served; retry",
                )
            })?;
            let started = first.get("created_ms").and_then(Value::as_i64).unwrap_or(now);
            // Stores without TTL deletion (SQLite, emulators) keep expired records: past
            // its day a key is free again, whatever it was used for.
            let expired = now - started >= KEEP_SECONDS * 1000;
            if !expired {
                if first.get("fingerprint").and_then(Value::as_str) != Some(print.as_str()) {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request",
                    ));
                }
                if first.get("state").and_then(Value::as_str) == Some("done") {
                    return replay(&first);
                }
                if now - started < STALE_PENDING_MS {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "idempotency_in_progress",
                        "the first request with this key is still being served; retry",
                    ));
                }
            }
            store.put(marker, Some(Condition::Equals("created_ms".into(), json!(started)))).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if response.status().is_server_error() {
        // Nothing was done that a retry must not redo: forget the key.
        if let Err(e) = store.delete(&id, None).await {
            tracing::warn!(error = %e, "cannot forget an idempotency key after a server error");
        }
        return Ok(response);
    }
    let (head, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
    let mut done = Item::new();
    done.insert(PK.into(), Value::from(id.pk.clone()));
    done.insert(SK.into(), Value::from(id.sk.clone()));
    done.insert("type".into(), json!("api_idempotency"));
    done.insert("fingerprint".into(), Value::from(print));
    done.insert("state".into(), json!("done"));
    done.insert("created_ms".into(), json!(now));
    done.insert("ttl".into(), json!(now / 1000 + KEEP_SECONDS));
    done.insert("status".into(), json!(head.status.as_u16()));
    done.insert("body".into(), Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)));
    if let Some(ct) = head.headers.get(axum::http::header::CONTENT_TYPE).and_then(|c| c.to_str().ok()) {
        done.insert("content_type".into(), Value::from(ct));
    }
    if let Err(e) = store.put(done, None).await {
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
