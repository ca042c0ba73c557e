//! One reading of an article's HTML that validation, the analyzer and link injection
//! share: html5gum's WHATWG tokens with their byte spans in the source, the element
//! each piece of text sits in, and the text blocks (headings, paragraphs, list items)
//! the readability checks count. Tokenizing, not tree building: the rules need where a
//! tag opens and closes and what text lies between, and the spans let link injection
//! edit the source in place instead of re-serializing (and so reformatting) the body.

use std::ops::Range;

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// Elements that never have content or an end tag.
pub const VOID_ELEMENTS: &[&str] =
    &["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"];

/// Elements whose text is not prose a reader reads as the article (and where a link
/// must never be injected): headings, links, code, captions, scripts and the like.
pub const PROTECTED_ELEMENTS: &[&str] = &[
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "code",
    "pre",
    "kbd",
    "samp",
    "script",
    "style",
    "figcaption",
    "caption",
    "button",
    "textarea",
    "select",
    "option",
    "label",
    "template",
    "noscript",
    "iframe",
    "svg",
    "math",
    "title",
];

/// Elements that start a text block of their own.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "blockquote",
    "figcaption",
    "caption",
    "td",
    "th",
    "dt",
    "dd",
    "pre",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "table",
    "tr",
    "ul",
    "ol",
    "dl",
    "figure",
    "hr",
    "br",
];

/// One token of the source, with the byte range it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `<name attr="value">`; names are lowercase, attribute values decoded.
    Start {
        /// Element name.
        name: String,
        /// Attributes in name order (html5gum keeps the first of duplicates).
        attrs: Vec<(String, String)>,
        /// Written as `<name/>`.
        self_closing: bool,
        /// Bytes of the whole tag.
        span: Range<usize>,
    },
    /// `</name>`.
    End {
        /// Element name.
        name: String,
        /// Bytes of the whole tag.
        span: Range<usize>,
    },
    /// Character data, entities decoded (the raw bytes are `source[span]`).
    Text {
        /// Decoded text.
        text: String,
        /// Bytes in the source.
        span: Range<usize>,
    },
    /// `<!-- … -->`.
    Comment {
        /// Bytes in the source.
        span: Range<usize>,
    },
    /// `<!DOCTYPE …>`.
    Doctype {
        /// Bytes in the source.
        span: Range<usize>,
    },
}

/// A tokenizer error (html5gum's WHATWG parse-error name, e.g. `eof-in-tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIssue {
    /// The WHATWG parse error's name.
    pub code: String,
    /// Where it happened.
    pub span: Range<usize>,
}

/// An article body read once.
#[derive(Debug, Clone)]
pub struct Html<'a> {
    /// The source as given.
    pub source: &'a str,
    /// Its tokens in order.
    pub nodes: Vec<Node>,
    /// Tokenizer errors (unterminated tags, bad characters …).
    pub issues: Vec<ParseIssue>,
}

/// What a text block is, for the rules that treat headings, paragraphs and captions
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `<h1>`…`<h6>` with its level.
    Heading(u8),
    /// `<p>` or loose text.
    Paragraph,
    /// `<li>`, `<dt>`, `<dd>`.
    ListItem,
    /// `<figcaption>`, `<caption>`.
    Caption,
    /// Table cells, quotes, preformatted text.
    Other,
}

/// A run of text between block boundaries, as a reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Heading, paragraph …
    pub kind: BlockKind,
    /// Decoded text, whitespace collapsed to single spaces, trimmed.
    pub text: String,
    /// From the first to the last byte of its text in the source.
    pub span: Range<usize>,
}

/// A link as written: its target, its anchor text and every attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// `href`, decoded; empty when missing.
    pub href: String,
    /// Anchor text, whitespace collapsed.
    pub text: String,
    /// Every attribute of the `<a>` tag.
    pub attrs: Vec<(String, String)>,
    /// From the start tag to the end tag (or the end of the source when unclosed).
    pub span: Range<usize>,
}

/// A piece of source text and whether it sits in a protected element
/// ([`PROTECTED_ELEMENTS`]), where no link may be injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRun {
    /// Bytes of the raw text in the source (entities as written).
    pub span: Range<usize>,
    /// Inside a heading, link, code, caption, script …
    pub protected: bool,
}

impl Node {
    /// The bytes the token covers.
    pub fn span(&self) -> &Range<usize> {
        match self {
            Node::Start { span, .. }
            | Node::End { span, .. }
            | Node::Text { span, .. }
            | Node::Comment { span }
            | Node::Doctype { span } => span,
        }
    }

