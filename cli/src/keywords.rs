//! `igny8 keywords import|list` and `igny8 clusters list`: a site's keywords and the
//! topics stage 1 made of them, on the embedded default or `--backend aws`.

use std::sync::Arc;

use igny8_core::domain::{AccountId, Cluster, Keyword, SiteId};
use igny8_core::planner::keyword_file::{decode, layout};
use igny8_core::planner::{parse_keywords_csv, ImportError, RecordsError, SiteRecords};
use igny8_core::ports::{all_pages, Page};
use igny8_core::repo::SiteRecord;
use igny8_wiring::embedded::LocalRuntime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::args::{ClustersCommand, KeywordsCommand, RecordPaging, SiteArg};
use crate::commands::Output;
use crate::error::CliError;
use crate::run::{runtime, Target};

impl From<RecordsError> for CliError {
    fn from(e: RecordsError) -> Self {
        let message = e.to_string();
        match e {
            RecordsError::SiteNotFound | RecordsError::NotFound(_) => Self::NotFound(message),
            RecordsError::Repo(r) => r.into(),
            RecordsError::Blob(b) => Self::Failure(b.to_string()),
        }
    }
}

impl From<ImportError> for CliError {
    fn from(e: ImportError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            ImportError::Repo(r) => r.into(),
            ImportError::NoKeywordColumn
            | ImportError::Encoding { .. }
            | ImportError::Malformed(_)
            | ImportError::Empty => Self::invalid(code, message),
        }
    }
}

/// The part of `igny8 run`'s local defaults file that names its site.
#[derive(Debug, Deserialize)]
struct LocalSite {
    site_id: SiteId,
}

/// The file `igny8 run` records the data directory's local account and site in (the
/// names `run.rs` writes: one per AWS table, so each backend keeps its own).
fn local_defaults_file(target: &Target) -> std::path::PathBuf {
    match &target.aws {
        None => target.data_dir.join("local.json"),
        Some(aws) => target.data_dir.join(format!("local-aws-{}.json", aws.table)),
    }
}

/// A site opened for reading: the runtime, the tenant-checked records and the owner.
pub struct SiteScope {
    /// The wired runtime.
    pub rt: LocalRuntime,
    /// Tenant-checked reads of the pipeline's records.
    pub records: SiteRecords,
    /// The site's account.
    pub account: AccountId,
    /// The site.
    pub site: SiteId,
}

/// Opens the runtime and finds the site: `--site`, else the local site of `igny8 run`.
pub async fn open_site(target: &Target, arg: &SiteArg) -> Result<SiteScope, CliError> {
    let site: SiteId = match &arg.site {
        Some(site) => site.parse()?,
        None => {
            let path = local_defaults_file(target);
            let text = std::fs::read_to_string(&path).map_err(|_| {
                CliError::invalid(
                    "site_required",
                    format!("give --site: {} does not exist (`igny8 run` creates it)", path.display()),
                )
            })?;
            let local: LocalSite = serde_json::from_str(&text)
                .map_err(|e| CliError::Failure(format!("{} is corrupt: {e}", path.display())))?;
            local.site_id
        }
    };
    let rt = runtime(target).await?;
    let owner =
        rt.services.sites.get(&site).await?.ok_or_else(|| CliError::NotFound(format!("site {site} not found")))?;
    let records = SiteRecords::for_automation(&rt.automation);
    Ok(SiteScope { rt, records, account: owner.account_id, site })
}

impl SiteScope {
    /// One page of the site's records of a kind, or every record with `--all`.
    pub async fn page<T: SiteRecord>(&self, paging: &RecordPaging) -> Result<Page<T>, CliError> {
        if paging.all {
            return Ok(Page::new(self.all::<T>().await?, None));
        }
        Ok(self.records.list::<T>(&self.account, &self.site, usize::from(paging.limit), paging.cursor.clone()).await?)
    }

