//! Content validation before review and before publish (issue 13, item 1): required
//! fields, title and meta lengths, one H1, heading order, broken or empty links and
//! images, images without alt text, and HTML a CMS would mangle (unclosed tags;
//! scripts, inline event handlers and `javascript:` URLs, stripped and reported).
//! Errors block approval; warnings are shown. Every code is listed in [`code`] and
//! explained in docs/validation.md.
//!
//! The body is read once through [`crate::html`]: the tokenizer's own parse errors,
//! then a stack of open non-void elements (with HTML's optional end tags: `<p>`,
//! `<li>` … may be left open) finds what is unclosed or misnested. Sanitizing edits the
//! source by byte spans: a stripped element's bytes go, a tag that loses an attribute is
//! written again, and every other byte stays as it was.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::article::ArticleText;
use crate::html::{self, Node, VOID_ELEMENTS};

/// Longest SEO title (in characters) search results show in full.
pub const MAX_TITLE_CHARS: usize = 60;

/// Shortest meta description (characters) that fills a search snippet.
pub const MIN_META_DESCRIPTION_CHARS: usize = 120;

/// Longest meta description (characters) search results show before cutting it.
pub const MAX_META_DESCRIPTION_CHARS: usize = 156;

/// The stable codes of [`ValidationIssue::code`], one constant per finding.
pub mod code {
    /// Error: the article has no title.
    pub const MISSING_TITLE: &str = "missing_title";
    /// Error: the article has no slug.
    pub const MISSING_SLUG: &str = "missing_slug";
    /// Error: the article has no meta description.
    pub const MISSING_META_DESCRIPTION: &str = "missing_meta_description";
    /// Error: the body has no text besides its title and no image.
    pub const EMPTY_BODY: &str = "empty_body";
    /// Error: an element that needs an end tag is never closed.
    pub const UNCLOSED_TAG: &str = "unclosed_tag";
    /// Error: an element is still open when an element around it closes.
    pub const MISNESTED_TAG: &str = "misnested_tag";
    /// Error: an end tag closes nothing that is open.
    pub const STRAY_END_TAG: &str = "stray_end_tag";
    /// Error: a tag, comment or doctype runs to the end of the body unterminated.
    pub const UNTERMINATED_MARKUP: &str = "unterminated_markup";
    /// Error: a link goes nowhere (no or empty href, `#` alone, unparsable, `javascript:`).
    pub const BROKEN_LINK: &str = "broken_link";
    /// Error: an image has no (or an empty) `src`.
    pub const IMAGE_MISSING_SRC: &str = "image_missing_src";
    /// Error: an image's `src` cannot be loaded (unparsable, `javascript:`).
    pub const BROKEN_IMAGE_SRC: &str = "broken_image_src";
    /// Warning: the SEO title is longer than [`super::MAX_TITLE_CHARS`].
    pub const TITLE_TOO_LONG: &str = "title_too_long";
    /// Warning: the meta description is shorter than [`super::MIN_META_DESCRIPTION_CHARS`].
    pub const META_DESCRIPTION_TOO_SHORT: &str = "meta_description_too_short";
    /// Warning: the meta description is longer than [`super::MAX_META_DESCRIPTION_CHARS`].
    pub const META_DESCRIPTION_TOO_LONG: &str = "meta_description_too_long";
    /// Warning: the body has no `<h1>`.
    pub const MISSING_H1: &str = "missing_h1";
    /// Warning: the body has more than one `<h1>`.
    pub const MULTIPLE_H1: &str = "multiple_h1";
    /// Warning: a heading skips a level (`<h2>` followed by `<h4>`).
    pub const HEADING_LEVEL_SKIPPED: &str = "heading_level_skipped";
    /// Warning: a heading has no text.
    pub const EMPTY_HEADING: &str = "empty_heading";
    /// Warning: a link has no text and no image.
    pub const EMPTY_LINK: &str = "empty_link";
    /// Warning: an image has no (or an empty) `alt`.
    pub const IMAGE_MISSING_ALT: &str = "image_missing_alt";
    /// Warning: a paragraph has no text and no image.
    pub const EMPTY_PARAGRAPH: &str = "empty_paragraph";
    /// Warning: the tokenizer repaired something (a duplicate attribute, a stray `<`…).
    pub const MALFORMED_MARKUP: &str = "malformed_markup";
    /// Warning: a `<script>` element was removed.
    pub const SCRIPT_STRIPPED: &str = "script_stripped";
    /// Warning: a `<style>` element was removed.
    pub const STYLE_STRIPPED: &str = "style_stripped";
    /// Warning: an `<iframe>` element was removed.
    pub const IFRAME_STRIPPED: &str = "iframe_stripped";
    /// Warning: an `on*` event handler attribute was removed.
    pub const EVENT_HANDLER_STRIPPED: &str = "event_handler_stripped";
    /// Warning: an attribute holding a `javascript:` URL was removed.
    pub const JAVASCRIPT_URL_STRIPPED: &str = "javascript_url_stripped";
}

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

    /// The messages of the errors, in order: what a refused approval reports.
    pub fn error_messages(&self) -> Vec<String> {
        self.issues.iter().filter(|i| i.severity == Severity::Error).map(|i| i.message.clone()).collect()
    }

    /// The body to send: the sanitized one when something was stripped, else `original`.
    pub fn body<'a>(&'a self, original: &'a str) -> &'a str {
        self.sanitized_html.as_deref().unwrap_or(original)
    }
}

