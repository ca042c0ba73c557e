//! Lambda `igny8-scheduler`: start due scheduled runs (EventBridge schedule).

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Scheduler).await
}
