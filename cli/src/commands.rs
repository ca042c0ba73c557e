//! Runs one parsed command against the services and shapes its output.

use std::io::Write;
use std::process::ExitCode;

use igny8_core::billing::{BalanceCheck, ChargeRequest, LedgerReceipt, Price, Reconciliation};
use igny8_core::domain::{
    AccountId, CostUnit, CreditCostConfig, CreditHold, CreditTransaction, CreditUsageLog, HoldId, SiteId, SiteLease,
    TransactionKind, UsageDetails,
};
use igny8_core::ports::clock::rfc3339_relative;
use igny8_core::ports::{Clock, Page, SystemClock};
use igny8_wiring::{Backend, Services};
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::{
    AccountCommand, AddKind, BackendKind, Cli, Command, CreditsCommand, LockCommand, SiteCommand, UnitArg, UsageArgs,
};
use crate::error::CliError;

/// What a command prints: one JSON document, or text for people.
pub struct Output {
    json: Document,
    text: String,
    exit: u8,
}

/// The JSON form of an [`Output`].
enum Document {
    /// A document built as a value.
    Value(Value),
    /// A document already serialized: a large one is written straight from borrowed
    /// data instead of being copied into a `Value` first.
    Rendered(String),
}

impl Output {
    /// A result printed as `json` or `text`, exit status 0.
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Self { json: Document::Value(json), text: text.into(), exit: 0 }
    }

    /// A result whose JSON form is already serialized (`json`), exit status 0.
    pub fn rendered(json: String, text: impl Into<String>) -> Self {
        Self { json: Document::Rendered(json), text: text.into(), exit: 0 }
    }

    /// Sets a non-zero exit status while still printing the document.
    pub fn set_exit(&mut self, exit: u8) {
        self.exit = exit;
    }

    /// Prints in the chosen form and gives the exit status. A reader that stops
    /// early (`igny8 … | head`) closes the pipe: that ends the output quietly, where
    /// `println!` would panic; any other write error is one line and exit status 1.
    pub fn print(self, as_json: bool) -> ExitCode {
        let body = match (as_json, self.json) {
            (true, Document::Value(value)) => value.to_string(),
            (true, Document::Rendered(json)) => json,
            (false, _) => self.text,
        };
        if body.is_empty() {
            return ExitCode::from(self.exit);
        }
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{body}").and_then(|()| out.flush()) {
            Ok(()) => ExitCode::from(self.exit),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(self.exit),
            Err(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

/// Runs the command.
pub async fn run(cli: Cli) -> Result<Output, CliError> {
    let target = run_target(&cli);
    match cli.command {
        Command::Run(args) => crate::run::run(&target?, args, cli.json).await,
        Command::Runs(cmd) => crate::run::runs(&target?, cmd, cli.json).await,
        Command::Serve { port } => crate::serve::serve(&target?, port).await,
        Command::Token { ref account, ref role, ref subject, ttl } => {
            crate::serve::token(&cli.data_dir, account, role, subject, ttl)
        }
        Command::Keywords(cmd) => crate::keywords::keywords(&target?, cmd).await,
        Command::Clusters(cmd) => crate::keywords::clusters(&target?, cmd).await,
        Command::Content(cmd) => crate::content::content(&target?, cmd).await,
        Command::Packages(cmd) => crate::billing_docs::packages(&target?, cmd).await,
        Command::Invoices(cmd) => crate::billing_docs::invoices(&target?, cmd).await,
        Command::Integrations(cmd) => crate::integrations::integrations(&target?, cmd).await,
        Command::Publish(args) => crate::publishing::publish(&target?, args).await,
        Command::Publications { ref site, ref content } => {
            crate::publishing::publications(&target?, site, content).await
        }
        Command::Links(cmd) => crate::links::links(&target?, cmd).await,
        Command::Cluster(args) => {
            let backend = backend_of(&cli.data_dir, cli.backend, cli.endpoint.clone(), cli.table.clone());
            crate::cluster::cluster(backend, args, cli.json).await
        }
        command => run_services(&cli.data_dir, cli.backend, cli.endpoint, cli.table, command).await,
    }
}

async fn run_services(
    data_dir: &std::path::Path,
    backend: BackendKind,
    endpoint: Option<String>,
    table: String,
    command: Command,
) -> Result<Output, CliError> {
    let store = backend_of(data_dir, backend, endpoint, table).open_store().await?;
    let services = Services::new(store);
    match command {
        Command::Account(cmd) => account(&services, cmd).await,
        Command::Site(cmd) => site(&services, cmd).await,
        Command::Credits(cmd) => credits(&services, cmd).await,
        Command::Lock(cmd) => lock(&services, cmd).await,
        Command::Run(_)
        | Command::Runs(_)
        | Command::Serve { .. }
        | Command::Token { .. }
        | Command::Keywords(_)
        | Command::Clusters(_)
        | Command::Content(_)
        | Command::Packages(_)
        | Command::Invoices(_)
        | Command::Integrations(_)
        | Command::Publish(_)
        | Command::Publications { .. }
        | Command::Links(_)
        | Command::Cluster(_) => Err(CliError::Failure("unreachable: handled above".into())),
    }
}

/// The item store a command that needs only the store opens: the embedded file under
/// the data directory, or the DynamoDB table (`--backend aws` uses its table too).
fn backend_of(data_dir: &std::path::Path, backend: BackendKind, endpoint: Option<String>, table: String) -> Backend {
    match backend {
        BackendKind::Embedded => Backend::Embedded { data_dir: data_dir.to_path_buf() },
        BackendKind::Dynamodb | BackendKind::Aws => {
            Backend::DynamoDb { ensure_table: endpoint.is_some(), endpoint, table }
        }
    }
}

fn run_target(cli: &Cli) -> Result<crate::run::Target, CliError> {
    let aws = match cli.backend {
        BackendKind::Embedded => None,
        BackendKind::Aws => Some(igny8_wiring::backend::AwsResources {
            endpoint: cli.endpoint.clone(),
            table: cli.table.clone(),
            bucket: cli.bucket.clone(),
        }),
        BackendKind::Dynamodb => {
            return Err(CliError::invalid(
                "unsupported_backend",
                "this command needs blobs and a queue too (logs, images, invoice PDFs): use --backend aws (DynamoDB, S3, SQS)",
            ))
        }
    };
    Ok(crate::run::Target { data_dir: cli.data_dir.clone(), aws })
}

async fn account(s: &Services, cmd: AccountCommand) -> Result<Output, CliError> {
    match cmd {
        AccountCommand::Create { name, credits } => {
            let (account, grant) = s.account_service.create_account(&name, credits).await?;
            let balance = grant.map_or(0, |g| g.transaction.balance_after);
            Ok(Output::new(json!({"account": account, "credits": balance}), account.id.to_string()))
        }
        AccountCommand::Show { account } => {
            let id: AccountId = account.parse()?;
            let account = s.account_service.account(&id).await?;
            let balance = s.credits.balance(&id).await?;
            let text = format!(
                "{} {} ({:?}) credits {} held {} available {}",
                account.id, account.name, account.status, balance.credits, balance.held, balance.available
            );
            Ok(Output::new(json!({"account": account, "balance": balance}), text))
        }
    }
}

async fn site(s: &Services, cmd: SiteCommand) -> Result<Output, CliError> {
    match cmd {
        SiteCommand::Create { account, name, domain } => {
            let id: AccountId = account.parse()?;
            let site = s.account_service.create_site(&id, &name, &domain).await?;
            Ok(Output::new(json!({"site": site}), site.id.to_string()))
        }
        SiteCommand::List { account } => {
            let id: AccountId = account.parse()?;
            let Page { items: sites, cursor } = s.account_service.sites(&id, 1000, None).await?;
            let text = sites.iter().map(|x| format!("{} {} {}", x.id, x.domain, x.name)).collect::<Vec<_>>().join("\n");
            Ok(Output::new(json!({"sites": sites, "cursor": cursor}), text))
        }
    }
}

fn usage_of(operation: Option<String>, u: UsageArgs) -> Option<UsageDetails> {
    let any = operation.is_some()
        || u.model.is_some()
        || u.run.is_some()
        || u.stage.is_some()
        || u.tokens_in != 0
        || u.tokens_out != 0;
    any.then(|| UsageDetails {
        operation: operation.unwrap_or_default(),
        model: u.model,
        tokens_in: u.tokens_in,
        tokens_out: u.tokens_out,
        units: 0,
        run_id: u.run,
        stage: u.stage,
    })
}

fn receipt_output(r: &LedgerReceipt) -> Result<Output, CliError> {
    let t = &r.transaction;
    let text = format!(
        "{} {:+} credits, balance {}{}",
        t.id,
        t.amount,
        t.balance_after,
        if r.replayed { " (replayed: already applied)" } else { "" }
    );
    Ok(Output::new(to_json(r)?, text))
}

fn ledger_line(t: &CreditTransaction) -> String {
    format!("{:>6} {} {:+} → {} {:?} {}", t.seq, t.created_at, t.amount, t.balance_after, t.kind, t.reason)
}

fn hold_line(h: &CreditHold) -> String {
    format!("{} {} {:?} {}", h.id, h.amount, h.status, h.reason)
}

fn unit_of(u: UnitArg) -> CostUnit {
    match u {
        UnitArg::PerRequest => CostUnit::PerRequest,
        UnitArg::Per100Words => CostUnit::Per100Words,
        UnitArg::Per200Words => CostUnit::Per200Words,
        UnitArg::PerItem => CostUnit::PerItem,
        UnitArg::PerImage => CostUnit::PerImage,
        UnitArg::Per1000Items => CostUnit::Per1000Items,
    }
}

async fn credits(s: &Services, cmd: CreditsCommand) -> Result<Output, CliError> {
    match cmd {
        CreditsCommand::Balance { account } => {
            let b = s.credits.balance(&account.parse()?).await?;
            Ok(Output::new(to_json(&b)?, format!("credits {} held {} available {}", b.credits, b.held, b.available)))
        }
        CreditsCommand::Check { account, amount, buffer } => {
            check_output(&s.credits.check_balance(&account.parse()?, amount, buffer).await?)
        }
        CreditsCommand::Charge { account, amount, operation, units, key, reason, reference, usage } => {
            let price = match (amount, operation.clone(), units) {
                (Some(a), _, _) => Price::Amount(a),
                (None, Some(operation), Some(units)) => Price::Operation { operation, units },
                _ => return Err(CliError::invalid("invalid_request", "give --amount, or --operation with --units")),
            };
            let usage = usage_of(if amount.is_some() { None } else { operation }, usage);
            let req =
                ChargeRequest { account: account.parse()?, price, usage, reason, reference, idempotency_key: key };
            receipt_output(&s.credits.charge(req).await?)
        }
        CreditsCommand::Add { account, amount, kind, reason, reference, key } => {
            let kind = match kind {
                AddKind::TopUp => TransactionKind::TopUp,
                AddKind::Grant => TransactionKind::Grant,
                AddKind::Refund => TransactionKind::Refund,
            };
            receipt_output(&s.credits.add(&account.parse()?, amount, kind, &reason, reference, key).await?)
        }
        CreditsCommand::Hold { account, amount, reason, reference, key } => {
            let hold = s.credits.hold(&account.parse()?, amount, &reason, reference, key).await?;
            Ok(Output::new(to_json(&hold)?, hold.id.to_string()))
        }
        CreditsCommand::Settle { account, hold, amount, operation, usage } => {
            let hold: HoldId = hold.parse()?;
            let r = s.credits.settle(&account.parse()?, &hold, amount, usage_of(operation, usage)).await?;
            receipt_output(&r)
        }
        CreditsCommand::Release { account, hold } => {
            let hold = s.credits.release(&account.parse()?, &hold.parse()?).await?;
            Ok(Output::new(to_json(&hold)?, format!("{} released {}", hold.id, hold.amount)))
        }
        CreditsCommand::Ledger { account, paging } => {
            let page = s.credits.ledger(&account.parse()?, paging.limit, paging.cursor).await?;
            page_output("transactions", page, ledger_line, true)
        }
        CreditsCommand::Usage { account, run, paging } => {
            let page = s.credits.usage(&account.parse()?, run.as_deref(), paging.limit, paging.cursor).await?;
            page_output("usage", page, usage_line, false)
        }
        CreditsCommand::Holds { account, paging } => {
            let page = s.credits.holds(&account.parse()?, paging.limit, paging.cursor).await?;
            page_output("holds", page, hold_line, false)
        }
        CreditsCommand::Reconcile { account } => reconcile_output(&s.credits.reconcile(&account.parse()?).await?),
        CreditsCommand::Costs => {
            let table = s.credits.cost_table().await?;
            let text = table.iter().map(cost_line).collect::<Vec<_>>().join("\n");
            Ok(Output::new(json!({"costs": table}), text))
        }
        CreditsCommand::SetCost { operation, unit, credits, min } => {
            let cfg = CreditCostConfig {
                operation,
                unit: unit_of(unit),
                credits_per_unit: credits,
                min_credits: min,
                configured: true,
            };
            s.credits.set_cost_config(&cfg).await?;
            Ok(Output::new(
                to_json(&cfg)?,
                format!("{} now {} credits {:?}", cfg.operation, cfg.credits_per_unit, cfg.unit),
            ))
        }
    }
}

/// A listing: `{"<field>": [...], "cursor": ...}`, or a line a record (and, where
/// `hint`, how to ask for the next page).
fn page_output<T: Serialize>(
    field: &str,
    page: Page<T>,
    line: fn(&T) -> String,
    hint: bool,
) -> Result<Output, CliError> {
    let mut text = page.items.iter().map(line).collect::<Vec<_>>().join("\n");
    if let Some(c) = page.cursor.as_deref().filter(|_| hint) {
        text.push_str(&format!("\nmore: --cursor '{c}'"));
    }
    let mut json = serde_json::Map::new();
    json.insert(field.to_owned(), to_json(&page.items)?);
    json.insert("cursor".to_owned(), json!(page.cursor));
    Ok(Output::new(Value::Object(json), text))
}

/// `credits check`: exit 3 when the balance would not cover the amount.
fn check_output(c: &BalanceCheck) -> Result<Output, CliError> {
    let verdict = if c.sufficient { "sufficient" } else { "insufficient" };
    let text = format!("{} available, {} required: {verdict}", c.balance.available, c.required_with_buffer);
    let mut out = Output::new(to_json(c)?, text);
    if !c.sufficient {
        out.exit = 3;
    }
    Ok(out)
}

/// `credits reconcile`: exit 4 (and a line on stderr) when the ledger does not add up.
fn reconcile_output(r: &Reconciliation) -> Result<Output, CliError> {
    let text = format!(
        "balance {} ledger sum {} difference {} ({} of {} entries); held {} open holds {}: {}",
        r.credits,
        r.ledger_sum,
        r.difference,
        r.entries,
        r.expected_entries,
        r.held,
        r.open_holds_sum,
        if r.balanced { "balanced" } else { "NOT BALANCED" }
    );
    let mut out = Output::new(to_json(r)?, text);
    if !r.balanced {
        eprintln!("error: ledger does not reconcile (difference {})", r.difference);
        out.exit = 4;
    }
    Ok(out)
}

/// One usage log: when, what, the credits and units charged, the model and its tokens;
/// a call that failed (its answers stayed invalid) says so, since it charged nothing
/// although the model spent the tokens shown.
fn usage_line(l: &CreditUsageLog) -> String {
    let model = l.usage.model.as_deref().unwrap_or("-");
    let failed = if l.failed { " (failed: invalid model output, not charged)" } else { "" };
    format!(
        "{} {} {} credits {} units model {model} tokens {}/{}{failed}",
        l.created_at, l.usage.operation, l.credits, l.usage.units, l.usage.tokens_in, l.usage.tokens_out
    )
}

fn cost_line(c: &CreditCostConfig) -> String {
    let origin = if c.configured { "" } else { " (built-in)" };
    format!("{:<24} {:>4} credits {:?}{origin}", c.operation, c.credits_per_unit, c.unit)
}

fn lease_text(l: &SiteLease) -> String {
    match &l.holder {
        Some(h) => {
            let until = rfc3339_relative(l.expires_at, SystemClock.now_ms());
            format!("site {} held by {} until {until} (fence {})", l.site_id, h, l.fence)
        }
        None => format!("site {} free (fence {})", l.site_id, l.fence),
    }
}

fn lease_ms(seconds: i64) -> Result<i64, CliError> {
    seconds.checked_mul(1000).filter(|ms| *ms > 0).ok_or_else(|| {
        CliError::invalid("invalid_lock_request", format!("lease must be a positive number of seconds, got {seconds}"))
    })
}

async fn lock(s: &Services, cmd: LockCommand) -> Result<Output, CliError> {
    let lease = match cmd {
        LockCommand::Acquire { site, holder, lease_seconds } => {
            let site: SiteId = site.parse()?;
            s.locks.acquire(&site, &holder, lease_ms(lease_seconds)?).await?
        }
        LockCommand::Extend { site, holder, lease_seconds } => {
            let site: SiteId = site.parse()?;
            s.locks.extend(&site, &holder, lease_ms(lease_seconds)?).await?
        }
        LockCommand::Release { site, holder } => {
            let site: SiteId = site.parse()?;
            s.locks.release(&site, &holder).await?
        }
        LockCommand::Status { site } => {
            let site: SiteId = site.parse()?;
            let lease = s.locks.status(&site).await?;
            let now = s.clock.now_ms();
            let text = lease.as_ref().map_or_else(|| format!("site {site} never locked"), lease_text);
            let held = lease.as_ref().is_some_and(|l| l.is_held(now));
            return Ok(Output::new(json!({"lock": lease, "held": held}), text));
        }
    };
    Ok(Output::new(to_json(&lease)?, lease_text(&lease)))
}
