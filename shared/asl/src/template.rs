//! Payload templates: the values of `Parameters`, `ResultSelector` and `ItemSelector`.
//!
//! A field whose name ends in `.$` takes its value from a path into the input, a path
//! into the context object (`$$.`), or an intrinsic function call; the `.$` is dropped
//! from the output name. Everything else is copied as written. Templates are compiled
//! at load so that a bad path is reported with the state's name.

use serde_json::{Map, Value};

use super::intrinsics::{self, Call};
use super::path::Path;
use super::{errors, TaskError};

/// A compiled payload template.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// Copied as written.
    Literal(Value),
    /// An object whose fields are templates themselves.
    Object(Vec<(String, Template)>),
    /// An array whose items are templates themselves.
    Array(Vec<Template>),
    /// A `.$` field reading the input.
    Path(Path),
    /// A `.$` field reading the context object.
    Context(Path),
    /// A `.$` field calling an intrinsic function.
    Call(Call),
}

impl Template {
    /// Compiles a template; the error names the field that is wrong.
    pub(crate) fn compile(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (key, v) in map {
                    if let Some(name) = key.strip_suffix(".$") {
                        let Value::String(text) = v else {
                            return Err(format!("the field `{key}` must be a string (a path or an intrinsic call)"));
                        };
                        let compiled = Self::compile_dynamic(text).map_err(|e| format!("the field `{key}`: {e}"))?;
                        fields.push((name.to_string(), compiled));
                    } else {
                        fields.push((key.clone(), Self::compile(v)?));
                    }
                }
                Ok(Template::Object(fields))
            }
            Value::Array(items) => items.iter().map(Self::compile).collect::<Result<Vec<_>, _>>().map(Template::Array),
            other => Ok(Template::Literal(other.clone())),
        }
    }

    fn compile_dynamic(text: &str) -> Result<Self, String> {
        if intrinsics::looks_like_call(text) {
            return intrinsics::parse(text).map(Template::Call);
        }
        match text.strip_prefix('$') {
            Some(rest) if rest.starts_with('$') => Path::parse(rest).map(Template::Context),
            Some(_) => Path::parse(text).map(Template::Path),
            None => Err(format!("`{text}` is neither a path nor an intrinsic function call")),
        }
    }

    /// Builds the payload from the state's effective input and the context object.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskError> {
        self.eval_field(input, context, "")
    }

    fn eval_field(&self, input: &Value, context: &Value, field: &str) -> Result<Value, TaskError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut out = Map::new();
                for (name, t) in fields {
                    out.insert(name.clone(), t.eval_field(input, context, name)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval_field(input, context, field))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Path(p) => p.read(input).ok_or_else(|| {
                TaskError::new(
                    errors::PARAMETER_PATH_FAILURE,
                    format!(
                        "The JSONPath '{}' specified for the field '{field}.$' could not be found in the input '{input}'",
                        p.text()
                    ),
                )
            }),
            Template::Context(p) => p.read(context).ok_or_else(|| {
                TaskError::new(
                    errors::PARAMETER_PATH_FAILURE,
                    format!(
                        "The JSONPath '${}' specified for the field '{field}.$' could not be found in the context object",
                        p.text()
                    ),
                )
            }),
            Template::Call(c) => c.eval(input, context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamic_fields_read_input_context_and_intrinsics() {
        let t = Template::compile(&json!({
            "static": {"nested": [1, {"deep.$": "$.a"}]},
            "value.$": "$.a",
            "name.$": "$$.Execution.Name",
            "greeting.$": "States.Format('hi {}', $.a)",
            "list": [{"x.$": "$.b[0]"}]
        }))
        .unwrap();
        let out = t.eval(&json!({"a": "A", "b": [5]}), &json!({"Execution": {"Name": "n"}})).unwrap();
        assert_eq!(
            out,
            json!({
                "static": {"nested": [1, {"deep": "A"}]},
                "value": "A",
                "name": "n",
                "greeting": "hi A",
                "list": [{"x": 5}]
            })
        );
    }

    #[test]
    fn missing_path_is_a_parameter_path_failure() {
        let t = Template::compile(&json!({"v.$": "$.missing"})).unwrap();
        let err = t.eval(&json!({}), &json!({})).unwrap_err();
        assert_eq!(err.error, "States.ParameterPathFailure");
        assert!(err.cause.contains("'v.$'"));
    }

    #[test]
    fn bad_templates_are_rejected_at_compile() {
        assert!(Template::compile(&json!({"v.$": 3})).is_err());
        assert!(Template::compile(&json!({"v.$": "plain"})).is_err());
        assert!(Template::compile(&json!({"v.$": "States.Bogus()"})).is_err());
    }
}
