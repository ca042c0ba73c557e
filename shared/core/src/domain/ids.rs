//! Typed, validated ids: a malformed id is refused at the edge, never stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id does not have the expected `<prefix>_<32 hex>` shape.
    #[error("malformed {kind} id {value:?}: expected {prefix}_ followed by 32 lowercase hex digits")]
    Malformed {
        /// What the id names (account, site...).
        kind: &'static str,
        /// Its expected prefix.
        prefix: &'static str,
        /// What was given.
        value: String,
    },
}

impl IdError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        "malformed_id"
    }
}

/// An id kind: its prefix, and how a freshly generated id becomes one. The id
/// generator is a port, so the domain only says what a fresh id looks like.
pub trait TypedId: Sized {
    /// The prefix every id of this kind starts with.
    const PREFIX: &'static str;
    /// Wraps an id the generator made as `<PREFIX>_<32 hex>`.
    fn from_fresh(id: String) -> Self;
}

/// The OpenAPI pattern of the ids with `prefix`: exactly what their `FromStr` accepts
/// (`<prefix>_` and 32 lowercase hex digits).
#[cfg(feature = "openapi")]
pub fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}_[0-9a-f]{{32}}$")
}

/// Namespace of derived (UUIDv5) ids.
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6967_6e79_3873_6572_7669_6365_735f_6964);

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// The id derived from a seed: the same seed always gives the same id, so
            /// a replayed step recreates (and a conditional put dedupes) the same record.
            pub fn derive(seed: &str) -> Self {
                let uuid = uuid::Uuid::new_v5(&ID_NAMESPACE, seed.as_bytes());
                Self(format!("{}_{}", $prefix, uuid.simple()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TypedId for $name {
            const PREFIX: &'static str = $prefix;
            fn from_fresh(id: String) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let ok = s
                    .strip_prefix(concat!($prefix, "_"))
                    .is_some_and(|rest| {
                        rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                    });
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::Malformed { kind: $kind, prefix: $prefix, value: s.to_owned() })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// Identifies a tenant: every record belongs to one.
    AccountId, "acct", "account"
);
typed_id!(
    /// Identifies a site of an account.
    SiteId, "site", "site"
);
typed_id!(
    /// Identifies an automation run (also the lock holder and the execution name).
    RunId, "run", "run"
);
typed_id!(
    /// Identifies one ledger entry.
    TransactionId, "txn", "transaction"
);
typed_id!(
    /// Identifies a credit hold.
    HoldId, "hold", "hold"
);

typed_id!(
    /// Identifies an invoice of an account.
    InvoiceId, "inv", "invoice"
);

typed_id!(
    /// Identifies a payment against an invoice.
    PaymentId, "pay", "payment"
);

typed_id!(
    /// Identifies a credit note (a refund's record against a paid invoice).
    CreditNoteId, "cn", "credit note"
);

typed_id!(
    /// Identifies a credit package of the catalog.
    PackageId, "pkg", "credit package"
);

typed_id!(
    /// Identifies a subscription plan of the catalog.
    PlanId, "plan", "plan"
);

typed_id!(
    /// Identifies a keyword of a site (derived from the normalised text, so re-imports dedupe).
    KeywordId, "kw", "keyword"
);
typed_id!(
    /// Identifies a keyword cluster.
    ClusterId, "clu", "cluster"
);
typed_id!(
    /// Identifies a content idea.
    IdeaId, "idea", "idea"
);
typed_id!(
    /// Identifies a writer task.
    TaskId, "task", "task"
);
typed_id!(
    /// Identifies an article.
    ContentId, "cnt", "content"
);
typed_id!(
    /// Identifies an image (prompt and, once generated, file).
    ImageId, "img", "image"
);
typed_id!(
    /// Identifies a site's connection to a WordPress site or a Shopify store.
    IntegrationId, "intg", "integration"
);
typed_id!(
    /// Identifies one optimization of an article (its before and after).
    OptimizationId, "opt", "optimization"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_bad_ones_do_not() {
        let id = AccountId::from_fresh(format!("acct_{}", uuid::Uuid::now_v7().simple()));
        assert_eq!(id.as_str().parse::<AccountId>(), Ok(id.clone()));
        assert!("acct_123".parse::<AccountId>().is_err());
        assert!(id.as_str().replace("acct", "site").parse::<AccountId>().is_err());
        assert!("acct_0123456789ABCDEF0123456789abcdef".parse::<AccountId>().is_err());
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(serde_json::from_str::<AccountId>(&json).expect("parse"), id);
        assert!(serde_json::from_str::<AccountId>("\"nope\"").is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_valid() {
        let a = ClusterId::derive("run_1/0");
        assert_eq!(a, ClusterId::derive("run_1/0"));
        assert_ne!(a, ClusterId::derive("run_1/1"));
        assert_eq!(a.as_str().parse::<ClusterId>(), Ok(a));
    }
}
