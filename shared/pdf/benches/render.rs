//! Invoice PDF benchmark: render time (median of N) and size for 1 and 200 line items,
//! and, in the same run, Python's reportlab rendering the same table with the same font
//! — what one would otherwise pick. `cargo bench -p igny8-pdf --bench render`;
//! IGNY8_PDF_BENCH_RUNS sets N (30). reportlab comes from the project's test tooling
//! (scripts/tools.sh, pinned in scripts/requirements-test.txt); without it the
//! comparison is skipped with the reason printed. docs/performance.md records the figures.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use igny8_pdf::{render_invoice, InvoiceSheet};

#[path = "../tests/common/sample.rs"]
mod sample;

const SIZES: [usize; 2] = [1, 200];

fn runs() -> usize {
    std::env::var("IGNY8_PDF_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(30)
}

/// The middle of the sorted times (the upper middle for an even count).
fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median milliseconds of `runs` renders (after two warm-up renders), bytes and pages.
fn measure(sheet: &InvoiceSheet, runs: usize) -> (f64, usize, usize) {
    let mut bytes = render_invoice(sheet).unwrap();
    bytes = render_invoice(sheet).unwrap_or(bytes);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = render_invoice(sheet).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out.len(), bytes.len());
    }
    let pages = count_pages(&bytes);
    (median(times), bytes.len(), pages)
}

/// The page count, as a PDF reader sees it.
fn count_pages(bytes: &[u8]) -> usize {
    lopdf::Document::load_mem(bytes).expect("the PDF parses").get_pages().len()
}

fn tools_python() -> PathBuf {
    let dir = std::env::var("IGNY8_TOOLS_DIR").unwrap_or_else(|_| "/var/tmp/igny8-tools".to_owned());
    Path::new(&dir).join("venv/bin/python")
}

/// The same invoice for the Python side: fonts, sizes and every cell.
fn job(sheet: &InvoiceSheet, runs: usize) -> serde_json::Value {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let party =
        |p: &igny8_pdf::Party| std::iter::once(p.name.clone()).chain(p.lines.iter().cloned()).collect::<Vec<_>>();
    let (seller, buyer) = (party(&sheet.seller), party(&sheet.buyer));
    serde_json::json!({
        "runs": runs,
        "regular": assets.join("LiberationSans-Regular.ttf"),
        "bold": assets.join("LiberationSans-Bold.ttf"),
        "title": sheet.title, "number": sheet.number, "issued": sheet.issued, "due": sheet.due,
        "currency": sheet.currency,
        "seller": seller,
        "buyer": buyer,
        "lines": sheet.lines.iter().map(|l| [&l.description, &l.quantity, &l.unit, &l.tax_rate, &l.amount]).collect::<Vec<_>>(),
        "totals": [["Subtotal", &sheet.subtotal], ["Tax", &sheet.tax], ["Total", &sheet.total],
                   ["Amount paid", &sheet.amount_paid], ["Amount due", &sheet.amount_due]],
        "notes": sheet.notes,
    })
}

/// reportlab's platypus, as its documentation teaches: a SimpleDocTemplate, Paragraphs
/// for wrapping descriptions, a Table with repeatRows=1 for the header on every page,
/// the usual two-pass canvas for "Page n of m", the TTF embedded as a subset, and
/// invariant=1 (no date, fixed ids) like our deterministic output.
const REPORTLAB: &str = r##"
import io, json, statistics, sys, time
from xml.sax.saxutils import escape
from reportlab import Version
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

job = json.load(sys.stdin)
pdfmetrics.registerFont(TTFont("Sans", job["regular"]))
pdfmetrics.registerFont(TTFont("Sans-Bold", job["bold"]))
body = ParagraphStyle("body", fontName="Sans", fontSize=9, leading=11.5)
strong = ParagraphStyle("strong", parent=body, fontName="Sans-Bold")
title = ParagraphStyle("title", fontName="Sans-Bold", fontSize=22, leading=26)

