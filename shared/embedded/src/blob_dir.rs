//! Blob store on a folder: each key is a file below the root.
//!
//! Keys pass [`validate_key`], so a key always names a file strictly inside the root.
//! A put writes a temporary file in the target's own directory and renames it over the
//! target, so a reader (in this process or another) sees the old body or the new one,
//! never half a file. Content types are not kept: `presigned_get` hands out `file://`
//! links, which carry none. All file-system work runs on the blocking pool.
//!
//! Unlike S3, a folder cannot hold both `a` and `a/b`: the second put of such a pair
//! fails with [`BlobError::Backend`].

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use igny8_core::ports::blob::{validate_key, validate_prefix, BlobError, BlobInfo, BlobStore};

/// File names of in-flight puts start with this; listings skip them.
const TEMP_PREFIX: &str = ".blobtmp-";

/// The embedded blob store: a folder on disk.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: Arc<PathBuf>,
}

fn backend(context: impl std::fmt::Display, e: impl std::fmt::Display) -> BlobError {
    BlobError::Backend(format!("{context}: {e}"))
}

/// True for errors that mean "nothing is stored there" (missing file, or a path
/// component that is a file, or the path is a directory).
fn is_absent(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory)
}

/// True when `name` is the temporary file of an unfinished put.
fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl BlobDir {
    /// Opens (creating if needed) the folder; the root is made absolute so links made
    /// by [`BlobStore::presigned_get`] work from any working directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|e| backend(root.display(), e))?;
        let root = root.canonicalize().map_err(|e| backend(root.display(), e))?;
        Ok(Self { root: Arc::new(root) })
    }

    /// The folder the blobs live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a (validated) key maps to.
    fn path_of(root: &Path, key: &str) -> PathBuf {
        key.split('/').fold(root.to_path_buf(), |path, segment| path.join(segment))
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, BlobError>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, BlobError> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || work(&root)).await.map_err(|e| backend("blocking task", e))?
    }
}

/// Writes `body` to `target` through a synced temporary file and a rename.
fn write_atomically(target: &Path, body: &[u8]) -> Result<(), BlobError> {
    let dir = target.parent().ok_or_else(|| backend(target.display(), "has no parent"))?;
    std::fs::create_dir_all(dir).map_err(|e| backend(dir.display(), e))?;
    let temp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temp)?;
        file.write_all(body)?;
        file.sync_all()?;
        drop(file);
        if target.is_dir() {
            return Err(std::io::Error::new(ErrorKind::IsADirectory, "a directory of other blobs is in the way"));
        }
        std::fs::rename(&temp, target)
    })();
    if let Err(e) = written {
        // Best effort: a leftover temp file is skipped by listings anyway.
        let _ = std::fs::remove_file(&temp);
        return Err(backend(target.display(), e));
    }
    Ok(())
}

/// Collects every blob file below `dir`, whose key starts with `key_dir`.
fn walk(dir: &Path, key_dir: &str, out: &mut Vec<BlobInfo>) -> Result<(), BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(e.kind()) => return Ok(()),
        Err(e) => return Err(backend(dir.display(), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| backend(dir.display(), e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // not UTF-8: cannot be a key
        };
        let key = format!("{key_dir}{name}");
        // Not followed through links: a link never makes a key escape the root.
        let kind = entry.file_type().map_err(|e| backend(entry.path().display(), e))?;
        if kind.is_dir() {
            walk(&entry.path(), &format!("{key}/"), out)?;
        } else if kind.is_file() && !is_temp_name(&name) {
            let size = entry.metadata().map_err(|e| backend(entry.path().display(), e))?.len();
            out.push(BlobInfo { key, size });
        }
    }
    Ok(())
}

/// Percent-encodes a path for a `file://` URL (unreserved characters and '/' kept).
fn file_url(path: &Path) -> Result<String, BlobError> {
    let text = path.to_str().ok_or_else(|| backend(path.display(), "path is not UTF-8"))?;
    let mut url = String::from("file://");
    if !text.starts_with('/') {
        url.push('/'); // Windows drive paths: file:///C:/...
    }
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                url.push(char::from(byte));
            }
            b'\\' => url.push('/'),
            b':' if cfg!(windows) => url.push(':'),
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    Ok(url)
}

