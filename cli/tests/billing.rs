//! `igny8 packages …` and `igny8 invoices …` as scripts use them: --json documents, the
//! exit codes of bad input (2) and refusals (3), `--line` read from the right, a
//! payment recorded once however often the command is repeated, and `invoices pdf`.

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::{igny8, json, stdout};

fn ok(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = igny8(dir, &all);
    assert!(o.status.success(), "igny8 {args:?}: {o:?}");
    json(&o)
}

/// A failing command: its exit status, its JSON error code, and one line on stderr.
fn fails(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let o = igny8(dir, &all);
    assert!(!o.status.success(), "igny8 {args:?} should fail: {o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line on stderr: {stderr}");
    let code = json(&o)["error"]["code"].as_str().expect("code").to_owned();
    (o.status.code().expect("exit status"), code)
}

#[test]
fn packages_invoices_and_payments_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let account = ok(d, &["account", "create", "--name", "Acme"])["account"]["id"].as_str().expect("id").to_owned();
    let package = ok(d, &["packages", "create", "--name", "Starter", "--credits", "1000", "--price", "900"]);
    assert_eq!(
        (package["package"]["currency"].as_str(), package["package"]["active"].as_bool()),
        (Some("EUR"), Some(true))
    );
    let listed = ok(d, &["packages", "list"]);
    assert_eq!(listed["packages"][0]["name"], "Starter");
    assert_eq!(
        fails(d, &["packages", "create", "--name", "X", "--credits", "1", "--price", "1", "--currency", "EUX"]),
        (2, "unknown_currency".into())
    );

    let bought = ok(d, &["invoices", "create", "--account", &account, "--package", "Starter", "--finalize"]);
    let invoice = bought["invoice"]["id"].as_str().expect("invoice id").to_owned();
    assert_eq!(bought["invoice"]["status"], "open");
    let number = bought["invoice"]["number"].as_str().expect("number").to_owned();
    assert!(number.starts_with("INV-") && number.ends_with("-0001"), "{number}");

    let pay = |amount: &str, reference: &str| {
        ok(
            d,
            &[
                "invoices",
                "pay",
                "--account",
                &account,
                "--invoice",
                &invoice,
                "--amount",
                amount,
                "--reference",
                reference,
            ],
        )
    };
    assert_eq!(pay("500", "bank-1")["invoice"]["status"], "open");
    assert_eq!(pay("500", "bank-1")["replayed"], true, "the same command is the same payment");
    let paid = pay("400", "bank-2");
    assert_eq!((paid["invoice"]["status"].as_str(), paid["credits"]["amount"].as_i64()), (Some("paid"), Some(1000)));
    let balance = ok(d, &["credits", "balance", "--account", &account]);
    assert_eq!(balance["credits"], 1000, "the package's credits, once");
    let over =
        ["invoices", "pay", "--account", &account, "--invoice", &invoice, "--amount", "1", "--reference", "late"];
    assert_eq!(fails(d, &over).0, 3, "a paid invoice takes no payment");
    assert_eq!(
        fails(d, &["invoices", "void", "--account", &account, "--invoice", &invoice]),
        (3, "invoice_paid_is_final".into())
    );

    let custom = ok(
        d,
        &[
            "invoices",
            "create",
            "--account",
            &account,
            "--currency",
            "EUR",
            "--line",
            "Consulting: phase 2:3:1500:1900",
            "--line",
            "Setup:1:5000",
        ],
    );
    let lines = &custom["invoice"]["lines"];
    assert_eq!(lines[0]["description"], "Consulting: phase 2");
    assert_eq!((lines[0]["amount"].as_i64(), lines[0]["tax"].as_i64()), (Some(4500), Some(855)));
    assert_eq!(custom["invoice"]["total"], 10_355);
    assert_eq!(custom["invoice"]["status"], "draft");
    let draft = custom["invoice"]["id"].as_str().expect("id").to_owned();
    let shown = ok(d, &["invoices", "show", "--account", &account, "--invoice", &draft]);
    assert_eq!(shown["invoice"]["id"], draft.as_str());
    assert_eq!(
        fails(d, &["invoices", "void", "--account", &account, "--invoice", &draft]).0,
        3,
        "a draft is not voided"
    );
    let open = ok(d, &["invoices", "finalize", "--account", &account, "--invoice", &draft]);
    assert!(open["invoice"]["number"].as_str().is_some_and(|n| n.ends_with("-0002")), "{open}");
    assert_eq!(ok(d, &["invoices", "void", "--account", &account, "--invoice", &draft])["invoice"]["status"], "void");

    let listed = ok(d, &["invoices", "list", "--account", &account]);
    assert_eq!(listed["invoices"].as_array().map(Vec::len), Some(2));

    let text = igny8(d, &["invoices", "show", "--account", &account, "--invoice", &invoice]);
    assert!(text.status.success() && stdout(&text).contains(&number), "{text:?}");
}

