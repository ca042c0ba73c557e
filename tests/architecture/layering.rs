//! The layering rules hold on the real tree: manifests, the paths every file names, and
//! what `cargo tree` says each Lambda links. `cargo test -p igny8-tests --test layering`.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use igny8_tests::layering::{check_manifests, check_source, rust_files, NEVER_IN_A_LAMBDA};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo).args(args).current_dir(workspace_root()).output().expect("run cargo");
    assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn metadata() -> serde_json::Value {
    serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps", "--offline"]))
        .expect("metadata json")
}

#[test]
fn every_manifest_keeps_the_layers() {
    let found = check_manifests(&metadata());
    assert!(found.is_empty(), "layering broken in the manifests: {found:#?}");
}

#[test]
fn every_file_names_only_what_its_layer_may() {
    let root = workspace_root();
    let files = rust_files(&root);
    assert!(files.len() > 50, "found only {} files under {}", files.len(), root.display());
    let found: Vec<_> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(root.join(f)).expect("read source");
            check_source(&f.to_string_lossy(), &text)
        })
        .collect();
    assert!(found.is_empty(), "layering broken in the sources: {found:#?}");
}

#[test]
fn no_lambda_links_the_embedded_adapters_or_the_interpreter() {
    let metadata = metadata();
    let functions: Vec<String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["manifest_path"].as_str().is_some_and(|m| m.contains("/functions/")))
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    assert!(functions.len() >= 13, "expected every function crate, found {functions:?}");
    for function in &functions {
        let tree = cargo(&["tree", "--offline", "-e", "normal,build", "--prefix", "none", "-p", function]);
        assert!(tree.contains("igny8-core"), "{function}: cargo tree printed no igny8-core:\n{tree}");
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            assert!(!NEVER_IN_A_LAMBDA.contains(&name), "{function} links {name}:\n{tree}");
        }
    }
}
