//! The life of one proxied call, top to bottom:
//!
//! 1. authenticate: the token's shape and checksum, offline
//! 2. route: the vendor path exactly as it will be forwarded
//! 3. price: the vendor reads the money the call moves from its body
//! 4. reserve: the key's Durable Object checks the key and reserves the cost
//!    against today's cap, recording the audit row
//! 5. forward: the real secret replaces the vault key
//! 6. settle: keep (2xx, 5xx, no answer) or release (4xx)
//! 7. respond: the vendor's answer plus Keybrake's headers; the audit row
//!    reaches D1 through the object's alarm
//!
//! One Durable Object round-trip before forwarding and none to D1.

use std::time::Duration;

use base64::Engine;
use futures_util::future::{select, Either};
use sha2::{Digest, Sha256};
use worker::{
    Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder, Result,
};

use crate::core::currency::RateTable;
use crate::core::endpoint::canonicalize;
use crate::core::money::Money;
use crate::core::token::{hash_token, hex, parse_token, request_id, TOKEN_PREFIX};
use crate::error::{ApiError, ErrorCode};
use crate::http::{now_ms, EnvConfig};
use crate::ledger::{Attempt, Decision, Settlement};
use crate::store::{self, AuditRow};
use crate::vault_key::VaultKeyClient;
use crate::vendors::{Charge, ConfigSource, PricingInput, Vendor};

/// How long Keybrake waits for the vendor before answering 502 (the
/// reservation is kept: the vendor may still act on the call).
pub const UPSTREAM_TIMEOUT_MS: u64 = 60_000;
/// Largest request body Keybrake will read and price.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Request headers never forwarded: the client's credential, hop-by-hop
/// headers, and what the edge adds about the client.
fn forwardable(name: &str) -> bool {
    !(matches!(
        name,
        "authorization"
            | "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "cookie"
            | "forwarded"
            | "x-real-ip"
            | "true-client-ip"
    ) || name.starts_with("cf-")
        || name.starts_with("x-forwarded-")
        || name.starts_with("proxy-")
        || name.starts_with("keybrake-"))
}

