//! `igny8 run` (the main job) and `igny8 runs …` on the embedded default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use igny8_core::automation::{RunLog, RunSummary};
use igny8_core::domain::{AccountId, AutomationRun, RunId, RunStatus, SiteId, Stage, TransactionKind};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{Page, SystemClock, UuidIds};
use igny8_wiring::backend::{local_runtime_on_aws, AwsResources};
use igny8_wiring::embedded::ExecutorOptions;
use igny8_wiring::embedded::{LocalRuntime, RuntimeError};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::args::{RunArgs, RunsCommand};
use crate::commands::Output;
use crate::error::CliError;

/// The data directory's own account and site, created by the first `igny8 run`.
#[derive(Debug, Serialize, Deserialize)]
struct LocalDefaults {
    account_id: AccountId,
    site_id: SiteId,
}

const DEFAULTS_FILE: &str = "local.json";

/// Where `igny8 run` keeps the platform's data.
pub struct Target {
    /// The data directory (embedded stores; the local defaults file in every case).
    pub data_dir: PathBuf,
    /// DynamoDB, S3 and SQS instead of the embedded stores.
    pub aws: Option<AwsResources>,
}

impl Target {
    /// The file remembering this target's local account and site.
    fn defaults_file(&self) -> PathBuf {
        match &self.aws {
            None => self.data_dir.join(DEFAULTS_FILE),
            Some(aws) => self.data_dir.join(format!("local-aws-{}.json", aws.table)),
        }
    }
}

/// A storage or environment failure, from any error that says what went wrong.
pub(crate) fn failure(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(e.to_string())
}

/// Opens the runtime on the target's adapters; on AWS against an emulator the table,
/// bucket and queues are created when missing.
pub async fn runtime(target: &Target) -> Result<LocalRuntime, CliError> {
    let ai = igny8_wiring::ai_from_env().map_err(failure)?;
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(UuidIds));
    let opened = match &target.aws {
        None => LocalRuntime::open(&target.data_dir, ai, clock, ids, ExecutorOptions::default()),
        Some(aws) => local_runtime_on_aws(aws, &target.data_dir, ai, clock, ids).await,
    };
    opened.map_err(|e| match e {
        RuntimeError::Store(e) => CliError::from(e),
        other => failure(other),
    })
}

async fn local_site(rt: &LocalRuntime, target: &Target, args: &RunArgs) -> Result<(AccountId, SiteId), CliError> {
    if let Some(site) = &args.site {
        let id: SiteId = site.parse()?;
        let site =
            rt.services.sites.get(&id).await?.ok_or_else(|| CliError::NotFound(format!("site {id} not found")))?;
        if let Some(credits) = args.credits {
            topup(rt, &site.account_id, credits).await?;
        }
        return Ok((site.account_id, site.id));
    }
    let path = target.defaults_file();
    if let Ok(text) = std::fs::read_to_string(&path) {
        let defaults: LocalDefaults = serde_json::from_str(&text)
            .map_err(|e| CliError::Failure(format!("{} is corrupt: {e}", path.display())))?;
        if rt.services.sites.get(&defaults.site_id).await?.is_some() {
            if let Some(credits) = args.credits {
                topup(rt, &defaults.account_id, credits).await?;
            }
            return Ok((defaults.account_id, defaults.site_id));
        }
    }
    let credits = args.credits.unwrap_or(100_000);
    let (account, _) = rt.services.account_service.create_account("Local account", credits).await?;
    let site = rt.services.account_service.create_site(&account.id, "Local site", &args.domain).await?;
    let defaults = LocalDefaults { account_id: account.id.clone(), site_id: site.id.clone() };
    let text = serde_json::to_string_pretty(&defaults).map_err(|e| CliError::Failure(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))?;
    Ok((account.id, site.id))
}

async fn topup(rt: &LocalRuntime, account: &AccountId, credits: i64) -> Result<(), CliError> {
    rt.services.credits.add(account, credits, TransactionKind::TopUp, "igny8 run --credits", None, None).await?;
    Ok(())
}

/// Progress bars, one per stage, fed from the run record.
struct Bars {
    bars: Vec<ProgressBar>,
}

