//! Contract of the item-store port, run against SQLite and DynamoDB (moto).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_core::ports::{Condition, Item, ItemStore, Key, Query, StoreError, UpdateAction, WriteOp};
use serde_json::{json, Value};

igny8_tests::contract_suite!(
    put_get_roundtrip_keeps_every_type,
    conditional_put_reports_the_failed_key,
    update_creates_adds_and_respects_conditions,
    conditional_delete,
    query_prefix_pages_in_both_directions,
    secondary_index_is_sparse_and_ordered,
    transaction_applies_all_or_nothing,
    transaction_reports_every_failed_write,
    malformed_requests_are_invalid,
    concurrent_adds_are_atomic,
    concurrent_conditional_puts_have_one_winner,
    get_many_answers_each_key_in_order,
    get_many_takes_more_keys_than_one_batch,
);

fn item(v: Value) -> Item {
    v.as_object().cloned().expect("object")
}

async fn put_get_roundtrip_keeps_every_type(store: Arc<dyn ItemStore>) {
    let it = item(json!({
        "PK": "A", "SK": "1", "s": "text", "empty": "", "i": -42, "big": 9_007_199_254_740_993i64,
        "f": 1.5, "t": true, "n": null, "l": [1, "two", {"three": 3}], "m": {"k": [true]}
    }));
    store.put(it.clone(), None).await.expect("put");
    assert_eq!(store.get(&Key::new("A", "1")).await.expect("get"), Some(it));
    assert_eq!(store.get(&Key::new("A", "2")).await.expect("get"), None);
}

async fn conditional_put_reports_the_failed_key(store: Arc<dyn ItemStore>) {
    let first = item(json!({"PK": "A", "SK": "x", "v": 1}));
    store.put(first.clone(), Some(Condition::ItemNotExists)).await.expect("first put");
    let err = store
        .put(item(json!({"PK": "A", "SK": "x", "v": 2})), Some(Condition::ItemNotExists))
        .await
        .expect_err("second put must fail");
    match err {
        StoreError::ConditionFailed(f) => {
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].index, 0);
            assert_eq!(f[0].key, Key::new("A", "x"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(store.get(&Key::new("A", "x")).await.expect("get"), Some(first));
}

async fn update_creates_adds_and_respects_conditions(store: Arc<dyn ItemStore>) {
    let key = Key::new("C", "counter");
    let created = store
        .update(&key, vec![UpdateAction::add("n", 5), UpdateAction::set("name", "c")], None)
        .await
        .expect("create by update");
    assert_eq!(created["n"], json!(5));
    assert_eq!(created["PK"], json!("C"));
    assert_eq!(store.add(&key, "n", -2).await.expect("add"), 3);
    let refused = store
        .update(&key, vec![UpdateAction::add("n", -10)], Some(Condition::ge("n", 10)))
        .await
        .expect_err("condition must fail");
    assert!(refused.failed_at(0));
    let after = store
        .update(
            &key,
            vec![UpdateAction::add("n", -3), UpdateAction::remove("name")],
            Some(Condition::And(vec![Condition::ge("n", 3), Condition::eq("name", "c")])),
        )
        .await
        .expect("conditional update");
    assert_eq!(after["n"], json!(0));
    assert!(!after.contains_key("name"));
    assert_eq!(store.get(&key).await.expect("get"), Some(after));
    let missing =
        store.update(&Key::new("C", "none"), vec![UpdateAction::add("n", 1)], Some(Condition::ItemExists)).await;
    assert!(matches!(missing, Err(StoreError::ConditionFailed(_))));
    assert_eq!(store.get(&Key::new("C", "none")).await.expect("get"), None);
}

async fn conditional_delete(store: Arc<dyn ItemStore>) {
    let key = Key::new("D", "1");
    store.put(item(json!({"PK": "D", "SK": "1", "owner": "me"})), None).await.expect("put");
    let refused = store.delete(&key, Some(Condition::eq("owner", "you"))).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed(_))));
    assert!(store.get(&key).await.expect("get").is_some());
    store.delete(&key, Some(Condition::eq("owner", "me"))).await.expect("delete");
    assert!(store.get(&key).await.expect("get").is_none());
    store.delete(&key, None).await.expect("deleting a missing item is fine");
}

