//! Time and identity, injectable so tests can move the clock and predict ids.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::ids::TypedId;

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = time::OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// A clock tests set and advance by hand (e.g. to expire a lease).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock frozen at `ms`.
    pub fn at(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }
    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Makes fresh unique ids for new records.
pub trait IdGenerator: Send + Sync {
    /// A new id with the given type prefix, e.g. `txn` → `txn_0193…`.
    fn new_id(&self, prefix: &str) -> String;
}

/// Typed ids from any generator: `ids.generate::<RunId>()`.
pub trait IdGeneratorExt: IdGenerator {
    /// A fresh id of kind `T`.
    fn generate<T: TypedId>(&self) -> T {
        T::from_fresh(self.new_id(T::PREFIX))
    }
}

impl<G: IdGenerator + ?Sized> IdGeneratorExt for G {}

/// Time-ordered UUIDv7 ids, so ids sort roughly by creation.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidIds;

impl IdGenerator for UuidIds {
    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
    }
}

/// Formats Unix milliseconds as RFC 3339 for records people read.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
