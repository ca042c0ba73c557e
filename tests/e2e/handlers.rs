//! The automation's functions by name. The handlers themselves are fed the JSON event
//! fixtures (tests/fixtures/events) through the Lambda edge's typed path, with the
//! `aws_lambda_events` types, in `functions/lambda/tests/events.rs`.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[test]
fn function_names_resolve_from_arns() {
    assert_eq!(
        Function::from_name("arn:aws:lambda:us-east-1:123456789012:function:igny8-stage-content"),
        Some(Function::Stage(Stage::Content))
    );
    assert_eq!(Function::from_name("image-worker"), Some(Function::ImageWorker));
    assert_eq!(Function::from_name("nope"), None);
}

#[test]
fn every_function_has_its_crate_and_every_crate_is_a_function() {
    let names: BTreeSet<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names.len(), Function::ALL.len(), "names are unique");
    let dir = format!("{}/../functions", env!("CARGO_MANIFEST_DIR"));
    let crates: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("src/main.rs").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        // The HTTP API's crate (functions/api) serves routes, not automation events.
        .filter(|name| Function::from_name(name).is_some() || !name.starts_with("api"))
        .collect();
    let names: BTreeSet<String> = names.into_iter().map(str::to_owned).collect();
    assert_eq!(crates, names);
}
