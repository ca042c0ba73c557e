//! The invoice the tests and the benchmark render (shared through `#[path]`).

use igny8_pdf::{InvoiceSheet, Party, SheetLine};

/// A realistic invoice with `lines` line items, each description unique and some long
/// enough to wrap.
pub fn sample(lines: usize) -> InvoiceSheet {
    InvoiceSheet {
        title: "Invoice".into(),
        number: "INV-202612-0042".into(),
        status_mark: None,
        issued: "2 December 2026".into(),
        due: "16 December 2026".into(),
        currency: "EUR".into(),
        seller: Party {
            name: "IGNY8 Content Services Ltd".into(),
            lines: vec![
                "Unit 4, 12 Harbour Road".into(),
                "Dublin D02 X285, Ireland".into(),
                "billing@igny8.example".into(),
                "VAT IE1234567T".into(),
            ],
        },
        buyer: Party {
            name: "Zürich Gärten AG".into(),
            lines: vec!["Bahnhofstrasse 1".into(), "8001 Zürich, Switzerland".into(), "CHE-123.456.789 MWST".into()],
        },
        lines: (1..=lines)
            .map(|i| SheetLine {
                description: if i % 7 == 0 {
                    format!("Line {i:03}: article generation credits for the spring campaign, long-form pieces with image prompts and internal links")
                } else {
                    format!("Line {i:03}: credit package")
                },
                quantity: format!("{}", i % 5 + 1),
                unit: "€12.50".into(),
                tax_rate: "23%".into(),
                amount: format!("€{}.50", 12 * (i % 5 + 1)),
            })
            .collect(),
        subtotal: "€1,234.56".into(),
        tax: "€283.95".into(),
        total: "€1,518.51".into(),
        amount_paid: "€0.00".into(),
        amount_due: "€1,518.51".into(),
        notes: vec!["Payment within 14 days by bank transfer to IBAN IE29 AIBK 9311 5212 3456 78.".into()],
    }
}
