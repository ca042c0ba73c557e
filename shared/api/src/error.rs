//! Every failure of the HTTP API as one `application/problem+json` document with a
//! stable `code`, mapped here once from the services' error enums. Bad input is a 4xx
//! that names the fields; only a fault of ours is a 500, and its detail stays in the log.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use igny8_core::accounts::AccountError;
use igny8_core::automation::AutomationError;
use igny8_core::billing::CreditError;
use igny8_core::integration::IntegrationError;
use igny8_core::linking::LinkError;
use igny8_core::optimization::OptimizationError;
use igny8_core::planner::{ImportError, RecordsError};
use igny8_core::ports::blob::BlobError;
use igny8_core::ports::{KeyError, PlatformError, StoreError};
use igny8_core::publishing::PublishError;
use igny8_core::repo::RepoError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field's complaint in a validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field (a JSON pointer-ish path, a query parameter, or `line N` of a CSV).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document; `code` is what clients branch on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:igny8:problem:<code>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened to this request.
    pub detail: String,
    /// Stable machine-readable code (`insufficient_credits`, `not_found`...).
    pub code: String,
    /// Field errors of a validation problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// The message for the caller.
    pub detail: String,
    /// Field errors, if any.
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// A problem with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new() }
    }

    /// 404: the resource does not exist for this caller (whether or not it exists).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 422 with one field error.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field, message }],
        }
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 500: a fault of ours; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:igny8:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = e.code();
        match e {
            StoreError::Conflict | StoreError::Throttled => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, code, "the store is busy; retry shortly")
            }
            StoreError::Invalid(reason) => Self::new(StatusCode::BAD_REQUEST, code, reason),
            other => Self::internal(other),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Store(s) => s.into(),
            corrupt @ RepoError::Corrupt { .. } => Self::internal(corrupt),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => Self::not_found("file"),
            other => Self::internal(other),
        }
    }
}

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            CreditError::InvalidAmount(_) | CreditError::TooManyCredits { .. } => Self::invalid_field("amount", detail),
            CreditError::InvalidPrice { field, .. } => Self::invalid_field(field, detail),
            CreditError::InvalidUnits(_) => Self::invalid_field("units", detail),
            CreditError::UnknownOperation(_) | CreditError::KeyReused { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            CreditError::AccountNotFound(_) => Self::not_found("account"),
            CreditError::InsufficientCredits { .. } => Self::new(StatusCode::PAYMENT_REQUIRED, code, detail),
            CreditError::HoldNotFound(_) => Self::not_found("hold"),
            CreditError::HoldClosed { .. } => Self::new(StatusCode::CONFLICT, code, detail),
            CreditError::InvalidKey => Self::new(StatusCode::BAD_REQUEST, code, detail),
            CreditError::Contended { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            CreditError::Repo(r) => r.into(),
        }
    }
}

impl From<AutomationError> for ApiError {
    fn from(e: AutomationError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            AutomationError::SiteNotFound => Self::not_found("site"),
            AutomationError::RunNotFound(_) => Self::not_found("run"),
            AutomationError::SiteInactive
            | AutomationError::Disabled
            | AutomationError::AlreadyRunning { .. }
            | AutomationError::InvalidState { .. } => Self::new(StatusCode::CONFLICT, code, detail),
            AutomationError::NotEnoughKeywords { .. } | AutomationError::EmbeddingModelMissing(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            AutomationError::InsufficientCredits { .. } | AutomationError::AccountPastDue => {
                Self::new(StatusCode::PAYMENT_REQUIRED, code, detail)
            }
            AutomationError::Invalid(reason) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, reason),
            AutomationError::Credits(c) => c.into(),
            AutomationError::Repo(r) => r.into(),
            AutomationError::Blob(b) => b.into(),
            other => Self::internal(other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, reason } => Self::invalid_field(field, reason),
            AccountError::AccountNotFound(_) => Self::not_found("account"),
            AccountError::Credits(c) => c.into(),
            AccountError::Repo(r) => r.into(),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            ImportError::NoKeywordColumn | ImportError::Empty => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            ImportError::Encoding { line, message } => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code,
                detail,
                errors: vec![FieldError { field: format!("line {line}"), message }],
            },
            ImportError::Malformed(rows) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code,
                detail,
                errors: rows
                    .into_iter()
                    .map(|r| FieldError { field: format!("line {}", r.line), message: r.message })
                    .collect(),
            },
            ImportError::Repo(r) => r.into(),
        }
    }
}

