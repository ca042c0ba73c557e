//! Parsing and validating a state-machine definition.
//!
//! Everything that can be checked without running is checked here — targets exist,
//! every state can be reached, terminal fields are consistent, paths, payload templates
//! and intrinsic calls compile, Retry/Catch fields are well-formed — and every error
//! names the state, so a broken document fails when it is loaded rather than in the
//! middle of a run.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::choice::{self, Rule};
use super::path::Path;
use super::template::Template;
use super::{errors, AslError};

/// A validated state machine, ready to be run by an [`Executor`](super::Executor).
///
/// Cheap to clone: the compiled states are shared.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) machine: Arc<Machine>,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) comment: Option<String>,
}

/// A set of states with an entry point: the top level, a Parallel branch or a Map
/// processor.
#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, State>,
}

/// How a path-valued field was given: absent (the default `$`), `null`, or a path.
#[derive(Debug, Clone)]
pub(crate) enum PathField {
    /// Not written: the whole document (`$`).
    Default,
    /// Written as `null`.
    Null,
    /// Written as a path.
    Path(Path),
}

/// One state with its input/output processing and error handling.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) kind: StateKind,
    pub(crate) input_path: PathField,
    pub(crate) output_path: PathField,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: PathField,
    /// `None` means the state ends its machine (End: true, or a terminal type).
    pub(crate) next: Option<String>,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
}

/// What a state does, per `Type`.
#[derive(Debug)]
pub(crate) enum StateKind {
    Pass { result: Option<Value> },
    Task { resource: String, timeout: Option<NumberOrPath>, heartbeat: Option<NumberOrPath> },
    Choice { rules: Vec<Rule>, default: Option<String> },
    Wait(WaitFor),
    Succeed,
    Fail { error: Option<String>, cause: Option<String>, error_path: Option<Path>, cause_path: Option<Path> },
    Parallel { branches: Vec<Arc<Machine>> },
    Map { processor: Arc<Machine>, items_path: PathField, item_selector: Option<Template>, max_concurrency: usize },
}

/// A number of seconds written literally or read from the input.
#[derive(Debug, Clone)]
pub(crate) enum NumberOrPath {
    Seconds(f64),
    Path(Path),
}

/// How long a Wait state waits.
#[derive(Debug)]
pub(crate) enum WaitFor {
    Seconds(f64),
    SecondsPath(Path),
    Timestamp(OffsetDateTime),
    TimestampPath(Path),
}

/// One Retry entry.
#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) error_equals: Vec<String>,
    pub(crate) interval_seconds: f64,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<f64>,
}

/// One Catch entry.
#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) error_equals: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: PathField,
}

/// Whether an error name is matched by an `ErrorEquals` list.
///
/// `States.ALL` matches everything but `States.Runtime` (retrying cannot fix a bad
/// path); `States.TaskFailed` matches everything but timeouts and `States.Runtime`.
pub(crate) fn error_matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|name| match name.as_str() {
        // A failed commit is not the state's failure: no Retry or Catch may take it,
        // the execution stops where it was committed.
        _ if error == errors::PERSISTENCE => false,
        n if n == error => true,
        errors::ALL => error != errors::RUNTIME && error != errors::DATA_LIMIT_EXCEEDED,
        errors::TASK_FAILED => {
            error != errors::RUNTIME && error != errors::TIMEOUT && error != errors::DATA_LIMIT_EXCEEDED
        }
        _ => false,
    })
}

/// Fields every state type accepts.
const COMMON: &[&str] = &["Type", "Comment"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath"];
const ERRORS: &[&str] = &["Retry", "Catch"];

fn allowed_fields(kind: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&str> = COMMON.to_vec();
    match kind {
        "Pass" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["Parameters", "ResultPath", "Result"]);
        }
        "Task" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend(ERRORS);
            v.extend([
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ]);
        }
        "Choice" => {
            v.extend(IO);
            v.extend(["Choices", "Default"]);
        }
        "Wait" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]);
        }
        "Succeed" => v.extend(IO),
        "Fail" => v.extend(["Error", "Cause", "ErrorPath", "CausePath"]),
        "Parallel" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend(ERRORS);
            v.push("Branches");
        }
        "Map" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend(ERRORS);
            v.extend([
                "ItemsPath",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "Label",
                "ToleratedFailurePercentage",
                "ToleratedFailureCount",
            ]);
        }
        _ => return None,
    }
    Some(v)
}

