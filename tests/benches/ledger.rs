//! Ledger benchmark: prints charges/s on SQLite (1 and 16 writers) and, against the
//! DynamoDB emulator, the requests and write units each charge costs on the account's
//! partition key. Run with `scripts/bench.sh` (it starts the emulator).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use igny8_aws::DynamoStore;
use igny8_core::billing::ChargeRequest;
use igny8_core::domain::AccountId;
use igny8_core::ports::{Item, ItemStore};
use igny8_core::repo::keys;
use igny8_core::Services;
use igny8_embedded::SqliteStore;
use serde_json::Value;

const SQLITE_CHARGES: usize = 20_000;

async fn account(s: &Services, credits: i64) -> AccountId {
    s.account_service.create_account("bench", credits).await.expect("account").0.id
}

async fn sqlite_rate(writers: usize, accounts: usize) -> f64 {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("bench.sqlite")).expect("open"));
    let s = Services::new(store);
    let mut ids = Vec::new();
    for _ in 0..accounts {
        ids.push(account(&s, 10_000_000).await);
    }
    let per_writer = SQLITE_CHARGES / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let credits = s.credits.clone();
            let id = ids[w % accounts].clone();
            tokio::spawn(async move {
                for _ in 0..per_writer {
                    credits.charge(ChargeRequest::amount(id.clone(), 1)).await.expect("charge");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let rate = (per_writer * writers) as f64 / start.elapsed().as_secs_f64();
    for id in &ids {
        assert!(s.credits.reconcile(id).await.expect("reconcile").balanced);
    }
    rate
}

/// Records each DynamoDB request's operation and the keys its transaction items touch.
#[derive(Debug, Default)]
struct Recorder {
    requests: AtomicUsize,
    log: Mutex<Vec<(String, Vec<String>)>>,
}

#[derive(Debug, Clone)]
struct Counting(Arc<Recorder>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "bench-request-counter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        let req = ctx.request();
        let target = req.headers().get("x-amz-target").unwrap_or("?").rsplit('.').next().unwrap_or("?").to_owned();
        let body: Value = req.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        let pks = body["TransactItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_object()?.values().next().cloned())
                    .filter_map(|op| {
                        let attrs = if op["Key"].is_object() { &op["Key"] } else { &op["Item"] };
                        attrs["PK"]["S"].as_str().map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.log.lock().expect("log").push((target, pks));
        Ok(())
    }
}

/// DynamoDB's item size: attribute names plus values (numbers ~ 1 byte per 2 digits + 1).
fn dynamo_size(item: &Item) -> usize {
    fn value_size(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Number(n) => n.to_string().trim_start_matches('-').len().div_ceil(2) + 1,
            Value::Bool(_) | Value::Null => 1,
            Value::Array(a) => 3 + a.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
            Value::Object(m) => 3 + m.iter().map(|(k, x)| 1 + k.len() + value_size(x)).sum::<usize>(),
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

async fn dynamodb_costs(endpoint: &str) {
    let plain = DynamoStore::connect(Some(endpoint), "bench-ledger").await.expect("connect");
    plain.ensure_table().await.expect("table");
    let recorder = Arc::new(Recorder::default());
    let conf = plain.client().config().to_builder().interceptor(Counting(Arc::clone(&recorder))).build();
    let store: Arc<dyn ItemStore> =
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), "bench-ledger"));
    let s = Services::new(Arc::clone(&store));
    let id = account(&s, 1_000_000).await;
    let charges = 200;
    recorder.requests.store(0, Ordering::Relaxed);
    recorder.log.lock().expect("log").clear();
    let start = Instant::now();
    for i in 0..charges {
        let req = ChargeRequest::amount(id.clone(), 1).with_key(format!("bench-{i}"));
        s.credits.charge(req).await.expect("charge");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let log = recorder.log.lock().expect("log").clone();
    let account_pk = keys::balance(&id).pk;
    let transacts = log.iter().filter(|(op, _)| op == "TransactWriteItems").count();
    let gets = log.iter().filter(|(op, _)| op == "GetItem").count();
    let on_account: usize = log.iter().map(|(_, pks)| pks.iter().filter(|pk| **pk == account_pk).count()).sum();
    let items: usize = log.iter().map(|(_, pks)| pks.len()).sum();
    let balance_item = store.get(&keys::balance(&id)).await.expect("get").expect("balance");
    let size = dynamo_size(&balance_item);
    let wcu_per_item = 2 * size.div_ceil(1024); // transactional writes cost 2 WCU per KB
    let per = |n: usize| n as f64 / f64::from(charges);
    let wcu = per(on_account) * wcu_per_item as f64;
    println!("dynamodb (moto emulator, serialised), {charges} sequential charges with idempotency keys:");
    println!(
        "  requests per charge        {:.2}  (GetItem {:.2}, TransactWriteItems {:.2})",
        per(log.len()),
        per(gets),
        per(transacts)
    );
    println!("  transaction items/charge   {:.2}", per(items));
    println!("  items on account key/charge {:.2}  (balance item {size} bytes)", per(on_account));
    println!("  WCU on account key/charge  {wcu:.2}  → ≤ {:.0} charges/s per account at 1,000 WCU/s", 1000.0 / wcu);
    println!(
        "  emulator throughput        {:.0} charges/s (moto is not DynamoDB; shape only)",
        f64::from(charges) / elapsed
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    println!("sqlite ({SQLITE_CHARGES} charges of 1 credit each):");
    for (writers, accounts, label) in
        [(1, 1, "1 writer"), (16, 1, "16 writers, one account"), (16, 16, "16 writers, 16 accounts")]
    {
        let rate = sqlite_rate(writers, accounts).await;
        println!("  {label:<26} {rate:>9.0} charges/s");
    }
    match std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT") {
        Ok(endpoint) => dynamodb_costs(&endpoint).await,
        Err(_) => println!("dynamodb: skipped (IGNY8_TEST_DYNAMODB_ENDPOINT unset; scripts/bench.sh sets it)"),
    }
}