class NumberedCanvas(canvas.Canvas):
    def __init__(self, *args, **kwargs):
        canvas.Canvas.__init__(self, *args, **kwargs)
        self._saved = []
    def showPage(self):
        self._saved.append(dict(self.__dict__))
        self._startPage()
    def save(self):
        count = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self.setFont("Sans", 8)
            self.drawString(50, 30, job["title"] + " " + job["number"])
            self.drawRightString(545.28, 30, "Page %d of %d" % (self._pageNumber, count))
            canvas.Canvas.showPage(self)
        canvas.Canvas.save(self)

def render():
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=50, rightMargin=50, topMargin=50,
                            bottomMargin=62, invariant=1, title=job["number"])
    p = lambda text, style=body: Paragraph(escape(text), style)
    head = Table([[p(job["title"], title), [p(job["seller"][0], strong)] + [p(x) for x in job["seller"][1:]]],
                  [[p("Invoice number " + job["number"]), p("Date of issue " + job["issued"]),
                    p("Date due " + job["due"]), p("Currency " + job["currency"])], ""],
                  [[p("BILL TO", strong), p(job["buyer"][0], strong)] + [p(x) for x in job["buyer"][1:]], ""]],
                 colWidths=[290, 205])
    rows = [["Description", "Qty", "Unit price", "Tax", "Amount"]]
    rows += [[p(d), q, u, t, a] for d, q, u, t, a in job["lines"]]
    table = Table(rows, colWidths=[225, 48, 82, 52, 88], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Sans-Bold", 8.5), ("FONT", (0, 1), (-1, -1), "Sans", 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f2f5")),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.5, colors.HexColor("#d0d7de"))]))
    totals = Table([[label, value] for label, value in job["totals"]], colWidths=[130, 95], hAlign="RIGHT")
    totals.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Sans", 9.5), ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                                ("FONT", (0, 2), (-1, 2), "Sans-Bold", 9.5), ("FONT", (0, 4), (-1, 4), "Sans-Bold", 9.5)]))
    story = [head, Spacer(1, 18), table, Spacer(1, 12), totals, Spacer(1, 14)] + [p(n) for n in job["notes"]]
    doc.build(story, canvasmaker=NumberedCanvas)
    return out.getvalue(), doc.page

render(); render()
times = []
for _ in range(job["runs"]):
    start = time.perf_counter()
    pdf, pages = render()
    times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"version": Version, "median_ms": statistics.median(times), "bytes": len(pdf), "pages": pages}))
"##;

/// reportlab's figures for `sheet`, or why there are none.
fn reportlab(sheet: &InvoiceSheet, runs: usize) -> Result<serde_json::Value, String> {
    let python = tools_python();
    if !python.exists() {
        return Err(format!("{} is missing (run scripts/tools.sh)", python.display()));
    }
    let probe = Command::new(&python).args(["-c", "import reportlab"]).output().map_err(|e| e.to_string())?;
    if !probe.status.success() {
        return Err("reportlab is not installed in the tools venv (run scripts/tools.sh)".to_owned());
    }
    let mut child = Command::new(&python)
        .args(["-c", REPORTLAB])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().unwrap().write_all(job(sheet, runs).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("reportlab failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reportlab printed no figures: {e}"))
}

fn main() {
    let runs = runs();
    println!("invoice PDF, median of {runs} renders (release build)");
    println!("{:<28} {:>6} {:>11} {:>10} {:>6}", "renderer", "lines", "median ms", "KB", "pages");
    for lines in SIZES {
        let sheet = sample::sample(lines);
        let (ms, bytes, pages) = measure(&sheet, runs);
        println!("{:<28} {lines:>6} {ms:>11.2} {:>10.1} {pages:>6}", "igny8-pdf (pdf-writer)", bytes as f64 / 1024.0);
        match reportlab(&sheet, runs) {
            Ok(figures) => println!(
                "{:<28} {lines:>6} {:>11.2} {:>10.1} {:>6}",
                format!("reportlab {} (Python)", figures["version"].as_str().unwrap_or("?")),
                figures["median_ms"].as_f64().unwrap_or(f64::NAN),
                figures["bytes"].as_f64().unwrap_or(f64::NAN) / 1024.0,
                figures["pages"].as_u64().unwrap_or(0),
            ),
            Err(why) => println!("{:<28} {lines:>6} skipped: {why}", "reportlab (Python)"),
        }
    }
    println!("goal: one page in <= 20 ms and <= 150 KB");
}