    /// An attribute of a start tag.
    pub fn attr(&self, wanted: &str) -> Option<&str> {
        match self {
            Node::Start { attrs, .. } => attrs.iter().find(|(n, _)| n == wanted).map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads `source` into tokens. Script and style contents are read as raw text (the
/// tokenizer's naive state switching), as a browser would.
pub fn parse(source: &str) -> Html<'_> {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    emitter.naively_switch_states(true);
    let mut nodes: Vec<Node> = Vec::new();
    let mut issues = Vec::new();
    let clamp = |start: usize, end: usize| start.min(source.len())..end.min(source.len()).max(start.min(source.len()));
    for token in Tokenizer::new_with_emitter(source, emitter).flatten() {
        match token {
            Token::StartTag(tag) => nodes.push(Node::Start {
                name: lossy(&tag.name).to_ascii_lowercase(),
                attrs: tag.attributes.iter().map(|(k, v)| (lossy(k).to_ascii_lowercase(), lossy(&v.value))).collect(),
                self_closing: tag.self_closing,
                span: clamp(tag.span.start, tag.span.end),
            }),
            Token::EndTag(tag) => nodes.push(Node::End {
                name: lossy(&tag.name).to_ascii_lowercase(),
                span: clamp(tag.span.start, tag.span.end),
            }),
            Token::String(text) => {
                let span = clamp(text.span.start, text.span.end);
                // The tokenizer may split one run of text (at entities); keep it whole.
                if let Some(Node::Text { text: before, span: was }) = nodes.last_mut() {
                    if was.end == span.start {
                        before.push_str(&lossy(&text.value));
                        was.end = span.end;
                        continue;
                    }
                }
                nodes.push(Node::Text { text: lossy(&text.value), span });
            }
            Token::Comment(c) => nodes.push(Node::Comment { span: clamp(c.span.start, c.span.end) }),
            Token::Doctype(d) => nodes.push(Node::Doctype { span: clamp(d.span.start, d.span.end) }),
            Token::Error(e) => {
                issues.push(ParseIssue { code: e.value.to_string(), span: clamp(e.span.start, e.span.end) })
            }
        }
    }
    Html { source, nodes, issues }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn heading_level(name: &str) -> Option<u8> {
    match name.as_bytes() {
        [b'h', d @ b'1'..=b'6'] => Some(d - b'0'),
        _ => None,
    }
}

impl Html<'_> {
    /// The text blocks in order (empty ones left out).
    pub fn blocks(&self) -> Vec<Block> {
        let mut blocks = Vec::new();
        let mut kinds: Vec<BlockKind> = Vec::new();
        let mut raw_text_depth = 0usize;
        let mut text = String::new();
        let mut span: Option<Range<usize>> = None;
        let flush = |kinds: &[BlockKind], text: &mut String, span: &mut Option<Range<usize>>, out: &mut Vec<Block>| {
            let collapsed = collapse(text);
            if let Some(s) = span.take() {
                if !collapsed.is_empty() {
                    let kind = kinds.last().copied().unwrap_or(BlockKind::Paragraph);
                    out.push(Block { kind, text: collapsed, span: s });
                }
            }
            text.clear();
        };
        for node in &self.nodes {
            match node {
                Node::Start { name, self_closing, .. } => {
                    if matches!(name.as_str(), "script" | "style" | "template" | "noscript") && !self_closing {
                        raw_text_depth += 1;
                    } else if BLOCK_ELEMENTS.contains(&name.as_str()) {
                        flush(&kinds, &mut text, &mut span, &mut blocks);
                        if !VOID_ELEMENTS.contains(&name.as_str()) && !self_closing {
                            kinds.push(match name.as_str() {
                                n if heading_level(n).is_some() => BlockKind::Heading(heading_level(n).unwrap_or(1)),
                                "p" => BlockKind::Paragraph,
                                "li" | "dt" | "dd" => BlockKind::ListItem,
                                "figcaption" | "caption" => BlockKind::Caption,
                                "div" | "section" | "article" | "header" | "footer" | "aside" => {
                                    kinds.last().copied().unwrap_or(BlockKind::Paragraph)
                                }
                                _ => BlockKind::Other,
                            });
                        }
                    }
                }
                Node::End { name, .. } => {
                    if matches!(name.as_str(), "script" | "style" | "template" | "noscript") {
                        raw_text_depth = raw_text_depth.saturating_sub(1);
                    } else if BLOCK_ELEMENTS.contains(&name.as_str()) {
                        flush(&kinds, &mut text, &mut span, &mut blocks);
                        kinds.pop();
                    }
                }
                Node::Text { text: t, span: s } if raw_text_depth == 0 => {
                    text.push_str(t);
                    span = Some(span.take().map_or(s.clone(), |was| was.start..s.end));
                }
                _ => {}
            }
        }
        flush(&kinds, &mut text, &mut span, &mut blocks);
        blocks
    }

    /// Every `<a>` in order.
    pub fn links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        let mut open: Option<(Link, usize)> = None;
        for node in &self.nodes {
            match node {
                Node::Start { name, attrs, span, .. } if name == "a" => {
                    if let Some((mut link, _)) = open.take() {
                        link.text = collapse(&link.text);
                        links.push(link);
                    }
                    let href = node.attr("href").unwrap_or_default().trim().to_owned();
                    let link = Link { href, text: String::new(), attrs: attrs.clone(), span: span.clone() };
                    open = Some((link, span.start));
                }
                Node::End { name, span } if name == "a" => {
                    if let Some((mut link, start)) = open.take() {
                        link.text = collapse(&link.text);
                        link.span = start..span.end;
                        links.push(link);
                    }
                }
                Node::Text { text, .. } => {
                    if let Some((link, _)) = open.as_mut() {
                        link.text.push_str(text);
                    }
                }
                _ => {}
            }
        }
        if let Some((mut link, start)) = open {
            link.text = collapse(&link.text);
            link.span = start..self.source.len();
            links.push(link);
        }
        links
    }

    /// Every piece of text with whether it is protected (see [`TextRun`]).
    pub fn text_runs(&self) -> Vec<TextRun> {
        let mut open: Vec<&str> = Vec::new();
        let mut runs = Vec::new();
        for node in &self.nodes {
            match node {
                Node::Start { name, self_closing, .. } if !self_closing && !VOID_ELEMENTS.contains(&name.as_str()) => {
                    open.push(name);
                }
                Node::End { name, .. } => {
                    if let Some(at) = open.iter().rposition(|n| n == name) {
                        open.truncate(at);
                    }
                }
                Node::Text { span, .. } => {
                    let protected = open.iter().any(|n| PROTECTED_ELEMENTS.contains(n));
                    runs.push(TextRun { span: span.clone(), protected });
                }
                _ => {}
            }
        }
        runs
    }

    /// The article's visible text (not scripts or styles), blocks joined by newlines.
    pub fn visible_text(&self) -> String {
        self.blocks().into_iter().map(|b| b.text).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_source_bytes() {
        let src = "<h1>Shoes &amp; Socks</h1><p class=\"x\">Run <a href=\"/a\">fast</a>.</p>";
        let html = parse(src);
        assert!(html.issues.is_empty(), "{:?}", html.issues);
        let texts: Vec<_> = html
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Text { text, span } => Some((text.as_str(), &src[span.clone()])),
                _ => None,
            })
            .collect();
        assert_eq!(texts, vec![("Shoes & Socks", "Shoes &amp; Socks"), ("Run ", "Run "), ("fast", "fast"), (".", ".")]);
        assert_eq!(html.nodes[3].attr("class"), Some("x"));
        assert_eq!(&src[html.nodes[3].span().clone()], "<p class=\"x\">");
    }

    #[test]
    fn blocks_links_and_protected_runs() {
        let src = "<h1>Title</h1>\n<p>One <b>two</b>\n three.</p><ul><li>Item</li></ul>\
                   <figure><img src=\"i.png\" alt=\"\"><figcaption>Cap</figcaption></figure>\
                   <script>var a = '<p>no</p>';</script><p>See <a href=\"https://x.test/\">the guide</a></p>";
        let html = parse(src);
        let blocks = html.blocks();
        let kinds: Vec<_> = blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (BlockKind::Heading(1), "Title"),
                (BlockKind::Paragraph, "One two three."),
                (BlockKind::ListItem, "Item"),
                (BlockKind::Caption, "Cap"),
                (BlockKind::Paragraph, "See the guide"),
            ]
        );
        let links = html.links();
        assert_eq!(links.len(), 1);
        assert_eq!((links[0].href.as_str(), links[0].text.as_str()), ("https://x.test/", "the guide"));
        assert_eq!(&src[links[0].span.clone()], "<a href=\"https://x.test/\">the guide</a>");
        let protected: Vec<_> = html.text_runs().into_iter().filter(|r| r.protected).map(|r| &src[r.span]).collect();
        assert_eq!(protected, vec!["Title", "Cap", "var a = '<p>no</p>';", "the guide"]);
    }

    #[test]
    fn an_unclosed_tag_is_an_issue() {
        let html = parse("<p>text <a href=\"x");
        assert!(!html.issues.is_empty());
    }
}
