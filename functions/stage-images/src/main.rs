//! Lambda `igny8-stage-images`: stage 6: queue the image jobs and wait for the last one.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::StageImages).await
}
