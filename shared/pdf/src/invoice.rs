//! The billing core's `InvoiceRenderer` port, implemented by this crate: an invoice of
//! the domain becomes an [`InvoiceSheet`] (amounts formatted in the invoice's currency,
//! dates as calendar days) and is drawn by [`render_invoice`].

use igny8_core::billing::format_amount;
use igny8_core::domain::{BillingDetails, Invoice, InvoiceSource, InvoiceStatus, SellerDetails};
use igny8_core::ports::{InvoiceRenderer, RenderError};

use crate::{render_invoice, InvoiceSheet, Party, PdfError, SheetLine};

/// Draws invoices as PDF for the billing core (the wiring hands it to `Services`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PdfInvoices;

impl InvoiceRenderer for PdfInvoices {
    fn render(&self, invoice: &Invoice, seller: &SellerDetails) -> Result<Vec<u8>, RenderError> {
        render_invoice(&sheet_of(invoice, seller)).map_err(|e| match e {
            PdfError::TooLarge(_) => RenderError::Invalid(e.to_string()),
            other => RenderError::Failed(other.to_string()),
        })
    }
}

/// What the PDF shows of an invoice: everything printed comes from the invoice and the
/// seller, nothing from the clock, so the same invoice gives the same bytes.
pub fn sheet_of(invoice: &Invoice, seller: &SellerDetails) -> InvoiceSheet {
    let money = |minor: i64| format_amount(minor, &invoice.currency);
    let lines = invoice
        .lines
        .iter()
        .map(|line| SheetLine {
            description: line.description.clone(),
            quantity: line.quantity.to_string(),
            unit: money(line.unit_amount),
            tax_rate: percent(line.tax_rate_bp),
            amount: money(line.amount),
        })
        .collect();
    InvoiceSheet {
        title: "Invoice".to_owned(),
        number: invoice.number.clone().unwrap_or_else(|| "DRAFT".to_owned()),
        status_mark: mark(invoice.status).map(str::to_owned),
        issued: day(invoice.issued_at.as_deref()),
        due: day(invoice.due_at.as_deref()),
        currency: invoice.currency.code().to_owned(),
        seller: Party { name: seller.name.clone(), lines: seller_lines(seller) },
        buyer: invoice
            .billing_details
            .as_ref()
            .map_or_else(|| Party { name: invoice.account_id.to_string(), lines: Vec::new() }, buyer_party),
        lines,
        subtotal: money(invoice.subtotal),
        tax: money(invoice.tax),
        total: money(invoice.total),
        amount_paid: money(invoice.amount_paid),
        amount_due: money(invoice.amount_due),
        notes: notes(invoice, &money),
    }
}

/// The large mark across a settled or closed invoice.
fn mark(status: InvoiceStatus) -> Option<&'static str> {
    match status {
        InvoiceStatus::Paid => Some("PAID"),
        InvoiceStatus::Void => Some("VOID"),
        InvoiceStatus::Uncollectible => Some("UNCOLLECTIBLE"),
        InvoiceStatus::Draft | InvoiceStatus::Open => None,
    }
}

/// A tax rate in basis points as people write it: 1900 → "19%", 750 → "7.5%", 1 → "0.01%".
fn percent(bp: i64) -> String {
    let (whole, fraction) = (bp / 100, (bp % 100).abs());
    match fraction {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// The calendar day of an RFC 3339 time (UTC, as stored); "-" when there is none yet.
fn day(time: Option<&str>) -> String {
    time.map_or_else(|| "-".to_owned(), |t| t.get(..10).unwrap_or(t).to_owned())
}

fn seller_lines(seller: &SellerDetails) -> Vec<String> {
    let mut lines = seller.address_lines.clone();
    lines.extend(seller.email.clone());
    lines.extend(seller.tax_id.as_ref().map(|id| format!("Tax ID: {id}")));
    lines
}

fn buyer_party(details: &BillingDetails) -> Party {
    let mut lines = details.address_lines.clone();
    lines.extend(details.country.clone());
    lines.extend(details.email.clone());
    lines.extend(details.tax_id.as_ref().map(|id| format!("Tax ID: {id}")));
    Party { name: details.name.clone(), lines }
}

/// What the invoice is for, and what was refunded, under the totals.
fn notes(invoice: &Invoice, money: &dyn Fn(i64) -> String) -> Vec<String> {
    let mut notes = Vec::new();
    match &invoice.source {
        InvoiceSource::CreditPackage { credits, .. } => {
            notes.push(format!("Credit package: {credits} credits, added to the account when paid."));
        }
        InvoiceSource::PlanPeriod { period_start, period_end, included_credits, .. } => notes.push(format!(
            "Plan period {} to {}: {included_credits} credits included.",
            day(Some(period_start)),
            day(Some(period_end))
        )),
        InvoiceSource::Custom => {}
    }
    if invoice.amount_refunded > 0 {
        notes.push(format!("Refunded: {} (see the credit notes of this invoice).", money(invoice.amount_refunded)));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rates_read_as_people_write_them() {
        assert_eq!(percent(1900), "19%");
        assert_eq!(percent(750), "7.5%");
        assert_eq!(percent(1), "0.01%");
        assert_eq!(percent(0), "0%");
        assert_eq!(percent(10_000), "100%");
    }

    #[test]
    fn days_are_the_date_part_and_a_dash_when_missing() {
        assert_eq!(day(Some("2026-12-02T03:04:05.123Z")), "2026-12-02");
        assert_eq!(day(None), "-");
    }
}
