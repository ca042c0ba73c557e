//! Lambda `igny8-stage-publish`: one batch of the publishing stage after images, with
//! the integrations wired (credentials opened by KMS, the WordPress and Shopify clients).

use igny8_core::automation::Function;
use igny8_wiring::ai_from_env;
use igny8_wiring::aws::{automation_with_integrations, CloudConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = CloudConfig::from_env()?;
    let (_services, service) = automation_with_integrations(&config, ai_from_env()?).await?;
    igny8_lambda::serve_with(Function::StagePublish, service).await
}
