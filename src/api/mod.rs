//! The management API: one file per resource, each with its request and
//! response shapes beside its handlers. The admin token opens all of it; an
//! issuer token opens the keys, audit and usage of its own keys.

pub mod approvals;
pub mod audit;
pub mod budgets;
pub mod issuers;
pub mod key_changes;
pub mod keys;
mod query;
pub mod usage;
pub mod webhooks;

use serde_json::Value;
use sha2::{Digest, Sha256};
use worker::{Env, Request};

use crate::core::token::{constant_time_eq, hash_token, parse_issuer_token, ISSUER_TOKEN_PREFIX};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::EnvConfig;
use crate::issuer::{IssuerClient, IssuerRecord};
use crate::vendors::ConfigSource;

pub use query::Query;

/// The secret that opens the management API (and keys idempotent issuance).
pub const ADMIN_TOKEN: &str = "KEYBRAKE_ADMIN_TOKEN";

/// Who is calling the management API.
pub enum Caller {
    Admin,
    /// An issuer token: may issue keys inside its ceilings and see, audit
    /// and revoke only the keys it issued.
    Issuer(Box<IssuerRecord>),
}

impl Caller {
    /// The issuer whose keys a call is limited to; `None` for the admin.
    pub fn issuer_id(&self) -> Option<&str> {
        match self {
            Caller::Admin => None,
            Caller::Issuer(r) => Some(&r.id),
        }
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Issuer(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                "issuer tokens cannot do this; use the admin token",
            )),
        }
    }
}

/// Checks `Authorization: Bearer <token>`: the admin token, or an issuer
/// token (`kbi_…`), checked against its issuer's object on every call so a
/// revoked issuer is refused at once. A vault key never passes. The admin
/// path fails closed when no admin token is configured.
pub async fn authenticate(req: &Request, env: &Env, now: i64) -> ApiResult<Caller> {
    let presented = bearer(req).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "missing Authorization: Bearer <admin or issuer token>",
        )
    })?;
    if presented.starts_with(ISSUER_TOKEN_PREFIX) {
        let id = parse_issuer_token(&presented).map_err(|_| {
            ApiError::new(ErrorCode::Unauthorized, "this issuer token is not valid")
        })?;
        let record = IssuerClient::for_issuer(env, id.as_str())
            .map_err(keys::internal)?
            .auth(&hash_token(&presented).0, now)
            .await
            .map_err(keys::internal)?
            .map_err(|e| match e.code {
                ErrorCode::NotFound => {
                    ApiError::new(ErrorCode::Unauthorized, "this issuer token is not valid")
                }
                _ => e,
            })?;
        return Ok(Caller::Issuer(Box::new(record)));
    }
    let configured = EnvConfig(env)
        .get(ADMIN_TOKEN)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotConfigured,
                "KEYBRAKE_ADMIN_TOKEN is not set; the management API is closed",
            )
        })?;
    if !same_secret(&presented, &configured) {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "the admin token is not valid",
        ));
    }
    Ok(Caller::Admin)
}

/// The `Authorization: Bearer` token of a request, if any.
fn bearer(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization").ok().flatten()?;
    header.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

/// Compares digests, so neither the length nor the content of the
/// configured secret leaks through timing.
fn same_secret(presented: &str, configured: &str) -> bool {
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(configured.as_bytes()),
    );
    constant_time_eq(&a, &b)
}

/// Whether the request carries the admin token (no issuer, no error): for
/// answers that say more to the operator than to anyone (`/healthz`).
pub fn is_admin(req: &Request, env: &Env) -> bool {
    let configured = EnvConfig(env)
        .get(ADMIN_TOKEN)
        .filter(|t| !t.trim().is_empty());
    matches!((bearer(req), configured), (Some(p), Some(c)) if same_secret(&p, &c))
}

/// Reads a JSON object body whatever its Content-Type (the product brief's
/// examples send none). An empty body reads as `{}` when `empty_ok`.
pub async fn json_object(
    req: &mut Request,
    empty_ok: bool,
) -> ApiResult<serde_json::Map<String, Value>> {
    let body = req
        .text()
        .await
        .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
    if body.trim().is_empty() {
        return if empty_ok {
            Ok(Default::default())
        } else {
            Err(ApiError::bad_request(
                "the request body is empty; expected a JSON object",
            ))
        };
    }
    match serde_json::from_str(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Refuses fields the endpoint does not know, naming them: a typo such as
/// `daily_cap` must not silently fall back to a default.
pub fn reject_unknown(body: &serde_json::Map<String, Value>, known: &[&str]) -> ApiResult<()> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            k,
            format!("is not a known field (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// An optional string field.
pub fn opt_str(body: &serde_json::Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(field, "must be a string")),
    }
}
