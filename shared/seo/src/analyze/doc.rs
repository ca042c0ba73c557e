//! The article body as the checks count it: html::Html's text blocks split once into
//! sentences and words, all borrowed from the blocks' text (one vector of words per
//! article, not an allocation per word).

use std::ops::Range;

use crate::html::{Block, BlockKind};
use crate::text;

/// One text block with its words and sentences.
#[derive(Debug, Clone)]
pub(crate) struct DocBlock {
    /// Heading, paragraph …
    pub kind: BlockKind,
    /// Its words in [`Doc::words`].
    pub words: Range<usize>,
    /// Its sentences in [`Doc::sentences`].
    pub sentences: Range<usize>,
}

impl DocBlock {
    /// The post title inside the body, which the title checks read instead.
    pub fn is_title(&self) -> bool {
        self.kind == BlockKind::Heading(1)
    }

    /// An `<h2>`…`<h6>`.
    pub fn is_subheading(&self) -> bool {
        matches!(self.kind, BlockKind::Heading(2..=6))
    }

    /// Text a reader reads as sentences (not a heading).
    pub fn is_prose(&self) -> bool {
        !matches!(self.kind, BlockKind::Heading(_))
    }
}

/// The body's words, sentences and blocks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doc<'a> {
    /// Every word in order.
    pub words: Vec<&'a str>,
    /// Sentences as ranges of [`Doc::words`].
    pub sentences: Vec<Range<usize>>,
    /// Blocks in order.
    pub blocks: Vec<DocBlock>,
}

impl<'a> Doc<'a> {
    /// Splits the blocks into sentences and words.
    pub fn read(blocks: &'a [Block]) -> Self {
        let mut doc = Doc::default();
        for block in blocks {
            let (first_word, first_sentence) = (doc.words.len(), doc.sentences.len());
            for sentence in text::sentences(&block.text) {
                let start = doc.words.len();
                doc.words.extend(text::words(sentence));
                if doc.words.len() > start {
                    doc.sentences.push(start..doc.words.len());
                }
            }
            if doc.words.len() > first_word {
                doc.blocks.push(DocBlock {
                    kind: block.kind,
                    words: first_word..doc.words.len(),
                    sentences: first_sentence..doc.sentences.len(),
                });
            }
        }
        doc
    }

    /// The words of a block or sentence.
    pub fn slice(&self, range: &Range<usize>) -> &[&'a str] {
        self.words.get(range.clone()).unwrap_or_default()
    }

    /// The sentences of a block, as word slices.
    pub fn block_sentences<'d>(&'d self, block: &'d DocBlock) -> impl Iterator<Item = &'d [&'a str]> + 'd {
        self.sentences.get(block.sentences.clone()).unwrap_or_default().iter().map(|s| self.slice(s))
    }

    /// The body's blocks, without the post title.
    pub fn body(&self) -> impl Iterator<Item = &DocBlock> {
        self.blocks.iter().filter(|b| !b.is_title())
    }

    /// The body's prose blocks (no headings).
    pub fn prose(&self) -> impl Iterator<Item = &DocBlock> {
        self.blocks.iter().filter(|b| b.is_prose())
    }

    /// Words of the body (every block but the post title).
    pub fn body_words(&self) -> usize {
        self.body().map(|b| b.words.len()).sum()
    }
}
