//! Lambda `igny8-stage-publish`: one batch of the publishing stage after images.

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::StagePublish).await
}
