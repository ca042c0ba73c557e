//! Integration credentials sealed at rest, through the wiring as it is deployed:
//!
//! * the embedded family (a data directory in a tempdir, `LocalRuntime` with the local
//!   key file): a WordPress application password appears nowhere under the data
//!   directory — not in the SQLite file or its journal, not in a blob — neither as
//!   text nor base64 at any alignment; the key file is 32 bytes, mode 0600; the sealed
//!   credentials copied into another site's integration (a raw item-store write) do
//!   not open (`credentials_unreadable`);
//! * the AWS family (the KMS adapter on the moto emulator, started by
//!   scripts/with_moto.sh): a KMS key made in the test wraps data keys that unwrap
//!   only for their own encryption context, and services over DynamoDB and KMS refuse
//!   credentials moved to another site the same way.
//!
//! Run: `bash scripts/with_moto.sh cargo test -p igny8-tests --all-features --test sealing`.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use igny8_ai::OfflineProvider;
use igny8_asl::ExecutorOptions;
use igny8_aws::KmsKeys;
use igny8_core::domain::{AccountId, Credentials, IntegrationId, SiteId};
use igny8_core::integration::{CredentialVault, IntegrationError, IntegrationPorts, NewIntegration};
use igny8_core::ports::{ItemStore, KeyError, KeyProvider, Platforms, SealContext, SystemClock, UuidIds};
use igny8_core::repo::keys;
use igny8_core::Services;
use igny8_embedded::BlobDir;
use igny8_tests::fake_platform::{Call, FakePlatform};
use igny8_tests::{Harness, ENDPOINT_VAR};
use igny8_wiring::embedded::{LocalRuntime, KEY_FILE};

/// Recognisable, and long enough that every base64 alignment leaves a long core.
const PASSWORD: &str = "Sealing-Probe q7Zx 41Kd mW9p Lr2v";

fn credentials() -> Credentials {
    Credentials::WordpressAppPassword { username: "editor".into(), app_password: PASSWORD.into() }
}

