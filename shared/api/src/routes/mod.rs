//! The routes, one module per area; each exposes `routes()` and its handlers (which
//! the OpenAPI document lists), and `declared()`: the constraints its handlers enforce,
//! built from the same constants as their checks, which the OpenAPI document declares.

pub mod automation;
pub mod billing;
pub mod catalog;
pub mod imports;
pub mod integrations;
pub mod invoices;
pub mod linking;
pub mod optimization;
pub mod payments;
pub mod planner;
pub mod publishing;
pub mod sites;
pub mod subscriptions;
pub mod webhooks;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

use igny8_core::domain::TypedId;

/// A constraint a handler enforces, in the terms of JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// A whole number from `.0` to `.1`, both included.
    Range(i64, i64),
    /// A number from `.0` to `.1`, both included.
    Between(f64, f64),
    /// Text of `min` to `max` characters (when given) matching `pattern` (ECMA-262).
    Text {
        /// Fewest characters.
        min: Option<usize>,
        /// Most characters.
        max: Option<usize>,
        /// What the text must match, if anything.
        pattern: Option<String>,
    },
    /// One of these strings.
    OneOf(Vec<String>),
    /// An array of `min` to `max` items; whole numbers from `each.0` to `each.1` when given.
    Items {
        /// Fewest items.
        min: usize,
        /// Most items.
        max: usize,
        /// The range of each item, if they are whole numbers.
        each: Option<(i64, i64)>,
    },
    /// A date-time (RFC 3339).
    DateTime,
}

/// Where a constraint applies in the OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A property of a component schema (a request body or a record).
    Property(&'static str, &'static str),
    /// A parameter of the operations of one path (`*` for every path that has it).
    Parameter(&'static str, &'static str),
    /// A whole component schema (the typed ids).
    Component(&'static str),
}

/// One declaration: where, and what.
pub type Declared = (Target, Constraint);

/// Text matching a pattern, of any length.
pub fn pattern(pattern: impl Into<String>) -> Constraint {
    Constraint::Text { min: None, max: None, pattern: Some(pattern.into()) }
}

/// The pattern of an id of kind `T`: exactly what its `FromStr` accepts.
pub fn id_pattern<T: TypedId>() -> String {
    igny8_core::domain::ids::id_pattern(T::PREFIX)
}

/// Characters `char::is_control` is true of (Unicode `Cc`), as a regex class body.
pub const CONTROL_CHARS: &str = r"\x00-\x1f\x7f-\x9f";

/// Text that is not blank once trimmed (`str::trim`: Unicode `White_Space`, which
/// ECMA-262's `\s` covers but for U+0085) and has no control character: what
/// [`check_text`] accepts, less its length.
pub fn printable_text_pattern() -> String {
    format!(r"^[^{CONTROL_CHARS}]*[^\s{CONTROL_CHARS}][^{CONTROL_CHARS}]*$")
}

/// Text that is not blank once trimmed: it holds a character `str::trim` keeps.
pub const NOT_BLANK: &str = r"[^\s\u0085]";

/// The checks of [`printable_text_pattern`] and a length: 1 to `max` characters once
/// trimmed, none of them a control character. Returns the trimmed text.
pub fn check_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, crate::ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        return Err(crate::ApiError::invalid_field(field, format!("must be 1 to {max} printable characters")));
    }
    Ok(trimmed)
}

/// Largest whole number a JSON float spells exactly.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// Deserializes a request field whose schema says `integer`: JSON Schema counts `5.0`
/// as the integer 5, so whole floats (up to 2^53) are read as the whole numbers they
/// are, anywhere inside the value; anything else is read as `T` reads it.
pub fn whole<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    let mut value = Value::deserialize(deserializer)?;
    make_whole(&mut value);
    T::deserialize(value).map_err(D::Error::custom)
}

fn make_whole(value: &mut Value) {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT_FLOAT) {
                // In range by the filter: the cast is exact.
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *n = Number::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_whole),
        Value::Object(fields) => fields.values_mut().for_each(make_whole),
        _ => {}
    }
}

/// Every constraint the handlers enforce, for the OpenAPI document.
pub fn declared() -> Vec<Declared> {
    let mut all = Vec::new();
    all.extend(sites::declared());
    all.extend(automation::declared());
    all.extend(planner::declared());
    all.extend(billing::declared());
    all.extend(imports::declared());
    all.extend(catalog::declared());
    all.extend(invoices::declared());
    all.extend(payments::declared());
    all.extend(subscriptions::declared());
    all.extend(integrations::declared());
    all.extend(publishing::declared());
    all.extend(optimization::declared());
    all.extend(linking::declared());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "whole")]
        n: u32,
        #[serde(default, deserialize_with = "whole")]
        o: Option<i64>,
        #[serde(default, deserialize_with = "whole")]
        a: Vec<u32>,
    }

    #[test]
    fn whole_floats_are_whole_numbers_and_fractions_are_not() {
        let b: Body = serde_json::from_str(r#"{"n": 5.0, "o": -3.0, "a": [1, 2.0]}"#).expect("whole");
        assert_eq!((b.n, b.o, b.a), (5, Some(-3), vec![1, 2]));
        let b: Body = serde_json::from_str(r#"{"n": 5, "o": null}"#).expect("plain");
        assert_eq!((b.n, b.o), (5, None));
        assert!(serde_json::from_str::<Body>(r#"{"n": 5.5}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"n": -1.0}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"n": 1e300}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"n": "5"}"#).is_err());
    }

    #[test]
    fn check_text_is_the_printable_text_rule() {
        assert_eq!(check_text("name", "  a b ", 3).ok(), Some("a b"));
        assert!(check_text("name", "  ", 3).is_err());
        assert!(check_text("name", "a\u{7}", 3).is_err());
        assert!(check_text("name", "abcd", 3).is_err());
        assert!(printable_text_pattern().starts_with('^'));
    }
}