#[async_trait]
impl BlobStore for BlobDir {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |root| write_atomically(&Self::path_of(root, &key), &body)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |root| {
            let path = Self::path_of(root, &key);
            match std::fs::read(&path) {
                Ok(body) => Ok(Some(body)),
                Err(e) if is_absent(e.kind()) => Ok(None),
                Err(e) => Err(backend(path.display(), e)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>, BlobError> {
        validate_prefix(prefix)?;
        let prefix = prefix.to_owned();
        self.blocking(move |root| {
            // Only the directory the prefix implies is walked: "a/b/c" → root/a/b.
            let key_dir = prefix.rfind('/').map_or("", |last| &prefix[..=last]);
            let dir = match key_dir.strip_suffix('/') {
                Some(d) => Self::path_of(root, d),
                None => root.to_path_buf(),
            };
            let mut out = Vec::new();
            walk(&dir, key_dir, &mut out)?;
            out.retain(|info| info.key.starts_with(&prefix));
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn presigned_get(&self, key: &str, _expires_in: Duration) -> Result<String, BlobError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |root| {
            let path = Self::path_of(root, &key);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => file_url(&path),
                Ok(_) => Err(BlobError::NotFound(key)),
                Err(e) if is_absent(e.kind()) => Err(BlobError::NotFound(key)),
                Err(e) => Err(backend(path.display(), e)),
            }
        })
        .await
    }

    // presigned_put: the port's default (None): a folder serves no HTTP, so the local
    // API receives uploads and puts them here.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobDir::open(dir.path().join("blobs")).expect("open");
        (dir, store)
    }

    fn keys(infos: &[BlobInfo]) -> Vec<&str> {
        infos.iter().map(|i| i.key.as_str()).collect()
    }

    #[tokio::test]
    async fn put_get_and_overwrite() {
        let (_dir, store) = store();
        assert_eq!(store.get("sites/1/a.png").await.expect("get"), None);
        store.put("sites/1/a.png", b"first".to_vec(), "image/png").await.expect("put");
        assert_eq!(store.get("sites/1/a.png").await.expect("get"), Some(b"first".to_vec()));
        store.put("sites/1/a.png", b"2nd".to_vec(), "image/png").await.expect("overwrite");
        assert_eq!(store.get("sites/1/a.png").await.expect("get"), Some(b"2nd".to_vec()));
        store.put("empty", Vec::new(), "text/plain").await.expect("empty body");
        assert_eq!(store.get("empty").await.expect("get"), Some(Vec::new()));
        // A directory of other blobs is not a blob.
        assert_eq!(store.get("sites/1").await.expect("get dir"), None);
        assert_eq!(store.get("sites/1/a.png/x").await.expect("get under file"), None);
        assert!(matches!(store.put("sites/1", b"x".to_vec(), "text/plain").await, Err(BlobError::Backend(_))));
        assert_eq!(store.list("").await.expect("list").len(), 2, "no temp file left behind");
    }

    #[tokio::test]
    async fn list_by_prefix_sorted_with_sizes() {
        let (_dir, store) = store();
        for key in ["b/2", "a/x/1", "a/10", "a/1", "ab", "a/x/2/deep", "c"] {
            store.put(key, key.as_bytes().to_vec(), "text/plain").await.expect("put");
        }
        let all = store.list("").await.expect("list all");
        assert_eq!(keys(&all), ["a/1", "a/10", "a/x/1", "a/x/2/deep", "ab", "b/2", "c"]);
        assert_eq!(all[3].size, "a/x/2/deep".len() as u64);
        assert_eq!(keys(&store.list("a/").await.expect("a/")), ["a/1", "a/10", "a/x/1", "a/x/2/deep"]);
        assert_eq!(keys(&store.list("a").await.expect("a")), ["a/1", "a/10", "a/x/1", "a/x/2/deep", "ab"]);
        assert_eq!(keys(&store.list("a/1").await.expect("a/1")), ["a/1", "a/10"]);
        assert_eq!(keys(&store.list("a/x/").await.expect("a/x/")), ["a/x/1", "a/x/2/deep"]);
        assert!(store.list("zzz/").await.expect("missing dir").is_empty());
        assert!(store.list("c/").await.expect("file as dir").is_empty());
        assert!(matches!(store.list("../").await, Err(BlobError::InvalidKey { .. })));
    }

    #[tokio::test]
    async fn presigned_links_point_at_the_file() {
        let (_dir, store) = store();
        store.put("img/a b.png", b"png".to_vec(), "image/png").await.expect("put");
        let url = store.presigned_get("img/a b.png", Duration::from_secs(60)).await.expect("link");
        assert!(url.starts_with("file:///"), "{url}");
        assert!(url.ends_with("/img/a%20b.png"), "{url}");
        let path = url.trim_start_matches("file://").replace("%20", " ");
        assert_eq!(std::fs::read(path).expect("read link"), b"png");
        assert!(matches!(
            store.presigned_get("img/missing.png", Duration::from_secs(60)).await,
            Err(BlobError::NotFound(k)) if k == "img/missing.png"
        ));
        assert!(matches!(store.presigned_get("img", Duration::from_secs(60)).await, Err(BlobError::NotFound(_))));
        let upload = store.presigned_put("imports/a.csv", "text/csv", Duration::from_secs(60)).await;
        assert!(matches!(upload, Ok(None)), "a folder has no upload link of its own");
        assert!(matches!(
            store.presigned_put("../a.csv", "text/csv", Duration::from_secs(60)).await,
            Err(BlobError::InvalidKey { .. })
        ));
    }

    #[tokio::test]
    async fn invalid_keys_are_refused_everywhere() {
        let (dir, store) = store();
        for key in ["../x", "/abs", "a//b", "", "a/./b", "a\\b"] {
            let refused = |r: Result<(), BlobError>| matches!(r, Err(BlobError::InvalidKey { .. }));
            assert!(refused(store.put(key, b"x".to_vec(), "text/plain").await), "put {key:?}");
            assert!(refused(store.get(key).await.map(drop)), "get {key:?}");
            assert!(refused(store.presigned_get(key, Duration::from_secs(1)).await.map(drop)), "presign {key:?}");
        }
        assert!(!dir.path().join("x").exists(), "nothing escaped the root");
        assert!(store.list("").await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn readers_never_see_half_a_file() {
        let (_dir, store) = store();
        let big = |b: u8| vec![b; 512 * 1024];
        store.put("big", big(1), "application/octet-stream").await.expect("put");
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20u8 {
                    store.put("big", big(i), "application/octet-stream").await.expect("put");
                }
            })
        };
        for _ in 0..50 {
            let body = store.get("big").await.expect("get").expect("present");
            assert_eq!(body.len(), 512 * 1024);
            assert!(body.iter().all(|b| *b == body[0]), "torn read");
        }
        writer.await.expect("writer");
        assert_eq!(keys(&store.list("").await.expect("list")), ["big"]);
    }
}
