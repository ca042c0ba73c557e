//! Money: integer minor units, checked arithmetic, one rounding rule (docs/billing.md).
//!
//! - line amount = quantity × unit_amount;
//! - line tax = round_half_away_from_zero(amount × tax_rate_bp / 10 000);
//! - subtotal = Σ amounts, tax = Σ line taxes, total = subtotal + tax.
//!
//! Products are formed in `i128`, so no intermediate can wrap; a result that does not
//! fit [`MAX_AMOUNT`] is refused with `amount_overflow`, never wrapped or panicked on.

use crate::domain::{Currency, InvoiceLine, LineInput};

/// Largest amount (minor units) any price, line or total may reach: 10^15, far beyond
/// any real invoice and far below `i64::MAX`, so sums of many lines still fit.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// Largest quantity of one line.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Largest tax rate: 100 % in basis points.
pub const MAX_TAX_RATE_BP: i64 = 10_000;
/// Longest line description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most lines on one invoice (an invoice is one store item; 400 KB on DynamoDB).
pub const MAX_LINES: usize = 500;

/// Errors of money arithmetic and line validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// A result does not fit [`MAX_AMOUNT`].
    #[error("amount overflow: the result exceeds {MAX_AMOUNT} minor units")]
    Overflow,
    /// A line is malformed.
    #[error("invalid invoice line {index}: {reason}")]
    InvalidLine {
        /// Position of the line (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// An amount outside 0..=MAX_AMOUNT (or ≤ 0 where it must be positive).
    #[error("invalid amount {0}")]
    InvalidAmount(i64),
}

impl MoneyError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Overflow => "amount_overflow",
            Self::InvalidLine { .. } => "invalid_line",
            Self::InvalidAmount(_) => "invalid_amount",
        }
    }
}

/// Totals of a set of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Σ line amounts.
    pub subtotal: i64,
    /// Σ line taxes.
    pub tax: i64,
    /// subtotal + tax.
    pub total: i64,
}

/// Narrows an `i128` result to an amount, refusing anything beyond [`MAX_AMOUNT`].
fn fit(value: i128) -> Result<i64, MoneyError> {
    i64::try_from(value).ok().filter(|v| v.abs() <= MAX_AMOUNT).ok_or(MoneyError::Overflow)
}

