//! Contract of site integrations, run against SQLite and DynamoDB: CRUD with the account
//! taken from the site, one active integration per site and platform (under
//! concurrency too), credentials sealed at rest and bound to their integration, key
//! rotation on update, connection tests and their health, metadata sync, sync records
//! and the scheduled sync's cross-account view. The platform is the scripted
//! [`FakePlatform`]; the key provider is the real local key file.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use igny8_core::domain::{
    AccountId, Credentials, HealthStatus, IntegrationId, Platform, RemoteTerm, SiteId, SiteIntegration, SiteMetadata,
    SyncStatus,
};
use igny8_core::integration::{CredentialVault, IntegrationError, IntegrationPorts, IntegrationUpdate, NewIntegration};
use igny8_core::ports::{ItemStore, ManualClock, PlatformError, Platforms, Query, UuidIds};
use igny8_core::repo::keys;
use igny8_core::Services;
use igny8_embedded::{BlobDir, LocalKeyFile};
use igny8_tests::fake_platform::{Call, FakePlatform};

igny8_tests::contract_suite!(
    crud_takes_the_account_from_the_site,
    another_accounts_site_or_integration_is_not_found,
    one_active_integration_per_site_and_platform,
    ten_concurrent_creates_make_exactly_one,
    bad_input_is_refused_and_nothing_is_stored,
    update_reseals_under_a_fresh_data_key,
    connection_tests_move_the_health,
    no_plaintext_secret_is_stored,
    a_sealed_blob_moved_to_another_integration_does_not_open,
    metadata_sync_and_sync_records,
    sync_candidates_page_across_accounts,
    without_ports_integrations_are_unavailable,
);

/// 2026-12-02T00:00:00Z.
const T0: i64 = 1_796_169_600_000;
const PASSWORD: &str = "abcd EFGH ijkl MNOP qrst UVWX";