impl Definition {
    /// Parses and validates a definition.
    pub fn parse(json: &str) -> Result<Definition, AslError> {
        let value: Value = serde_json::from_str(json).map_err(|e| AslError::Json(e.to_string()))?;
        let obj = value.as_object().ok_or_else(|| AslError::Json("the top level must be an object".to_string()))?;
        let machine_err = |message: String| AslError::Machine { scope: String::new(), message };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "StartAt" | "States" | "Comment" | "TimeoutSeconds" | "Version" | "QueryLanguage"
            ) {
                return Err(machine_err(format!("unknown top-level field `{key}`")));
            }
        }
        if let Some(lang) = obj.get("QueryLanguage") {
            if lang != "JSONPath" {
                return Err(machine_err(format!("QueryLanguage {lang} is not supported (only JSONPath)")));
            }
        }
        let timeout_seconds = match obj.get("TimeoutSeconds") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| machine_err("TimeoutSeconds must be a positive integer".into()))?,
            ),
        };
        let comment = obj.get("Comment").and_then(Value::as_str).map(str::to_string);
        let machine = parse_machine(obj, "")?;
        Ok(Definition { machine: Arc::new(machine), timeout_seconds, comment })
    }

    /// Replaces every `${Name}` placeholder with its value (as SAM's
    /// `DefinitionSubstitutions` does for the deployed machine), then parses.
    ///
    /// A placeholder without a value is an error rather than left in place, because a
    /// literal `${...}` in a Resource would only fail much later, at invocation.
    pub fn parse_with_substitutions(
        json: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Definition, AslError> {
        let mut out = String::with_capacity(json.len());
        let mut rest = json;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end =
                after.find('}').ok_or_else(|| AslError::UnresolvedSubstitution(after.chars().take(40).collect()))?;
            let name = &after[..end];
            let value = substitutions.get(name).ok_or_else(|| AslError::UnresolvedSubstitution(name.to_string()))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Self::parse(&out)
    }

    /// The definition's `Comment`, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The machine-wide `TimeoutSeconds`, if any.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.machine.start_at
    }

    /// The names of the top-level states, sorted (nested branch states excluded).
    pub fn state_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.machine.states.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn parse_machine(obj: &Map<String, Value>, scope: &str) -> Result<Machine, AslError> {
    let machine_err = |message: String| AslError::Machine { scope: scope.to_string(), message };
    let start_at = match obj.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(machine_err("StartAt must be a string".into())),
        None => return Err(machine_err("StartAt is missing".into())),
    };
    let states_obj = match obj.get("States") {
        Some(Value::Object(m)) if !m.is_empty() => m,
        Some(Value::Object(_)) => return Err(machine_err("States is empty".into())),
        Some(_) => return Err(machine_err("States must be an object".into())),
        None => return Err(machine_err("States is missing".into())),
    };
    let mut states = HashMap::with_capacity(states_obj.len());
    for (name, body) in states_obj {
        let state = parse_state(name, body, scope)?;
        states.insert(name.clone(), state);
    }
    if !states.contains_key(&start_at) {
        return Err(machine_err(format!("StartAt `{start_at}` is not a state")));
    }
    // Every target must exist, and every state must be reachable from StartAt.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = VecDeque::from([start_at.as_str()]);
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        let Some(state) = states.get(name) else {
            continue;
        };
        for (what, target) in targets(state) {
            if !states.contains_key(target) {
                return Err(AslError::State {
                    state: name.to_string(),
                    scope: scope.to_string(),
                    message: format!("{what} `{target}` is not a state"),
                });
            }
            queue.push_back(target);
        }
    }
    let mut unreachable: Vec<&str> = states.keys().map(String::as_str).filter(|n| !seen.contains(n)).collect();
    unreachable.sort_unstable();
    if let Some(first) = unreachable.first() {
        return Err(AslError::State {
            state: first.to_string(),
            scope: scope.to_string(),
            message: "the state cannot be reached from StartAt".into(),
        });
    }
    Ok(Machine { start_at, states })
}

/// Every transition out of a state, with the field that names it.
fn targets(state: &State) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(n) = &state.next {
        out.push(("Next", n.as_str()));
    }
    if let StateKind::Choice { rules, default } = &state.kind {
        out.extend(rules.iter().map(|r| ("Choice rule Next", r.next.as_str())));
        if let Some(d) = default {
            out.push(("Default", d.as_str()));
        }
    }
    out.extend(state.catch.iter().map(|c| ("Catch Next", c.next.as_str())));
    out
}

