//! Intrinsic functions (`States.Format(...)`, `States.Array(...)`, ...) used as the
//! values of `.$` fields in payload templates.
//!
//! A call is parsed once at load (so a typo fails the definition, naming the state) and
//! evaluated against the state's input and the context object at run time.

use serde_json::Value;

use super::path::Path;
use super::{errors, TaskError};

/// One argument of an intrinsic call.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A quoted string. `raw` keeps the `\{` / `\}` escapes that only States.Format
    /// reads; `value` is the string with every escape resolved.
    Str { value: String, raw: String },
    /// A number, boolean or null literal.
    Literal(Value),
    /// A path into the state's input.
    Path(Path),
    /// A path into the context object (`$$...`).
    Context(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The function's name, e.g. `States.Format`.
    pub(crate) name: String,
    /// Its arguments, in order.
    pub(crate) args: Vec<Arg>,
}

/// The functions this interpreter knows, with their accepted argument counts.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("States.Format", 1, usize::MAX),
    ("States.StringToJson", 1, 1),
    ("States.JsonToString", 1, 1),
    ("States.Array", 0, usize::MAX),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayUnique", 1, 1),
    ("States.JsonMerge", 3, 3),
    ("States.MathRandom", 2, 3),
    ("States.MathAdd", 2, 2),
    ("States.StringSplit", 2, 2),
    ("States.UUID", 0, 0),
];

/// Whether a `.$` value is an intrinsic call rather than a path.
pub(crate) fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// Parses a whole `.$` value as one call; the error says what is wrong.
pub(crate) fn parse(text: &str) -> Result<Call, String> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0 };
    p.skip_ws();
    let call = p.call()?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(format!("unexpected text after the call in `{text}`"));
    }
    Ok(call)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!("unknown intrinsic function `{name}`"));
        };
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(format!("`{name}` must be followed by `(`"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected `,` or `)` in the arguments of `{name}`")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            return Err(format!("`{name}` does not take {} argument(s)", args.len()));
        }
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                serde_json::from_str::<serde_json::Number>(&text)
                    .map(|n| Arg::Literal(Value::Number(n)))
                    .map_err(|_| format!("`{text}` is not a number"))
            }
            Some(_) => {
                for (word, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)]
                {
                    if self.rest_starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                if self.rest_starts_with("States.") {
                    return self.call().map(Arg::Call);
                }
                Err(format!("unexpected argument at position {}", self.pos))
            }
            None => Err("the call ends inside its arguments".to_string()),
        }
    }

    fn rest_starts_with(&self, word: &str) -> bool {
        word.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".to_string()),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some('\\') => {
                    let Some(c) = self.chars.get(self.pos + 1).copied() else {
                        return Err("unterminated escape in a string literal".to_string());
                    };
                    value.push(c);
                    if c == '{' || c == '}' || c == '\\' {
                        raw.push('\\');
                    }
                    raw.push(c);
                    self.pos += 2;
                }
                Some(c) => {
                    value.push(c);
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn path(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') => self.pos += 1,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']' | ')') if depth > 0 => depth -= 1,
                (None, ',' | ')') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos.min(self.chars.len())].iter().collect();
        let text = text.trim();
        match text.strip_prefix('$') {
            Some(ctx) if ctx.starts_with('$') => Path::parse(ctx).map(Arg::Context),
            _ => Path::parse(text).map(Arg::Path),
        }
    }
}

/// Fails a call with `States.IntrinsicFailure`.
fn fail(name: &str, why: impl std::fmt::Display) -> TaskError {
    TaskError::new(errors::INTRINSIC_FAILURE, format!("{name}: {why}"))
}

