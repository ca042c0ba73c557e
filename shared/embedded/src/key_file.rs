//! The laptop's [`KeyProvider`]: a 32-byte master key in a file of its own (mode 0600),
//! created on first use. Data keys are wrapped as `nonce ‖ AES-256-GCM(master, data key)`
//! with the seal context as associated data, so a wrapped key moved to another account,
//! site or integration does not unwrap.
//!
//! Creation is race-free: the key is written to a private temporary file (created with
//! `O_EXCL`) in the same directory and hard-linked into place, which fails when another
//! process got there first; the loser then reads the winner's complete file. A reader
//! never sees a half-written key.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use igny8_core::integration::vault::{aead_open, aead_seal, random_key, AEAD_NONCE_LEN, AEAD_TAG_LEN};
use igny8_core::ports::{DataKey, GeneratedKey, KeyError, KeyProvider, SealContext};

/// Prefix of this provider's key ids (`local:<16 hex of SHA-256 of the key>`).
pub const KEY_ID_PREFIX: &str = "local:";

/// Length of a wrapped data key: nonce, 32 key bytes, tag.
const WRAPPED_LEN: usize = AEAD_NONCE_LEN + 32 + AEAD_TAG_LEN;

/// The master key as loaded, with its id.
struct Master {
    key: [u8; 32],
    key_id: String,
}

impl Drop for Master {
    fn drop(&mut self) {
        self.key.fill(0);
        std::hint::black_box(&self.key);
    }
}

/// A master key file at a path, loaded (or created) on first use.
pub struct LocalKeyFile {
    path: PathBuf,
    master: Mutex<Option<Arc<Master>>>,
}

impl std::fmt::Debug for LocalKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyFile").field("path", &self.path).finish_non_exhaustive()
    }
}

impl LocalKeyFile {
    /// The key file at `path`; nothing is read or created until the first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), master: Mutex::new(None) }
    }

    /// Where the key lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key id (`local:` + 16 hex of the key's SHA-256), loading or creating the
    /// file: lets start-up fail early on a bad key file.
    pub fn key_id(&self) -> Result<String, KeyError> {
        Ok(self.master()?.key_id.clone())
    }

    fn master(&self) -> Result<Arc<Master>, KeyError> {
        let mut slot = self.master.lock().map_err(|_| KeyError::Backend("key file state poisoned".into()))?;
        if let Some(master) = slot.as_ref() {
            return Ok(Arc::clone(master));
        }
        let key = load_or_create(&self.path)?;
        let master = Arc::new(Master { key_id: key_id_of(&key), key });
        *slot = Some(Arc::clone(&master));
        Ok(master)
    }
}

/// `local:` + the first 16 hex digits of the key's SHA-256.
fn key_id_of(key: &[u8; 32]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    let hex: String = digest.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{KEY_ID_PREFIX}{hex}")
}

fn backend(path: &Path, what: impl std::fmt::Display) -> KeyError {
    KeyError::Backend(format!("key file {}: {what}", path.display()))
}

fn load_or_create(path: &Path) -> Result<[u8; 32], KeyError> {
    match read_key(path) {
        Err(KeyError::Backend(_)) if !path.exists() => create(path),
        other => other,
    }
}

/// Reads an existing key, refusing a file of the wrong size or readable by others.
fn read_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let mut file = File::open(path).map_err(|e| backend(path, e))?;
    let meta = file.metadata().map_err(|e| backend(path, e))?;
    if !meta.is_file() {
        return Err(backend(path, "is not a regular file"));
    }
    check_private(path, &meta)?;
    if meta.len() != 32 {
        return Err(backend(path, format!("holds {} bytes, a master key is exactly 32", meta.len())));
    }
    let mut key = [0u8; 32];
    file.read_exact(&mut key).map_err(|e| backend(path, e))?;
    Ok(key)
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(backend(path, format!("is readable by group or others (mode {mode:o}); run chmod 600 on it")));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

/// Creates the file with a fresh key, or reads the key another process created first.
fn create(path: &Path) -> Result<[u8; 32], KeyError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| backend(path, e))?;
    let key = random_key()?;
    let temp = dir.join(format!(".{}.{}.tmp", file_name(path), uuid::Uuid::new_v4().simple()));
    let written = write_private(&temp, &key).and_then(|()| fs::hard_link(&temp, path));
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(backend(path, e)),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "master.key".into())
}

fn write_private(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key)?;
    file.sync_all()
}

#[async_trait]
impl KeyProvider for LocalKeyFile {
    async fn generate_data_key(&self, context: &SealContext) -> Result<GeneratedKey, KeyError> {
        let master = self.master()?;
        let data_key = random_key()?;
        let (nonce, body) = aead_seal(&master.key, &context.associated_data(), &data_key)?;
        Ok(GeneratedKey {
            plaintext: DataKey::new(data_key),
            wrapped: [nonce.as_slice(), &body].concat(),
            key_id: master.key_id.clone(),
        })
    }

