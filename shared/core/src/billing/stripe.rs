//! Stripe's webhook scheme, pure: verifying the `Stripe-Signature` header over the raw
//! body, and reading the few event types billing acts on into plain values. No I/O and
//! no clock of its own (the caller passes "now"), so the edge decides what happens and
//! the rules are tested here byte for byte.
//!
//! The scheme (<https://docs.stripe.com/webhooks#verify-manually>): the header is
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`; each `v1` is
//! `hex(HMAC-SHA256(endpoint secret, "<t>.<raw body>"))`. Several `v1` values appear while
//! a secret is being rolled; one match is enough. Other schemes (`v0`, test-mode
//! signatures) are ignored. The timestamp guards against replays of a captured request.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::domain::AccountId;

/// The request header carrying the signatures (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// How far (seconds, either way) the header's timestamp may be from now: Stripe's
/// libraries' default, long enough for clock skew and Stripe's own delivery delay.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Longest header accepted; Stripe's are well under 1 KiB even while rolling secrets.
const MAX_HEADER: usize = 4096;

/// Shortest signing secret accepted: Stripe's are `whsec_` and 32 or more characters;
/// anything much shorter is a configuration mistake, not a secret.
pub const MIN_SECRET_LEN: usize = 16;

/// The endpoint's signing secret. Its `Debug` never shows it, so configuration that
/// holds one can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// The secret as configured, surrounding whitespace (a file's trailing newline)
    /// dropped; None when it is shorter than [`MIN_SECRET_LEN`].
    pub fn new(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        (trimmed.len() >= MIN_SECRET_LEN).then(|| Self(trimmed.as_bytes().to_vec()))
    }

    /// The HMAC key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why a delivery is refused before anything is read from it, or why its event cannot
/// be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No `Stripe-Signature` header.
    #[error("the Stripe-Signature header is missing")]
    MissingSignature,
    /// The header is not `t=…,v1=…` (no timestamp, no `v1`, not hex...).
    #[error("the Stripe-Signature header is malformed: {0}")]
    MalformedSignature(&'static str),
    /// No `v1` signature matches the body under the configured secret.
    #[error("no signature in the Stripe-Signature header matches the body")]
    SignatureMismatch,
    /// The signatures match but the timestamp is outside the tolerance.
    #[error("the signature's timestamp {timestamp} is more than {TOLERANCE_SECONDS} s from now ({now})")]
    Expired {
        /// The header's `t`.
        timestamp: i64,
        /// The receiver's clock.
        now: i64,
    },
    /// The signed body is not a Stripe event, or an event billing acts on lacks a
    /// field it needs.
    #[error("the event cannot be read: {0}")]
    InvalidEvent(String),
}

impl WebhookError {
    /// The stable code the HTTP edge reports.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingSignature | Self::MalformedSignature(_) | Self::SignatureMismatch => "invalid_signature",
            Self::Expired { .. } => "signature_expired",
            Self::InvalidEvent(_) => "invalid_event",
        }
    }
}

/// The parts of a `Stripe-Signature` header that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t`: when Stripe signed, Unix seconds.
    pub timestamp: i64,
    /// Every `v1` signature, decoded.
    pub signatures: Vec<[u8; 32]>,
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| char::from(b).to_digit(16);
        let (hi, lo) = (digit(pair[0])?, digit(pair[1])?);
        // Two hex digits: at most 255.
        *slot = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

impl SignatureHeader {
    /// Reads the header: exactly one `t`, at least one well-formed `v1`; other
    /// schemes are skipped, as Stripe asks.
    pub fn parse(header: &str) -> Result<Self, WebhookError> {
        if header.len() > MAX_HEADER {
            return Err(WebhookError::MalformedSignature("longer than any Stripe sends"));
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for element in header.split(',') {
            let Some((key, value)) = element.trim().split_once('=') else {
                return Err(WebhookError::MalformedSignature("an element is not key=value"));
            };
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(WebhookError::MalformedSignature("more than one timestamp"));
                    }
                    let t = value.parse::<i64>().map_err(|_| WebhookError::MalformedSignature("t is not a number"))?;
                    timestamp = Some(t);
                }
                "v1" => signatures.push(hex32(value).ok_or(WebhookError::MalformedSignature("a v1 is not 64 hex"))?),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(WebhookError::MalformedSignature("no timestamp (t=)"))?;
        if signatures.is_empty() {
            return Err(WebhookError::MalformedSignature("no v1 signature"));
        }
        Ok(Self { timestamp, signatures })
    }
}

