//! Writing the page plan as PDF objects with pdf-writer: one content stream per page,
//! each weight of the font as a Type 0 font (Identity-H, TrueType outlines) embedding
//! only the glyphs used (subsetter) with a ToUnicode map so the text can be searched
//! and copied, and the status mark drawn translucent through one graphics state.
//!
//! Deterministic by construction: objects are numbered in a fixed order, glyphs are
//! numbered in order of first use, there is no date, and the file id is a hash of the
//! invoice number (kept across re-renders) and of the content (changes with it).

use std::collections::BTreeMap;

use miniz_oxide::deflate::compress_to_vec_zlib;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;

use crate::fonts::{Face, Faces, Weight};
use crate::layout::{Op, Plan, Rgb, PAGE_HEIGHT, PAGE_WIDTH};
use crate::{InvoiceSheet, PdfError};

/// How strongly the status mark covers what is under it.
const MARK_OPACITY: f32 = 0.16;
/// The mark rises from bottom left to top right by this angle.
const MARK_ANGLE_DEGREES: f32 = 32.0;
/// zlib level of every stream: 6 is zlib's own default, close to the best size for a
/// fraction of level 9's time.
const COMPRESSION: u8 = 6;
const MARK_STATE: Name<'static> = Name(b"G0");
const IDENTITY: SystemInfo<'static> = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

/// The glyphs of one weight that the document uses, numbered in order of first use
/// (the numbering of the subset), and the character each one stands for.
struct FontUse {
    remapper: GlyphRemapper,
    characters: BTreeMap<u16, char>,
    used: bool,
}

impl FontUse {
    fn new() -> Self {
        Self { remapper: GlyphRemapper::new(), characters: BTreeMap::new(), used: false }
    }

    /// The subset's glyph numbers for `text`, as the two-byte codes Identity-H reads.
    fn encode(&mut self, face: &Face, text: &str) -> Vec<u8> {
        let mut codes = Vec::with_capacity(text.len() * 2);
        for shaped in text.chars().filter_map(|ch| face.shape(ch)) {
            let glyph = self.remapper.remap(shaped.glyph);
            self.characters.entry(glyph).or_insert(shaped.ch);
            codes.extend_from_slice(&glyph.to_be_bytes());
        }
        self.used |= !codes.is_empty();
        codes
    }
}

fn font_name(weight: Weight) -> Name<'static> {
    match weight {
        Weight::Regular => Name(b"F0"),
        Weight::Bold => Name(b"F1"),
    }
}

fn index(weight: Weight) -> usize {
    match weight {
        Weight::Regular => 0,
        Weight::Bold => 1,
    }
}

