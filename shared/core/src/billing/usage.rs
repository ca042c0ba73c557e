//! Filtered pages of an account's AI usage logs (by run, stage, operation and time),
//! for the usage reports of the API and CLI.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::credits::{CreditError, CreditService};
use crate::domain::{AccountId, CreditUsageLog};
use crate::ports::Page;

/// Most store pages one filtered page reads before it returns what it found.
const MAX_SCANS: usize = 20;

/// Which usage logs to return; None matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Only this run's usage.
    pub run_id: Option<String>,
    /// Only this stage (1–6).
    pub stage: Option<u8>,
    /// Only this operation.
    pub operation: Option<String>,
    /// At or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Before this instant.
    pub to: Option<OffsetDateTime>,
}

impl UsageFilter {
    /// True when the log passes every condition.
    pub fn matches(&self, log: &CreditUsageLog) -> bool {
        if self.stage.is_some() && log.usage.stage != self.stage {
            return false;
        }
        if self.operation.as_ref().is_some_and(|op| op != &log.usage.operation) {
            return false;
        }
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Ok(at) = OffsetDateTime::parse(&log.created_at, &Rfc3339) else {
            return false;
        };
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

impl CreditService {
    /// Up to `limit` usage logs passing `filter`, newest first, and the cursor after the
    /// last log read. Store pages are asked for no more than still fits, so nothing read
    /// is skipped; a sparse filter may return a short page with a cursor.
    pub async fn usage_page(
        &self,
        account: &AccountId,
        filter: &UsageFilter,
        limit: usize,
        mut cursor: Option<String>,
    ) -> Result<Page<CreditUsageLog>, CreditError> {
        let limit = limit.clamp(1, 1000);
        let mut out = Vec::new();
        for _ in 0..MAX_SCANS {
            let page = self.usage(account, filter.run_id.as_deref(), limit - out.len(), cursor).await?;
            out.extend(page.items.into_iter().filter(|l| filter.matches(l)));
            cursor = page.cursor;
            if out.len() >= limit || cursor.is_none() {
                break;
            }
        }
        Ok(Page::new(out, cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TransactionId, UsageDetails};

    fn log(stage: u8, operation: &str, at: &str) -> CreditUsageLog {
        CreditUsageLog {
            account_id: AccountId::derive("a"),
            transaction_id: Some(TransactionId::derive("t")),
            credits: 1,
            failed: false,
            usage: UsageDetails { operation: operation.into(), stage: Some(stage), ..UsageDetails::default() },
            created_at: at.into(),
        }
    }

    #[test]
    fn filters_combine() {
        let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
        let f = UsageFilter {
            stage: Some(4),
            from: at("2026-11-01T00:00:00Z"),
            to: at("2026-12-01T00:00:00Z"),
            ..UsageFilter::default()
        };
        assert!(f.matches(&log(4, "content_generation", "2026-11-26T10:00:00Z")));
        assert!(!f.matches(&log(3, "content_generation", "2026-11-26T10:00:00Z")));
        assert!(!f.matches(&log(4, "content_generation", "2026-12-01T00:00:00Z")));
        let g = UsageFilter { operation: Some("clustering".into()), ..UsageFilter::default() };
        assert!(!g.matches(&log(1, "idea_generation", "x")));
        assert!(g.matches(&log(1, "clustering", "x")));
    }
}
