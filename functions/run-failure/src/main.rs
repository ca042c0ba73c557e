//! Lambda `igny8-run-failure`: record a caught failure, release holds and the lock.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::RunFailure).await
}
