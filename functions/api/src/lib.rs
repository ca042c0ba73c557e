//! Lambda `igny8-api`: the HTTP API's one axum router behind API Gateway (HTTP API,
//! payload 2.0, JWT authorizer). API Gateway has already verified the bearer token, so
//! this edge only translates: the event becomes the router's request carrying the
//! authorizer's claims as [`VerifiedClaims`] (the router runs in
//! [`AuthMode::Gateway`](igny8_api::AuthMode::Gateway) and trusts nothing else),
//! and the router's response becomes the event's response. Everything else — routing,
//! tenancy, problem documents, request logs — is the same code `igny8 serve` runs.

use std::convert::Infallible;

use axum::body::Body as AxumBody;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::Router;
use igny8_api::error::PROBLEM_JSON;
use igny8_api::logging::REQUEST_ID;
use igny8_api::{ApiError, VerifiedClaims};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tower::ServiceExt;

/// The lambda_http this edge speaks, for tests that build its events and responses.
pub use lambda_http;

/// The JWT claim naming the user.
pub const CLAIM_SUBJECT: &str = "sub";
/// The JWT claim naming the user's account (a custom claim of our issuer).
pub const CLAIM_ACCOUNT: &str = "account";
/// The JWT claim naming the user's role in it (a custom claim of our issuer).
pub const CLAIM_ROLE: &str = "role";

/// The claims API Gateway's JWT authorizer verified, if the route had one and the
/// token carried all three; without them the router answers 401, never guesses.
pub fn verified_claims(context: &RequestContext) -> Option<VerifiedClaims> {
    let RequestContext::ApiGatewayV2(ctx) = context else {
        return None;
    };
    let claims = &ctx.authorizer.as_ref()?.jwt.as_ref()?.claims;
    let claim = |name: &str| claims.get(name).filter(|v| !v.is_empty()).cloned();
    Some(VerifiedClaims { subject: claim(CLAIM_SUBJECT)?, account: claim(CLAIM_ACCOUNT)?, role: claim(CLAIM_ROLE)? })
}

/// API Gateway's id of this request, so the router's log line and the `x-request-id`
/// response header match API Gateway's access log.
pub fn gateway_request_id(context: &RequestContext) -> Option<&str> {
    match context {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.as_deref().filter(|id| !id.is_empty()),
        _ => None,
    }
}

/// The event's request as the router's: same method, URI, headers and extensions, the
/// (already base64-decoded) body as bytes, plus the verified claims and request id.
pub fn to_router_request(request: Request) -> axum::extract::Request {
    let (mut parts, body) = request.into_parts();
    if let Some(context) = parts.extensions.get::<RequestContext>() {
        let claims = verified_claims(context);
        let id = gateway_request_id(context).and_then(|id| HeaderValue::from_str(id).ok());
        if let Some(claims) = claims {
            parts.extensions.insert(claims);
        }
        let name = HeaderName::from_static(REQUEST_ID);
        let absent = parts.headers.get(&name).is_none_or(|v| v.is_empty());
        if let (Some(id), true) = (id, absent) {
            parts.headers.insert(name, id);
        }
    }
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        other => other.to_vec(),
    };
    axum::extract::Request::from_parts(parts, AxumBody::from(bytes))
}

/// The router's response as the event's. The router's bodies are in memory, so reading
/// one fails only on a fault of ours: that becomes the usual 500 problem document.
pub async fn to_lambda_response(response: axum::response::Response) -> Response<Body> {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) if bytes.is_empty() => Response::from_parts(parts, Body::Empty),
        // lambda_http sends textual media types (JSON, problem+json, CSV) as text and
        // the rest base64-encoded, by the Content-Type header.
        Ok(bytes) => Response::from_parts(parts, Body::Binary(bytes.to_vec())),
        Err(e) => {
            let problem = ApiError::internal(format!("cannot read the router's response body: {e}")).problem();
            let mut response = Response::new(Body::from(serde_json::to_string(&problem).unwrap_or_default()));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            response
        }
    }
}

/// Serves one API Gateway event with `router` (built once per cold start). Never fails:
/// every error, ours included, is already a problem response.
pub async fn handle(router: Router, request: Request) -> Result<Response<Body>, Infallible> {
    let response = router.oneshot(to_router_request(request)).await?;
    Ok(to_lambda_response(response).await)
}

/// The Lambda request id of an invocation, for the invocation's log span.
pub fn lambda_request_id(request: &Request) -> String {
    request.lambda_context_ref().map_or_else(|| "-".to_owned(), |c| c.request_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{
        "version": "2.0",
        "routeKey": "GET /v1/account",
        "rawPath": "/v1/account",
        "rawQueryString": "",
        "headers": {"host": "api.example.com", "x-request-id": "%ID%"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "gw-req-1", "routeKey": "GET /v1/account",
            "stage": "$default", "time": "26/Nov/2026:12:00:00 +0000", "timeEpoch": 1795687200000,
            "http": {"method": "GET", "path": "/v1/account", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "t"},
            "authorizer": {"jwt": {"claims": %CLAIMS%, "scopes": null}}
        },
        "isBase64Encoded": false
    }"#;

    fn event(claims: &str, id: &str) -> Request {
        let json = EVENT.replace("%CLAIMS%", claims).replace("%ID%", id);
        lambda_http::request::from_str(&json).expect("event")
    }

    #[test]
    fn claims_and_request_id_come_from_the_request_context() {
        let request = to_router_request(event(r#"{"sub": "u1", "account": "acc_1", "role": "viewer"}"#, ""));
        let claims = request.extensions().get::<VerifiedClaims>().expect("claims");
        assert_eq!((claims.subject.as_str(), claims.account.as_str(), claims.role.as_str()), ("u1", "acc_1", "viewer"));
        assert_eq!(request.uri().path(), "/v1/account");
    }

    #[test]
    fn a_caller_request_id_is_kept_else_api_gateways_is_used() {
        let request = to_router_request(event(r#"{"sub": "u1", "account": "acc_1", "role": "owner"}"#, "mine"));
        assert_eq!(request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()), Some("mine"));
        let request = to_router_request(event(r#"{"sub": "u1", "account": "acc_1", "role": "owner"}"#, ""));
        assert_eq!(request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()), Some("gw-req-1"));
    }

    #[test]
    fn incomplete_claims_are_no_claims() {
        let request = to_router_request(event(r#"{"sub": "u1", "role": "owner"}"#, ""));
        assert!(request.extensions().get::<VerifiedClaims>().is_none());
        let request = to_router_request(event(r#"{"sub": "u1", "account": "", "role": "owner"}"#, ""));
        assert!(request.extensions().get::<VerifiedClaims>().is_none());
    }

    #[tokio::test]
    async fn empty_bodies_stay_empty_and_others_keep_their_bytes() {
        let empty = to_lambda_response(axum::response::Response::new(AxumBody::empty())).await;
        assert_eq!(empty.body(), &Body::Empty);
        let full = to_lambda_response(axum::response::Response::new(AxumBody::from("{\"a\":1}"))).await;
        assert_eq!(full.body().as_ref(), b"{\"a\":1}");
    }
}
