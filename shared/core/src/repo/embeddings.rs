//! The embedding cache: one item per (scope, model, normalised keyword) holding the
//! keyword's vector, so a re-run, or new keywords joining old clusters, embeds (and
//! pays for) only the keywords never seen before.
//!
//! - **Scope**: the account (`ACCT#<id>`), or `LOCAL` for `igny8 cluster`. Why not
//!   one cache for everyone: a hit on another tenant's entry would be free and fast,
//!   so the bill or the latency would tell a tenant which keywords others research.
//! - **Key**: `<scope>#EMB#<sha256(model, keyword)>` / `EMB`, one partition per
//!   entry (DynamoDB spreads the writes of a big import; keyword length never
//!   bounds the key). The item keeps the model and the keyword, and a read checks
//!   both, so vectors of different models never mix.
//! - **Vector**: f32 little-endian, base64 (the item store holds JSON on both adapter
//!   families; 384 dimensions take 2 KB, well under DynamoDB's 400 KB item).

use std::fmt::Write as _;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{RepoError, TYPE_ATTR};
use crate::domain::AccountId;
use crate::ports::item_store::{MAX_TRANSACTION_ITEMS, PK, SK};
use crate::ports::{Item, ItemStore, Key, WriteOp};

/// Record type of a cached embedding (a table dump reads on its own).
const RECORD_TYPE: &str = "embedding";
/// Sort key of every cache entry.
const SORT_KEY: &str = "EMB";
/// Attribute holding the model id.
const MODEL_ATTR: &str = "model";
/// Attribute holding the normalised keyword.
const KEYWORD_ATTR: &str = "keyword";
/// Attribute holding the vector (f32 little-endian, base64).
const VECTOR_ATTR: &str = "vector";
/// Attribute holding the vector's dimensions.
const DIMS_ATTR: &str = "dims";

/// Whose cache an entry is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EmbeddingScope {
    /// An account's (stage 1 of its runs): never visible to another account.
    Account(AccountId),
    /// The laptop's own (`igny8 cluster`, no account).
    Local,
}

impl EmbeddingScope {
    /// The key prefix of the scope's entries.
    fn prefix(&self) -> String {
        match self {
            Self::Account(id) => format!("ACCT#{id}"),
            Self::Local => "LOCAL".to_owned(),
        }
    }
}

/// Key of the entry of `keyword` (normalised) embedded by `model` in `scope`.
pub fn key(scope: &EmbeddingScope, model: &str, keyword: &str) -> Key {
    let mut hash = Sha256::new();
    hash.update(model.as_bytes());
    hash.update([0u8]);
    hash.update(keyword.as_bytes());
    let mut digest = String::with_capacity(64);
    for b in hash.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(digest, "{b:02x}");
    }
    Key::new(format!("{}#EMB#{digest}", scope.prefix()), SORT_KEY)
}

/// A vector as stored: f32 little-endian, base64.
pub fn encode_vector(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// A stored vector back; None when the text is not base64 of whole f32s.
pub fn decode_vector(text: &str) -> Option<Vec<f32>> {
    let bytes = STANDARD.decode(text).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Reads and writes the embedding cache.
#[derive(Clone)]
pub struct EmbeddingCache {
    store: Arc<dyn ItemStore>,
}

impl EmbeddingCache {
    /// The cache in `store`.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The cached vector of each keyword (normalised), in order; None where `model`
    /// has not embedded it in `scope`. An entry that does not read back whole (another
    /// model or keyword under the key, a vector of the wrong size) counts as missing
    /// and is embedded again. The store splits the keys into batch reads.
    pub async fn get_many(
        &self,
        scope: &EmbeddingScope,
        model: &str,
        keywords: &[String],
    ) -> Result<Vec<Option<Vec<f32>>>, RepoError> {
        let keys: Vec<Key> = keywords.iter().map(|k| key(scope, model, k)).collect();
        let items = self.store.get_many(&keys).await?;
        Ok(items
            .into_iter()
            .zip(keywords)
            .map(|(item, keyword)| item.and_then(|item| read_entry(&item, model, keyword)))
            .collect())
    }

    /// Stores vectors of keywords (normalised) embedded by `model` in `scope`,
    /// [`MAX_TRANSACTION_ITEMS`] a write; an entry already there is replaced (the
    /// same model gives the same vector). A keyword given twice is written once.
    pub async fn put_many(
        &self,
        scope: &EmbeddingScope,
        model: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), RepoError> {
        let mut seen = std::collections::HashSet::new();
        let writes: Vec<WriteOp> = entries
            .iter()
            .filter(|(keyword, _)| seen.insert(keyword.as_str()))
            .map(|(keyword, vector)| WriteOp::Put { item: entry(scope, model, keyword, vector), condition: None })
            .collect();
        let mut rest = writes;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(MAX_TRANSACTION_ITEMS));
            self.store.transact(rest).await?;
            rest = tail;
        }
        Ok(())
    }
}