/// One state's JSON object together with the names its errors carry.
///
/// The per-type parsers below share these field readers, so every error names the
/// state and its scope the same way no matter which part of the state it is about.
struct StateObj<'a> {
    name: &'a str,
    scope: &'a str,
    obj: &'a Map<String, Value>,
}

impl StateObj<'_> {
    /// An error about this state.
    fn err(&self, message: String) -> AslError {
        AslError::State { state: self.name.to_string(), scope: self.scope.to_string(), message }
    }

    fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
    }

    /// Rejects a state that writes both of two fields that exclude each other.
    fn exclusive(&self, a: &str, b: &str) -> Result<(), AslError> {
        if self.has(a) && self.has(b) {
            return Err(self.err(format!("{a} and {b} are exclusive")));
        }
        Ok(())
    }

    /// An optional string field.
    fn string_field(&self, field: &str) -> Result<Option<String>, AslError> {
        match self.obj.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(format!("{field} must be a string"))),
        }
    }

    /// A path-valued field (InputPath, OutputPath, ItemsPath, or ResultPath when
    /// `reference` is set), keeping the absent / `null` / path distinction.
    fn path_field(&self, field: &str, reference: bool) -> Result<PathField, AslError> {
        match self.obj.get(field) {
            None => Ok(PathField::Default),
            Some(Value::Null) => Ok(PathField::Null),
            Some(Value::String(s)) => {
                let parsed = if reference { Path::parse_reference(s) } else { Path::parse(s) };
                parsed.map(PathField::Path).map_err(|e| self.err(format!("{field}: {e}")))
            }
            Some(_) => Err(self.err(format!("{field} must be a path string or null"))),
        }
    }

    /// A payload template; only `Parameters` may be something other than an object.
    fn template_field(&self, field: &str) -> Result<Option<Template>, AslError> {
        self.obj
            .get(field)
            .map(|v| {
                if !v.is_object() && field != "Parameters" {
                    return Err(self.err(format!("{field} must be an object")));
                }
                Template::compile(v).map_err(|e| self.err(format!("{field}: {e}")))
            })
            .transpose()
    }

    /// `field` as a positive integer, or else `{field}Path` as a path.
    fn seconds_field(&self, field: &str) -> Result<Option<NumberOrPath>, AslError> {
        if let Some(v) = self.obj.get(field) {
            let n =
                v.as_u64().filter(|n| *n > 0).ok_or_else(|| self.err(format!("{field} must be a positive integer")))?;
            return Ok(Some(NumberOrPath::Seconds(n as f64)));
        }
        match self.obj.get(&format!("{field}Path")) {
            None => Ok(None),
            Some(Value::String(s)) => {
                Path::parse(s).map(|p| Some(NumberOrPath::Path(p))).map_err(|e| self.err(format!("{field}Path: {e}")))
            }
            Some(_) => Err(self.err(format!("{field}Path must be a path string"))),
        }
    }
}

/// Parses one state: the checks every type shares, then its type's own fields, then
/// its error handling and input/output processing — in that order, which decides
/// which error a document with several mistakes reports.
fn parse_state(name: &str, body: &Value, scope: &str) -> Result<State, AslError> {
    let (s, kind_name) = state_header(name, body, scope)?;
    let next = parse_flow(&s, kind_name)?;
    let kind = parse_kind(&s, kind_name)?;
    let retry = parse_retry(&s)?;
    let catch = parse_catch(&s)?;
    let is_map = matches!(kind, StateKind::Map { .. });
    Ok(State {
        name: name.to_string(),
        input_path: s.path_field("InputPath", false)?,
        output_path: s.path_field("OutputPath", false)?,
        parameters: if is_map { None } else { s.template_field("Parameters")? },
        result_selector: s.template_field("ResultSelector")?,
        result_path: s.path_field("ResultPath", true)?,
        next,
        retry,
        catch,
        kind,
    })
}

