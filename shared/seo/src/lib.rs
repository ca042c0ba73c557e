//! The deterministic text rules of optimization and linking, as plain functions over
//! plain data: [`html`] reads an article body once, [`validate`](mod@validate) finds
//! what blocks an article from review or would be mangled by a CMS,
//! [`analyze`](mod@analyze) scores it against published SEO and readability
//! thresholds, and [`link`] finds related articles and injects links on anchor text
//! already in the body; [`text`] counts words, sentences and syllables the same way for
//! all of them. No I/O and nothing of ours, like the AI providers: the services in
//! igny8-core call these and store the results.

pub mod analyze;
pub mod article;
pub mod html;
pub mod link;
pub mod text;
pub mod validate;

pub use analyze::{analyze, Analysis, Check, CheckGroup, RuleSet, TextStats};
pub use article::ArticleText;
pub use link::{inject, Candidate, Injection, LinkDoc, LinkIndex, LinkOptions, PlacedLink};
pub use validate::{body_errors, validate, Severity, ValidationIssue, ValidationReport};
