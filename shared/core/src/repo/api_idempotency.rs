//! The HTTP API's `Idempotency-Key` records: the first response to a key, kept for a
//! day per caller so a repeat of the same request gets it back byte for byte. The API
//! decides what a key means; this room only knows where and how a record is stored.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::keys;
use crate::domain::AccountId;
use crate::ports::item_store::{PK, SK};
use crate::ports::{Condition, Item, ItemStore, Key, StoreError};

/// How long a key is remembered.
pub const KEEP_SECONDS: i64 = 24 * 3600;

/// Where one caller's key lives inside the acting account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencySlot {
    key: Key,
}

impl IdempotencySlot {
    /// The slot of `key` for the caller hashed as `caller` in `account`.
    pub fn new(account: &AccountId, caller: &str, key: &str) -> Self {
        Self { key: keys::api_idempotency(account, caller, key) }
    }
}

/// A stored response, replayed as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`, when the response had one.
    pub content_type: Option<String>,
}

/// What a key already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Fingerprint of the request that took the key.
    pub fingerprint: String,
    /// When it took the key (Unix ms).
    pub created_ms: i64,
    /// Whether the first request was served.
    pub done: bool,
    /// Its response once served (None while the first request is still running, or
    /// when a served record no longer decodes).
    pub response: Option<StoredResponse>,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: this request serves it.
    Claimed,
    /// Another request holds it (None: it vanished between the write and the read).
    Taken(Option<IdempotencyRecord>),
}

/// The API idempotency records on the item store.
#[derive(Clone)]
pub struct ApiIdempotencyRepo {
    store: Arc<dyn ItemStore>,
}

impl ApiIdempotencyRepo {
    /// A repository over `store`.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// Takes a free key for a request with `fingerprint`, or says who holds it.
    pub async fn claim(&self, slot: &IdempotencySlot, fingerprint: &str, now_ms: i64) -> Result<Claim, StoreError> {
        let pending = record_item(&slot.key, fingerprint, now_ms, None);
        match self.store.put(pending, Some(Condition::ItemNotExists)).await {
            Ok(()) => Ok(Claim::Claimed),
            Err(StoreError::ConditionFailed(_)) => {
                Ok(Claim::Taken(self.store.get(&slot.key).await?.map(|item| decode(&item, now_ms))))
            }
            Err(e) => Err(e),
        }
    }

    /// Takes over a key whose holder expired or died, only if it is still the one seen
    /// (`seen_created_ms`), so two retakers cannot both win.
    pub async fn retake(
        &self,
        slot: &IdempotencySlot,
        fingerprint: &str,
        now_ms: i64,
        seen_created_ms: i64,
    ) -> Result<(), StoreError> {
        let pending = record_item(&slot.key, fingerprint, now_ms, None);
        self.store.put(pending, Some(Condition::Equals("created_ms".into(), json!(seen_created_ms)))).await
    }

    /// Remembers the response served for the key.
    pub async fn complete(
        &self,
        slot: &IdempotencySlot,
        fingerprint: &str,
        now_ms: i64,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.store.put(record_item(&slot.key, fingerprint, now_ms, Some(response)), None).await
    }

    /// Frees the key (the request failed in a way a retry must redo).
    pub async fn forget(&self, slot: &IdempotencySlot) -> Result<(), StoreError> {
        self.store.delete(&slot.key, None).await
    }
}

fn record_item(key: &Key, fingerprint: &str, now_ms: i64, response: Option<&StoredResponse>) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Value::from(key.pk.clone()));
    item.insert(SK.into(), Value::from(key.sk.clone()));
    item.insert("type".into(), json!("api_idempotency"));
    item.insert("fingerprint".into(), Value::from(fingerprint));
    item.insert("state".into(), json!(if response.is_some() { "done" } else { "pending" }));
    item.insert("created_ms".into(), json!(now_ms));
    item.insert("ttl".into(), json!(now_ms / 1000 + KEEP_SECONDS));
    if let Some(r) = response {
        item.insert("status".into(), json!(r.status));
        item.insert("body".into(), Value::from(base64::engine::general_purpose::STANDARD.encode(&r.body)));
        if let Some(ct) = &r.content_type {
            item.insert("content_type".into(), Value::from(ct.clone()));
        }
    }
    item
}

fn decode(item: &Item, now_ms: i64) -> IdempotencyRecord {
    let text = |name: &str| item.get(name).and_then(Value::as_str);
    let done = text("state") == Some("done");
    let response = done
        .then(|| {
            let status = item.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok())?;
            let body = text("body").and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())?;
            Some(StoredResponse { status, body, content_type: text("content_type").map(str::to_owned) })
        })
        .flatten();
    IdempotencyRecord {
        fingerprint: text("fingerprint").unwrap_or_default().to_owned(),
        created_ms: item.get("created_ms").and_then(Value::as_i64).unwrap_or(now_ms),
        done,
        response,
    }
}
