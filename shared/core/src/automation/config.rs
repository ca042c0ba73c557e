//! A site's automation config: read (defaults until one is saved), checked and saved,
//! with the schedule's next due time computed on save.

use super::error::AutomationError;
use super::schedule::next_after;
use super::service::AutomationService;
use crate::domain::{AccountId, AutomationConfig, SiteId};

/// Most articles one publishing batch sends: each is several platform requests, and a
/// batch must end well inside its function's timeout.
pub const MAX_PUBLISH_BATCH_SIZE: u32 = 100;

/// Most articles one linking batch links: a batch reads the whole site and must end
/// well inside its function's timeout.
pub const MAX_LINK_BATCH_SIZE: u32 = 500;

/// The config's limits; a config outside them is refused, not clamped.
fn check(config: &AutomationConfig) -> Result<(), AutomationError> {
    let invalid = |m: &str| Err(AutomationError::Invalid(m.to_owned()));
    if config.batch_sizes.iter().any(|b| *b == 0 || *b > 1000) {
        return invalid("batch sizes must be 1 to 1000");
    }
    if !(1.0..=10.0).contains(&config.credit_buffer) {
        return invalid("credit_buffer must be between 1 and 10");
    }
    if !(60..=7 * 24 * 3600).contains(&config.lease_seconds) {
        return invalid("lease_seconds must be 60 to 604800");
    }
    if config.ideas_per_cluster == 0 || config.ideas_per_cluster > 10 || config.images_per_article > 10 {
        return invalid("ideas_per_cluster must be 1 to 10, images_per_article 0 to 10");
    }
    if config.delay_between_batches_seconds > 3600 {
        return invalid("delay_between_batches_seconds must be at most 3600");
    }
    if !(1..=MAX_PUBLISH_BATCH_SIZE).contains(&config.publish_batch_size) {
        return invalid("publish_batch_size must be 1 to 100");
    }
    if !(1..=MAX_LINK_BATCH_SIZE).contains(&config.link_batch_size) {
        return invalid("link_batch_size must be 1 to 500");
    }
    Ok(())
}

impl AutomationService {
    /// The site's automation config (defaults until one is saved).
    pub async fn config(&self, account: &AccountId, site: &SiteId) -> Result<AutomationConfig, AutomationError> {
        self.site_of(account, site).await?;
        Ok(self
            .inner
            .configs
            .get(site)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(account.clone(), site.clone())))
    }

    /// Saves the site's automation config after checking it.
    pub async fn save_config(
        &self,
        account: &AccountId,
        mut config: AutomationConfig,
    ) -> Result<AutomationConfig, AutomationError> {
        self.site_of(account, &config.site_id).await?;
        config.account_id = account.clone();
        check(&config)?;
        config.next_run_at = match &config.schedule {
            Some(schedule) => Some(next_after(schedule, self.now()).map_err(AutomationError::Invalid)?),
            None => None,
        };
        self.inner.configs.put(&config).await?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PublishAfterRun;

    #[test]
    fn the_publishing_batch_size_is_checked() {
        let mut config = AutomationConfig::defaults(AccountId::derive("a"), SiteId::derive("s"));
        config.publish = PublishAfterRun::Draft;
        assert!(check(&config).is_ok());
        for bad in [0, MAX_PUBLISH_BATCH_SIZE + 1] {
            config.publish_batch_size = bad;
            assert!(matches!(check(&config), Err(AutomationError::Invalid(m)) if m.contains("publish_batch_size")));
        }
    }

    #[test]
    fn the_linking_batch_size_is_checked() {
        let mut config = AutomationConfig::defaults(AccountId::derive("a"), SiteId::derive("s"));
        assert!(config.link_articles && check(&config).is_ok());
        for bad in [0, MAX_LINK_BATCH_SIZE + 1] {
            config.link_batch_size = bad;
            assert!(matches!(check(&config), Err(AutomationError::Invalid(m)) if m.contains("link_batch_size")));
        }
    }
}
