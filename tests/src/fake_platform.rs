//! A scripted, recording in-memory [`PublishingPlatform`] for the integration,
//! publishing and sync tests: it keeps posts and media in memory the way WordPress does
//! (numeric ids, slugs made unique with `-2`, an unknown `featured_media` silently
//! ignored, deleted posts gone), counts the calls of each method, and can be told to
//! fail the next calls of a method or to "lose the reply" of a create (the post exists
//! remotely but the caller sees an error: a crash between the remote create and the
//! local record).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use igny8_core::domain::{ConnectionReport, Credentials, Platform, RemoteIdentity, RemoteTerm, SiteMetadata};
use igny8_core::ports::{
    ArticlePayload, Destination, MediaUpload, PlatformError, PublishingPlatform, RemoteMedia, RemotePost, SeoField,
};

/// A method of [`PublishingPlatform`], for counting calls and scripting failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    /// `test_connection`.
    TestConnection,
    /// `upload_media`.
    UploadMedia,
    /// `find_post_by_slug`.
    FindPostBySlug,
    /// `create_post`.
    CreatePost,
    /// `update_post`.
    UpdatePost,
    /// `fetch_post`.
    FetchPost,
    /// `fetch_metadata`.
    FetchMetadata,
}

/// A post as the fake platform holds it: what it answers and the last payload sent.
#[derive(Debug, Clone)]
pub struct FakePost {
    /// What the platform answers for it.
    pub remote: RemotePost,
    /// The last article sent for it (create or update).
    pub article: ArticlePayload,
    /// Times it was updated after the create.
    pub updates: u32,
}

/// An uploaded image as the fake platform holds it.
#[derive(Debug, Clone)]
pub struct FakeMedia {
    /// What the platform answered.
    pub remote: RemoteMedia,
    /// What was uploaded.
    pub upload: MediaUpload,
}

#[derive(Default)]
struct State {
    calls: BTreeMap<Call, u32>,
    failures: BTreeMap<Call, VecDeque<PlatformError>>,
    lost_create_replies: u32,
    posts: BTreeMap<u64, FakePost>,
    media: BTreeMap<u64, FakeMedia>,
    next_id: u64,
    clock: u64,
    metadata: SiteMetadata,
    expected: Option<Credentials>,
    can_publish: bool,
    can_upload: bool,
    seo_fields: BTreeSet<String>,
    latency: Option<Duration>,
}

/// The scripted platform. Share it as `Arc<FakePlatform>` between the
/// [`igny8_core::ports::Platforms`] under test and the test's assertions.
pub struct FakePlatform {
    platform: Platform,
    state: Mutex<State>,
}

impl FakePlatform {
    /// An empty site of `platform` where the user may publish and upload, every SEO
    /// field is exposed, and any credentials of the right platform are accepted.
    pub fn new(platform: Platform) -> Arc<Self> {
        let state = State {
            next_id: 100,
            can_publish: true,
            can_upload: true,
            seo_fields: SeoField::ALL.iter().map(|f| f.name().to_string()).collect(),
            metadata: SiteMetadata {
                categories: vec![term(1, "Uncategorized")],
                tags: Vec::new(),
                authors: vec![term(1, "admin")],
                synced_at: String::new(),
            },
            ..State::default()
        };
        Arc::new(Self { platform, state: Mutex::new(state) })
    }

    /// A fake WordPress site.
    pub fn wordpress() -> Arc<Self> {
        Self::new(Platform::Wordpress)
    }

    /// A fake Shopify store.
    pub fn shopify() -> Arc<Self> {
        Self::new(Platform::Shopify)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed; keep reading.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many times `call` was made (failed ones included).
    pub fn calls(&self, call: Call) -> u32 {
        self.state().calls.get(&call).copied().unwrap_or(0)
    }

    /// Every call made, all methods together.
    pub fn total_calls(&self) -> u32 {
        self.state().calls.values().sum()
    }

    /// The next `times` calls of `call` fail with `error` (queued after earlier ones).
    /// For `test_connection` the failure is a report with `success=false`.
    pub fn fail_next(&self, call: Call, times: u32, error: PlatformError) {
        let mut state = self.state();
        let queue = state.failures.entry(call).or_default();
        for _ in 0..times {
            queue.push_back(error.clone());
        }
    }

    /// The next `times` creates make the post remotely but answer with an error (the
    /// reply was lost: a crash between the remote create and the local record).
    pub fn lose_create_replies(&self, times: u32) {
        self.state().lost_create_replies += times;
    }

    /// Only these credentials are accepted; any other ones get `bad_credentials`
    /// (`rest_not_logged_in`) from every method.
    pub fn expect_credentials(&self, credentials: Credentials) {
        self.state().expected = Some(credentials);
    }

    /// Whether the user may publish (a contributor may not: publishing or scheduling
    /// is then 403 `rest_cannot_publish`, drafts still work).
    pub fn set_can_publish(&self, can: bool) {
        self.state().can_publish = can;
    }

    /// Whether the user may upload files (otherwise 403 `rest_cannot_create`).
    pub fn set_can_upload(&self, can: bool) {
        self.state().can_upload = can;
    }

    /// The SEO fields the site exposes (by [`SeoField::name`]); others sent are
    /// reported as rejected.
    pub fn set_seo_fields(&self, fields: &[&str]) {
        self.state().seo_fields = fields.iter().map(|f| f.to_string()).collect();
    }

    /// What `fetch_metadata` answers.
    pub fn set_metadata(&self, metadata: SiteMetadata) {
        self.state().metadata = metadata;
    }

    /// Every call waits this long first (for concurrency and throughput tests).
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = Some(latency);
    }

