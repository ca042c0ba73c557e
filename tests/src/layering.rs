//! The layering rules of docs/architecture.md, checked on the workspace's manifests
//! (through `cargo metadata`) and on the paths its Rust files name.
//!
//! The compiler already refuses a path to a crate that a manifest does not list, so the
//! manifest rules say which crate may list which; the path rules say which module of a
//! crate may name which other module (the domain names no port, repositories name no
//! service), which the compiler cannot see inside one crate.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One broken rule, as a person fixes it: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The crate or file.
    pub place: String,
    /// What it depends on or names that it must not.
    pub what: String,
}

/// The workspace crates each crate may depend on (normal dependencies); a crate not
/// listed may depend on no workspace crate at all.
const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    // The providers judge a model's article by the content validator's rules.
    ("igny8-ai", &["igny8-seo"]),
    ("igny8-asl", &[]),
    // The text rules of optimization and linking: plain functions, nothing of ours.
    ("igny8-seo", &[]),
    ("igny8-embed", &["igny8-ai"]),
    ("igny8-core", &["igny8-ai", "igny8-seo"]),
    ("igny8-aws", &["igny8-core"]),
    ("igny8-embedded", &["igny8-core", "igny8-asl"]),
    ("igny8-api", &["igny8-core", "igny8-ai"]),
    // The invoice PDF renderer: an adapter the wiring plugs in; it takes plain data.
    ("igny8-pdf", &["igny8-core"]),
    // The WordPress and Shopify clients: adapters of the PublishingPlatform port.
    ("igny8-platforms", &["igny8-core"]),
    (
        "igny8-wiring",
        &[
            "igny8-core",
            "igny8-ai",
            "igny8-aws",
            "igny8-embedded",
            "igny8-asl",
            "igny8-pdf",
            "igny8-platforms",
            "igny8-embed",
        ],
    ),
    ("igny8-cli", &["igny8-core", "igny8-ai", "igny8-api", "igny8-wiring", "igny8-embed"]),
    ("igny8-lambda", &["igny8-core", "igny8-wiring"]),
    (
        "igny8-tests",
        &[
            "igny8-core",
            "igny8-ai",
            "igny8-seo",
            "igny8-embed",
            "igny8-asl",
            "igny8-aws",
            "igny8-embedded",
            "igny8-api",
            "igny8-wiring",
            "igny8-pdf",
            "igny8-platforms",
        ],
    ),
];

/// What a Lambda function crate may depend on: the shared edge, the services, the API
/// (for the api function) and the wiring with its AWS family alone.
const FUNCTION_DEPENDENCIES: &[&str] = &["igny8-core", "igny8-lambda", "igny8-api", "igny8-wiring"];

/// Wiring features a Lambda may turn on: never the embedded family (`documents` is the
/// invoice PDF renderer, for the functions that finalize invoices; `integrations` the
/// WordPress and Shopify clients, for the api, the scheduler and stage-publish).
const FUNCTION_WIRING_FEATURES: &[&str] = &["aws", "documents", "integrations"];

/// Crates no Lambda may link, directly or through another crate (checked with `cargo tree`).
pub const NEVER_IN_A_LAMBDA: &[&str] =
    &["igny8-embedded", "igny8-asl", "rusqlite", "libsqlite3-sys", "igny8-embed", "candle-core", "tokenizers"];