/// `numerator / denominator` rounded half away from zero (denominator > 0).
pub fn div_round_half_away(numerator: i128, denominator: i128) -> i128 {
    let (q, r) = (numerator / denominator, numerator % denominator);
    if 2 * r.abs() >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

/// The tax of an amount at a rate in basis points, by the one rounding rule.
pub fn tax_of(amount: i64, tax_rate_bp: i64) -> Result<i64, MoneyError> {
    fit(div_round_half_away(i128::from(amount) * i128::from(tax_rate_bp), 10_000))
}

/// Checks a price or payment amount: 0..=MAX_AMOUNT.
pub fn check_amount(amount: i64) -> Result<i64, MoneyError> {
    if (0..=MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(MoneyError::InvalidAmount(amount))
    }
}

/// Validates a requested line and computes its amount and tax.
pub fn line(index: usize, input: &LineInput) -> Result<InvoiceLine, MoneyError> {
    let bad = |reason: String| MoneyError::InvalidLine { index, reason };
    let description = input.description.trim();
    let chars = description.chars().count();
    if chars == 0 || chars > MAX_DESCRIPTION_CHARS || description.chars().any(char::is_control) {
        return Err(bad(format!("description must be 1 to {MAX_DESCRIPTION_CHARS} printable characters")));
    }
    if !(1..=MAX_QUANTITY).contains(&input.quantity) {
        return Err(bad(format!("quantity must be 1 to {MAX_QUANTITY}, got {}", input.quantity)));
    }
    if !(0..=MAX_AMOUNT).contains(&input.unit_amount) {
        return Err(bad(format!("unit_amount must be 0 to {MAX_AMOUNT}, got {}", input.unit_amount)));
    }
    if !(0..=MAX_TAX_RATE_BP).contains(&input.tax_rate_bp) {
        return Err(bad(format!("tax_rate_bp must be 0 to {MAX_TAX_RATE_BP}, got {}", input.tax_rate_bp)));
    }
    let amount = fit(i128::from(input.quantity) * i128::from(input.unit_amount))?;
    Ok(InvoiceLine {
        description: description.to_owned(),
        quantity: input.quantity,
        unit_amount: input.unit_amount,
        tax_rate_bp: input.tax_rate_bp,
        amount,
        tax: tax_of(amount, input.tax_rate_bp)?,
    })
}

/// Validates and computes every line (1 to [`MAX_LINES`] of them).
pub fn lines(inputs: &[LineInput]) -> Result<Vec<InvoiceLine>, MoneyError> {
    if inputs.is_empty() || inputs.len() > MAX_LINES {
        return Err(MoneyError::InvalidLine {
            index: inputs.len(),
            reason: format!("an invoice has 1 to {MAX_LINES} lines, got {}", inputs.len()),
        });
    }
    inputs.iter().enumerate().map(|(i, l)| line(i, l)).collect()
}

/// Subtotal, tax and total of computed lines.
pub fn totals(lines: &[InvoiceLine]) -> Result<Totals, MoneyError> {
    let subtotal = fit(lines.iter().map(|l| i128::from(l.amount)).sum())?;
    let tax = fit(lines.iter().map(|l| i128::from(l.tax)).sum())?;
    let total = fit(i128::from(subtotal) + i128::from(tax))?;
    Ok(Totals { subtotal, tax, total })
}

/// `amount × numerator / denominator` rounded half away from zero (proportional
/// shares, e.g. the credits a partial refund takes back); 0 when `denominator` is 0.
pub fn proportion(amount: i64, numerator: i64, denominator: i64) -> Result<i64, MoneyError> {
    if denominator == 0 {
        return Ok(0);
    }
    let value = div_round_half_away(i128::from(amount) * i128::from(numerator), i128::from(denominator));
    i64::try_from(value).map_err(|_| MoneyError::Overflow)
}

/// An amount as people read it: thousands separated by commas, the currency's decimals
/// after a point, then the code ("1,234.56 EUR", "1,235 JPY", "1.234 KWD").
pub fn format_amount(minor: i64, currency: &Currency) -> String {
    let exponent = currency.exponent();
    let magnitude = minor.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    if exponent == 0 {
        format!("{sign}{grouped} {currency}")
    } else {
        let width = usize::try_from(exponent).unwrap_or(2);
        format!("{sign}{grouped}.{fraction:0width$} {currency}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        code.parse().expect("currency")
    }

    fn input(quantity: i64, unit_amount: i64, tax_rate_bp: i64) -> LineInput {
        LineInput { description: "item".into(), quantity, unit_amount, tax_rate_bp }
    }

    /// Hand-computed: each row is (quantity, unit, bp) → (amount, tax).
    #[test]
    fn rounding_table() {
        let rows: &[(i64, i64, i64, i64, i64)] = &[
            // EUR 19 %: 1999 × 0.19 = 379.81 → 380; 5 × 0.19 = 0.95 → 1; 50 × 0.19 = 9.5 → 10
            (1, 1999, 1900, 1999, 380),
            (1, 5, 1900, 5, 1),
            (1, 50, 1900, 50, 10),
            // 3 × 333 = 999; × 0.19 = 189.81 → 190
            (3, 333, 1900, 999, 190),
            // JPY 10 %: 1235 × 0.10 = 123.5 → 124; 1234 → 123.4 → 123; 15 → 1.5 → 2
            (1, 1235, 1000, 1235, 124),
            (1, 1234, 1000, 1234, 123),
            (1, 15, 1000, 15, 2),
            // KWD 5 %: 1234 × 0.05 = 61.7 → 62; 10 → 0.5 → 1; 9 → 0.45 → 0
            (1, 1234, 500, 1234, 62),
            (1, 10, 500, 10, 1),
            (1, 9, 500, 9, 0),
            // zero rate and zero price
            (7, 100, 0, 700, 0),
            (2, 0, 1900, 0, 0),
        ];
        for &(q, u, bp, amount, tax) in rows {
            let l = line(0, &input(q, u, bp)).expect("line");
            assert_eq!((l.amount, l.tax), (amount, tax), "{q} × {u} at {bp} bp");
        }
        assert_eq!(div_round_half_away(-5, 10), -1, "half away from zero, also below zero");
        assert_eq!(div_round_half_away(-4, 10), 0);
    }

    #[test]
    fn totals_sum_lines_then_add_tax() {
        let ls = lines(&[input(1, 1999, 1900), input(1, 5, 1900), input(3, 333, 1900)]).expect("lines");
        // amounts 1999 + 5 + 999 = 3003; taxes 380 + 1 + 190 = 571
        assert_eq!(totals(&ls), Ok(Totals { subtotal: 3003, tax: 571, total: 3574 }));
        // Tax is rounded per line: three lines of 2 at 19 % are 0.38 → 0 each, so the
        // tax is 0 — rounding the sum (6 × 0.19 = 1.14) would have given 1.
        let ls = lines(&[input(1, 2, 1900), input(1, 2, 1900), input(1, 2, 1900)]).expect("lines");
        assert_eq!(totals(&ls), Ok(Totals { subtotal: 6, tax: 0, total: 6 }));
    }

    #[test]
    fn overflow_and_bad_lines_are_refused() {
        assert_eq!(line(0, &input(MAX_QUANTITY, MAX_AMOUNT, 0)), Err(MoneyError::Overflow));
        assert_eq!(line(0, &input(1, i64::MAX, 0)).map_err(|e| e.code()), Err("invalid_line"));
        assert_eq!(line(0, &input(1, -1, 0)).map_err(|e| e.code()), Err("invalid_line"));
        assert_eq!(line(0, &input(0, 1, 0)).map_err(|e| e.code()), Err("invalid_line"));
        assert_eq!(line(0, &input(1, 1, 10_001)).map_err(|e| e.code()), Err("invalid_line"));
        assert!(lines(&[]).is_err());
        let big = line(0, &input(1, MAX_AMOUNT, 0)).expect("max line");
        assert_eq!(totals(&[big.clone(), big]).map_err(|e| e.code()), Err("amount_overflow"));
        assert_eq!(Err::<(), _>(MoneyError::Overflow).map_err(|e| e.code()), Err("amount_overflow"));
    }

    #[test]
    fn amounts_format_with_the_currency_exponent() {
        assert_eq!(format_amount(123_456, &cur("EUR")), "1,234.56 EUR");
        assert_eq!(format_amount(1235, &cur("JPY")), "1,235 JPY");
        assert_eq!(format_amount(1234, &cur("KWD")), "1.234 KWD");
        assert_eq!(format_amount(5, &cur("EUR")), "0.05 EUR");
        assert_eq!(format_amount(0, &cur("USD")), "0.00 USD");
        assert_eq!(format_amount(-100_000_000, &cur("USD")), "-1,000,000.00 USD");
        assert_eq!(format_amount(999, &cur("KRW")), "999 KRW");
    }

    #[test]
    fn proportions_round_half_away() {
        assert_eq!(proportion(1000, 1, 3), Ok(333));
        assert_eq!(proportion(1000, 1, 2), Ok(500));
        assert_eq!(proportion(5, 1, 2), Ok(3));
        assert_eq!(proportion(10, 1, 0), Ok(0));
    }
}
