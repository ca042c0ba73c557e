//! The invoice PDF read back by a PDF reader (lopdf): text, pages, determinism, the mark,
//! text the font lacks; and, where the project's tools installed them (scripts/tools.sh),
//! checked by qpdf and poppler's pdftotext as well.

// Tests may panic on a failed step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use igny8_pdf::render_invoice;

#[path = "common/sample.rs"]
mod sample;
use sample::sample;

/// The page count and each page's text, as a PDF reader sees them.
fn read_back(bytes: &[u8]) -> (usize, String) {
    let document = lopdf::Document::load_mem(bytes).expect("the PDF parses");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    let text = document.extract_text(&pages).expect("text extracts");
    (pages.len(), text)
}

/// Whitespace differences between readers do not matter to these checks.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_one_line_invoice_is_one_page_with_number_totals_and_line() {
    let sheet = sample(1);
    let bytes = render_invoice(&sheet).unwrap();
    let (pages, text) = read_back(&bytes);
    let text = squeeze(&text);
    assert_eq!(pages, 1);
    for needle in
        [&sheet.number, &sheet.subtotal, &sheet.tax, &sheet.total, &sheet.amount_due, &sheet.lines[0].description]
    {
        assert!(text.contains(needle.as_str()), "{needle:?} missing from {text}");
    }
    assert!(text.contains("Page 1 of 1"), "{text}");
    assert!(text.contains("Zürich Gärten AG"), "{text}");
    assert!(!text.contains("PAID"));
}

#[test]
fn two_hundred_lines_take_several_pages_and_every_line_is_there() {
    let sheet = sample(200);
    let bytes = render_invoice(&sheet).unwrap();
    let (pages, text) = read_back(&bytes);
    let text = squeeze(&text);
    assert!(pages >= 4, "{pages} pages");
    assert!(text.contains(&format!("Page {pages} of {pages}")));
    for line in &sheet.lines {
        // A wrapped description comes back as its rows joined by whitespace.
        assert!(text.contains(&squeeze(&line.description)), "{:?} missing", line.description);
    }
    for needle in [&sheet.number, &sheet.total, &sheet.amount_due] {
        assert!(text.contains(needle.as_str()), "{needle:?} missing");
    }
}

#[test]
fn the_same_sheet_gives_the_same_bytes() {
    let sheet = sample(30);
    let first = render_invoice(&sheet).unwrap();
    let second = render_invoice(&sheet).unwrap();
    assert!(first == second, "two renders of one sheet differ");
    let mut paid = sheet.clone();
    paid.status_mark = Some("PAID".into());
    assert_ne!(render_invoice(&paid).unwrap(), first);
}

#[test]
fn the_paid_mark_is_there_when_set() {
    let mut sheet = sample(60);
    sheet.status_mark = Some("PAID".into());
    let (pages, text) = read_back(&render_invoice(&sheet).unwrap());
    assert_eq!(text.matches("PAID").count(), pages, "one mark per page in {text}");
    sheet.status_mark = Some("VOID".into());
    assert!(read_back(&render_invoice(&sheet).unwrap()).1.contains("VOID"));
}

#[test]
fn text_the_font_cannot_show_is_replaced_not_fatal() {
    let mut sheet = sample(2);
    sheet.lines[0].description = "Rocket 🚀 launch 发布 package".into();
    sheet.buyer.name = "株式会社 Example".into();
    sheet.lines[1].description = format!("{} end", "W".repeat(600));
    sheet.notes.push("\u{0}\u{7}\u{200B}tab\there".into());
    let (_, text) = read_back(&render_invoice(&sheet).unwrap());
    let text = squeeze(&text);
    assert!(text.contains("Rocket ? launch ?? package"), "{text}");
    assert!(text.contains("???? Example"), "{text}");
    assert!(text.contains("tab here"), "{text}");
    assert!(text.replace(' ', "").contains(&format!("{}end", "W".repeat(600))));
}