struct World {
    s: Services,
    store: Arc<dyn ItemStore>,
    keys: Arc<LocalKeyFile>,
    wordpress: Arc<FakePlatform>,
    shopify: Arc<FakePlatform>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn world(store: &Arc<dyn ItemStore>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let keys = Arc::new(LocalKeyFile::new(dir.path().join("keys").join("master.key")));
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let (wordpress, shopify) = (FakePlatform::wordpress(), FakePlatform::shopify());
    let clock = Arc::new(ManualClock::at(T0));
    let ports = IntegrationPorts {
        vault: CredentialVault::new(keys.clone()),
        platforms: Platforms::new().with(wordpress.clone()).with(shopify.clone()),
        blobs,
    };
    let s = Services::with(Arc::clone(store), clock.clone(), Arc::new(UuidIds)).with_integrations(ports);
    World { s, store: Arc::clone(store), keys, wordpress, shopify, clock, _dir: dir }
}

async fn account(w: &World) -> AccountId {
    w.s.account_service.create_account("Acme", 0).await.expect("account").0.id
}

async fn site(w: &World, account: &AccountId) -> SiteId {
    w.s.account_service.create_site(account, "Blog", "blog.example.com").await.expect("site").id
}

fn wp_credentials(password: &str) -> Credentials {
    Credentials::WordpressAppPassword { username: "editor".into(), app_password: password.into() }
}

fn wordpress(url: &str) -> NewIntegration {
    NewIntegration {
        platform: "wordpress".into(),
        base_url: url.into(),
        credentials: wp_credentials(PASSWORD),
        sync_enabled: true,
    }
}

fn shopify() -> NewIntegration {
    NewIntegration {
        platform: "Shopify".into(),
        base_url: "https://acme-store.myshopify.com/admin".into(),
        credentials: Credentials::ShopifyAccessToken { access_token: "shpat_0123456789abcdef".into() },
        sync_enabled: true,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, IntegrationError>) -> &'static str {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

/// Every raw item of the site's integrations (records and guards), as JSON text.
async fn raw_site_items(store: &Arc<dyn ItemStore>, site: &SiteId) -> Vec<String> {
    let q = Query::partition(keys::site(site).pk).limit(1000);
    let page = store.query(&q).await.expect("query");
    page.items
        .into_iter()
        .filter(|i| i.get("SK").and_then(|v| v.as_str()).is_some_and(|sk| sk.starts_with("INTG")))
        .map(|i| serde_json::to_string(&i).expect("json"))
        .collect()
}

/// Create, get, list, update and delete; the account comes from the site and the
/// address is normalized.
async fn crud_takes_the_account_from_the_site(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let created = w.s.integrations.create(&acct, &site, wordpress("HTTPS://Blog.Example.com/")).await.expect("create");
    assert_eq!(created.account_id, acct);
    assert_eq!(created.site_id, site);
    assert_eq!(created.platform, Platform::Wordpress);
    assert_eq!(created.base_url, "https://blog.example.com");
    assert!(created.active && created.sync_enabled);
    assert_eq!(created.sync_status, SyncStatus::Never);
    assert_eq!(created.health.status, HealthStatus::Unknown);
    assert_eq!(created.credentials.kind, "wordpress_app_password");
    assert_eq!(created.credentials.key_id, w.keys.key_id().expect("key id"));
    assert!(created.id.as_str().starts_with("intg_"));

    assert_eq!(w.s.integrations.get(&acct, &site, &created.id).await.expect("get"), created);
    let shop = w.s.integrations.create(&acct, &site, shopify()).await.expect("shopify");
    assert_eq!(shop.base_url, "acme-store.myshopify.com");
    let listed: Vec<IntegrationId> =
        w.s.integrations.list(&acct, &site).await.expect("list").into_iter().map(|i| i.id).collect();
    assert_eq!(listed, vec![created.id.clone(), shop.id.clone()], "oldest first");

    w.clock.advance_ms(60_000);
    let change = IntegrationUpdate {
        base_url: Some("http://127.0.0.1:8080/wp/".into()),
        sync_enabled: Some(false),
        ..IntegrationUpdate::default()
    };
    let updated = w.s.integrations.update(&acct, &site, &created.id, change).await.expect("update");
    assert_eq!(updated.base_url, "http://127.0.0.1:8080/wp");
    assert!(!updated.sync_enabled && updated.active);
    assert_eq!(updated.credentials, created.credentials, "no new credentials: nothing re-sealed");
    assert_eq!(updated.created_at, created.created_at);
    assert_ne!(updated.updated_at, created.updated_at);
    assert_eq!(w.s.integrations.get(&acct, &site, &created.id).await.expect("get"), updated);

    w.s.integrations.delete(&acct, &site, &created.id).await.expect("delete");
    assert_eq!(code(w.s.integrations.get(&acct, &site, &created.id).await), "not_found");
    assert_eq!(code(w.s.integrations.delete(&acct, &site, &created.id).await), "not_found");
    let left = w.s.integrations.list(&acct, &site).await.expect("list");
    assert_eq!(left.iter().map(|i| &i.id).collect::<Vec<_>>(), vec![&shop.id]);
    let active = w.s.integrations.active(&acct, &site).await.expect("active");
    assert_eq!(active.len(), 1);
}

/// Another account's site, or another account's integration, is simply not found.
async fn another_accounts_site_or_integration_is_not_found(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let (mine, theirs) = (account(&w).await, account(&w).await);
    let (my_site, their_site) = (site(&w, &mine).await, site(&w, &theirs).await);
    let err = w.s.integrations.create(&mine, &their_site, wordpress("https://a.example.com")).await;
    assert!(matches!(&err, Err(IntegrationError::NotFound(what)) if what.starts_with("site ")), "{err:?}");
    let missing: SiteId = format!("site_{}", "0".repeat(32)).parse().expect("id");
    assert_eq!(code(w.s.integrations.create(&mine, &missing, wordpress("https://a.example.com")).await), "not_found");
    assert_eq!(code(w.s.integrations.list(&mine, &their_site).await), "not_found");

    let theirs_intg = w.s.integrations.create(&theirs, &their_site, wordpress("https://b.example.com")).await.unwrap();
    assert_eq!(code(w.s.integrations.get(&mine, &their_site, &theirs_intg.id).await), "not_found");
    assert_eq!(code(w.s.integrations.get(&mine, &my_site, &theirs_intg.id).await), "not_found");
    assert_eq!(code(w.s.integrations.test_connection(&mine, &their_site, &theirs_intg.id).await), "not_found");
    let off = IntegrationUpdate { active: Some(false), ..IntegrationUpdate::default() };
    assert_eq!(code(w.s.integrations.update(&mine, &their_site, &theirs_intg.id, off).await), "not_found");
    assert_eq!(code(w.s.integrations.delete(&mine, &their_site, &theirs_intg.id).await), "not_found");
    assert!(w.s.integrations.get(&theirs, &their_site, &theirs_intg.id).await.expect("still there").active);
    assert!(w.s.integrations.list(&mine, &my_site).await.expect("list").is_empty());
}

/// A second active integration of a platform is refused; deactivating releases the
/// slot, re-activating needs it free again, deleting frees it.
async fn one_active_integration_per_site_and_platform(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let first = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("first");
    let second = w.s.integrations.create(&acct, &site, wordpress("https://b.example.com")).await;
    assert_eq!(code(second), "integration_exists");
    w.s.integrations.create(&acct, &site, shopify()).await.expect("another platform is fine");
    let other_site = self::site(&w, &acct).await;
    w.s.integrations.create(&acct, &other_site, wordpress("https://a.example.com")).await.expect("another site");

    let off = IntegrationUpdate { active: Some(false), ..IntegrationUpdate::default() };
    let on = IntegrationUpdate { active: Some(true), ..IntegrationUpdate::default() };
    let first_off = w.s.integrations.update(&acct, &site, &first.id, off.clone()).await.expect("deactivate");
    assert!(!first_off.active);
    assert_eq!(code(w.s.integrations.destination(&first_off).await), "integration_inactive");
    let second = w.s.integrations.create(&acct, &site, wordpress("https://b.example.com")).await.expect("slot free");
    assert_eq!(code(w.s.integrations.update(&acct, &site, &first.id, on.clone()).await), "integration_exists");
    assert!(!w.s.integrations.get(&acct, &site, &first.id).await.expect("get").active, "refused: unchanged");
    // Deactivating twice keeps the other one's guard.
    w.s.integrations.update(&acct, &site, &first.id, off).await.expect("deactivate again");
    assert_eq!(
        code(w.s.integrations.create(&acct, &site, wordpress("https://c.example.com")).await),
        "integration_exists"
    );

    w.s.integrations.delete(&acct, &site, &second.id).await.expect("delete");
    let first_on = w.s.integrations.update(&acct, &site, &first.id, on).await.expect("re-activate");
    assert!(first_on.active);
    let active = w.s.integrations.active(&acct, &site).await.expect("active");
    let platforms: Vec<Platform> = active.iter().map(|i| i.platform).collect();
    assert_eq!(platforms, vec![Platform::Wordpress, Platform::Shopify]);
    // Deleting an inactive one never touches the active one's guard.
    let off = IntegrationUpdate { active: Some(false), ..IntegrationUpdate::default() };
    w.s.integrations.update(&acct, &site, &first.id, off).await.expect("deactivate");
    let third = w.s.integrations.create(&acct, &site, wordpress("https://d.example.com")).await.expect("third");
    w.s.integrations.delete(&acct, &site, &first.id).await.expect("delete inactive");
    assert_eq!(
        code(w.s.integrations.create(&acct, &site, wordpress("https://e.example.com")).await),
        "integration_exists"
    );
    assert!(w.s.integrations.get(&acct, &site, &third.id).await.expect("third").active);
}

/// Ten concurrent creates of a site's WordPress integration: exactly one wins, the
/// others are `integration_exists`, one record is stored.
async fn ten_concurrent_creates_make_exactly_one(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (s, acct, site) = (w.s.clone(), acct.clone(), site.clone());
            tokio::spawn(async move {
                s.integrations.create(&acct, &site, wordpress(&format!("https://n{n}.example.com"))).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e.code(), "integration_exists", "{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(w.s.integrations.list(&acct, &site).await.expect("list").len(), 1);
}

/// An unknown platform, a bad address, or credentials that do not fit are refused with
/// clear codes, and nothing is stored (nor a key made).
async fn bad_input_is_refused_and_nothing_is_stored(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let wix = NewIntegration { platform: "wix".into(), ..wordpress("https://a.example.com") };
    let err = w.s.integrations.create(&acct, &site, wix).await;
    assert_eq!(code(err), "unsupported_platform");
    let cases = [
        wordpress("blog.example.com"),
        wordpress("https://a.example.com/?page_id=2"),
        wordpress("ftp://a.example.com"),
        NewIntegration { base_url: "https://acme.example.com".into(), ..shopify() },
        NewIntegration { credentials: wp_credentials(" "), ..wordpress("https://a.example.com") },
        NewIntegration { platform: "shopify".into(), ..wordpress("acme.myshopify.com") },
        NewIntegration {
            credentials: Credentials::ShopifyClientCredentials { client_id: "id".into(), client_secret: String::new() },
            ..shopify()
        },
    ];
    for case in cases {
        let err = w.s.integrations.create(&acct, &site, case.clone()).await;
        let Err(IntegrationError::Invalid { field, message }) = err else { panic!("{case:?}: {err:?}") };
        assert!(!message.contains(PASSWORD), "{field}: {message}");
    }
    assert!(w.s.integrations.list(&acct, &site).await.expect("list").is_empty());
    assert!(raw_site_items(&w.store, &site).await.is_empty());
    let first = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("valid");
    let bad = IntegrationUpdate { credentials: Some(wp_credentials("")), ..IntegrationUpdate::default() };
    assert_eq!(code(w.s.integrations.update(&acct, &site, &first.id, bad).await), "validation_failed");
    let bad = IntegrationUpdate { base_url: Some("not a url".into()), ..IntegrationUpdate::default() };
    assert_eq!(code(w.s.integrations.update(&acct, &site, &first.id, bad).await), "validation_failed");
    assert_eq!(w.s.integrations.get(&acct, &site, &first.id).await.expect("get"), first, "unchanged");
}

/// New credentials are sealed under a fresh data key and nonce, the key id recorded;
/// the new ones open and sign in, the old ones are gone.
async fn update_reseals_under_a_fresh_data_key(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let created = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("create");
    w.clock.advance_ms(1000);
    let rotated =
        IntegrationUpdate { credentials: Some(wp_credentials("new pass word")), ..IntegrationUpdate::default() };
    let updated = w.s.integrations.update(&acct, &site, &created.id, rotated).await.expect("update");
    assert_ne!(updated.credentials.wrapped_key, created.credentials.wrapped_key);
    assert_ne!(updated.credentials.nonce, created.credentials.nonce);
    assert_ne!(updated.credentials.ciphertext, created.credentials.ciphertext);
    assert_eq!(updated.credentials.key_id, w.keys.key_id().expect("key id"));
    assert_ne!(updated.credentials.sealed_at, created.credentials.sealed_at);
    let destination = w.s.integrations.destination(&updated).await.expect("open");
    assert_eq!(destination.credentials, wp_credentials("new pass word"));
    assert_eq!(destination.base_url, "https://a.example.com");
    w.wordpress.expect_credentials(wp_credentials("new pass word"));
    let report = w.s.integrations.test_connection(&acct, &site, &created.id).await.expect("test");
    assert!(report.success, "{report:?}");
}

/// Success makes an integration healthy; failures degrade it and, after three in a row
/// or at once for refused credentials, make it failing; the report is stored.
async fn connection_tests_move_the_health(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let i = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("create");
    let test = || w.s.integrations.test_connection(&acct, &site, &i.id);
    let get = || w.s.integrations.get(&acct, &site, &i.id);

    let report = test().await.expect("test");
    assert!(report.success && report.can_publish && report.can_upload);
    let after = get().await.expect("get");
    assert_eq!(after.health.status, HealthStatus::Healthy);
    assert_eq!(after.health.last_success_at.as_deref(), Some("2026-12-02T00:00:00Z"));
    assert_eq!(after.connection.as_ref(), Some(&report));

    w.wordpress.fail_next(Call::TestConnection, 3, PlatformError::Unreachable { message: "connection refused".into() });
    for (n, status) in [(1, HealthStatus::Degraded), (2, HealthStatus::Degraded), (3, HealthStatus::Failing)] {
        w.clock.advance_ms(1000);
        let report = test().await.expect("a failed test is a report");
        assert!(!report.success);
        assert_eq!(report.error.as_ref().map(|e| e.code.as_str()), Some("platform_unreachable"));
        let health = get().await.expect("get").health;
        assert_eq!((health.status, health.consecutive_failures), (status, n));
        assert_eq!(health.last_error.map(|e| e.message), Some("connection refused".to_string()));
    }
    test().await.expect("test");
    let health = get().await.expect("get").health;
    assert_eq!((health.status, health.consecutive_failures), (HealthStatus::Healthy, 0));

    w.wordpress.fail_next(
        Call::TestConnection,
        1,
        PlatformError::BadCredentials {
            platform_code: Some("incorrect_password".into()),
            message: "The password you entered is incorrect.".into(),
        },
    );
    let report = test().await.expect("report");
    let error = report.error.expect("error");
    assert_eq!((error.code.as_str(), error.platform_code.as_deref()), ("bad_credentials", Some("incorrect_password")));
    let after = get().await.expect("get");
    assert_eq!((after.health.status, after.health.consecutive_failures), (HealthStatus::Failing, 1));
    assert!(!after.connection.expect("stored").success);
    assert_eq!(w.wordpress.calls(Call::TestConnection), 6);
    assert_eq!(w.shopify.total_calls(), 0);
}

/// Read raw through the store, an integration (and its guard) holds no secret.
async fn no_plaintext_secret_is_stored(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let wp = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("wp");
    let shop = w.s.integrations.create(&acct, &site, shopify()).await.expect("shop");
    let rotated = IntegrationUpdate { credentials: Some(wp_credentials("rotated secret 42")), ..Default::default() };
    w.s.integrations.update(&acct, &site, &wp.id, rotated).await.expect("rotate");
    w.s.integrations.test_connection(&acct, &site, &shop.id).await.expect("test");
    let items = raw_site_items(&w.store, &site).await;
    assert_eq!(items.len(), 4, "two integrations and two guards: {items:?}");
    let secrets = [PASSWORD, "rotated secret 42", "shpat_0123456789abcdef", "shpat_"];
    for item in &items {
        for secret in secrets {
            assert!(!item.contains(secret), "{secret:?} in {item}");
        }
    }
    let raw = w.store.get(&keys::integration(&site, &wp.id)).await.expect("get").expect("item");
    assert_eq!(raw["credentials"]["algorithm"], "AES-256-GCM");
    for gsi in ["GSI1PK", "GSI1SK"] {
        assert!(raw.contains_key(gsi), "active and sync-enabled: indexed");
    }
}

/// The sealed credentials of one integration copied into another (another site of the
/// same account, or another account's) do not open: `credentials_unreadable`.
async fn a_sealed_blob_moved_to_another_integration_does_not_open(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let (site_a, site_b) = (site(&w, &acct).await, site(&w, &acct).await);
    let other = account(&w).await;
    let site_c = site(&w, &other).await;
    let a = w.s.integrations.create(&acct, &site_a, wordpress("https://a.example.com")).await.expect("a");
    let b = w.s.integrations.create(&acct, &site_b, wordpress("https://b.example.com")).await.expect("b");
    let c = w.s.integrations.create(&other, &site_c, wordpress("https://c.example.com")).await.expect("c");
    for (acct, site, target) in [(&acct, &site_b, &b), (&other, &site_c, &c)] {
        let key = keys::integration(site, &target.id);
        let mut item = w.store.get(&key).await.expect("get").expect("item");
        item.insert("credentials".into(), serde_json::to_value(&a.credentials).expect("json"));
        w.store.put(item, None).await.expect("overwrite");
        let moved = w.s.integrations.get(acct, site, &target.id).await.expect("get");
        assert_eq!(moved.credentials, a.credentials);
        assert_eq!(code(w.s.integrations.destination(&moved).await), "credentials_unreadable");
        let err = w.s.integrations.test_connection(acct, site, &target.id).await;
        assert_eq!(code(err), "credentials_unreadable");
    }
    assert_eq!(w.wordpress.calls(Call::TestConnection), 0, "nothing was sent");
    let own = w.s.integrations.destination(&a).await.expect("a still opens");
    assert_eq!(own.credentials.secrets(), vec![PASSWORD]);
}

/// Metadata sync stores what the platform has; sync records set the status, the last
/// error and the health.
async fn metadata_sync_and_sync_records(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let i = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("create");
    let term = |id: &str, name: &str| RemoteTerm { id: id.into(), name: name.into(), slug: name.to_lowercase() };
    w.wordpress.set_metadata(SiteMetadata {
        categories: vec![term("1", "News"), term("2", "Guides")],
        tags: vec![term("9", "Tips")],
        authors: vec![term("1", "Admin")],
        synced_at: String::new(),
    });
    w.clock.advance_ms(5000);
    let metadata = w.s.integrations.sync_metadata(&i).await.expect("sync metadata");
    assert_eq!(metadata.categories.len(), 2);
    assert_eq!(metadata.synced_at, "2026-12-02T00:00:05Z");
    let stored = w.s.integrations.get(&acct, &site, &i.id).await.expect("get");
    assert_eq!(stored.metadata.as_ref(), Some(&metadata));

    w.wordpress.fail_next(
        Call::FetchMetadata,
        1,
        PlatformError::Throttled { retry_after: None, message: "slow down".into() },
    );
    let err = w.s.integrations.sync_metadata(&stored).await;
    assert!(matches!(&err, Err(IntegrationError::Platform(PlatformError::Throttled { .. }))), "{err:?}");
    let fault = err.err().map(|e| match e {
        IntegrationError::Platform(p) => p.fault(),
        other => panic!("{other:?}"),
    });
    let failed = w.s.integrations.record_sync(&stored, Err(fault.clone().expect("fault"))).await.expect("record");
    assert_eq!(failed.sync_status, SyncStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("slow down"));
    assert_eq!(failed.last_sync_at.as_deref(), Some("2026-12-02T00:00:05Z"));
    assert_eq!((failed.health.status, failed.health.consecutive_failures), (HealthStatus::Degraded, 1));
    assert_eq!(failed.metadata.as_ref(), Some(&metadata), "the last good metadata is kept");
    w.clock.advance_ms(1000);
    let ok = w.s.integrations.record_sync(&stored, Ok(())).await.expect("record");
    assert_eq!((ok.sync_status, ok.last_error.as_deref()), (SyncStatus::Ok, None));
    assert_eq!(
        (ok.health.status, ok.health.last_success_at.as_deref()),
        (HealthStatus::Healthy, Some("2026-12-02T00:00:06Z"))
    );
    assert_eq!(w.s.integrations.get(&acct, &site, &i.id).await.expect("get"), ok);
}

/// The scheduled sync's view pages through every account's active, sync-enabled
/// integrations and nothing else.
async fn sync_candidates_page_across_accounts(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let mut expected = BTreeSet::new();
    for n in 0..3 {
        let acct = account(&w).await;
        for _ in 0..2 {
            let site = site(&w, &acct).await;
            let wp = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("wp");
            expected.insert(wp.id.clone());
            let shop = NewIntegration { sync_enabled: n != 1, ..shopify() };
            let shop = w.s.integrations.create(&acct, &site, shop).await.expect("shop");
            if n != 1 {
                expected.insert(shop.id.clone());
            }
            if n == 2 {
                let off = IntegrationUpdate { active: Some(false), ..IntegrationUpdate::default() };
                w.s.integrations.update(&acct, &site, &wp.id, off).await.expect("deactivate");
                expected.remove(&wp.id);
            }
        }
    }
    assert_eq!(expected.len(), 8);
    let (mut seen, mut cursor, mut pages) = (Vec::<SiteIntegration>::new(), None, 0);
    loop {
        let (items, next) = w.s.integrations.sync_candidates(cursor, 3).await.expect("page");
        assert!(items.len() <= 3);
        pages += 1;
        seen.extend(items);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(pages >= 3, "{pages} pages");
    let ids: Vec<IntegrationId> = seen.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), expected.len(), "no duplicates: {ids:?}");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(seen.iter().all(|i| i.active && i.sync_enabled));
    let accounts: BTreeSet<_> = seen.iter().map(|i| i.account_id.clone()).collect();
    assert_eq!(accounts.len(), 3);
    // Turning sync back on puts an integration back in the view.
    let back = seen[0].clone();
    let off = IntegrationUpdate { sync_enabled: Some(false), ..IntegrationUpdate::default() };
    w.s.integrations.update(&back.account_id, &back.site_id, &back.id, off).await.expect("off");
    let (items, _) = w.s.integrations.sync_candidates(None, 100).await.expect("page");
    assert_eq!(items.len(), 7);
    let on = IntegrationUpdate { sync_enabled: Some(true), ..IntegrationUpdate::default() };
    w.s.integrations.update(&back.account_id, &back.site_id, &back.id, on).await.expect("on");
    let (items, _) = w.s.integrations.sync_candidates(None, 100).await.expect("page");
    assert_eq!(items.len(), 8);
}

/// A deployment without a key provider refuses to store credentials it cannot seal.
async fn without_ports_integrations_are_unavailable(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let bare = Services::with(Arc::clone(&store), w.clock.clone(), Arc::new(UuidIds));
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let err = bare.integrations.create(&acct, &site, wordpress("https://a.example.com")).await;
    assert_eq!(code(err), "integrations_unavailable");
    assert!(raw_site_items(&store, &site).await.is_empty());
}

/// On the embedded default the password appears nowhere in the data directory: not in
/// the SQLite file, its journal or WAL, nor in the key file's directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_data_directory_holds_no_plaintext() {
    let h = igny8_tests::Harness::sqlite();
    let w = world(&h.store);
    let acct = account(&w).await;
    let site = site(&w, &acct).await;
    let i = w.s.integrations.create(&acct, &site, wordpress("https://a.example.com")).await.expect("create");
    let rotated = IntegrationUpdate { credentials: Some(wp_credentials("second secret pw")), ..Default::default() };
    w.s.integrations.update(&acct, &site, &i.id, rotated).await.expect("rotate");
    w.s.integrations.test_connection(&acct, &site, &i.id).await.expect("test");
    let db_dir = h.sqlite_path().expect("sqlite").parent().expect("dir").to_path_buf();
    let (mut files, mut control) = (0, false);
    for dir in [db_dir, w._dir.path().to_path_buf()] {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).expect("read");
                files += 1;
                control |= bytes.windows(13).any(|w| w == b"a.example.com");
                for secret in [PASSWORD, "second secret pw"] {
                    let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                    assert!(!found, "{secret:?} in {}", path.display());
                }
            }
        }
    }
    assert!(files >= 2, "the SQLite file and the key file were searched");
    assert!(control, "the search sees stored plain fields (the site URL), so it would see a password");
}
