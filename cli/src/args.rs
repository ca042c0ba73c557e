//! The command line's shape; kept stable because scripts and tests drive it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// IGNY8 services on a laptop (embedded SQLite) or against DynamoDB.
#[derive(Debug, Parser)]
#[command(name = "igny8", version, about)]
pub struct Cli {
    /// Where the embedded backend keeps its data.
    #[arg(long, global = true, env = "IGNY8_DATA_DIR", default_value = ".igny8")]
    pub data_dir: PathBuf,
    /// Storage backend.
    #[arg(long, global = true, value_enum, env = "IGNY8_BACKEND", default_value_t = BackendKind::Embedded)]
    pub backend: BackendKind,
    /// DynamoDB endpoint override (an emulator such as moto on 127.0.0.1).
    #[arg(long, global = true, env = "IGNY8_DYNAMODB_ENDPOINT")]
    pub endpoint: Option<String>,
    /// DynamoDB table name.
    #[arg(long, global = true, env = "IGNY8_TABLE", default_value = "igny8")]
    pub table: String,
    /// S3 bucket for logs and images (`--backend aws`).
    #[arg(long, global = true, env = "IGNY8_BUCKET", default_value = "igny8")]
    pub bucket: String,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Storage backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// SQLite file under --data-dir.
    Embedded,
    /// One DynamoDB table (--table), optionally at --endpoint.
    Dynamodb,
    /// DynamoDB (--table), S3 (--bucket) and SQS, optionally at --endpoint; the run is
    /// driven by the in-process interpreter (an emulator cannot run the Lambdas).
    Aws,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Sites of an account.
    #[command(subcommand)]
    Site(SiteCommand),
    /// The credit ledger.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// The per-site run lock.
    #[command(subcommand)]
    Lock(LockCommand),
    /// The main job: import keywords and run the whole automation on them.
    Run(RunArgs),
    /// Automation runs: list, show, pause, resume, cancel, logs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// The HTTP API on 127.0.0.1 (Ctrl-C stops it).
    Serve {
        /// Port (0 picks a free one; the address is printed on stderr).
        #[arg(long, env = "IGNY8_PORT", default_value_t = 8080)]
        port: u16,
    },
    /// A bearer token for `igny8 serve`, signed with the local secret.
    Token {
        /// The account the token acts for.
        #[arg(long)]
        account: String,
        /// owner, editor, viewer, admin or system.
        #[arg(long, default_value = "owner")]
        role: String,
        /// The user it is issued to.
        #[arg(long, default_value = "local-user")]
        subject: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
    /// A site's keywords: import a keyword tool's export, list them.
    #[command(subcommand)]
    Keywords(KeywordsCommand),
    /// A site's clusters (stage 1's topics).
    #[command(subcommand)]
    Clusters(ClustersCommand),
    /// The articles runs wrote: list, show, export as HTML and Markdown with images;
    /// review; analyze, validate and optimize them.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Credit packages of the catalog.
    #[command(subcommand)]
    Packages(PackagesCommand),
    /// Invoices: create, finalize, void, show, pay, PDF, list.
    #[command(subcommand)]
    Invoices(InvoicesCommand),
    /// A site's WordPress site or Shopify store: add, list, test, sync, remove.
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// Publish a site's approved articles to its integrations (each once: a repeat
    /// updates the same remote post).
    Publish(PublishArgs),
    /// An article's publications: where it is, its remote id, status and link.
    Publications {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        content: String,
    },
    /// Internal links between a site's articles: suggest, apply.
    #[command(subcommand)]
    Links(LinksCommand),
    /// Group a keyword export into topic clusters, with no site and no credits: one
    /// row per keyword with its cluster id, cluster name and pillar keyword.
    Cluster(ClusterArgs),
}

/// Options of `igny8 cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Keyword export (the formats and encodings `keywords import` reads).
    #[arg(long = "in", value_name = "FILE.csv")]
    pub input: PathBuf,
    /// How keywords are grouped; `auto` is semantic when the embedding model is
    /// installed (scripts/models.sh), else lexical, and says so on stderr.
    #[arg(long, value_enum, default_value_t = ClusterModeArg::Lexical)]
    pub mode: ClusterModeArg,
    /// Write the CSV here instead of standard output.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

/// `--mode` / `--cluster-mode`: how keywords are grouped into clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterModeArg {
    /// TF-IDF word overlap: no model, the fastest.
    Lexical,
    /// Sentence embeddings (all-MiniLM-L6-v2 offline): groups paraphrases that share
    /// no word; fails when the model is not installed.
    Semantic,
    /// Semantic when the embedding model is installed, else lexical.
    Auto,
}

