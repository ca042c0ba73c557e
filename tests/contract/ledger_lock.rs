//! Contract of the credit ledger and the site lock, run against SQLite and DynamoDB.
//! Read against docs/ledger.md: each test names the invariant it checks.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use igny8_core::automation::LockError;
use igny8_core::billing::{ChargeRequest, CreditError, CreditService, Price};
use igny8_core::domain::{
    AccountId, Balance, CostUnit, CreditCostConfig, HoldStatus, SiteId, TransactionKind, UsageDetails,
};
use igny8_core::ports::IdGeneratorExt;
use igny8_core::ports::{ItemStore, ManualClock, StoreError, UpdateAction, UuidIds};
use igny8_core::repo::keys;
use igny8_core::Services;

igny8_tests::contract_suite!(
    concurrent_charges_never_overdraw,
    one_key_charges_once_under_concurrency,
    refused_charge_writes_nothing,
    holds_settle_below_equal_and_above,
    holds_release_and_refuse_double_use,
    open_holds_are_listed_newest_first_however_many_closed,
    operation_prices_come_from_config_then_builtins,
    ledger_pages_newest_first,
    reconcile_detects_drift,
    lock_has_exactly_one_holder,
    lock_lease_expiry_and_holder_rules,
    fence_guard_stops_a_stale_holder,
    lock_holder_retakes_its_own_lock_with_a_new_fence,
    a_released_hold_with_usage_records_the_tokens_and_charges_nothing,
);

const T0: i64 = 1_790_000_000_000;

fn services(store: &Arc<dyn ItemStore>) -> (Services, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(T0));
    (Services::with(Arc::clone(store), clock.clone(), Arc::new(UuidIds)), clock)
}

async fn funded(s: &Services, credits: i64) -> AccountId {
    s.account_service.create_account("Acme", credits).await.expect("account").0.id
}

async fn assert_reconciles(s: &Services, account: &AccountId) {
    let r = s.credits.reconcile(account).await.expect("reconcile");
    assert!(r.balanced, "ledger must reconcile: {r:?}");
}

/// Invariant 1 and 2: balance never negative, balance == Σ ledger, under contention.
async fn concurrent_charges_never_overdraw(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 2000).await;
    // Four service instances stand for four processes (Lambda containers): between
    // them only the store's conditions arbitrate; within one, eight tasks share it.
    let instances: Vec<CreditService> = (0..4)
        .map(|_| CreditService::new(Arc::clone(&store), Arc::new(ManualClock::at(T0)), Arc::new(UuidIds)))
        .collect();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let credits = instances[i % 4].clone();
            let account = account.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                let mut refused = 0;
                for _ in 0..100 {
                    match credits.charge(ChargeRequest::amount(account.clone(), 1)).await {
                        Ok(r) => {
                            assert!(r.transaction.balance_after >= 0);
                            seqs.push(r.transaction.seq);
                        }
                        Err(CreditError::InsufficientCredits { .. }) => refused += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                (seqs, refused)
            })
        })
        .collect();
    let mut seqs = HashSet::new();
    let mut refused = 0;
    for t in tasks {
        let (s, r) = t.await.expect("task");
        for seq in s {
            assert!(seqs.insert(seq), "ledger position {seq} used twice");
        }
        refused += r;
    }
    assert_eq!(seqs.len(), 2000, "exactly 2,000 charges succeed");
    assert_eq!(refused, 1200);
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.available), (0, 0));
    assert_reconciles(&s, &account).await;
}