/// Checks the workspace's manifests, given `cargo metadata --format-version 1 --no-deps`.
pub fn check_manifests(metadata: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let packages = metadata.get("packages").and_then(Value::as_array).cloned().unwrap_or_default();
    for package in &packages {
        let name = package.get("name").and_then(Value::as_str).unwrap_or_default();
        let manifest = package.get("manifest_path").and_then(Value::as_str).unwrap_or_default();
        let is_function = Path::new(manifest).parent().and_then(Path::parent).is_some_and(|p| p.ends_with("functions"))
            && name != "igny8-lambda";
        let allowed: &[&str] = if is_function {
            FUNCTION_DEPENDENCIES
        } else {
            ALLOWED_DEPENDENCIES.iter().find(|(crate_name, _)| *crate_name == name).map_or(&[], |(_, deps)| *deps)
        };
        let dependencies = package.get("dependencies").and_then(Value::as_array).cloned().unwrap_or_default();
        for dependency in &dependencies {
            let dep = dependency.get("name").and_then(Value::as_str).unwrap_or_default();
            let kind = dependency.get("kind").and_then(Value::as_str);
            if kind.is_some() || !dep.starts_with("igny8-") {
                continue; // dev and build dependencies do not reach the binary
            }
            if !allowed.contains(&dep) {
                out.push(Violation { place: name.to_owned(), what: format!("depends on {dep}") });
            }
            let lambda_side = is_function || name == "igny8-lambda";
            if lambda_side && dep == "igny8-wiring" {
                let features = dependency.get("features").and_then(Value::as_array).cloned().unwrap_or_default();
                let default_on = dependency.get("uses_default_features").and_then(Value::as_bool).unwrap_or(true);
                for feature in features.iter().filter_map(Value::as_str) {
                    if !FUNCTION_WIRING_FEATURES.contains(&feature) {
                        out.push(Violation {
                            place: name.to_owned(),
                            what: format!("turns on igny8-wiring's {feature} feature"),
                        });
                    }
                }
                if default_on && wiring_has_default_features(&packages) {
                    out.push(Violation {
                        place: name.to_owned(),
                        what: "takes igny8-wiring's default features".to_owned(),
                    });
                }
            }
        }
    }
    out
}

fn wiring_has_default_features(packages: &[Value]) -> bool {
    packages
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some("igny8-wiring"))
        .and_then(|p| p.pointer("/features/default"))
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
}

/// A rule on the paths a group of files may name: the first path segment (`crate::x`
/// counts as `crate::x`, any other as its crate) must not be one of `forbidden`.
struct PathRule {
    /// Files under this folder, relative to the workspace root.
    folder: &'static str,
    /// What their code must not name.
    forbidden: &'static [&'static str],
    /// Why, for the report.
    reason: &'static str,
}

const ADAPTERS: &[&str] = &[
    "igny8_aws",
    "igny8_embedded",
    "igny8_asl",
    "igny8_wiring",
    "igny8_api",
    "igny8_pdf",
    "igny8_platforms",
    "rusqlite",
    "aws_sdk_dynamodb",
    "aws_sdk_s3",
    "aws_sdk_sqs",
    "aws_sdk_sfn",
    "aws_sdk_kms",
    "aws_config",
];

