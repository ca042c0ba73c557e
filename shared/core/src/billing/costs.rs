//! Built-in prices, used when an operation has no stored CreditCostConfig.

use crate::domain::{CostUnit, CreditCostConfig, Operation};

/// Every operation the platform charges for, with its default unit and price.
pub const BUILTIN_OPERATIONS: &[(Operation, CostUnit, i64)] = &[
    (Operation::Clustering, CostUnit::PerRequest, 10),
    (Operation::IdeaGeneration, CostUnit::PerItem, 15),
    (Operation::ContentGeneration, CostUnit::Per100Words, 1),
    (Operation::ImagePromptExtraction, CostUnit::PerItem, 2),
    (Operation::ImageGeneration, CostUnit::PerImage, 5),
    (Operation::Linking, CostUnit::PerRequest, 8),
    (Operation::Optimization, CostUnit::Per200Words, 1),
    (Operation::Embedding, CostUnit::Per1000Items, 1),
];

/// The built-in price of an operation; None for an operation the platform does not know.
pub fn builtin_cost(operation: &str) -> Option<CreditCostConfig> {
    let known = Operation::parse(operation)?;
    BUILTIN_OPERATIONS.iter().find(|(o, _, _)| *o == known).map(|(o, unit, credits)| CreditCostConfig {
        operation: o.as_str().to_owned(),
        unit: *unit,
        credits_per_unit: *credits,
        min_credits: 1,
        configured: false,
    })
}
