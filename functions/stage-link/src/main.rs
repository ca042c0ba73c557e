//! Lambda `igny8-stage-link`: one batch of the linking stage after content (the run's
//! articles get internal links to the site's other articles).

use igny8_core::automation::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    igny8_lambda::serve(Function::StageLink).await
}