const PATH_RULES: &[PathRule] = &[
    PathRule {
        folder: "shared/core/src/domain",
        forbidden: &[
            "crate::ports",
            "crate::repo",
            "crate::billing",
            "crate::automation",
            "crate::planner",
            "crate::accounts",
            "crate::services",
            "igny8_ai",
            "tokio",
            "async_trait",
            "igny8_aws",
            "igny8_embedded",
            "igny8_asl",
            "igny8_wiring",
            "igny8_api",
            "rusqlite",
        ],
        reason: "the domain is plain data: std, serde, time, uuid (and utoipa's derive)",
    },
    PathRule {
        folder: "shared/core/src/ports",
        forbidden: &[
            "crate::repo",
            "crate::billing",
            "crate::automation",
            "crate::planner",
            "crate::accounts",
            "crate::services",
        ],
        reason: "ports name the domain only",
    },
    PathRule {
        folder: "shared/core/src/repo",
        forbidden: &["crate::billing", "crate::automation", "crate::planner", "crate::accounts", "crate::services"],
        reason: "repositories know the table, not the rules",
    },
    PathRule { folder: "shared/core/src", forbidden: ADAPTERS, reason: "services never name an adapter" },
    PathRule {
        folder: "shared/ai/src",
        forbidden: &["igny8_core", "igny8_aws", "igny8_embedded", "igny8_asl", "igny8_wiring", "igny8_api"],
        reason: "the AI providers need nothing of ours",
    },
    PathRule {
        folder: "shared/asl/src",
        forbidden: &["igny8_core", "igny8_ai", "igny8_aws", "igny8_embedded", "igny8_wiring", "igny8_api"],
        reason: "the ASL interpreter needs nothing of ours",
    },
    PathRule {
        folder: "shared/pdf/src",
        forbidden: &["igny8_ai", "igny8_aws", "igny8_embedded", "igny8_asl", "igny8_wiring", "igny8_api", "rusqlite"],
        reason: "the PDF renderer needs nothing of ours but the core",
    },
    PathRule {
        folder: "shared/platforms/src",
        forbidden: &["igny8_ai", "igny8_aws", "igny8_embedded", "igny8_asl", "igny8_wiring", "igny8_api", "rusqlite"],
        reason: "the platform clients need nothing of ours but the core",
    },
    PathRule {
        folder: "shared/aws/src",
        forbidden: &["igny8_embedded", "igny8_asl", "igny8_wiring", "igny8_api", "rusqlite"],
        reason: "the AWS adapters never reach the embedded ones",
    },
    PathRule {
        folder: "shared/embedded/src",
        forbidden: &[
            "igny8_aws",
            "igny8_wiring",
            "igny8_api",
            "aws_sdk_dynamodb",
            "aws_sdk_s3",
            "aws_sdk_sqs",
            "aws_sdk_sfn",
            "aws_sdk_kms",
            "aws_config",
        ],
        reason: "the embedded adapters never reach the AWS ones",
    },
    PathRule {
        folder: "shared/api/src",
        forbidden: &["igny8_aws", "igny8_embedded", "igny8_asl", "igny8_wiring", "rusqlite"],
        reason: "the API runs on services, whatever family wires them",
    },
    PathRule {
        folder: "functions",
        forbidden: &["igny8_embedded", "igny8_asl", "rusqlite"],
        reason: "a Lambda never links the embedded adapters or the interpreter",
    },
];

/// Checks the paths named by one file's code (comments and `#[cfg(test)]` modules
/// included: tests of a layer obey its rules too).
pub fn check_source(relative: &str, text: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in PATH_RULES.iter().filter(|r| relative.starts_with(r.folder)) {
        if rule.folder == "functions" && relative.contains("/tests/") {
            continue; // a function's tests may run its handler on the embedded family
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for path in named_paths(code) {
                if rule.forbidden.contains(&path.as_str()) {
                    out.push(Violation {
                        place: format!("{relative}:{}", number + 1),
                        what: format!("names {path} ({})", rule.reason),
                    });
                }
            }
        }
    }
    out
}

/// The roots of the paths a line of code names: `crate::x` for paths into the own
/// crate, the crate's name for any other.
fn named_paths(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        if starts_word && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            let word_end =
                code[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(code.len(), |n| i + n);
            let word = &code[i..word_end];
            if code[word_end..].starts_with("::") {
                if word == "crate" {
                    let rest = &code[word_end + 2..];
                    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                    out.push(format!("crate::{}", &rest[..end]));
                } else {
                    out.push(word.to_owned());
                }
            }
            i = word_end;
        } else {
            i += 1;
        }
    }
    out
}

