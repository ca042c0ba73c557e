//! Content validation before review and before publish (issue 13, item 1): required
//! fields, title and meta lengths, one H1, heading order, broken or empty links and
//! images, images without alt text, and HTML a CMS would mangle (unclosed tags;
//! scripts, inline event handlers and `javascript:` URLs, stripped and reported).
//! Errors block approval; warnings are shown.

use serde::{Deserialize, Serialize};

use crate::article::ArticleText;

/// Whether a finding blocks approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks approval and publishing.
    Error,
    /// Shown, does not block.
    Warning,
}

/// One finding, with a stable code a client can act on (`missing_meta_description`,
/// `multiple_h1`, `heading_level_skipped`, `image_missing_alt`, `empty_link`,
/// `script_stripped` …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationIssue {
    /// Stable snake_case code.
    pub code: String,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence a site owner understands, naming the element.
    pub message: String,
}

/// The validation of one article.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationReport {
    /// Every finding, errors first, in document order within each.
    pub issues: Vec<ValidationIssue>,
    /// The body with what a CMS would strip removed (scripts, `on*` attributes,
    /// `javascript:` URLs); None when nothing had to go.
    pub sanitized_html: Option<String>,
}

impl ValidationReport {
    /// True when an error blocks approval.
    pub fn is_blocking(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

/// Validates one article.
pub fn validate(article: &ArticleText) -> ValidationReport {
    let _ = article;
    todo!("validation")
}