    /// Every post that exists remotely, oldest first.
    pub fn posts(&self) -> Vec<FakePost> {
        self.state().posts.values().cloned().collect()
    }

    /// The post with this remote id.
    pub fn post(&self, remote_id: &str) -> Option<FakePost> {
        let id = remote_id.parse::<u64>().ok()?;
        self.state().posts.get(&id).cloned()
    }

    /// Every uploaded image, oldest first.
    pub fn media(&self) -> Vec<FakeMedia> {
        self.state().media.values().cloned().collect()
    }

    /// Deletes a post remotely (as an editor would in WordPress); true if it existed.
    pub fn delete_post(&self, remote_id: &str) -> bool {
        let Ok(id) = remote_id.parse::<u64>() else { return false };
        self.state().posts.remove(&id).is_some()
    }

    /// Changes a post's status remotely (e.g. `trash`, `draft`) and its modified time.
    pub fn set_post_status(&self, remote_id: &str, status: &str) -> bool {
        let Ok(id) = remote_id.parse::<u64>() else { return false };
        let mut state = self.state();
        let modified = state.tick();
        match state.posts.get_mut(&id) {
            Some(post) => {
                post.remote.status = status.to_string();
                post.remote.modified = Some(modified);
                true
            }
            None => false,
        }
    }

    async fn begin(&self, call: Call, destination: &Destination) -> Result<(), PlatformError> {
        let latency = {
            let mut state = self.state();
            *state.calls.entry(call).or_insert(0) += 1;
            state.latency
        };
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        let mut state = self.state();
        if let Some(error) = state.failures.get_mut(&call).and_then(VecDeque::pop_front) {
            return Err(error);
        }
        let refused = destination.platform != self.platform
            || destination.credentials.platform() != self.platform
            || state.expected.as_ref().is_some_and(|expected| *expected != destination.credentials);
        if refused {
            return Err(PlatformError::BadCredentials {
                platform_code: Some("rest_not_logged_in".into()),
                message: "You are not currently logged in.".into(),
            });
        }
        Ok(())
    }

    fn write_post(
        state: &mut State,
        id: u64,
        destination: &Destination,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        if !state.can_publish && article.status != igny8_core::domain::RemoteStatus::Draft {
            return Err(PlatformError::Forbidden {
                platform_code: Some("rest_cannot_publish".into()),
                message: "Sorry, you are not allowed to publish posts as this user.".into(),
            });
        }
        let slug = unique_slug(state, id, &article.slug);
        let featured_media = article
            .featured_media
            .as_ref()
            .filter(|m| m.parse::<u64>().ok().is_some_and(|m| state.media.contains_key(&m)))
            .cloned();
        let (mut seo_accepted, mut seo_rejected) = (Vec::new(), Vec::new());
        for (field, _) in article.seo.present() {
            if state.seo_fields.contains(field.name()) {
                seo_accepted.push(field.name().to_string());
            } else {
                seo_rejected.push(field.name().to_string());
            }
        }
        let status = match article.status {
            igny8_core::domain::RemoteStatus::Draft => "draft",
            igny8_core::domain::RemoteStatus::Publish => "publish",
            igny8_core::domain::RemoteStatus::Scheduled => "future",
        };
        let remote = RemotePost {
            id: id.to_string(),
            url: Some(format!("{}/{slug}/", destination.base_url.trim_end_matches('/'))),
            status: status.to_string(),
            modified: Some(state.tick()),
            slug,
            featured_media,
            seo_accepted,
            seo_rejected,
            skipped_terms: Vec::new(),
        };
        let updates = state.posts.get(&id).map_or(0, |p| p.updates + 1);
        state.posts.insert(id, FakePost { remote: remote.clone(), article: article.clone(), updates });
        Ok(remote)
    }
}

