//! The per-site run lock as stored.

use serde::{Deserialize, Serialize};

use super::ids::SiteId;

/// Who holds a site's lock, until when, and the fence of that acquisition.
///
/// The fence counter only grows (it survives release), so a write carrying an older
/// fence can be recognised as coming from a holder that lost its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteLease {
    /// The locked site.
    pub site_id: SiteId,
    /// Current holder (a run id), None when released.
    pub holder: Option<String>,
    /// Lease end, Unix milliseconds; the lock is free once this has passed.
    pub expires_at: i64,
    /// Bumped on every acquire.
    pub fence: i64,
    /// When the current holder acquired it, Unix milliseconds.
    pub acquired_at: i64,
}

impl SiteLease {
    /// True when the lease is held by someone at `now_ms`.
    pub fn is_held(&self, now_ms: i64) -> bool {
        self.holder.is_some() && self.expires_at > now_ms
    }
}