pub async fn handle(
    mut req: Request,
    env: Env,
    ctx: Context,
    vendor: &'static dyn Vendor,
    vendor_path: &str,
) -> Result<Response> {
    let request_id = request_id();
    let now = now_ms();
    let method = req.method().to_string();
    let config = EnvConfig(&env);

    // 1. authenticate
    let token = presented_token(req.headers());
    let key_id = match token.as_deref().map(parse_token) {
        Some(Ok(id)) => id,
        _ => {
            let error = ApiError::new(
                ErrorCode::InvalidKey,
                "send a Keybrake vault key (kbk_…) as Authorization: Bearer",
            );
            audit_orphan(
                &ctx,
                &env,
                &request_id,
                None,
                vendor,
                &method,
                vendor_path,
                &error,
                now,
            );
            return deny(vendor, &error, &request_id, None);
        }
    };
    let token = token.unwrap_or_default();

    // 2. route: the path exactly as it will be forwarded
    let path = canonicalize(vendor_path)
        .map_err(|e| ApiError::bad_request(format!("refused: {e}")))
        .and_then(|p| vendor.forward_path(p, &key_id, &config));
    let forward_path = path.as_ref().map_or(vendor_path, |p| p.as_str()).to_owned();

    // 3. price
    let content_type = req.headers().get("content-type")?;
    let body = read_body(&mut req).await;
    let prepared = body.and_then(|b| vendor.prepare_body(content_type.as_deref(), b));
    let (forward_body, new_content_type) = match &prepared {
        Ok((b, ct)) => (b.as_slice(), *ct),
        Err(_) => (&[][..], None),
    };
    let upstream_auth = vendor.upstream_authorization(&config);
    let charge = match (&path, &prepared, &upstream_auth) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.clone()),
        (Ok(path), Ok(_), Ok(_)) => rate_table(&config).and_then(|rates| {
            vendor.price(&PricingInput {
                method: &method,
                path,
                body: forward_body,
                rates: &rates,
                config: &config,
            })
        }),
    };
    let query = req.url()?.query().map(str::to_owned);
    let account = vendor
        .account_headers()
        .iter()
        .find_map(|h| req.headers().get(h).ok().flatten());
    let idempotency_key = vendor
        .idempotency_header()
        .and_then(|h| req.headers().get(h).ok().flatten());

    // 4. reserve
    let attempt = Attempt {
        request_id: request_id.clone(),
        token_hash: hash_token(&token).0,
        vendor: vendor.name().to_owned(),
        method: method.clone(),
        path: forward_path.clone(),
        charge: charge.clone(),
        account,
        idempotency_key,
        fingerprint: fingerprint(&method, &forward_path, query.as_deref(), forward_body),
        now,
    };
    let object = VaultKeyClient::for_key(&env, key_id.as_str())?;
    let (cost, remaining) = match object.authorize(&attempt).await? {
        Decision::Allowed { cost, remaining } => (cost, remaining),
        Decision::Denied { error, audited } => {
            if !audited {
                audit_orphan(
                    &ctx,
                    &env,
                    &request_id,
                    Some(key_id.as_str()),
                    vendor,
                    &method,
                    vendor_path,
                    &error,
                    now,
                );
            }
            return deny(vendor, &error, &request_id, Some(key_id.as_str()));
        }
    };
    // Allowed means every check above passed.
    let (Ok(charge), Ok(path), Ok(auth)) = (charge, path, upstream_auth) else {
        return Err(worker::Error::RustError(
            "allowed an attempt that failed a check".into(),
        ));
    };

    // 5. forward
    let mut url = format!(
        "{}{}",
        vendor.api_base(&config).trim_end_matches('/'),
        path.as_str()
    );
    if let Some(q) = &query {
        url.push('?');
        url.push_str(q);
    }
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if forwardable(&name) {
            headers.append(&name, &value)?;
        }
    }
    headers.set("authorization", &auth)?;
    if let Some(ct) = new_content_type {
        headers.set("content-type", ct)?;
    }
    let upstream = send(&url, &method, headers, forward_body).await;

    // 6. settle
    let (status, upstream) = match upstream {
        Ok(response) => (Some(response.status_code()), Some(response)),
        Err(e) => {
            worker::console_error!("{request_id}: {} unreachable: {e}", vendor.name());
            (None, None)
        }
    };
    let mut fixed_body = None;
    let mut created_object = None;
    let mut upstream = upstream;
    if let (Charge::Amount { .. }, Some(response), Some(200..=299)) =
        (&charge, upstream.as_mut(), status)
    {
        let bytes = response.bytes().await?;
        created_object = vendor.created_object_id(&bytes);
        fixed_body = Some(bytes);
    }
    let settlement = Settlement {
        request_id: request_id.clone(),
        upstream_status: status,
        created_object,
        now: now_ms(),
    };
    // A priced call settles before the client hears back, so a released
    // cap or a newly paid object is visible to its very next call. A free
    // call settles off the response path.
    let (cost, remaining) = if cost > Money::ZERO || charge != Charge::Free {
        match object.settle(&settlement).await {
            Ok(settled) => (settled.cost, settled.remaining),
            // The vendor has answered: its answer goes back whatever happens
            // here. The object's alarm resolves the reservation (kept).
            Err(e) => {
                worker::console_error!("settle of {request_id} failed: {e}");
                (cost, remaining)
            }
        }
    } else {
        let env = env.clone();
        let key = key_id.as_str().to_owned();
        ctx.wait_until(async move {
            let settled = match VaultKeyClient::for_key(&env, &key) {
                Ok(o) => o.settle(&settlement).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = settled {
                // The object's alarm resolves it after its deadline.
                worker::console_error!("settle of {} failed: {e}", settlement.request_id);
            }
        });
        (cost, remaining)
    };

    // 7. respond
    let Some(upstream) = upstream else {
        let error = ApiError::new(
            ErrorCode::UpstreamUnreachable,
            format!(
                "{} did not answer; the call may or may not have been made",
                vendor.name()
            ),
        );
        return deny(vendor, &error, &request_id, Some(key_id.as_str()));
    };
    let status = upstream.status_code();
    let headers = Headers::new();
    for (name, value) in upstream.headers().entries() {
        if fixed_body.is_none() || name != "content-length" {
            headers.append(&name, &value)?;
        }
    }
    keybrake_headers(&headers, &request_id, Some(key_id.as_str()))?;
    headers.set("keybrake-cost-usd", &cost.to_string())?;
    headers.set("keybrake-remaining-usd", &remaining.to_string())?;
    let (_, body) = upstream.into_parts();
    let builder = ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers);
    Ok(match fixed_body {
        Some(bytes) => builder.fixed(bytes),
        None => builder.body(body),
    })
}

/// The vault key from `Authorization: Bearer <key>` or Basic auth, where it
/// may be the username (Stripe's form) or the password (Twilio's SDK sends
/// the account SID as username).
fn presented_token(headers: &Headers) -> Option<String> {
    let value = headers.get("authorization").ok()??;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
        let token = if pass.starts_with(TOKEN_PREFIX) {
            pass
        } else {
            user
        };
        return Some(token.to_owned());
    }
    None
}

