//! The usage log of a failed AI call over DynamoDB (the emulator of
//! scripts/with_moto.sh): a hold released with the call's usage
//! (`CreditService::release_spent`) gives every credit back and writes one usage
//! record — no credits, no ledger entry, marked failed, the tokens kept — in the same
//! TransactWriteItems, listed with the account's and the run's (GSI1) usage, once
//! however often it is released. The SQLite twin is shared/embedded/tests/failed_usage.rs.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_aws::DynamoStore;
use igny8_core::domain::{Balance, HoldStatus, UsageDetails};
use igny8_core::ports::{ItemStore, ManualClock, UuidIds};
use igny8_core::Services;

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
    let endpoint = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT")
        .expect("IGNY8_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/with_moto.sh");
    let table = format!("failed-usage-{}", std::process::id());
    let dynamo = DynamoStore::connect(Some(&endpoint), &table).await.expect("connect");
    dynamo.ensure_table().await.expect("table");
    let store: Arc<dyn ItemStore> = Arc::new(dynamo);
    let clock = Arc::new(ManualClock::at(1_790_000_000_000));
    let s = Services::with(store, clock.clone(), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", 1000).await.expect("account");
    let account = account.id;
    let credits = &s.credits;

    // A call that succeeded: charged, with its usage log.
    let paid = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
    credits
        .settle_hold(&account, &paid, 30, Some(details("run_a", "idea_generation", 2, (100, 50))))
        .await
        .expect("settle");
    // Two calls whose answers stayed invalid, at the same instant: released, tokens recorded.
    clock.advance_ms(5);
    let spent = details("run_a", "idea_generation", 0, (360, 135));
    let mut holds = Vec::new();
    for _ in 0..2 {
        let hold = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
        let released = credits.release_spent(&account, &hold.id, spent.clone()).await.expect("release");
        assert_eq!(released.status, HoldStatus::Released);
        holds.push(hold);
    }
    assert_eq!(credits.balance(&account).await.expect("balance"), Balance { credits: 970, held: 0, available: 970 });

    let logs = credits.usage(&account, None, 100, None).await.expect("usage").items;
    assert_eq!(logs.len(), 3, "{logs:?}");
    let failed: Vec<_> = logs.iter().filter(|l| l.failed).collect();
    assert_eq!(failed.len(), 2, "{logs:?}");
    for f in &failed {
        assert_eq!((f.credits, f.transaction_id.as_ref(), &f.usage), (0, None, &spent));
    }
    assert!(logs[0].failed && logs[1].failed && !logs[2].failed, "newest first: {logs:?}");
    assert!(logs[2].transaction_id.is_some() && logs[2].credits == 30);
    assert_eq!(credits.usage(&account, Some("run_a"), 100, None).await.expect("usage").items.len(), 3);
    assert!(credits.usage(&account, Some("run_b"), 100, None).await.expect("usage").items.is_empty());

    // Released again (a replayed step): a no-op, no further record.
    credits.release_spent(&account, &holds[0].id, spent).await.expect("release again");
    assert_eq!(credits.usage(&account, None, 100, None).await.expect("usage").items.len(), 3);
    assert_eq!(credits.ledger(&account, 100, None).await.expect("ledger").items.len(), 2);
    assert!(credits.reconcile(&account).await.expect("reconcile").balanced);
}
