//! A real WordPress on 127.0.0.1 for integration tests (issue 12): Debian's own
//! `wordpress` package behind a private Apache and MariaDB, started by
//! `scripts/wordpress.sh start` in a temporary directory and stopped when the
//! [`WordPress`] value is stopped or dropped. docs/testing.md tells what it costs and
//! how to debug an instance.
//!
//! Stopping: [`WordPress::stop`] stops it and reports failures; `Drop` stops it too, so
//! a test that panics (unwinding runs destructors) leaves nothing behind. A test
//! process that dies without unwinding (SIGKILL, Ctrl-C, `panic = "abort"`) cannot run
//! `Drop`: for that the script starts a watchdog that follows this process's pid and
//! stops the instance (and deletes its directory) within a second of its death.
//! `IGNY8_WP_KEEP=1` keeps an instance running after the test, for a look at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// Environment variable that keeps an instance (and its directory) after the test.
pub const KEEP_VAR: &str = "IGNY8_WP_KEEP";

/// Why a WordPress instance could not be installed, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WordPressError {
    /// The script could not be run at all.
    #[error("cannot run {script}: {source}")]
    Spawn {
        /// The script.
        script: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `scripts/wordpress.sh <step>` exited unsuccessfully.
    #[error("scripts/wordpress.sh {step} failed ({status}): {stderr}")]
    Script {
        /// The subcommand (install, start, stop).
        step: &'static str,
        /// The exit status.
        status: String,
        /// What the script said on stderr.
        stderr: String,
    },
    /// `start` printed something that is not the expected JSON object.
    #[error("scripts/wordpress.sh start printed an unexpected instance description: {0}")]
    Output(String),
    /// The temporary directory for the instance could not be made.
    #[error("cannot create the instance directory: {0}")]
    TempDir(std::io::Error),
}

impl WordPressError {
    /// A stable snake_case code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Spawn { .. } => "wordpress_script_not_runnable",
            Self::Script { .. } => "wordpress_script_failed",
            Self::Output(_) => "wordpress_bad_instance_description",
            Self::TempDir(_) => "wordpress_temp_dir",
        }
    }
}

/// How the site routes its REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permalinks {
    /// `/%postname%/` with Apache rewriting: the REST root is `/wp-json/`.
    #[default]
    Pretty,
    /// No permalink structure and no rewriting (a host without mod_rewrite): `/wp-json/`
    /// is a 404 and the REST API answers at `/?rest_route=/`, as the `Link` header says.
    Plain,
}

/// The site's `WP_ENVIRONMENT_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// `local`: application passwords work over plain HTTP.
    #[default]
    Local,
    /// `production`: over plain HTTP application passwords are unavailable (the REST
    /// root's `authentication` is an empty array and they are refused with a 401).
    Production,
}

/// What kind of site to start; the default is what a publishing test wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// How the REST API is routed.
    pub permalinks: Permalinks,
    /// The environment type.
    pub environment: Environment,
    /// Yoast SEO's post meta keys registered in REST (a must-use plugin,
    /// scripts/wordpress/seo-meta.php), as on a site that exposes them.
    pub yoast_meta: bool,
}

/// One WordPress user of the instance, with an application password made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpUser {
    /// The user's id in WordPress.
    pub id: u64,
    /// The login name (what goes into Basic authentication).
    pub username: String,
    /// An application password, in WordPress's display form (groups of 4 with spaces;
    /// WordPress accepts it with or without the spaces).
    pub app_password: String,
    /// The user's WordPress roles (administrator, author, contributor).
    pub roles: Vec<String>,
}

/// A running WordPress instance on 127.0.0.1; stopped by [`WordPress::stop`] or `Drop`.
#[derive(Debug)]
pub struct WordPress {
    /// The site's base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
    /// The WordPress version (`$wp_version`, e.g. "6.1.9").
    pub version: String,
    /// The PHP version serving it.
    pub php_version: String,
    /// The test users by login: `admin` (administrator), `author`, `contributor`.
    pub users: BTreeMap<String, WpUser>,
    dir: Option<tempfile::TempDir>,
}

/// The project's script, found from this crate's manifest directory.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wordpress.sh")
}

