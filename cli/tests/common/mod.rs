//! What every CLI test does: run the built `igny8` on a data directory and read what it
//! printed.

// Each test crate uses its own part of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `igny8 --data-dir DIR ARGS…` on the embedded default (whatever the environment says).
pub fn igny8(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_igny8"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("IGNY8_BACKEND")
        .output()
        .expect("run igny8")
}

/// Standard output, trimmed.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Standard output as the JSON document `--json` promises.
pub fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}