/// Elements removed whole (start tag, content and end tag) from the sanitized body.
const STRIPPED_ELEMENTS: [(&str, &str); 3] =
    [("script", code::SCRIPT_STRIPPED), ("style", code::STYLE_STRIPPED), ("iframe", code::IFRAME_STRIPPED)];

/// Attributes whose value is a URL a browser would follow or load.
const URL_ATTRIBUTES: &[&str] =
    &["href", "src", "action", "formaction", "poster", "background", "cite", "data", "xlink:href", "srcset"];

/// Elements whose end tag may be left out (HTML's optional end tags): left open, they
/// are closed by what follows, and neither a browser nor a CMS changes the result.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption",
    "rb", "rt", "rtc", "rp", "html", "head", "body",
];

/// Start tags that close an open `<p>`.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];

/// Elements that count as content of a paragraph, heading or link without any text.
const EMBEDDED: &[&str] = &["img", "picture", "svg", "video", "audio", "object", "embed", "canvas", "math"];

/// Longest piece of source quoted in a message.
const SNIPPET_CHARS: usize = 60;

/// Host relative links are resolved against when the site's host is unknown.
const FALLBACK_HOST: &str = "example.invalid";

/// Validates one article.
pub fn validate(article: &ArticleText) -> ValidationReport {
    let mut found = Findings::default();
    fields(article, &mut found);
    let doc = html::parse(&article.html);
    let sanitized = Body::new(&doc, &article.site_host, &mut found).walk();
    found.into_report(sanitized)
}

/// The errors of the body alone (markup a CMS would mangle, broken links and images,
/// [`code::EMPTY_BODY`]), in document order. Why: a provider can refuse a model's
/// article by the same rules approval applies, before the article is stored and paid for.
pub fn body_errors(html: &str) -> Vec<ValidationIssue> {
    let mut found = Findings::default();
    let doc = html::parse(html);
    Body::new(&doc, FALLBACK_HOST, &mut found).walk();
    found.into_report(None).issues.into_iter().filter(|i| i.severity == Severity::Error).collect()
}

/// Findings with where they were found (byte offset in the body; fields come first).
#[derive(Default)]
struct Findings {
    items: Vec<(Severity, usize, ValidationIssue)>,
}

impl Findings {
    fn push(&mut self, severity: Severity, at: usize, code: &str, message: String) {
        self.items.push((severity, at, ValidationIssue { code: code.to_owned(), severity, message }));
    }

    fn error(&mut self, at: usize, code: &str, message: String) {
        self.push(Severity::Error, at, code, message);
    }

    fn warning(&mut self, at: usize, code: &str, message: String) {
        self.push(Severity::Warning, at, code, message);
    }

    fn into_report(mut self, sanitized_html: Option<String>) -> ValidationReport {
        // Stable: equal keys keep the order they were found in.
        self.items.sort_by_key(|(severity, at, _)| (*severity == Severity::Warning, *at));
        ValidationReport { issues: self.items.into_iter().map(|(_, _, issue)| issue).collect(), sanitized_html }
    }
}

/// The required fields and their lengths.
fn fields(article: &ArticleText, found: &mut Findings) {
    if article.title.trim().is_empty() {
        found.error(0, code::MISSING_TITLE, "The article has no title.".into());
    }
    if article.slug.trim().is_empty() {
        found.error(0, code::MISSING_SLUG, "The article has no slug (the last part of its URL).".into());
    }
    let seo_title = if article.seo_title.trim().is_empty() { &article.title } else { &article.seo_title };
    let title_chars = seo_title.trim().chars().count();
    if title_chars > MAX_TITLE_CHARS {
        found.warning(
            0,
            code::TITLE_TOO_LONG,
            format!("The SEO title has {title_chars} characters; search results cut it after about {MAX_TITLE_CHARS}."),
        );
    }
    let meta = article.meta_description.trim();
    let meta_chars = meta.chars().count();
    if meta.is_empty() {
        found.error(0, code::MISSING_META_DESCRIPTION, "The article has no meta description.".into());
    } else if meta_chars < MIN_META_DESCRIPTION_CHARS {
        found.warning(
            0,
            code::META_DESCRIPTION_TOO_SHORT,
            format!(
                "The meta description has {meta_chars} characters; \
                 {MIN_META_DESCRIPTION_CHARS}–{MAX_META_DESCRIPTION_CHARS} fill a search snippet."
            ),
        );
    } else if meta_chars > MAX_META_DESCRIPTION_CHARS {
        found.warning(
            0,
            code::META_DESCRIPTION_TOO_LONG,
            format!(
                "The meta description has {meta_chars} characters; search results cut it after about \
                 {MAX_META_DESCRIPTION_CHARS}."
            ),
        );
    }
}