/// Invariant 3: a repeated idempotency key charges once and returns the first result.
async fn one_key_charges_once_under_concurrency(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 100).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let credits = s.credits.clone();
            let account = account.clone();
            tokio::spawn(async move {
                credits.charge(ChargeRequest::amount(account, 7).with_key("run-1/stage-4/item-9")).await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for t in tasks {
        let r = t.await.expect("task").expect("charge");
        ids.insert(r.transaction.id.clone());
        fresh += usize::from(!r.replayed);
    }
    assert_eq!(ids.len(), 1, "every caller sees the same entry");
    assert_eq!(fresh, 1);
    assert_eq!(s.credits.balance(&account).await.expect("balance").credits, 93);
    let reused = s.credits.charge(ChargeRequest::amount(account.clone(), 8).with_key("run-1/stage-4/item-9")).await;
    assert!(matches!(reused, Err(CreditError::KeyReused { .. })), "{reused:?}");
    assert_reconciles(&s, &account).await;
}

/// Invariant 4: a refused change writes nothing at all.
async fn refused_charge_writes_nothing(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 10).await;
    let req = ChargeRequest {
        usage: Some(UsageDetails {
            operation: "content_generation".into(),
            run_id: Some("run_x".into()),
            ..Default::default()
        }),
        ..ChargeRequest::amount(account.clone(), 11).with_key("k-refused")
    };
    assert!(matches!(
        s.credits.charge(req).await,
        Err(CreditError::InsufficientCredits { required: 11, available: 10 })
    ));
    for bad in [0, -5] {
        assert!(matches!(
            s.credits.charge(ChargeRequest::amount(account.clone(), bad)).await,
            Err(CreditError::InvalidAmount(_))
        ));
    }
    let stranger = UuidIds.generate::<AccountId>();
    assert!(matches!(s.credits.charge(ChargeRequest::amount(stranger, 1)).await, Err(CreditError::AccountNotFound(_))));
    let entries = s.credits.ledger(&account, 100, None).await.expect("ledger").items;
    assert_eq!(entries.len(), 1, "only the opening grant");
    let usage = s.credits.usage(&account, None, 100, None).await.expect("usage").items;
    assert!(usage.is_empty());
    assert!(store.get(&keys::idempotency(&account, "k-refused")).await.expect("get").is_none());
    // The key was never used, so it still works once credits arrive.
    s.credits.add(&account, 5, TransactionKind::TopUp, "top-up", None, None).await.expect("add");
    let ok = s.credits.charge(ChargeRequest::amount(account.clone(), 11).with_key("k-refused")).await.expect("charge");
    assert_eq!(ok.transaction.balance_after, 4);
    assert_reconciles(&s, &account).await;
}

/// Invariant 5: holds are not spendable; settlement charges the actual cost.
async fn holds_settle_below_equal_and_above(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 100).await;
    let below = s.credits.hold(&account, 30, "stage 4", None, None).await.expect("hold");
    let equal = s.credits.hold(&account, 20, "stage 5", None, None).await.expect("hold");
    let above = s.credits.hold(&account, 10, "stage 6", None, None).await.expect("hold");
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.held, b.available), (100, 60, 40));
    assert!(matches!(
        s.credits.charge(ChargeRequest::amount(account.clone(), 41)).await,
        Err(CreditError::InsufficientCredits { available: 40, .. })
    ));
    let r = s.credits.settle(&account, &below.id, 25, None).await.expect("settle below");
    assert_eq!(r.transaction.amount, -25);
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.held, b.available), (75, 30, 45));
    s.credits.settle(&account, &equal.id, 20, None).await.expect("settle equal");
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.held, b.available), (55, 10, 45));
    let too_far = s.credits.settle(&account, &above.id, 56, None).await;
    assert!(matches!(too_far, Err(CreditError::InsufficientCredits { .. })), "{too_far:?}");
    let r = s.credits.settle(&account, &above.id, 15, None).await.expect("settle above");
    assert_eq!(r.transaction.balance_after, 40);
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.held, b.available), (40, 0, 40));
    let again = s.credits.settle(&account, &above.id, 15, None).await.expect("repeat settle");
    assert!(again.replayed);
    assert_eq!(again.transaction.id, r.transaction.id);
    assert!(matches!(s.credits.settle(&account, &above.id, 16, None).await, Err(CreditError::HoldClosed { .. })));
    assert_reconciles(&s, &account).await;
}

/// Invariant 5 continued: release gives everything back, once.
async fn holds_release_and_refuse_double_use(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 50).await;
    assert!(matches!(
        s.credits.hold(&account, 51, "too much", None, None).await,
        Err(CreditError::InsufficientCredits { .. })
    ));
    let h = s.credits.hold(&account, 50, "all", None, Some("hold-key".into())).await.expect("hold");
    let same = s.credits.hold(&account, 50, "all", None, Some("hold-key".into())).await.expect("replayed hold");
    assert_eq!(same.id, h.id, "a repeated hold key returns the first hold");
    assert_eq!(s.credits.balance(&account).await.expect("balance").available, 0);
    let released = s.credits.release(&account, &h.id).await.expect("release");
    assert_eq!(released.status, HoldStatus::Released);
    s.credits.release(&account, &h.id).await.expect("release twice is a no-op");
    assert!(matches!(s.credits.settle(&account, &h.id, 5, None).await, Err(CreditError::HoldClosed { .. })));
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!((b.credits, b.held, b.available), (50, 0, 50));
    let holds = s.credits.holds(&account, 10, None).await.expect("holds").items;
    assert_eq!(holds.len(), 1);
    assert_reconciles(&s, &account).await;
}

