//! Every error Keybrake itself answers with: one typed code, one HTTP status,
//! one place. Vendors only choose the body's shape (see `Vendor::error_body`)
//! so that their official SDKs surface Keybrake's `code`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Serialized as its name (`cap_exhausted`), by hand below: a derived
/// deserializer for this many variants weighed several KB of wasm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Management API without a valid admin token.
    Unauthorized,
    InvalidKey,
    KeyExpired,
    KeyRevoked,
    /// The key is paused; it may be resumed, so retrying later can help.
    KeyPaused,
    EndpointNotAllowed,
    VendorMismatch,
    /// The call names an account (Stripe-Account, a Twilio account SID)
    /// the key may not act for.
    AccountNotAllowed,
    CapExhausted,
    /// The call breaks one of the key's `constraints` (named in `param`).
    ConstraintViolated,
    /// The key's `rate_limit` is used up for now; retrying later helps.
    RateLimited,
    BadRequest,
    UnpriceableRequest,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// An issuer token asked for a key outside its ceilings (named in `param`).
    CeilingExceeded,
    /// The caller is authenticated but may not do this (an issuer token on
    /// the issuer routes).
    Forbidden,
    /// An `Idempotency-Key` reused with a different request.
    IdempotencyConflict,
    /// The call is priced above the key's `approval_above_usd`: a person
    /// must approve this exact request first (`approval_id`).
    ApprovalRequired,
    /// An approval already decided, used or expired.
    ApprovalClosed,
    UpstreamUnreachable,
    NotConfigured,
    InternalError,
}

impl ErrorCode {
    /// Policy decisions are never 409 or 5xx: SDKs retry those.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | UnpriceableRequest => 400,
            Unauthorized | InvalidKey | KeyExpired | KeyRevoked => 401,
            EndpointNotAllowed | VendorMismatch | AccountNotAllowed | ConstraintViolated
            | CeilingExceeded | Forbidden | ApprovalRequired => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            PayloadTooLarge => 413,
            KeyPaused => 423,
            IdempotencyConflict | ApprovalClosed => 409,
            CapExhausted | RateLimited => 429,
            InternalError => 500,
            UpstreamUnreachable => 502,
            NotConfigured => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Unauthorized => "unauthorized",
            InvalidKey => "invalid_key",
            KeyExpired => "key_expired",
            KeyRevoked => "key_revoked",
            KeyPaused => "key_paused",
            EndpointNotAllowed => "endpoint_not_allowed",
            VendorMismatch => "vendor_mismatch",
            AccountNotAllowed => "account_not_allowed",
            CapExhausted => "cap_exhausted",
            ConstraintViolated => "constraint_violated",
            RateLimited => "rate_limited",
            BadRequest => "bad_request",
            UnpriceableRequest => "unpriceable_request",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            IdempotencyConflict => "idempotency_conflict",
            ApprovalRequired => "approval_required",
            ApprovalClosed => "approval_closed",
            CeilingExceeded => "ceiling_exceeded",
            Forbidden => "forbidden",
            UpstreamUnreachable => "upstream_unreachable",
            NotConfigured => "not_configured",
            InternalError => "internal_error",
        }
    }

    /// Whether a client retrying the same request could succeed: an
    /// unreachable upstream, a rate limit once its window moves on, a
    /// paused key once a person resumes it (a Workflow step can wait). A
    /// cap, a revoked key or a bad path will say the same thing again.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::UpstreamUnreachable | ErrorCode::RateLimited | ErrorCode::KeyPaused
        )
    }
}

impl ErrorCode {
    /// Every code, for reading one back from its name.
    pub const ALL: [ErrorCode; 24] = {
        use ErrorCode::*;
        [
            Unauthorized,
            InvalidKey,
            KeyExpired,
            KeyRevoked,
            KeyPaused,
            EndpointNotAllowed,
            VendorMismatch,
            AccountNotAllowed,
            CapExhausted,
            ConstraintViolated,
            RateLimited,
            BadRequest,
            UnpriceableRequest,
            NotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            CeilingExceeded,
            Forbidden,
            IdempotencyConflict,
            ApprovalRequired,
            ApprovalClosed,
            UpstreamUnreachable,
            NotConfigured,
            InternalError,
        ]
    };
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ErrorCode, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {name:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The approval a call waits for (`approval_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            param: None,
            approval_id: None,
        }
    }

    /// Malformed input: names the field and what is wrong with it.
    pub fn field(param: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError {
            code: ErrorCode::BadRequest,
            message: format!("{param} {problem}"),
            param: Some(param.to_owned()),
            approval_id: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn unpriceable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::UnpriceableRequest, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InternalError, message)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Keybrake's own shape: `{"code", "message", "param"?}`.
    pub fn plain_body(&self) -> Value {
        let mut body = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(p) = &self.param {
            body["param"] = json!(p);
        }
        if let Some(a) = &self.approval_id {
            body["approval_id"] = json!(a);
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_denials_are_never_retry_bait() {
        use ErrorCode::*;
        for code in [
            InvalidKey,
            KeyExpired,
            KeyRevoked,
            EndpointNotAllowed,
            VendorMismatch,
            AccountNotAllowed,
            CapExhausted,
            BadRequest,
            UnpriceableRequest,
        ] {
            let s = code.status();
            assert!(s < 500 && s != 409, "{code:?} -> {s}");
            assert!(!code.retryable());
        }
        assert_eq!(CapExhausted.status(), 429);
    }

    #[test]
    fn codes_serialize_as_their_names() {
        let e = ApiError::new(ErrorCode::CapExhausted, "x");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "cap_exhausted");
        assert_eq!(e.plain_body()["code"], "cap_exhausted");
        assert_eq!(
            serde_json::from_value::<ApiError>(v).unwrap().code,
            ErrorCode::CapExhausted
        );
    }

    #[test]
    fn every_code_reads_back_from_its_name() {
        // `ALL` lists each variant once: a code missing from it could not be
        // read back, and one listed twice would show here.
        let names: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let text = serde_json::to_string(&code).unwrap();
            assert_eq!(text, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&text).unwrap(), code);
        }
        assert!(serde_json::from_str::<ErrorCode>("\"nope\"").is_err());
        // A variant added without a place in ALL fails to compile here.
        let _exhaustive = |c: ErrorCode| match c {
            ErrorCode::Unauthorized
            | ErrorCode::InvalidKey
            | ErrorCode::KeyExpired
            | ErrorCode::KeyRevoked
            | ErrorCode::KeyPaused
            | ErrorCode::EndpointNotAllowed
            | ErrorCode::VendorMismatch
            | ErrorCode::AccountNotAllowed
            | ErrorCode::CapExhausted
            | ErrorCode::ConstraintViolated
            | ErrorCode::RateLimited
            | ErrorCode::BadRequest
            | ErrorCode::UnpriceableRequest
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::PayloadTooLarge
            | ErrorCode::CeilingExceeded
            | ErrorCode::Forbidden
            | ErrorCode::IdempotencyConflict
            | ErrorCode::ApprovalRequired
            | ErrorCode::ApprovalClosed
            | ErrorCode::UpstreamUnreachable
            | ErrorCode::NotConfigured
            | ErrorCode::InternalError => (),
        };
    }

    #[test]
    fn field_errors_name_the_field() {
        let e = ApiError::field("daily_usd_cap", "must be above zero");
        assert_eq!(e.message, "daily_usd_cap must be above zero");
        assert_eq!(e.plain_body()["param"], "daily_usd_cap");
    }
}