/// An element open while the body is read.
struct Open {
    name: String,
    span: Range<usize>,
}

/// A heading, paragraph or link being read: where it starts and whether it has content.
struct Block {
    span: Range<usize>,
    content: bool,
}

/// One walk over the body's tokens.
struct Body<'d, 'f> {
    doc: &'d html::Html<'d>,
    base: Option<Url>,
    found: &'f mut Findings,
    stack: Vec<Open>,
    /// Byte ranges removed from the sanitized body.
    removed: Vec<Range<usize>>,
    /// Tags written again without some attributes: (span, new tag).
    rewritten: Vec<(Range<usize>, String)>,
    /// An element being stripped whole: its name and where it starts.
    stripping: Option<(String, usize)>,
    heading: Option<(u8, Block)>,
    paragraph: Option<Block>,
    link: Option<Block>,
    h1_count: usize,
    previous_level: u8,
    has_content: bool,
}

impl<'d, 'f> Body<'d, 'f> {
    fn new(doc: &'d html::Html<'d>, site_host: &str, found: &'f mut Findings) -> Self {
        let host = if site_host.trim().is_empty() { FALLBACK_HOST } else { site_host.trim() };
        let base =
            Url::parse(&format!("https://{host}/")).or_else(|_| Url::parse(&format!("https://{FALLBACK_HOST}/"))).ok();
        Self {
            doc,
            base,
            found,
            stack: Vec::new(),
            removed: Vec::new(),
            rewritten: Vec::new(),
            stripping: None,
            heading: None,
            paragraph: None,
            link: None,
            h1_count: 0,
            previous_level: 1,
            has_content: false,
        }
    }

    /// Reads every token, reports, and returns the sanitized body when something went.
    fn walk(mut self) -> Option<String> {
        let source = self.doc.source;
        for issue in &self.doc.issues {
            let at = issue.span.start;
            if issue.code.starts_with("eof-") {
                // The issue sits at the end of the body: quote from the markup's `<`.
                let opened = source.get(..at).and_then(|before| before.rfind('<')).unwrap_or(at);
                self.found.error(
                    opened,
                    code::UNTERMINATED_MARKUP,
                    format!("The body ends inside unterminated markup ({}): {}", issue.code, self.snippet_from(opened)),
                );
            } else {
                self.found.warning(
                    at,
                    code::MALFORMED_MARKUP,
                    format!("Malformed markup ({}) at {}", issue.code, self.snippet_from(at)),
                );
            }
        }
        for node in &self.doc.nodes {
            if let Some((name, start)) = &self.stripping {
                if matches!(node, Node::End { name: end, .. } if end == name) {
                    let end = node.span().end;
                    self.removed.push(*start..end);
                    self.stripping = None;
                }
                continue;
            }
            match node {
                Node::Start { name, attrs, self_closing, span } => self.start(name, attrs, *self_closing, span),
                Node::End { name, span } => self.end(name, span),
                Node::Text { text, .. } => {
                    if !text.trim().is_empty() {
                        self.content();
                    }
                }
                Node::Comment { .. } | Node::Doctype { .. } => {}
            }
        }
        if let Some((name, start)) = self.stripping.take() {
            // Everything after it was read as its content: the article's end is lost.
            self.found.error(
                start,
                code::UNCLOSED_TAG,
                format!("<{name}> is never closed, so the rest of the body is inside it: {}", self.snippet_from(start)),
            );
            self.removed.push(start..source.len());
        }
        for open in std::mem::take(&mut self.stack) {
            if !OPTIONAL_END.contains(&open.name.as_str()) {
                self.found.error(
                    open.span.start,
                    code::UNCLOSED_TAG,
                    format!("<{}> is never closed: {}", open.name, self.snippet(&open.span)),
                );
            }
        }
        self.close_blocks_at_end();
        if !self.has_content {
            self.found.error(0, code::EMPTY_BODY, "The body has no text besides its title, and no image.".into());
        }
        match self.h1_count {
            0 => self.found.warning(0, code::MISSING_H1, "The body has no <h1> (the title).".into()),
            1 => {}
            n => self.found.warning(0, code::MULTIPLE_H1, format!("The body has {n} <h1> headings; use one.")),
        }
        self.sanitized()
    }

