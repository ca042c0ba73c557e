//! Reading a keyword file as keyword tools export it: the text encoding, the separator
//! and the header row are found from the file itself.
//!
//! What the tools write (checked against their documentation; the fixtures in the tests
//! are built by the tests, not copied from a vendor):
//!
//! - **Semrush** (Keyword Magic Tool, Keyword Overview; semrush.com/kb): UTF-8 CSV,
//!   comma-separated, header `Keyword, Intent, Volume, Trend, Keyword Difficulty (or
//!   Keyword Difficulty Index), CPC (USD), Competitive Density, SERP Features, Number
//!   of Results`; Intent may list several (`Commercial, Informational`).
//! - **Ahrefs** (Keywords Explorer; ahrefs.com/academy "Keyword and search traffic
//!   metrics"): "CSV for Excel" is UTF-16LE with a byte-order mark and tab-separated,
//!   "UTF-8" CSV is comma-separated; header `#, Keyword, Country, Difficulty, Volume,
//!   CPC, CPS, Parent Keyword, Last Update, SERP Features, Global volume, Traffic
//!   potential, Intents`; small volumes may read `0-10`.
//! - **Google Keyword Planner** (support.google.com/google-ads/answer/3022575, "About
//!   search volume statistics"): UTF-16LE tab-separated ("CSV for Excel") or UTF-8
//!   comma-separated; one or two title rows (`Keyword Stats 2024-05-01 at 10_00_00`,
//!   the date range) come before the header `Keyword, Currency, Avg. monthly searches,
//!   Three month change, YoY change, Competition, Competition (indexed value), Top of
//!   page bid (low range), Top of page bid (high range), Searches: <month> …`; accounts
//!   without spend see volume ranges such as `1K – 10K`.
//!
//! Decoding is std-only: UTF-16 with a byte-order mark is `char::decode_utf16` over
//! byte pairs, so the Lambdas that link this crate carry no encoding tables
//! (`encoding_rs` would add the legacy single- and multi-byte encodings, which no
//! keyword tool writes).

use std::fmt;

/// How many lines may come before the header row (keyword planners write title rows).
pub const HEADER_SEARCH_LINES: usize = 20;

/// The text encodings a keyword file may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark (Excel's "CSV UTF-8").
    Utf8Bom,
    /// UTF-16, little-endian (a byte-order mark, or ASCII text with every other byte zero).
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utf8 => "UTF-8",
            Self::Utf8Bom => "UTF-8 with BOM",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
        })
    }
}

/// Text that is not in an encoding a keyword file may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// 1-based line of the first bad byte.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// 1-based line number of the text before a byte offset.
fn line_at(text_before: &str) -> u64 {
    text_before.bytes().filter(|b| *b == b'\n').count() as u64 + 1
}

/// Decodes a keyword file to text: UTF-8 with or without a byte-order mark, UTF-16LE
/// or UTF-16BE with one (or ASCII-led UTF-16 without one).
pub fn decode(data: &[u8]) -> Result<(String, Encoding), DecodeError> {
    if let Some(rest) = data.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest).map(|t| (t, Encoding::Utf8Bom));
    }
    if let Some(rest) = data.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes).map(|t| (t, Encoding::Utf16Le));
    }
    if let Some(rest) = data.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes).map(|t| (t, Encoding::Utf16Be));
    }
    // No mark: UTF-16 whose first character is ASCII shows a zero in the first pair.
    match data {
        [a, 0, ..] if *a != 0 && data.len() % 2 == 0 => utf16(data, u16::from_le_bytes).map(|t| (t, Encoding::Utf16Le)),
        [0, b, ..] if *b != 0 && data.len() % 2 == 0 => utf16(data, u16::from_be_bytes).map(|t| (t, Encoding::Utf16Be)),
        _ => utf8(data).map(|t| (t, Encoding::Utf8)),
    }
}

fn utf8(data: &[u8]) -> Result<String, DecodeError> {
    match std::str::from_utf8(data) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let before = String::from_utf8_lossy(&data[..e.valid_up_to()]);
            Err(DecodeError {
                line: line_at(&before),
                message: format!(
                    "byte {} is not UTF-8 (nor is the file UTF-16 with a byte-order mark): save it as UTF-8 or UTF-16",
                    e.valid_up_to() + 1
                ),
            })
        }
    }
}

