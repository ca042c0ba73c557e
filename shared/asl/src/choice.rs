//! Choice rules: parsing (at load) and evaluation (at run time).
//!
//! As in Step Functions, a comparison whose variable holds a value of another type is
//! simply false (a Choice on `$.next` with a number in it falls through to Default),
//! while a comparison on a variable that is *absent* is a `States.Runtime` error — use
//! `IsPresent` to guard optional fields.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::path::Path;
use super::TaskError;

/// What a comparison does with the variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsPresent,
    IsNull,
    IsString,
    IsNumeric,
    IsBoolean,
    IsTimestamp,
}

/// The operand family, which decides what literal an operator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    Numeric,
    Boolean,
    Timestamp,
    /// The `Is*` type tests take a boolean literal and never a path.
    Test,
}

const OPS: &[(&str, Op, Family)] = &[
    ("StringEquals", Op::StringEquals, Family::String),
    ("StringLessThan", Op::StringLessThan, Family::String),
    ("StringGreaterThan", Op::StringGreaterThan, Family::String),
    ("StringLessThanEquals", Op::StringLessThanEquals, Family::String),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals, Family::String),
    ("StringMatches", Op::StringMatches, Family::String),
    ("NumericEquals", Op::NumericEquals, Family::Numeric),
    ("NumericLessThan", Op::NumericLessThan, Family::Numeric),
    ("NumericGreaterThan", Op::NumericGreaterThan, Family::Numeric),
    ("NumericLessThanEquals", Op::NumericLessThanEquals, Family::Numeric),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals, Family::Numeric),
    ("BooleanEquals", Op::BooleanEquals, Family::Boolean),
    ("TimestampEquals", Op::TimestampEquals, Family::Timestamp),
    ("TimestampLessThan", Op::TimestampLessThan, Family::Timestamp),
    ("TimestampGreaterThan", Op::TimestampGreaterThan, Family::Timestamp),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals, Family::Timestamp),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals, Family::Timestamp),
    ("IsPresent", Op::IsPresent, Family::Test),
    ("IsNull", Op::IsNull, Family::Test),
    ("IsString", Op::IsString, Family::Test),
    ("IsNumeric", Op::IsNumeric, Family::Test),
    ("IsBoolean", Op::IsBoolean, Family::Test),
    ("IsTimestamp", Op::IsTimestamp, Family::Test),
];

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// Written in the rule.
    Literal(Value),
    /// Read from the input (`...Path` operators).
    Path(Path),
}

/// A boolean expression over the state's input.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare { variable: Path, op: Op, operand: Operand },
}

/// A top-level rule: an expression and where to go when it holds.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) expr: Expr,
    pub(crate) next: String,
}

/// Parses one top-level rule (which must have `Next`).
pub(crate) fn parse_rule(value: &Value) -> Result<Rule, String> {
    let obj = value.as_object().ok_or("each Choices entry must be an object")?;
    let next = match obj.get("Next") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("a choice rule's `Next` must be a string".into()),
        None => return Err("a choice rule has no `Next`".into()),
    };
    let expr = parse_expr(obj, true)?;
    Ok(Rule { expr, next })
}

