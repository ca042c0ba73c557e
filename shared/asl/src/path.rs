//! Paths of the States language: reading a value out of a document, and writing a
//! result into one (ResultPath).
//!
//! A *reference path* (`$`, `$.a.b`, `$['a b'][0]`) names exactly one node; it is walked
//! here, which also lets ResultPath create the node. Member names are accepted as
//! Step Functions accepts them (`$.stage-name` included), which RFC 9535's shorthand
//! would reject. Any other path (wildcards, filters, slices, `..`) is an RFC 9535 query
//! run by `serde_json_path`; it yields the array of every match.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path as written in a definition, parsed once at load.
#[derive(Debug, Clone)]
pub(crate) enum Path {
    /// Names at most one node, and can be written to.
    Reference {
        /// The path as written, for error messages.
        text: String,
        /// The walk from the root.
        segments: Vec<Segment>,
    },
    /// An RFC 9535 query that may select many nodes.
    Query {
        /// The path as written, for error messages.
        text: String,
        /// The compiled query.
        query: JsonPath,
    },
}

impl Path {
    /// Parses a path; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if let Some(segments) = parse_reference(text) {
            return Ok(Path::Reference { text: text.to_string(), segments });
        }
        match JsonPath::parse(text) {
            Ok(query) => Ok(Path::Query { text: text.to_string(), query }),
            Err(e) => Err(format!("`{text}` is not a valid JSONPath: {e}")),
        }
    }

    /// Parses a path that must be a reference path (ResultPath, where a value is written).
    pub(crate) fn parse_reference(text: &str) -> Result<Self, String> {
        parse_reference(text)
            .map(|segments| Path::Reference { text: text.to_string(), segments })
            .ok_or_else(|| format!("`{text}` is not a reference path (like `$.a.b[0]`)"))
    }

    /// The path as written.
    pub(crate) fn text(&self) -> &str {
        match self {
            Path::Reference { text, .. } | Path::Query { text, .. } => text,
        }
    }

    /// Reads the path from `doc`: `None` when a reference path names nothing; a query
    /// always yields the (possibly empty) array of its matches.
    pub(crate) fn read(&self, doc: &Value) -> Option<Value> {
        match self {
            Path::Reference { segments, .. } => {
                let mut node = doc;
                for seg in segments {
                    node = match (seg, node) {
                        (Segment::Key(k), Value::Object(m)) => m.get(k)?,
                        (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                        _ => return None,
                    };
                }
                Some(node.clone())
            }
            Path::Query { query, .. } => Some(Value::Array(query.query(doc).all().into_iter().cloned().collect())),
        }
    }

    /// Writes `value` at the path inside `doc`, creating missing object members on the
    /// way (as ResultPath does). Fails when the way crosses a non-object or an array
    /// index out of range, which Step Functions reports as
    /// `States.ResultPathMatchFailure`.
    pub(crate) fn write(&self, doc: &mut Value, value: Value) -> Result<(), String> {
        let segments = match self {
            Path::Reference { segments, .. } => segments,
            Path::Query { text, .. } => return Err(format!("`{text}` is not a reference path")),
        };
        let Some((last, parents)) = segments.split_last() else {
            *doc = value;
            return Ok(());
        };
        let mut node = doc;
        for seg in parents {
            node = step_mut(node, seg, self.text())?;
        }
        match (last, node) {
            (Segment::Key(k), Value::Object(m)) => {
                m.insert(k.clone(), value);
                Ok(())
            }
            (Segment::Index(i), Value::Array(a)) if *i < a.len() => {
                a[*i] = value;
                Ok(())
            }
            (_, other) => Err(format!(
                "unable to apply ResultPath `{}`: the input at that place is {}",
                self.text(),
                kind_of(other)
            )),
        }
    }
}

/// Walks one step down for writing, creating an object member when it is missing.
fn step_mut<'a>(node: &'a mut Value, seg: &Segment, text: &str) -> Result<&'a mut Value, String> {
    let kind = kind_of(node);
    match (seg, node) {
        (Segment::Key(k), Value::Object(m)) => Ok(m.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()))),
        (Segment::Index(i), Value::Array(a)) => {
            a.get_mut(*i).ok_or_else(|| format!("unable to apply ResultPath `{text}`: index {i} is out of range"))
        }
        _ => Err(format!("unable to apply ResultPath `{text}`: it crosses {kind}")),
    }
}