/// The item of one entry.
fn entry(scope: &EmbeddingScope, model: &str, keyword: &str, vector: &[f32]) -> Item {
    let key = key(scope, model, keyword);
    let mut item = Item::new();
    item.insert(PK.into(), Value::from(key.pk));
    item.insert(SK.into(), Value::from(key.sk));
    item.insert(TYPE_ATTR.into(), Value::from(RECORD_TYPE));
    item.insert(MODEL_ATTR.into(), Value::from(model));
    item.insert(KEYWORD_ATTR.into(), Value::from(keyword));
    item.insert(DIMS_ATTR.into(), Value::from(vector.len()));
    item.insert(VECTOR_ATTR.into(), Value::from(encode_vector(vector)));
    item
}

/// The vector of an entry when it is `model`'s vector of `keyword`, whole.
fn read_entry(item: &Item, model: &str, keyword: &str) -> Option<Vec<f32>> {
    let text = |name: &str| item.get(name).and_then(Value::as_str);
    if text(MODEL_ATTR) != Some(model) || text(KEYWORD_ATTR) != Some(keyword) {
        return None;
    }
    let vector = decode_vector(text(VECTOR_ATTR)?)?;
    let dims = item.get(DIMS_ATTR).and_then(Value::as_u64)?;
    (u64::try_from(vector.len()).ok() == Some(dims) && !vector.is_empty() && vector.iter().all(|x| x.is_finite()))
        .then_some(vector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_their_encoding() {
        let v = vec![0.0677_f32, -0.5, 1.0, f32::MIN_POSITIVE];
        assert_eq!(decode_vector(&encode_vector(&v)), Some(v));
        assert_eq!(decode_vector("AAA="), None, "two bytes are not an f32");
        assert_eq!(decode_vector("not base64!"), None);
    }

    #[test]
    fn keys_separate_scopes_and_models() {
        let a = EmbeddingScope::Account(AccountId::derive("acc1"));
        let b = EmbeddingScope::Account(AccountId::derive("acc2"));
        assert_ne!(key(&a, "m", "card"), key(&b, "m", "card"));
        assert_ne!(key(&a, "m", "card"), key(&a, "n", "card"));
        assert_ne!(key(&a, "m", "card"), key(&EmbeddingScope::Local, "m", "card"));
        assert_eq!(key(&a, "m", "card"), key(&a, "m", "card"));
        assert!(key(&a, "m", "card").pk.starts_with(&format!("ACCT#{}#EMB#", AccountId::derive("acc1"))));
    }

    #[test]
    fn an_entry_reads_back_only_as_its_model_and_keyword() {
        let item = entry(&EmbeddingScope::Local, "m", "card", &[0.6, 0.8]);
        assert_eq!(read_entry(&item, "m", "card"), Some(vec![0.6, 0.8]));
        assert_eq!(read_entry(&item, "other", "card"), None);
        assert_eq!(read_entry(&item, "m", "cards"), None);
        let mut cut = item.clone();
        cut.insert(DIMS_ATTR.into(), Value::from(3));
        assert_eq!(read_entry(&cut, "m", "card"), None, "a vector of the wrong size is a miss");
    }
}