/// The open holds are found without reading the closed ones: after 60 holds, of which
/// 55 were settled or released, the open list holds exactly the 5 others, newest
/// first, in pages.
async fn open_holds_are_listed_newest_first_however_many_closed(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 10_000).await;
    let mut open = Vec::new();
    for i in 0..60 {
        let h = s.credits.hold(&account, 3, "work", None, None).await.expect("hold");
        match i % 12 {
            0 => open.push(h.id),
            n if n % 2 == 0 => drop(s.credits.settle(&account, &h.id, 2, None).await.expect("settle")),
            _ => drop(s.credits.release(&account, &h.id).await.expect("release")),
        }
    }
    let first = s.credits.open_holds(&account, 2, None).await.expect("open holds");
    assert_eq!(first.items.len(), 2);
    let mut listed = first.items;
    let mut cursor = first.cursor;
    while let Some(c) = cursor {
        let page = s.credits.open_holds(&account, 2, Some(c)).await.expect("next page");
        listed.extend(page.items);
        cursor = page.cursor;
    }
    assert!(listed.iter().all(|h| h.status == HoldStatus::Open), "{listed:?}");
    let ids: Vec<String> = listed.iter().map(|h| h.id.to_string()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "newest first");
    let mut expected: Vec<String> = open.iter().map(ToString::to_string).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, expected);
    let b = s.credits.balance(&account).await.expect("balance");
    assert_eq!(b.held, listed.iter().map(|h| h.amount).sum::<i64>());
    assert_reconciles(&s, &account).await;
}

/// Invariant 6: every operation has a price; none is free.
async fn operation_prices_come_from_config_then_builtins(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 1000).await;
    assert_eq!(s.credits.cost("content_generation", 250).await.expect("cost"), 3);
    s.credits
        .set_cost_config(&CreditCostConfig {
            operation: "content_generation".into(),
            unit: CostUnit::Per200Words,
            credits_per_unit: 4,
            min_credits: 1,
            configured: true,
        })
        .await
        .expect("set cost");
    assert_eq!(s.credits.cost("content_generation", 250).await.expect("cost"), 8);
    assert!(matches!(s.credits.cost("teleportation", 1).await, Err(CreditError::UnknownOperation(_))));
    assert!(matches!(s.credits.cost("clustering", 0).await, Err(CreditError::InvalidUnits(0))));
    let req = ChargeRequest {
        price: Price::Operation { operation: "image_generation".into(), units: 3 },
        usage: Some(UsageDetails {
            model: Some("offline-png".into()),
            tokens_in: 12,
            run_id: Some("run_abc".into()),
            stage: Some(6),
            ..Default::default()
        }),
        ..ChargeRequest::amount(account.clone(), 0)
    };
    let r = s.credits.charge(req).await.expect("charge");
    assert_eq!(r.transaction.amount, -15);
    let logs = s.credits.usage(&account, Some("run_abc"), 10, None).await.expect("usage by run").items;
    assert_eq!(logs.len(), 1);
    assert_eq!((logs[0].usage.operation.as_str(), logs[0].usage.units, logs[0].credits), ("image_generation", 3, 15));
    assert_eq!(logs[0].usage.stage, Some(6));
    assert_reconciles(&s, &account).await;
}

async fn ledger_pages_newest_first(store: Arc<dyn ItemStore>) {
    let (s, clock) = services(&store);
    let account = funded(&s, 100).await;
    for i in 1..=12 {
        clock.advance_ms(1000);
        s.credits.charge(ChargeRequest::amount(account.clone(), i)).await.expect("charge");
    }
    let mut seqs = Vec::new();
    let mut cursor = None;
    loop {
        let igny8_core::ports::Page { items: page, cursor: next } =
            s.credits.ledger(&account, 5, cursor).await.expect("ledger");
        seqs.extend(page.iter().map(|t| t.seq));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=13).rev().collect::<Vec<i64>>());
}

/// Reconcile is a real audit: it notices a balance changed outside the ledger.
async fn reconcile_detects_drift(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let account = funded(&s, 100).await;
    s.credits.charge(ChargeRequest::amount(account.clone(), 10)).await.expect("charge");
    assert_reconciles(&s, &account).await;
    store
        .update(
            &keys::balance(&account),
            vec![UpdateAction::add("credits", 5), UpdateAction::add("available", 5)],
            None,
        )
        .await
        .expect("tamper");
    let r = s.credits.reconcile(&account).await.expect("reconcile");
    assert!(!r.balanced);
    assert_eq!(r.difference, 5);
}

async fn lock_has_exactly_one_holder(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let site = UuidIds.generate::<SiteId>();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let locks = s.locks.clone();
            let site = site.clone();
            tokio::spawn(async move { locks.acquire(&site, &format!("run-{i}"), 60_000).await })
        })
        .collect();
    let mut holders = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(lease) => holders.push(lease.holder),
            Err(LockError::Held { .. } | LockError::Store(StoreError::Conflict)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(holders.len(), 1, "exactly one holder");
    let status = s.locks.status(&site).await.expect("status").expect("lease");
    assert_eq!(status.holder, holders[0]);
    assert_eq!(status.fence, 1);
}

