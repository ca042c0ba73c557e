//! `igny8 serve` (the HTTP API on 127.0.0.1, over the embedded default or `--backend
//! aws`) and `igny8 token` (a signed bearer token for it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use igny8_api::{mint_token, router, ApiState, AuthMode, Role};
use igny8_core::billing::renew_subscriptions;
use igny8_core::domain::AccountId;
use igny8_wiring::billing::{local_stripe_secret, WebhookSecret};
use igny8_wiring::embedded::drain_image_queue;
use serde_json::json;

use crate::commands::Output;
use crate::error::CliError;
use crate::run::{failure, runtime, Target};

/// The secret's file inside the data directory when `IGNY8_JWT_SECRET` is not set.
const SECRET_FILE: &str = "jwt.secret";
/// How often the local image worker polls an empty queue.
const IMAGE_POLL: Duration = Duration::from_millis(200);
/// How often `igny8 serve` renews the subscriptions whose period ended, as the cloud's
/// scheduler does (renewal is idempotent, so the rate is only about promptness).
const RENEWAL_EVERY: Duration = Duration::from_secs(300);
/// How often `igny8 serve` syncs the active, sync-enabled integrations (content,
/// metadata, health), as the cloud's scheduler does on the same 5-minute schedule.
const SYNC_EVERY: Duration = Duration::from_secs(300);

/// The HS256 secret: `IGNY8_JWT_SECRET`, else the data directory's own (made once).
pub fn secret(data_dir: &Path) -> Result<Vec<u8>, CliError> {
    if let Ok(s) = std::env::var("IGNY8_JWT_SECRET") {
        if s.len() < 16 {
            return Err(CliError::invalid("weak_secret", "IGNY8_JWT_SECRET must be at least 16 characters"));
        }
        return Ok(s.into_bytes());
    }
    let path = data_dir.join(SECRET_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| CliError::Failure(format!("cannot create {}: {e}", data_dir.display())))?;
    let bytes: [u8; 32] = rand::random();
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &text)?;
    Ok(text.into_bytes())
}

fn write_private(path: &PathBuf, text: &str) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(CliError::Failure(format!("cannot write {}: {e}", path.display()))),
    };
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", path.display())))
}

/// `igny8 token`: a bearer token for `igny8 serve`.
pub fn token(data_dir: &Path, account: &str, role: &str, subject: &str, ttl_seconds: u64) -> Result<Output, CliError> {
    let account: AccountId = account.parse()?;
    let role: Role = role.parse().map_err(|e: String| CliError::invalid("invalid_role", e))?;
    if ttl_seconds == 0 || ttl_seconds > 30 * 24 * 3600 {
        return Err(CliError::invalid("invalid_ttl", "--ttl must be 1 second to 30 days"));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(failure)?.as_secs();
    let token = mint_token(&secret(data_dir)?, subject, &account, role, now, ttl_seconds).map_err(failure)?;
    Ok(Output::new(json!({"token": token, "account": account, "role": role, "expires_at": now + ttl_seconds}), token))
}

/// The Stripe webhook secret: `IGNY8_STRIPE_WEBHOOK_SECRET`, else the data directory's
/// `secrets/stripe_webhook_secret`; none means the webhook route answers 503.
fn stripe_secret(data_dir: &Path) -> Result<Option<WebhookSecret>, CliError> {
    local_stripe_secret(data_dir, |name| std::env::var(name).ok())
        .map_err(|e| CliError::invalid(e.code(), e.to_string()))
}

/// `igny8 serve`: the API until Ctrl-C, with the image worker, subscription renewal and
/// integration sync running beside it.
pub async fn serve(target: &Target, port: u16) -> Result<Output, CliError> {
    init_logs();
    let rt = runtime(target).await?;
    let state = ApiState::new(
        rt.services.clone(),
        rt.automation.clone(),
        AuthMode::Hs256 { secret: secret(&target.data_dir)? },
    )
    .with_stripe_webhook_secret(stripe_secret(&target.data_dir)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| CliError::Failure(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let address = listener.local_addr().map_err(failure)?;
    eprintln!("igny8 API listening on http://{address} (OpenAPI at /openapi.json)");
    let worker = {
        let (automation, queue) = (rt.automation.clone(), rt.queue.clone());
        tokio::spawn(async move {
            loop {
                match drain_image_queue(&automation, queue.as_ref(), 10).await {
                    Ok(0) => tokio::time::sleep(IMAGE_POLL).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "image worker");
                        tokio::time::sleep(IMAGE_POLL).await;
                    }
                }
            }
        })
    };
    let renewals = {
        let services = rt.services.clone();
        tokio::spawn(async move {
            loop {
                match renew_subscriptions(&services, services.clock.now_ms()).await {
                    Ok(report)
                        if report.renewed.is_empty() && report.past_due.is_empty() && report.failed.is_empty() => {}
                    Ok(report) => tracing::info!(
                        renewed = report.renewed.len(),
                        cancelled = report.cancelled.len(),
                        past_due = report.past_due.len(),
                        failed = report.failed.len(),
                        "subscriptions renewed"
                    ),
                    Err(e) => tracing::warn!(error = %e, code = e.code(), "subscription renewal"),
                }
                tokio::time::sleep(RENEWAL_EVERY).await;
            }
        })
    };
    let syncs = {
        let services = rt.services.clone();
        tokio::spawn(async move {
            loop {
                match services.sync.sync_all().await {
                    Ok(sweep) if sweep.synced == 0 => {}
                    Ok(sweep) => tracing::info!(synced = sweep.synced, failed = sweep.failed, "integrations synced"),
                    Err(e) => tracing::warn!(error = %e, code = e.code(), "integration sync"),
                }
                tokio::time::sleep(SYNC_EVERY).await;
            }
        })
    };
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    worker.abort();
    renewals.abort();
    syncs.abort();
    served.map_err(failure)?;
    Ok(Output::new(json!({"stopped": address.to_string()}), format!("stopped serving {address}")))
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IGNY8_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