    /// Marks content inside the open heading, paragraph and link; outside an `<h1>`
    /// it also counts as the body's own content.
    fn content(&mut self) {
        for block in
            [self.paragraph.as_mut(), self.link.as_mut(), self.heading.as_mut().map(|(_, b)| b)].into_iter().flatten()
        {
            block.content = true;
        }
        if !matches!(self.heading, Some((1, _))) {
            self.has_content = true;
        }
    }

    fn start(&mut self, name: &str, attrs: &[(String, String)], self_closing: bool, span: &Range<usize>) {
        if let Some((_, stripped_code)) = STRIPPED_ELEMENTS.iter().find(|(n, _)| *n == name) {
            self.found.warning(
                span.start,
                stripped_code,
                format!("<{name}> removed (a CMS strips it, and it may run code): {}", self.snippet(span)),
            );
            self.stripping = Some((name.to_owned(), span.start));
            return;
        }
        self.attributes(name, attrs, self_closing, span);
        if EMBEDDED.contains(&name) {
            self.content();
        }
        match name {
            "img" => self.image(attrs, span),
            "a" => {
                self.close_link();
                self.check_href(attrs, span);
                self.link = Some(Block { span: span.clone(), content: false });
            }
            "p" => {
                self.close_paragraph();
                self.paragraph = Some(Block { span: span.clone(), content: false });
            }
            _ => {}
        }
        if let Some(level) = heading_level(name) {
            self.close_heading();
            self.heading_start(level, span);
        }
        if VOID_ELEMENTS.contains(&name) {
            return;
        }
        // `<div/>` still opens a div in HTML: it is pushed like any other element.
        while let Some(top) = self.stack.last() {
            if implied_end(&top.name, name) {
                self.stack.pop();
            } else {
                break;
            }
        }
        self.stack.push(Open { name: name.to_owned(), span: span.clone() });
    }

    fn end(&mut self, name: &str, span: &Range<usize>) {
        match name {
            "a" => self.close_link(),
            "p" => self.close_paragraph(),
            n if heading_level(n).is_some() => self.close_heading(),
            _ => {}
        }
        let Some(at) = self.stack.iter().rposition(|open| open.name == name) else {
            self.found.error(
                span.start,
                code::STRAY_END_TAG,
                format!("</{name}> closes nothing that is open: {}", self.snippet(span)),
            );
            return;
        };
        let inner: Vec<Open> = self.stack.drain(at..).skip(1).collect();
        for open in inner.iter().rev() {
            if !OPTIONAL_END.contains(&open.name.as_str()) {
                self.found.error(
                    open.span.start,
                    code::MISNESTED_TAG,
                    format!("<{}> is still open when </{name}> closes: {}", open.name, self.snippet(&open.span)),
                );
            }
        }
    }

    /// `on*` handlers and `javascript:` URLs are removed by writing the tag again.
    fn attributes(&mut self, name: &str, attrs: &[(String, String)], self_closing: bool, span: &Range<usize>) {
        let mut kept = Vec::with_capacity(attrs.len());
        let mut dropped = false;
        for (attr, value) in attrs {
            if attr.starts_with("on") && attr.len() > 2 {
                self.found.warning(
                    span.start,
                    code::EVENT_HANDLER_STRIPPED,
                    format!("Event handler {attr}=\"…\" removed from <{name}>: {}", self.snippet(span)),
                );
                dropped = true;
            } else if URL_ATTRIBUTES.contains(&attr.as_str()) && is_script_url(value) {
                self.found.warning(
                    span.start,
                    code::JAVASCRIPT_URL_STRIPPED,
                    format!("{attr} with a javascript: URL removed from <{name}>: {}", self.snippet(span)),
                );
                dropped = true;
            } else {
                kept.push((attr.as_str(), value.as_str()));
            }
        }
        if dropped {
            let mut tag = format!("<{name}");
            for (attr, value) in kept {
                tag.push(' ');
                tag.push_str(attr);
                tag.push_str("=\"");
                tag.push_str(&escape_attribute(value));
                tag.push('"');
            }
            tag.push_str(if self_closing { " />" } else { ">" });
            self.rewritten.push((span.clone(), tag));
        }
    }

    fn image(&mut self, attrs: &[(String, String)], span: &Range<usize>) {
        let attr = |wanted: &str| attrs.iter().find(|(n, _)| n == wanted).map(|(_, v)| v.trim());
        match attr("src") {
            None | Some("") => self.found.error(
                span.start,
                code::IMAGE_MISSING_SRC,
                format!("An image has no src: {}", self.snippet(span)),
            ),
            Some(src) if is_script_url(src) => self.found.error(
                span.start,
                code::BROKEN_IMAGE_SRC,
                format!("An image's src is a javascript: URL: {}", self.snippet(span)),
            ),
            Some(src) if !self.parses(src) => self.found.error(
                span.start,
                code::BROKEN_IMAGE_SRC,
                format!("An image's src is not a valid URL: {}", self.snippet(span)),
            ),
            Some(_) => {}
        }
        if attr("alt").is_none_or(str::is_empty) {
            self.found.warning(
                span.start,
                code::IMAGE_MISSING_ALT,
                format!("An image has no alt text: {}", self.snippet(span)),
            );
        }
    }

