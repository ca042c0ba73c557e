//! Test harness: one fresh store per test on either backend.
//!
//! The DynamoDB backend needs an emulator: `scripts/test.sh` starts moto on 127.0.0.1
//! and exports `IGNY8_TEST_DYNAMODB_ENDPOINT`. Without it the DynamoDB tests fail
//! loudly rather than pass without testing anything.

use std::sync::Arc;

use igny8_core::aws::DynamoStore;
use igny8_core::local::SqliteStore;
use igny8_core::ports::ItemStore;

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
