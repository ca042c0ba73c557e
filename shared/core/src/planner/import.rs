//! Keyword import from keyword tools' exports (Semrush, Ahrefs, Google Keyword Planner
//! and plain lists; see [`super::keyword_file`]).
//!
//! The whole file is checked before anything is written: a malformed row is reported
//! with its line number and nothing is imported. Keyword ids derive from the site and
//! the normalised keyword, so importing the same keyword twice keeps one record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keyword_file::{
    decode, header_name, layout, NumberStyle, CPC_HEADERS, DIFFICULTY_HEADERS, HEADER_SEARCH_LINES, INTENT_HEADERS,
    KEYWORD_HEADERS, VOLUME_HEADERS,
};
use crate::domain::{AccountId, Keyword, KeywordId, KeywordStatus, SiteId};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, ItemStore, StoreError, WriteOp};
use crate::repo::pipeline::transact_counted;
use crate::repo::{Records, RepoError};
use igny8_ai::KeywordInput;

/// One bad row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No header row with a keyword column among the first lines.
    #[error(
        "no keyword column: none of the first {HEADER_SEARCH_LINES} lines is a header with Keyword, Query, Term or Phrase"
    )]
    NoKeywordColumn,
    /// The bytes are not text in an encoding keyword tools write.
    #[error("line {line}: {message}")]
    Encoding {
        /// 1-based line of the first bad byte.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Rows are malformed; nothing was imported.
    #[error("{} malformed row(s), nothing imported: {}", .0.len(), describe(.0))]
    Malformed(Vec<RowError>),
    /// The file holds no keywords.
    #[error("the file holds no keywords")]
    Empty,
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl ImportError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoKeywordColumn => "invalid_csv",
            Self::Encoding { .. } => "invalid_encoding",
            Self::Empty => "empty_import",
            Self::Malformed(_) => "validation_failed",
            Self::Repo(e) => e.code(),
        }
    }
}

fn describe(rows: &[RowError]) -> String {
    let shown: Vec<String> = rows.iter().take(5).map(|r| format!("line {}: {}", r.line, r.message)).collect();
    let more = rows.len().saturating_sub(5);
    if more > 0 {
        format!("{}; and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// Keyword rows read.
    pub rows: u64,
    /// New keywords stored.
    pub imported: u64,
    /// Rows that repeated a keyword already stored (or earlier in the file).
    pub duplicates: u64,
}

/// The first column whose header is one of `names`, trying the names in order.
fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    let headers: Vec<String> = headers.iter().map(header_name).collect();
    names.iter().find_map(|n| headers.iter().position(|h| h == n))
}

/// Reads and checks every row of a keyword tool's export (see [`super::keyword_file`]
/// for the encodings, separators and headers understood): the keywords, or every bad
/// row with its line (lines count from 1 at the top of the file, title rows included).
/// The API's CSV routes and the CLI both call this.
pub fn parse_keywords_csv(data: &[u8]) -> Result<Vec<KeywordInput>, ImportError> {
    let (text, _) = decode(data).map_err(|e| ImportError::Encoding { line: e.line, message: e.message })?;
    let layout = layout(&text).ok_or(ImportError::NoKeywordColumn)?;
    // The header's byte offset: the title rows before it are skipped, their lines counted.
    let offset: usize = text.split_inclusive('\n').take(layout.header_line).map(str::len).sum();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(layout.separator)
        .from_reader(&text.as_bytes()[offset..]);
    let body = &text.as_bytes()[offset..];
    let mut lines = LineCounter { body, at: 0, line: layout.header_line as u64 + 1 };
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Malformed(vec![RowError { line: lines.line, message: e.to_string() }]))?
        .clone();
    let columns = Columns::of(&headers, NumberStyle::for_separator(layout.separator))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let next = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match columns.keyword(&record) {
                Ok(Some(keyword)) => out.push(keyword),
                Ok(None) => {}
                Err(message) => {
                    let line = lines.line_at(record.position().map_or(next, csv::Position::byte));
                    errors.push(RowError { line, message });
                }
            },
            Err(e) => {
                let line = lines.line_at(e.position().map_or(next, csv::Position::byte));
                errors.push(RowError { line, message: e.to_string() });
                if errors.len() > 1000 {
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Malformed(errors));
    }
    if out.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(out)
}