/// Checks the name, that the state is an object with a known Type, and that it has
/// only the fields that Type allows; returns the object and its Type.
fn state_header<'a>(name: &'a str, body: &'a Value, scope: &'a str) -> Result<(StateObj<'a>, &'a str), AslError> {
    let err = |message: String| AslError::State { state: name.to_string(), scope: scope.to_string(), message };
    if name.is_empty() || name.chars().count() > 80 {
        return Err(err("a state name must have 1 to 80 characters".into()));
    }
    let obj = body.as_object().ok_or_else(|| err("the state must be an object".into()))?;
    let kind_name = match obj.get("Type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(err("Type must be a string".into())),
        None => return Err(err("Type is missing".into())),
    };
    let allowed = allowed_fields(kind_name).ok_or_else(|| err(format!("unknown Type `{kind_name}`")))?;
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(err(format!("field `{key}` is not allowed in a {kind_name} state")));
        }
    }
    Ok((StateObj { name, scope, obj }, kind_name))
}

/// Next / End: a non-terminal state needs exactly one of them. Returns the next
/// state's name, `None` when the state ends its machine.
fn parse_flow(s: &StateObj<'_>, kind_name: &str) -> Result<Option<String>, AslError> {
    let terminal = matches!(kind_name, "Choice" | "Succeed" | "Fail");
    let next = s.string_field("Next")?;
    let end = match s.obj.get("End") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(s.err("End must be a boolean".into())),
    };
    if !terminal {
        match (&next, end) {
            (Some(_), true) => return Err(s.err("a state cannot have both Next and End".into())),
            (None, false) => return Err(s.err("the state has neither Next nor End: true".into())),
            _ => {}
        }
    }
    Ok(if end { None } else { next })
}

/// The fields specific to the state's Type.
fn parse_kind(s: &StateObj<'_>, kind_name: &str) -> Result<StateKind, AslError> {
    match kind_name {
        "Pass" => Ok(StateKind::Pass { result: s.obj.get("Result").cloned() }),
        "Task" => parse_task(s),
        "Choice" => parse_choice_state(s),
        "Wait" => parse_wait(s).map(StateKind::Wait),
        "Succeed" => Ok(StateKind::Succeed),
        "Fail" => parse_fail(s),
        "Parallel" => parse_parallel(s),
        "Map" => parse_map(s),
        other => Err(s.err(format!("unknown Type `{other}`"))),
    }
}

/// Task: a Resource, and timeouts given literally or by path, the heartbeat shorter
/// than the timeout when both are literal.
fn parse_task(s: &StateObj<'_>) -> Result<StateKind, AslError> {
    let resource =
        s.string_field("Resource")?.filter(|r| !r.is_empty()).ok_or_else(|| s.err("a Task needs a Resource".into()))?;
    s.exclusive("TimeoutSeconds", "TimeoutSecondsPath")?;
    s.exclusive("HeartbeatSeconds", "HeartbeatSecondsPath")?;
    let timeout = s.seconds_field("TimeoutSeconds")?;
    let heartbeat = s.seconds_field("HeartbeatSeconds")?;
    if let (Some(NumberOrPath::Seconds(t)), Some(NumberOrPath::Seconds(h))) = (&timeout, &heartbeat) {
        if h >= t {
            return Err(s.err("HeartbeatSeconds must be smaller than TimeoutSeconds".into()));
        }
    }
    Ok(StateKind::Task { resource, timeout, heartbeat })
}

