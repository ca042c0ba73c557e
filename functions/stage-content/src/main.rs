//! Lambda `igny8-stage-content`: one batch of stage 4 (tasks → articles).

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Stage(Stage::Content)).await
}
