//! Lambda `igny8-stage-ideas`: one batch of stage 2 (clusters → ideas).

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Stage(Stage::Ideas)).await
}
