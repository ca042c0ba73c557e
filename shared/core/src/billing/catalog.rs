//! The catalog: credit packages and plans. Writes are privileged (the API enforces
//! roles); this service enforces what a valid entry is.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::credits::MAX_CREDITS_PER_REQUEST;
use super::money::{self, MAX_TAX_RATE_BP};
use crate::domain::{CreditPackage, Currency, PackageId, Plan, PlanId};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, IdGenerator, IdGeneratorExt};
use crate::repo::{BillingRepo, RepoError};

/// Longest name of a package or plan, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A field is out of its range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No package with this id.
    #[error("credit package {0} not found")]
    PackageNotFound(String),
    /// No plan with this id.
    #[error("plan {0} not found")]
    PlanNotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl CatalogError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "validation_failed",
            Self::PackageNotFound(_) => "package_not_found",
            Self::PlanNotFound(_) => "plan_not_found",
            Self::Repo(e) => e.code(),
        }
    }
}

/// A new credit package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPackage {
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Credits added when its invoice is paid (1 to `MAX_CREDITS_PER_REQUEST`).
    pub credits: i64,
    /// Price in minor units before tax (0 to `MAX_AMOUNT`).
    pub price: i64,
    /// Currency of the price.
    pub currency: Currency,
    /// Tax rate of its invoice line, basis points (0 to 10000).
    #[serde(default)]
    pub tax_rate_bp: i64,
}

/// Changes to a credit package; absent fields stay. Invoices already drafted keep
/// the terms they were drafted with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageUpdate {
    /// New name.
    pub name: Option<String>,
    /// New credits.
    pub credits: Option<i64>,
    /// New price.
    pub price: Option<i64>,
    /// New tax rate.
    pub tax_rate_bp: Option<i64>,
    /// Activate or deactivate (inactive packages cannot be bought).
    pub active: Option<bool>,
}

/// A new plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPlan {
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Price of a month in minor units before tax.
    pub monthly_price: i64,
    /// Currency of the price.
    pub currency: Currency,
    /// Credits granted per paid month (0 to `MAX_CREDITS_PER_REQUEST`).
    pub included_monthly_credits: i64,
    /// Tax rate of its invoice line, basis points.
    #[serde(default)]
    pub tax_rate_bp: i64,
}

/// Changes to a plan; absent fields stay. They apply from the next period invoiced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanUpdate {
    /// New name.
    pub name: Option<String>,
    /// New monthly price.
    pub monthly_price: Option<i64>,
    /// New included credits.
    pub included_monthly_credits: Option<i64>,
    /// New tax rate.
    pub tax_rate_bp: Option<i64>,
    /// Activate or deactivate (inactive plans take no new subscriptions).
    pub active: Option<bool>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CatalogError {
    CatalogError::Invalid { field, reason: reason.into() }
}

fn check_name(name: &str) -> Result<String, CatalogError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid("name", format!("must be 1 to {MAX_NAME_CHARS} printable characters")));
    }
    Ok(name.to_owned())
}

fn check_credits(field: &'static str, credits: i64, min: i64) -> Result<i64, CatalogError> {
    if (min..=MAX_CREDITS_PER_REQUEST).contains(&credits) {
        Ok(credits)
    } else {
        Err(invalid(field, format!("must be {min} to {MAX_CREDITS_PER_REQUEST}, got {credits}")))
    }
}

fn check_price(field: &'static str, price: i64) -> Result<i64, CatalogError> {
    money::check_amount(price).map_err(|_| invalid(field, format!("must be 0 to {}, got {price}", money::MAX_AMOUNT)))
}

fn check_tax(rate: i64) -> Result<i64, CatalogError> {
    if (0..=MAX_TAX_RATE_BP).contains(&rate) {
        Ok(rate)
    } else {
        Err(invalid("tax_rate_bp", format!("must be 0 to {MAX_TAX_RATE_BP}, got {rate}")))
    }
}

