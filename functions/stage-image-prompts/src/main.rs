//! Lambda `igny8-stage-image-prompts`: one batch of stage 5 (articles → image prompts).

use igny8_core::automation::Function;
use igny8_core::domain::Stage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::Stage(Stage::ImagePrompts)).await
}