impl From<RecordsError> for ApiError {
    fn from(e: RecordsError) -> Self {
        match e {
            RecordsError::SiteNotFound => Self::not_found("site"),
            RecordsError::NotFound(what) => Self::not_found(what),
            RecordsError::Repo(r) => r.into(),
            RecordsError::Blob(b) => b.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            // The sealed blob is not this integration's (moved or tampered with): the
            // caller must enter the credentials again, nothing to retry.
            KeyError::Denied => Self::new(StatusCode::CONFLICT, code, detail),
            KeyError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, code, "the key service is unavailable; retry shortly")
            }
            backend @ KeyError::Backend(_) => Self::internal(backend),
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            PlatformError::BadCredentials { .. } | PlatformError::Forbidden { .. } | PlatformError::NotFound { .. } => {
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            PlatformError::Rejected { .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
            // The remote site failed, not this request and not us.
            PlatformError::Throttled { .. }
            | PlatformError::Unavailable { .. }
            | PlatformError::Unreachable { .. }
            | PlatformError::Tls { .. }
            | PlatformError::NoApi { .. }
            | PlatformError::Protocol { .. } => Self::new(StatusCode::BAD_GATEWAY, code, detail),
        }
    }
}

/// The kind of record a service's "not found" names ("site site_…" → "site"): a 404
/// never repeats the id, so it says nothing of whether another account has it.
fn kind_of(what: &str) -> &str {
    what.split_whitespace().next().unwrap_or("record")
}

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            IntegrationError::NotFound(what) => Self::not_found(kind_of(&what)),
            IntegrationError::Unsupported(_) => Self {
                errors: vec![FieldError { field: "platform".into(), message: detail.clone() }],
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            },
            IntegrationError::Invalid { field, message } => Self::invalid_field(field, message),
            IntegrationError::AlreadyExists(_) | IntegrationError::Inactive(_) => {
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            IntegrationError::Unconfigured => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            IntegrationError::Keys(k) => k.into(),
            IntegrationError::Repo(r) => r.into(),
            IntegrationError::Platform(p) => p.into(),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            PublishError::NotFound(what) => Self::not_found(kind_of(&what)),
            PublishError::NotApproved(_) | PublishError::NotReady(..) | PublishError::NoIntegration => {
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            PublishError::Invalid { field, message } => Self::invalid_field(field, message),
            // Validation errors block approval and publishing (docs/validation.md).
            PublishError::ContentInvalid { .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
            // Another request is publishing the article right now: retry shortly.
            PublishError::Busy(_) => Self::new(StatusCode::CONFLICT, code, detail),
            PublishError::Platform(p) => p.into(),
            PublishError::Blobs(b) => b.into(),
            PublishError::Integration(i) => i.into(),
            PublishError::Repo(r) => r.into(),
        }
    }
}

impl From<OptimizationError> for ApiError {
    fn from(e: OptimizationError) -> Self {
        let (code, detail) = (e.code(), e.to_string());
        match e {
            OptimizationError::NotFound(what) => Self::not_found(kind_of(&what)),
            OptimizationError::NotReady(..) => Self::new(StatusCode::CONFLICT, code, detail),
            OptimizationError::Credits(c) => c.into(),
            // The provider's words may name its account or model setup: logged, not shown.
            OptimizationError::Ai(ai) => {
                tracing::warn!(error = %ai, code, "the AI provider failed an optimization");
                let status = if ai.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
                let detail = if ai.is_transient() {
                    "the AI provider is busy or unreachable; retry shortly (nothing was charged)"
                } else {
                    "the AI provider failed the rewrite (nothing was charged)"
                };
                Self::new(status, code, detail)
            }
            OptimizationError::Repo(r) => r.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::NotFound(what) => Self::not_found(kind_of(&what)),
            LinkError::Repo(r) => r.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => Self::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text()),
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                Self {
                    errors: vec![FieldError { field: "body".into(), message: text.clone() }],
                    ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", text)
                }
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
            other => Self::new(StatusCode::BAD_REQUEST, "invalid_body", other.body_text()),
        }
    }
}

