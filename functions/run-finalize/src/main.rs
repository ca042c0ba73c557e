//! Lambda `igny8-run-finalize`: finalize (or record a cancellation) and release the lock.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::RunFinalize).await
}