async fn read_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.parse::<usize>().is_ok_and(|n| n > MAX_BODY_BYTES) {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is over {MAX_BODY_BYTES} bytes"),
            ));
        }
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

fn rate_table(config: &dyn ConfigSource) -> std::result::Result<RateTable, ApiError> {
    match config.get("KEYBRAKE_USD_RATES") {
        None => Ok(RateTable::default()),
        Some(json) if json.trim().is_empty() => Ok(RateTable::default()),
        Some(json) => RateTable::parse(&json).map_err(|e| {
            ApiError::new(
                ErrorCode::NotConfigured,
                format!("KEYBRAKE_USD_RATES is invalid: {e}"),
            )
        }),
    }
}

fn fingerprint(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"?");
    h.update(query.unwrap_or("").as_bytes());
    h.update(b"\n");
    h.update(body);
    hex(&h.finalize())
}

/// Sends the call upstream, giving up after `UPSTREAM_TIMEOUT_MS`.
/// Redirects are not followed: the real secret goes to the vendor only.
async fn send(url: &str, method: &str, headers: Headers, body: &[u8]) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::from(method.to_owned()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    let request = Request::new_with_init(url, &init)?;
    let fetch = Fetch::Request(request);
    let call = Box::pin(fetch.send());
    let timeout = Box::pin(Delay::from(Duration::from_millis(UPSTREAM_TIMEOUT_MS)));
    let outcome = match select(call, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {UPSTREAM_TIMEOUT_MS} ms"
        ))),
    };
    outcome
}

fn keybrake_headers(headers: &Headers, request_id: &str, key_id: Option<&str>) -> Result<()> {
    if !request_id.is_empty() {
        headers.set("keybrake-request-id", request_id)?;
    }
    if let Some(id) = key_id {
        headers.set("keybrake-key-id", id)?;
    }
    Ok(())
}

/// A denial in the vendor's error shape, telling its SDK not to retry
/// unless retrying can help.
pub fn deny(
    vendor: &dyn Vendor,
    error: &ApiError,
    request_id: &str,
    key_id: Option<&str>,
) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    keybrake_headers(&headers, request_id, key_id)?;
    if let Some(h) = vendor.retry_hint_header() {
        headers.set(
            h,
            if error.code.retryable() {
                "true"
            } else {
                "false"
            },
        )?;
    }
    Ok(ResponseBuilder::new()
        .with_status(error.status())
        .with_headers(headers)
        .fixed(serde_json::to_vec(&vendor.error_body(error))?))
}

/// Audits an attempt no key's object could hold (a malformed token, or an
/// id that was never issued), straight to D1 off the response path.
#[allow(clippy::too_many_arguments)]
fn audit_orphan(
    ctx: &Context,
    env: &Env,
    request_id: &str,
    key_id: Option<&str>,
    vendor: &dyn Vendor,
    method: &str,
    path: &str,
    error: &ApiError,
    now: i64,
) {
    let row = AuditRow {
        id: request_id.to_owned(),
        key_id: key_id.map(str::to_owned),
        label: None,
        vendor: Some(vendor.name().to_owned()),
        method: method.to_owned(),
        path: path.chars().take(512).collect(),
        decision: "denied".into(),
        code: Some(error.code.as_str().to_owned()),
        message: Some(error.message.clone()),
        upstream_status: None,
        cost_micros: 0,
        created_at: now,
    };
    let env = env.clone();
    ctx.wait_until(async move {
        let written = match env.d1(store::DB) {
            Ok(db) => store::write_orphan_audit(&db, &row).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            worker::console_error!("audit of {} failed: {e}", row.id);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_and_edge_headers_are_not_forwarded() {
        for h in [
            "authorization",
            "cookie",
            "cf-connecting-ip",
            "x-forwarded-for",
            "host",
            "keybrake-anything",
        ] {
            assert!(!forwardable(h), "{h}");
        }
        for h in [
            "stripe-version",
            "idempotency-key",
            "content-type",
            "user-agent",
        ] {
            assert!(forwardable(h), "{h}");
        }
    }

    #[test]
    fn fingerprints_differ_by_body() {
        assert_ne!(
            fingerprint("POST", "/v1/x", None, b"amount=1"),
            fingerprint("POST", "/v1/x", None, b"amount=2")
        );
        assert_eq!(
            fingerprint("POST", "/v1/x", None, b"a"),
            fingerprint("POST", "/v1/x", None, b"a")
        );
    }
}