impl State {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A strictly increasing RFC 3339 time, one second per change.
    fn tick(&mut self) -> String {
        self.clock += 1;
        let (h, m, s) = (self.clock / 3600 % 24, self.clock / 60 % 60, self.clock % 60);
        format!("2026-01-01T{h:02}:{m:02}:{s:02}Z")
    }
}

fn term(id: u64, name: &str) -> RemoteTerm {
    RemoteTerm { id: id.to_string(), name: name.to_string(), slug: name.to_ascii_lowercase().replace(' ', "-") }
}

/// WordPress keeps slugs unique by appending `-2`, `-3`…
fn unique_slug(state: &State, id: u64, wanted: &str) -> String {
    let taken = |slug: &str| state.posts.iter().any(|(other, p)| *other != id && p.remote.slug == slug);
    if !taken(wanted) {
        return wanted.to_string();
    }
    (2..).map(|n| format!("{wanted}-{n}")).find(|s| !taken(s)).unwrap_or_default()
}

#[async_trait]
impl PublishingPlatform for FakePlatform {
    fn platform(&self) -> Platform {
        self.platform
    }

    async fn test_connection(&self, destination: &Destination) -> ConnectionReport {
        let outcome = self.begin(Call::TestConnection, destination).await;
        let state = self.state();
        let ok = outcome.is_ok();
        ConnectionReport {
            success: ok,
            platform: self.platform,
            error: outcome.err().map(|e| e.fault()),
            identity: ok.then(|| RemoteIdentity {
                id: "1".into(),
                name: "fake user".into(),
                roles: vec![if state.can_publish { "author" } else { "contributor" }.into()],
            }),
            can_publish: ok && state.can_publish,
            can_upload: ok && state.can_upload,
            api_root: Some(format!("{}/wp-json/", destination.base_url.trim_end_matches('/'))),
            version: ok.then(|| "6.1".to_string()),
            scopes: Vec::new(),
            rate_limit: None,
            checked_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    async fn upload_media(&self, destination: &Destination, media: &MediaUpload) -> Result<RemoteMedia, PlatformError> {
        self.begin(Call::UploadMedia, destination).await?;
        let mut state = self.state();
        if !state.can_upload {
            return Err(PlatformError::Forbidden {
                platform_code: Some("rest_cannot_create".into()),
                message: "Sorry, you are not allowed to upload files.".into(),
            });
        }
        let id = state.next();
        let remote = RemoteMedia {
            id: id.to_string(),
            url: format!("{}/wp-content/uploads/{}", destination.base_url.trim_end_matches('/'), media.filename),
        };
        state.media.insert(id, FakeMedia { remote: remote.clone(), upload: media.clone() });
        Ok(remote)
    }

    async fn find_post_by_slug(
        &self,
        destination: &Destination,
        slug: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        self.begin(Call::FindPostBySlug, destination).await?;
        Ok(self.state().posts.values().find(|p| p.remote.slug == slug).map(|p| p.remote.clone()))
    }

    async fn create_post(
        &self,
        destination: &Destination,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        self.begin(Call::CreatePost, destination).await?;
        let mut state = self.state();
        let id = state.next();
        let created = Self::write_post(&mut state, id, destination, article)?;
        if state.lost_create_replies > 0 {
            state.lost_create_replies -= 1;
            return Err(PlatformError::Unreachable { message: "connection reset before the reply (lost)".into() });
        }
        Ok(created)
    }

    async fn update_post(
        &self,
        destination: &Destination,
        remote_id: &str,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError> {
        self.begin(Call::UpdatePost, destination).await?;
        let mut state = self.state();
        let id = remote_id.parse::<u64>().ok().filter(|id| state.posts.contains_key(id)).ok_or_else(|| {
            PlatformError::NotFound { message: format!("no post {remote_id} (rest_post_invalid_id)") }
        })?;
        Self::write_post(&mut state, id, destination, article)
    }

    async fn fetch_post(
        &self,
        destination: &Destination,
        remote_id: &str,
    ) -> Result<Option<RemotePost>, PlatformError> {
        self.begin(Call::FetchPost, destination).await?;
        let state = self.state();
        Ok(remote_id
            .parse::<u64>()
            .ok()
            .and_then(|id| state.posts.get(&id))
            .filter(|p| p.remote.status != "trash")
            .map(|p| p.remote.clone()))
    }

    async fn fetch_metadata(&self, destination: &Destination) -> Result<SiteMetadata, PlatformError> {
        self.begin(Call::FetchMetadata, destination).await?;
        let mut state = self.state();
        let synced_at = state.tick();
        Ok(SiteMetadata { synced_at, ..state.metadata.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_core::domain::RemoteStatus;
    use igny8_core::ports::SeoFields;

    fn destination() -> Destination {
        Destination {
            platform: Platform::Wordpress,
            base_url: "https://blog.example.com/".into(),
            credentials: Credentials::WordpressAppPassword { username: "u".into(), app_password: "p".into() },
        }
    }

    fn article(slug: &str, status: RemoteStatus, featured: Option<String>) -> ArticlePayload {
        ArticlePayload {
            title: "Title".into(),
            slug: slug.into(),
            html: "<p>x</p>".into(),
            excerpt: String::new(),
            status,
            publish_at: None,
            categories: Vec::new(),
            tags: Vec::new(),
            featured_media: featured,
            author_name: None,
            seo: SeoFields { title: Some("t".into()), description: Some("d".into()), ..SeoFields::default() },
        }
    }

    fn image() -> MediaUpload {
        MediaUpload {
            filename: "a.png".into(),
            content_type: "image/png".into(),
            bytes: vec![1, 2, 3],
            alt_text: "alt".into(),
            title: "A".into(),
        }
    }

    #[tokio::test]
    async fn behaves_like_wordpress_for_slugs_featured_media_and_seo() {
        let fake = FakePlatform::wordpress();
        let d = destination();
        fake.set_seo_fields(&["seo_title"]);
        let media = fake.upload_media(&d, &image()).await.expect("upload");
        let first =
            fake.create_post(&d, &article("hello", RemoteStatus::Publish, Some(media.id))).await.expect("create");
        assert_eq!((first.status.as_str(), first.slug.as_str()), ("publish", "hello"));
        assert_eq!(first.url.as_deref(), Some("https://blog.example.com/hello/"));
        assert!(first.featured_media.is_some());
        assert_eq!(
            (first.seo_accepted, first.seo_rejected),
            (vec!["seo_title".into()], vec!["seo_description".into()])
        );
        let second =
            fake.create_post(&d, &article("hello", RemoteStatus::Draft, Some("999".into()))).await.expect("2nd");
        assert_eq!(second.slug, "hello-2");
        assert_eq!(second.featured_media, None, "an unknown featured media id is silently ignored");
        let updated = fake.update_post(&d, &first.id, &article("hello", RemoteStatus::Scheduled, None)).await;
        assert_eq!(updated.expect("update").status, "future");
        assert_eq!(fake.post(&first.id).expect("post").updates, 1);
        assert_eq!(fake.calls(Call::CreatePost), 2);
        assert!(fake.delete_post(&second.id));
        assert_eq!(fake.fetch_post(&d, &second.id).await.expect("fetch"), None);
        assert!(fake.set_post_status(&first.id, "trash"));
        assert_eq!(fake.fetch_post(&d, &first.id).await.expect("fetch"), None);
        let missing = fake.update_post(&d, "12345", &article("x", RemoteStatus::Draft, None)).await;
        assert_eq!(missing.err().map(|e| e.code()), Some("remote_not_found"));
    }

    #[tokio::test]
    async fn scripted_failures_lost_replies_and_refusals() {
        let fake = FakePlatform::wordpress();
        let d = destination();
        fake.lose_create_replies(1);
        let lost = fake.create_post(&d, &article("lost", RemoteStatus::Publish, None)).await;
        assert!(lost.as_ref().is_err_and(PlatformError::is_transient), "{lost:?}");
        let found = fake.find_post_by_slug(&d, "lost").await.expect("find").expect("created remotely");
        assert_eq!(fake.posts().len(), 1);
        assert_eq!(found.slug, "lost");

        fake.fail_next(Call::UploadMedia, 2, PlatformError::Throttled { retry_after: None, message: "429".into() });
        assert!(fake.upload_media(&d, &image()).await.is_err());
        assert!(fake.upload_media(&d, &image()).await.is_err());
        assert!(fake.upload_media(&d, &image()).await.is_ok());
        assert_eq!(fake.calls(Call::UploadMedia), 3);

        fake.set_can_publish(false);
        let refused = fake.create_post(&d, &article("c", RemoteStatus::Publish, None)).await;
        assert_eq!(
            refused.err().and_then(|e| e.platform_code().map(str::to_string)).as_deref(),
            Some("rest_cannot_publish")
        );
        assert!(fake.create_post(&d, &article("c", RemoteStatus::Draft, None)).await.is_ok());
        assert!(!fake.test_connection(&d).await.can_publish);

        fake.expect_credentials(Credentials::WordpressAppPassword { username: "u".into(), app_password: "q".into() });
        let report = fake.test_connection(&d).await;
        assert!(!report.success);
        assert_eq!(report.error.map(|e| e.code), Some("bad_credentials".to_string()));
        assert_eq!(fake.fetch_metadata(&d).await.err().map(|e| e.code()), Some("bad_credentials"));
    }
}
