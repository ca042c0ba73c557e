//! Keyword exports in every encoding (UTF-8, UTF-8 with BOM, UTF-16LE and UTF-16BE with
//! BOM), separator (comma, tab, semicolon) and tool header (Semrush, Ahrefs, Google
//! Keyword Planner with its title rows), built by [`fixtures`]: each parses to its
//! expected rows, with its numbers read, and imports its expected keyword count into
//! the embedded store — the parser the API's CSV routes, the import jobs and the CLI
//! all call.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures.rs"]
mod fixtures;

use std::sync::Arc;

use fixtures::{expected_rows, export, keyword, Enc, Tool, ENCODINGS, SEPARATORS, TOOLS};
use igny8_core::accounts::AccountService;
use igny8_core::planner::keyword_file::{decode, layout, Encoding};
use igny8_core::planner::{parse_keywords_csv, ImportError, KeywordImporter};
use igny8_core::ports::{ItemStore, SystemClock};
use igny8_core::Services;
use igny8_embedded::SqliteStore;

const N: usize = 120;

fn encoding_of(enc: Enc) -> Encoding {
    match enc {
        Enc::Utf8 => Encoding::Utf8,
        Enc::Utf8Bom => Encoding::Utf8Bom,
        Enc::Utf16Le => Encoding::Utf16Le,
        Enc::Utf16Be => Encoding::Utf16Be,
    }
}

#[test]
fn every_tool_encoding_and_separator_parses_to_its_rows() {
    for tool in TOOLS {
        for enc in ENCODINGS {
            for sep in SEPARATORS {
                let what = format!("{tool:?} {enc:?} {sep:?}");
                let data = export(tool, enc, sep, N);
                let (text, found) = decode(&data).unwrap_or_else(|e| panic!("{what}: {e:?}"));
                assert_eq!(found, encoding_of(enc), "{what}");
                let l = layout(&text).unwrap_or_else(|| panic!("{what}: no header"));
                assert_eq!(l.separator, sep as u8, "{what}");
                assert_eq!(l.header_line, if tool == Tool::KeywordPlanner { 2 } else { 0 }, "{what}");
                let rows = parse_keywords_csv(&data).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(rows.len() as u64, expected_rows(N), "{what}");
                // Row 1: a keyword with non-ASCII letters survives every encoding.
                assert_eq!(rows[1].keyword, keyword(1), "{what}");
                assert_eq!(rows[1].keyword, "best café crème", "{what}");
                let r = &rows[3];
                let volume = 10 + 3 * 37; // row 3 of the fixtures
                match tool {
                    Tool::Semrush => {
                        assert_eq!((r.volume, r.difficulty, r.cpc), (volume as i64, Some(3), Some(0.03)), "{what}");
                        assert_eq!(rows[2].intent.as_deref(), Some("commercial"), "{what}: first of several");
                    }
                    Tool::Ahrefs => {
                        assert_eq!((r.volume, r.difficulty, r.cpc), (volume as i64, Some(3), Some(0.03)), "{what}");
                        assert_eq!(rows[7].volume, 0, "{what}: 0-10 reads as its lower bound");
                    }
                    Tool::KeywordPlanner => {
                        assert_eq!((r.volume, r.difficulty, r.cpc), (volume as i64, None, Some(0.93)), "{what}");
                        assert_eq!(rows[5].volume, 1000, "{what}: 1K – 10K reads as its lower bound");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn every_fixture_imports_its_keyword_count_once() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("db.sqlite")).expect("store"));
    let services = Services::new(Arc::clone(&store));
    let accounts: &AccountService = &services.account_service;
    let (account, _) = accounts.create_account("Imports", 0).await.expect("account");
    let importer = KeywordImporter::new(Arc::clone(&store), Arc::new(SystemClock));
    for tool in TOOLS {
        for enc in ENCODINGS {
            for sep in SEPARATORS {
                let what = format!("{tool:?} {enc:?} {sep:?}");
                let site = accounts.create_site(&account.id, &what, "example.com").await.expect("site");
                let rows = parse_keywords_csv(&export(tool, enc, sep, N)).expect("parse");
                let report = importer.import(&account.id, &site.id, &rows).await.expect("import");
                assert_eq!(
                    (report.rows, report.imported, report.duplicates),
                    (expected_rows(N), N as u64, 1),
                    "{what}"
                );
                let again = importer.import(&account.id, &site.id, &rows).await.expect("import again");
                assert_eq!((again.imported, again.duplicates), (0, expected_rows(N)), "{what}: replay writes nothing");
            }
        }
    }
}

#[test]
fn broken_files_are_refused_with_a_code_and_a_line() {
    // A Latin-1 byte in a UTF-8 file (line 4), a cut UTF-16 file, a file without a
    // keyword header and a malformed row: each names its problem, nothing is parsed.
    let mut latin1 = fixtures::export_text(Tool::Semrush, ',', 5).into_bytes();
    let third_row = latin1.split(|b| *b == b'\n').take(3).map(|l| l.len() + 1).sum::<usize>();
    latin1.insert(third_row + 2, 0xE9);
    let err = parse_keywords_csv(&latin1).expect_err("latin-1");
    assert_eq!(err.code(), "invalid_encoding");
    assert!(err.to_string().starts_with("line 4:"), "{err}");

    let mut cut = export(Tool::Ahrefs, Enc::Utf16Le, '\t', 5);
    cut.pop();
    assert_eq!(parse_keywords_csv(&cut).expect_err("odd length").code(), "invalid_encoding");

    let headerless = fixtures::encode("Volume\tKD\n10\t5\n", Enc::Utf16Le);
    assert!(matches!(parse_keywords_csv(&headerless), Err(ImportError::NoKeywordColumn)));

    let text = fixtures::export_text(Tool::KeywordPlanner, '\t', 5).replace("USD\t1K – 10K", "USD\tplenty");
    match parse_keywords_csv(&fixtures::encode(&text, Enc::Utf16Be)) {
        // Two title rows and the header: the first keyword row is line 4, its repeat line 10.
        Err(ImportError::Malformed(rows)) => assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 10]),
        other => panic!("expected malformed rows, got {other:?}"),
    }
}