    fn check_href(&mut self, attrs: &[(String, String)], span: &Range<usize>) {
        let href = attrs.iter().find(|(n, _)| n == "href").map(|(_, v)| v.trim());
        let problem = match href {
            None => Some("has no href"),
            Some("") => Some("has an empty href"),
            Some("#") => Some("points to \"#\" only"),
            Some(h) if is_script_url(h) => Some("is a javascript: URL"),
            Some(h) if !h.starts_with('#') && !self.parses(h) => Some("is not a valid URL"),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            self.found.error(span.start, code::BROKEN_LINK, format!("A link {problem}: {}", self.snippet(span)));
        }
    }

    fn heading_start(&mut self, level: u8, span: &Range<usize>) {
        if level == 1 {
            self.h1_count += 1;
        } else if level > self.previous_level + 1 {
            self.found.warning(
                span.start,
                code::HEADING_LEVEL_SKIPPED,
                format!("<h{level}> follows <h{}>, skipping a level: {}", self.previous_level, self.snippet(span)),
            );
        }
        self.previous_level = level;
        self.heading = Some((level, Block { span: span.clone(), content: false }));
    }

    fn close_heading(&mut self) {
        if let Some((level, block)) = self.heading.take() {
            if !block.content {
                self.found.warning(
                    block.span.start,
                    code::EMPTY_HEADING,
                    format!("An <h{level}> has no text: {}", self.snippet(&block.span)),
                );
            }
        }
    }

    fn close_paragraph(&mut self) {
        if let Some(block) = self.paragraph.take() {
            if !block.content {
                self.found.warning(
                    block.span.start,
                    code::EMPTY_PARAGRAPH,
                    format!("A paragraph has no text: {}", self.snippet(&block.span)),
                );
            }
        }
    }

    fn close_link(&mut self) {
        if let Some(block) = self.link.take() {
            if !block.content {
                self.found.warning(
                    block.span.start,
                    code::EMPTY_LINK,
                    format!("A link has no text: {}", self.snippet(&block.span)),
                );
            }
        }
    }

    fn close_blocks_at_end(&mut self) {
        self.close_heading();
        self.close_paragraph();
        self.close_link();
    }

    /// True when a browser can resolve `url` (relative ones against the site).
    fn parses(&self, url: &str) -> bool {
        match Url::parse(url) {
            Ok(_) => true,
            Err(url::ParseError::RelativeUrlWithoutBase) => self.base.as_ref().is_some_and(|b| b.join(url).is_ok()),
            Err(_) => false,
        }
    }

    /// The source of `span`, shortened for a message.
    fn snippet(&self, span: &Range<usize>) -> String {
        let text = self.doc.source.get(span.clone()).unwrap_or_default();
        shorten(text)
    }

    /// The source from `at`, shortened for a message.
    fn snippet_from(&self, at: usize) -> String {
        let text = self.doc.source.get(at..).unwrap_or_default();
        shorten(text)
    }

    /// The body with the removed ranges cut and the rewritten tags replaced; None when
    /// nothing changed.
    fn sanitized(self) -> Option<String> {
        if self.removed.is_empty() && self.rewritten.is_empty() {
            return None;
        }
        let source = self.doc.source;
        let mut edits: Vec<(Range<usize>, String)> =
            self.removed.into_iter().map(|r| (r, String::new())).chain(self.rewritten).collect();
        edits.sort_by_key(|(range, _)| (range.start, range.end));
        let mut out = String::with_capacity(source.len());
        let mut at = 0;
        for (range, replacement) in edits {
            if range.start < at {
                // Inside a range already removed.
                continue;
            }
            out.push_str(source.get(at..range.start).unwrap_or_default());
            out.push_str(&replacement);
            at = range.end;
        }
        out.push_str(source.get(at..).unwrap_or_default());
        Some(out)
    }
}

