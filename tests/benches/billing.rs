//! Invoice finalizes per second on the embedded default (SQLite file, blob folder),
//! with the PDF rendered and stored at finalize, next to the same finalizes without
//! documents: what rendering costs a finalize. `cargo bench -p igny8-tests --bench billing`.
//! The renderer alone (and reportlab beside it) is `cargo bench -p igny8-pdf --bench render`.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use igny8_core::domain::{AccountId, Currency, LineInput};
use igny8_core::ports::{BlobStore, ItemStore};
use igny8_core::Services;
use igny8_embedded::{BlobDir, SqliteStore};
use igny8_wiring::billing::{seller_from_lookup, with_invoice_pdfs};

/// One configuration's figures.
struct Rate {
    finalizes: usize,
    seconds: f64,
    pdf_bytes: usize,
}

fn lines(n: usize) -> Vec<LineInput> {
    (0..n)
        .map(|i| LineInput {
            description: format!("SEO article {i}: keyword research, outline, draft and images"),
            quantity: 1 + (i % 3) as i64,
            unit_amount: 1_250 + i as i64,
            tax_rate_bp: 1_900,
        })
        .collect()
}

/// Finalizes `per_account` drafts of `line_count` lines in each of `accounts` accounts,
/// one task per account (numbers are gapless per account, so one account's finalizes
/// queue on its counter).
async fn finalizes(documents: bool, line_count: usize, accounts: usize, per_account: usize) -> Rate {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("bench.sqlite")).expect("open"));
    let blobs: Arc<dyn BlobStore> = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let mut services = Services::new(store);
    if documents {
        services = with_invoice_pdfs(services, Arc::clone(&blobs), seller_from_lookup(|_| None));
    }
    let currency: Currency = "EUR".parse().expect("currency");
    let mut drafts: Vec<(AccountId, Vec<_>)> = Vec::new();
    for _ in 0..accounts {
        let account = services.account_service.create_account("bench", 0).await.expect("account").0.id;
        let mut ids = Vec::new();
        for _ in 0..per_account {
            let draft = services
                .invoices
                .create_custom(&account, currency.clone(), &lines(line_count), None)
                .await
                .expect("draft");
            ids.push(draft.id);
        }
        drafts.push((account, ids));
    }
    let start = Instant::now();
    let tasks: Vec<_> = drafts
        .into_iter()
        .map(|(account, ids)| {
            let services = services.clone();
            tokio::spawn(async move {
                let mut bytes = 0;
                for id in ids {
                    let invoice = services.invoices.finalize(&account, &id).await.expect("finalize");
                    assert!(invoice.number.is_some(), "a finalized invoice has its number");
                    if let Some(key) = invoice.pdf_key {
                        bytes = services.invoices.pdf(&account, &invoice.id).await.expect("pdf").len();
                        assert!(key.ends_with(".pdf"));
                    }
                }
                bytes
            })
        })
        .collect();
    let mut pdf_bytes = 0;
    for task in tasks {
        pdf_bytes = pdf_bytes.max(task.await.expect("task"));
    }
    let seconds = start.elapsed().as_secs_f64();
    if documents {
        assert!(pdf_bytes > 0, "every finalize stored its PDF");
    }
    Rate { finalizes: accounts * per_account, seconds, pdf_bytes }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("invoice finalizes on the embedded default (SQLite + blob folder):");
    println!("{:<44} {:>10} {:>10} {:>12} {:>10}", "case", "finalizes", "seconds", "finalizes/s", "PDF bytes");
    for (label, documents, line_count, accounts, per_account) in [
        ("1 line, no PDF, 1 account", false, 1, 1, 200),
        ("1 line, with PDF, 1 account", true, 1, 1, 200),
        ("1 line, with PDF, 4 accounts at once", true, 1, 4, 50),
        ("200 lines, no PDF, 1 account", false, 200, 1, 40),
        ("200 lines, with PDF, 1 account", true, 200, 1, 40),
    ] {
        let rate = finalizes(documents, line_count, accounts, per_account).await;
        println!(
            "{label:<44} {:>10} {:>10.2} {:>12.1} {:>10}",
            rate.finalizes,
            rate.seconds,
            rate.finalizes as f64 / rate.seconds,
            rate.pdf_bytes
        );
    }
}