/// Line numbers of byte offsets read in increasing order (the csv crate's own line
/// count drifts on CRLF files, which Excel and Keyword Planner write).
struct LineCounter<'a> {
    body: &'a [u8],
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The 1-based line of the file at `byte` (an offset into the text after the title rows).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte).unwrap_or(usize::MAX).min(self.body.len());
        // The csv crate starts a record where it started looking: at the LF of the CRLF
        // before it, or at blank lines it skipped. A record never starts with a line end.
        while matches!(self.body.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target > self.at {
            self.line += self.body[self.at..target].iter().filter(|b| **b == b'\n').count() as u64;
            self.at = target;
        }
        self.line
    }
}

/// Where each field is in a keyword tool's export, found from its header row.
struct Columns {
    keyword: usize,
    volume: Option<usize>,
    difficulty: Option<usize>,
    cpc: Option<usize>,
    intent: Option<usize>,
    numbers: NumberStyle,
}

impl Columns {
    /// The columns of `headers`; a file without a keyword column is refused whole.
    fn of(headers: &csv::StringRecord, numbers: NumberStyle) -> Result<Self, ImportError> {
        Ok(Self {
            keyword: column(headers, KEYWORD_HEADERS).ok_or(ImportError::NoKeywordColumn)?,
            volume: column(headers, VOLUME_HEADERS),
            difficulty: column(headers, DIFFICULTY_HEADERS),
            cpc: column(headers, CPC_HEADERS),
            intent: column(headers, INTENT_HEADERS),
            numbers,
        })
    }

    /// One row as a keyword: None for a blank row, the row's problem otherwise.
    fn keyword(&self, row: &csv::StringRecord) -> Result<Option<KeywordInput>, String> {
        if row.iter().all(|f| f.trim().is_empty()) {
            return Ok(None);
        }
        let field = |i: Option<usize>| i.and_then(|i| row.get(i)).map(str::trim).filter(|s| !s.is_empty());
        let keyword = field(Some(self.keyword)).ok_or_else(|| "empty keyword".to_owned())?;
        if keyword.chars().count() > 200 || keyword.chars().any(char::is_control) {
            return Err(format!("keyword {keyword:?} is longer than 200 characters or has control characters"));
        }
        let volume = match field(self.volume).map(|v| (v, self.numbers.volume(v))) {
            None => 0,
            Some((_, Some(x))) if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => x as i64,
            Some((v, _)) => return Err(format!("volume {v:?} is not a whole number ≥ 0")),
        };
        let difficulty = match field(self.difficulty).map(|v| (v, self.numbers.number(v))) {
            None => None,
            Some((_, Some(x))) if (0.0..=100.0).contains(&x) => Some(x.round() as i64),
            Some((v, _)) => return Err(format!("keyword difficulty {v:?} is not a number from 0 to 100")),
        };
        let cpc = match field(self.cpc).map(|v| (v, self.numbers.number(v))) {
            None => None,
            Some((_, Some(x))) if x >= 0.0 && x.is_finite() => Some(x),
            Some((v, _)) => return Err(format!("CPC {v:?} is not a number ≥ 0")),
        };
        // Semrush and Ahrefs may list several intents; the first is the main one.
        let intent = field(self.intent)
            .and_then(|s| s.split(',').map(str::trim).find(|s| !s.is_empty()))
            .map(|s| s.to_ascii_lowercase());
        Ok(Some(KeywordInput { keyword: keyword.to_owned(), volume, difficulty, cpc, intent }))
    }
}

