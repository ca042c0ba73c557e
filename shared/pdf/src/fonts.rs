//! The bundled font (Liberation Sans, SIL OFL 1.1, see assets/OFL.txt): compiled into the
//! binary because a Lambda has no system fonts, read once per process, and used both to
//! measure text for line breaking and to turn text into the glyphs krilla writes — one
//! mapping for both, so what was measured is exactly what is drawn.
//!
//! krilla embeds only the glyphs a document uses (a subset), so the PDF stays small.

use std::ops::Range;
use std::sync::OnceLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};

use crate::PdfError;

static REGULAR_TTF: &[u8] = include_bytes!("../assets/LiberationSans-Regular.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../assets/LiberationSans-Bold.ttf");

/// What a character the font cannot show is drawn as.
const SUBSTITUTE: char = '?';

/// The two weights the invoice uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

/// One weight of the font: the krilla handle that is written into the PDF and the tables
/// that map characters to glyphs and give their advance widths.
pub(crate) struct Face {
    font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
    substitute: (GlyphId, f32),
}

/// A line of text ready to draw: the text as drawn (characters the font lacks replaced),
/// and its glyphs with advances in em units and byte ranges into that text.
pub(crate) struct GlyphRun {
    pub text: String,
    pub glyphs: Vec<KrillaGlyph>,
}

impl Face {
    fn load(data: &'static [u8], name: &'static str) -> Result<Self, PdfError> {
        let font_ref = FontRef::new(data).map_err(|_| PdfError::FontUnreadable(name))?;
        let font = Font::new(data.into(), 0).ok_or(PdfError::FontUnreadable(name))?;
        let units_per_em = f32::from(font_ref.metrics(Size::unscaled(), LocationRef::default()).units_per_em);
        if units_per_em <= 0.0 {
            return Err(PdfError::FontUnreadable(name));
        }
        let charmap = font_ref.charmap();
        let metrics = font_ref.glyph_metrics(Size::unscaled(), LocationRef::default());
        let substitute_id = charmap.map(SUBSTITUTE).ok_or(PdfError::FontUnreadable(name))?;
        let substitute_advance = metrics.advance_width(substitute_id).unwrap_or(0.0) / units_per_em;
        Ok(Self {
            font,
            charmap,
            metrics,
            units_per_em,
            substitute: (GlyphId::new(substitute_id.to_u32()), substitute_advance),
        })
    }

    /// The krilla font to draw with.
    pub fn font(&self) -> &Font {
        &self.font
    }

    /// The character as it will be drawn, its glyph and advance (em units); `None` for
    /// characters that take no room at all (zero-width and format characters).
    fn resolve(&self, ch: char) -> Option<(char, GlyphId, f32)> {
        if is_invisible(ch) {
            return None;
        }
        let ch = if ch.is_control() || ch.is_whitespace() { ' ' } else { ch };
        match self.charmap.map(ch).filter(|id| id.to_u32() != 0) {
            Some(id) => {
                let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
                Some((ch, GlyphId::new(id.to_u32()), advance))
            }
            None => Some((SUBSTITUTE, self.substitute.0, self.substitute.1)),
        }
    }

    /// The width of `text` at `size` points, as [`Face::run`] will draw it.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().filter_map(|ch| self.resolve(ch)).map(|(_, _, advance)| advance).sum::<f32>() * size
    }

    /// The width of one character at `size` points (zero for invisible ones).
    pub fn char_width(&self, ch: char, size: f32) -> f32 {
        self.resolve(ch).map_or(0.0, |(_, _, advance)| advance * size)
    }

    /// The glyphs that draw `text` on one line; never fails, whatever the text holds.
    pub fn run(&self, text: &str) -> GlyphRun {
        let mut drawn = String::with_capacity(text.len());
        let mut glyphs = Vec::with_capacity(text.len());
        for (ch, id, advance) in text.chars().filter_map(|ch| self.resolve(ch)) {
            let start = drawn.len();
            drawn.push(ch);
            let range: Range<usize> = start..drawn.len();
            glyphs.push(KrillaGlyph::new(id, advance, 0.0, 0.0, 0.0, range, None));
        }
        GlyphRun { text: drawn, glyphs }
    }
}

/// Characters that are drawn as nothing rather than as a substitute: zero-width spaces
/// and joiners, direction marks, the soft hyphen and the byte-order mark.
fn is_invisible(ch: char) -> bool {
    matches!(ch, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Both weights, loaded once per process.
pub(crate) struct Faces {
    regular: Face,
    bold: Face,
}

impl Faces {
    /// The faces of the bundled font, parsed on first use and shared afterwards.
    pub fn get() -> Result<&'static Faces, PdfError> {
        static FACES: OnceLock<Result<Faces, PdfError>> = OnceLock::new();
        FACES
            .get_or_init(|| {
                Ok(Faces { regular: Face::load(REGULAR_TTF, "regular")?, bold: Face::load(BOLD_TTF, "bold")? })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The face of one weight.
    pub fn face(&self, weight: Weight) -> &Face {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_the_font_lacks_becomes_a_question_mark() {
        let faces = Faces::get().unwrap();
        let run = faces.face(Weight::Regular).run("a😀b中\u{200B}c\td");
        assert_eq!(run.text, "a?b?c d");
        assert_eq!(run.glyphs.len(), 7);
        assert_eq!(run.glyphs[1].text_range, 1..2);
    }

    #[test]
    fn width_is_the_sum_of_the_drawn_glyphs() {
        let faces = Faces::get().unwrap();
        let face = faces.face(Weight::Bold);
        let run = face.run("Total €1,234.56");
        let summed: f32 = run.glyphs.iter().map(|g| g.x_advance).sum::<f32>() * 10.0;
        assert!((face.width("Total €1,234.56", 10.0) - summed).abs() < 1e-3);
        assert!(face.width("WWW", 10.0) > face.width("iii", 10.0));
    }
}