fn parse_expr(obj: &Map<String, Value>, top: bool) -> Result<Expr, String> {
    let keys: Vec<&str> =
        obj.keys().map(String::as_str).filter(|k| *k != "Comment" && !(top && *k == "Next")).collect();
    if !top && obj.contains_key("Next") {
        return Err("`Next` is only allowed on a top-level choice rule".into());
    }
    let nested = |v: &Value| -> Result<Expr, String> {
        v.as_object().ok_or_else(|| "nested rules must be objects".to_string()).and_then(|o| parse_expr(o, false))
    };
    for combinator in ["And", "Or", "Not"] {
        if let Some(v) = obj.get(combinator) {
            if keys.len() != 1 {
                return Err(format!("a rule with `{combinator}` must have no other condition fields"));
            }
            return match combinator {
                "Not" => Ok(Expr::Not(Box::new(nested(v)?))),
                _ => {
                    let items = v
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| format!("`{combinator}` must be a non-empty array of rules"))?;
                    let exprs = items.iter().map(nested).collect::<Result<Vec<_>, _>>()?;
                    Ok(if combinator == "And" { Expr::And(exprs) } else { Expr::Or(exprs) })
                }
            };
        }
    }
    let variable = match obj.get("Variable") {
        Some(Value::String(s)) => Path::parse(s)?,
        Some(_) => return Err("`Variable` must be a string path".into()),
        None => return Err("a comparison rule has no `Variable`".into()),
    };
    let ops: Vec<&str> = keys.iter().copied().filter(|k| *k != "Variable").collect();
    let [op_name] = ops.as_slice() else {
        return Err(if ops.is_empty() {
            "a comparison rule has no comparison operator".to_string()
        } else {
            format!("a comparison rule must have exactly one operator, found {}", ops.join(", "))
        });
    };
    let (base, is_path) = match op_name.strip_suffix("Path") {
        Some(b) if OPS.iter().any(|(n, _, f)| *n == b && *f != Family::Test) => (b, true),
        _ => (*op_name, false),
    };
    let &(_, op, family) =
        OPS.iter().find(|(n, _, _)| *n == base).ok_or_else(|| format!("unknown comparison operator `{op_name}`"))?;
    let value = &obj[*op_name];
    let operand = if is_path {
        let Value::String(p) = value else {
            return Err(format!("`{op_name}` must be a string path"));
        };
        Operand::Path(Path::parse(p)?)
    } else {
        let ok = match family {
            Family::String => value.is_string(),
            Family::Numeric => value.is_number(),
            Family::Boolean | Family::Test => value.is_boolean(),
            Family::Timestamp => value.as_str().is_some_and(|s| parse_ts(s).is_some()),
        };
        if !ok {
            return Err(format!("`{op_name}` has a value of the wrong type: {value}"));
        }
        Operand::Literal(value.clone())
    };
    Ok(Expr::Compare { variable, op, operand })
}

fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `*` matches any run of characters; `\*` and `\\` are a literal star and backslash.
fn glob_matches(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Char(char),
        Star,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic greedy matcher with backtracking to the last star.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

impl Expr {
    /// Evaluates the expression on the state's effective input.
    pub(crate) fn eval(&self, input: &Value) -> Result<bool, TaskError> {
        match self {
            Expr::And(items) => {
                for e in items {
                    if !e.eval(input)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::Or(items) => {
                for e in items {
                    if e.eval(input)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Expr::Not(e) => Ok(!e.eval(input)?),
            Expr::Compare { variable, op, operand } => compare(variable, *op, operand, input),
        }
    }
}

fn compare(variable: &Path, op: Op, operand: &Operand, input: &Value) -> Result<bool, TaskError> {
    let var = variable.read(input);
    let expected = match operand {
        Operand::Literal(v) => v.clone(),
        Operand::Path(p) => p.read(input).ok_or_else(|| {
            TaskError::runtime(format!(
                "Invalid path '{}': the choice rule's operand path is not in the input",
                p.text()
            ))
        })?,
    };
    let flag = expected.as_bool().unwrap_or(true);
    let test = |present: bool| present == flag;
    match op {
        Op::IsPresent => return Ok(test(var.is_some())),
        Op::IsNull => return Ok(test(matches!(var, Some(Value::Null)))),
        Op::IsString => return Ok(test(matches!(var, Some(Value::String(_))))),
        Op::IsNumeric => return Ok(test(matches!(var, Some(Value::Number(_))))),
        Op::IsBoolean => return Ok(test(matches!(var, Some(Value::Bool(_))))),
        Op::IsTimestamp => return Ok(test(var.as_ref().and_then(Value::as_str).and_then(parse_ts).is_some())),
        _ => {}
    }
    let var = var.ok_or_else(|| {
        TaskError::runtime(format!(
            "Invalid path '{}': The choice state's condition path references an invalid value.",
            variable.text()
        ))
    })?;
    let ordered = |ord: Option<Ordering>, want: fn(Ordering) -> bool| ord.is_some_and(want);
    let str_cmp = || match (var.as_str(), expected.as_str()) {
        (Some(a), Some(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let num_cmp = || match (var.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) if var.is_number() && expected.is_number() => a.partial_cmp(&b),
        _ => None,
    };
    let ts_cmp = || match (var.as_str().and_then(parse_ts), expected.as_str().and_then(parse_ts)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => None,
    };
    Ok(match op {
        Op::StringEquals => ordered(str_cmp(), Ordering::is_eq),
        Op::StringLessThan => ordered(str_cmp(), Ordering::is_lt),
        Op::StringGreaterThan => ordered(str_cmp(), Ordering::is_gt),
        Op::StringLessThanEquals => ordered(str_cmp(), Ordering::is_le),
        Op::StringGreaterThanEquals => ordered(str_cmp(), Ordering::is_ge),
        Op::StringMatches => match (var.as_str(), expected.as_str()) {
            (Some(a), Some(pattern)) => glob_matches(pattern, a),
            _ => false,
        },
        Op::NumericEquals => ordered(num_cmp(), Ordering::is_eq),
        Op::NumericLessThan => ordered(num_cmp(), Ordering::is_lt),
        Op::NumericGreaterThan => ordered(num_cmp(), Ordering::is_gt),
        Op::NumericLessThanEquals => ordered(num_cmp(), Ordering::is_le),
        Op::NumericGreaterThanEquals => ordered(num_cmp(), Ordering::is_ge),
        Op::BooleanEquals => {
            matches!((var.as_bool(), expected.as_bool()), (Some(a), Some(b)) if a == b)
        }
        Op::TimestampEquals => ordered(ts_cmp(), Ordering::is_eq),
        Op::TimestampLessThan => ordered(ts_cmp(), Ordering::is_lt),
        Op::TimestampGreaterThan => ordered(ts_cmp(), Ordering::is_gt),
        Op::TimestampLessThanEquals => ordered(ts_cmp(), Ordering::is_le),
        Op::TimestampGreaterThanEquals => ordered(ts_cmp(), Ordering::is_ge),
        Op::IsPresent | Op::IsNull | Op::IsString | Op::IsNumeric | Op::IsBoolean | Op::IsTimestamp => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(rule: Value, input: Value) -> bool {
        let mut rule = rule;
        rule["Next"] = json!("X");
        parse_rule(&rule).unwrap().expr.eval(&input).unwrap()
    }

    #[test]
    fn string_operators() {
        let input = json!({"s": "stage_content", "o": "stage_content", "b": "b"});
        assert!(holds(json!({"Variable": "$.s", "StringEquals": "stage_content"}), input.clone()));
        assert!(!holds(json!({"Variable": "$.s", "StringEquals": "x"}), input.clone()));
        assert!(holds(json!({"Variable": "$.s", "StringEqualsPath": "$.o"}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "StringLessThan": "c"}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "StringGreaterThan": "a"}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "StringLessThanEquals": "b"}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "StringGreaterThanEquals": "b"}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "StringLessThanPath": "$.s"}), input.clone()));
        assert!(holds(json!({"Variable": "$.s", "StringMatches": "stage_*"}), input.clone()));
        assert!(holds(json!({"Variable": "$.s", "StringMatches": "*_con*t"}), input.clone()));
        assert!(!holds(json!({"Variable": "$.s", "StringMatches": "stage"}), input.clone()));
        assert!(glob_matches("a\\*b", "a*b"));
        assert!(!glob_matches("a\\*b", "axb"));
        // type mismatch is false, not an error
        assert!(!holds(json!({"Variable": "$.n", "StringEquals": "1"}), json!({"n": 1})));
    }

    #[test]
    fn numeric_and_boolean_operators() {
        let input = json!({"n": 5, "m": 5.0, "big": 7, "t": true});
        assert!(holds(json!({"Variable": "$.n", "NumericEquals": 5}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericLessThan": 5.5}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericGreaterThan": 4}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericLessThanEquals": 5}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "NumericLessThanPath": "$.big"}), input.clone()));
        assert!(!holds(json!({"Variable": "$.n", "NumericGreaterThanPath": "$.big"}), input.clone()));
        assert!(holds(json!({"Variable": "$.t", "BooleanEquals": true}), input.clone()));
        assert!(!holds(json!({"Variable": "$.n", "BooleanEquals": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.t", "BooleanEqualsPath": "$.t"}), input));
    }

    #[test]
    fn timestamp_operators() {
        let input = json!({"a": "2026-01-01T00:00:00Z", "b": "2026-01-01T01:00:00+01:00", "c": "2026-06-01T00:00:00Z"});
        assert!(holds(json!({"Variable": "$.a", "TimestampEquals": "2026-01-01T00:00:00Z"}), input.clone()));
        assert!(holds(json!({"Variable": "$.a", "TimestampEqualsPath": "$.b"}), input.clone()));
        assert!(holds(json!({"Variable": "$.a", "TimestampLessThanPath": "$.c"}), input.clone()));
        assert!(holds(json!({"Variable": "$.c", "TimestampGreaterThan": "2026-01-01T00:00:00Z"}), input.clone()));
        assert!(holds(json!({"Variable": "$.a", "TimestampLessThanEquals": "2026-01-01T00:00:00Z"}), input.clone()));
        assert!(holds(json!({"Variable": "$.a", "TimestampGreaterThanEquals": "2025-01-01T00:00:00Z"}), input.clone()));
        assert!(!holds(json!({"Variable": "$.x", "TimestampLessThan": "2026-01-01T00:00:00Z"}), json!({"x": "nope"})));
    }

    #[test]
    fn type_tests_and_combinators() {
        let input = json!({"s": "x", "n": 1, "b": false, "z": null, "ts": "2026-01-01T00:00:00Z"});
        assert!(holds(json!({"Variable": "$.s", "IsPresent": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.missing", "IsPresent": false}), input.clone()));
        assert!(holds(json!({"Variable": "$.z", "IsNull": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.s", "IsString": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.n", "IsNumeric": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.b", "IsBoolean": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.ts", "IsTimestamp": true}), input.clone()));
        assert!(holds(json!({"Variable": "$.s", "IsTimestamp": false}), input.clone()));
        assert!(holds(
            json!({"And": [{"Variable": "$.n", "NumericEquals": 1}, {"Not": {"Variable": "$.b", "BooleanEquals": true}}]}),
            input.clone()
        ));
        assert!(holds(
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 2}, {"Variable": "$.s", "StringEquals": "x"}]}),
            input.clone()
        ));
        assert!(!holds(json!({"Not": {"Variable": "$.s", "IsPresent": true}}), input));
    }

    #[test]
    fn absent_variable_is_a_runtime_error() {
        let rule = parse_rule(&json!({"Variable": "$.nope", "StringEquals": "a", "Next": "X"})).unwrap();
        assert_eq!(rule.expr.eval(&json!({})).unwrap_err().error, "States.Runtime");
    }

    #[test]
    fn malformed_rules_are_rejected() {
        assert!(parse_rule(&json!({"Variable": "$.a", "StringEquals": 1, "Next": "X"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.a", "Bogus": 1, "Next": "X"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.a", "StringEquals": "a"})).is_err());
        assert!(parse_rule(&json!({"StringEquals": "a", "Next": "X"})).is_err());
        assert!(parse_rule(&json!({"And": [], "Next": "X"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.a", "IsNullPath": "$.b", "Next": "X"})).is_err());
        assert!(parse_rule(&json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "X"})).is_err());
    }
}
