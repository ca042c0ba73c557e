//! `igny8 packages …` and `igny8 invoices …`: the catalog's credit packages and an
//! account's invoices from a terminal, through the same services the API uses.
//!
//! `--line "DESC:QTY:UNIT_MINOR[:TAX_BP]"` is read from the right, because a
//! description may itself contain ':' ("Consulting: phase 2"): when the last three
//! ':'-separated fields are all whole numbers (and a description is left before them)
//! they are quantity, unit amount and tax rate; otherwise the last two are quantity and
//! unit amount and the tax rate is 0. A description that ends in ":<digits>" must
//! therefore give its tax rate explicitly (`"Room:101:1:5000:0"`).

use std::path::Path;

use igny8_core::billing::payments::ManualPayment;
use igny8_core::billing::{format_amount, CatalogError, InvoiceError, NewPackage, PaymentError};
use igny8_core::domain::{AccountId, CreditPackage, Currency, Invoice, InvoiceId, LineInput, PackageId, PaymentMethod};
use igny8_core::ports::Page;
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::{InvoicesCommand, PackagesCommand};
use crate::commands::Output;
use crate::error::CliError;
use crate::run::{runtime, Target};

/// One `--line` as given: what the invoice service computes a line from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineArg {
    /// What is billed.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one, minor units.
    pub unit_amount: i64,
    /// Tax rate, basis points.
    pub tax_rate_bp: i64,
}

fn whole(field: &str) -> Option<i64> {
    let field = field.trim();
    (!field.is_empty() && field.bytes().all(|b| b.is_ascii_digit())).then(|| field.parse().ok()).flatten()
}

fn bad_line(text: &str, why: &str) -> CliError {
    CliError::invalid(
        "invalid_line",
        format!("--line {text:?}: {why} (expected \"DESCRIPTION:QUANTITY:UNIT_MINOR[:TAX_BP]\")"),
    )
}

/// Reads one `--line` (see the module's documentation for the rule).
pub fn parse_line(text: &str) -> Result<LineArg, CliError> {
    let fields: Vec<&str> = text.rsplitn(4, ':').collect();
    // rsplitn yields from the right: [last, second last, third last, the rest].
    let numbers: Vec<Option<i64>> = fields.iter().take(3).map(|f| whole(f)).collect();
    let (description, quantity, unit_amount, tax_rate_bp) = match (fields.len(), numbers.as_slice()) {
        (4, [Some(tax), Some(unit), Some(quantity)]) => (fields[3], *quantity, *unit, *tax),
        (n, [Some(unit), Some(quantity), ..]) if n >= 3 => {
            let description = text.rsplitn(3, ':').nth(2).unwrap_or_default();
            (description, *quantity, *unit, 0)
        }
        (n, _) if n < 3 => return Err(bad_line(text, "too few ':'-separated fields")),
        _ => return Err(bad_line(text, "quantity and unit amount must be whole numbers of minor units")),
    };
    let description = description.trim();
    if description.is_empty() {
        return Err(bad_line(text, "the description is empty"));
    }
    if quantity < 1 {
        return Err(bad_line(text, "the quantity must be at least 1"));
    }
    Ok(LineArg { description: description.to_owned(), quantity, unit_amount, tax_rate_bp })
}

impl From<InvoiceError> for CliError {
    fn from(e: InvoiceError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            InvoiceError::NotFound(_) | InvoiceError::AccountNotFound(_) | InvoiceError::PackageNotFound(_) => {
                Self::NotFound(message)
            }
            InvoiceError::InvalidDueDays(_) | InvoiceError::InvalidLinkLifetime | InvoiceError::Money(_) => {
                Self::invalid(code, message)
            }
            InvoiceError::NotDraft { .. }
            | InvoiceError::NotEditable(_)
            | InvoiceError::PaidIsFinal(_)
            | InvoiceError::InvalidTransition { .. }
            | InvoiceError::NotFinalized(_)
            | InvoiceError::NumbersExhausted { .. }
            | InvoiceError::PackageInactive(_)
            | InvoiceError::DocumentsUnavailable
            | InvoiceError::Contended { .. } => Self::Refused { code, message },
            InvoiceError::Credits(c) => c.into(),
            InvoiceError::Repo(r) => r.into(),
            InvoiceError::Render(_) | InvoiceError::Blob(_) => Self::Failure(message),
        }
    }
}

