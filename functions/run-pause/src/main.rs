//! Lambda `igny8-run-pause`: the pause wait: store the task token resume sends.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::RunPause).await
}