fn utf16(data: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, DecodeError> {
    if data.len() % 2 != 0 {
        let before = String::from_utf16_lossy(&data.chunks_exact(2).map(|p| unit([p[0], p[1]])).collect::<Vec<_>>());
        return Err(DecodeError {
            line: line_at(&before),
            message: "UTF-16 text has an odd number of bytes: the file is cut short".to_owned(),
        });
    }
    let units = data.chunks_exact(2).map(|p| unit([p[0], p[1]]));
    let mut text = String::with_capacity(data.len() / 2);
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => text.push(c),
            Err(e) => {
                return Err(DecodeError {
                    line: line_at(&text),
                    message: format!("UTF-16 text holds an unpaired surrogate {:#06x}", e.unpaired_surrogate()),
                })
            }
        }
    }
    Ok(text)
}

/// Separators a keyword file may use, in the order ties are broken.
pub const SEPARATORS: [u8; 3] = [b',', b'\t', b';'];

/// Header names of the keyword column (lower case, trimmed).
pub const KEYWORD_HEADERS: &[&str] = &["keyword", "keywords", "query", "term", "search term", "phrase"];
/// Header names of the monthly volume, most specific first (Semrush and Ahrefs say
/// Volume, GKP "Avg. monthly searches"; Ahrefs' "Global volume" only when nothing else).
pub const VOLUME_HEADERS: &[&str] =
    &["volume", "search volume", "avg. monthly searches", "monthly volume", "sv", "global volume"];
/// Header names of the ranking difficulty (Ahrefs "Difficulty" or "KD", Semrush
/// "Keyword Difficulty" or "Keyword Difficulty Index").
pub const DIFFICULTY_HEADERS: &[&str] = &["kd", "kd %", "keyword difficulty", "keyword difficulty index", "difficulty"];
/// Header names of the cost per click; GKP has none, and its high top-of-page bid is
/// what an advertiser pays for the first page, the nearest thing.
pub const CPC_HEADERS: &[&str] = &["cpc", "cpc (usd)", "cost per click", "top of page bid (high range)"];
/// Header names of the search intent (Semrush "Intent", Ahrefs "Intents").
pub const INTENT_HEADERS: &[&str] = &["intent", "intents", "search intent"];

/// A header cell as compared: trimmed, without quotes or a stray BOM, lower case.
pub fn header_name(cell: &str) -> String {
    cell.trim().trim_start_matches('\u{feff}').trim_matches('"').trim().to_lowercase()
}

/// Where the header is and how the file is separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// 0-based line of the header row (lines before it are titles).
    pub header_line: usize,
    /// The field separator.
    pub separator: u8,
}

/// Cells of one line split on `separator`, quotes respected (enough to find a header).
fn cells(line: &str, separator: u8) -> Vec<String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(separator).from_reader(line.as_bytes());
    reader.records().next().and_then(Result::ok).map(|r| r.iter().map(header_name).collect()).unwrap_or_default()
}

/// Finds the header row (the first of the first [`HEADER_SEARCH_LINES`] lines with a
/// keyword column) and the separator that splits it into the most cells; None when no
/// such line exists.
pub fn layout(text: &str) -> Option<Layout> {
    for (index, line) in text.lines().take(HEADER_SEARCH_LINES).enumerate() {
        let best = SEPARATORS
            .iter()
            .map(|&sep| (sep, cells(line, sep)))
            .filter(|(_, cells)| cells.iter().any(|c| KEYWORD_HEADERS.contains(&c.as_str())))
            // max_by_key keeps the last of equals: reverse so ',' wins ties.
            .rev()
            .max_by_key(|(_, cells)| cells.len());
        if let Some((separator, _)) = best {
            return Some(Layout { header_line: index, separator });
        }
    }
    None
}

/// How numbers are written: semicolon files come from locales whose decimal mark is a
/// comma (`1.234,5`); the others use a point and may group thousands with commas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberStyle {
    /// `12,100.5`
    DecimalPoint,
    /// `12.100,5`
    DecimalComma,
}