/// Choice: a non-empty list of rules (each error names its index) and an optional
/// Default.
fn parse_choice_state(s: &StateObj<'_>) -> Result<StateKind, AslError> {
    let rules = match s.obj.get("Choices") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, r)| choice::parse_rule(r).map_err(|e| s.err(format!("Choices[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(s.err("Choices must be a non-empty array".into())),
        None => return Err(s.err("a Choice state needs Choices".into())),
    };
    Ok(StateKind::Choice { rules, default: s.string_field("Default")? })
}

/// Wait: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath.
fn parse_wait(s: &StateObj<'_>) -> Result<WaitFor, AslError> {
    let given: Vec<&str> =
        ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"].into_iter().filter(|f| s.has(f)).collect();
    if given.len() != 1 {
        return Err(s.err("a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath".into()));
    }
    let field = given[0];
    let v = &s.obj[field];
    let as_path = || {
        v.as_str()
            .ok_or_else(|| s.err(format!("{field} must be a path string")))
            .and_then(|text| Path::parse(text).map_err(|e| s.err(format!("{field}: {e}"))))
    };
    Ok(match field {
        "Seconds" => {
            WaitFor::Seconds(v.as_u64().ok_or_else(|| s.err("Seconds must be a non-negative integer".into()))? as f64)
        }
        "SecondsPath" => WaitFor::SecondsPath(as_path()?),
        "Timestamp" => WaitFor::Timestamp(
            v.as_str()
                .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
                .ok_or_else(|| s.err("Timestamp must be an RFC 3339 timestamp".into()))?,
        ),
        _ => WaitFor::TimestampPath(as_path()?),
    })
}

/// Fail: Error and Cause, each given literally or by path.
fn parse_fail(s: &StateObj<'_>) -> Result<StateKind, AslError> {
    let opt_path = |field: &str| -> Result<Option<Path>, AslError> {
        s.string_field(field)?.map(|p| Path::parse(&p).map_err(|e| s.err(format!("{field}: {e}")))).transpose()
    };
    s.exclusive("Error", "ErrorPath")?;
    s.exclusive("Cause", "CausePath")?;
    Ok(StateKind::Fail {
        error: s.string_field("Error")?,
        cause: s.string_field("Cause")?,
        error_path: opt_path("ErrorPath")?,
        cause_path: opt_path("CausePath")?,
    })
}

/// Parallel: a non-empty array of branches, each a whole machine parsed in its own
/// scope so that its errors say which branch they are in.
fn parse_parallel(s: &StateObj<'_>) -> Result<StateKind, AslError> {
    let branches = match s.obj.get("Branches") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(s.err("a Parallel state needs a non-empty Branches array".into())),
    };
    let mut out = Vec::with_capacity(branches.len());
    for (i, b) in branches.iter().enumerate() {
        let b = b.as_object().ok_or_else(|| s.err(format!("Branches[{i}] must be an object")))?;
        let inner_scope = format!("{} (Parallel `{}` branch {i})", s.scope, s.name);
        out.push(Arc::new(parse_machine(b, &inner_scope)?));
    }
    Ok(StateKind::Parallel { branches: out })
}

/// Map: the (inline) item processor, the item selector (ItemSelector or its older
/// name Parameters), ItemsPath and MaxConcurrency.
fn parse_map(s: &StateObj<'_>) -> Result<StateKind, AslError> {
    let processor = parse_map_processor(s)?;
    if s.has("ItemSelector") && s.has("Parameters") {
        return Err(s.err("ItemSelector and Parameters are exclusive in a Map state".into()));
    }
    let item_selector = match s.template_field("ItemSelector")? {
        Some(t) => Some(t),
        None => s.template_field("Parameters")?,
    };
    let max_concurrency = match s.obj.get("MaxConcurrency") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| s.err("MaxConcurrency must be a non-negative integer".into()))?,
    };
    Ok(StateKind::Map { processor, items_path: s.path_field("ItemsPath", false)?, item_selector, max_concurrency })
}

/// A Map's ItemProcessor (or the older Iterator): only the INLINE mode runs here, and
/// the ProcessorConfig is dropped before the rest is parsed as a machine.
fn parse_map_processor(s: &StateObj<'_>) -> Result<Arc<Machine>, AslError> {
    let processor = match (s.obj.get("ItemProcessor"), s.obj.get("Iterator")) {
        (Some(_), Some(_)) => return Err(s.err("ItemProcessor and Iterator are exclusive".into())),
        (Some(Value::Object(p)), None) | (None, Some(Value::Object(p))) => p,
        _ => return Err(s.err("a Map state needs an ItemProcessor (or Iterator) object".into())),
    };
    if let Some(config) = processor.get("ProcessorConfig") {
        let mode = config.get("Mode").and_then(Value::as_str).unwrap_or("INLINE");
        if mode != "INLINE" {
            return Err(s.err(format!("ProcessorConfig Mode {mode} is not supported (only INLINE)")));
        }
    }
    let mut processor = processor.clone();
    processor.remove("ProcessorConfig");
    let inner_scope = format!("{} (Map `{}` processor)", s.scope, s.name);
    Ok(Arc::new(parse_machine(&processor, &inner_scope)?))
}