impl From<ClusterModeArg> for igny8_core::domain::ClusterMode {
    fn from(arg: ClusterModeArg) -> Self {
        match arg {
            ClusterModeArg::Lexical => Self::Lexical,
            ClusterModeArg::Semantic => Self::Semantic,
            ClusterModeArg::Auto => Self::Auto,
        }
    }
}

/// Which integration of the site a command means: `--integration ID`, or the site's
/// integration of `--platform`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct IntegrationChoice {
    /// Integration id (intg_…).
    #[arg(long)]
    pub integration: Option<String>,
    /// The site's integration of this platform (wordpress, shopify).
    #[arg(long)]
    pub platform: Option<String>,
}

/// Integration commands. Secrets are read from the environment or stdin as well as
/// flags, so they need not be in the shell's history; they are never printed.
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Connect the site to a WordPress site (`--url --username --app-password`) or a
    /// Shopify store (`--shop` and `--token`, or `--client-id --client-secret`).
    Add {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// wordpress or shopify.
        #[arg(long)]
        platform: String,
        /// WordPress: the site's URL.
        #[arg(long, conflicts_with = "shop")]
        url: Option<String>,
        /// Shopify: the shop's domain (name.myshopify.com).
        #[arg(long)]
        shop: Option<String>,
        /// WordPress: the user's login name.
        #[arg(long)]
        username: Option<String>,
        /// WordPress: an application password of the user; `-` reads it from stdin.
        #[arg(long, env = "IGNY8_APP_PASSWORD", hide_env_values = true)]
        app_password: Option<String>,
        /// Shopify: an Admin API access token; `-` reads it from stdin.
        #[arg(long, env = "IGNY8_SHOPIFY_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Shopify: the app's client id (client-credentials grant).
        #[arg(long)]
        client_id: Option<String>,
        /// Shopify: the app's client secret; `-` reads it from stdin.
        #[arg(long, env = "IGNY8_SHOPIFY_CLIENT_SECRET", hide_env_values = true)]
        client_secret: Option<String>,
        /// Leave it out of the scheduled sync.
        #[arg(long)]
        no_sync: bool,
    },
    /// The site's integrations (never their credentials).
    List {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
    },
    /// Test the connection and record it; a refusal is a report, exit status 3.
    Test {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Which integration.
        #[command(flatten)]
        which: IntegrationChoice,
    },
    /// Sync now: publications' remote status, then categories, tags and authors.
    Sync {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Which integration.
        #[command(flatten)]
        which: IntegrationChoice,
    },
    /// Delete an integration (its publications stay as history).
    Remove {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Which integration.
        #[command(flatten)]
        which: IntegrationChoice,
    },
}

/// The status articles get on the remote site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishStatusArg {
    /// A draft there.
    Draft,
    /// Live.
    Publish,
    /// Live at `--at`.
    Scheduled,
}

