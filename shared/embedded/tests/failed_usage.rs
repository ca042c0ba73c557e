//! The usage log of a failed AI call over the SQLite store: a hold released with the
//! call's usage (`CreditService::release_spent`) gives every credit back and writes
//! one usage record — no credits, no ledger entry, marked failed, the tokens kept —
//! listed with the account's and the run's usage, once however often it is released.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_core::domain::{Balance, UsageDetails};
use igny8_core::ports::{ItemStore, ManualClock, UuidIds};
use igny8_core::Services;
use igny8_embedded::SqliteStore;

fn details(run: &str, operation: &str, units: i64, tokens: (i64, i64)) -> UsageDetails {
    UsageDetails {
        operation: operation.into(),
        model: Some("smollm2-135m".into()),
        tokens_in: tokens.0,
        tokens_out: tokens.1,
        units,
        run_id: Some(run.into()),
        stage: Some(2),
    }
}

#[tokio::test]
async fn a_released_hold_with_usage_records_the_tokens_and_charges_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("igny8.db")).expect("store"));
    let clock = Arc::new(ManualClock::at(1_790_000_000_000));
    let s = Services::with(store, clock.clone(), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", 1000).await.expect("account");
    let account = account.id;
    let credits = &s.credits;

    // A call that succeeded: charged, with its usage log.
    let paid = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
    let details_ok = details("run_a", "idea_generation", 2, (100, 50));
    credits.settle_hold(&account, &paid, 30, Some(details_ok)).await.expect("settle");
    // A call whose answers stayed invalid: released, its tokens recorded.
    clock.advance_ms(5);
    let hold = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
    let spent = details("run_a", "idea_generation", 0, (360, 135));
    let released = credits.release_spent(&account, &hold.id, spent.clone()).await.expect("release");
    assert_eq!(released.status, igny8_core::domain::HoldStatus::Released);
    assert_eq!(credits.balance(&account).await.expect("balance"), Balance { credits: 970, held: 0, available: 970 });

    let logs = credits.usage(&account, None, 100, None).await.expect("usage").items;
    assert_eq!(logs.len(), 2, "{logs:?}");
    let failed: Vec<_> = logs.iter().filter(|l| l.failed).collect();
    assert_eq!(failed.len(), 1, "{logs:?}");
    let failed = failed[0];
    assert_eq!((failed.credits, failed.transaction_id.as_ref(), &failed.usage), (0, None, &spent));
    let charged = logs.iter().find(|l| !l.failed).expect("the charged call");
    assert_eq!(charged.credits, 30);
    assert!(charged.transaction_id.is_some());
    // Newest first: the failed call came after the charged one.
    assert!(logs[0].failed, "{logs:?}");
    // The run's usage lists it too (the run index), another run's does not.
    let by_run = credits.usage(&account, Some("run_a"), 100, None).await.expect("usage").items;
    assert_eq!(by_run.len(), 2);
    assert!(credits.usage(&account, Some("run_b"), 100, None).await.expect("usage").items.is_empty());

    // Released again (a replayed step): a no-op, no second record.
    credits.release_spent(&account, &hold.id, spent).await.expect("release again");
    credits.release(&account, &hold.id).await.expect("plain release again");
    assert_eq!(credits.usage(&account, None, 100, None).await.expect("usage").items.len(), 2);
    // The ledger has one entry more than the grant (the charge) and still reconciles.
    let ledger = credits.ledger(&account, 100, None).await.expect("ledger").items;
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(credits.reconcile(&account).await.expect("reconcile").balanced);
}

#[tokio::test]
async fn failed_calls_at_the_same_instant_each_get_their_own_record() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("igny8.db")).expect("store"));
    let s = Services::with(store, Arc::new(ManualClock::at(1_790_000_000_000)), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", 100).await.expect("account");
    let account = account.id;
    for tokens in [10, 20, 30] {
        let hold = s.credits.hold(&account, 5, "stage 4 content", None, None).await.expect("hold");
        let spent = details("run_c", "content_generation", 0, (tokens, 1));
        s.credits.release_spent(&account, &hold.id, spent).await.expect("release");
    }
    let logs = s.credits.usage(&account, Some("run_c"), 100, None).await.expect("usage").items;
    let mut tokens: Vec<i64> = logs.iter().map(|l| l.usage.tokens_in).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [10, 20, 30]);
    assert!(logs.iter().all(|l| l.failed && l.credits == 0));
    assert_eq!(s.credits.balance(&account).await.expect("balance").available, 100);
}
