//! The document port: how an invoice becomes a file (a PDF in production).
//!
//! The PDF crate implements it outside the core, so the core never depends on a
//! renderer. Rendering must be deterministic — the same invoice and seller give the
//! same bytes — because a missing or stale document is simply rendered again.

use crate::domain::{Invoice, SellerDetails};

/// Why a document could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The invoice cannot be laid out (e.g. a field the renderer cannot represent).
    #[error("invoice cannot be rendered: {0}")]
    Invalid(String),
    /// The renderer itself failed (font, encoder).
    #[error("renderer failed: {0}")]
    Failed(String),
}

impl RenderError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "render_invalid",
            Self::Failed(_) => "render_failed",
        }
    }
}

/// Renders an invoice to a document (PDF bytes in production).
pub trait InvoiceRenderer: Send + Sync {
    /// The document of `invoice` as issued by `seller`; the same input gives the same bytes.
    fn render(&self, invoice: &Invoice, seller: &SellerDetails) -> Result<Vec<u8>, RenderError>;

    /// The media type of what [`InvoiceRenderer::render`] returns (`application/pdf`).
    fn content_type(&self) -> &'static str {
        "application/pdf"
    }
}
