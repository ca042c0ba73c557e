//! Keyword exports as Semrush, Ahrefs and Google Keyword Planner write them, built
//! here (never copied from a vendor) in every encoding and separator the importer
//! takes, with the counts an import of each must report.

#![allow(dead_code)]

/// The keyword tools whose exports are imitated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Keyword Magic Tool: `Keyword, Intent, Volume, Trend, Keyword Difficulty, CPC (USD), …`.
    Semrush,
    /// Keywords Explorer: `#, Keyword, Country, Difficulty, Volume, CPC, …, Intents`.
    Ahrefs,
    /// Keyword Planner: two title rows, then `Keyword, Currency, Avg. monthly searches, …`.
    KeywordPlanner,
}

/// Text encodings of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// UTF-8, no byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
    /// UTF-16LE with a byte-order mark.
    Utf16Le,
    /// UTF-16BE with a byte-order mark.
    Utf16Be,
}

/// Every tool, encoding and separator.
pub const TOOLS: [Tool; 3] = [Tool::Semrush, Tool::Ahrefs, Tool::KeywordPlanner];
/// Every encoding.
pub const ENCODINGS: [Enc; 4] = [Enc::Utf8, Enc::Utf8Bom, Enc::Utf16Le, Enc::Utf16Be];
/// Every separator.
pub const SEPARATORS: [char; 3] = [',', '\t', ';'];

const TOPICS: [&str; 10] = [
    "running shoes",
    "café crème",
    "standing desk",
    "sourdough bread",
    "garden hose",
    "noise cancelling headphones",
    "retinol cream",
    "camping stove",
    "smart thermostat",
    "yoga mat",
];
const MODIFIERS: [&str; 10] =
    ["best", "cheap", "how to clean", "review", "for beginners", "vs", "near me", "2026", "size guide", "deals"];

/// The `i`-th distinct keyword.
pub fn keyword(i: usize) -> String {
    let topic = TOPICS[i % TOPICS.len()];
    let modifier = MODIFIERS[(i / TOPICS.len()) % MODIFIERS.len()];
    let round = i / (TOPICS.len() * MODIFIERS.len());
    if round == 0 {
        format!("{modifier} {topic}")
    } else {
        format!("{modifier} {topic} {round}")
    }
}

/// A field, quoted when it holds the separator or a quote.
fn field(text: &str, sep: char) -> String {
    if text.contains(sep) || text.contains('"') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A number with a thousands separator in the style the separator implies.
fn thousands(n: usize, sep: char) -> String {
    let group = if sep == ';' { '.' } else { ',' };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    out
}

/// A price in the style the separator implies.
fn price(cents: usize, sep: char) -> String {
    let mark = if sep == ';' { ',' } else { '.' };
    format!("{}{mark}{:02}", cents / 100, cents % 100)
}

/// The rows of an export of `n` keywords: header (after title rows for GKP), one row a
/// keyword, a blank line and one repeat of the first keyword in other case and spacing.
pub fn export_text(tool: Tool, sep: char, n: usize) -> String {
    let s = sep.to_string();
    let mut lines: Vec<String> = Vec::new();
    match tool {
        Tool::Semrush => lines.push(
            ["Keyword", "Intent", "Volume", "Trend", "Keyword Difficulty", "CPC (USD)", "Competitive Density"].join(&s),
        ),
        Tool::Ahrefs => lines.push(
            ["#", "Keyword", "Country", "Difficulty", "Volume", "CPC", "Parent Keyword", "Global volume", "Intents"]
                .join(&s),
        ),
        Tool::KeywordPlanner => {
            lines.push("Keyword Stats 2026-11-30 at 09_15_02".to_owned());
            lines.push(field("November 1, 2025 - October 31, 2026", sep));
            lines.push(
                [
                    "Keyword",
                    "Currency",
                    "Avg. monthly searches",
                    "Three month change",
                    "YoY change",
                    "Competition",
                    "Competition (indexed value)",
                    "Top of page bid (low range)",
                    "Top of page bid (high range)",
                ]
                .join(&s),
            );
        }
    }
    let row = |i: usize, text: &str| -> String {
        let volume = 10 + (i * 37) % 20_000;
        let cells: Vec<String> = match tool {
            Tool::Semrush => vec![
                field(text, sep),
                field(if i % 2 == 0 { "Commercial, Informational" } else { "Informational" }, sep),
                field(&thousands(volume, sep), sep),
                field("0.81,0.81,1.00", sep),
                (i % 101).to_string(),
                field(&price(i % 500, sep), sep),
                field(&price(i % 100, sep), sep),
            ],
            Tool::Ahrefs => vec![
                (i + 1).to_string(),
                field(text, sep),
                "us".to_owned(),
                (i % 101).to_string(),
                if i % 7 == 0 { "0-10".to_owned() } else { volume.to_string() },
                field(&price(i % 300, sep), sep),
                field(text, sep),
                (volume * 3).to_string(),
                field("Informational, Commercial", sep),
            ],
            Tool::KeywordPlanner => vec![
                field(text, sep),
                "USD".to_owned(),
                if i % 5 == 0 { field("1K – 10K", sep) } else { volume.to_string() },
                "0%".to_owned(),
                "+900%".to_owned(),
                ["Low", "Medium", "High"][i % 3].to_owned(),
                (i % 100).to_string(),
                field(&price(i % 90, sep), sep),
                field(&price(90 + i % 400, sep), sep),
            ],
        };
        cells.join(&s)
    };
    for i in 0..n {
        lines.push(row(i, &keyword(i)));
    }
    lines.push(String::new());
    let repeat = keyword(0).to_uppercase().replace(' ', "  ");
    lines.push(row(0, &repeat));
    lines.join("\r\n") + "\r\n"
}

/// The bytes of an export in an encoding.
pub fn encode(text: &str, enc: Enc) -> Vec<u8> {
    match enc {
        Enc::Utf8 => text.as_bytes().to_vec(),
        Enc::Utf8Bom => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
        Enc::Utf16Le => [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
        Enc::Utf16Be => [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect(),
    }
}

/// An export of `n` keywords: the file's bytes.
pub fn export(tool: Tool, enc: Enc, sep: char, n: usize) -> Vec<u8> {
    encode(&export_text(tool, sep, n), enc)
}

/// Rows an import of [`export`] reads: every keyword and the repeat.
pub fn expected_rows(n: usize) -> u64 {
    n as u64 + 1
}