impl From<PaymentError> for CliError {
    fn from(e: PaymentError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            PaymentError::InvoiceNotFound(_) | PaymentError::PaymentNotFound(_) => Self::NotFound(message),
            PaymentError::InvalidAmount(_)
            | PaymentError::AmountExceedsDue { .. }
            | PaymentError::AmountExceedsRefundable { .. }
            | PaymentError::CurrencyMismatch { .. }
            | PaymentError::InvalidKey
            | PaymentError::Invalid { .. }
            | PaymentError::Money(_) => Self::invalid(code, message),
            PaymentError::InvoiceNotPayable { .. }
            | PaymentError::InvoiceAlreadyPaid(_)
            | PaymentError::NotRefundable { .. }
            | PaymentError::KeyReused { .. }
            | PaymentError::Contended { .. } => Self::Refused { code, message },
            PaymentError::Invoice(i) => i.into(),
            PaymentError::Credits(c) => c.into(),
            PaymentError::Repo(r) => r.into(),
        }
    }
}

impl From<CatalogError> for CliError {
    fn from(e: CatalogError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            CatalogError::Invalid { .. } => Self::invalid(code, message),
            CatalogError::PackageNotFound(_) | CatalogError::PlanNotFound(_) => Self::NotFound(message),
            CatalogError::Repo(r) => r.into(),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

fn currency(code: &str) -> Result<Currency, CliError> {
    code.parse::<Currency>().map_err(|e| CliError::invalid(e.code(), e.to_string()))
}

fn package_line(p: &CreditPackage) -> String {
    let state = if p.active { "" } else { " (inactive)" };
    format!("{} {} {} credits {}{state}", p.id, p.name, p.credits, format_amount(p.price, &p.currency))
}

fn invoice_line(i: &Invoice) -> String {
    let number = i.number.as_deref().unwrap_or("(draft)");
    format!(
        "{} {number} {} total {} due {}",
        i.id,
        i.status.as_str(),
        format_amount(i.total, &i.currency),
        format_amount(i.amount_due, &i.currency)
    )
}

/// An invoice in full, for `show` and the commands that change one.
fn invoice_text(i: &Invoice) -> String {
    let mut text = invoice_line(i);
    for line in &i.lines {
        text.push_str(&format!(
            "\n  {} x {} @ {} tax {} bp = {} + {}",
            line.quantity,
            line.description,
            format_amount(line.unit_amount, &i.currency),
            line.tax_rate_bp,
            format_amount(line.amount, &i.currency),
            format_amount(line.tax, &i.currency)
        ));
    }
    text.push_str(&format!(
        "\n  subtotal {} tax {} total {} paid {}",
        format_amount(i.subtotal, &i.currency),
        format_amount(i.tax, &i.currency),
        format_amount(i.total, &i.currency),
        format_amount(i.amount_paid, &i.currency)
    ));
    text
}

fn invoice_output(i: &Invoice) -> Result<Output, CliError> {
    Ok(Output::new(json!({"invoice": to_json(i)?}), invoice_text(i)))
}

/// `igny8 packages …`.
pub async fn packages(target: &Target, cmd: PackagesCommand) -> Result<Output, CliError> {
    let rt = runtime(target).await?;
    let catalog = &rt.services.catalog;
    match cmd {
        PackagesCommand::List => {
            let all = catalog.packages(true).await?;
            let text = all.iter().map(package_line).collect::<Vec<_>>().join("\n");
            Ok(Output::new(json!({"packages": to_json(&all)?}), text))
        }
        PackagesCommand::Create { name, credits, price, currency: code, tax_bp } => {
            let new = NewPackage { name, credits, price, currency: currency(&code)?, tax_rate_bp: tax_bp };
            let package = catalog.create_package(new).await?;
            Ok(Output::new(json!({"package": to_json(&package)?}), package.id.to_string()))
        }
    }
}

/// Finds a package by id (`pkg_…`) or by its name.
async fn find_package(rt: &igny8_wiring::embedded::LocalRuntime, name: &str) -> Result<PackageId, CliError> {
    if let Ok(id) = name.parse::<PackageId>() {
        return Ok(rt.services.catalog.package(&id).await?.id);
    }
    Ok(rt.services.catalog.package_by_name(name).await?.id)
}

/// Writes `bytes` to `out` whole or not at all: a temporary file beside it, renamed.
fn write_whole(out: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let failed = |e: std::io::Error| CliError::Failure(format!("cannot write {}: {e}", out.display()));
    let name = out.file_name().ok_or_else(|| CliError::invalid("invalid_path", "--out must name a file"))?;
    let tmp = out.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&tmp, bytes).map_err(failed)?;
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed(e)
    })
}

/// The key of a manual payment given without `--key`: the same command repeated is
/// the same payment (a second, real payment of the same amount needs its own reference).
fn payment_key(invoice: &InvoiceId, amount: i64, reference: &str) -> String {
    format!("cli:{invoice}:{amount}:{}", reference.trim())
}