impl Bars {
    fn new(visible: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let style = ProgressStyle::with_template("{prefix:>22} [{bar:32.cyan/blue}] {pos:>5}/{len:5} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars = Stage::ALL
            .iter()
            .map(|s| {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(format!("{} {}", s.number(), s.name()));
                bar
            })
            .collect();
        Self { bars }
    }

    fn update(&self, run: &AutomationRun) {
        for (stage, bar) in Stage::ALL.iter().zip(&self.bars) {
            let n = stage.number();
            let (done, total) = if *stage == Stage::Images {
                let queued = u64::try_from(run.images_queued).unwrap_or(0);
                (u64::try_from(run.images_finished).unwrap_or(0), queued)
            } else {
                run.stages.get(&n).map_or((0, 0), |r| (r.processed, r.processed + r.remaining))
            };
            bar.set_length(total.max(done));
            bar.set_position(done);
            if let Some(r) = run.stages.get(&n) {
                bar.set_message(format!("{} credits", r.credits));
                if r.completed_at.is_some() && !bar.is_finished() {
                    bar.finish();
                }
            }
        }
    }

    fn finish(&self) {
        for bar in &self.bars {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// The main job.
pub async fn run(target: &Target, args: RunArgs, json_out: bool) -> Result<Output, CliError> {
    let started = Instant::now();
    let data = std::fs::read(&args.keywords)
        .map_err(|e| CliError::invalid("unreadable_file", format!("cannot read {}: {e}", args.keywords.display())))?;
    let keywords = parse_keywords_csv(&data).map_err(|e| CliError::invalid("invalid_keywords", e.to_string()))?;
    if let Some(c) = args.credits {
        if c <= 0 {
            return Err(CliError::invalid("validation_failed", format!("--credits must be positive, got {c}")));
        }
    }
    let rt = runtime(target).await?;
    let (account, site) = local_site(&rt, target, &args).await?;
    let import = rt.importer.import(&account, &site, &keywords).await.map_err(|e| CliError::Failure(e.to_string()))?;
    let run = rt.automation.start(&account, &site, "manual").await?;
    let bars = Bars::new(!json_out && !args.quiet);
    let outcome = rt.automation_drive(&run.id, &bars).await?;
    bars.finish();
    let summary = rt.automation.summary(&account, &run.id).await?;
    let record = rt.automation.run(&account, &run.id).await?;
    let logs = format!("{}{}", rt.blob_base, summary.logs);
    let images_dir = format!("{}{}", rt.blob_base, summary.images_dir);
    let mut doc = serde_json::to_value(&summary).map_err(|e| CliError::Failure(e.to_string()))?;
    if let Value::Object(map) = &mut doc {
        map.insert("logs".into(), json!(logs));
        map.insert("images_dir".into(), json!(images_dir));
        map.insert("keywords_imported".into(), json!(import.imported));
        map.insert("keywords_in_file".into(), json!(import.rows));
        map.insert("duration_ms".into(), json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)));
        map.insert("execution".into(), json!(outcome));
        map.insert("error".into(), json!(record.error));
    }
    let by_stage: Vec<String> = summary
        .credits_by_stage
        .iter()
        .map(|(stage, c)| format!("{}:{c}", Stage::from_number(*stage).map_or("other", Stage::name)))
        .collect();
    let text = format!(
        "run {} {:?} in {:.1}s\n  keywords   {} imported ({} in file)\n{}\n  credits    {} ({})\n  account    {}\n  site       {}\n  logs       {}\n  images in  {}",
        summary.run_id,
        summary.status,
        started.elapsed().as_secs_f64(),
        import.imported,
        import.rows,
        produced(&summary),
        summary.credits_used,
        by_stage.join(", "),
        summary.account_id,
        summary.site_id,
        logs,
        images_dir,
    );
    let text = format!("{text}\n  read them  igny8 content export --site {} --out articles", summary.site_id);
    let mut out = Output::new(doc, text);
    if summary.status != RunStatus::Completed {
        eprintln!(
            "error: run ended {:?}{}",
            summary.status,
            record.error.map(|e| format!(": {e}")).unwrap_or_default()
        );
        out.set_exit(1);
    }
    Ok(out)
}

trait Drive {
    async fn automation_drive(&self, run: &RunId, bars: &Bars) -> Result<&'static str, CliError>;
}

impl Drive for LocalRuntime {
    async fn automation_drive(&self, run: &RunId, bars: &Bars) -> Result<&'static str, CliError> {
        let outcome = self.drive(run, |r| bars.update(r)).await?;
        Ok(outcome.status.as_str())
    }
}

/// What a run produced, one line per kind.
fn produced(s: &RunSummary) -> String {
    let failed = if s.images_failed > 0 { format!(" ({} failed)", s.images_failed) } else { String::new() };
    format!(
        "  clusters   {}\n  ideas      {}\n  tasks      {}\n  articles   {} ({} words)\n  images     {}{failed}",
        s.clusters, s.ideas, s.tasks, s.articles, s.words, s.images
    )
}

fn run_line(r: &AutomationRun) -> String {
    format!("{} {:?} stage {} credits {} started {}", r.id, r.status, r.current_stage, r.credits_used, r.started_at)
}

/// `igny8 runs …`.
pub async fn runs(target: &Target, cmd: RunsCommand) -> Result<Output, CliError> {
    let rt = runtime(target).await?;
    let a = &rt.automation;
    let record = |id: &str| {
        let id = id.to_owned();
        let a = a.clone();
        async move {
            let id: RunId = id.parse()?;
            Ok::<AutomationRun, CliError>(a.run_by_id(&id).await?)
        }
    };
    match cmd {
        RunsCommand::List { site } => {
            let site: SiteId = site.parse()?;
            let owner = rt
                .services
                .sites
                .get(&site)
                .await?
                .ok_or_else(|| CliError::NotFound(format!("site {site} not found")))?;
            let Page { items: runs, cursor } = a.runs(&owner.account_id, &site, 100, None).await?;
            let text = runs.iter().map(run_line).collect::<Vec<_>>().join("\n");
            Ok(Output::new(json!({"runs": runs, "cursor": cursor}), text))
        }
        RunsCommand::Show { run } => {
            let r = record(&run).await?;
            let summary = a.summary(&r.account_id, &r.id).await?;
            let stages: BTreeMap<u8, Value> = r.stages.iter().map(|(k, v)| (*k, json!(v))).collect();
            let text = format!(
                "{}\n{}\n  credits    {}{}",
                run_line(&r),
                produced(&summary),
                summary.credits_used,
                r.error.as_deref().map(|e| format!("\n  error: {e}")).unwrap_or_default()
            );
            Ok(Output::new(json!({"run": r, "summary": summary, "stages": stages}), text))
        }
        RunsCommand::Pause { run } => {
            let r = record(&run).await?;
            let r = a.pause(&r.account_id, &r.id).await?;
            Ok(Output::new(json!({"run": r}), format!("pause requested: {}", run_line(&r))))
        }
        RunsCommand::Resume { run } => {
            let r = record(&run).await?;
            let r = a.resume(&r.account_id, &r.id).await?;
            Ok(Output::new(json!({"run": r}), format!("resume requested: {}", run_line(&r))))
        }
        RunsCommand::Cancel { run } => {
            let r = record(&run).await?;
            let r = a.cancel(&r.account_id, &r.id).await?;
            Ok(Output::new(json!({"run": r}), format!("cancel requested: {}", run_line(&r))))
        }
        RunsCommand::Logs { run, trace } => {
            let r = record(&run).await?;
            let log = RunLog { account_id: r.account_id.clone(), site_id: r.site_id.clone(), run_id: r.id.clone() };
            let events = a.logger().events(&log).await.map_err(|e| CliError::Failure(e.to_string()))?;
            let main = a.logger().main_log(&log).await.map_err(|e| CliError::Failure(e.to_string()))?;
            let text = if trace {
                events.iter().filter_map(|e| serde_json::to_string(e).ok()).collect::<Vec<_>>().join("\n")
            } else {
                main.trim_end().to_owned()
            };
            Ok(Output::new(json!({"main_log": main, "events": events}), text))
        }
    }
}