#[test]
fn hostile_text_in_every_field_renders() {
    let nasty = [
        String::new(),
        "   ".into(),
        "\n\n\n".into(),
        "\u{0}\u{1b}[31m\u{7f}".into(),
        "שלום עולם مرحبا".into(),
        "e\u{301}\u{301}\u{301} Z\u{36b}\u{33f}".into(),
        "\u{FEFF}\u{200D}\u{202E}reversed".into(),
        "👩‍👩‍👧‍👦🏳️‍🌈".into(),
        "x".repeat(5_000),
        "word ".repeat(1_000),
        "€".repeat(300),
    ];
    for (i, text) in nasty.iter().enumerate() {
        let mut sheet = sample(3);
        sheet.title = text.clone();
        sheet.number = text.clone();
        sheet.status_mark = Some(text.clone());
        sheet.issued = text.clone();
        sheet.currency = text.clone();
        sheet.seller.name = text.clone();
        sheet.buyer.lines.push(text.clone());
        sheet.lines[1].description = text.clone();
        sheet.lines[1].quantity = text.clone();
        sheet.lines[1].amount = text.clone();
        sheet.total = text.clone();
        sheet.notes.push(text.clone());
        let bytes = render_invoice(&sheet).unwrap_or_else(|e| panic!("case {i}: {e}"));
        let (pages, _) = read_back(&bytes);
        assert!(pages >= 1, "case {i}");
    }
}

#[test]
fn a_status_change_keeps_the_permanent_id_and_changes_the_other() {
    let ids = |bytes: &[u8]| {
        let document = lopdf::Document::load_mem(bytes).unwrap();
        let id = document.trailer.get(b"ID").unwrap().as_array().unwrap().clone();
        (id[0].as_str().unwrap().to_vec(), id[1].as_str().unwrap().to_vec())
    };
    let open = sample(5);
    let mut void = open.clone();
    void.status_mark = Some("VOID".into());
    let (open_permanent, open_instance) = ids(&render_invoice(&open).unwrap());
    let (void_permanent, void_instance) = ids(&render_invoice(&void).unwrap());
    assert_eq!(open_permanent, void_permanent);
    assert_ne!(open_instance, void_instance);
}

#[test]
fn one_page_is_small_because_the_font_is_subset() {
    let bytes = render_invoice(&sample(1)).unwrap();
    assert!(bytes.len() < 150 * 1024, "{} bytes", bytes.len());
    // Two whole Liberation Sans files would be 800 KB alone.
    assert!(bytes.len() < 100 * 1024, "{} bytes: is the font subset?", bytes.len());
}

/// Runs `tool` when the project's tooling installed it; None when it is absent.
fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{tool} is not installed (scripts/tools.sh installs it): skipped");
            None
        }
        Err(e) => panic!("{tool}: {e}"),
    }
}

#[test]
fn qpdf_and_pdftotext_accept_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    let mut sheet = sample(200);
    sheet.status_mark = Some("PAID".into());
    std::fs::write(&path, render_invoice(&sheet).unwrap()).unwrap();
    let file = path.as_os_str();
    if let Some(out) = run_tool("qpdf", &["--check".as_ref(), file]) {
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "qpdf --check failed: {report}{}", String::from_utf8_lossy(&out.stderr));
        assert!(report.contains("No syntax or stream encoding errors"), "{report}");
    }
    let text_path = dir.path().join("invoice.txt");
    if let Some(out) = run_tool("pdftotext", &["-layout".as_ref(), file, text_path.as_os_str()]) {
        assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = squeeze(&std::fs::read_to_string(Path::new(&text_path)).unwrap());
        assert!(text.contains("INV-202612-0042") && text.contains("€1,518.51") && text.contains("Line 200"));
    }
}

#[test]
#[ignore = "writes sample PDFs for a person to look at: IGNY8_PDF_SAMPLES=DIR cargo test -p igny8-pdf --test render -- --ignored"]
fn write_samples() {
    let dir = std::env::var("IGNY8_PDF_SAMPLES").expect("IGNY8_PDF_SAMPLES names a folder");
    let mut paid = sample(200);
    paid.status_mark = Some("PAID".into());
    std::fs::write(Path::new(&dir).join("one-line.pdf"), render_invoice(&sample(1)).unwrap()).unwrap();
    std::fs::write(Path::new(&dir).join("200-lines-paid.pdf"), render_invoice(&paid).unwrap()).unwrap();
    let mut odd = sample(3);
    odd.status_mark = Some("UNCOLLECTIBLE".into());
    odd.title = "Invoice with a title far too long for its place at the top of the page".into();
    odd.buyer.name = "株式会社 Example 🚀 Holdings".into();
    odd.buyer.lines.push(format!("https://example.com/{}", "very-long-path-segment".repeat(12)));
    odd.lines[0].description = format!("Rocket 🚀 launch 发布 package {}", "Supercalifragilistic".repeat(20));
    odd.lines[1].quantity = "1234567890123456789".into();
    std::fs::write(Path::new(&dir).join("odd-text.pdf"), render_invoice(&odd).unwrap()).unwrap();
}
