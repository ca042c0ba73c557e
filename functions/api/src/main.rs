//! Lambda `igny8-api`: wires the services over AWS once per cold start and serves API
//! Gateway events with the router (see the library for the translation). Logs are JSON
//! lines; configuration values and secrets are never logged, only which one is missing.

use igny8_api::{router, ApiState, AuthMode};
use igny8_wiring::ai_from_env;
use igny8_wiring::aws::{automation_with_documents_and_integrations as automation, CloudConfig};
use lambda_http::{service_fn, Request};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    igny8_lambda::init_json_logs();
    let config = CloudConfig::from_env()?;
    let (services, automation) = automation(&config, ai_from_env()?).await?;
    let state = ApiState::new(services, automation, AuthMode::Gateway)
        .with_stripe_webhook_secret(config.stripe_webhook_secret.clone());
    let app = router(state);
    lambda_http::run(service_fn(move |request: Request| {
        let span = igny8_lambda::invocation_span("api", &api::lambda_request_id(&request), "-");
        api::handle(app.clone(), request).instrument(span)
    }))
    .await
}