    async fn unwrap_data_key(&self, key_id: &str, wrapped: &[u8], context: &SealContext) -> Result<DataKey, KeyError> {
        let master = self.master()?;
        if key_id != master.key_id || wrapped.len() != WRAPPED_LEN {
            return Err(KeyError::Denied);
        }
        let (nonce, body) = wrapped.split_at(AEAD_NONCE_LEN);
        let mut plain = aead_open(&master.key, nonce, &context.associated_data(), body)?;
        let bytes: Result<[u8; 32], _> = plain.as_slice().try_into();
        plain.fill(0);
        bytes.map(DataKey::new).map_err(|_| KeyError::Denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_core::domain::{AccountId, IntegrationId, SiteId};

    fn context(site: u8) -> SealContext {
        SealContext {
            account_id: format!("acct_{}", "11".repeat(16)).parse::<AccountId>().expect("account id"),
            site_id: format!("site_{}", format!("{site:02x}").repeat(16)).parse::<SiteId>().expect("site id"),
            integration_id: format!("intg_{}", "33".repeat(16)).parse::<IntegrationId>().expect("integration id"),
        }
    }

    #[tokio::test]
    async fn created_on_first_use_private_and_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys").join("master.key");
        let keys = LocalKeyFile::new(&path);
        assert!(!path.exists(), "nothing is created before the first use");
        let generated = keys.generate_data_key(&context(1)).await.expect("generate");
        assert_eq!(fs::metadata(&path).expect("key file").len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).expect("key file").permissions().mode() & 0o777, 0o600);
        }
        assert!(generated.key_id.starts_with(KEY_ID_PREFIX) && generated.key_id.len() == KEY_ID_PREFIX.len() + 16);
        let unwrapped = keys.unwrap_data_key(&generated.key_id, &generated.wrapped, &context(1)).await.expect("unwrap");
        assert_eq!(unwrapped.bytes(), generated.plaintext.bytes());
        // A second provider on the same file uses the same key.
        let again = LocalKeyFile::new(&path);
        assert_eq!(again.key_id().expect("key id"), generated.key_id);
        let unwrapped = again.unwrap_data_key(&generated.key_id, &generated.wrapped, &context(1)).await;
        assert!(unwrapped.is_ok());
        let leftovers = fs::read_dir(path.parent().expect("dir")).expect("list").count();
        assert_eq!(leftovers, 1, "the temporary file is removed");
    }

    #[tokio::test]
    async fn another_context_or_key_id_is_denied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = LocalKeyFile::new(dir.path().join("master.key"));
        let generated = keys.generate_data_key(&context(1)).await.expect("generate");
        let other_site = keys.unwrap_data_key(&generated.key_id, &generated.wrapped, &context(2)).await;
        assert!(matches!(other_site, Err(KeyError::Denied)), "{other_site:?}");
        let other_id = keys.unwrap_data_key("local:0000000000000000", &generated.wrapped, &context(1)).await;
        assert!(matches!(other_id, Err(KeyError::Denied)), "{other_id:?}");
        let truncated = keys.unwrap_data_key(&generated.key_id, &generated.wrapped[..20], &context(1)).await;
        assert!(matches!(truncated, Err(KeyError::Denied)), "{truncated:?}");
        // Under another key file the same wrapped key is denied too.
        let other = LocalKeyFile::new(dir.path().join("other.key"));
        let foreign = other.unwrap_data_key(&generated.key_id, &generated.wrapped, &context(1)).await;
        assert!(matches!(foreign, Err(KeyError::Denied)), "{foreign:?}");
    }

    #[test]
    fn a_wrong_size_or_shared_file_is_refused_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let short = dir.path().join("short.key");
        write_private(&short, &[1; 32]).expect("write");
        fs::write(&short, [1u8; 31]).expect("truncate");
        let err = LocalKeyFile::new(&short).key_id().expect_err("31 bytes");
        assert!(matches!(&err, KeyError::Backend(m) if m.contains("exactly 32")), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let shared = dir.path().join("shared.key");
            fs::write(&shared, [2u8; 32]).expect("write");
            fs::set_permissions(&shared, fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = LocalKeyFile::new(&shared).key_id().expect_err("0644");
            assert!(matches!(&err, KeyError::Backend(m) if m.contains("chmod 600")), "{err}");
            assert_eq!(err.code(), "internal");
        }
    }

    #[test]
    fn racing_creators_end_up_with_the_same_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("master.key");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| LocalKeyFile::new(&path).key_id())).collect();
            handles.into_iter().map(|h| h.join().expect("thread").expect("key id")).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        assert_eq!(LocalKeyFile::new(&path).key_id().expect("key id"), ids[0]);
    }
}