/// Options of `igny8 publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The site.
    #[command(flatten)]
    pub site: SiteArg,
    /// Only these articles (repeatable; default every approved article not yet published).
    #[arg(long)]
    pub content: Vec<String>,
    /// Remote status.
    #[arg(long, value_enum, default_value_t = PublishStatusArg::Draft)]
    pub status: PublishStatusArg,
    /// With `--status scheduled`: when (RFC 3339).
    #[arg(long)]
    pub at: Option<String>,
    /// Only this integration (default every active one).
    #[arg(long)]
    pub integration: Option<String>,
    /// Publish articles that are not approved too.
    #[arg(long)]
    pub include_unapproved: bool,
}

/// Options of `igny8 run`. A site whose run was interrupted (its process died) has
/// that run continued instead of a new one; Ctrl-C pauses after the current batch,
/// twice exits at once (the run stays resumable).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Keyword CSV (header row; Keyword, Volume / Search Volume, KD, CPC, Intent).
    #[arg(long)]
    pub keywords: PathBuf,
    /// Site to run on (default: the data directory's local site, created if missing).
    #[arg(long)]
    pub site: Option<String>,
    /// Credits: opening balance of a new local account, or a top-up of an existing one.
    #[arg(long, allow_negative_numbers = true)]
    pub credits: Option<i64>,
    /// Domain of the local site when it is created.
    #[arg(long, default_value = "example.com")]
    pub domain: String,
    /// No progress bars (they are also off with --json).
    #[arg(long)]
    pub quiet: bool,
    /// Publish the run's articles to the site's integrations when it ends (saved in the
    /// site's automation config; `off` turns it off again). Unset keeps the config's.
    #[arg(long, value_enum)]
    pub publish: Option<PublishAfterRunArg>,
    /// How stage 1 groups keywords (saved in the site's automation config, like
    /// `--publish`). Unset keeps the config's (lexical unless changed).
    #[arg(long, value_enum)]
    pub cluster_mode: Option<ClusterModeArg>,
}

/// `--publish`: whether a run ends by publishing, and with which remote status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishAfterRunArg {
    /// Articles stay in review.
    Off,
    /// Sent as drafts on the remote site.
    Draft,
    /// Published live.
    Publish,
}

impl From<PublishAfterRunArg> for igny8_core::domain::PublishAfterRun {
    fn from(arg: PublishAfterRunArg) -> Self {
        match arg {
            PublishAfterRunArg::Off => Self::Off,
            PublishAfterRunArg::Draft => Self::Draft,
            PublishAfterRunArg::Publish => Self::Publish,
        }
    }
}

/// Run commands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// A site's runs, newest first.
    List {
        /// Site id.
        #[arg(long)]
        site: String,
    },
    /// A run's record and totals.
    Show {
        /// Run id.
        #[arg(long)]
        run: String,
    },
    /// Pause after the current batch.
    Pause {
        /// Run id.
        #[arg(long)]
        run: String,
    },
    /// Resume a paused run, or continue one whose process died (it then runs here).
    Resume {
        /// Run id.
        #[arg(long)]
        run: String,
    },
    /// Cancel after the current batch (results so far are kept); a run whose process
    /// died is finished as cancelled here, its holds and lock given back.
    Cancel {
        /// Run id.
        #[arg(long)]
        run: String,
    },
    /// The run's main log, or its structured trace events.
    Logs {
        /// Run id.
        #[arg(long)]
        run: String,
        /// Print the JSONL trace events instead of the text log.
        #[arg(long)]
        trace: bool,
    },
}

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account, optionally granting starting credits; prints its id.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Starting credits (a grant in the ledger).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        credits: i64,
    },
    /// Show an account and its balance.
    Show {
        /// Account id.
        #[arg(long)]
        account: String,
    },
}

/// Site commands.
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create a site of an account; prints its id.
    Create {
        /// Owning account id.
        #[arg(long)]
        account: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Public domain.
        #[arg(long)]
        domain: String,
    },
    /// List an account's sites.
    List {
        /// Account id.
        #[arg(long)]
        account: String,
    },
}