fn run(step: &'static str, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Result<Output, WordPressError> {
    let script = script();
    let output = Command::new("bash")
        .arg(&script)
        .arg(step)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|source| WordPressError::Spawn { script: script.clone(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(WordPressError::Script {
            step,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn keep_requested() -> bool {
    std::env::var(KEEP_VAR).is_ok_and(|v| v == "1")
}

/// Runs `scripts/wordpress.sh install` once per test process: the packages (a no-op
/// when present, ~0.3 s), the version check and the config dispatcher.
pub fn install() -> Result<(), WordPressError> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| run("install", &[], &[]).map(|_| ()).map_err(|e| e.to_string()))
        .clone()
        .map_err(|stderr| WordPressError::Script { step: "install", status: "earlier in this process".into(), stderr })
}

impl WordPress {
    /// Installs the packages if needed, then starts a fresh instance in a new temporary
    /// directory: its own database (a copy of a pre-installed template), Apache on a
    /// free loopback port, new application passwords for admin, author and contributor.
    pub fn start() -> Result<Self, WordPressError> {
        Self::start_with(Options::default())
    }

    /// [`WordPress::start`] for another kind of site (plain permalinks, production).
    pub fn start_with(options: Options) -> Result<Self, WordPressError> {
        install()?;
        let dir = tempfile::Builder::new().prefix("igny8-wp-").tempdir().map_err(WordPressError::TempDir)?;
        // The watchdog follows this process, unless the instance is to outlive it.
        let owner = if keep_requested() { String::new() } else { std::process::id().to_string() };
        let permalinks = match options.permalinks {
            Permalinks::Pretty => "pretty",
            Permalinks::Plain => "plain",
        };
        let environment = match options.environment {
            Environment::Local => "local",
            Environment::Production => "production",
        };
        let seo_meta = if options.yoast_meta { "yoast" } else { "none" };
        let env = [
            ("IGNY8_WP_PERMALINKS", permalinks),
            ("IGNY8_WP_ENVIRONMENT", environment),
            ("IGNY8_WP_SEO_META", seo_meta),
        ];
        let output = run("start", &[dir.path().as_os_str(), owner.as_ref()], &env)?;
        let mut wordpress = Self::from_description(&output.stdout)?;
        wordpress.dir = Some(dir);
        Ok(wordpress)
    }

    /// Parses what `start` printed: `{"url", "version", "php_version", "users", "pids"}`.
    fn from_description(stdout: &[u8]) -> Result<Self, WordPressError> {
        let bad = |what: &str| WordPressError::Output(format!("{what} in {}", String::from_utf8_lossy(stdout)));
        let value: Value = serde_json::from_slice(stdout).map_err(|e| bad(&e.to_string()))?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let url = text(&value, "url").ok_or_else(|| bad("no url"))?;
        let version = text(&value, "version").ok_or_else(|| bad("no version"))?;
        let php_version = text(&value, "php_version").unwrap_or_default();
        let mut users = BTreeMap::new();
        for (login, user) in value.get("users").and_then(Value::as_object).ok_or_else(|| bad("no users"))? {
            let user = WpUser {
                id: user.get("id").and_then(Value::as_u64).ok_or_else(|| bad("a user without an id"))?,
                username: text(user, "username").ok_or_else(|| bad("a user without a username"))?,
                app_password: text(user, "app_password").ok_or_else(|| bad("a user without an app_password"))?,
                roles: user
                    .get("roles")
                    .and_then(Value::as_array)
                    .map(|roles| roles.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
            };
            users.insert(login.clone(), user);
        }
        Ok(Self { url, version, php_version, users, dir: None })
    }

    /// The user with this login (`admin`, `author`, `contributor`); panics on another
    /// name, since the set is fixed by the script.
    pub fn user(&self, login: &str) -> &WpUser {
        self.users.get(login).unwrap_or_else(|| panic!("the WordPress fixture has no user {login}"))
    }

    /// The REST API root for pretty permalinks, `<url>/wp-json/` (a route is appended:
    /// `wp/v2/posts`). With [`Permalinks::Plain`] use [`WordPress::rest_route`].
    pub fn rest_root(&self) -> String {
        format!("{}/wp-json/", self.url)
    }

    /// A REST route addressed as plain permalinks need it, `<url>/?rest_route=/<route>`
    /// (works with either kind; a query goes after `&`).
    pub fn rest_route(&self, route: &str) -> String {
        format!("{}/?rest_route=/{}", self.url, route.trim_start_matches('/'))
    }

    /// The instance directory (logs: apache/error.log, apache/access.log,
    /// mysql/mysqld.log, wp-debug.log); `None` once stopped.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Stops Apache and MariaDB (waiting for both to exit), then deletes the directory.
    pub fn stop(mut self) -> Result<(), WordPressError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), WordPressError> {
        let Some(dir) = self.dir.take() else { return Ok(()) };
        if keep_requested() {
            let kept = dir.keep();
            eprintln!("{KEEP_VAR}=1: WordPress at {} left running in {}", self.url, kept.display());
            return Ok(());
        }
        run("stop", &[dir.path().as_os_str()], &[])?;
        Ok(())
    }
}

impl Drop for WordPress {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("stopping the WordPress fixture at {}: {e}", self.url);
        }
    }
}
