//! Keyword import from CSV exports (Semrush, Ahrefs and plain lists).
//!
//! The whole file is checked before anything is written: a malformed row is reported
//! with its line number and nothing is imported. Keyword ids derive from the site and
//! the normalised keyword, so importing the same keyword twice keeps one record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

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
    /// The header has no keyword column.
    #[error("no keyword column: the header needs one of Keyword, Query, Term")]
    NoKeywordColumn,
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

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| {
        let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        names.iter().any(|n| h == *n)
    })
}

fn number(raw: &str) -> Option<f64> {
    let cleaned: String = raw.trim().chars().filter(|c| !matches!(c, ',' | '$' | ' ' | '\u{a0}')).collect();
    if cleaned.is_empty() {
        return None;
    }
    cleaned.parse().ok()
}

/// Reads and checks every row; the keywords, or every bad row with its line.
pub fn parse_keywords_csv(data: &[u8]) -> Result<Vec<KeywordInput>, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(data);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Malformed(vec![RowError { line: 1, message: e.to_string() }]))?
        .clone();
    let columns = Columns::of(&headers)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let line = n as u64 + 2;
        match row.map_err(|e| e.to_string()).and_then(|row| columns.keyword(&row)) {
            Ok(Some(keyword)) => out.push(keyword),
            Ok(None) => {}
            Err(message) => errors.push(RowError { line, message }),
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

/// Where each field is in a keyword tool's export, found from its header row.
struct Columns {
    keyword: usize,
    volume: Option<usize>,
    difficulty: Option<usize>,
    cpc: Option<usize>,
    intent: Option<usize>,
}

impl Columns {
    /// The columns of `headers`; a file without a keyword column is refused whole.
    fn of(headers: &csv::StringRecord) -> Result<Self, ImportError> {
        Ok(Self {
            keyword: column(headers, &["keyword", "keywords", "query", "term", "search term"])
                .ok_or(ImportError::NoKeywordColumn)?,
            volume: column(headers, &["volume", "search volume", "avg. monthly searches", "monthly volume", "sv"]),
            difficulty: column(headers, &["kd", "kd %", "keyword difficulty", "difficulty"]),
            cpc: column(headers, &["cpc", "cpc (usd)", "cost per click"]),
            intent: column(headers, &["intent", "intents", "search intent"]),
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
        let volume = match field(self.volume).map(|v| (v, number(v))) {
            None => 0,
            Some((_, Some(x))) if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => x as i64,
            Some((v, _)) => return Err(format!("volume {v:?} is not a whole number ≥ 0")),
        };
        let difficulty = match field(self.difficulty).map(|v| (v, number(v))) {
            None => None,
            Some((_, Some(x))) if (0.0..=100.0).contains(&x) => Some(x.round() as i64),
            Some((v, _)) => return Err(format!("keyword difficulty {v:?} is not a number from 0 to 100")),
        };
        let cpc = match field(self.cpc).map(|v| (v, number(v))) {
            None => None,
            Some((_, Some(x))) if x >= 0.0 && x.is_finite() => Some(x),
            Some((v, _)) => return Err(format!("CPC {v:?} is not a number ≥ 0")),
        };
        let intent = field(self.intent).map(|s| s.to_ascii_lowercase());
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
}
