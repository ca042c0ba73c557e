//! Lambda `igny8-image-worker`: SQS consumer of image jobs, with partial batch failures.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::ImageWorker).await
}