/// Retry: an array of retriers, `States.ALL` only alone in the last one.
fn parse_retry(s: &StateObj<'_>) -> Result<Vec<Retrier>, AslError> {
    let retry = match s.obj.get("Retry") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, r)| parse_retrier(r).map_err(|e| s.err(format!("Retry[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(s.err("Retry must be an array".into())),
    };
    check_all_last(retry.iter().map(|r| &r.error_equals)).map_err(|e| s.err(format!("Retry: {e}")))?;
    Ok(retry)
}

/// Catch: an array of catchers, `States.ALL` only alone in the last one.
fn parse_catch(s: &StateObj<'_>) -> Result<Vec<Catcher>, AslError> {
    let catch = match s.obj.get("Catch") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, c)| parse_catcher(c).map_err(|e| s.err(format!("Catch[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(s.err("Catch must be an array".into())),
    };
    check_all_last(catch.iter().map(|c| &c.error_equals)).map_err(|e| s.err(format!("Catch: {e}")))?;
    Ok(catch)
}

/// `States.ALL` must be alone in its ErrorEquals and in the last entry.
fn check_all_last<'a>(lists: impl ExactSizeIterator<Item = &'a Vec<String>>) -> Result<(), String> {
    let n = lists.len();
    for (i, list) in lists.enumerate() {
        if list.iter().any(|e| e == errors::ALL) && (list.len() != 1 || i + 1 != n) {
            return Err("States.ALL must appear alone, in the last entry".into());
        }
    }
    Ok(())
}

fn error_equals(obj: &Map<String, Value>) -> Result<Vec<String>, String> {
    match obj.get("ErrorEquals") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|e| e.as_str().map(str::to_string).ok_or_else(|| "ErrorEquals must hold strings".to_string()))
            .collect(),
        Some(_) => Err("ErrorEquals must be a non-empty array of strings".into()),
        None => Err("ErrorEquals is missing".into()),
    }
}

fn parse_retrier(v: &Value) -> Result<Retrier, String> {
    let obj = v.as_object().ok_or("a retrier must be an object")?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "ErrorEquals"
                | "IntervalSeconds"
                | "MaxAttempts"
                | "BackoffRate"
                | "MaxDelaySeconds"
                | "JitterStrategy"
                | "Comment"
        ) {
            return Err(format!("unknown field `{key}`"));
        }
    }
    let interval_seconds = match obj.get("IntervalSeconds") {
        None => 1.0,
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or("IntervalSeconds must be a positive integer")? as f64,
    };
    let max_attempts = match obj.get("MaxAttempts") {
        None => 3,
        Some(v) => {
            v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("MaxAttempts must be a non-negative integer")?
        }
    };
    let backoff_rate = match obj.get("BackoffRate") {
        None => 2.0,
        Some(v) => v.as_f64().filter(|r| *r >= 1.0).ok_or("BackoffRate must be a number >= 1.0")?,
    };
    let max_delay_seconds = match obj.get("MaxDelaySeconds") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or("MaxDelaySeconds must be a positive integer")? as f64),
    };
    if let Some(j) = obj.get("JitterStrategy") {
        if !matches!(j.as_str(), Some("FULL" | "NONE")) {
            return Err("JitterStrategy must be FULL or NONE".into());
        }
    }
    Ok(Retrier { error_equals: error_equals(obj)?, interval_seconds, max_attempts, backoff_rate, max_delay_seconds })
}