/// Credit packages and plans.
#[derive(Clone)]
pub struct CatalogService {
    repo: BillingRepo,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl CatalogService {
    /// The catalog over the billing repository.
    pub fn new(repo: BillingRepo, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Self { repo, clock, ids }
    }

    fn now(&self) -> String {
        rfc3339(self.clock.now_ms())
    }

    /// Adds an active package.
    pub async fn create_package(&self, new: NewPackage) -> Result<CreditPackage, CatalogError> {
        let now = self.now();
        let package = CreditPackage {
            id: self.ids.generate::<PackageId>(),
            name: check_name(&new.name)?,
            credits: check_credits("credits", new.credits, 1)?,
            price: check_price("price", new.price)?,
            currency: new.currency,
            tax_rate_bp: check_tax(new.tax_rate_bp)?,
            active: true,
            created_at: now.clone(),
            updated_at: now,
        };
        self.repo.put_package(&package, true).await?;
        Ok(package)
    }

    /// Changes a package (deactivating it stops new purchases).
    pub async fn update_package(&self, id: &PackageId, update: PackageUpdate) -> Result<CreditPackage, CatalogError> {
        let mut package = self.package(id).await?;
        if let Some(name) = update.name {
            package.name = check_name(&name)?;
        }
        if let Some(credits) = update.credits {
            package.credits = check_credits("credits", credits, 1)?;
        }
        if let Some(price) = update.price {
            package.price = check_price("price", price)?;
        }
        if let Some(rate) = update.tax_rate_bp {
            package.tax_rate_bp = check_tax(rate)?;
        }
        if let Some(active) = update.active {
            package.active = active;
        }
        package.updated_at = self.now();
        self.repo.put_package(&package, false).await?;
        Ok(package)
    }

    /// One package, active or not.
    pub async fn package(&self, id: &PackageId) -> Result<CreditPackage, CatalogError> {
        self.repo.package(id).await?.ok_or_else(|| CatalogError::PackageNotFound(id.to_string()))
    }

    /// The package with this name (exact, case-insensitive), active ones first.
    pub async fn package_by_name(&self, name: &str) -> Result<CreditPackage, CatalogError> {
        let mut matching: Vec<_> =
            self.repo.packages().await?.into_iter().filter(|p| p.name.eq_ignore_ascii_case(name.trim())).collect();
        matching.sort_by_key(|p| !p.active);
        matching.into_iter().next().ok_or_else(|| CatalogError::PackageNotFound(name.to_owned()))
    }

    /// Every package (only the active ones unless `include_inactive`).
    pub async fn packages(&self, include_inactive: bool) -> Result<Vec<CreditPackage>, CatalogError> {
        Ok(self.repo.packages().await?.into_iter().filter(|p| include_inactive || p.active).collect())
    }

    /// Adds an active plan.
    pub async fn create_plan(&self, new: NewPlan) -> Result<Plan, CatalogError> {
        let now = self.now();
        let plan = Plan {
            id: self.ids.generate::<PlanId>(),
            name: check_name(&new.name)?,
            monthly_price: check_price("monthly_price", new.monthly_price)?,
            currency: new.currency,
            included_monthly_credits: check_credits("included_monthly_credits", new.included_monthly_credits, 0)?,
            tax_rate_bp: check_tax(new.tax_rate_bp)?,
            active: true,
            created_at: now.clone(),
            updated_at: now,
        };
        self.repo.put_plan(&plan, true).await?;
        Ok(plan)
    }

    /// Changes a plan; subscribers see it from their next period's invoice.
    pub async fn update_plan(&self, id: &PlanId, update: PlanUpdate) -> Result<Plan, CatalogError> {
        let mut plan = self.plan(id).await?;
        if let Some(name) = update.name {
            plan.name = check_name(&name)?;
        }
        if let Some(price) = update.monthly_price {
            plan.monthly_price = check_price("monthly_price", price)?;
        }
        if let Some(credits) = update.included_monthly_credits {
            plan.included_monthly_credits = check_credits("included_monthly_credits", credits, 0)?;
        }
        if let Some(rate) = update.tax_rate_bp {
            plan.tax_rate_bp = check_tax(rate)?;
        }
        if let Some(active) = update.active {
            plan.active = active;
        }
        plan.updated_at = self.now();
        self.repo.put_plan(&plan, false).await?;
        Ok(plan)
    }

    /// One plan, active or not.
    pub async fn plan(&self, id: &PlanId) -> Result<Plan, CatalogError> {
        self.repo.plan(id).await?.ok_or_else(|| CatalogError::PlanNotFound(id.to_string()))
    }

    /// Every plan (only the active ones unless `include_inactive`).
    pub async fn plans(&self, include_inactive: bool) -> Result<Vec<Plan>, CatalogError> {
        Ok(self.repo.plans().await?.into_iter().filter(|p| include_inactive || p.active).collect())
    }
}