impl NumberStyle {
    /// The style a file with this separator uses.
    pub fn for_separator(separator: u8) -> Self {
        if separator == b';' {
            Self::DecimalComma
        } else {
            Self::DecimalPoint
        }
    }

    /// A plain number (`12,100`, `$1.25`, `1.234,5`, `1.5K`), None when it is not one.
    pub fn number(self, raw: &str) -> Option<f64> {
        let (group, decimal) = match self {
            Self::DecimalPoint => (',', '.'),
            Self::DecimalComma => ('.', ','),
        };
        let mut cleaned = String::new();
        for c in raw.trim().chars() {
            match c {
                c if c == group => {}
                c if c == decimal => cleaned.push('.'),
                '$' | '€' | '£' | ' ' | '\u{a0}' | '\u{202f}' | '%' => {}
                c => cleaned.push(c),
            }
        }
        let (digits, scale) = match cleaned.chars().last() {
            Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1e3),
            Some('m' | 'M') => (&cleaned[..cleaned.len() - 1], 1e6),
            _ => (cleaned.as_str(), 1.0),
        };
        if digits.is_empty() {
            return None;
        }
        digits.parse::<f64>().ok().filter(|x| x.is_finite()).map(|x| x * scale)
    }

    /// A volume: a number, or the lower bound of a range (`1K – 10K`, `0-10`).
    pub fn volume(self, raw: &str) -> Option<f64> {
        if let Some(x) = self.number(raw) {
            return Some(x);
        }
        let (low, high) = raw.split_once(['–', '—', '-'])?;
        let (low, high) = (self.number(low)?, self.number(high)?);
        (low <= high).then_some(low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn every_encoding_decodes_to_the_same_text() {
        let text = "Keyword\tVolume\ncafé au lait\t10\n";
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let bare_le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let bom8 = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        for (bytes, enc) in [
            (text.as_bytes().to_vec(), Encoding::Utf8),
            (bom8, Encoding::Utf8Bom),
            (utf16le(text), Encoding::Utf16Le),
            (be, Encoding::Utf16Be),
            (bare_le, Encoding::Utf16Le),
        ] {
            assert_eq!(decode(&bytes), Ok((text.to_owned(), enc)));
        }
    }

    #[test]
    fn bad_bytes_name_their_line() {
        let err = decode(b"Keyword\nok\nbad \xff here\n").expect_err("latin-1 byte");
        assert_eq!(err.line, 3, "{err:?}");
        let mut odd = utf16le("Keyword\nx");
        odd.push(b'y');
        assert_eq!(decode(&odd).expect_err("odd").line, 2);
        let mut lone = utf16le("Keyword\n");
        lone.extend([0x00, 0xD8, b'a', 0]);
        assert!(decode(&lone).expect_err("surrogate").message.contains("surrogate"));
    }

    #[test]
    fn the_header_is_found_after_title_rows_with_its_separator() {
        let gkp = "Keyword Stats 2024-05-01 at 10_00_00\nMay 1, 2023 - April 30, 2024\nKeyword\tCurrency\tAvg. monthly searches\nx\tUSD\t10\n";
        assert_eq!(layout(gkp), Some(Layout { header_line: 2, separator: b'\t' }));
        assert_eq!(layout("\"Keyword\";\"Volume\"\n"), Some(Layout { header_line: 0, separator: b';' }));
        assert_eq!(layout("Keyword\nx\n"), Some(Layout { header_line: 0, separator: b',' }));
        assert_eq!(layout("Volume,KD\n10,5\n"), None);
    }

    #[test]
    fn numbers_in_either_locale_and_ranges() {
        let p = NumberStyle::DecimalPoint;
        let c = NumberStyle::DecimalComma;
        assert_eq!(p.number("12,100"), Some(12_100.0));
        assert_eq!(p.number("$1.25"), Some(1.25));
        assert_eq!(c.number("12.100"), Some(12_100.0));
        assert_eq!(c.number("1,25 €"), Some(1.25));
        assert_eq!(p.number("1.5K"), Some(1500.0));
        assert_eq!(p.number("lots"), None);
        assert_eq!(p.volume("1K – 10K"), Some(1000.0));
        assert_eq!(p.volume("0-10"), Some(0.0));
        assert_eq!(p.volume("10-0"), None);
        assert_eq!(p.number(""), None);
    }
}