fn parse_catcher(v: &Value) -> Result<Catcher, String> {
    let obj = v.as_object().ok_or("a catcher must be an object")?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "ErrorEquals" | "Next" | "ResultPath" | "Comment") {
            return Err(format!("unknown field `{key}`"));
        }
    }
    let next = match obj.get("Next") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("Next must be a state name".into()),
    };
    let result_path = match obj.get("ResultPath") {
        None => PathField::Default,
        Some(Value::Null) => PathField::Null,
        Some(Value::String(s)) => PathField::Path(Path::parse_reference(s)?),
        Some(_) => return Err("ResultPath must be a path string or null".into()),
    };
    Ok(Catcher { error_equals: error_equals(obj)?, next, result_path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(json: &str) -> AslError {
        match Definition::parse(json) {
            Ok(_) => panic!("definition should have been rejected: {json}"),
            Err(e) => e,
        }
    }

    fn state_of(e: &AslError) -> Option<&str> {
        match e {
            AslError::State { state, .. } => Some(state),
            _ => None,
        }
    }

    #[test]
    fn accepts_a_well_formed_definition() {
        let d = Definition::parse(
            r#"{"Comment": "c", "StartAt": "A", "TimeoutSeconds": 60, "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "C"}], "Default": "D"},
                "C": {"Type": "Succeed"},
                "D": {"Type": "Fail", "Error": "E"}
            }}"#,
        )
        .unwrap();
        assert_eq!(d.start_at(), "A");
        assert_eq!(d.timeout_seconds(), Some(60));
        assert_eq!(d.comment(), Some("c"));
        assert_eq!(d.state_names(), vec!["A", "B", "C", "D"]);
    }

    #[test]
    fn malformed_definitions_name_the_state() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"StartAt":"A","States":{"A":{"Next":"A"}}}"#, "A", "Type is missing"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Bogus","End":true}}}"#, "A", "unknown Type"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}"#, "A", "`Nowhere` is not a state"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Default":"A"}}}"#, "A", "needs Choices"),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"B"}],"Default":"Z"},"B":{"Type":"Succeed"}}}"#,
                "A",
                "Default `Z`",
            ),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}"#, "A", "needs a Resource"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#, "A", "neither Next nor End"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A","End":true}}}"#, "A", "both Next and End"),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}"#,
                "A",
                "BackoffRate",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":[]}]}}}"#,
                "A",
                "ErrorEquals",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["States.ALL"]}]}}}"#,
                "A",
                "Next must be",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Gone"}]}}}"#,
                "A",
                "Catch Next `Gone`",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}"#,
                "A",
                "States.ALL",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Succeed"}}}"#,
                "B",
                "cannot be reached",
            ),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Resource":"x"}}}"#, "A", "not allowed"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Parameters":{"a.$":"nope"}}}}"#, "A", "`a.$`"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"ResultPath":"$.a[*]"}}}"#, "A", "ResultPath"),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Wait","End":true}}}"#, "A", "exactly one of"),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass"}}}]}}}"#,
                "X",
                "neither Next nor End",
            ),
            (r#"{"StartAt":"A","States":{"A":{"Type":"Map","End":true}}}"#, "A", "ItemProcessor"),
        ];
        for (json, state, fragment) in cases {
            let e = parse_err(json);
            assert_eq!(state_of(&e), Some(*state), "{json} -> {e}");
            let text = e.to_string();
            assert!(text.contains(fragment), "{json}: `{text}` lacks `{fragment}`");
            assert!(text.contains(&format!("`{state}`")), "{text}");
        }
    }

    #[test]
    fn machine_level_errors() {
        assert!(matches!(parse_err("not json"), AslError::Json(_)));
        assert!(matches!(parse_err("[]"), AslError::Json(_)));
        let e = parse_err(r#"{"StartAt":"Z","States":{"A":{"Type":"Succeed"}}}"#);
        assert!(e.to_string().contains("StartAt `Z`"), "{e}");
        assert!(matches!(parse_err(r#"{"States":{"A":{"Type":"Succeed"}}}"#), AslError::Machine { .. }));
        let e = parse_err(
            r#"{"StartAt":"A","States":{"A":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"Q","States":{"X":{"Type":"Succeed"}}}]}}}"#,
        );
        assert!(e.to_string().contains("Parallel `A` branch 0"), "{e}");
    }

    #[test]
    fn substitutions_replace_placeholders_and_reject_unknown_ones() {
        let json = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${StageFn}","End":true}}}"#;
        let mut subs = HashMap::new();
        assert_eq!(
            Definition::parse_with_substitutions(json, &subs).unwrap_err(),
            AslError::UnresolvedSubstitution("StageFn".into())
        );
        subs.insert("StageFn".to_string(), "arn:aws:lambda:us-east-1:1:function:stage".to_string());
        let d = Definition::parse_with_substitutions(json, &subs).unwrap();
        match &d.machine.states["A"].kind {
            StateKind::Task { resource, .. } => {
                assert_eq!(resource, "arn:aws:lambda:us-east-1:1:function:stage")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_matching_wildcards() {
        let all = vec!["States.ALL".to_string()];
        let tf = vec!["States.TaskFailed".to_string()];
        assert!(error_matches(&all, "Boom"));
        assert!(error_matches(&all, "States.Timeout"));
        assert!(!error_matches(&all, "States.Runtime"));
        assert!(error_matches(&tf, "Boom"));
        assert!(!error_matches(&tf, "States.Timeout"));
        assert!(error_matches(&["States.Timeout".to_string()], "States.Timeout"));
    }
}