/// Paging options of list commands.
#[derive(Debug, Args)]
pub struct Paging {
    /// Page size.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Cursor printed by the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// What AI work a charge or settlement paid for.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Model that did the work.
    #[arg(long)]
    pub model: Option<String>,
    /// Prompt tokens.
    #[arg(long, default_value_t = 0)]
    pub tokens_in: i64,
    /// Completion tokens.
    #[arg(long, default_value_t = 0)]
    pub tokens_out: i64,
    /// Automation run id.
    #[arg(long)]
    pub run: Option<String>,
    /// Automation stage (1-6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub stage: Option<u8>,
}

/// Kinds of credit additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AddKind {
    /// Bought credits.
    TopUp,
    /// Given credits.
    Grant,
    /// Returned credits.
    Refund,
}

/// Units a cost config can be priced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Per call.
    PerRequest,
    /// Per started 100 words.
    Per100Words,
    /// Per started 200 words.
    Per200Words,
    /// Per item.
    PerItem,
    /// Per image.
    PerImage,
    /// Per started 1,000 items (keywords embedded, the `embedding` operation's unit;
    /// stored as `per1000_items`).
    #[value(name = "per-1000-items", alias = "per1000-items")]
    Per1000Items,
}

/// Credit commands.
#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Credits owned, held and spendable.
    Balance {
        /// Account id.
        #[arg(long)]
        account: String,
    },
    /// Whether the spendable balance covers an amount times a buffer.
    Check {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Credits required.
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// Safety factor (≥ 1).
        #[arg(long, default_value_t = 1.0)]
        buffer: f64,
    },
    /// Spend credits: a fixed amount, or an operation's price for some units.
    Charge {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Credits to charge.
        #[arg(long, allow_negative_numbers = true, conflicts_with_all = ["operation", "units"], required_unless_present = "operation")]
        amount: Option<i64>,
        /// Operation to price (see `credits costs`).
        #[arg(long, requires = "units")]
        operation: Option<String>,
        /// Raw units of the operation (words, items, images, requests).
        #[arg(long, allow_negative_numbers = true, requires = "operation")]
        units: Option<i64>,
        /// Idempotency key: repeats charge once and print the first result.
        #[arg(long)]
        key: Option<String>,
        /// Reason recorded in the ledger.
        #[arg(long)]
        reason: Option<String>,
        /// Reference recorded in the ledger.
        #[arg(long)]
        reference: Option<String>,
        /// Usage details.
        #[command(flatten)]
        usage: UsageArgs,
    },
    /// Add credits (top-up, grant, refund).
    Add {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Credits to add.
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// Why they are added.
        #[arg(long, value_enum, default_value_t = AddKind::TopUp)]
        kind: AddKind,
        /// Reason recorded in the ledger.
        #[arg(long, default_value = "manual top-up")]
        reason: String,
        /// Reference recorded in the ledger.
        #[arg(long)]
        reference: Option<String>,
        /// Idempotency key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Reserve credits before work; prints the hold id.
    Hold {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Credits to reserve.
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// Reason.
        #[arg(long, default_value = "reservation")]
        reason: String,
        /// Reference.
        #[arg(long)]
        reference: Option<String>,
        /// Idempotency key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Charge a hold's actual cost and give back the rest.
    Settle {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Hold id.
        #[arg(long)]
        hold: String,
        /// Actual credits to charge.
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// Operation the work was.
        #[arg(long)]
        operation: Option<String>,
        /// Usage details.
        #[command(flatten)]
        usage: UsageArgs,
    },
    /// Give a hold back in full.
    Release {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Hold id.
        #[arg(long)]
        hold: String,
    },
    /// Ledger entries, newest first.
    Ledger {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Paging.
        #[command(flatten)]
        paging: Paging,
    },
    /// AI usage logs, newest first.
    Usage {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Only this run's usage.
        #[arg(long)]
        run: Option<String>,
        /// Paging.
        #[command(flatten)]
        paging: Paging,
    },
    /// The account's holds.
    Holds {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Paging.
        #[command(flatten)]
        paging: Paging,
    },
    /// Audit: exit 0 only when the balance equals the sum of the ledger.
    Reconcile {
        /// Account id.
        #[arg(long)]
        account: String,
    },
    /// Every operation's price.
    Costs,
    /// Set an operation's price.
    SetCost {
        /// Operation name.
        #[arg(long)]
        operation: String,
        /// What a unit measures.
        #[arg(long, value_enum)]
        unit: UnitArg,
        /// Credits per unit.
        #[arg(long, allow_negative_numbers = true)]
        credits: i64,
        /// Smallest charge per call.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        min: i64,
    },
}

/// Lock commands.
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Take a site's lock for a holder (e.g. a run id).
    Acquire {
        /// Site id.
        #[arg(long)]
        site: String,
        /// Holder name.
        #[arg(long)]
        holder: String,
        /// Lease length.
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
        lease_seconds: i64,
    },
    /// Extend the holder's lease.
    Extend {
        /// Site id.
        #[arg(long)]
        site: String,
        /// Holder name.
        #[arg(long)]
        holder: String,
        /// New lease length from now.
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
        lease_seconds: i64,
    },
    /// Release the lock (holder only).
    Release {
        /// Site id.
        #[arg(long)]
        site: String,
        /// Holder name.
        #[arg(long)]
        holder: String,
    },
    /// Who holds the lock.
    Status {
        /// Site id.
        #[arg(long)]
        site: String,
    },
}

