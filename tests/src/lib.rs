//! Test harness: one fresh store per test on either backend.
//!
//! The DynamoDB backend needs an emulator: `scripts/test.sh` starts moto on 127.0.0.1
//! and exports `IGNY8_TEST_DYNAMODB_ENDPOINT`. Without it the DynamoDB tests fail
//! loudly rather than pass without testing anything.

// Test support: a failed set-up is a failed test, so it may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod articles;
pub mod counters;
pub mod fake_platform;
pub mod hooked_ai;
pub mod layering;
pub mod llm_server;
pub mod shopify_fake;
pub mod wordpress;
pub mod wordpress_publishing;

use std::sync::Arc;

use igny8_aws::DynamoStore;
use igny8_core::ports::ItemStore;
use igny8_embedded::SqliteStore;

/// Environment variable naming the emulator endpoint.
pub const ENDPOINT_VAR: &str = "IGNY8_TEST_DYNAMODB_ENDPOINT";

/// A store under test and whatever must live as long as it.
pub struct Harness {
    /// The store.
    pub store: Arc<dyn ItemStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// A SQLite store in a fresh temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("test.sqlite")).expect("open sqlite");
        Self { store: Arc::new(store), _dir: Some(dir) }
    }

    /// A DynamoDB store on a fresh table of the emulator.
    pub async fn dynamodb() -> Self {
        let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
            panic!("{ENDPOINT_VAR} is not set: run the tests with scripts/test.sh, which starts the moto emulator")
        });
        let table = format!("t{}", uuid::Uuid::new_v4().simple());
        let store = DynamoStore::connect(Some(&endpoint), &table).await.expect("connect to emulator");
        store.ensure_table().await.expect("create table");
        Self { store: Arc::new(store), _dir: None }
    }

    /// The path of a SQLite file for tests that open it from several places.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("test.sqlite"))
    }
}

/// Declares each listed `async fn(Arc<dyn ItemStore>)` as a test on both backends:
/// `sqlite::<name>` and `dynamodb::<name>`.
#[macro_export]
macro_rules! contract_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::Harness::sqlite();
                    super::$name(h.store.clone()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::Harness::dynamodb().await;
                    super::$name(h.store.clone()).await;
                }
            )*
        }
    };
}

/// The emulator endpoint (moto serves DynamoDB, S3, SQS and Step Functions on one
/// port); panics when unset so AWS-adapter tests never pass without testing anything.
pub fn emulator_endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the tests with scripts/with_moto.sh, which starts the moto emulator")
    })
}

/// A unique lowercase name (`<prefix><32 hex>`) for a bucket, queue or state machine,
/// so tests sharing one emulator never see each other's resources.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// One plain HTTP/1.1 request to an `http://host:port/path?query` URL; returns the
/// status code and the body. Just enough HTTP for talking to the local emulator
/// (moto's config API, following a presigned link) without an HTTP client crate.
pub async fn http_request(method: &str, url: &str, body: Option<Vec<u8>>) -> std::io::Result<(u16, Vec<u8>)> {
    let (method, url) = (method.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || blocking_http(&method, &url, body.as_deref()))
        .await
        .map_err(std::io::Error::other)?
}

fn blocking_http(method: &str, url: &str, body: Option<&[u8]>) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Error, Read, Write};
    let rest =
        url.strip_prefix("http://").ok_or_else(|| Error::other(format!("only http:// URLs are supported: {url}")))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::other("HTTP response without a header end"))?;
    let header = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = header
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::other(format!("bad HTTP status line in {header:?}")))?;
    let payload = raw[split + 4..].to_vec();
    let chunked = header.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    Ok((status, if chunked { dechunk(&payload)? } else { payload }))
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::other("malformed chunked HTTP body");
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad())?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(bad)?);
        data = data.get(size + 2..).ok_or_else(bad)?;
    }
}

/// Reads what a presigned link points at: an `http://` URL by a GET, a `file://` URL
/// (the folder adapter's links) from disk. Panics on failure: it is a test helper.
pub async fn fetch_link(url: &str) -> Vec<u8> {
    if let Some(path) = url.strip_prefix("file://") {
        let path = percent_decode(path);
        return std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    }
    let (status, body) = http_request("GET", url, None).await.expect("GET presigned link");
    assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    body
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes moto's Step Functions really run state machines (Pass, Wait, ...) and keeps
/// Lambda out of Docker; without it moto only records executions as RUNNING forever.
pub async fn enable_moto_step_functions(endpoint: &str) {
    let body = br#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#;
    let url = format!("{}/moto-api/config", endpoint.trim_end_matches('/'));
    let (status, reply) = http_request("POST", &url, Some(body.to_vec())).await.expect("POST moto config");
    assert!((200..300).contains(&status), "moto config: {status} {}", String::from_utf8_lossy(&reply));
}

/// The example keyword file (618 keywords over 12 topics).
pub const EXAMPLE_KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

/// The benches' 1,000 keywords: the example file plus regional variants of its
/// keywords at a quarter of the volume, so every bench measures the same input.
pub fn thousand_keywords() -> Vec<igny8_ai::KeywordInput> {
    let base = igny8_core::planner::parse_keywords_csv(EXAMPLE_KEYWORDS).expect("example keywords");
    let regions = ["uk", "australia", "canada", "2026", "online", "for women", "for men"];
    let mut out = base.clone();
    'fill: for region in regions {
        for k in &base {
            if out.len() >= 1000 {
                break 'fill;
            }
            out.push(igny8_ai::KeywordInput {
                keyword: format!("{} {region}", k.keyword),
                volume: k.volume / 4,
                ..k.clone()
            });
        }
    }
    out
}

/// The benches' keyword lists of any size, the same on every machine: the 1,000 of
/// [`thousand_keywords`] first (so a 1,000 run measures what earlier figures measured),
/// then the example keywords with a leading and a trailing qualifier (20 × 21
/// combinations a keyword: up to ≈ 260,000) at a fraction of the volume.
pub fn bench_keywords(n: usize) -> Vec<igny8_ai::KeywordInput> {
    let mut out = thousand_keywords();
    out.truncate(n);
    let base = igny8_core::planner::parse_keywords_csv(EXAMPLE_KEYWORDS).expect("example keywords");
    let leading = [
        "best",
        "cheap",
        "top",
        "new",
        "used",
        "buy",
        "compare",
        "affordable",
        "premium",
        "quiet",
        "small",
        "large",
        "portable",
        "professional",
        "beginner",
        "eco friendly",
        "luxury",
        "lightweight",
        "durable",
        "simple",
    ];
    let trailing = [
        "uk",
        "australia",
        "canada",
        "2026",
        "online",
        "for women",
        "for men",
        "near me",
        "review",
        "deals",
        "sale",
        "guide",
        "for kids",
        "for beginners",
        "for small spaces",
        "on a budget",
        "for seniors",
        "ideas",
        "tips",
        "vs alternatives",
        "brands",
    ];
    'fill: for t in trailing {
        for l in leading {
            for k in &base {
                if out.len() >= n {
                    break 'fill;
                }
                out.push(igny8_ai::KeywordInput {
                    keyword: format!("{l} {} {t}", k.keyword),
                    volume: k.volume / 10,
                    ..k.clone()
                });
            }
        }
    }
    out
}
