//! The bundled font (Liberation Sans, SIL OFL 1.1, see assets/OFL.txt): compiled into the
//! binary because a Lambda has no system fonts, parsed once per process, and used both to
//! measure text for line breaking and to turn text into the glyphs that are drawn — one
//! mapping for both, so what was measured is exactly what is drawn.

use std::sync::OnceLock;

use ttf_parser::GlyphId;

use crate::PdfError;

static REGULAR_TTF: &[u8] = include_bytes!("../assets/LiberationSans-Regular.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../assets/LiberationSans-Bold.ttf");

/// What a character the font cannot show is drawn as.
const SUBSTITUTE: char = '?';

/// The two weights the invoice uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

impl Weight {
    /// Both weights, in the order their fonts are written.
    pub const ALL: [Weight; 2] = [Weight::Regular, Weight::Bold];
}

/// One character as drawn: the character itself (after substitution), its glyph in the
/// whole font and its advance in em units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shaped {
    pub ch: char,
    pub glyph: u16,
    pub advance: f32,
}

/// The numbers of a font that the PDF's font descriptor repeats, in em units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaceMetrics {
    pub ascent: f32,
    pub descent: f32,
    pub cap_height: f32,
    pub bbox: [f32; 4],
    pub italic_angle: f32,
}

/// One weight of the font: its bytes (subset when written) and the parsed tables that
/// map characters to glyphs and give their advance widths.
pub(crate) struct Face {
    /// The PostScript name the PDF names the font by.
    pub postscript_name: &'static str,
    pub data: &'static [u8],
    face: ttf_parser::Face<'static>,
    units_per_em: f32,
    substitute: Shaped,
}

impl Face {
    fn load(data: &'static [u8], postscript_name: &'static str) -> Result<Self, PdfError> {
        let face = ttf_parser::Face::parse(data, 0).map_err(|_| PdfError::FontUnreadable(postscript_name))?;
        let units_per_em = f32::from(face.units_per_em());
        let glyph = face.glyph_index(SUBSTITUTE).ok_or(PdfError::FontUnreadable(postscript_name))?;
        let advance = f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) / units_per_em;
        let substitute = Shaped { ch: SUBSTITUTE, glyph: glyph.0, advance };
        Ok(Self { postscript_name, data, face, units_per_em, substitute })
    }

    /// The character as it will be drawn, its glyph and advance; `None` for characters
    /// that take no room at all (zero-width and format characters).
    pub fn shape(&self, ch: char) -> Option<Shaped> {
        if is_invisible(ch) {
            return None;
        }
        let ch = if ch.is_control() || ch.is_whitespace() { ' ' } else { ch };
        match self.face.glyph_index(ch).filter(|id| id.0 != 0) {
            Some(id) => {
                let advance = f32::from(self.face.glyph_hor_advance(id).unwrap_or(0)) / self.units_per_em;
                Some(Shaped { ch, glyph: id.0, advance })
            }
            None => Some(self.substitute),
        }
    }

    /// The advance of a glyph of the whole font, in em units.
    pub fn advance(&self, glyph: u16) -> f32 {
        f32::from(self.face.glyph_hor_advance(GlyphId(glyph)).unwrap_or(0)) / self.units_per_em
    }

    /// The width of `text` at `size` points, as it will be drawn.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().filter_map(|ch| self.shape(ch)).map(|s| s.advance).sum::<f32>() * size
    }

    /// The width of one character at `size` points (zero for invisible ones).
    pub fn char_width(&self, ch: char, size: f32) -> f32 {
        self.shape(ch).map_or(0.0, |s| s.advance * size)
    }

    /// The font-wide numbers of the PDF font descriptor.
    pub fn metrics(&self) -> FaceMetrics {
        let em = self.units_per_em;
        let bbox = self.face.global_bounding_box();
        FaceMetrics {
            ascent: f32::from(self.face.ascender()) / em,
            descent: f32::from(self.face.descender()) / em,
            cap_height: f32::from(self.face.capital_height().unwrap_or(self.face.ascender())) / em,
            bbox: [
                f32::from(bbox.x_min) / em,
                f32::from(bbox.y_min) / em,
                f32::from(bbox.x_max) / em,
                f32::from(bbox.y_max) / em,
            ],
            italic_angle: self.face.italic_angle(),
        }
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
                Ok(Faces {
                    regular: Face::load(REGULAR_TTF, "LiberationSans")?,
                    bold: Face::load(BOLD_TTF, "LiberationSans-Bold")?,
                })
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

    fn drawn(face: &Face, text: &str) -> String {
        text.chars().filter_map(|ch| face.shape(ch)).map(|s| s.ch).collect()
    }

    #[test]
    fn text_the_font_lacks_becomes_a_question_mark() {
        let face = Faces::get().unwrap().face(Weight::Regular);
        assert_eq!(drawn(face, "a😀b中\u{200B}c\td€ü"), "a?b?c d€ü");
        let question = face.shape('?').unwrap();
        assert_eq!(face.shape('😀'), Some(question));
    }

    #[test]
    fn width_is_the_sum_of_the_drawn_glyphs() {
        let face = Faces::get().unwrap().face(Weight::Bold);
        let summed: f32 = "Total €1,234.56".chars().map(|ch| face.char_width(ch, 10.0)).sum();
        assert!((face.width("Total €1,234.56", 10.0) - summed).abs() < 1e-3);
        assert!(face.width("WWW", 10.0) > face.width("iii", 10.0));
        let metrics = face.metrics();
        assert!(metrics.ascent > 0.8 && metrics.descent < 0.0 && metrics.cap_height > 0.6);
    }
}