impl Call {
    /// Evaluates the call against the state's input and the context object.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskError> {
        let name = self.name.as_str();
        let values = self.eval_args(input, context)?;
        match name {
            "States.Format" => self.format(&values),
            "States.StringToJson" | "States.JsonToString" | "States.JsonMerge" => json_family(name, &values),
            "States.Array"
            | "States.ArrayPartition"
            | "States.ArrayContains"
            | "States.ArrayRange"
            | "States.ArrayGetItem"
            | "States.ArrayLength"
            | "States.ArrayUnique" => array_family(name, values),
            "States.MathRandom" | "States.MathAdd" => math_family(name, &values),
            "States.StringSplit" => string_split(name, &values),
            "States.UUID" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
            other => Err(fail(other, "unknown function")),
        }
    }

    /// Resolves every argument to a value, in order: literals as written, paths read
    /// from the input or the context object, nested calls evaluated first.
    fn eval_args(&self, input: &Value, context: &Value) -> Result<Vec<Value>, TaskError> {
        let name = self.name.as_str();
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => {
                    p.read(input).ok_or_else(|| fail(name, format!("the path `{}` is not in the input", p.text())))?
                }
                Arg::Context(p) => p
                    .read(context)
                    .ok_or_else(|| fail(name, format!("the path `${}` is not in the context object", p.text())))?,
                Arg::Call(c) => c.eval(input, context)?,
            });
        }
        Ok(values)
    }

    /// States.Format: `{}` takes the next argument; `\{` and `\}` are literal braces.
    fn format(&self, values: &[Value]) -> Result<Value, TaskError> {
        let name = "States.Format";
        let template = match &self.args[0] {
            Arg::Str { raw, .. } => raw.clone(),
            _ => as_str(name, &values[0])?.to_string(),
        };
        let mut out = String::new();
        let mut next = values[1..].iter();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '{' if chars.peek() == Some(&'}') => {
                    chars.next();
                    let v = next.next().ok_or_else(|| fail(name, "more `{}` than arguments"))?;
                    match v {
                        Value::String(s) => out.push_str(s),
                        Value::Array(_) | Value::Object(_) => {
                            return Err(fail(name, "arguments must be strings, numbers, booleans or null"))
                        }
                        other => out.push_str(&other.to_string()),
                    }
                }
                c => out.push(c),
            }
        }
        if next.next().is_some() {
            return Err(fail(name, "more arguments than `{}`"));
        }
        Ok(Value::String(out))
    }
}

/// States.StringToJson, States.JsonToString and States.JsonMerge.
fn json_family(name: &str, values: &[Value]) -> Result<Value, TaskError> {
    match name {
        "States.StringToJson" => {
            let s = as_str(name, &values[0])?;
            serde_json::from_str(s).map_err(|e| fail(name, format!("not JSON: {e}")))
        }
        "States.JsonToString" => serde_json::to_string(&values[0]).map(Value::String).map_err(|e| fail(name, e)),
        "States.JsonMerge" => {
            let (Value::Object(a), Value::Object(b)) = (&values[0], &values[1]) else {
                return Err(fail(name, "both arguments must be objects"));
            };
            if values[2] != Value::Bool(false) {
                return Err(fail(name, "only a shallow merge (false) is supported"));
            }
            let mut out = a.clone();
            out.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Value::Object(out))
        }
        other => Err(fail(other, "unknown function")),
    }
}

/// The `States.Array*` functions; takes the values by value so that States.Array
/// returns them without copying.
fn array_family(name: &str, values: Vec<Value>) -> Result<Value, TaskError> {
    match name {
        "States.Array" => Ok(Value::Array(values)),
        "States.ArrayPartition" => array_partition(name, as_array(name, &values[0])?, as_int(name, &values[1])?),
        "States.ArrayContains" => Ok(Value::Bool(as_array(name, &values[0])?.contains(&values[1]))),
        "States.ArrayRange" => {
            array_range(name, as_int(name, &values[0])?, as_int(name, &values[1])?, as_int(name, &values[2])?)
        }
        "States.ArrayGetItem" => {
            let arr = as_array(name, &values[0])?;
            let idx = as_int(name, &values[1])?;
            usize::try_from(idx)
                .ok()
                .and_then(|i| arr.get(i))
                .cloned()
                .ok_or_else(|| fail(name, format!("index {idx} is out of range")))
        }
        "States.ArrayLength" => Ok(Value::from(as_array(name, &values[0])?.len())),
        "States.ArrayUnique" => {
            let mut out: Vec<Value> = Vec::new();
            for v in as_array(name, &values[0])? {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        other => Err(fail(other, "unknown function")),
    }
}

/// States.ArrayPartition: chunks of `size` items, the last one possibly shorter.
fn array_partition(name: &str, arr: &[Value], size: i64) -> Result<Value, TaskError> {
    if size <= 0 {
        return Err(fail(name, "the chunk size must be positive"));
    }
    let size = usize::try_from(size).map_err(|e| fail(name, e))?;
    Ok(Value::Array(arr.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
}

/// States.ArrayRange: `start` to `end` inclusive by `step`, capped at 1000 items as
/// Step Functions does.
fn array_range(name: &str, start: i64, end: i64, step: i64) -> Result<Value, TaskError> {
    if step == 0 {
        return Err(fail(name, "the step must not be 0"));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        if out.len() >= 1000 {
            return Err(fail(name, "a range has at most 1000 items"));
        }
        out.push(Value::from(i));
        i += step;
    }
    Ok(Value::Array(out))
}

/// States.MathRandom and States.MathAdd.
fn math_family(name: &str, values: &[Value]) -> Result<Value, TaskError> {
    match name {
        "States.MathRandom" => {
            let (start, end) = (as_int(name, &values[0])?, as_int(name, &values[1])?);
            if start >= end {
                return Err(fail(name, "the start must be below the end"));
            }
            Ok(Value::from(rand::random_range(start..end)))
        }
        "States.MathAdd" => {
            let (a, b) = (&values[0], &values[1]);
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                return x.checked_add(y).map(Value::from).ok_or_else(|| fail(name, "the sum overflows"));
            }
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => serde_json::Number::from_f64(x + y)
                    .map(Value::Number)
                    .ok_or_else(|| fail(name, "the sum is not a finite number")),
                _ => Err(fail(name, "both arguments must be numbers")),
            }
        }
        other => Err(fail(other, "unknown function")),
    }
}

/// States.StringSplit: splits on any of the delimiter characters, dropping empty
/// pieces.
fn string_split(name: &str, values: &[Value]) -> Result<Value, TaskError> {
    let s = as_str(name, &values[0])?;
    let delims: Vec<char> = as_str(name, &values[1])?.chars().collect();
    Ok(Value::Array(
        s.split(|c| delims.contains(&c)).filter(|p| !p.is_empty()).map(|p| Value::String(p.to_string())).collect(),
    ))
}

fn as_str<'a>(name: &str, v: &'a Value) -> Result<&'a str, TaskError> {
    v.as_str().ok_or_else(|| fail(name, format!("expected a string, got {v}")))
}