/// Which site a reading command is about.
#[derive(Debug, Args)]
pub struct SiteArg {
    /// Site id (default: the data directory's local site, made by `igny8 run`).
    #[arg(long)]
    pub site: Option<String>,
}

/// Paging of record listings (a page is at most 100 records).
#[derive(Debug, Args)]
pub struct RecordPaging {
    /// Records per page (1-100).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Cursor printed by the previous page.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every record, all pages.
    #[arg(long)]
    pub all: bool,
}

/// Keyword commands.
#[derive(Debug, Subcommand)]
pub enum KeywordsCommand {
    /// Import a keyword export (Semrush, Ahrefs, Google Keyword Planner or a plain
    /// list; UTF-8 or UTF-16, comma, tab or semicolon separated); nothing is imported
    /// when a row is malformed.
    Import {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// The exported file.
        file: PathBuf,
    },
    /// The site's keywords, in id order.
    List {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Paging.
        #[command(flatten)]
        paging: RecordPaging,
    },
}

/// Cluster commands.
#[derive(Debug, Subcommand)]
pub enum ClustersCommand {
    /// The site's clusters, in id order.
    List {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Paging.
        #[command(flatten)]
        paging: RecordPaging,
    },
}

/// Article commands.
#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// The site's articles, in id order.
    List {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Paging.
        #[command(flatten)]
        paging: RecordPaging,
    },
    /// One article: its record, and its text as Markdown (`--json`: the stored HTML too).
    Show {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        id: String,
    },
    /// Approve an article for publishing (`--content`), or every draft (`--all`).
    Approve {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        content: Option<String>,
        /// Every draft article of the site.
        #[arg(long)]
        all: bool,
    },
    /// Take an article's approval back (a published one stays published).
    Unapprove {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        content: String,
    },
    /// Write every article as HTML and Markdown, its images beside it, and an
    /// index.html linking them all.
    Export {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Folder to write into (created if missing; files of the same names are replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// Score an article: every check (0-9) with its message, the total (0-100), and
    /// its validation errors and warnings. Nothing is charged or written.
    Analyze {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        content: String,
    },
    /// Validate an article: errors (which block approval) and warnings; exit status 3
    /// when it has errors.
    Validate {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        content: String,
    },
    /// Rewrite what the analyzer flags through the AI provider (charged in credits):
    /// shows the estimate and asks first, then the scores before and after and whether
    /// the rewrite was kept (only when it scores higher).
    Optimize {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Article id (cnt_…).
        #[arg(long)]
        content: String,
        /// Do not ask: optimize at the estimated cost.
        #[arg(long)]
        yes: bool,
    },
}

/// Internal links between a site's articles.
#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// The links the engines would add (anchor, target, relevance); nothing is written.
    Suggest {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Only this article (cnt_…); default: every article of the site.
        #[arg(long)]
        content: Option<String>,
    },
    /// Insert the links into the articles' bodies (a second pass adds nothing);
    /// published articles whose links changed are marked for update.
    Apply {
        /// The site.
        #[command(flatten)]
        site: SiteArg,
        /// Only this article (cnt_…); default: every article of the site.
        #[arg(long)]
        content: Option<String>,
    },
}