async fn collect(store: &dyn ItemStore, base: Query) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.query(&base.clone().after(cursor)).await.expect("query");
        assert!(page.items.len() <= base.limit);
        out.extend(page.items.iter().map(|i| i["SK"].as_str().expect("sk").to_owned()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

async fn query_prefix_pages_in_both_directions(store: Arc<dyn ItemStore>) {
    for i in 0..23 {
        store.put(item(json!({"PK": "Q", "SK": format!("E#{i:03}")})), None).await.expect("put");
    }
    store.put(item(json!({"PK": "Q", "SK": "F#000"})), None).await.expect("put");
    store.put(item(json!({"PK": "Q", "SK": "D#999"})), None).await.expect("put");
    store.put(item(json!({"PK": "Other", "SK": "E#000"})), None).await.expect("put");
    let expected: Vec<String> = (0..23).map(|i| format!("E#{i:03}")).collect();
    let asc = collect(store.as_ref(), Query::partition("Q").prefix("E#").limit(7)).await;
    assert_eq!(asc, expected);
    let desc = collect(store.as_ref(), Query::partition("Q").prefix("E#").limit(5).descending()).await;
    assert_eq!(desc, expected.iter().rev().cloned().collect::<Vec<_>>());
    let all = collect(store.as_ref(), Query::partition("Q").limit(100)).await;
    assert_eq!(all.len(), 25);
    assert_eq!(all.first().map(String::as_str), Some("D#999"));
    let none = store.query(&Query::partition("Nothing")).await.expect("query");
    assert!(none.items.is_empty() && none.cursor.is_none());
}

async fn secondary_index_is_sparse_and_ordered(store: Arc<dyn ItemStore>) {
    for (pk, g) in [("P1", "b"), ("P2", "a"), ("P3", "c")] {
        store.put(item(json!({"PK": pk, "SK": "M", "GSI1PK": "G", "GSI1SK": g})), None).await.expect("put");
    }
    store.put(item(json!({"PK": "P4", "SK": "M"})), None).await.expect("put unindexed");
    let page = store.query(&Query::partition("G").on_gsi1().limit(2)).await.expect("query");
    let pks: Vec<&str> = page.items.iter().map(|i| i["PK"].as_str().expect("pk")).collect();
    assert_eq!(pks, ["P2", "P1"]);
    let rest = store.query(&Query::partition("G").on_gsi1().limit(2).after(page.cursor)).await.expect("next");
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0]["PK"], json!("P3"));
    let desc = store.query(&Query::partition("G").on_gsi1().descending().prefix("c")).await.expect("query");
    assert_eq!(desc.items.len(), 1);
}

async fn transaction_applies_all_or_nothing(store: Arc<dyn ItemStore>) {
    store.put(item(json!({"PK": "T", "SK": "bal", "v": 10})), None).await.expect("seed");
    let writes = |need: i64| {
        vec![
            WriteOp::Update {
                key: Key::new("T", "bal"),
                actions: vec![UpdateAction::add("v", -need)],
                condition: Some(Condition::ge("v", need)),
            },
            WriteOp::Put {
                item: item(json!({"PK": "T", "SK": format!("log{need}")})),
                condition: Some(Condition::ItemNotExists),
            },
            WriteOp::Check { key: Key::new("T", "bal"), condition: Condition::ItemExists }.clone(),
        ]
    };
    // A check and an update of the same key is two writes on one key: refused.
    assert!(matches!(store.transact(writes(4)).await, Err(StoreError::Invalid(_))));
    let ok = writes(4).into_iter().take(2).collect::<Vec<_>>();
    store.transact(ok).await.expect("transaction");
    assert_eq!(store.get(&Key::new("T", "bal")).await.expect("get").expect("bal")["v"], json!(6));
    let too_much = writes(7).into_iter().take(2).collect::<Vec<_>>();
    let err = store.transact(too_much).await.expect_err("must fail");
    assert!(err.failed_at(0) && !err.failed_at(1));
    assert_eq!(store.get(&Key::new("T", "bal")).await.expect("get").expect("bal")["v"], json!(6));
    assert!(store.get(&Key::new("T", "log7")).await.expect("get").is_none(), "nothing written");
    store
        .transact(vec![
            WriteOp::Delete { key: Key::new("T", "log4"), condition: Some(Condition::ItemExists) },
            WriteOp::Check { key: Key::new("T", "bal"), condition: Condition::eq("v", 6) },
        ])
        .await
        .expect("delete + check");
    assert!(store.get(&Key::new("T", "log4")).await.expect("get").is_none());
}

