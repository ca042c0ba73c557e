//! The page plan: where every piece of text and every rectangle goes, decided before
//! anything is drawn, so that page breaks, the repeated table header and "Page n of m"
//! are plain arithmetic on points (1/72 inch; origin top-left, y grows downwards).

use crate::fonts::{Faces, Weight};
use crate::limits::MAX_PAGES;
use crate::wrap::{at_most, fit, wrap};
use crate::{InvoiceSheet, PdfError};

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
/// A4 in points.
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 50.0;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const RIGHT: f32 = PAGE_WIDTH - MARGIN;
/// Content stops here; the footer lives below.
const BOTTOM: f32 = PAGE_HEIGHT - 62.0;

const BODY: f32 = 9.0;
const ROW: f32 = 11.5;
const CELL_TOP: f32 = 4.0;
const CELL_BOTTOM: f32 = 4.0;
const CELL_PAD: f32 = 4.0;
const HEADER_ROW: f32 = 18.0;
const PARTY_ROWS: usize = 12;
/// How far below a row's top its first baseline sits (Liberation's ascent is 0.905 em).
const ASCENT: f32 = 0.905;

/// An sRGB colour.
pub(crate) type Rgb = (u8, u8, u8);
pub(crate) const INK: Rgb = (0x1f, 0x23, 0x28);
pub(crate) const MUTED: Rgb = (0x57, 0x60, 0x6a);
const RULE: Rgb = (0xd0, 0xd7, 0xde);
const HEADER_FILL: Rgb = (0xf0, 0xf2, 0xf5);
const PAID: Rgb = (0x1a, 0x7f, 0x37);
const UNPAID: Rgb = (0xcf, 0x22, 0x2e);

/// One thing to draw.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Text on one line, `y` its baseline.
    Text { x: f32, y: f32, size: f32, weight: Weight, color: Rgb, text: String },
    /// A filled rectangle (table header background, rules).
    Rect { x: f32, y: f32, width: f32, height: f32, color: Rgb },
    /// The status mark, drawn large, turned and translucent across the page's middle.
    Mark { text: String, size: f32, width: f32, color: Rgb },
}

/// Every page's operations, in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub pages: Vec<Vec<Op>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Column {
    title: &'static str,
    x: f32,
    width: f32,
    align: Align,
}

const DESCRIPTION_WIDTH: f32 = CONTENT_WIDTH - 48.0 - 82.0 - 52.0 - 88.0;
const COLUMNS: [Column; 5] = [
    Column { title: "Description", x: MARGIN, width: DESCRIPTION_WIDTH, align: Align::Left },
    Column { title: "Qty", x: MARGIN + DESCRIPTION_WIDTH, width: 48.0, align: Align::Right },
    Column { title: "Unit price", x: MARGIN + DESCRIPTION_WIDTH + 48.0, width: 82.0, align: Align::Right },
    Column { title: "Tax", x: MARGIN + DESCRIPTION_WIDTH + 130.0, width: 52.0, align: Align::Right },
    Column { title: "Amount", x: MARGIN + DESCRIPTION_WIDTH + 182.0, width: 88.0, align: Align::Right },
];

struct Builder<'a> {
    sheet: &'a InvoiceSheet,
    faces: &'a Faces,
    done: Vec<Vec<Op>>,
    page: Vec<Op>,
    y: f32,
}

/// Lays `sheet` out on as many A4 pages as it needs.
pub(crate) fn lay_out(sheet: &InvoiceSheet, faces: &Faces) -> Result<Plan, PdfError> {
    let mut b = Builder { sheet, faces, done: Vec::new(), page: Vec::new(), y: MARGIN };
    b.first_page_header();
    b.table()?;
    b.totals()?;
    b.notes()?;
    b.done.push(std::mem::take(&mut b.page));
    b.footers_and_marks();
    Ok(Plan { pages: b.done })
}