/// Credit package commands (the catalog).
#[derive(Debug, Subcommand)]
pub enum PackagesCommand {
    /// Every credit package, active or not.
    List,
    /// Add a credit package to the catalog; prints its id.
    Create {
        /// Display name (1-100 characters, unique in practice: `invoices create --package` finds it by name).
        #[arg(long)]
        name: String,
        /// Credits added when its invoice is paid.
        #[arg(long)]
        credits: i64,
        /// Price before tax, in minor units of --currency (cents, yen, fils).
        #[arg(long, allow_negative_numbers = true)]
        price: i64,
        /// ISO 4217 currency.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Tax rate of its invoice line, basis points (1900 = 19 %).
        #[arg(long, default_value_t = 0)]
        tax_bp: i64,
    },
}

/// Invoice commands. Invoices live under their account, so every command names it
/// (`--account`) as well as the invoice.
#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Create a draft invoice: a credit package's, or custom lines.
    Create {
        /// The account billed.
        #[arg(long)]
        account: String,
        /// A credit package, by name or id (its price, currency and credits).
        #[arg(long, conflicts_with = "line", required_unless_present = "line")]
        package: Option<String>,
        /// A custom line "DESCRIPTION:QUANTITY:UNIT_MINOR[:TAX_BP]" (repeatable; read
        /// from the right, so the description may contain ':').
        #[arg(long)]
        line: Vec<String>,
        /// ISO 4217 currency of custom lines.
        #[arg(long, default_value = "EUR", conflicts_with = "package")]
        currency: String,
        /// Finalize it at once (number, PDF).
        #[arg(long)]
        finalize: bool,
    },
    /// Finalize a draft: assign its number and render its PDF.
    Finalize {
        /// The account.
        #[arg(long)]
        account: String,
        /// Invoice id (inv_…).
        #[arg(long)]
        invoice: String,
    },
    /// Void an open or uncollectible invoice (a paid one is corrected by a refund).
    Void {
        /// The account.
        #[arg(long)]
        account: String,
        /// Invoice id (inv_…).
        #[arg(long)]
        invoice: String,
    },
    /// One invoice with its lines and totals.
    Show {
        /// The account.
        #[arg(long)]
        account: String,
        /// Invoice id (inv_…).
        #[arg(long)]
        invoice: String,
    },
    /// Record a manual payment (bank transfer, cash...) against an open invoice.
    Pay {
        /// The account.
        #[arg(long)]
        account: String,
        /// Invoice id (inv_…).
        #[arg(long)]
        invoice: String,
        /// Minor units paid (at most the amount due).
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// The payment's reference (bank transaction id...).
        #[arg(long)]
        reference: String,
        /// Idempotency key (default: derived from invoice, amount and reference, so a
        /// repeated command records the payment once).
        #[arg(long)]
        key: Option<String>,
    },
    /// Write the invoice's PDF to a file (rendered first when it is missing).
    Pdf {
        /// The account.
        #[arg(long)]
        account: String,
        /// Invoice id (inv_…).
        #[arg(long)]
        invoice: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// The account's invoices, newest first.
    List {
        /// The account.
        #[arg(long)]
        account: String,
        /// Paging.
        #[command(flatten)]
        paging: Paging,
    },
}