/// Normalised form used for the keyword's identity.
pub fn normalise(keyword: &str) -> String {
    keyword.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Stores imported keywords for a site.
#[derive(Clone)]
pub struct KeywordImporter {
    store: Arc<dyn ItemStore>,
    keywords: Records<Keyword>,
    clock: Arc<dyn Clock>,
}

impl KeywordImporter {
    /// An importer over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { keywords: Records::new(Arc::clone(&store)), store, clock }
    }

    /// Stores new keywords (existing ones are counted as duplicates, not changed).
    pub async fn import(
        &self,
        account: &AccountId,
        site: &SiteId,
        inputs: &[KeywordInput],
    ) -> Result<ImportReport, ImportError> {
        let now = rfc3339(self.clock.now_ms());
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::new();
        for k in inputs {
            let norm = normalise(&k.keyword);
            if !seen.insert(norm.clone()) {
                continue;
            }
            records.push(Keyword {
                id: KeywordId::derive(&format!("{site}/{norm}")),
                account_id: account.clone(),
                site_id: site.clone(),
                keyword: k.keyword.clone(),
                volume: k.volume,
                difficulty: k.difficulty,
                cpc: k.cpc,
                intent: k.intent.clone(),
                status: KeywordStatus::New,
                cluster_id: None,
                created_at: now.clone(),
            });
        }
        let mut imported = 0u64;
        for chunk in records.chunks(50) {
            let mut pending: Vec<&Keyword> = chunk.iter().collect();
            // Drop keywords that already exist (their put fails its condition) and retry.
            while !pending.is_empty() {
                let writes = pending.iter().map(|k| self.keywords.create(k)).collect::<Result<Vec<WriteOp>, _>>()?;
                // The site's count of new keywords moves in the same transaction.
                match transact_counted(&*self.store, writes).await {
                    Ok(()) => {
                        imported += pending.len() as u64;
                        break;
                    }
                    Err(RepoError::Store(StoreError::ConditionFailed(failed))) => {
                        let drop: std::collections::HashSet<usize> = failed.iter().map(|f| f.index).collect();
                        pending = pending
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !drop.contains(i))
                            .map(|(_, k)| k)
                            .collect();
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let rows = inputs.len() as u64;
        Ok(ImportReport { rows, imported, duplicates: rows - imported })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semrush_and_ahrefs_columns_parse() {
        let semrush = b"Keyword,Intent,Volume,Keyword Difficulty,CPC (USD)\nbest running shoes,commercial,\"12,100\",67,1.25\nrunning shoes,,9900,,\n";
        let rows = parse_keywords_csv(semrush).expect("parse");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].volume, rows[0].difficulty, rows[0].cpc), (12_100, Some(67), Some(1.25)));
        assert_eq!(rows[0].intent.as_deref(), Some("commercial"));
        let ahrefs = b"Keyword,KD,Search Volume,CPC\nchocolate cake,12,5000,0.4\n";
        assert_eq!(parse_keywords_csv(ahrefs).expect("parse")[0].volume, 5000);
    }

    #[test]
    fn malformed_rows_are_all_reported_with_lines() {
        let data = b"Keyword,Volume,KD\nok,10,5\n,10,5\nbad volume,lots,5\nbad kd,10,300\n";
        match parse_keywords_csv(data) {
            Err(ImportError::Malformed(rows)) => {
                let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
                assert_eq!(lines, [3, 4, 5]);
            }
            other => panic!("expected malformed rows, got {other:?}"),
        }
        assert!(matches!(parse_keywords_csv(b"Volume\n10\n"), Err(ImportError::NoKeywordColumn)));
        assert!(matches!(parse_keywords_csv(b"Keyword\n"), Err(ImportError::Empty)));
    }

    #[test]
    fn title_rows_count_in_line_numbers() {
        let gkp = "Keyword Stats 2024-05-01 at 10_00_00\nMay 1, 2023 - April 30, 2024\nKeyword,Currency,Avg. monthly searches,Competition,Top of page bid (high range)\nrain boots,USD,1K – 10K,High,1.20\nbad,USD,many,Low,0.5\n";
        for text in [gkp.to_owned(), gkp.replace('\n', "\r\n")] {
            match parse_keywords_csv(text.as_bytes()) {
                Err(ImportError::Malformed(rows)) => assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [5]),
                other => panic!("expected line 5, got {other:?}"),
            }
        }
        let good = gkp.replace("bad,USD,many", "snow boots,USD,2400");
        let rows = parse_keywords_csv(good.as_bytes()).expect("gkp");
        assert_eq!((rows[0].volume, rows[0].cpc, rows[1].volume), (1000, Some(1.2), 2400));
    }

    #[test]
    fn latin1_bytes_are_an_encoding_error_with_a_line() {
        let err = parse_keywords_csv(b"Keyword\ncaf\xe9\n").expect_err("latin-1");
        assert_eq!(err.code(), "invalid_encoding");
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }

    #[test]
    fn intents_keep_the_first_and_multiline_fields_keep_their_line() {
        let data = b"Keyword,Intent\nboots,\"Commercial,\nInformational\"\n,x\n";
        match parse_keywords_csv(data) {
            Err(ImportError::Malformed(rows)) => assert_eq!(rows[0].line, 4),
            other => panic!("{other:?}"),
        }
        let rows = parse_keywords_csv(b"Keyword,Intent\nshoes,\"Commercial, Informational\"\n").expect("parse");
        assert_eq!(rows[0].intent.as_deref(), Some("commercial"));
    }
}