/// True when an open `open` element is closed by a start tag `new` (HTML's implied
/// end tags for elements with optional end tags).
fn implied_end(open: &str, new: &str) -> bool {
    match open {
        "p" => CLOSES_P.contains(&new),
        "li" => new == "li",
        "dt" | "dd" => matches!(new, "dt" | "dd"),
        "option" => matches!(new, "option" | "optgroup"),
        "optgroup" => new == "optgroup",
        "tr" => matches!(new, "tr" | "tbody" | "tfoot" | "thead"),
        "td" | "th" => matches!(new, "td" | "th" | "tr" | "tbody" | "tfoot" | "thead"),
        "thead" | "tbody" => matches!(new, "tbody" | "tfoot"),
        "rb" | "rt" | "rtc" | "rp" => matches!(new, "rb" | "rt" | "rtc" | "rp"),
        _ => false,
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name.as_bytes() {
        [b'h', d @ b'1'..=b'6'] => Some(d - b'0'),
        _ => None,
    }
}

/// A URL that runs script when followed: browsers drop ASCII tabs, newlines and
/// controls inside the scheme, so `java\tscript:` counts too.
fn is_script_url(value: &str) -> bool {
    let compact: String =
        value.chars().filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control()).take(16).collect();
    let lower = compact.to_ascii_lowercase();
    lower.starts_with("javascript:") || lower.starts_with("vbscript:")
}

fn escape_attribute(value: &str) -> String {
    value.replace('&', "&amp;").replace('"', "&quot;")
}

