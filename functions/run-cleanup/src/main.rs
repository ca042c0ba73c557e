//! Lambda `igny8-run-cleanup`: clean up after an execution stopped or timed out (EventBridge).

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::RunCleanup).await
}