#[test]
fn bad_input_is_one_clear_line_and_exit_status_2() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let account = ok(d, &["account", "create", "--name", "Acme"])["account"]["id"].as_str().expect("id").to_owned();
    for line in ["Setup", "Setup:x:100", ":1:100", "Setup:1:-5"] {
        assert_eq!(
            fails(d, &["invoices", "create", "--account", &account, "--line", line]),
            (2, "invalid_line".into()),
            "{line}"
        );
    }
    assert_eq!(
        fails(d, &["invoices", "create", "--account", &account, "--line", "A:1:1", "--currency", "XYZ"]),
        (2, "unknown_currency".into())
    );
    assert_eq!(fails(d, &["invoices", "create", "--account", &account, "--package", "Nope"]).0, 2);
    let unknown = "inv_0123456789abcdef0123456789abcdef";
    assert_eq!(fails(d, &["invoices", "show", "--account", &account, "--invoice", unknown]), (2, "not_found".into()));
    assert_eq!(fails(d, &["invoices", "show", "--account", &account, "--invoice", "nope"]), (2, "malformed_id".into()));
    assert!(!d.join("nothing.pdf").exists());
    let none = igny8(d, &["invoices", "list", "--account", &account, "--json"]);
    assert_eq!(json(&none)["invoices"].as_array().map(Vec::len), Some(0), "nothing was written");
}

#[test]
fn invoices_pdf_writes_the_document_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let account = ok(d, &["account", "create", "--name", "Acme"])["account"]["id"].as_str().expect("id").to_owned();
    let draft = ok(d, &["invoices", "create", "--account", &account, "--line", "Audit:1:25000:1900"]);
    let invoice = draft["invoice"]["id"].as_str().expect("id").to_owned();
    let out = d.join("invoice.pdf");
    let out_arg = out.to_str().expect("utf-8 path");
    let pdf = ["invoices", "pdf", "--account", &account, "--invoice", &invoice, "--out", out_arg];
    assert_eq!(fails(d, &pdf).0, 3, "a draft has no document");
    assert!(!out.exists());
    ok(d, &["invoices", "finalize", "--account", &account, "--invoice", &invoice]);
    let mut with_json = pdf.to_vec();
    with_json.push("--json");
    let o = igny8(d, &with_json);
    match o.status.code() {
        // Documents wired (a renderer configured): the PDF, whole.
        Some(0) => {
            let bytes = std::fs::read(&out).expect("the PDF was written");
            assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
            assert_eq!(json(&o)["bytes"].as_u64(), Some(bytes.len() as u64));
        }
        // No renderer in this build: refused with its code, and no file, not even a part.
        Some(3) => {
            assert_eq!(json(&o)["error"]["code"], "pdf_unavailable", "{o:?}");
            assert!(!out.exists());
            let leftovers: Vec<_> = std::fs::read_dir(d)
                .expect("dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("partial"))
                .collect();
            assert!(leftovers.is_empty());
        }
        other => panic!("invoices pdf: {other:?} {o:?}"),
    }
}

#[test]
fn packages_invoices_and_payments_on_the_aws_adapters() {
    let endpoint = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT")
        .expect("IGNY8_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/with_moto.sh");
    let dir = tempfile::tempdir().expect("dir");
    let table = format!("inv{}", std::process::id());
    let aws = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_igny8"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--backend", "aws", "--endpoint", &endpoint, "--table", &table, "--bucket", &table])
            .args(args)
            .arg("--json")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run igny8");
        assert!(o.status.success(), "igny8 {args:?}: {o:?}");
        json(&o)
    };
    let account = aws(&["account", "create", "--name", "Acme"])["account"]["id"].as_str().expect("id").to_owned();
    aws(&["packages", "create", "--name", "Yen pack", "--credits", "300", "--price", "1235", "--currency", "JPY"]);
    let bought = aws(&["invoices", "create", "--account", &account, "--package", "Yen pack", "--finalize"]);
    let invoice = bought["invoice"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (bought["invoice"]["currency"].as_str(), bought["invoice"]["total"].as_i64()),
        (Some("JPY"), Some(1235))
    );
    let paid =
        aws(&["invoices", "pay", "--account", &account, "--invoice", &invoice, "--amount", "1235", "--reference", "r"]);
    assert_eq!(paid["invoice"]["status"], "paid");
    let again =
        aws(&["invoices", "pay", "--account", &account, "--invoice", &invoice, "--amount", "1235", "--reference", "r"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(aws(&["credits", "balance", "--account", &account])["credits"], 300, "credits added once");
    let listed = aws(&["invoices", "list", "--account", &account]);
    assert_eq!(listed["invoices"][0]["id"], invoice.as_str());
}

#[test]
fn set_cost_accepts_every_unit_the_core_prices_in() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    // The embedding operation's own unit: per started 1,000 keywords embedded.
    let set = ok(d, &["credits", "set-cost", "--operation", "embedding", "--unit", "per-1000-items", "--credits", "3"]);
    assert_eq!((set["unit"].as_str(), set["credits_per_unit"].as_i64()), (Some("per1000_items"), Some(3)), "{set}");
    let costs = ok(d, &["credits", "costs"]);
    let embedding = costs["costs"].as_array().expect("costs").iter().find(|c| c["operation"] == "embedding");
    let embedding = embedding.expect("the embedding price");
    assert_eq!((embedding["unit"].as_str(), embedding["configured"].as_bool()), (Some("per1000_items"), Some(true)));
    // The spelling of the stored name works too; an unknown unit is bad input.
    let again =
        ok(d, &["credits", "set-cost", "--operation", "embedding", "--unit", "per1000-items", "--credits", "2"]);
    assert_eq!(again["credits_per_unit"].as_i64(), Some(2), "{again}");
    let o = igny8(d, &["credits", "set-cost", "--operation", "embedding", "--unit", "per-10-items", "--credits", "2"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
