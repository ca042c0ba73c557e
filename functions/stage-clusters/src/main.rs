//! Lambda `igny8-stage-clusters`: one batch of stage 1 (keywords → clusters).

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Stage(Stage::Clusters)).await
}
