//! What can go wrong while rendering an invoice PDF, each with a stable code.

/// Why an invoice could not be rendered. The billing core maps it once at its edge; the
/// codes are stable so the API, the CLI and the logs agree on them.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PdfError {
    /// The font compiled into the binary could not be read: a build defect, reported
    /// instead of panicking inside a Lambda.
    #[error("the bundled {0} font could not be read")]
    FontUnreadable(&'static str),
    /// The sheet is larger than an invoice can sensibly be (see [`crate::limits`]); the
    /// message names the limit so the caller can split the invoice.
    #[error("the invoice is too large to render: {0}")]
    TooLarge(String),
    /// A shape of the page layout could not be built (a coordinate was not finite).
    #[error("the page layout failed: {0}")]
    Layout(&'static str),
    /// The PDF writer refused the document.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

impl PdfError {
    /// The stable snake_case code of this error, the same wherever it is reported.
    pub fn code(&self) -> &'static str {
        match self {
            Self::FontUnreadable(_) => "pdf_font_unreadable",
            Self::TooLarge(_) => "pdf_too_large",
            Self::Layout(_) => "pdf_layout_failed",
            Self::Write(_) => "pdf_write_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let all = [
            PdfError::FontUnreadable("regular"),
            PdfError::TooLarge("x".into()),
            PdfError::Layout("rect"),
            PdfError::Write("w".into()),
        ];
        let codes: Vec<&str> = all.iter().map(PdfError::code).collect();
        assert_eq!(codes, ["pdf_font_unreadable", "pdf_too_large", "pdf_layout_failed", "pdf_write_failed"]);
    }
}
