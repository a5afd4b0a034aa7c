//! Vendors behind one small interface: how Keybrake authenticates upstream,
//! how it shapes the request body, how it prices a call, and how its errors
//! look to the vendor's own SDK. Adding a vendor is adding a file here and a
//! line in `vendor_for`. Nothing in this module touches the runtime.

pub mod resend;
pub mod stripe;
pub mod twilio;

use crate::core::constraints::CallFacts;
use std::cell::OnceCell;

use crate::core::currency::RateTable;
use crate::core::endpoint::CanonicalPath;
use crate::core::form::FormBody;
use crate::core::money::Money;
use crate::core::token::KeyId;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a call costs, as far as the request alone can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Charge {
    /// Moves no money (reads, metadata updates, cancellations).
    Free,
    /// Moves a stated amount. The object it creates is remembered by the key
    /// so later steps on it (confirm, capture) are not charged again.
    Amount {
        usd: Money,
        /// The amount as the vendor states it, in the currency's minor unit.
        minor: u64,
    },
    /// A metered use with nothing to follow up (an SMS, an email).
    Usage { usd: Money },
    /// A step on an existing object (`/v1/payment_intents/pi_1/capture`).
    /// Free up to what this key already priced for it; an increase is
    /// charged pro rata; an object this key did not create cannot be priced
    /// unless `unknown_is_free` (the step moves no money by itself).
    FollowUp {
        object: String,
        minor: Option<u64>,
        unknown_is_free: bool,
    },
}

/// The parts of a proxied request a vendor looks at.
pub struct PricingInput<'a> {
    pub method: &'a str,
    pub path: &'a CanonicalPath,
    /// The body exactly as it will be forwarded.
    pub body: &'a [u8],
    pub rates: &'a RateTable,
    /// For configurable unit prices (`TWILIO_SMS_USD_PER_SEGMENT`, …).
    pub config: &'a dyn ConfigSource,
    /// The body read once, by whichever of `price` and `facts` asks first.
    form: OnceCell<Result<FormBody, String>>,
    json: OnceCell<Option<Value>>,
}

impl<'a> PricingInput<'a> {
    pub fn new(
        method: &'a str,
        path: &'a CanonicalPath,
        body: &'a [u8],
        rates: &'a RateTable,
        config: &'a dyn ConfigSource,
    ) -> PricingInput<'a> {
        PricingInput {
            method,
            path,
            body,
            rates,
            config,
            form: OnceCell::new(),
            json: OnceCell::new(),
        }
    }

    /// The body as a form, strictly decoded (parsed on first use).
    pub fn form(&self) -> Result<&FormBody, String> {
        self.form
            .get_or_init(|| FormBody::parse_strict(self.body))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The body as JSON, or `None` when it is not (parsed on first use).
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }
}

/// Reads configuration by name (Worker Secrets and vars in production, a map
/// in tests).
pub trait ConfigSource {
    fn get(&self, name: &str) -> Option<String>;
}

pub trait Vendor: Sync {
    /// The path prefix and the `vendor` of a key: `stripe`.
    fn name(&self) -> &'static str;

    /// Where the real API lives by default: `https://api.stripe.com`.
    fn default_api_base(&self) -> &'static str;

    /// The upstream base URL: `<VENDOR>_API_BASE` when set (tests point it
    /// at a local fake), the vendor's own otherwise.
    fn api_base(&self, config: &dyn ConfigSource) -> String {
        let var = format!("{}_API_BASE", self.name().to_ascii_uppercase());
        config
            .get(&var)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.default_api_base().to_owned())
    }

    /// The real credential, as the `Authorization` header value to forward.
    fn upstream_authorization(&self, config: &dyn ConfigSource) -> ApiResult<String>;

    /// Headers whose value scopes the call to another account; forwarded
    /// only when the key lists the value in `allowed_accounts`.
    fn account_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// A response header through which the vendor's SDK learns whether to
    /// retry (`Stripe-Should-Retry`); set to `false` on every denial.
    fn retry_hint_header(&self) -> Option<&'static str> {
        None
    }

    /// The header that makes a retry safe, when the vendor has one.
    fn idempotency_header(&self) -> Option<&'static str> {
        None
    }

    /// The path as it will be forwarded: Twilio's per-key placeholder
    /// account SID becomes the real one. Refuses paths naming an account
    /// the operator did not configure.
    fn forward_path(
        &self,
        path: CanonicalPath,
        key: &KeyId,
        config: &dyn ConfigSource,
    ) -> ApiResult<CanonicalPath> {
        let _ = (key, config);
        Ok(path)
    }

    /// Extra fields of the issuance answer for a key of this vendor.
    fn issued_fields(&self, key: &KeyId) -> serde_json::Map<String, Value> {
        let _ = key;
        serde_json::Map::new()
    }

    /// Rewrites the client's body into what the vendor accepts; returns the
    /// new body and its content type when it changed.
    fn prepare_body(
        &self,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> ApiResult<(Vec<u8>, Option<&'static str>)> {
        let _ = content_type;
        Ok((body, None))
    }

    fn price(&self, input: &PricingInput<'_>) -> ApiResult<Charge>;

    /// What the call states that a key's constraints judge: currency,
    /// customer and metadata (Stripe), recipients and sender (Twilio,
    /// Resend). Read from the body as it will be forwarded.
    fn facts(&self, input: &PricingInput<'_>) -> CallFacts {
        let _ = input;
        CallFacts::default()
    }

    /// The id of the object a successful money-moving call created.
    fn created_object_id(&self, response_body: &[u8]) -> Option<String> {
        // Only `id` is kept; the rest is skipped, not built into a tree.
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        serde_json::from_slice::<Created>(response_body)
            .ok()
            .map(|c| c.id)
    }

    /// The error body the vendor's SDK understands, carrying Keybrake's code.
    fn error_body(&self, error: &ApiError) -> Value;
}

/// Every vendor Keybrake can proxy.
static VENDORS: [&dyn Vendor; 3] = [&stripe::Stripe, &twilio::Twilio, &resend::Resend];

/// The vendor named by a key's `vendor` or a proxy path's first segment.
pub fn vendor_for(name: &str) -> Option<&'static dyn Vendor> {
    VENDORS.iter().copied().find(|v| v.name() == name)
}

/// Names of every vendor Keybrake can proxy, for error messages.
pub fn vendor_names() -> String {
    VENDORS
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configured unit price in dollars, or its default.
pub fn unit_price(config: &dyn ConfigSource, name: &str, default: &str) -> ApiResult<Money> {
    let text = config.get(name).filter(|v| !v.trim().is_empty());
    Money::parse_usd(text.as_deref().unwrap_or(default))
        .map_err(|e| ApiError::new(ErrorCode::NotConfigured, format!("{name} {e}")))
}

/// Multiplies a unit price by a count, refusing overflow.
pub fn times(unit: Money, count: u64) -> ApiResult<Money> {
    unit.micros()
        .checked_mul(count)
        .map(Money::from_micros)
        .ok_or_else(|| ApiError::unpriceable("the call's cost is too large"))
}

/// Configuration from a list of pairs, for host tests.
#[cfg(test)]
pub struct MapConfig(pub Vec<(&'static str, &'static str)>);

#[cfg(test)]
impl ConfigSource for MapConfig {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// Reads a required secret or fails closed with `not_configured`.
pub fn required(config: &dyn ConfigSource, name: &str) -> ApiResult<String> {
    config
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotConfigured,
                format!("Keybrake has no {name} configured"),
            )
        })
}
