//! Who is calling: JWT claims (subject, account, role), verified by API Gateway's JWT
//! authorizer in the cloud and by the router itself (HS256, a configured secret) on a
//! laptop. The caller's tenant is decided here and only here; privileged roles may act
//! for another account by naming it in the `X-Account-Id` header.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::ApiState;
use igny8_core::domain::AccountId;

/// The header a privileged caller names the account it acts for with.
pub const ACCOUNT_HEADER: &str = "x-account-id";

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads, imports keywords, starts and steers runs.
    Editor,
    /// Editor, and manages the account's sites and automation settings.
    Owner,
    /// Platform staff: any account, prices, credits.
    Admin,
    /// Platform automation (billing jobs): like admin.
    System,
}

impl Role {
    /// Admins and the system cross tenants and move credits.
    pub fn is_privileged(self) -> bool {
        matches!(self, Self::Admin | Self::System)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "system" => Ok(Self::System),
            other => Err(format!("unknown role {other:?}: expected owner, editor, viewer, admin or system")),
        }
    }
}

/// The claims every token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user (or service) the token was issued to.
    pub sub: String,
    /// The user's account.
    pub account: String,
    /// The user's role in it.
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    #[serde(default)]
    pub iat: u64,
}

/// Claims an authorizer in front of the router already verified (API Gateway's JWT
/// authorizer); the Lambda edge puts them in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `sub`.
    pub subject: String,
    /// `account`.
    pub account: String,
    /// `role`, as text.
    pub role: String,
}

/// How the router learns who calls.
#[derive(Clone)]
pub enum AuthMode {
    /// Verify `Authorization: Bearer` HS256 tokens with this secret (laptop, tests).
    Hs256 {
        /// The shared secret.
        secret: Vec<u8>,
    },
    /// Trust [`VerifiedClaims`] placed in the request by the edge (API Gateway).
    Gateway,
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hs256 { .. } => f.write_str("Hs256 { secret: <redacted> }"),
            Self::Gateway => f.write_str("Gateway"),
        }
    }
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The signing library refused.
    #[error("cannot sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Signs an HS256 token for local use (`igny8 token`).
pub fn mint_token(
    secret: &[u8],
    subject: &str,
    account: &AccountId,
    role: Role,
    now_s: u64,
    ttl_s: u64,
) -> Result<String, TokenError> {
    let claims = Claims { sub: subject.to_owned(), account: account.to_string(), role, exp: now_s + ttl_s, iat: now_s };
    Ok(encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))?)
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub subject: String,
    /// The account this request acts on (the user's own unless privileged and overridden).
    pub account: AccountId,
    /// The role.
    pub role: Role,
}

impl Caller {
    /// Fails with 403 unless the role may change things (editors and up).
    pub fn require_editor(&self) -> Result<(), ApiError> {
        if self.role == Role::Viewer {
            return Err(ApiError::forbidden("viewers cannot change anything"));
        }
        Ok(())
    }

    /// Fails with 403 unless the role manages the account (owners and privileged).
    pub fn require_owner(&self) -> Result<(), ApiError> {
        if self.role < Role::Owner {
            return Err(ApiError::forbidden("only the account's owner may do this"));
        }
        Ok(())
    }

    /// Fails with 403 unless the role is privileged.
    pub fn require_privileged(&self) -> Result<(), ApiError> {
        if !self.role.is_privileged() {
            return Err(ApiError::forbidden("only platform administrators may do this"));
        }
        Ok(())
    }
}

fn caller_from(subject: String, account: &str, role: Role, parts: &Parts) -> Result<Caller, ApiError> {
    let own = AccountId::from_str(account)
        .map_err(|_| ApiError::unauthorized("the token's account claim is not an account id"))?;
    let acting = match parts.headers.get(ACCOUNT_HEADER) {
        None => own,
        Some(value) => {
            let named = value
                .to_str()
                .ok()
                .and_then(|v| AccountId::from_str(v.trim()).ok())
                .ok_or_else(|| ApiError::invalid_field(ACCOUNT_HEADER, "not an account id"))?;
            if named != own && !role.is_privileged() {
                return Err(ApiError::forbidden("only platform administrators may act for another account"));
            }
            named
        }
    };
    Ok(Caller { subject, account: acting, role })
}