/// 413: the body is over the router's limit.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {} bytes", super::BODY_LIMIT),
    )
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        Self {
            errors: vec![FieldError { field: "query".into(), message: text.clone() }],
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_query", text)
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_carry_type_code_and_field_errors() {
        let p = ApiError::invalid_field("domain", "not a domain").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.code, "validation_failed");
        assert_eq!(p.problem_type, "urn:igny8:problem:validation_failed");
        assert_eq!(p.errors[0].field, "domain");
    }

    #[test]
    fn service_refusals_map_to_stable_codes() {
        let e: ApiError = AutomationError::AlreadyRunning { holder: "run_x".into(), until: 0, now: 0 }.into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "run_already_active"));
        let e: ApiError = AutomationError::AccountPastDue.into();
        assert_eq!((e.status, e.code), (StatusCode::PAYMENT_REQUIRED, "account_past_due"));
        let e: ApiError = CreditError::InsufficientCredits { required: 5, available: 1 }.into();
        assert_eq!((e.status, e.code), (StatusCode::PAYMENT_REQUIRED, "insufficient_credits"));
        let e: ApiError = StoreError::Invalid("bad cursor".into()).into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e: ApiError = StoreError::Backend("disk on fire".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.detail.contains("disk"), "internal causes stay in the log");
    }

    #[test]
    fn integration_and_publishing_refusals_are_4xx_with_their_codes() {
        let e: ApiError = IntegrationError::Unsupported(igny8_core::domain::UnsupportedPlatform("wix".into())).into();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_platform"));
        let e: ApiError = IntegrationError::AlreadyExists(igny8_core::domain::Platform::Wordpress).into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "integration_exists"));
        let e: ApiError = IntegrationError::NotFound("site site_0123".into()).into();
        assert_eq!((e.status, e.code, e.detail.as_str()), (StatusCode::NOT_FOUND, "not_found", "site not found"));
        let e: ApiError = IntegrationError::Unconfigured.into();
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "integrations_unavailable"));
        let e: ApiError = IntegrationError::Keys(KeyError::Denied).into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "credentials_unreadable"));
        let e: ApiError = PublishError::NoIntegration.into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "no_integration"));
        let e: ApiError = PublishError::NotApproved(igny8_core::domain::ContentId::derive("draft")).into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "content_not_approved"));
        let e: ApiError = PublishError::Invalid { field: "publish_at", message: "in the past".into() }.into();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
        let e: ApiError = PlatformError::Unreachable { message: "refused".into() }.into();
        assert_eq!((e.status, e.code), (StatusCode::BAD_GATEWAY, "platform_unreachable"));
    }

    #[test]
    fn optimization_and_linking_refusals_map_to_their_codes() {
        use igny8_ai::AiError;
        use igny8_core::domain::ContentId;
        let e: ApiError = OptimizationError::NotFound("content cnt_0123".into()).into();
        assert_eq!((e.status, e.code, e.detail.as_str()), (StatusCode::NOT_FOUND, "not_found", "content not found"));
        let e: ApiError = OptimizationError::NotReady(ContentId::derive("empty"), "no body".into()).into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "content_not_ready"));
        let e: ApiError =
            OptimizationError::Credits(CreditError::InsufficientCredits { required: 9, available: 1 }).into();
        assert_eq!((e.status, e.code), (StatusCode::PAYMENT_REQUIRED, "insufficient_credits"));
        let e: ApiError = OptimizationError::Ai(AiError::Timeout).into();
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "ai_unavailable"));
        let e: ApiError = OptimizationError::Ai(AiError::Provider("401 key sk-secret rejected".into())).into();
        assert_eq!((e.status, e.code), (StatusCode::BAD_GATEWAY, "ai_failed"));
        assert!(!e.detail.contains("sk-secret"), "the provider's words stay in the log: {}", e.detail);
        let e: ApiError = LinkError::NotFound("site site_0123".into()).into();
        assert_eq!((e.status, e.code, e.detail.as_str()), (StatusCode::NOT_FOUND, "not_found", "site not found"));
    }
}
