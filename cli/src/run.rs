//! `igny8 run` (the main job) and `igny8 runs …` on the embedded default.
//!
//! A run whose process died (killed, the terminal closed, Ctrl-C twice) is stored
//! where it was: `igny8 run` on its site, `igny8 runs resume` and `igny8 runs cancel`
//! continue it in their own process. Ctrl-C once pauses the run after its current
//! batch and exits; twice exits at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use igny8_core::automation::{AutomationError, RunLog, RunSummary};
use igny8_core::domain::{AccountId, AutomationRun, RunId, RunStatus, SiteId, Stage, StageResult, TransactionKind};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{Page, SystemClock, UuidIds};
use igny8_wiring::backend::{local_runtime_on_aws, AwsResources};
use igny8_wiring::embedded::ExecutorOptions;
use igny8_wiring::embedded::{Continuation, Continued, LocalRuntime, RuntimeError};
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

/// Slows every step of a run by this many milliseconds (before and after its
/// handler) and every batch of image jobs: for tests and demonstrations that interrupt
/// a run at a chosen point. Unset or 0: full speed.
const STEP_DELAY_ENV: &str = "IGNY8_STEP_DELAY_MS";

/// Opens the runtime on the target's adapters; on AWS against an emulator the table,
/// bucket and queues are created when missing.
pub async fn runtime(target: &Target) -> Result<LocalRuntime, CliError> {
    let pace = match std::env::var(STEP_DELAY_ENV) {
        Ok(text) => Duration::from_millis(text.trim().parse::<u64>().map_err(|e| {
            CliError::invalid("validation_failed", format!("{STEP_DELAY_ENV} must be milliseconds, got {text:?}: {e}"))
        })?),
        Err(_) => Duration::ZERO,
    };
    let ai = igny8_wiring::ai_from_env().map_err(failure)?;
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(UuidIds));
    let opened = match &target.aws {
        None => LocalRuntime::open(&target.data_dir, ai, clock, ids, ExecutorOptions::default()),
        Some(aws) => local_runtime_on_aws(aws, &target.data_dir, ai, clock, ids).await,
    };
    let mut rt = opened.map_err(|e| match e {
        RuntimeError::Store(e) => CliError::from(e),
        other => failure(other),
    })?;
    rt.set_pace(pace);
    Ok(rt)
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
    if args.publish.is_some() || args.cluster_mode.is_some() {
        let mut config = rt.automation.config(&account, &site).await?;
        if let Some(publish) = args.publish {
            config.publish = publish.into();
        }
        if let Some(mode) = args.cluster_mode {
            config.cluster_mode = mode.into();
        }
        rt.automation.save_config(&account, config).await?;
    }
    let import = rt.importer.import(&account, &site, &keywords).await.map_err(|e| CliError::Failure(e.to_string()))?;
    let (run_id, continued) = start_or_continue(&rt, &account, &site).await?;
    let bars = Bars::new(!json_out && !args.quiet);
    let ended = drive_interruptible(&rt, &account, &run_id, &bars).await?;
    bars.finish();
    let outcome = match ended {
        Ended::Closed(status) => status,
        Ended::Paused => return paused_output(&rt, &run_id).await,
    };
    let summary = rt.automation.summary(&account, &run_id).await?;
    let record = rt.automation.run(&account, &run_id).await?;
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
        map.insert("continued".into(), json!(continued.is_some()));
    }
    let by_stage: Vec<String> = summary
        .credits_by_stage
        .iter()
        .map(|(stage, c)| format!("{}:{c}", Stage::from_number(*stage).map_or("other", Stage::name)))
        .collect();
    let text = format!(
        "{}run {} {:?} in {:.1}s\n  keywords   {} imported ({} in file)\n{}\n  credits    {} ({})\n  account    {}\n  site       {}\n  logs       {}\n  images in  {}",
        continued.as_ref().map(|c| format!("{}\n", continued_line(c))).unwrap_or_default(),
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

/// Starts a run on the site, or continues the site's run whose process died (and
/// says so on stderr): a stored interrupted execution, or the lock's holder when its
/// execution was never stored. A run another live process drives is refused.
async fn start_or_continue(
    rt: &LocalRuntime,
    account: &AccountId,
    site: &SiteId,
) -> Result<(RunId, Option<Continued>), CliError> {
    if let Some((id, _)) = rt.interrupted_run(site)? {
        if let Some(continued) = rt.continue_run(&id, Continuation::Resume).await? {
            eprintln!("{}", continued_line(&continued));
            return Ok((id, Some(continued)));
        }
    }
    match rt.automation.start(account, site, "manual").await {
        Ok(run) => Ok((run.id, None)),
        Err(AutomationError::AlreadyRunning { holder, until, now }) => {
            let refused = AutomationError::AlreadyRunning { holder: holder.clone(), until, now };
            let Ok(id) = holder.parse::<RunId>() else { return Err(refused.into()) };
            match rt.continue_run(&id, Continuation::Resume).await {
                Ok(Some(continued)) => {
                    eprintln!("{}", continued_line(&continued));
                    Ok((id, Some(continued)))
                }
                Ok(None) | Err(AutomationError::RunNotFound(_)) => Err(refused.into()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The line saying a run is continued here.
fn continued_line(c: &Continued) -> String {
    let from = c.state.as_deref().map(|s| format!(" in state {s}")).unwrap_or_default();
    format!(
        "continuing run {} (stage {}), interrupted{from}: its process stopped; the site lock was taken over by the run",
        c.run.id, c.run.current_stage
    )
}

/// How driving a run in this process ended.
enum Ended {
    /// The execution closed, with this status.
    Closed(&'static str),
    /// Ctrl-C asked for a pause and it took effect: the run waits to be resumed.
    Paused,
}

/// Drives the run to its end, handling Ctrl-C: the first asks the run to pause after
/// its current batch (this returns once it has paused), the second exits at once —
/// either way the run stays stored and resumable.
async fn drive_interruptible(
    rt: &LocalRuntime,
    account: &AccountId,
    run: &RunId,
    bars: &Bars,
) -> Result<Ended, CliError> {
    let pausing = AtomicBool::new(false);
    let mut interrupts = interrupts();
    let drive =
        rt.drive_until(run, |r| bars.update(r), |r| pausing.load(Ordering::SeqCst) && r.status == RunStatus::Paused);
    tokio::pin!(drive);
    loop {
        tokio::select! {
            ended = &mut drive => {
                return Ok(match ended? {
                    Some(outcome) => Ended::Closed(outcome.status.as_str()),
                    None => Ended::Paused,
                });
            }
            Some(()) = interrupts.recv() => {
                if pausing.swap(true, Ordering::SeqCst) {
                    bars.finish();
                    eprintln!("\nexiting now; the run stays where it was. {}", resume_hint(run));
                    std::process::exit(EXIT_INTERRUPTED.into());
                }
                eprintln!("\npausing run {run} after its current batch (Ctrl-C again to exit at once)…");
                match rt.automation.pause(account, run).await {
                    // Finishing or finished already: let it end.
                    Ok(_) | Err(AutomationError::InvalidState { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

/// Every Ctrl-C from now on, none lost while the driver is busy with the previous one
/// (a `ctrl_c()` future only sees signals after it was created). If this process
/// cannot listen, the channel stays silent and Ctrl-C keeps its default: the process
/// ends, and the run stays resumable all the same.
fn interrupts() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Registered before this returns: a Ctrl-C from here on is ours, not the default.
    #[cfg(unix)]
    if let Ok(mut sigint) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        tokio::spawn(async move {
            while sigint.recv().await.is_some() {
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Exit status of a run left paused or interrupted by Ctrl-C (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: u8 = 130;

/// How to carry a run on.
fn resume_hint(run: &RunId) -> String {
    format!("Continue it with `igny8 runs resume --run {run}` (or `igny8 run` on its site).")
}

/// What `igny8 run` prints when Ctrl-C paused the run.
async fn paused_output(rt: &LocalRuntime, run: &RunId) -> Result<Output, CliError> {
    let record = rt.automation.run_by_id(run).await?;
    let hint = resume_hint(run);
    eprintln!("run {run} paused in stage {}. {hint}", record.current_stage);
    let doc = json!({
        "run_id": run, "status": record.status, "stage": record.current_stage,
        "resume": format!("igny8 runs resume --run {run}"),
    });
    let mut out = Output::new(doc, format!("{}\n  {hint}", run_line(&record)));
    out.set_exit(EXIT_INTERRUPTED);
    Ok(out)
}

/// Drives a run this process continued (`runs resume`, `runs cancel`) and reports it.
async fn drive_continued(rt: &LocalRuntime, c: Continued, json_out: bool, verb: &str) -> Result<Output, CliError> {
    eprintln!("{}", continued_line(&c));
    let bars = Bars::new(!json_out);
    let ended = drive_interruptible(rt, &c.run.account_id, &c.run.id, &bars).await?;
    bars.finish();
    if let Ended::Paused = ended {
        return paused_output(rt, &c.run.id).await;
    }
    let r = rt.automation.run_by_id(&c.run.id).await?;
    let summary = rt.automation.summary(&r.account_id, &r.id).await?;
    let text = format!("{verb} {}\n{}\n  credits    {}", run_line(&r), produced(&summary), summary.credits_used);
    let mut out = Output::new(json!({"run": r, "summary": summary, "continued": true}), text);
    if !r.status.is_final() || r.error.is_some() {
        out.set_exit(1);
    }
    Ok(out)
}

/// What a run produced, one line per kind.
fn produced(s: &RunSummary) -> String {
    let failed = if s.images_failed > 0 { format!(" ({} failed)", s.images_failed) } else { String::new() };
    let lines = format!(
        "  clusters   {}\n  ideas      {}\n  tasks      {}\n  articles   {} ({} words)\n  images     {}{failed}",
        s.clusters, s.ideas, s.tasks, s.articles, s.words, s.images
    );
    // Only runs whose site publishes after the run sent anything.
    if s.published + s.publish_failed == 0 {
        return lines;
    }
    let refused = if s.publish_failed > 0 { format!(" ({} not published)", s.publish_failed) } else { String::new() };
    format!("{lines}\n  published  {}{refused}", s.published)
}

/// Per stage the items done and, when the model's answers stayed invalid for some,
/// the items failed ("stage 2 ideas: 11 done, 1 failed"), then the run's total of
/// failed items: the JSON has them (`failed_by_stage`, `items_failed`, each stage's
/// `failed`), and a reader of the text must not take a run with failed items for a
/// clean one. A stage's failures are the summary's count (from the failed records),
/// or the stage record's when the summary has none for it.
fn stage_lines(r: &AutomationRun, s: &RunSummary) -> String {
    stage_text(&r.stages, &s.failed_by_stage, s.items_failed)
}

/// [`stage_lines`] of a run's stage records and its summary's failure counts.
fn stage_text(stages: &BTreeMap<u8, StageResult>, failed_by_stage: &BTreeMap<u8, u64>, items_failed: u64) -> String {
    let numbers: BTreeSet<u8> = stages.keys().chain(failed_by_stage.keys()).copied().collect();
    let mut lines = vec!["  stages".to_owned()];
    for n in numbers {
        let result = stages.get(&n);
        let done = result.map_or(0, |x| x.processed);
        let failed = failed_by_stage.get(&n).copied().or(result.map(|x| x.failed)).unwrap_or(0);
        let name = Stage::from_number(n).map_or("other", Stage::name);
        let failed = if failed > 0 { format!(", {failed} failed") } else { String::new() };
        lines.push(format!("    stage {n} {name}: {done} done{failed}"));
    }
    let total = if items_failed > 0 {
        format!("{items_failed} (invalid model output; nothing stored or charged for them)")
    } else {
        "0".to_owned()
    };
    lines.push(format!("  failed     {total}"));
    lines.join("\n")
}

fn run_line(r: &AutomationRun) -> String {
    format!("{} {:?} stage {} credits {} started {}", r.id, r.status, r.current_stage, r.credits_used, r.started_at)
}

/// `igny8 runs …`.
pub async fn runs(target: &Target, cmd: RunsCommand, json_out: bool) -> Result<Output, CliError> {
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
            let interrupted = !r.status.is_final() && rt.interrupted_run(&r.site_id)?.is_some_and(|(id, _)| id == r.id);
            let text = format!(
                "{}\n{}\n{}\n  credits    {}{}{}",
                run_line(&r),
                produced(&summary),
                stage_lines(&r, &summary),
                summary.credits_used,
                r.error.as_deref().map(|e| format!("\n  error: {e}")).unwrap_or_default(),
                if interrupted {
                    format!("\n  interrupted: its process stopped. {}", resume_hint(&r.id))
                } else {
                    String::new()
                }
            );
            let doc = json!({"run": r, "summary": summary, "stages": stages, "interrupted": interrupted});
            Ok(Output::new(doc, text))
        }
        RunsCommand::Pause { run } => {
            let r = record(&run).await?;
            let r = a.pause(&r.account_id, &r.id).await?;
            Ok(Output::new(json!({"run": r}), format!("pause requested: {}", run_line(&r))))
        }
        RunsCommand::Resume { run } => {
            let r = record(&run).await?;
            if !r.status.is_final() {
                // Interrupted (its process died): continue it here, to its end.
                if let Some(c) = rt.continue_run(&r.id, Continuation::Resume).await? {
                    return drive_continued(&rt, c, json_out, "resumed").await;
                }
            }
            // Driven by a live process (or final): ask; that process acts on it.
            let r = a.resume(&r.account_id, &r.id).await?;
            Ok(Output::new(json!({"run": r}), format!("resume requested: {}", run_line(&r))))
        }
        RunsCommand::Cancel { run } => {
            let r = record(&run).await?;
            if !r.status.is_final() {
                if let Some(c) = rt.continue_run(&r.id, Continuation::Cancel).await? {
                    return drive_continued(&rt, c, json_out, "cancelled").await;
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(processed: u64, failed: u64) -> StageResult {
        StageResult { processed, failed, ..StageResult::default() }
    }

    #[test]
    fn stage_lines_show_each_stage_failed_items_and_the_total() {
        let stages = BTreeMap::from([(1, stage(40, 0)), (2, stage(11, 1)), (4, stage(5, 0))]);
        // The summary counts a failed article the stage record has not (yet) counted.
        let failed = BTreeMap::from([(2, 1), (4, 2)]);
        let text = stage_text(&stages, &failed, 3);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(
            lines,
            [
                "stages",
                "stage 1 clusters: 40 done",
                "stage 2 ideas: 11 done, 1 failed",
                "stage 4 content: 5 done, 2 failed",
                "failed     3 (invalid model output; nothing stored or charged for them)",
            ],
            "{text}"
        );
    }

    #[test]
    fn a_stage_known_only_from_the_summary_is_listed_and_a_clean_run_says_none_failed() {
        let text = stage_text(&BTreeMap::new(), &BTreeMap::from([(5, 1)]), 1);
        assert!(text.contains("stage 5 image_prompts: 0 done, 1 failed"), "{text}");
        let clean = stage_text(&BTreeMap::from([(1, stage(3, 0))]), &BTreeMap::new(), 0);
        assert!(clean.ends_with("  failed     0") && !clean.contains(", "), "{clean}");
    }
}