async fn transaction_reports_every_failed_write(store: Arc<dyn ItemStore>) {
    store.put(item(json!({"PK": "R", "SK": "taken"})), None).await.expect("seed");
    let err = store
        .transact(vec![
            WriteOp::Put { item: item(json!({"PK": "R", "SK": "new"})), condition: Some(Condition::ItemNotExists) },
            WriteOp::Put {
                item: item(json!({"PK": "R", "SK": "taken", "x": 1})),
                condition: Some(Condition::ItemNotExists),
            },
            WriteOp::Check { key: Key::new("R", "absent"), condition: Condition::ItemExists },
        ])
        .await
        .expect_err("must fail");
    match &err {
        StoreError::ConditionFailed(f) => {
            let idx: Vec<usize> = f.iter().map(|w| w.index).collect();
            assert_eq!(idx, [1, 2]);
            assert_eq!(f[0].key, Key::new("R", "taken"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(store.get(&Key::new("R", "new")).await.expect("get").is_none());
    assert!(!store.get(&Key::new("R", "taken")).await.expect("get").expect("item").contains_key("x"));
}

async fn malformed_requests_are_invalid(store: Arc<dyn ItemStore>) {
    let bad_cursor = store.query(&Query::partition("Q").after(Some("not a cursor".into()))).await;
    assert!(matches!(bad_cursor, Err(StoreError::Invalid(_))), "{bad_cursor:?}");
    let zero = store.query(&Query::partition("Q").limit(0)).await;
    assert!(matches!(zero, Err(StoreError::Invalid(_))));
    let keyless = store.put(item(json!({"PK": "only"})), None).await;
    assert!(matches!(keyless, Err(StoreError::Invalid(_))));
    let rekey = store.update(&Key::new("K", "1"), vec![UpdateAction::set("PK", "other")], None).await;
    assert!(matches!(rekey, Err(StoreError::Invalid(_))));
    let too_many: Vec<WriteOp> = (0..101)
        .map(|i| WriteOp::Put { item: item(json!({"PK": "M", "SK": i.to_string()})), condition: None })
        .collect();
    assert!(matches!(store.transact(too_many).await, Err(StoreError::Invalid(_))));
    assert!(store.get(&Key::new("M", "0")).await.expect("get").is_none());
}

async fn concurrent_adds_are_atomic(store: Arc<dyn ItemStore>) {
    let key = Key::new("N", "counter");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    store.add(&key, "n", 1).await.expect("add");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(store.get(&key).await.expect("get").expect("item")["n"], json!(160));
}

async fn concurrent_conditional_puts_have_one_winner(store: Arc<dyn ItemStore>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.put(item(json!({"PK": "W", "SK": "once", "by": i})), Some(Condition::ItemNotExists)).await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => wins += 1,
            Err(StoreError::ConditionFailed(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn get_many_answers_each_key_in_order(store: Arc<dyn ItemStore>) {
    assert_eq!(store.get_many(&[]).await.expect("empty"), Vec::<Option<Item>>::new());
    let a = item(json!({"PK": "G", "SK": "a", "v": 1, "l": [1, {"x": "y"}]}));
    let b = item(json!({"PK": "G", "SK": "b", "v": 2}));
    let c = item(json!({"PK": "G2", "SK": "a", "v": 3}));
    for it in [&a, &b, &c] {
        store.put(it.clone(), None).await.expect("put");
    }
    let (ka, kb, kc, gone) = (Key::new("G", "a"), Key::new("G", "b"), Key::new("G2", "a"), Key::new("G", "z"));
    // Not the stored order, a missing key, repeats of a present and of a missing key.
    let keys = [kc.clone(), gone.clone(), ka.clone(), kb.clone(), ka.clone(), gone.clone(), kc.clone()];
    let got = store.get_many(&keys).await.expect("get_many");
    assert_eq!(got, vec![Some(c.clone()), None, Some(a.clone()), Some(b), Some(a.clone()), None, Some(c)]);
    assert_eq!(store.get_many(std::slice::from_ref(&gone)).await.expect("missing"), vec![None]);
    // Many copies of one key are still one item each.
    let same = vec![ka; 150];
    let got = store.get_many(&same).await.expect("repeated");
    assert_eq!(got.len(), 150);
    assert!(got.iter().all(|g| g.as_ref() == Some(&a)));
}

async fn get_many_takes_more_keys_than_one_batch(store: Arc<dyn ItemStore>) {
    let stored = |i: usize| item(json!({"PK": format!("H{}", i % 3), "SK": format!("{i:04}"), "n": i}));
    let key = |i: usize| Key::new(format!("H{}", i % 3), format!("{i:04}"));
    for i in 0..230 {
        store.put(stored(i), None).await.expect("put");
    }
    // 230 present keys in reverse, a missing one every tenth, and repeats far apart
    // (across the 100-key requests the DynamoDB adapter splits them into).
    let mut keys = Vec::new();
    let mut expected = Vec::new();
    for i in (0..230).rev() {
        keys.push(key(i));
        expected.push(Some(stored(i)));
        if i % 10 == 0 {
            keys.push(Key::new(format!("H{}", i % 3), format!("missing{i}")));
            expected.push(None);
        }
    }
    for i in [0, 229, 101, 5] {
        keys.push(key(i));
        expected.push(Some(stored(i)));
    }
    keys.push(Key::new("H0", "missing0"));
    expected.push(None);
    assert!(keys.len() > 250);
    let got = store.get_many(&keys).await.expect("get_many");
    assert_eq!(got.len(), keys.len());
    for (n, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "position {n} ({})", keys[n]);
    }
}