fn wordpress(url: &str) -> NewIntegration {
    NewIntegration {
        platform: "wordpress".into(),
        base_url: url.into(),
        credentials: credentials(),
        sync_enabled: true,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, IntegrationError>) -> &'static str {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

/// The byte strings that betray `secret`: itself, and the part of its base64 (standard
/// and URL-safe alphabets) that does not depend on what surrounds it, for each of the
/// three alignments it can have inside a longer encoded text.
fn betrayals(secret: &str) -> Vec<Vec<u8>> {
    let mut out = vec![secret.as_bytes().to_vec()];
    for engine in [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
    {
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&shifted);
            // The first group holds the padding bytes, the last one the neighbours.
            let skip = if offset == 0 { 0 } else { 4 };
            let core = &encoded[skip..encoded.len().saturating_sub(4)];
            assert!(core.len() >= 24, "a long core to look for");
            out.push(core.as_bytes().to_vec());
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Laptop {
    rt: LocalRuntime,
    wordpress: Arc<FakePlatform>,
    account: AccountId,
    dir: tempfile::TempDir,
}

async fn laptop() -> Laptop {
    let dir = tempfile::tempdir().expect("dir");
    let wordpress = FakePlatform::wordpress();
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open_with_platforms(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        options,
        Platforms::new().with(wordpress.clone()),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 1_000).await.expect("account");
    Laptop { rt, wordpress, account: account.id, dir }
}

impl Laptop {
    async fn site(&self) -> SiteId {
        self.rt.services.account_service.create_site(&self.account, "Blog", "blog.example.com").await.expect("site").id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_nowhere_in_the_data_directory() {
    let l = laptop().await;
    let site = l.site().await;
    let s = &l.rt.services;
    let created =
        s.integrations.create(&l.account, &site, wordpress("https://blog.example.com")).await.expect("create");
    // Opened for a connection test (the platform saw the real password), recorded after.
    l.wordpress.expect_credentials(credentials());
    let report = s.integrations.test_connection(&l.account, &site, &created.id).await.expect("test");
    assert!(report.success, "{report:?}");
    assert_eq!(l.wordpress.calls(Call::TestConnection), 1);
    let opened = s.integrations.destination(&created).await.expect("opens");
    assert_eq!(opened.credentials.secrets(), vec![PASSWORD]);

    let files = files_under(l.dir.path());
    assert!(files.iter().any(|f| f.ends_with("igny8.sqlite")), "the SQLite file is searched: {files:?}");
    assert!(files.iter().any(|f| f.ends_with(KEY_FILE)), "the key file was made: {files:?}");
    let needles = betrayals(PASSWORD);
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds the password ({})",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // The probe can fail: the stored record does hold the sealed form, readable as base64.
    let item = s.store.get(&keys::integration(&site, &created.id)).await.expect("get").expect("item");
    assert_eq!(item["credentials"]["algorithm"], "AES-256-GCM");
    assert!(item["credentials"]["key_id"].as_str().is_some_and(|k| k.starts_with("local:")));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_file_is_32_private_bytes_made_on_first_use() {
    use std::os::unix::fs::PermissionsExt;
    let l = laptop().await;
    let key = l.dir.path().join(KEY_FILE);
    assert!(!key.exists(), "nothing is made before an integration needs it");
    let site = l.site().await;
    l.rt.services.integrations.create(&l.account, &site, wordpress("https://blog.example.com")).await.expect("create");
    let meta = std::fs::metadata(&key).expect("key file");
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 0600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_credentials_copied_to_another_sites_integration_do_not_open() {
    let l = laptop().await;
    let (site_a, site_b) = (l.site().await, l.site().await);
    let s = &l.rt.services;
    let a = s.integrations.create(&l.account, &site_a, wordpress("https://a.example.com")).await.expect("a");
    let b = s.integrations.create(&l.account, &site_b, wordpress("https://b.example.com")).await.expect("b");
    move_credentials(&s.store, &a.credentials, &site_b, &b.id).await;
    let moved = s.integrations.get(&l.account, &site_b, &b.id).await.expect("get");
    assert_eq!(moved.credentials, a.credentials, "the raw write took");
    assert_eq!(code(s.integrations.destination(&moved).await), "credentials_unreadable");
    assert_eq!(code(s.integrations.test_connection(&l.account, &site_b, &b.id).await), "credentials_unreadable");
    assert_eq!(l.wordpress.calls(Call::TestConnection), 0, "nothing was sent with them");
    let own = s.integrations.destination(&a).await.expect("still opens where it belongs");
    assert_eq!(own.credentials.secrets(), vec![PASSWORD]);
}

/// Writes `sealed` over the credentials of the integration `id` of `site`, raw.
async fn move_credentials(
    store: &Arc<dyn ItemStore>,
    sealed: &igny8_core::domain::SealedCredentials,
    site: &SiteId,
    id: &IntegrationId,
) {
    let mut item = store.get(&keys::integration(site, id)).await.expect("get").expect("item");
    item.insert("credentials".into(), serde_json::to_value(sealed).expect("json"));
    store.put(item, None).await.expect("overwrite");
}

// ------------------------------------------------------------------ AWS: KMS on moto

fn emulator() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run with scripts/with_moto.sh, which starts the moto emulator")
    })
}

/// KMS data keys under a key made for the test.
async fn kms() -> KmsKeys {
    let client = KmsKeys::connect(Some(&emulator()), "unused").await.client().clone();
    let key = client.create_key().description("igny8 sealing test").send().await.expect("create key");
    let arn = key.key_metadata().map(|m| m.arn().unwrap_or_default().to_owned()).expect("key metadata");
    assert!(arn.starts_with("arn:aws:kms:"), "{arn}");
    KmsKeys::new(client, arn)
}

fn context(account: &str, site: &str, integration: &str) -> SealContext {
    SealContext {
        account_id: AccountId::derive(account),
        site_id: SiteId::derive(site),
        integration_id: IntegrationId::derive(integration),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_data_keys_unwrap_only_for_their_own_context() {
    let keys = kms().await;
    let ctx = context("a", "s", "i");
    let generated = keys.generate_data_key(&ctx).await.expect("generate");
    assert_eq!(generated.key_id, keys.key_id(), "the key id is the ARN KMS answered with");
    assert!(!generated.wrapped.is_empty());
    assert_ne!(generated.wrapped.as_slice(), generated.plaintext.bytes().as_slice(), "wrapped, not plain");
    let unwrapped = keys.unwrap_data_key(&generated.key_id, &generated.wrapped, &ctx).await.expect("unwrap");
    assert_eq!(unwrapped.bytes(), generated.plaintext.bytes());
    for other in [context("b", "s", "i"), context("a", "t", "i"), context("a", "s", "j")] {
        let refused = keys.unwrap_data_key(&generated.key_id, &generated.wrapped, &other).await;
        assert!(matches!(refused, Err(KeyError::Denied)), "{other:?}: {refused:?}");
    }
    let mut tampered = generated.wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(keys.unwrap_data_key(&generated.key_id, &tampered, &ctx).await, Err(KeyError::Denied)));
    assert_eq!(KeyError::Denied.code(), "credentials_unreadable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_on_kms_seals_and_opens_for_one_integration_only() {
    let vault = CredentialVault::new(Arc::new(kms().await));
    let ctx = context("a", "s", "i");
    let sealed = vault.seal(&ctx, &credentials(), "2026-12-02T00:00:00Z").await.expect("seal");
    assert!(sealed.key_id.starts_with("arn:aws:kms:"));
    let text = serde_json::to_string(&sealed).expect("json");
    for needle in betrayals(PASSWORD) {
        assert!(!contains(text.as_bytes(), &needle), "the sealed form betrays the password");
    }
    assert_eq!(vault.open(&ctx, &sealed).await.expect("open"), credentials());
    let moved = vault.open(&context("a", "t", "i"), &sealed).await;
    assert!(matches!(moved, Err(KeyError::Denied)), "{moved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_and_kms_credentials_moved_to_another_site_do_not_open() {
    let h = Harness::dynamodb().await;
    let dir = tempfile::tempdir().expect("dir");
    let platform = FakePlatform::wordpress();
    let ports = IntegrationPorts {
        vault: CredentialVault::new(Arc::new(kms().await)),
        platforms: Platforms::new().with(platform.clone()),
        blobs: Arc::new(BlobDir::open(dir.path()).expect("blobs")),
    };
    let s = Services::new(Arc::clone(&h.store)).with_integrations(ports);
    let (account, _) = s.account_service.create_account("Acme", 0).await.expect("account");
    let site_a = s.account_service.create_site(&account.id, "A", "a.example.com").await.expect("a").id;
    let site_b = s.account_service.create_site(&account.id, "B", "b.example.com").await.expect("b").id;
    let a = s.integrations.create(&account.id, &site_a, wordpress("https://a.example.com")).await.expect("a");
    let b = s.integrations.create(&account.id, &site_b, wordpress("https://b.example.com")).await.expect("b");
    let raw =
        serde_json::to_string(&h.store.get(&keys::integration(&site_a, &a.id)).await.expect("get")).expect("json");
    for needle in betrayals(PASSWORD) {
        assert!(!contains(raw.as_bytes(), &needle), "the stored item betrays the password");
    }
    move_credentials(&h.store, &a.credentials, &site_b, &b.id).await;
    let moved = s.integrations.get(&account.id, &site_b, &b.id).await.expect("get");
    assert_eq!(code(s.integrations.destination(&moved).await), "credentials_unreadable");
    assert_eq!(platform.calls(Call::TestConnection), 0);
    let own = s.integrations.destination(&a).await.expect("opens where it belongs");
    assert_eq!(own.credentials.secrets(), vec![PASSWORD]);
}
