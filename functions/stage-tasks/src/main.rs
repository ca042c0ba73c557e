//! Lambda `igny8-stage-tasks`: one batch of stage 3 (ideas → writer tasks).

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Stage(Stage::Tasks)).await
}