fn as_array<'a>(name: &str, v: &'a Value) -> Result<&'a Vec<Value>, TaskError> {
    v.as_array().ok_or_else(|| fail(name, format!("expected an array, got {v}")))
}

fn as_int(name: &str, v: &Value) -> Result<i64, TaskError> {
    v.as_i64().ok_or_else(|| fail(name, format!("expected an integer, got {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value) -> Result<Value, TaskError> {
        parse(text).unwrap().eval(&input, &json!({"Execution": {"Name": "run-1"}}))
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escaped_braces() {
        let v = eval("States.Format('Hello {}, you are {} \\{x\\}', $.name, $.age)", json!({"name": "Ann", "age": 7}));
        assert_eq!(v.unwrap(), json!("Hello Ann, you are 7 {x}"));
        let v = eval("States.Format('run {}', $$.Execution.Name)", json!({}));
        assert_eq!(v.unwrap(), json!("run run-1"));
        assert!(eval("States.Format('{} {}', 'a')", json!({})).is_err());
    }

    #[test]
    fn json_round_trip_array_math_uuid() {
        assert_eq!(eval("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})).unwrap(), json!({"a": [1, 2]}));
        assert_eq!(eval("States.JsonToString($.o)", json!({"o": {"a": 1}})).unwrap(), json!("{\"a\":1}"));
        assert_eq!(
            eval("States.Array('a', 1, true, null, $.x, States.Array())", json!({"x": {"y": 2}})).unwrap(),
            json!(["a", 1, true, null, {"y": 2}, []])
        );
        assert_eq!(eval("States.MathAdd($.n, -3)", json!({"n": 10})).unwrap(), json!(7));
        let id = eval("States.UUID()", json!({})).unwrap();
        assert_eq!(id.as_str().map(str::len), Some(36));
        let err = eval("States.StringToJson($.s)", json!({"s": "{"})).unwrap_err();
        assert_eq!(err.error, "States.IntrinsicFailure");
    }

    #[test]
    fn array_helpers() {
        let input = json!({"a": [1, 2, 2, 3, 4]});
        assert_eq!(eval("States.ArrayLength($.a)", input.clone()).unwrap(), json!(5));
        assert_eq!(eval("States.ArrayGetItem($.a, 3)", input.clone()).unwrap(), json!(3));
        assert_eq!(eval("States.ArrayContains($.a, 4)", input.clone()).unwrap(), json!(true));
        assert_eq!(eval("States.ArrayUnique($.a)", input.clone()).unwrap(), json!([1, 2, 3, 4]));
        assert_eq!(eval("States.ArrayPartition($.a, 2)", input).unwrap(), json!([[1, 2], [2, 3], [4]]));
        assert_eq!(eval("States.ArrayRange(1, 9, 4)", json!({})).unwrap(), json!([1, 5, 9]));
        assert_eq!(eval("States.StringSplit('a,b;c', ',;')", json!({})).unwrap(), json!(["a", "b", "c"]));
        assert_eq!(
            eval("States.JsonMerge($.x, $.y, false)", json!({"x": {"a": 1, "b": 1}, "y": {"b": 2}})).unwrap(),
            json!({"a": 1, "b": 2})
        );
    }

    #[test]
    fn malformed_calls_are_rejected_at_parse() {
        assert!(parse("States.Nope(1)").is_err());
        assert!(parse("States.Format('unterminated)").is_err());
        assert!(parse("States.MathAdd(1)").is_err());
        assert!(parse("States.UUID() extra").is_err());
        assert!(looks_like_call("States.UUID()"));
        assert!(!looks_like_call("$.a"));
    }
}