/// `igny8 invoices …`.
pub async fn invoices(target: &Target, cmd: InvoicesCommand) -> Result<Output, CliError> {
    let rt = runtime(target).await?;
    let service = &rt.services.invoices;
    match cmd {
        InvoicesCommand::Create { account, package, line, currency: code, finalize } => {
            let account: AccountId = account.parse()?;
            let draft = match package {
                Some(name) => service.create_for_package(&account, &find_package(&rt, &name).await?).await?,
                None => {
                    let lines = line
                        .iter()
                        .map(|text| {
                            parse_line(text).map(|l| LineInput {
                                description: l.description,
                                quantity: l.quantity,
                                unit_amount: l.unit_amount,
                                tax_rate_bp: l.tax_rate_bp,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    service.create_custom(&account, currency(&code)?, &lines, None).await?
                }
            };
            let invoice = if finalize { service.finalize(&account, &draft.id).await? } else { draft };
            invoice_output(&invoice)
        }
        InvoicesCommand::Finalize { account, invoice } => {
            invoice_output(&service.finalize(&account.parse()?, &invoice.parse()?).await?)
        }
        InvoicesCommand::Void { account, invoice } => {
            invoice_output(&service.void(&account.parse()?, &invoice.parse()?).await?)
        }
        InvoicesCommand::Show { account, invoice } => {
            invoice_output(&service.get(&account.parse()?, &invoice.parse()?).await?)
        }
        InvoicesCommand::Pay { account, invoice, amount, reference, key } => {
            let invoice: InvoiceId = invoice.parse()?;
            let idempotency_key = key.unwrap_or_else(|| payment_key(&invoice, amount, &reference));
            let payment = ManualPayment { amount, reference, method: PaymentMethod::Manual, idempotency_key };
            let outcome = rt.services.payments.record_manual_payment(&account.parse()?, &invoice, payment).await?;
            let mut text = format!(
                "{} {} paid, invoice {}",
                outcome.payment.id,
                format_amount(outcome.payment.amount, &outcome.payment.currency),
                invoice_line(&outcome.invoice)
            );
            if let Some(t) = &outcome.credits {
                text.push_str(&format!("\n{:+} credits, balance {}", t.amount, t.balance_after));
            }
            if outcome.replayed {
                text.push_str("\n(replayed: already recorded)");
            }
            Ok(Output::new(to_json(&outcome)?, text))
        }
        InvoicesCommand::Pdf { account, invoice, out } => {
            let id: InvoiceId = invoice.parse()?;
            let bytes = service.pdf(&account.parse()?, &id).await?;
            write_whole(&out, &bytes)?;
            let text = format!("{} bytes written to {}", bytes.len(), out.display());
            Ok(Output::new(json!({"invoice": id, "out": out, "bytes": bytes.len()}), text))
        }
        InvoicesCommand::List { account, paging } => {
            let Page { items, cursor } = service.list(&account.parse()?, paging.limit, paging.cursor).await?;
            let mut text = items.iter().map(invoice_line).collect::<Vec<_>>().join("\n");
            if let Some(c) = &cursor {
                text.push_str(&format!("\nmore: --cursor '{c}'"));
            }
            Ok(Output::new(json!({"invoices": to_json(&items)?, "cursor": cursor}), text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(d: &str, q: i64, u: i64, t: i64) -> LineArg {
        LineArg { description: d.into(), quantity: q, unit_amount: u, tax_rate_bp: t }
    }

    #[test]
    fn lines_are_read_from_the_right() {
        assert_eq!(parse_line("Setup:1:5000").ok(), Some(line("Setup", 1, 5000, 0)));
        assert_eq!(parse_line("Setup:2:5000:1900").ok(), Some(line("Setup", 2, 5000, 1900)));
        assert_eq!(parse_line("Consulting: phase 2:3:1500").ok(), Some(line("Consulting: phase 2", 3, 1500, 0)));
        assert_eq!(parse_line("a:b:c:3:1500:700").ok(), Some(line("a:b:c", 3, 1500, 700)));
        assert_eq!(parse_line("Room:101:1:5000:0").ok(), Some(line("Room:101", 1, 5000, 0)));
        assert_eq!(parse_line(" Hours : 4 : 12000 ").ok(), Some(line("Hours", 4, 12000, 0)));
    }

    #[test]
    fn bad_lines_are_one_clear_error() {
        for text in ["", "Setup", "Setup:1", ":1:100", "Setup:x:100", "Setup:1:-5", "Setup:0:100", "Setup:1:1.5"] {
            let e = parse_line(text).expect_err(text);
            assert_eq!((e.code(), e.exit_code()), ("invalid_line", 2), "{text}");
            assert!(!e.to_string().contains('\n'));
        }
        assert!(parse_line(&format!("X:1:{}", "9".repeat(30))).is_err(), "overflow is refused, not wrapped");
    }
}
