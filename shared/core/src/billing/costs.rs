//! Built-in prices, used when an operation has no stored CreditCostConfig.

use crate::domain::{CostUnit, CreditCostConfig};

/// Every operation the platform charges for, with its default unit and price.
pub const BUILTIN_OPERATIONS: &[(&str, CostUnit, i64)] = &[
    ("clustering", CostUnit::PerRequest, 10),
    ("idea_generation", CostUnit::PerItem, 15),
    ("content_generation", CostUnit::Per100Words, 1),
    ("image_prompt_extraction", CostUnit::PerItem, 2),
    ("image_generation", CostUnit::PerImage, 5),
    ("linking", CostUnit::PerRequest, 8),
    ("optimization", CostUnit::Per200Words, 1),
];

/// The built-in price of an operation; None for an operation the platform does not know.
pub fn builtin_cost(operation: &str) -> Option<CreditCostConfig> {
    BUILTIN_OPERATIONS.iter().find(|(name, _, _)| *name == operation).map(|(name, unit, credits)| CreditCostConfig {
        operation: (*name).to_owned(),
        unit: *unit,
        credits_per_unit: *credits,
        min_credits: 1,
        configured: false,
    })
}