fn shorten(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= SNIPPET_CHARS {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(SNIPPET_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "A practical guide to choosing running shoes: fit, grip, cushioning and price, with the \
                        models our testers liked best this year.";

    fn article(html: &str) -> ArticleText {
        ArticleText {
            title: "Best Running Shoes".into(),
            seo_title: String::new(),
            slug: "best-running-shoes".into(),
            meta_description: META.into(),
            html: html.into(),
            focus_keyphrase: "running shoes".into(),
            language: "en".into(),
            site_host: "blog.example.com".into(),
        }
    }

    fn codes(report: &ValidationReport) -> Vec<(&str, Severity)> {
        report.issues.iter().map(|i| (i.code.as_str(), i.severity)).collect()
    }

    /// Expected findings: (code, severity) in report order.
    type Expected<'a> = &'a [(&'a str, Severity)];

    const E: Severity = Severity::Error;
    const W: Severity = Severity::Warning;

    #[test]
    fn a_clean_article_has_no_findings() {
        let report = validate(&article(
            "<h1>Best Running Shoes</h1>\n<p>Intro with a <a href=\"/guide\">guide</a>.</p>\n<h2>Fit</h2>\n\
             <ul><li>One<li>Two</ul><p>Open paragraph<h3>Grip</h3><p>Text &amp; more.</p>\
             <figure><img src=\"https://cdn.example.com/a.png\" alt=\"A shoe\"></figure>",
        ));
        assert_eq!(codes(&report), vec![]);
        assert!(!report.is_blocking());
        assert_eq!(report.sanitized_html, None);
    }

    #[test]
    fn field_findings() {
        let long_title = "A title that goes on and on well past the sixty characters a result shows";
        let cases: Vec<(ArticleText, Vec<(&str, Severity)>)> = vec![
            (
                ArticleText {
                    title: " ".into(),
                    slug: String::new(),
                    meta_description: String::new(),
                    ..article("<h1>x</h1><p>y</p>")
                },
                vec![(code::MISSING_TITLE, E), (code::MISSING_SLUG, E), (code::MISSING_META_DESCRIPTION, E)],
            ),
            (
                ArticleText { title: long_title.into(), ..article("<h1>x</h1><p>y</p>") },
                vec![(code::TITLE_TOO_LONG, W)],
            ),
            // The SEO title, when set, is the one measured.
            (
                ArticleText { title: long_title.into(), seo_title: "Short".into(), ..article("<h1>x</h1><p>y</p>") },
                vec![],
            ),
            (
                ArticleText { meta_description: "Too short.".into(), ..article("<h1>x</h1><p>y</p>") },
                vec![(code::META_DESCRIPTION_TOO_SHORT, W)],
            ),
            (
                ArticleText { meta_description: format!("{META} {META}"), ..article("<h1>x</h1><p>y</p>") },
                vec![(code::META_DESCRIPTION_TOO_LONG, W)],
            ),
            (ArticleText { meta_description: "é".repeat(156), ..article("<h1>x</h1><p>y</p>") }, vec![]),
        ];
        for (input, expected) in cases {
            assert_eq!(codes(&validate(&input)), expected, "{input:?}");
        }
    }

    #[test]
    fn body_errors_are_what_approval_blocks_in_the_body() {
        let empty = |html: &str| body_errors(html).iter().any(|i| i.code == code::EMPTY_BODY);
        assert!(empty("<h1>Only the title</h1>"));
        assert!(empty(""));
        assert!(empty("<H1 class=\"t\">Title</H1>\n<p> &nbsp; </p>"));
        assert!(!empty("<H1 class=\"t\">Title here</H1>\n<p>Two words</p>"));
        assert!(!empty("<h1>T</h1><p><img src=\"/a.png\" alt=\"a\"></p>"));
        assert!(!empty("plain text, no tags"));
        assert!(!empty("<header>Site</header>"));
        assert!(body_errors("<h1>T</h1><p>Fine <a href=\"/x\">link</a></p>").is_empty());
        let codes = |html: &str| body_errors(html).into_iter().map(|i| i.code).collect::<Vec<_>>();
        assert_eq!(
            codes("<div class='post-header'><p>Welcome.</p></div></p><section>Open"),
            vec![code::STRAY_END_TAG, code::UNCLOSED_TAG]
        );
        assert_eq!(codes("<p>No meta or title is a body error</p>"), Vec::<String>::new());
    }

    #[test]
    fn body_findings() {
        let cases: &[(&str, Expected)] = &[
            ("", &[(code::EMPTY_BODY, E), (code::MISSING_H1, W)]),
            ("<h1>Only the title</h1>", &[(code::EMPTY_BODY, E)]),
            ("<h1>T</h1><p><img src=\"/a.png\" alt=\"a\"></p>", &[]),
            ("<p>No heading.</p>", &[(code::MISSING_H1, W)]),
            ("<h1>A</h1><p>x</p><h1>B</h1>", &[(code::MULTIPLE_H1, W)]),
            ("<h1>A</h1><h2>B</h2><p>x</p><h4>C</h4><h3>D</h3><h2>E</h2>", &[(code::HEADING_LEVEL_SKIPPED, W)]),
            ("<h1>A</h1><h3>B</h3><p>x</p>", &[(code::HEADING_LEVEL_SKIPPED, W)]),
            ("<h1>A</h1><h2> </h2><p>x</p>", &[(code::EMPTY_HEADING, W)]),
            ("<h1>A</h1><p>x</p><p> &nbsp; <br></p>", &[(code::EMPTY_PARAGRAPH, W)]),
            ("<h1>A</h1><p>x <a href=\"/y\"> </a></p>", &[(code::EMPTY_LINK, W)]),
            ("<h1>A</h1><p><a href=\"/y\"><img src=\"/i.png\" alt=\"i\"></a></p>", &[]),
            ("<h1>A</h1><p>x <a href=\"\">y</a></p>", &[(code::BROKEN_LINK, E)]),
            ("<h1>A</h1><p>x <a>y</a></p>", &[(code::BROKEN_LINK, E)]),
            ("<h1>A</h1><p>x <a href=\"#\">y</a> <a href=\"#fit\">z</a></p>", &[(code::BROKEN_LINK, E)]),
            ("<h1>A</h1><p>x <a href=\"https://exa mple.com/\">y</a></p>", &[(code::BROKEN_LINK, E)]),
            ("<h1>A</h1><p>x <a href=\"http://\">y</a></p>", &[(code::BROKEN_LINK, E)]),
            ("<h1>A</h1><p><a href=\"mailto:a@b.c\">m</a> <a href=\"tel:+1\">t</a> <a href=\"?q=1\">q</a></p>", &[]),
            ("<h1>A</h1><p>x</p><img alt=\"a\">", &[(code::IMAGE_MISSING_SRC, E)]),
            ("<h1>A</h1><p>x</p><img src=\" \" alt=\"a\">", &[(code::IMAGE_MISSING_SRC, E)]),
            ("<h1>A</h1><p>x</p><img src=\"http://[::1\" alt=\"a\">", &[(code::BROKEN_IMAGE_SRC, E)]),
            ("<h1>A</h1><p>x</p><img src=\"/a.png\">", &[(code::IMAGE_MISSING_ALT, W)]),
            ("<h1>A</h1><p>x</p><img src=\"/a.png\" alt=\"\">", &[(code::IMAGE_MISSING_ALT, W)]),
            ("<h1>A</h1><div><p>x</div>", &[]),
            ("<h1>A</h1><div><p>x</p>", &[(code::UNCLOSED_TAG, E)]),
            ("<h1>A</h1><p><b>x</p>", &[(code::MISNESTED_TAG, E)]),
            ("<h1>A</h1><p><b><i>x</b></i></p>", &[(code::MISNESTED_TAG, E), (code::STRAY_END_TAG, E)]),
            ("<h1>A</h1><p>x</p></div>", &[(code::STRAY_END_TAG, E)]),
            // The tokenizer drops a tag cut off by the end of the body.
            ("<h1>A</h1><p>x <a href=\"/y", &[(code::UNTERMINATED_MARKUP, E)]),
            ("<h1>A</h1><p>x</p><!-- open", &[(code::UNTERMINATED_MARKUP, E)]),
            ("<h1>A</h1><p class=\"a\" class=\"b\">x</p>", &[(code::MALFORMED_MARKUP, W)]),
        ];
        for (html, expected) in cases {
            let report = validate(&article(html));
            assert_eq!(codes(&report), expected.to_vec(), "{html}\n{report:#?}");
        }
    }

    #[test]
    fn errors_come_first_in_document_order() {
        let report = validate(&ArticleText {
            meta_description: "short".into(),
            ..article("<h1>A</h1><p>x</p><img src=\"/a.png\"><a href=\"#\">b</a><div>")
        });
        assert_eq!(
            codes(&report),
            vec![
                (code::BROKEN_LINK, E),
                (code::UNCLOSED_TAG, E),
                (code::META_DESCRIPTION_TOO_SHORT, W),
                (code::IMAGE_MISSING_ALT, W),
            ]
        );
        assert_eq!(report.error_messages().len(), 2);
        assert!(report.error_messages()[0].contains("<a href=\"#\">"), "{:?}", report.error_messages());
    }

    #[test]
    fn scripts_handlers_and_script_urls_are_stripped_and_the_rest_kept_byte_for_byte() {
        let cases: &[(&str, &str, Expected)] = &[
            (
                "<h1>A</h1>\n<p>Keep  this &amp; that.</p><script>alert('<p>')</script>\n<p>After.</p>",
                "<h1>A</h1>\n<p>Keep  this &amp; that.</p>\n<p>After.</p>",
                &[(code::SCRIPT_STRIPPED, W)],
            ),
            (
                "<h1>A</h1><p onclick=\"x()\" class='lead' ONMOUSEOVER=y>Text</p>",
                "<h1>A</h1><p class=\"lead\">Text</p>",
                &[(code::EVENT_HANDLER_STRIPPED, W), (code::EVENT_HANDLER_STRIPPED, W)],
            ),
            (
                "<h1>A</h1><p>See <a href=\" java\tscript:go()\" title=\"a&quot;b\">this</a>.</p>",
                "<h1>A</h1><p>See <a title=\"a&quot;b\">this</a>.</p>",
                &[(code::BROKEN_LINK, E), (code::JAVASCRIPT_URL_STRIPPED, W)],
            ),
            (
                "<h1>A</h1><style>p{color:red}</style><p>x</p><iframe src=\"https://v.example/\" onload=\"z()\"></iframe>",
                "<h1>A</h1><p>x</p>",
                &[(code::STYLE_STRIPPED, W), (code::IFRAME_STRIPPED, W)],
            ),
            (
                "<h1>A</h1><p>x</p><img src=\"/a.png\" alt=\"a\" onerror=\"steal()\"/><script>never closed",
                "<h1>A</h1><p>x</p><img alt=\"a\" src=\"/a.png\" />",
                &[(code::UNCLOSED_TAG, E), (code::EVENT_HANDLER_STRIPPED, W), (code::SCRIPT_STRIPPED, W)],
            ),
        ];
        for (html, sanitized, expected) in cases {
            let report = validate(&article(html));
            assert_eq!(codes(&report), expected.to_vec(), "{html}\n{report:#?}");
            assert_eq!(report.sanitized_html.as_deref(), Some(*sanitized), "{html}");
            assert_eq!(report.body(html), *sanitized);
            // What is sent validates clean of anything that would be stripped.
            let again = validate(&article(sanitized));
            assert!(again.sanitized_html.is_none(), "{sanitized}: {again:#?}");
        }
    }

    #[test]
    fn codes_are_snake_case_and_unique() {
        let all = [
            code::MISSING_TITLE,
            code::MISSING_SLUG,
            code::MISSING_META_DESCRIPTION,
            code::EMPTY_BODY,
            code::UNCLOSED_TAG,
            code::MISNESTED_TAG,
            code::STRAY_END_TAG,
            code::UNTERMINATED_MARKUP,
            code::BROKEN_LINK,
            code::IMAGE_MISSING_SRC,
            code::BROKEN_IMAGE_SRC,
            code::TITLE_TOO_LONG,
            code::META_DESCRIPTION_TOO_SHORT,
            code::META_DESCRIPTION_TOO_LONG,
            code::MISSING_H1,
            code::MULTIPLE_H1,
            code::HEADING_LEVEL_SKIPPED,
            code::EMPTY_HEADING,
            code::EMPTY_LINK,
            code::IMAGE_MISSING_ALT,
            code::EMPTY_PARAGRAPH,
            code::MALFORMED_MARKUP,
            code::SCRIPT_STRIPPED,
            code::STYLE_STRIPPED,
            code::IFRAME_STRIPPED,
            code::EVENT_HANDLER_STRIPPED,
            code::JAVASCRIPT_URL_STRIPPED,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for c in all {
            assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{c}");
            assert!(seen.insert(c), "{c} twice");
        }
        // docs/validation.md documents every code.
        let docs = include_str!("../../../docs/validation.md");
        for c in all {
            assert!(docs.contains(&format!("`{c}`")), "docs/validation.md misses {c}");
        }
    }
}