/// A word for a JSON value's type, for error messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses `$`, `.name`, `['name']`, `["name"]` and `[n]` steps; `None` when the text is
/// anything else (which may still be a valid RFC 9535 query).
fn parse_reference(text: &str) -> Option<Vec<Segment>> {
    let rest = text.strip_prefix('$')?;
    let chars: Vec<char> = rest.chars().collect();
    let mut segments = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    if matches!(chars[j], '*' | '@' | '?' | '(' | ')' | '\'' | '"' | ']') || chars[j].is_whitespace() {
                        return None;
                    }
                    j += 1;
                }
                if j == start {
                    return None;
                }
                segments.push(Segment::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                let quote = *chars.get(i + 1)?;
                if quote == '\'' || quote == '"' {
                    let mut name = String::new();
                    let mut j = i + 2;
                    loop {
                        let c = *chars.get(j)?;
                        if c == '\\' {
                            name.push(*chars.get(j + 1)?);
                            j += 2;
                        } else if c == quote {
                            break;
                        } else {
                            name.push(c);
                            j += 1;
                        }
                    }
                    if chars.get(j + 1) != Some(&']') {
                        return None;
                    }
                    segments.push(Segment::Key(name));
                    i = j + 2;
                } else {
                    let mut j = i + 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j == i + 1 || chars.get(j) != Some(&']') {
                        return None;
                    }
                    let digits: String = chars[i + 1..j].iter().collect();
                    segments.push(Segment::Index(digits.parse().ok()?));
                    i = j + 1;
                }
            }
            _ => return None,
        }
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reference_paths_read_single_nodes() {
        let doc = json!({"a": {"b": [10, {"c d": 3}]}, "stage-name": "x"});
        let read = |p: &str| Path::parse(p).unwrap().read(&doc);
        assert_eq!(read("$"), Some(doc.clone()));
        assert_eq!(read("$.a.b[0]"), Some(json!(10)));
        assert_eq!(read("$.a.b[1]['c d']"), Some(json!(3)));
        assert_eq!(read("$['a'][\"b\"][1]"), Some(json!({"c d": 3})));
        assert_eq!(read("$.stage-name"), Some(json!("x")));
        assert_eq!(read("$.missing"), None);
        assert_eq!(read("$.a.b[5]"), None);
    }

    #[test]
    fn queries_yield_arrays() {
        let doc = json!({"items": [{"id": 1}, {"id": 2}, {"id": 3}]});
        let p = Path::parse("$.items[*].id").unwrap();
        assert!(matches!(p, Path::Query { .. }));
        assert_eq!(p.read(&doc), Some(json!([1, 2, 3])));
        let p = Path::parse("$.items[?@.id > 1].id").unwrap();
        assert_eq!(p.read(&doc), Some(json!([2, 3])));
        assert!(Path::parse("not a path").is_err());
        assert!(Path::parse_reference("$.items[*]").is_err());
    }

    #[test]
    fn write_creates_members_and_rejects_crossing_scalars() {
        let mut doc = json!({"a": 1});
        Path::parse("$.x.y").unwrap().write(&mut doc, json!(2)).unwrap();
        assert_eq!(doc, json!({"a": 1, "x": {"y": 2}}));
        Path::parse("$").unwrap().write(&mut doc, json!("all")).unwrap();
        assert_eq!(doc, json!("all"));
        let mut doc = json!({"a": 1});
        assert!(Path::parse("$.a.b").unwrap().write(&mut doc, json!(2)).is_err());
        let mut doc = json!({"l": [1, 2]});
        Path::parse("$.l[1]").unwrap().write(&mut doc, json!(9)).unwrap();
        assert_eq!(doc, json!({"l": [1, 9]}));
        assert!(Path::parse("$.l[2]").unwrap().write(&mut doc, json!(9)).is_err());
    }
}