/// Every Rust file under the folders the path rules cover, relative to `root`.
pub fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = ["shared", "functions"].iter().map(|f| root.join(f)).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn package(name: &str, manifest: &str, deps: Value) -> Value {
        json!({"name": name, "manifest_path": manifest, "dependencies": deps, "features": {}})
    }

    #[test]
    fn a_lambda_depending_on_the_embedded_adapters_is_reported() {
        let metadata = json!({"packages": [
            package("stage-ideas", "/w/functions/stage-ideas/Cargo.toml", json!([
                {"name": "igny8-lambda", "kind": null, "features": [], "uses_default_features": true},
                {"name": "igny8-embedded", "kind": null, "features": [], "uses_default_features": true},
                {"name": "igny8-asl", "kind": "dev", "features": [], "uses_default_features": true}
            ])),
        ]});
        let found = check_manifests(&metadata);
        assert_eq!(found, [Violation { place: "stage-ideas".into(), what: "depends on igny8-embedded".into() }]);
    }

    #[test]
    fn a_lambda_turning_on_the_embedded_wiring_is_reported() {
        let metadata = json!({"packages": [
            package("igny8-lambda", "/w/functions/lambda/Cargo.toml", json!([
                {"name": "igny8-wiring", "kind": null, "features": ["aws", "embedded"], "uses_default_features": true}
            ])),
        ]});
        let found = check_manifests(&metadata);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("embedded"));
    }

    #[test]
    fn an_adapter_reaching_the_other_family_is_reported() {
        let metadata = json!({"packages": [
            package("igny8-aws", "/w/shared/aws/Cargo.toml", json!([
                {"name": "igny8-core", "kind": null, "features": [], "uses_default_features": true},
                {"name": "igny8-embedded", "kind": null, "features": [], "uses_default_features": true}
            ])),
            package("igny8-core", "/w/shared/core/Cargo.toml", json!([
                {"name": "igny8-wiring", "kind": null, "features": [], "uses_default_features": true}
            ])),
        ]});
        let places: Vec<String> =
            check_manifests(&metadata).into_iter().map(|v| format!("{} {}", v.place, v.what)).collect();
        assert_eq!(places, ["igny8-aws depends on igny8-embedded", "igny8-core depends on igny8-wiring"]);
    }

    #[test]
    fn the_pdf_renderer_stays_an_adapter() {
        let metadata = json!({"packages": [
            package("igny8-pdf", "/w/shared/pdf/Cargo.toml", json!([
                {"name": "igny8-core", "kind": null, "features": [], "uses_default_features": true},
                {"name": "igny8-aws", "kind": null, "features": [], "uses_default_features": true}
            ])),
            package("igny8-core", "/w/shared/core/Cargo.toml", json!([
                {"name": "igny8-pdf", "kind": null, "features": [], "uses_default_features": true}
            ])),
        ]});
        let places: Vec<String> =
            check_manifests(&metadata).into_iter().map(|v| format!("{} {}", v.place, v.what)).collect();
        assert_eq!(places, ["igny8-pdf depends on igny8-aws", "igny8-core depends on igny8-pdf"]);
        assert_eq!(check_source("shared/core/src/billing/invoice.rs", "use igny8_pdf::render_invoice;").len(), 1);
        assert_eq!(check_source("shared/pdf/src/lib.rs", "use igny8_embedded::SqliteStore;").len(), 1);
    }

    #[test]
    fn a_domain_file_naming_a_port_is_reported() {
        let text = "use serde::Serialize;\nuse crate::domain::ids::SiteId;\nuse crate::ports::IdGenerator;\n";
        let found = check_source("shared/core/src/domain/ids.rs", text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].place, "shared/core/src/domain/ids.rs:3");
        assert!(found[0].what.starts_with("names crate::ports"));
    }

    #[test]
    fn inline_paths_count_and_comments_do_not() {
        let text =
            "fn f() { let s = igny8_embedded::SqliteStore::open(p); }\n// igny8_embedded::SqliteStore in prose\n";
        let found = check_source("functions/stage-ideas/src/main.rs", text);
        assert_eq!(found.len(), 1);
        assert!(check_source("functions/lambda/tests/events.rs", text).is_empty());
        assert!(check_source("shared/embedded/src/sqlite.rs", text).is_empty());
    }

    #[test]
    fn a_repository_naming_a_service_is_reported() {
        let found = check_source("shared/core/src/repo/runs.rs", "use crate::billing::CreditService;");
        assert_eq!(found.len(), 1);
        assert!(check_source("shared/core/src/repo/runs.rs", "use crate::ports::ItemStore;").is_empty());
    }

    #[test]
    fn named_paths_finds_roots() {
        assert_eq!(named_paths("use std::fmt; x = a::b::c(crate::ports::X);"), ["std", "a", "crate::ports"]);
    }
}
