//! Writing the page plan with krilla: glyph runs from the bundled font, filled
//! rectangles, and the status mark turned across the page.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use crate::fonts::Faces;
use crate::layout::{Op, Plan, Rgb, PAGE_HEIGHT, PAGE_WIDTH};
use crate::{InvoiceSheet, PdfError};

/// How strongly the status mark covers what is under it.
const MARK_OPACITY: f32 = 0.16;
/// The mark rises from bottom left to top right.
const MARK_ANGLE_DEGREES: f32 = -32.0;

/// The PDF bytes of `plan`.
pub(crate) fn draw(sheet: &InvoiceSheet, plan: &Plan, faces: &Faces) -> Result<Vec<u8>, PdfError> {
    let settings = SerializeSettings { enable_tagging: false, ..SerializeSettings::default() };
    let mut document = Document::new_with(settings);
    let title = format!("{} {}", sheet.title.trim(), sheet.number.trim()).trim().to_owned();
    document.set_metadata(
        Metadata::new()
            .title(title)
            .creator("IGNY8".to_owned())
            // One id per invoice, the same for every re-render (PDF's "permanent" id).
            .document_id(format!("igny8-invoice:{}", sheet.number)),
    );
    let page_settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or(PdfError::Layout("page size"))?;
    for ops in &plan.pages {
        let mut page = document.start_page_with(page_settings.clone());
        let mut surface = page.surface();
        for op in ops {
            draw_op(&mut surface, op, faces)?;
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

fn fill(color: Rgb, opacity: f32) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::new(opacity).unwrap_or(NormalizedF32::ONE),
        rule: FillRule::NonZero,
    }
}

fn draw_op(surface: &mut Surface<'_>, op: &Op, faces: &Faces) -> Result<(), PdfError> {
    match op {
        Op::Text { x, y, size, weight, color, text } => {
            let face = faces.face(*weight);
            let run = face.run(text);
            surface.set_stroke(None);
            surface.set_fill(Some(fill(*color, 1.0)));
            surface.draw_glyphs(Point::from_xy(*x, *y), &run.glyphs, face.font().clone(), &run.text, *size, false);
        }
        Op::Rect { x, y, width, height, color } => {
            let rect = Rect::from_xywh(*x, *y, *width, *height).ok_or(PdfError::Layout("rectangle"))?;
            let mut builder = PathBuilder::new();
            builder.push_rect(rect);
            let path = builder.finish().ok_or(PdfError::Layout("rectangle path"))?;
            surface.set_stroke(None);
            surface.set_fill(Some(fill(*color, 1.0)));
            surface.draw_path(&path);
        }
        Op::Mark { text, size, width, color } => {
            let face = faces.face(crate::fonts::Weight::Bold);
            let run = face.run(text);
            let (cx, cy) = (PAGE_WIDTH / 2.0, PAGE_HEIGHT / 2.0);
            surface.push_transform(&Transform::from_rotate_at(MARK_ANGLE_DEGREES, cx, cy));
            surface.set_stroke(None);
            surface.set_fill(Some(fill(*color, MARK_OPACITY)));
            let start = Point::from_xy(cx - width / 2.0, cy + size * 0.35);
            surface.draw_glyphs(start, &run.glyphs, face.font().clone(), &run.text, *size, false);
            surface.pop();
        }
    }
    Ok(())
}