    /// Every record of a kind.
    pub async fn all<T: SiteRecord>(&self) -> Result<Vec<T>, CliError> {
        let records = self.records.clone();
        let (account, site) = (Arc::new(self.account.clone()), Arc::new(self.site.clone()));
        Ok(all_pages(|cursor| {
            let (records, account, site) = (records.clone(), Arc::clone(&account), Arc::clone(&site));
            async move { records.list::<T>(&account, &site, 100, cursor).await }
        })
        .await?)
    }
}

/// A listing as `{"<field>": [...], "cursor": ...}`, or a line per record and how to
/// ask for the next page.
pub fn listing<T: Serialize>(field: &str, page: Page<T>, line: impl Fn(&T) -> String) -> Result<Output, CliError> {
    let mut text = page.items.iter().map(line).collect::<Vec<_>>().join("\n");
    match &page.cursor {
        Some(c) => text.push_str(&format!("\nmore: --cursor '{c}' (or --all)")),
        None if page.items.is_empty() => text = format!("no {field}"),
        None => {}
    }
    let items = serde_json::to_value(&page.items).map_err(|e| CliError::Failure(e.to_string()))?;
    let mut doc = serde_json::Map::new();
    doc.insert(field.to_owned(), items);
    doc.insert("cursor".to_owned(), json!(page.cursor));
    Ok(Output::new(Value::Object(doc), text))
}

fn keyword_line(k: &Keyword) -> String {
    let cluster = k.cluster_id.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    format!("{} {:>8} {:<9} {} {}", k.id, k.volume, format!("{:?}", k.status).to_lowercase(), cluster, k.keyword)
}

fn cluster_line(c: &Cluster) -> String {
    format!(
        "{} {:>3} keywords {:>9} volume  {} (pillar: {})",
        c.id,
        c.keyword_ids.len(),
        c.total_volume,
        c.name,
        c.pillar_keyword
    )
}

/// `igny8 keywords …`.
pub async fn keywords(target: &Target, cmd: KeywordsCommand) -> Result<Output, CliError> {
    match cmd {
        KeywordsCommand::Import { site, file } => {
            let data = std::fs::read(&file)
                .map_err(|e| CliError::invalid("unreadable_file", format!("cannot read {}: {e}", file.display())))?;
            // Checked whole before the store is opened: a bad file changes nothing.
            let inputs = parse_keywords_csv(&data)?;
            let scope = open_site(target, &site).await?;
            let report = scope.rt.importer.import(&scope.account, &scope.site, &inputs).await?;
            let (encoding, separator) = match decode(&data) {
                Ok((text, encoding)) => (encoding.to_string(), layout(&text).map(|l| separator_name(l.separator))),
                Err(_) => (String::new(), None),
            };
            let text = format!(
                "{} new keywords imported into site {} ({} rows, {} already there; {}{})",
                report.imported,
                scope.site,
                report.rows,
                report.duplicates,
                encoding,
                separator.map(|s| format!(", {s}-separated")).unwrap_or_default()
            );
            let doc = json!({
                "site_id": scope.site,
                "rows": report.rows,
                "imported": report.imported,
                "duplicates": report.duplicates,
                "encoding": encoding,
                "separator": separator,
            });
            Ok(Output::new(doc, text))
        }
        KeywordsCommand::List { site, paging } => {
            let scope = open_site(target, &site).await?;
            listing("keywords", scope.page::<Keyword>(&paging).await?, keyword_line)
        }
    }
}

fn separator_name(separator: u8) -> &'static str {
    match separator {
        b'\t' => "tab",
        b';' => "semicolon",
        _ => "comma",
    }
}

/// `igny8 clusters …`.
pub async fn clusters(target: &Target, cmd: ClustersCommand) -> Result<Output, CliError> {
    match cmd {
        ClustersCommand::List { site, paging } => {
            let scope = open_site(target, &site).await?;
            listing("clusters", scope.page::<Cluster>(&paging).await?, cluster_line)
        }
    }
}