fn mac(secret: &[u8], timestamp: i64, payload: &[u8]) -> Result<Hmac<Sha256>, WebhookError> {
    // HMAC takes keys of any length; the error exists for other MACs of the trait.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| WebhookError::MalformedSignature("the secret is not usable as an HMAC key"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Ok(mac)
}

/// Checks a delivery: some `v1` of `header` is the HMAC of `"<t>.<payload>"` under
/// `secret` (compared in constant time), and `t` is within [`TOLERANCE_SECONDS`] of
/// `now_s`. The signature is checked first, so a forged request never learns whether
/// its timestamp would have passed.
pub fn verify(payload: &[u8], header: &str, secret: &[u8], now_s: i64) -> Result<SignatureHeader, WebhookError> {
    let parsed = SignatureHeader::parse(header)?;
    let expected = mac(secret, parsed.timestamp, payload)?;
    let matches = parsed.signatures.iter().any(|candidate| expected.clone().verify_slice(candidate).is_ok());
    if !matches {
        return Err(WebhookError::SignatureMismatch);
    }
    if now_s.abs_diff(parsed.timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(WebhookError::Expired { timestamp: parsed.timestamp, now: now_s });
    }
    Ok(parsed)
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp`:
/// what tests and local replays of captured events use to produce valid deliveries.
pub fn sign(payload: &[u8], secret: &[u8], timestamp: i64) -> Result<String, WebhookError> {
    let digest = mac(secret, timestamp, payload)?.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("t={timestamp},v1={hex}"))
}

/// Who and what a payment is for: the `metadata` billing puts on the Checkout Session
/// or PaymentIntent it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTarget {
    /// `metadata.account_id`.
    pub account: AccountId,
    /// `metadata.invoice_id`, as text (the edge parses it into an invoice id).
    pub invoice: String,
}

/// What an event asks billing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeAction {
    /// Money arrived for an invoice (`checkout.session.completed` paid in full mode
    /// `payment`, or `payment_intent.succeeded`).
    PaymentSucceeded {
        /// The invoice and its account.
        target: PaymentTarget,
        /// Minor units received.
        amount: i64,
        /// ISO 4217 code, upper-case.
        currency: String,
        /// The PaymentIntent's id when known (the payment's provider reference), else
        /// the Checkout Session's.
        reference: String,
    },
    /// A payment attempt for an invoice failed.
    PaymentFailed {
        /// The invoice and its account.
        target: PaymentTarget,
        /// Minor units attempted (the PaymentIntent's `amount`).
        amount: i64,
        /// ISO 4217 code, upper-case.
        currency: String,
        /// The PaymentIntent's id.
        reference: String,
        /// `last_payment_error.message`, or a generic reason.
        reason: String,
    },
    /// A charge was refunded (in part or in full): `amount_refunded` is the charge's
    /// cumulative refunded total, not this refund's.
    ChargeRefunded {
        /// The PaymentIntent the charge belongs to (the payment's provider reference).
        payment_intent: String,
        /// Minor units refunded so far, in total.
        amount_refunded: i64,
        /// ISO 4217 code, upper-case.
        currency: String,
        /// The charge's `metadata` target when present.
        target: Option<PaymentTarget>,
    },
    /// Nothing to do; the reason is logged and the delivery acknowledged.
    Ignored(String),
}

/// A verified event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    /// `evt_…`: deliveries of one event share it, so it is the idempotency key.
    pub id: String,
    /// `type`, e.g. `payment_intent.succeeded`.
    pub event_type: String,
    /// What to do.
    pub action: StripeAction,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EnvelopeData,
}

#[derive(Debug, Deserialize)]
struct EnvelopeData {
    object: Value,
}

fn invalid(message: impl Into<String>) -> WebhookError {
    WebhookError::InvalidEvent(message.into())
}

fn text<'a>(object: &'a Value, field: &str) -> Result<&'a str, WebhookError> {
    object.get(field).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| invalid(format!("no {field}")))
}

fn amount(object: &Value, field: &str) -> Result<i64, WebhookError> {
    object
        .get(field)
        .and_then(Value::as_i64)
        .filter(|a| *a >= 0)
        .ok_or_else(|| invalid(format!("{field} is not a whole number of minor units")))
}

fn currency(object: &Value) -> Result<String, WebhookError> {
    let code = text(object, "currency")?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid("currency is not an ISO 4217 code"));
    }
    Ok(code.to_ascii_uppercase())
}

/// The target named by `object.metadata`, None when the metadata names none (the
/// payment is not one of billing's).
fn target(object: &Value) -> Result<Option<PaymentTarget>, WebhookError> {
    let metadata = object.get("metadata");
    let field = |name: &str| metadata.and_then(|m| m.get(name)).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (field("account_id"), field("invoice_id")) {
        (None, None) => Ok(None),
        (Some(account), Some(invoice)) => {
            let account =
                account.parse::<AccountId>().map_err(|_| invalid("metadata.account_id is not an account id"))?;
            Ok(Some(PaymentTarget { account, invoice: invoice.to_owned() }))
        }
        _ => Err(invalid("metadata names only one of account_id and invoice_id")),
    }
}

fn ignored(reason: impl Into<String>) -> StripeAction {
    StripeAction::Ignored(reason.into())
}

/// The id of an expandable field: a string, or an object with an `id`.
fn expandable_id(object: &Value, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(expanded) => expanded.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn checkout_completed(session: &Value) -> Result<StripeAction, WebhookError> {
    if session.get("mode").and_then(Value::as_str) != Some("payment") {
        return Ok(ignored("checkout session is not in payment mode"));
    }
    if session.get("payment_status").and_then(Value::as_str) != Some("paid") {
        return Ok(ignored("checkout session is not paid (yet)"));
    }
    let Some(target) = target(session)? else {
        return Ok(ignored("checkout session names no invoice"));
    };
    let reference = match expandable_id(session, "payment_intent") {
        Some(intent) => intent,
        None => text(session, "id")?.to_owned(),
    };
    Ok(StripeAction::PaymentSucceeded {
        target,
        amount: amount(session, "amount_total")?,
        currency: currency(session)?,
        reference,
    })
}

fn intent_succeeded(intent: &Value) -> Result<StripeAction, WebhookError> {
    let Some(target) = target(intent)? else {
        return Ok(ignored("payment intent names no invoice"));
    };
    Ok(StripeAction::PaymentSucceeded {
        target,
        amount: amount(intent, "amount_received")?,
        currency: currency(intent)?,
        reference: text(intent, "id")?.to_owned(),
    })
}

fn intent_failed(intent: &Value) -> Result<StripeAction, WebhookError> {
    let Some(target) = target(intent)? else {
        return Ok(ignored("payment intent names no invoice"));
    };
    let reason = intent
        .get("last_payment_error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or("the payment failed (Stripe gave no message)");
    Ok(StripeAction::PaymentFailed {
        target,
        amount: amount(intent, "amount")?,
        currency: currency(intent)?,
        reference: text(intent, "id")?.to_owned(),
        reason: reason.to_owned(),
    })
}

fn charge_refunded(charge: &Value) -> Result<StripeAction, WebhookError> {
    let Some(payment_intent) = expandable_id(charge, "payment_intent") else {
        return Ok(ignored("refunded charge belongs to no payment intent"));
    };
    Ok(StripeAction::ChargeRefunded {
        payment_intent,
        amount_refunded: amount(charge, "amount_refunded")?,
        currency: currency(charge)?,
        target: target(charge)?,
    })
}

/// Reads a verified body. Event types billing does not act on are
/// [`StripeAction::Ignored`], not errors (Stripe would retry an error for days).
pub fn parse_event(payload: &[u8]) -> Result<StripeEvent, WebhookError> {
    let envelope: Envelope =
        serde_json::from_slice(payload).map_err(|e| invalid(format!("not a Stripe event: {e}")))?;
    if envelope.id.is_empty() || envelope.id.len() > 255 {
        return Err(invalid("the event id is empty or too long"));
    }
    let object = &envelope.data.object;
    let action = match envelope.event_type.as_str() {
        "checkout.session.completed" => checkout_completed(object)?,
        "payment_intent.succeeded" => intent_succeeded(object)?,
        "payment_intent.payment_failed" => intent_failed(object)?,
        "charge.refunded" => charge_refunded(object)?,
        other => ignored(format!("event type {other} is not one billing acts on")),
    };
    Ok(StripeEvent { id: envelope.id, event_type: envelope.event_type, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const NOW: i64 = 1_795_687_200;

    fn account() -> AccountId {
        AccountId::derive("stripe-test")
    }

    /// A signature computed independently of this code, with
    /// `printf '%s' '1492774577.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_x`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        let header = sign(br#"{"id":"evt_1"}"#, b"whsec_x", 1_492_774_577).expect("sign");
        assert_eq!(header, "t=1492774577,v1=c0ffcc2b0139601649fbed64d79e27610c84a4b10494e342f890a8c3c7159570");
    }

    #[test]
    fn a_valid_delivery_passes_and_any_of_several_v1_may_match() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(body, SECRET, NOW).expect("sign");
        assert_eq!(verify(body, &good, SECRET, NOW).map(|h| h.timestamp), Ok(NOW));
        let v1 = good.split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let rolled = format!("t={NOW},v1={},v1={v1},v0=abc", "0".repeat(64));
        assert!(verify(body, &rolled, SECRET, NOW + 10).is_ok());
    }

    #[test]
    fn tampered_bodies_wrong_secrets_and_old_timestamps_are_refused() {
        let body = br#"{"id":"evt_1","amount":100}"#;
        let header = sign(body, SECRET, NOW).expect("sign");
        let e = verify(br#"{"id":"evt_1","amount":900}"#, &header, SECRET, NOW).expect_err("tampered");
        assert_eq!(e.code(), "invalid_signature");
        assert_eq!(verify(body, &header, b"whsec_other", NOW), Err(WebhookError::SignatureMismatch));
        let e = verify(body, &header, SECRET, NOW + TOLERANCE_SECONDS + 1).expect_err("old");
        assert_eq!(e.code(), "signature_expired");
        assert!(verify(body, &header, SECRET, NOW + TOLERANCE_SECONDS).is_ok());
        assert!(verify(body, &header, SECRET, NOW - TOLERANCE_SECONDS - 1).is_err(), "from the future");
        // A forged header with a fresh timestamp over the old signature fails the HMAC.
        let v1 = header.split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let moved = format!("t={},v1={v1}", NOW + 1000);
        assert_eq!(verify(body, &moved, SECRET, NOW + 1000), Err(WebhookError::SignatureMismatch));
    }

    #[test]
    fn secrets_are_trimmed_checked_and_never_printed() {
        let secret = WebhookSecret::new("whsec_0123456789abcdef\n").expect("secret");
        assert_eq!(secret.as_bytes(), b"whsec_0123456789abcdef");
        assert!(!format!("{secret:?}").contains("0123"));
        assert!(WebhookSecret::new("  short ").is_none());
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        for header in
            ["", "t=1", "v1=ab", "t=x,v1=00", "t=1,t=2,v1=00", "garbage", &format!("t=1,v1={}", "g".repeat(64))]
        {
            let e = SignatureHeader::parse(header).expect_err(header);
            assert_eq!(e.code(), "invalid_signature", "{header}");
        }
        assert!(SignatureHeader::parse(&"t=1,".repeat(2000)).is_err());
    }

    fn event(kind: &str, object: Value) -> Vec<u8> {
        serde_json::json!({"id": "evt_123", "object": "event", "type": kind, "data": {"object": object}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn checkout_sessions_paid_in_payment_mode_are_payments() {
        let metadata = serde_json::json!({"account_id": account().to_string(), "invoice_id": "inv_1"});
        let session = serde_json::json!({
            "id": "cs_1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "amount_total": 4900, "currency": "eur", "payment_intent": "pi_1", "metadata": metadata,
        });
        let parsed = parse_event(&event("checkout.session.completed", session.clone())).expect("event");
        assert_eq!(parsed.id, "evt_123");
        let expected = StripeAction::PaymentSucceeded {
            target: PaymentTarget { account: account(), invoice: "inv_1".into() },
            amount: 4900,
            currency: "EUR".into(),
            reference: "pi_1".into(),
        };
        assert_eq!(parsed.action, expected);
        let mut unpaid = session.clone();
        unpaid["payment_status"] = "unpaid".into();
        assert!(matches!(
            parse_event(&event("checkout.session.completed", unpaid)).map(|e| e.action),
            Ok(StripeAction::Ignored(_))
        ));
        let mut subscription = session;
        subscription["mode"] = "subscription".into();
        assert!(matches!(
            parse_event(&event("checkout.session.completed", subscription)).map(|e| e.action),
            Ok(StripeAction::Ignored(_))
        ));
    }

    #[test]
    fn payment_intents_succeed_fail_and_charges_refund() {
        let metadata = serde_json::json!({"account_id": account().to_string(), "invoice_id": "inv_2"});
        let intent = serde_json::json!({"id": "pi_2", "amount": 1000, "amount_received": 1000, "currency": "jpy", "metadata": metadata});
        let ok = parse_event(&event("payment_intent.succeeded", intent.clone())).expect("succeeded");
        assert!(
            matches!(ok.action, StripeAction::PaymentSucceeded { amount: 1000, ref currency, .. } if currency == "JPY")
        );
        let mut failed = intent;
        failed["last_payment_error"] = serde_json::json!({"message": "Your card was declined."});
        let failed = parse_event(&event("payment_intent.payment_failed", failed)).expect("failed");
        assert!(
            matches!(failed.action, StripeAction::PaymentFailed { ref reason, .. } if reason == "Your card was declined.")
        );
        let charge =
            serde_json::json!({"id": "ch_1", "payment_intent": "pi_2", "amount_refunded": 400, "currency": "jpy"});
        let refunded = parse_event(&event("charge.refunded", charge)).expect("refund");
        assert_eq!(
            refunded.action,
            StripeAction::ChargeRefunded {
                payment_intent: "pi_2".into(),
                amount_refunded: 400,
                currency: "JPY".into(),
                target: None
            }
        );
    }

    #[test]
    fn other_types_are_ignored_and_broken_events_are_invalid() {
        let other = parse_event(&event("customer.created", serde_json::json!({"id": "cus_1"}))).expect("other");
        assert!(matches!(other.action, StripeAction::Ignored(_)));
        assert_eq!(parse_event(b"not json").map_err(|e| e.code()), Err("invalid_event"));
        let bad_account = serde_json::json!({"id": "pi", "amount_received": 1, "currency": "eur",
            "metadata": {"account_id": "nope", "invoice_id": "inv"}});
        assert!(parse_event(&event("payment_intent.succeeded", bad_account)).is_err());
        let negative = serde_json::json!({"id": "pi", "amount_received": -5, "currency": "eur",
            "metadata": {"account_id": account().to_string(), "invoice_id": "inv"}});
        assert!(parse_event(&event("payment_intent.succeeded", negative)).is_err());
        let no_meta = serde_json::json!({"id": "pi", "amount_received": 5, "currency": "eur"});
        assert!(matches!(
            parse_event(&event("payment_intent.succeeded", no_meta)).map(|e| e.action),
            Ok(StripeAction::Ignored(_))
        ));
    }
}
