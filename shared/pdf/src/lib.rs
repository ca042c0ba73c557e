//! The invoice PDF: plain invoice data in, the bytes of an A4 PDF out.
//!
//! An adapter crate: it knows nothing of the billing core, which formats every amount
//! and date itself and hands over an [`InvoiceSheet`]. [`render_invoice`] lays the sheet
//! out (seller and buyer blocks, number and dates, a line-item table that breaks across
//! pages with its header repeated, the totals on the last page, "Page n of m", a large
//! PAID / VOID mark when set) and writes it with pdf-writer, embedding a subset of the
//! bundled Liberation Sans (SIL OFL 1.1) — a Lambda has no fonts.
//!
//! The output is deterministic: the same sheet gives the same bytes (no creation date,
//! no random ids; the permanent file id is derived from the invoice number, so
//! re-renders of one invoice after a status change keep it). Text the font cannot show
//! (emoji, CJK) becomes `?`, control characters become spaces, long words are cut to
//! their column, and nothing in the input can make it panic. Limits: one font (Latin,
//! Greek, Cyrillic, Hebrew glyphs), no kerning, and right-to-left text is drawn in its
//! stored order (no bidi reordering).

mod draw;
mod error;
mod fonts;
pub mod invoice;
mod layout;
mod wrap;

pub use error::PdfError;
pub use invoice::{sheet_of, PdfInvoices};

/// One invoice as it is printed: every amount and date already formatted by the billing
/// core (currency symbol, decimals for the currency, locale), so this crate only lays out
/// text and never does money arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceSheet {
    /// The document's heading, e.g. "Invoice".
    pub title: String,
    /// The invoice number, e.g. "INV-202612-0001".
    pub number: String,
    /// A large mark across every page, e.g. "PAID", "VOID" or "UNCOLLECTIBLE"; none for
    /// an open invoice. "PAID" is drawn green, any other mark red.
    pub status_mark: Option<String>,
    /// The issue date as printed.
    pub issued: String,
    /// The due date as printed.
    pub due: String,
    /// The ISO 4217 code of the invoice's currency, printed next to the dates.
    pub currency: String,
    /// Who issues the invoice.
    pub seller: Party,
    /// Who is billed ("Bill to").
    pub buyer: Party,
    /// The line items, in order.
    pub lines: Vec<SheetLine>,
    /// The sum of the lines before tax.
    pub subtotal: String,
    /// The tax of all lines.
    pub tax: String,
    /// Subtotal plus tax.
    pub total: String,
    /// What has been paid so far.
    pub amount_paid: String,
    /// What remains to be paid.
    pub amount_due: String,
    /// Free paragraphs printed after the totals (payment terms, a credit note reference…).
    pub notes: Vec<String>,
}

/// A seller or buyer block: a name and the rows under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    /// The name, printed in bold.
    pub name: String,
    /// The rows under the name: address lines, email, tax id…
    pub lines: Vec<String>,
}

/// One row of the line-item table, every cell already formatted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SheetLine {
    /// What was sold; wraps onto several rows when long (a newline starts a new row).
    pub description: String,
    /// How many, e.g. "1" or "2.5".
    pub quantity: String,
    /// The unit price, e.g. "€12.00".
    pub unit: String,
    /// The tax rate, e.g. "20%".
    pub tax_rate: String,
    /// The line's amount, e.g. "€24.00".
    pub amount: String,
}

/// The largest invoice this crate renders, so a malformed or hostile sheet is refused
/// with [`PdfError::TooLarge`] instead of producing a thousand-page file.
pub mod limits {
    /// Line items per invoice.
    pub const MAX_LINES: usize = 2_000;
    /// Characters in any one text field.
    pub const MAX_FIELD_CHARS: usize = 10_000;
    /// Rows under a party's name.
    pub const MAX_PARTY_LINES: usize = 20;
    /// Note paragraphs.
    pub const MAX_NOTES: usize = 50;
    /// Pages of the finished document (a normal 2,000-line invoice needs under 100).
    pub const MAX_PAGES: usize = 500;
}

/// Renders `sheet` as the bytes of an A4 PDF; the same sheet always gives the same bytes.
pub fn render_invoice(sheet: &InvoiceSheet) -> Result<Vec<u8>, PdfError> {
    check_limits(sheet)?;
    let faces = fonts::Faces::get()?;
    let plan = layout::lay_out(sheet, faces)?;
    draw::draw(sheet, &plan, faces)
}

fn check_limits(sheet: &InvoiceSheet) -> Result<(), PdfError> {
    use limits::*;
    if sheet.lines.len() > MAX_LINES {
        return Err(PdfError::TooLarge(format!("{} line items, at most {MAX_LINES}", sheet.lines.len())));
    }
    if sheet.notes.len() > MAX_NOTES {
        return Err(PdfError::TooLarge(format!("{} notes, at most {MAX_NOTES}", sheet.notes.len())));
    }
    for party in [&sheet.seller, &sheet.buyer] {
        if party.lines.len() > MAX_PARTY_LINES {
            return Err(PdfError::TooLarge(format!(
                "{} rows under {:?}, at most {MAX_PARTY_LINES}",
                party.lines.len(),
                party.name
            )));
        }
    }
    let singles = [
        &sheet.title,
        &sheet.number,
        &sheet.issued,
        &sheet.due,
        &sheet.currency,
        &sheet.subtotal,
        &sheet.tax,
        &sheet.total,
        &sheet.amount_paid,
        &sheet.amount_due,
        &sheet.seller.name,
        &sheet.buyer.name,
    ];
    let lines = sheet.lines.iter().flat_map(|l| [&l.description, &l.quantity, &l.unit, &l.tax_rate, &l.amount]);
    let all = singles
        .into_iter()
        .chain(sheet.status_mark.iter())
        .chain(sheet.seller.lines.iter())
        .chain(sheet.buyer.lines.iter())
        .chain(sheet.notes.iter())
        .chain(lines);
    for field in all {
        let chars = field.chars().count();
        if chars > MAX_FIELD_CHARS {
            let start: String = field.chars().take(24).collect();
            return Err(PdfError::TooLarge(format!(
                "a field of {chars} characters (\"{start}…\"), at most {MAX_FIELD_CHARS}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_lines_is_refused_with_its_code() {
        let sheet = InvoiceSheet { lines: vec![SheetLine::default(); limits::MAX_LINES + 1], ..Default::default() };
        let err = render_invoice(&sheet).unwrap_err();
        assert_eq!(err.code(), "pdf_too_large");
        assert!(err.to_string().contains("2001 line items"), "{err}");
    }

    #[test]
    fn an_oversized_field_is_refused() {
        let mut sheet = InvoiceSheet::default();
        sheet.buyer.lines.push("a".repeat(limits::MAX_FIELD_CHARS + 1));
        assert_eq!(render_invoice(&sheet).unwrap_err().code(), "pdf_too_large");
        let mut sheet = InvoiceSheet::default();
        sheet.seller.lines = vec![String::new(); limits::MAX_PARTY_LINES + 1];
        assert_eq!(render_invoice(&sheet).unwrap_err().code(), "pdf_too_large");
    }

    #[test]
    fn an_empty_sheet_still_renders() {
        let bytes = render_invoice(&InvoiceSheet::default()).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
    }
}