/// The PDF bytes of `plan`.
pub(crate) fn draw(sheet: &InvoiceSheet, plan: &Plan, faces: &Faces) -> Result<Vec<u8>, PdfError> {
    let mut uses = [FontUse::new(), FontUse::new()];
    let contents: Vec<Vec<u8>> =
        plan.pages.iter().map(|ops| compress_to_vec_zlib(&page_content(ops, faces, &mut uses), COMPRESSION)).collect();

    let mut next = Ref::new(1);
    let catalog = next.bump();
    let page_tree = next.bump();
    let info = next.bump();
    let mark_state = next.bump();
    let font_refs: Vec<(Weight, Ref)> = Weight::ALL.into_iter().map(|w| (w, next.bump())).collect();
    let page_refs: Vec<(Ref, Ref)> = contents.iter().map(|_| (next.bump(), next.bump())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(page_tree);
    pdf.pages(page_tree).kids(page_refs.iter().map(|(page, _)| *page)).count(page_refs.len() as i32);
    let title = format!("{} {}", sheet.title.trim(), sheet.number.trim()).trim().to_owned();
    pdf.document_info(info).title(TextStr(&title)).creator(TextStr("IGNY8")).producer(TextStr("igny8-pdf"));
    pdf.ext_graphics(mark_state).non_stroking_alpha(MARK_OPACITY);

    for ((page, content), stream) in page_refs.iter().zip(&contents) {
        let mut writer = pdf.page(*page);
        writer.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(page_tree).contents(*content);
        let mut resources = writer.resources();
        let mut fonts = resources.fonts();
        for (weight, font) in &font_refs {
            if uses[index(*weight)].used {
                fonts.pair(font_name(*weight), *font);
            }
        }
        fonts.finish();
        resources.ext_g_states().pair(MARK_STATE, mark_state);
        resources.finish();
        writer.finish();
        pdf.stream(*content, stream).filter(Filter::FlateDecode);
    }

    let mut fingerprint = Fingerprint::new();
    contents.iter().for_each(|c| fingerprint.add(c));
    for (weight, font) in &font_refs {
        let used = &uses[index(*weight)];
        if used.used {
            write_font(&mut pdf, &mut next, *font, faces.face(*weight), used, &mut fingerprint)?;
        }
    }

    let permanent = Fingerprint::of(format!("igny8-invoice:{}", sheet.number).as_bytes());
    pdf.set_file_id((permanent.into_bytes(), fingerprint.hex().into_bytes()));
    Ok(pdf.finish())
}

/// One page's content stream, uncompressed.
fn page_content(ops: &[Op], faces: &Faces, uses: &mut [FontUse; 2]) -> Vec<u8> {
    let mut content = Content::new();
    let mut fill: Option<Rgb> = None;
    for op in ops {
        match op {
            Op::Text { x, y, size, weight, color, text } => {
                let codes = uses[index(*weight)].encode(faces.face(*weight), text);
                if codes.is_empty() {
                    continue;
                }
                set_fill(&mut content, *color, &mut fill);
                content.begin_text();
                content.set_font(font_name(*weight), *size);
                content.set_text_matrix([1.0, 0.0, 0.0, 1.0, *x, PAGE_HEIGHT - y]);
                content.show(Str(&codes));
                content.end_text();
            }
            Op::Rect { x, y, width, height, color } => {
                set_fill(&mut content, *color, &mut fill);
                content.rect(*x, PAGE_HEIGHT - y - height, *width, *height);
                content.fill_nonzero();
            }
            Op::Mark { text, size, width, color } => {
                let codes = uses[index(Weight::Bold)].encode(faces.face(Weight::Bold), text);
                let (sin, cos) = MARK_ANGLE_DEGREES.to_radians().sin_cos();
                let (cx, cy) = (PAGE_WIDTH / 2.0, PAGE_HEIGHT / 2.0);
                // The text's start, so that its middle sits on the page's middle.
                let (dx, dy) = (-width / 2.0, -size * 0.35);
                let start = (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos);
                content.save_state();
                content.set_parameters(MARK_STATE);
                content.set_fill_rgb(channel(color.0), channel(color.1), channel(color.2));
                content.begin_text();
                content.set_font(font_name(Weight::Bold), *size);
                content.set_text_matrix([cos, sin, -sin, cos, start.0, start.1]);
                content.show(Str(&codes));
                content.end_text();
                content.restore_state();
                fill = None;
            }
        }
    }
    content.finish().to_vec()
}

/// Sets the fill colour unless it is already the current one.
fn set_fill(content: &mut Content, color: Rgb, fill: &mut Option<Rgb>) {
    if *fill != Some(color) {
        content.set_fill_rgb(channel(color.0), channel(color.1), channel(color.2));
        *fill = Some(color);
    }
}

fn channel(value: u8) -> f32 {
    f32::from(value) / 255.0
}

/// One weight's font objects: the Type 0 font, its CID font with the widths of the
/// subset's glyphs, the descriptor, the subset TrueType program and the ToUnicode map.
fn write_font(
    pdf: &mut Pdf,
    next: &mut Ref,
    type0: Ref,
    face: &Face,
    used: &FontUse,
    fingerprint: &mut Fingerprint,
) -> Result<(), PdfError> {
    let (cid, descriptor, program, to_unicode) = (next.bump(), next.bump(), next.bump(), next.bump());
    let subset = subsetter::subset(face.data, 0, &used.remapper)
        .map_err(|e| PdfError::Write(format!("subsetting {}: {e:?}", face.postscript_name)))?;
    let glyphs: Vec<u16> = used.remapper.remapped_gids().collect();
    // Subset fonts are named with a tag of six capitals derived from the glyphs kept.
    let mut tag_hash = Fingerprint::new();
    glyphs.iter().for_each(|g| tag_hash.add(&g.to_be_bytes()));
    let base_name = format!("{}+{}", tag_hash.tag(), face.postscript_name);
    let base_name = Name(base_name.as_bytes());

    pdf.type0_font(type0)
        .base_font(base_name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(to_unicode);

    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(base_name)
        .system_info(IDENTITY)
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, glyphs.iter().map(|g| face.advance(*g) * 1000.0));
    cid_font.finish();

    let metrics = face.metrics();
    let [left, bottom, right, top] = metrics.bbox.map(|v| v * 1000.0);
    pdf.font_descriptor(descriptor)
        .name(base_name)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(left, bottom, right, top))
        .italic_angle(metrics.italic_angle)
        .ascent(metrics.ascent * 1000.0)
        .descent(metrics.descent * 1000.0)
        .cap_height(metrics.cap_height * 1000.0)
        .stem_v(if face.postscript_name.ends_with("Bold") { 140.0 } else { 80.0 })
        .font_file2(program);

    let compressed = compress_to_vec_zlib(&subset, COMPRESSION);
    fingerprint.add(&compressed);
    pdf.stream(program, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), i32::try_from(subset.len()).unwrap_or(i32::MAX));

    let mut cmap = UnicodeCmap::new(Name(b"Custom"), IDENTITY);
    for (glyph, ch) in &used.characters {
        cmap.pair(*glyph, *ch);
    }
    let cmap = compress_to_vec_zlib(&cmap.finish(), COMPRESSION);
    pdf.stream(to_unicode, &cmap).filter(Filter::FlateDecode);
    Ok(())
}

/// FNV-1a, 64 bits: a stable hash (the same on every machine and Rust release) for the
/// file id and the subset tag; nothing here needs it to resist an attacker.
struct Fingerprint(u64);

impl Fingerprint {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn of(bytes: &[u8]) -> String {
        let mut f = Self::new();
        f.add(bytes);
        f.hex()
    }

    fn add(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    fn tag(&self) -> String {
        (0..6).map(|i| char::from(b'A' + ((self.0 >> (i * 8)) % 26) as u8)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_fnv_1a() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(Fingerprint::of(b""), "cbf29ce484222325");
        assert_eq!(Fingerprint::of(b"a"), "af63dc4c8601ec8c");
        assert_eq!(Fingerprint::new().tag().len(), 6);
    }
}
