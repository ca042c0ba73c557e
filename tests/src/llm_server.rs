//! A real OpenAI-compatible model server on 127.0.0.1 for the provider's real-server
//! test (issue 14): llama-cpp-python's server serving SmolLM2-135M-Instruct, installed
//! by `scripts/llm_server.sh install` (built once, cached, offline afterwards) and
//! started by `scripts/llm_server.sh start` in a temporary directory; stopped when the
//! [`LlmServer`] value is stopped or dropped.
//!
//! Stopping: [`LlmServer::stop`] stops it and reports failures; `Drop` stops it too, so
//! a test that panics leaves nothing behind. A test process that dies without
//! unwinding cannot run `Drop`: for that the script starts a watchdog that follows this
//! process's pid and stops the server within a second of its death.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// Why the model server could not be installed, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LlmServerError {
    /// The script could not be run at all.
    #[error("cannot run {script}: {source}")]
    Spawn {
        /// The script.
        script: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `scripts/llm_server.sh <step>` exited unsuccessfully.
    #[error("scripts/llm_server.sh {step} failed ({status}): {stderr}")]
    Script {
        /// The subcommand (install, start, stop).
        step: &'static str,
        /// The exit status.
        status: String,
        /// What the script said on stderr.
        stderr: String,
    },
    /// `start` printed something that is not the expected JSON object.
    #[error("scripts/llm_server.sh start printed an unexpected server description: {0}")]
    Output(String),
    /// The temporary directory for the server could not be made.
    #[error("cannot create the server directory: {0}")]
    TempDir(std::io::Error),
}

impl LlmServerError {
    /// A stable snake_case code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Spawn { .. } => "llm_script_not_runnable",
            Self::Script { .. } => "llm_script_failed",
            Self::Output(_) => "llm_bad_server_description",
            Self::TempDir(_) => "llm_temp_dir",
        }
    }
}

/// A running model server on 127.0.0.1; stopped by [`LlmServer::stop`] or `Drop`.
#[derive(Debug)]
pub struct LlmServer {
    /// The server's root, `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
    /// The OpenAI API root, `<url>/v1`: what `IGNY8_AI_BASE_URL` points at.
    pub base_url: String,
    /// The bearer token the server wants.
    pub api_key: String,
    /// The model name it serves (what `IGNY8_AI_MODEL` must say).
    pub model: String,
    /// Milliseconds from `start` to the first answer of `/v1/models` (model loaded).
    pub start_ms: u64,
    dir: Option<tempfile::TempDir>,
}

/// The project's script, found from this crate's manifest directory.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/llm_server.sh")
}

fn run(step: &'static str, args: &[&std::ffi::OsStr]) -> Result<Output, LlmServerError> {
    let script = script();
    let output = Command::new("bash")
        .arg(&script)
        .arg(step)
        .args(args)
        .output()
        .map_err(|source| LlmServerError::Spawn { script: script.clone(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(LlmServerError::Script {
            step,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Runs `scripts/llm_server.sh install` once per test process: a stamp check when
/// installed (well under a second); the first time on a machine it builds
/// llama-cpp-python from source (minutes) and fetches the model.
pub fn install() -> Result<(), LlmServerError> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| run("install", &[]).map(|_| ()).map_err(|e| e.to_string()))
        .clone()
        .map_err(|stderr| LlmServerError::Script { step: "install", status: "earlier in this process".into(), stderr })
}

impl LlmServer {
    /// Installs if needed, then starts a server on a free loopback port and waits until
    /// the model is loaded and `/v1/models` answers.
    pub fn start() -> Result<Self, LlmServerError> {
        install()?;
        let dir = tempfile::Builder::new().prefix("igny8-llm-").tempdir().map_err(LlmServerError::TempDir)?;
        let owner = std::process::id().to_string();
        let output = run("start", &[dir.path().as_os_str(), owner.as_ref()])?;
        let mut server = Self::from_description(&output.stdout)?;
        server.dir = Some(dir);
        Ok(server)
    }

    /// Parses what `start` printed: `{"url", "base_url", "api_key", "model", "start_ms", …}`.
    fn from_description(stdout: &[u8]) -> Result<Self, LlmServerError> {
        let bad = |what: &str| LlmServerError::Output(format!("{what} in {}", String::from_utf8_lossy(stdout)));
        let value: Value = serde_json::from_slice(stdout).map_err(|e| bad(&e.to_string()))?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| bad(key));
        Ok(Self {
            url: text("url")?,
            base_url: text("base_url")?,
            api_key: text("api_key")?,
            model: text("model")?,
            start_ms: value.get("start_ms").and_then(Value::as_u64).unwrap_or(0),
            dir: None,
        })
    }

    /// The server's log (uvicorn's access lines and llama.cpp's timings), or why it
    /// could not be read: what a failed test prints.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(dir) = self.dir.as_ref() else { return "(server stopped)".into() };
        match std::fs::read_to_string(dir.path().join("server.log")) {
            Ok(log) => {
                let all: Vec<&str> = log.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(no server log: {e})"),
        }
    }

    /// Stops the server (waiting for it to exit), then deletes the directory.
    pub fn stop(mut self) -> Result<(), LlmServerError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), LlmServerError> {
        let Some(dir) = self.dir.take() else { return Ok(()) };
        run("stop", &[dir.path().as_os_str()])?;
        Ok(())
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("stopping the model server at {}: {e}", self.url);
        }
    }
}
