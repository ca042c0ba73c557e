//! Billing's configuration: the seller printed on every invoice, and the Stripe
//! webhook's signing secret. In the cloud it is
//! an environment variable CloudFormation filled from a Secrets Manager reference at
//! deploy time (`StripeWebhookSecretArn` in the template); on a laptop a file in the
//! data directory, so it never sits in shell history. Missing means "webhooks not
//! configured" (the route then answers 503); present but unusable is an error at start.

use std::path::{Path, PathBuf};
#[cfg(feature = "documents")]
use std::sync::Arc;

#[cfg(feature = "documents")]
use igny8_core::billing::InvoiceDocuments;
#[cfg(feature = "documents")]
use igny8_core::ports::BlobStore;
#[cfg(feature = "documents")]
use igny8_core::Services;

pub use igny8_core::billing::stripe::WebhookSecret;
use igny8_core::billing::stripe::MIN_SECRET_LEN;
use igny8_core::domain::SellerDetails;

/// The seller's name when `IGNY8_SELLER_NAME` is not set.
pub const DEFAULT_SELLER_NAME: &str = "IGNY8";

/// The seller block of every invoice, from `IGNY8_SELLER_NAME`, `IGNY8_SELLER_EMAIL`,
/// `IGNY8_SELLER_ADDRESS` (lines separated by `;`) and `IGNY8_SELLER_TAX_ID`, the same
/// on a laptop and in the cloud (the template fills them from its `Seller*` parameters).
pub fn seller_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> SellerDetails {
    let value = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    SellerDetails {
        name: value("IGNY8_SELLER_NAME").unwrap_or_else(|| DEFAULT_SELLER_NAME.to_owned()),
        address_lines: value("IGNY8_SELLER_ADDRESS")
            .map(|a| a.split(';').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        tax_id: value("IGNY8_SELLER_TAX_ID"),
        email: value("IGNY8_SELLER_EMAIL"),
    }
}

/// The environment variable holding the secret (the cloud's way; also honoured locally).
pub const STRIPE_SECRET_ENV: &str = "IGNY8_STRIPE_WEBHOOK_SECRET";

/// The secret's file, relative to the data directory (the laptop's way).
pub const STRIPE_SECRET_FILE: &str = "secrets/stripe_webhook_secret";

/// Billing configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingConfigError {
    /// The secret is set but too short to be Stripe's.
    #[error("the Stripe webhook secret from {origin} is shorter than {MIN_SECRET_LEN} characters")]
    WeakSecret {
        /// Where it came from (a variable or a file).
        origin: String,
    },
    /// The secret's file exists but cannot be read.
    #[error("cannot read the Stripe webhook secret {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl BillingConfigError {
    /// The stable code the CLI reports.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WeakSecret { .. } => "weak_secret",
            Self::Unreadable { .. } => "unreadable_secret",
        }
    }
}

/// The secret from `lookup` (the environment, or a map in tests); empty counts as unset.
pub fn stripe_secret_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<WebhookSecret>, BillingConfigError> {
    match lookup(STRIPE_SECRET_ENV).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(text) => WebhookSecret::new(&text)
            .map(Some)
            .ok_or_else(|| BillingConfigError::WeakSecret { origin: STRIPE_SECRET_ENV.to_owned() }),
    }
}

/// The laptop's secret: [`STRIPE_SECRET_ENV`] when set, else the data directory's
/// [`STRIPE_SECRET_FILE`]; None when neither exists.
pub fn local_stripe_secret(
    data_dir: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<WebhookSecret>, BillingConfigError> {
    if let Some(secret) = stripe_secret_from_lookup(lookup)? {
        return Ok(Some(secret));
    }
    let path = data_dir.join(STRIPE_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => WebhookSecret::new(&text)
            .map(Some)
            .ok_or_else(|| BillingConfigError::WeakSecret { origin: path.display().to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BillingConfigError::Unreadable { path, reason: e.to_string() }),
    }
}

/// The services with invoice PDFs: finalize and every status change render the invoice
/// (igny8-pdf) into `blobs` at `invoices/<account>/<number>.pdf`.
#[cfg(feature = "documents")]
pub fn with_invoice_pdfs(services: Services, blobs: Arc<dyn BlobStore>, seller: SellerDetails) -> Services {
    services.with_documents(InvoiceDocuments { blobs, renderer: Arc::new(igny8_pdf::PdfInvoices), seller })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(value: Option<&str>) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| (name == STRIPE_SECRET_ENV).then(|| value.map(str::to_owned)).flatten()
    }

    #[test]
    fn the_variable_wins_then_the_file_then_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(local_stripe_secret(dir.path(), env(None)), Ok(None));
        std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        std::fs::write(dir.path().join(STRIPE_SECRET_FILE), "whsec_from_the_file_123\n").expect("write");
        let from_file = local_stripe_secret(dir.path(), env(None)).expect("file").expect("some");
        assert_eq!(from_file.as_bytes(), b"whsec_from_the_file_123");
        let from_env = local_stripe_secret(dir.path(), env(Some("whsec_from_the_env_4567"))).expect("env");
        assert_eq!(from_env.map(|s| s.as_bytes().to_vec()), Some(b"whsec_from_the_env_4567".to_vec()));
        assert_eq!(local_stripe_secret(dir.path(), env(Some("  "))).map(|s| s.is_some()), Ok(true), "blank is unset");
    }

    #[test]
    fn the_seller_comes_from_the_environment_with_a_default_name() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let default = seller_from_lookup(vars(&[]));
        assert_eq!((default.name.as_str(), default.address_lines.len(), default.email), (DEFAULT_SELLER_NAME, 0, None));
        let seller = seller_from_lookup(vars(&[
            ("IGNY8_SELLER_NAME", " IGNY8 GmbH "),
            ("IGNY8_SELLER_ADDRESS", "Hauptstr. 1; 10115 Berlin ;;Germany"),
            ("IGNY8_SELLER_TAX_ID", "DE123456789"),
            ("IGNY8_SELLER_EMAIL", ""),
        ]));
        assert_eq!(seller.name, "IGNY8 GmbH");
        assert_eq!(seller.address_lines, ["Hauptstr. 1", "10115 Berlin", "Germany"]);
        assert_eq!((seller.tax_id.as_deref(), seller.email), (Some("DE123456789"), None));
    }

    #[test]
    fn short_secrets_are_refused_with_their_origin() {
        let e = stripe_secret_from_lookup(env(Some("whsec"))).expect_err("weak");
        assert_eq!(e.code(), "weak_secret");
        assert!(e.to_string().contains(STRIPE_SECRET_ENV));
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        std::fs::write(dir.path().join(STRIPE_SECRET_FILE), "x").expect("write");
        assert_eq!(local_stripe_secret(dir.path(), env(None)).map_err(|e| e.code()), Err("weak_secret"));
    }
}
