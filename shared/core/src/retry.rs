//! The optimistic-write loop every service shares: read, decide, write with a
//! condition, and on a lost race (or a transient store error) try again after a
//! jittered exponential backoff, up to a bounded number of attempts.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How often and how patiently a lost race is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 500, base: Duration::from_millis(2), cap: Duration::from_secs(2) }
    }
}

impl RetryPolicy {
    /// Sleeps before attempt `attempt + 1`: full jitter over an exponential window, so
    /// racing writers spread out instead of colliding again.
    pub async fn backoff(&self, attempt: u32) {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        let micros = u64::try_from(exp.as_micros()).unwrap_or(u64::MAX).max(1);
        let jitter = rand::rng().random_range(0..=micros);
        tokio::time::sleep(Duration::from_micros(jitter)).await;
    }
}

/// What one attempt decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T> {
    /// Finished with this value.
    Done(T),
    /// Lost a race: try again after the backoff.
    Retry,
    /// Try again at once (the attempt only learned its view was stale); it still counts.
    RetryNow,
}

/// Runs `attempt(n)` until it is done or `policy.max_attempts` are spent; then
/// `exhausted(max_attempts)` is the error.
pub async fn retry_on_conflict<T, E, Fut>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut(u32) -> Fut,
    exhausted: impl FnOnce(u32) -> E,
) -> Result<T, E>
where
    Fut: Future<Output = Result<Attempt<T>, E>>,
{
    for n in 0..policy.max_attempts {
        match attempt(n).await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::RetryNow => {}
            Attempt::Retry => policy.backoff(n).await,
        }
    }
    Err(exhausted(policy.max_attempts))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy { max_attempts, base: Duration::from_micros(1), cap: Duration::from_micros(10) }
    }

    #[tokio::test]
    async fn retries_until_done() {
        let calls = Cell::new(0);
        let out: Result<u32, String> = retry_on_conflict(
            &quick(10),
            |n| {
                calls.set(calls.get() + 1);
                async move { Ok(if n < 3 { Attempt::Retry } else { Attempt::Done(n) }) }
            },
            |n| format!("gave up after {n}"),
        )
        .await;
        assert_eq!(out, Ok(3));
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test]
    async fn gives_up_after_the_limit_counting_immediate_retries() {
        let out: Result<(), String> =
            retry_on_conflict(&quick(4), |_| async { Ok(Attempt::RetryNow) }, |n| format!("gave up after {n}")).await;
        assert_eq!(out, Err("gave up after 4".to_owned()));
    }

    #[tokio::test]
    async fn an_error_stops_at_once() {
        let calls = Cell::new(0);
        let out: Result<(), &str> = retry_on_conflict(
            &quick(9),
            |_| {
                calls.set(calls.get() + 1);
                async { Err("broken") }
            },
            |_| "exhausted",
        )
        .await;
        assert_eq!(out, Err("broken"));
        assert_eq!(calls.get(), 1);
    }
}
