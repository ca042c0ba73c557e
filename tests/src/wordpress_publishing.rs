//! The full publisher on the embedded family (SQLite store, blob folder, local key
//! file) with a WordPress integration, and articles written as a run leaves them after
//! the images stage: shared by the publishing bench and the end-to-end test on the real
//! WordPress.

use std::sync::Arc;

use igny8_core::domain::{
    AccountId, ClusterId, ContentId, ContentStatus, Credentials, ImageId, ImageRecord, ImageStatus, IntegrationId,
    RunId, SiteId,
};
use igny8_core::integration::{CredentialVault, IntegrationPorts, NewIntegration};
use igny8_core::ports::{BlobStore, ItemStore, Platforms, PublishingPlatform, SystemClock, UuidIds};
use igny8_core::repo::pipeline::transact_counted;
use igny8_core::repo::Records;
use igny8_core::Services;
use igny8_embedded::{BlobDir, LocalKeyFile, SqliteStore};

use crate::articles::ArticleRecords;
use crate::wordpress::{WordPress, WpUser};

/// The embedded family with integrations, publishing through a platform client.
pub struct Publisher {
    /// The services, integrations wired.
    pub services: Services,
    /// The SQLite store.
    pub store: Arc<dyn ItemStore>,
    /// The blob folder with the images.
    pub blobs: Arc<BlobDir>,
    /// The account.
    pub account: AccountId,
    /// Its site.
    pub site: SiteId,
    /// The site's WordPress integration.
    pub integration: IntegrationId,
    _dir: tempfile::TempDir,
}

/// Services with a WordPress integration for `user` on `wp`, publishing through `client`.
pub async fn publisher(wp: &WordPress, user: &WpUser, client: Arc<dyn PublishingPlatform>) -> Publisher {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("bench.sqlite")).expect("sqlite"));
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let keys = Arc::new(LocalKeyFile::new(dir.path().join("keys").join("master.key")));
    let ports = IntegrationPorts {
        vault: CredentialVault::new(keys),
        platforms: Platforms::new().with(client),
        blobs: blobs.clone(),
    };
    let services =
        Services::with(Arc::clone(&store), Arc::new(SystemClock), Arc::new(UuidIds)).with_integrations(ports);
    let (account, _) = services.account_service.create_account("Bench", 0).await.expect("account");
    let site = services.account_service.create_site(&account.id, "Bench", "bench.example.com").await.expect("site");
    let new = NewIntegration {
        platform: "wordpress".into(),
        base_url: wp.url.clone(),
        credentials: Credentials::WordpressAppPassword {
            username: user.username.clone(),
            app_password: user.app_password.clone(),
        },
        sync_enabled: true,
    };
    let integration = services.integrations.create(&account.id, &site.id, new).await.expect("integration").id;
    Publisher { services, store, blobs, account: account.id, site: site.id, integration, _dir: dir }
}

/// Writes an article as a run leaves it after the images stage: its cluster (one of
/// four, the category), idea (its secondary keywords are the tags), task, the article
/// and its two images in the blob folder.
pub async fn write_article(p: &Publisher, slug: &str, images: &[Vec<u8>], n: usize) -> ContentId {
    let seed = format!("{}/{}", p.site, slug);
    let run = RunId::derive("bench-run");
    let now = "2026-12-02T06:00:00Z".to_owned();
    let topic = ClusterId::derive(&format!("{}/cluster-{}", p.site, n % 4));
    let mut records = ArticleRecords::new(&p.account, &p.site, &run, &seed, &now).in_cluster(topic);
    let ArticleRecords { cluster, idea, content, .. } = &mut records;
    cluster.name = format!("Garden topic {}", n % 4);
    cluster.pillar_keyword = format!("garden topic {}", n % 4);
    idea.title = format!("Bench {}", slug);
    idea.secondary_keywords = vec!["garden tools".into(), "lawn care".into()];
    content.title = format!("Bench {}", slug);
    content.html = format!("<h1>Bench {}</h1><p>Intro.</p><h2>Fit</h2><p>Fit.</p><h2>Grip</h2><p>Grip.</p>", slug);
    content.word_count = 6;
    content.meta_description = "A benchmark article.".into();
    content.status = ContentStatus::PromptsReady;
    let content = records.content.clone();
    let mut writes = records.writes(&p.store);
    // Clusters are shared by articles: the first article of each writes it.
    if n >= 4 {
        writes.remove(0);
    }
    for (i, png) in images.iter().enumerate() {
        let key = format!("images/{}/{i}.png", content.id);
        p.blobs.put(&key, png.clone(), "image/png").await.expect("blob");
        let image = ImageRecord {
            id: ImageId::derive(&format!("{}/{i}", content.id)),
            account_id: p.account.clone(),
            site_id: p.site.clone(),
            content_id: content.id.clone(),
            run_id: run.clone(),
            prompt: "a garden".into(),
            alt_text: format!("garden {i}"),
            placement: if i == 0 { "featured" } else { "in_article" }.into(),
            heading: Some("Fit".into()),
            status: ImageStatus::Generated,
            blob_key: Some(key),
            created_at: now.clone(),
        };
        writes.push(Records::<ImageRecord>::new(Arc::clone(&p.store)).create(&image).expect("image"));
    }
    transact_counted(&*p.store, writes).await.expect("write article");
    content.id
}
