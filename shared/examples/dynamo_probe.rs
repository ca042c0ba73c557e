//! TEMPORARY probe of DynamoStore against moto. Delete when done.
use igny8_core::aws::DynamoStore;
use igny8_core::ports::item_store::*;
use serde_json::{json, Value};

fn item(v: Value) -> Item {
    v.as_object().expect("obj").clone()
}

fn sks(p: &Page) -> Vec<String> {
    p.items.iter().map(|i| i[SK].as_str().expect("sk").to_owned()).collect()
}

async fn pages(s: &DynamoStore, q: Query) -> Vec<(Vec<String>, Option<String>)> {
    let mut out = vec![];
    let mut cursor = None;
    loop {
        let p = s.query(&q.clone().after(cursor.clone())).await.expect("query");
        out.push((sks(&p), p.cursor.clone()));
        match p.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let port = std::fs::read_to_string("/tmp/motoport").expect("port");
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    let s = DynamoStore::connect(Some(&endpoint), "probe").await.expect("connect");
    s.ensure_table().await.expect("ensure 1");
    s.ensure_table().await.expect("ensure 2 (idempotent)");
    let ttl = s.client().describe_time_to_live().table_name("probe").send().await.expect("ttl");
    println!("TTL: {:?}", ttl.time_to_live_description());
    let d = s.client().describe_table().table_name("probe").send().await.expect("desc");
    let t = d.table.expect("table");
    println!(
        "table status {:?} gsi {:?}",
        t.table_status(),
        t.global_secondary_indexes().iter().map(|g| (g.index_name(), g.index_status())).collect::<Vec<_>>()
    );

    // put ItemNotExists twice
    let a = item(json!({"PK": "acct#1", "SK": "meta", "name": "A", "n": 5, "f": 1.5, "one": 1.0, "b": true, "z": null, "l": [1, "x"], "m": {"k": "v"}}));
    s.put(a.clone(), Some(Condition::ItemNotExists)).await.expect("put 1");
    let e = s.put(a.clone(), Some(Condition::ItemNotExists)).await.expect_err("put 2 must fail");
    println!("second put: {e:?}");
    assert!(matches!(&e, StoreError::ConditionFailed(f) if f == &vec![FailedWrite { index: 0, key: Key::new("acct#1", "meta") }]));
    let got = s.get(&Key::new("acct#1", "meta")).await.expect("get").expect("some");
    println!("roundtrip: {}", Value::Object(got.clone()));
    assert!(s.get(&Key::new("acct#1", "nope")).await.expect("get").is_none());

    // conditions
    let k = Key::new("acct#1", "meta");
    let upd = |c: Condition| {
        let s = s.clone();
        let k = k.clone();
        async move { s.update(&k, vec![UpdateAction::set("touched", true)], Some(c)).await }
    };
    for (label, c, expect_ok) in [
        ("And([])", Condition::And(vec![]), true),
        ("Or([])", Condition::Or(vec![]), false),
        ("n>=5", Condition::ge("n", 5), true),
        ("n>5", Condition::gt("n", 5), false),
        ("f<2", Condition::lt("f", 2), true),
        ("n='5' (type differs)", Condition::eq("n", "5"), false),
        ("missing<1", Condition::lt("missing", 1), false),
        ("NOT missing=1", Condition::Not(Box::new(Condition::eq("missing", 1))), true),
        ("b=true", Condition::eq("b", true), true),
        ("b<true", Condition::LessThan("b".into(), json!(true)), false),
        ("b<=true", Condition::LessOrEqual("b".into(), json!(true)), true),
        ("z=null", Condition::Equals("z".into(), Value::Null), true),
        ("l=[1,x]", Condition::Equals("l".into(), json!([1, "x"])), true),
        ("m={k:v}", Condition::Equals("m".into(), json!({"k": "v"})), true),
        ("name>=A AND (ItemExists OR n<0)", Condition::And(vec![Condition::ge("name", "A"), Condition::Or(vec![Condition::ItemExists, Condition::lt("n", 0)])]), true),
        ("attr exists 'a.b' (dotted name)", Condition::AttributeNotExists("a.b".into()), true),
    ] {
        let r = upd(c.clone()).await;
        let eval = c.evaluate(Some(&got));
        println!("cond {label}: dynamo ok={} port-eval={eval}", r.is_ok());
        assert_eq!(r.is_ok(), expect_ok, "{label}: {r:?}");
        assert_eq!(eval, expect_ok, "{label} port eval");
        if let Err(e) = r {
            assert!(matches!(e, StoreError::ConditionFailed(_)), "{label}: {e:?}");
        }
    }

    // update Add
    let ck = Key::new("acct#1", "counter");
    let it = s.update(&ck, vec![UpdateAction::add("c", 5), UpdateAction::set("s", "x")], None).await.expect("add");
    println!("update-created item: {}", Value::Object(it.clone()));
    assert_eq!(it["c"], json!(5));
    assert_eq!(it[PK], json!("acct#1"));
    assert_eq!(s.add(&ck, "c", -2).await.expect("add"), 3);
    let it = s.update(&ck, vec![UpdateAction::remove("s")], Some(Condition::eq("c", 3))).await.expect("remove");
    assert!(!it.contains_key("s"));
    let e = s.update(&ck, vec![UpdateAction::add("c", 1)], Some(Condition::eq("c", 99))).await.expect_err("cond");
    assert!(matches!(&e, StoreError::ConditionFailed(f) if f[0].key == ck));
    let e = s.update(&ck, vec![UpdateAction::add(PK, 1)], None).await.expect_err("key");
    println!("update of PK: {e:?}");
    let e = s.update(&Key::new("acct#1", "meta"), vec![UpdateAction::add("name", 1)], None).await.expect_err("add to string");
    println!("add to string attr: {e}");
    let r = s.update(&Key::new("acct#1", "empty-update2"), vec![], None).await;
    println!("empty update on missing item: {r:?}");
    println!("  then get: {:?}", s.get(&Key::new("acct#1", "empty-update")).await);

    // query paging
    for i in 1..=7 {
        s.put(item(json!({"PK": "p", "SK": format!("item#{i:02}"), "GSI1PK": "g", "GSI1SK": format!("t#{}", 8 - i)})), None).await.expect("put");
    }
    s.put(item(json!({"PK": "p", "SK": "other#1"})), None).await.expect("put");
    s.put(item(json!({"PK": "p", "SK": "aaa", "GSI1PK": "g", "GSI1SK": "t#4"})), None).await.expect("put tie on gsi");
    let asc = pages(&s, Query::partition("p").prefix("item#").limit(3)).await;
    println!("asc pages: {:?}", asc.iter().map(|p| &p.0).collect::<Vec<_>>());
    println!("a cursor: {:?}", asc[0].1);
    assert_eq!(asc.len(), 3);
    assert_eq!(asc[2].0, vec!["item#07"]);
    let desc = pages(&s, Query::partition("p").prefix("item#").limit(3).descending()).await;
    println!("desc pages: {:?}", desc.iter().map(|p| &p.0).collect::<Vec<_>>());
    assert_eq!(desc[0].0, vec!["item#07", "item#06", "item#05"]);
    assert_eq!(desc[2].0, vec!["item#01"]);
    let full = s.query(&Query::partition("p").prefix("item#").limit(7)).await.expect("q");
    assert_eq!(full.items.len(), 7);
    assert!(full.cursor.is_none(), "exactly full page must have no cursor");
    let all = s.query(&Query::partition("p")).await.expect("q");
    println!("no prefix: {:?}", sks(&all));
    let gsi = pages(&s, Query::partition("g").on_gsi1().limit(3)).await;
    println!("gsi pages: {:?}", gsi.iter().map(|p| &p.0).collect::<Vec<_>>());
    println!("gsi cursor: {:?}", gsi[0].1);
    let gsi_desc = pages(&s, Query::partition("g").on_gsi1().prefix("t#").limit(2).descending()).await;
    println!("gsi desc pages: {:?}", gsi_desc.iter().map(|p| &p.0).collect::<Vec<_>>());
    let e = s.query(&Query::partition("p").after(Some("garbage".into()))).await.expect_err("bad");
    assert!(matches!(e, StoreError::Invalid(_)));
    let e = s.query(&Query::partition("p").limit(0)).await.expect_err("limit 0");
    assert!(matches!(e, StoreError::Invalid(_)));

    // transact: #1 of 3 fails
    let writes = vec![
        WriteOp::Put { item: item(json!({"PK": "tx", "SK": "new"})), condition: Some(Condition::ItemNotExists) },
        WriteOp::Check { key: Key::new("tx", "missing"), condition: Condition::ItemExists },
        WriteOp::Update { key: ck.clone(), actions: vec![UpdateAction::add("c", 100)], condition: None },
    ];
    let e = s.transact(writes.clone()).await.expect_err("tx must fail");
    println!("transact: {e:?}");
    assert!(matches!(&e, StoreError::ConditionFailed(f) if f == &vec![FailedWrite { index: 1, key: Key::new("tx", "missing") }]));
    assert!(s.get(&Key::new("tx", "new")).await.expect("get").is_none(), "nothing written");
    assert_eq!(s.get(&ck).await.expect("get").expect("c")["c"], json!(3), "nothing written");
    // raw reasons
    let mut raw = s.client().transact_write_items();
    for (i, w) in writes.iter().enumerate() {
        let _ = (i, w);
    }
    use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
    let kv = |pk: &str, sk: &str| {
        std::collections::HashMap::from([
            ("PK".to_string(), AttributeValue::S(pk.into())),
            ("SK".to_string(), AttributeValue::S(sk.into())),
        ])
    };
    raw = raw
        .transact_items(TransactWriteItem::builder().put(Put::builder().table_name("probe").set_item(Some(kv("tx", "new"))).condition_expression("attribute_not_exists(PK)").build().expect("b")).build())
        .transact_items(TransactWriteItem::builder().condition_check(ConditionCheck::builder().table_name("probe").set_key(Some(kv("tx", "missing"))).condition_expression("attribute_exists(PK)").build().expect("b")).build())
        .transact_items(TransactWriteItem::builder().update(Update::builder().table_name("probe").set_key(Some(kv("acct#1", "counter"))).update_expression("SET c = c + :d").expression_attribute_values(":d", AttributeValue::N("1".into())).build().expect("b")).build());
    match raw.send().await {
        Ok(_) => println!("raw transact unexpectedly succeeded"),
        Err(e) => match e.into_service_error() {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                println!("raw CancellationReasons: {:#?}", t.cancellation_reasons);
                println!("raw message: {:?}", t.message());
            }
            other => println!("raw other error: {other:?}"),
        },
    }
    // two failing
    let e = s
        .transact(vec![
            WriteOp::Check { key: Key::new("tx", "m1"), condition: Condition::ItemExists },
            WriteOp::Put { item: item(json!({"PK": "tx", "SK": "ok"})), condition: None },
            WriteOp::Delete { key: Key::new("tx", "m2"), condition: Some(Condition::ItemExists) },
        ])
        .await
        .expect_err("two fail");
    println!("two failing: {e:?}");
    // transact success
    s.transact(vec![
        WriteOp::Put { item: item(json!({"PK": "tx", "SK": "new"})), condition: Some(Condition::ItemNotExists) },
        WriteOp::Update { key: ck.clone(), actions: vec![UpdateAction::add("c", 100)], condition: Some(Condition::eq("c", 3)) },
        WriteOp::Delete { key: Key::new("p", "other#1"), condition: Some(Condition::ItemExists) },
        WriteOp::Check { key: Key::new("acct#1", "meta"), condition: Condition::And(vec![]) },
    ])
    .await
    .expect("tx ok");
    assert_eq!(s.get(&ck).await.expect("get").expect("c")["c"], json!(103));
    assert!(s.get(&Key::new("p", "other#1")).await.expect("get").is_none());
    let e = s.transact(vec![WriteOp::Update { key: ck.clone(), actions: vec![], condition: None }]).await;
    println!("tx empty update: {e:?}");

    // delete
    let e = s.delete(&Key::new("tx", "new"), Some(Condition::eq("x", 1))).await.expect_err("del cond");
    assert!(matches!(e, StoreError::ConditionFailed(_)));
    s.delete(&Key::new("tx", "new"), Some(Condition::ItemExists)).await.expect("del");
    s.delete(&Key::new("tx", "new"), None).await.expect("del missing ok");

    // concurrency
    let ck2 = Key::new("conc", "counter");
    let mut hs = vec![];
    for _ in 0..20 {
        let s = s.clone();
        let k = ck2.clone();
        hs.push(tokio::spawn(async move { s.add(&k, "c", 1).await }));
    }
    for h in hs {
        h.await.expect("join").expect("add");
    }
    let c = s.get(&ck2).await.expect("get").expect("c")["c"].clone();
    println!("20 concurrent adds -> {c}");
    assert_eq!(c, json!(20));
    let mut hs = vec![];
    for i in 0..10 {
        let s = s.clone();
        hs.push(tokio::spawn(async move {
            s.put(item(json!({"PK": "conc", "SK": "once", "i": i})), Some(Condition::ItemNotExists)).await
        }));
    }
    let mut ok = 0;
    for h in hs {
        if h.await.expect("join").is_ok() {
            ok += 1;
        }
    }
    println!("10 concurrent create-once -> {ok} succeeded");
    assert_eq!(ok, 1);

    // large numbers
    let r = s.put(item(json!({"PK": "num", "SK": "big", "x": 1e300})), None).await;
    println!("put 1e300: {r:?}");
    let r = s.put(item(json!({"PK": "num", "SK": "u", "x": u64::MAX, "y": 0.1, "w": 1e20})), None).await;
    println!("put u64::MAX: {r:?} -> {:?}", s.get(&Key::new("num", "u")).await);
    let r = s.put(item(json!({"PK": "num", "SK": "gsi-bad", "GSI1PK": 5, "GSI1SK": "x"})), None).await;
    println!("put non-string GSI1PK: {r:?}");
    let r = s.put(item(json!({"PK": "num", "SK": 5})), None).await;
    println!("put non-string SK: {r:?}");
    let missing = DynamoStore::connect(Some(&endpoint), "no-such-table").await.expect("c");
    println!("missing table: {:?}", missing.get(&Key::new("a", "b")).await);
    let dead = DynamoStore::connect(Some("http://127.0.0.1:1"), "probe").await.expect("c");
    println!("dead endpoint: {:?}", dead.get(&Key::new("a", "b")).await);
    println!("ALL CHECKS PASSED");
}