impl Builder<'_> {
    fn text(&mut self, x: f32, y: f32, size: f32, weight: Weight, color: Rgb, text: String) {
        if !text.is_empty() {
            self.page.push(Op::Text { x, y, size, weight, color, text });
        }
    }

    /// Text whose right edge is at `right`.
    fn text_right(&mut self, right: f32, y: f32, size: f32, weight: Weight, color: Rgb, text: String) {
        let width = self.faces.face(weight).width(&text, size);
        self.text(right - width, y, size, weight, color, text);
    }

    fn rect(&mut self, x: f32, y: f32, width: f32, height: f32, color: Rgb) {
        self.page.push(Op::Rect { x, y, width, height, color });
    }

    fn heading(&self) -> String {
        format!("{} {}", self.sheet.title.trim(), self.sheet.number.trim()).trim().to_owned()
    }

    /// Ends the page and starts the next one with a short continuation header; refuses
    /// to go past [`MAX_PAGES`], so a hostile sheet stops early instead of growing.
    fn new_page(&mut self, with_table_header: bool) -> Result<(), PdfError> {
        if self.done.len() + 1 >= MAX_PAGES {
            return Err(PdfError::TooLarge(format!("more than {MAX_PAGES} pages")));
        }
        self.done.push(std::mem::take(&mut self.page));
        let heading = fit(self.faces.face(Weight::Bold), 11.0, &self.heading(), CONTENT_WIDTH - 80.0);
        self.text(MARGIN, MARGIN + 11.0, 11.0, Weight::Bold, INK, heading);
        self.text_right(RIGHT, MARGIN + 11.0, BODY, Weight::Regular, MUTED, "continued".to_owned());
        self.y = MARGIN + 26.0;
        if with_table_header {
            self.table_header();
        }
        Ok(())
    }

    fn first_page_header(&mut self) {
        let bold = self.faces.face(Weight::Bold);
        let left_width = 265.0;
        let title = fit(bold, 22.0, &self.sheet.title, left_width);
        self.text(MARGIN, MARGIN + 20.0, 22.0, Weight::Bold, INK, title);

        let mut left_y = MARGIN + 44.0;
        let label_width = 78.0;
        let facts = [
            ("Invoice number", &self.sheet.number, Weight::Bold),
            ("Date of issue", &self.sheet.issued, Weight::Regular),
            ("Date due", &self.sheet.due, Weight::Regular),
            ("Currency", &self.sheet.currency, Weight::Regular),
        ];
        for (label, value, weight) in facts {
            let value = fit(self.faces.face(weight), BODY, value, left_width - label_width);
            self.text(MARGIN, left_y, BODY, Weight::Regular, MUTED, label.to_owned());
            self.text(MARGIN + label_width, left_y, BODY, weight, INK, value);
            left_y += 13.0;
        }

        let seller_x = MARGIN + 290.0;
        let seller_width = RIGHT - seller_x;
        let seller_bottom = self.party(&self.sheet.seller, seller_x, MARGIN + 10.0, seller_width);

        let bill_to_y = left_y.max(seller_bottom) + 14.0;
        self.text(MARGIN, bill_to_y, 8.0, Weight::Bold, MUTED, "BILL TO".to_owned());
        let buyer_bottom = self.party(&self.sheet.buyer, MARGIN, bill_to_y + 14.0, left_width);
        self.y = buyer_bottom + 18.0;
    }

    /// A name in bold and its rows under it, from baseline `y`; returns the last baseline.
    fn party(&mut self, party: &crate::Party, x: f32, y: f32, width: f32) -> f32 {
        let bold = self.faces.face(Weight::Bold);
        let regular = self.faces.face(Weight::Regular);
        let name = fit(bold, 10.5, &party.name, width);
        self.text(x, y, 10.5, Weight::Bold, INK, name);
        let rows: Vec<String> = party.lines.iter().flat_map(|line| wrap(regular, BODY, line, width)).collect();
        let rows = at_most(regular, BODY, rows, PARTY_ROWS, width);
        let mut y = y;
        for row in rows {
            y += 12.0;
            self.text(x, y, BODY, Weight::Regular, MUTED, row);
        }
        y
    }

    fn table_header(&mut self) {
        let y = self.y;
        self.rect(MARGIN, y, CONTENT_WIDTH, HEADER_ROW, HEADER_FILL);
        for column in &COLUMNS {
            let baseline = y + 12.5;
            let title = column.title.to_owned();
            match column.align {
                Align::Left => self.text(column.x + CELL_PAD, baseline, 8.5, Weight::Bold, INK, title),
                Align::Right => {
                    self.text_right(column.x + column.width - CELL_PAD, baseline, 8.5, Weight::Bold, INK, title);
                }
            }
        }
        self.y += HEADER_ROW;
    }

    /// The line items: each row as tall as its tallest cell; a row that does not fit the
    /// rest of the page moves to the next one, and one taller than a whole page is split
    /// between its text rows.
    fn table(&mut self) -> Result<(), PdfError> {
        if self.y + HEADER_ROW + CELL_TOP + ROW + CELL_BOTTOM > BOTTOM {
            self.new_page(false)?;
        }
        self.table_header();
        let regular = self.faces.face(Weight::Regular);
        let fresh_page_rows = ((BOTTOM - (MARGIN + 26.0 + HEADER_ROW) - CELL_TOP - CELL_BOTTOM) / ROW).floor() as usize;
        for line in &self.sheet.lines {
            let texts = [&line.description, &line.quantity, &line.unit, &line.tax_rate, &line.amount];
            let cells: Vec<Vec<String>> = COLUMNS
                .iter()
                .zip(texts)
                .map(|(column, text)| wrap(regular, BODY, text, column.width - 2.0 * CELL_PAD))
                .collect();
            let rows = cells.iter().map(Vec::len).max().unwrap_or(1);
            let mut start = 0;
            while start < rows {
                let room = ((BOTTOM - self.y - CELL_TOP - CELL_BOTTOM) / ROW).floor().max(0.0) as usize;
                let left = rows - start;
                let keep_together = start == 0 && left <= fresh_page_rows && left > room;
                if room == 0 || keep_together {
                    self.new_page(true)?;
                    continue;
                }
                let take = left.min(room);
                let top = self.y;
                for (column, cell) in COLUMNS.iter().zip(&cells) {
                    for (i, row) in cell.iter().enumerate().skip(start).take(take) {
                        let baseline = top + CELL_TOP + BODY * ASCENT + (i - start) as f32 * ROW;
                        match column.align {
                            Align::Left => {
                                self.text(column.x + CELL_PAD, baseline, BODY, Weight::Regular, INK, row.clone());
                            }
                            Align::Right => self.text_right(
                                column.x + column.width - CELL_PAD,
                                baseline,
                                BODY,
                                Weight::Regular,
                                INK,
                                row.clone(),
                            ),
                        }
                    }
                }
                self.y = top + CELL_TOP + take as f32 * ROW + CELL_BOTTOM;
                self.rect(MARGIN, self.y - 0.5, CONTENT_WIDTH, 0.5, RULE);
                start += take;
            }
        }
        Ok(())
    }

    /// Subtotal, tax, total, paid and due, right-aligned under the table, kept together.
    fn totals(&mut self) -> Result<(), PdfError> {
        let step = 15.0;
        let height = 5.0 * step + 14.0;
        if self.y + 12.0 + height > BOTTOM {
            self.new_page(false)?;
        }
        let label_x = MARGIN + 270.0;
        let value_width = RIGHT - label_x - 95.0;
        let sheet = self.sheet;
        let rows = [
            ("Subtotal", &sheet.subtotal, Weight::Regular),
            ("Tax", &sheet.tax, Weight::Regular),
            ("Total", &sheet.total, Weight::Bold),
            ("Amount paid", &sheet.amount_paid, Weight::Regular),
            ("Amount due", &sheet.amount_due, Weight::Bold),
        ];
        let mut y = self.y + 12.0;
        for (label, value, weight) in rows {
            if label == "Total" || label == "Amount due" {
                self.rect(label_x, y, RIGHT - label_x, 0.6, if label == "Total" { INK } else { RULE });
                y += 4.0;
            }
            y += step;
            let value = fit(self.faces.face(weight), BODY + 0.5, value, value_width);
            self.text(label_x, y - 4.0, BODY + 0.5, weight, INK, label.to_owned());
            self.text_right(RIGHT, y - 4.0, BODY + 0.5, weight, INK, value);
        }
        self.y = y + 6.0;
        Ok(())
    }

    /// The notes, as wrapped paragraphs that continue on the next page when needed.
    fn notes(&mut self) -> Result<(), PdfError> {
        let size = 8.5;
        let regular = self.faces.face(Weight::Regular);
        let mut first = true;
        for note in &self.sheet.notes {
            self.y += if first { 14.0 } else { 5.0 };
            first = false;
            for row in wrap(regular, size, note, CONTENT_WIDTH) {
                if self.y + 11.0 > BOTTOM {
                    self.new_page(false)?;
                }
                self.y += 11.0;
                self.text(MARGIN, self.y - 2.0, size, Weight::Regular, MUTED, row);
            }
        }
        Ok(())
    }

    /// "Page n of m" and the invoice number at the foot of every page, and the status mark.
    fn footers_and_marks(&mut self) {
        let count = self.done.len();
        let heading = fit(self.faces.face(Weight::Regular), 8.0, &self.heading(), CONTENT_WIDTH - 120.0);
        let mark = self.sheet.status_mark.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(|m| {
            let bold = self.faces.face(Weight::Bold);
            let text = fit(bold, 10.0, m, 1000.0);
            let unit = bold.width(&text, 1.0).max(0.01);
            let size = (430.0 / unit).min(110.0);
            let color = if text.eq_ignore_ascii_case("paid") { PAID } else { UNPAID };
            Op::Mark { width: unit * size, text, size, color }
        });
        let pages = std::mem::take(&mut self.done);
        for (index, mut page) in pages.into_iter().enumerate() {
            self.page = Vec::new();
            self.rect(MARGIN, PAGE_HEIGHT - 50.0, CONTENT_WIDTH, 0.5, RULE);
            self.text(MARGIN, PAGE_HEIGHT - 36.0, 8.0, Weight::Regular, MUTED, heading.clone());
            let number = format!("Page {} of {count}", index + 1);
            self.text_right(RIGHT, PAGE_HEIGHT - 36.0, 8.0, Weight::Regular, MUTED, number);
            page.append(&mut self.page);
            if let Some(mark) = &mark {
                page.push(mark.clone());
            }
            self.done.push(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Party, SheetLine};

    fn sheet(lines: usize) -> InvoiceSheet {
        InvoiceSheet {
            title: "Invoice".into(),
            number: "INV-202612-0001".into(),
            seller: Party { name: "IGNY8".into(), lines: vec!["1 Main St".into()] },
            buyer: Party { name: "Buyer".into(), lines: vec![] },
            lines: (0..lines)
                .map(|i| SheetLine { description: format!("Item {i}"), amount: "€1.00".into(), ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    fn texts(page: &[Op]) -> Vec<&str> {
        page.iter()
            .filter_map(|op| match op {
                Op::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn nothing_is_placed_outside_the_page() {
        let mut s = sheet(120);
        s.lines[3].description = format!("{} {}", "word ".repeat(300), "x".repeat(2_000));
        s.notes = vec!["note ".repeat(2_000)];
        let faces = Faces::get().unwrap();
        let plan = lay_out(&s, faces).unwrap();
        for page in &plan.pages {
            for op in page {
                if let Op::Text { x, y, size, weight, text, .. } = op {
                    let right = x + faces.face(*weight).width(text, *size);
                    assert!(*x >= MARGIN - 0.01 && right <= RIGHT + 0.01, "{text:?} spans {x}..{right}");
                    assert!(*y > MARGIN && *y < PAGE_HEIGHT - 30.0, "{text:?} at y {y}");
                }
            }
        }
    }

    #[test]
    fn every_page_after_the_first_repeats_the_table_header_while_the_table_runs() {
        let plan = lay_out(&sheet(200), Faces::get().unwrap()).unwrap();
        assert!(plan.pages.len() >= 3, "{} pages", plan.pages.len());
        let count = plan.pages.len();
        for (i, page) in plan.pages.iter().enumerate() {
            let texts = texts(page);
            assert!(texts.contains(&format!("Page {} of {count}", i + 1).as_str()));
            if texts.iter().any(|t| t.starts_with("Item ")) {
                assert!(texts.contains(&"Description") && texts.contains(&"Amount"), "page {i}");
            }
        }
        assert!(texts(&plan.pages[count - 1]).contains(&"Amount due"));
    }

    #[test]
    fn a_row_taller_than_a_page_is_split_across_pages() {
        let mut s = sheet(1);
        s.lines[0].description = (0..150).map(|i| format!("row{i}")).collect::<Vec<_>>().join("\n");
        let plan = lay_out(&s, Faces::get().unwrap()).unwrap();
        assert!(plan.pages.len() >= 3);
        let all: Vec<&str> = plan.pages.iter().flat_map(|p| texts(p)).collect();
        assert!((0..150).all(|i| all.contains(&format!("row{i}").as_str())));
    }

    #[test]
    fn a_sheet_that_would_need_too_many_pages_stops_early() {
        let mut s = sheet(400);
        for line in &mut s.lines {
            line.description = "row\n".repeat(100);
        }
        let err = lay_out(&s, Faces::get().unwrap()).unwrap_err();
        assert_eq!(err.code(), "pdf_too_large");
        assert!(err.to_string().contains("pages"), "{err}");
    }

    #[test]
    fn the_mark_is_on_every_page_and_fits_the_page() {
        let mut s = sheet(200);
        s.status_mark = Some("UNCOLLECTIBLE".into());
        let plan = lay_out(&s, Faces::get().unwrap()).unwrap();
        for page in &plan.pages {
            let marks: Vec<_> = page.iter().filter(|op| matches!(op, Op::Mark { .. })).collect();
            assert_eq!(marks.len(), 1);
            if let Op::Mark { width, color, .. } = marks[0] {
                assert!(*width <= 431.0);
                assert_eq!(*color, UNPAID);
            }
        }
    }
}