/// Reads and checks the caller of a request under `mode`.
pub fn authenticate(mode: &AuthMode, parts: &Parts) -> Result<Caller, ApiError> {
    match mode {
        AuthMode::Gateway => {
            let claims = parts
                .extensions
                .get::<VerifiedClaims>()
                .ok_or_else(|| ApiError::unauthorized("no verified claims on the request"))?;
            let role =
                claims.role.parse().map_err(|_| ApiError::unauthorized("the token's role claim is not a role"))?;
            caller_from(claims.subject.clone(), &claims.account, role, parts)
        }
        AuthMode::Hs256 { secret } => {
            let value = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))?;
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp", "sub"]);
            let data = decode::<Claims>(token.trim(), &DecodingKey::from_secret(secret), &validation)
                .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
            caller_from(data.claims.sub, &data.claims.account, data.claims.role, parts)
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        // A middleware (idempotency) may have authenticated the request already.
        let caller = match parts.extensions.get::<Caller>() {
            Some(caller) => caller.clone(),
            None => {
                let caller = authenticate(&state.auth, parts)?;
                parts.extensions.insert(caller.clone());
                caller
            }
        };
        if let Some(slot) = parts.extensions.get::<super::logging::AccountSlot>() {
            slot.set(caller.account.to_string());
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(auth: Option<&str>, account_header: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/v1/sites");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        if let Some(h) = account_header {
            b = b.header(ACCOUNT_HEADER, h);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn account(n: u8) -> AccountId {
        AccountId::derive(&format!("acct-{n}"))
    }

    #[test]
    fn hs256_tokens_round_trip_and_bad_ones_are_refused() {
        let mode = AuthMode::Hs256 { secret: b"s3cret".to_vec() };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let token = mint_token(b"s3cret", "u1", &account(1), Role::Editor, now, 600).expect("mint");
        let caller = authenticate(&mode, &parts(Some(&format!("Bearer {token}")), None)).expect("valid");
        assert_eq!((caller.account, caller.role), (account(1), Role::Editor));
        let forged = mint_token(b"other", "u1", &account(1), Role::Admin, now, 600).expect("mint");
        assert_eq!(
            authenticate(&mode, &parts(Some(&format!("Bearer {forged}")), None)).expect_err("forged").code,
            "unauthorized"
        );
        let expired = mint_token(b"s3cret", "u1", &account(1), Role::Editor, now - 7200, 600).expect("mint");
        assert!(authenticate(&mode, &parts(Some(&format!("Bearer {expired}")), None)).is_err());
        assert!(authenticate(&mode, &parts(None, None)).is_err());
    }

    #[test]
    fn only_privileged_roles_act_for_another_account() {
        let mode = AuthMode::Hs256 { secret: b"k".to_vec() };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let owner = mint_token(b"k", "u", &account(1), Role::Owner, now, 600).expect("mint");
        let other = account(2).to_string();
        let e = authenticate(&mode, &parts(Some(&format!("Bearer {owner}")), Some(&other))).expect_err("owner");
        assert_eq!(e.code, "forbidden");
        let admin = mint_token(b"k", "a", &account(1), Role::Admin, now, 600).expect("mint");
        let caller = authenticate(&mode, &parts(Some(&format!("Bearer {admin}")), Some(&other))).expect("admin");
        assert_eq!(caller.account, account(2));
    }

    #[test]
    fn gateway_mode_reads_the_verified_claims() {
        let mut p = parts(None, None);
        assert!(authenticate(&AuthMode::Gateway, &p).is_err());
        p.extensions.insert(VerifiedClaims {
            subject: "u".into(),
            account: account(3).to_string(),
            role: "viewer".into(),
        });
        let caller = authenticate(&AuthMode::Gateway, &p).expect("claims");
        assert_eq!((caller.account.clone(), caller.role), (account(3), Role::Viewer));
        assert!(caller.require_editor().is_err());
    }
}
