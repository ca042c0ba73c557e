//! Tenants and their sites.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, SiteId};

/// Whether an account may use the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// In good standing.
    Active,
    /// Blocked (e.g. unpaid): no new runs.
    Suspended,
}

/// A tenant: owns sites, a credit balance and every record below them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// The tenant id.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// Standing.
    pub status: AccountStatus,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// Whether a site takes part in automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SiteStatus {
    /// Automation may run.
    Active,
    /// Kept, but no runs start.
    Inactive,
}

/// A website of an account: the unit automation runs (and locks) on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    /// The site id.
    pub id: SiteId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Display name.
    pub name: String,
    /// Public domain, e.g. `example.com`.
    pub domain: String,
    /// Standing.
    pub status: SiteStatus,
    /// Creation time (RFC 3339).
    pub created_at: String,
}
