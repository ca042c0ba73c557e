//! The Lambda edge, once for every function: build the clients from the environment
//! at cold start, then hand each event to the function's handler in `igny8-core`.
//! Errors are mapped here, and only here, to Lambda error types the state machine's
//! Retry and Catch match on (`Igny8.AiRateLimited`, `Igny8.Throttled`, ...).

use igny8_core::automation::{handle, AutomationError, Function};
use igny8_core::aws::runtime::{ai_from_env, automation, CloudConfig};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

/// A handler failure as the Lambda runtime reports it.
#[derive(Debug)]
pub struct HandlerError {
    error_type: &'static str,
    message: String,
}

impl From<AutomationError> for HandlerError {
    fn from(e: AutomationError) -> Self {
        Self { error_type: e.error_name(), message: e.to_string() }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic { error_type: e.error_type.to_owned(), error_message: e.message }
    }
}

/// Serves `function` until the runtime stops the process.
pub async fn serve(function: Function) -> Result<(), lambda_runtime::Error> {
    let config = CloudConfig::from_env()?;
    let (_services, service) = automation(&config, ai_from_env()?).await;
    tracing::info!(function = function.name(), "cold start complete");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        async move { handle(&service, function, event.payload).await.map_err(HandlerError::from) }
    }))
    .await
}
