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

/// A moment as people read it in an error: RFC 3339 to the second plus how far it is
/// from `now_ms` ("2026-12-02T00:31:00Z, in 58 minutes", "…, 3 minutes ago"), never
/// raw Unix milliseconds.
pub fn rfc3339_relative(at_ms: i64, now_ms: i64) -> String {
    let at = rfc3339(at_ms.div_euclid(1000) * 1000);
    format!("{at}, {}", relative(at_ms.saturating_sub(now_ms)))
}

/// "in 58 minutes" / "3 minutes ago" / "now" for a signed distance in milliseconds.
fn relative(delta_ms: i64) -> String {
    let seconds = delta_ms.unsigned_abs() / 1000;
    if seconds == 0 {
        return "now".to_owned();
    }
    let (n, unit) = match seconds {
        s if s < 90 => (s, "second"),
        s if s < 90 * 60 => ((s + 30) / 60, "minute"),
        s if s < 48 * 3600 => ((s + 1800) / 3600, "hour"),
        s => ((s + 43_200) / 86_400, "day"),
    };
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if delta_ms > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_rfc3339_and_a_relative_phrase() {
        let now = 1_796_169_601_353; // 2026-12-02T00:00:01.353Z
        assert_eq!(rfc3339_relative(now + 58 * 60_000, now), "2026-12-02T00:58:01Z, in 58 minutes");
        assert_eq!(rfc3339_relative(now - 3 * 60_000, now), "2026-12-01T23:57:01Z, 3 minutes ago");
        assert_eq!(rfc3339_relative(now + 1_000, now), "2026-12-02T00:00:02Z, in 1 second");
        assert_eq!(rfc3339_relative(now + 400, now), "2026-12-02T00:00:01Z, now");
        assert_eq!(rfc3339_relative(now + 5 * 3_600_000, now), "2026-12-02T05:00:01Z, in 5 hours");
        assert_eq!(rfc3339_relative(now + 3 * 86_400_000, now), "2026-12-05T00:00:01Z, in 3 days");
    }
}