async fn lock_lease_expiry_and_holder_rules(store: Arc<dyn ItemStore>) {
    let (s, clock) = services(&store);
    let site = UuidIds.generate::<SiteId>();
    let first = s.locks.acquire(&site, "run-a", 10_000).await.expect("acquire");
    match s.locks.acquire(&site, "run-b", 10_000).await {
        Err(LockError::Held { holder, expires_at, .. }) => {
            assert_eq!(holder, "run-a");
            assert_eq!(expires_at, T0 + 10_000);
        }
        other => panic!("expected Held, got {other:?}"),
    }
    assert!(matches!(s.locks.release(&site, "run-b").await, Err(LockError::NotHolder { .. })));
    assert!(matches!(s.locks.extend(&site, "run-b", 5_000).await, Err(LockError::NotHolder { .. })));
    clock.advance_ms(5_000);
    let extended = s.locks.extend(&site, "run-a", 10_000).await.expect("extend");
    assert_eq!(extended.expires_at, T0 + 15_000);
    clock.advance_ms(10_001);
    assert!(
        matches!(s.locks.extend(&site, "run-a", 10_000).await, Err(LockError::NotHolder { .. })),
        "an expired lease cannot be extended"
    );
    let second = s.locks.acquire(&site, "run-b", 10_000).await.expect("take over an expired lease");
    assert!(second.fence > first.fence);
    assert!(matches!(s.locks.release(&site, "run-a").await, Err(LockError::NotHolder { .. })));
    s.locks.release(&site, "run-b").await.expect("release");
    let third = s.locks.acquire(&site, "run-c", 10_000).await.expect("acquire after release");
    assert!(third.fence > second.fence, "fence strictly increases across release");
    assert!(matches!(s.locks.acquire(&site, "run-d", 0).await, Err(LockError::Invalid(_))));
}

async fn fence_guard_stops_a_stale_holder(store: Arc<dyn ItemStore>) {
    let (s, clock) = services(&store);
    let site = UuidIds.generate::<SiteId>();
    let a = s.locks.acquire(&site, "run-a", 1_000).await.expect("acquire");
    let guarded = |fence| {
        vec![
            s.locks.fence_guard(&site, "run-a", fence),
            igny8_core::ports::WriteOp::Update {
                key: igny8_core::ports::Key::new("RUN#run-a", "STATE"),
                actions: vec![UpdateAction::add("progress", 1)],
                condition: None,
            },
        ]
    };
    store.transact(guarded(a.fence)).await.expect("holder writes");
    clock.advance_ms(2_000);
    s.locks.acquire(&site, "run-b", 1_000).await.expect("take over");
    let err = store.transact(guarded(a.fence)).await.expect_err("stale holder must not write");
    assert!(err.failed_at(0));
}

async fn lock_holder_retakes_its_own_lock_with_a_new_fence(store: Arc<dyn ItemStore>) {
    let (s, _) = services(&store);
    let site = UuidIds.generate::<SiteId>();
    let first = s.locks.acquire(&site, "run-a", 60_000).await.expect("acquire");
    // A process continuing run-a (the first one died) takes the lock over by holder,
    // before the lease ends.
    let again = s.locks.acquire(&site, "run-a", 60_000).await.expect("the holder re-takes its lock");
    assert_eq!(again.holder.as_deref(), Some("run-a"));
    assert!(again.fence > first.fence, "the take-over bumps the fence");
    let stale = vec![s.locks.fence_guard(&site, "run-a", first.fence)];
    assert!(store.transact(stale).await.expect_err("the old fence is shut out").failed_at(0));
    store.transact(vec![s.locks.fence_guard(&site, "run-a", again.fence)]).await.expect("the new fence writes");
    match s.locks.acquire(&site, "run-b", 60_000).await {
        Err(e @ LockError::Held { .. }) => {
            let message = e.to_string();
            assert!(message.contains("run-a") && message.contains("Z, in 60 seconds"), "{message}");
            assert!(!message.contains("unix ms"), "{message}");
        }
        other => panic!("expected Held, got {other:?}"),
    }
}

/// A failed call's usage (answers that stayed invalid): the hold is released with a
/// usage record (credits 0, no ledger entry, the tokens the server reported), records
/// made at the same instant stay apart, and a replayed release records nothing more.
async fn a_released_hold_with_usage_records_the_tokens_and_charges_nothing(store: Arc<dyn ItemStore>) {
    let (s, clock) = services(&store);
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
