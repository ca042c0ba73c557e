//! Lambda `igny8-scheduler` (EventBridge schedule, every 5 minutes): starts the due
//! scheduled runs, renews the subscriptions whose period ended (the next period's
//! invoice created and finalized; unpaid past due → past_due), then syncs every active,
//! sync-enabled integration (content, metadata, health). All three are idempotent, so
//! a retried or doubled tick changes nothing twice; one failing does not stop the
//! others, and the invocation fails (for Lambda's retry and the Errors metric) when any
//! did. One integration failing to sync is recorded on its health, not a failure here.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use igny8_core::billing::renew_subscriptions;
use igny8_lambda::events::{scheduler, ScheduledEvent};
use igny8_lambda::{emf_line, init_json_logs, invocation_span};
use igny8_wiring::ai_from_env;
use igny8_wiring::aws::{automation_with_documents_and_integrations as automation, CloudConfig};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::json;
use tracing::Instrument;

const FUNCTION: &str = "scheduler";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let config = CloudConfig::from_env()?;
    let (services, service) = automation(&config, ai_from_env()?).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let (services, service) = (services.clone(), service.clone());
        let span = invocation_span(FUNCTION, &event.context.request_id, "-");
        async move {
            let started = Instant::now();
            let runs = scheduler(&service, event.payload).await;
            let renewal = renew_subscriptions(&services, services.clock.now_ms()).await;
            let sync = services.sync.sync_all().await;
            let outcome = match (runs, renewal, sync) {
                (Ok(runs), Ok(report), Ok(sweep)) => Ok(json!({"started": runs, "renewal": report, "sync": sweep})),
                (Err(e), _, _) => {
                    Err(Diagnostic { error_type: e.error_name().to_owned(), error_message: e.to_string() })
                }
                (_, Err(e), _) => {
                    Err(Diagnostic { error_type: format!("Igny8.{}", e.code()), error_message: e.to_string() })
                }
                (_, _, Err(e)) => {
                    Err(Diagnostic { error_type: format!("Igny8.{}", e.code()), error_message: e.to_string() })
                }
            };
            if let Err(e) = &outcome {
                tracing::error!(error_type = %e.error_type, error = %e.error_message, "invocation failed");
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            println!("{}", emf_line(FUNCTION, started.elapsed().as_secs_f64() * 1000.0, outcome.is_err(), now));
            outcome
        }
        .instrument(span)
    }))
    .await
}
