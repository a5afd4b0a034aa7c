//! `/v1/keys`: issue, read, list and revoke vault keys.

use futures_util::future::{join, join_all};
use serde_json::{json, Map, Value};
use worker::{Env, Request, Response};

use super::{json_object, opt_str, reject_unknown, Caller, Query};
use crate::budget::issuer_budget_id;
use crate::core::ceilings::{account_list, KeyAsk};
use crate::core::constraints::Constraints;
use crate::core::currency::RateTable;
use crate::core::duration::{format_secs, parse_duration_secs, parse_ttl_secs};
use crate::core::endpoint::Allowlist;
use crate::core::money::Money;
use crate::core::time::{to_rfc3339, utc_day};
use crate::core::token::{derive_idempotent, mint_token, KeyId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::{self, EnvConfig};
use crate::issuer::IssuerClient;
use crate::ledger::{KeyRecord, KeyStatus};
use crate::store::{self, Cursor, KeyQuery, KeyRow};
use crate::vault_key::{Faults, KeyState, VaultKeyClient};
use crate::vendors::{vendor_for, vendor_names, ConfigSource};

const CREATE_FIELDS: &[&str] = &[
    "label",
    "vendor",
    "allowed_endpoints",
    "allowed_accounts",
    "daily_usd_cap",
    "expires_in",
    "constraints",
];
const DEFAULT_MAX_TTL: &str = "24h";
const MAX_LABEL_CHARS: usize = 200;

/// A validated `POST /v1/keys` body.
struct NewKey {
    label: String,
    vendor: String,
    allowlist: Allowlist,
    allowed_accounts: Vec<String>,
    daily_cap: Money,
    ttl_secs: u64,
    constraints: Option<Constraints>,
}

impl NewKey {
    /// A digest of the policy as parsed, for idempotent retries: the same
    /// policy however it was spelled (`"5m"` or `300`, `10` or `"10.00"`).
    fn fingerprint(&self) -> String {
        let canonical = json!([
            self.label,
            self.vendor,
            self.allowlist.entries(),
            self.allowed_accounts,
            self.daily_cap.micros(),
            self.ttl_secs,
            self.constraints,
        ]);
        crate::core::token::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            canonical.to_string().as_bytes(),
        ))
    }
}

fn parse_new_key(
    body: &Map<String, Value>,
    max_ttl_secs: u64,
    rates: &RateTable,
) -> ApiResult<NewKey> {
    reject_unknown(body, CREATE_FIELDS)?;
    let label = opt_str(body, "label")?.ok_or_else(|| ApiError::field("label", "is required"))?;
    if label.trim().is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::field(
            "label",
            format!("must be 1 to {MAX_LABEL_CHARS} characters"),
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::field(
            "label",
            "must not contain control characters",
        ));
    }
    let vendor =
        opt_str(body, "vendor")?.ok_or_else(|| ApiError::field("vendor", "is required"))?;
    if vendor_for(&vendor).is_none() {
        return Err(ApiError::field(
            "vendor",
            format!(
                "{vendor:?} is not supported (supported: {})",
                vendor_names()
            ),
        ));
    }
    let allowlist = match body.get("allowed_endpoints") {
        Some(Value::Array(items)) => {
            let entries = items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        ApiError::field("allowed_endpoints", "must contain only strings")
                    })
                })
                .collect::<ApiResult<Vec<&str>>>()?;
            Allowlist::parse(&entries).map_err(|e| ApiError::field("allowed_endpoints", e))?
        }
        Some(_) => {
            return Err(ApiError::field(
                "allowed_endpoints",
                "must be an array of endpoint patterns",
            ))
        }
        None => return Err(ApiError::field("allowed_endpoints", "is required")),
    };
    let allowed_accounts = account_list(body.get("allowed_accounts"))
        .map_err(|e| ApiError::field("allowed_accounts", e))?;
    let daily_cap = Money::from_json_limit(
        body.get("daily_usd_cap")
            .ok_or_else(|| ApiError::field("daily_usd_cap", "is required"))?,
    )
    .map_err(|e| ApiError::field("daily_usd_cap", e))?;
    let ttl_secs = match body.get("expires_in") {
        Some(v) => expires_in(v, max_ttl_secs)?,
        None => return Err(ApiError::field("expires_in", "is required")),
    };
    let constraints = match body.get("constraints") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            Constraints::parse(v, &vendor, &|c| rates.to_usd(1, c).is_ok())
                .map_err(|(field, problem)| ApiError::field(&field, problem))?,
        ),
    };
    Ok(NewKey {
        label,
        vendor,
        allowlist,
        allowed_accounts,
        daily_cap,
        ttl_secs,
        constraints,
    })
}

/// `expires_in`: a duration (`"5m"`) or whole seconds, at most `max_secs`.
pub(super) fn expires_in(value: &Value, max_secs: u64) -> ApiResult<u64> {
    use crate::core::duration::DurationError;
    match value {
        Value::String(s) => parse_ttl_secs(s, max_secs),
        Value::Number(n) => match n.as_u64() {
            Some(0) | None => Err(DurationError::Malformed),
            Some(secs) if secs > max_secs => Err(DurationError::TooLong { max_secs }),
            Some(secs) => Ok(secs),
        },
        _ => {
            return Err(ApiError::field(
                "expires_in",
                "must be a duration such as \"5m\"",
            ))
        }
    }
    .map_err(|e| ApiError::field("expires_in", e))
}

pub fn max_ttl_secs(env: &Env) -> ApiResult<u64> {
    let text = EnvConfig(env)
        .get("KEYBRAKE_MAX_TTL")
        .unwrap_or_else(|| DEFAULT_MAX_TTL.into());
    parse_duration_secs(&text).map_err(|e| ApiError::internal(format!("KEYBRAKE_MAX_TTL {e}")))
}

/// A key as every answer shows it, with its vendor's extra fields (a
/// Twilio key's `account_sid`).
pub(super) fn record_json(r: &KeyRecord, now: i64) -> Value {
    let mut v = json!({
        "id": r.id,
        "label": r.label,
        "vendor": r.vendor,
        "allowed_endpoints": r.allowed_endpoints,
        "allowed_accounts": r.allowed_accounts,
        "daily_usd_cap": r.daily_cap.to_json(),
        "created_at": to_rfc3339(r.created_at),
        "expires_at": to_rfc3339(r.expires_at),
        "expiresAt": r.expires_at,
        "revoked_at": r.revoked_at.map(to_rfc3339),
        "paused_at": r.paused_at.map(to_rfc3339),
        "status": r.status(now).as_str(),
        "constraints": r.constraints.as_ref().map(Constraints::to_json),
        "issuer_id": r.issuer_id,
    });
    if let (Some(vendor), Some(id)) = (vendor_for(&r.vendor), KeyId::parse(&r.id)) {
        for (name, value) in vendor.issued_fields(&id) {
            v[name] = value;
        }
    }
    v
}

pub(super) fn state_json(s: &KeyState, now: i64) -> Value {
    let mut v = record_json(&s.record, now);
    v["spent_today_usd"] = s.spent_today.to_json();
    v["reserved_today_usd"] = s.held_today.to_json();
    v["remaining_today_usd"] = s.remaining_today.to_json();
    v["audit_pending"] = json!(s.audit_pending);
    v
}

fn row_json(r: &KeyRow, now: i64) -> Value {
    let spent = r.spent_on(utc_day(now));
    let mut v = record_json(&r.to_record(), now);
    // As of the key's last audit flush: behind by a moment at most.
    // `GET /v1/keys/{id}` asks the key's object for the live figure.
    v["spent_today_usd"] = spent.to_json();
    v["remaining_today_usd"] = Money::from_micros(r.daily_cap_micros)
        .saturating_sub(spent)
        .to_json();
    v
}

pub async fn create(mut req: Request, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    let idempotency_key = idempotency_key(&req)?;
    let body = json_object(&mut req, false).await?;
    let rates = crate::proxy::rate_table(&EnvConfig(env))?;
    let new = parse_new_key(&body, max_ttl_secs(env)?, &rates)?;
    let (id, minted, fingerprint) = match &idempotency_key {
        Some(key) => {
            let secret = EnvConfig(env)
                .get(super::ADMIN_TOKEN)
                .ok_or_else(|| ApiError::internal("KEYBRAKE_ADMIN_TOKEN is not set"))?;
            // Each issuer has its own idempotency keys.
            let scoped = match caller.issuer_id() {
                Some(issuer) => format!("{issuer}\u{0}{key}"),
                None => key.clone(),
            };
            let (id, minted) = derive_idempotent(secret.as_bytes(), &scoped);
            (id, minted, Some(new.fingerprint()))
        }
        None => {
            let id = KeyId::generate();
            let minted = mint_token(&id);
            (id, minted, None)
        }
    };
    let record = KeyRecord {
        id: id.to_string(),
        label: new.label,
        vendor: new.vendor,
        allowed_endpoints: new.allowlist.entries(),
        daily_cap: new.daily_cap,
        allowed_accounts: new.allowed_accounts,
        created_at: now,
        expires_at: now + new.ttl_secs as i64 * 1000,
        revoked_at: None,
        token_hash: minted.hash.0,
        idempotency: fingerprint,
        constraints: new.constraints,
        issuer_id: caller.issuer_id().map(str::to_owned),
        paused_at: None,
        // An issuer's keys all spend under its own spend ceilings.
        budgets: match caller {
            Caller::Issuer(issuer) if issuer.ceilings.max_daily_spend_usd.is_some() => {
                vec![issuer_budget_id(&issuer.id)]
            }
            _ => vec![],
        },
    };
    let db = env.d1(store::DB).map_err(internal)?;
    // An issuer's object admits the key first: its ceilings, and a slot
    // under max_live_keys taken in the same step.
    let issuer = match caller {
        Caller::Issuer(issuer) => {
            let client = IssuerClient::for_issuer(env, &issuer.id).map_err(internal)?;
            let ask = KeyAsk {
                label: record.label.clone(),
                vendor: record.vendor.clone(),
                allowed_endpoints: record.allowed_endpoints.clone(),
                daily_cap: record.daily_cap,
                ttl_secs: new.ttl_secs,
                constraints: record.constraints.clone(),
                allowed_accounts: record.allowed_accounts.clone(),
            };
            client
                .admit(&record.id, record.expires_at, ask, now)
                .await
                .map_err(internal)??;
            Some(client)
        }
        Caller::Admin => None,
    };
    let object = VaultKeyClient::for_key(env, &record.id).map_err(internal)?;
    let made = if record.idempotency.is_some() {
        create_idempotent(record.clone(), &object, &db, minted.token, now).await
    } else {
        create_new(&record, &object, &db, &minted.token, now).await
    };
    if let (Err(_), Some(issuer)) = (&made, &issuer) {
        // The slot goes back; an idempotent replay keeps its key's slot.
        if record.idempotency.is_none() {
            let _ = issuer.release(&record.id).await;
        }
    }
    made
}

/// Issues a key with a fresh id: its object and its D1 row side by side.
async fn create_new(
    record: &KeyRecord,
    object: &VaultKeyClient,
    db: &worker::D1Database,
    token: &str,
    now: i64,
) -> ApiResult<Response> {
    // The object and the D1 row are written side by side, while the account
    // budgets it falls under are looked up; if anything fails the rest is
    // undone, so nothing is half-written.
    let (made, listed) = join(
        object.init(record),
        store::insert_key_and_find_budgets(db, record),
    )
    .await;
    // Bound before the token is shown, so no call escapes a budget.
    let listed = match (listed, &made) {
        (Ok(budgets), Ok(Ok(()))) => bind_budgets(object, &budgets).await,
        (listed, _) => listed.map(|_| ()),
    };
    match (made, listed) {
        (Ok(Ok(())), Ok(())) => {}
        (made, listed) => {
            if matches!(made, Ok(Ok(()))) {
                // The token was never shown, but the object is revoked anyway.
                let _ = object.revoke(now).await;
            }
            if listed.is_ok() {
                let _ = store::delete_key(db, &record.id).await;
            }
            return Err(match (made, listed) {
                (Ok(Err(taken)), _) => taken,
                (Err(e), _) => internal(e),
                (_, Err(e)) => internal(e),
                _ => internal("key creation failed"),
            });
        }
    }
    issued(201, record, token, now)
}

/// Binds a new key to the account budgets it falls under.
async fn bind_budgets(object: &VaultKeyClient, budgets: &[String]) -> worker::Result<()> {
    for budget in budgets {
        if !object.attach_budget(budget).await? {
            return Err(worker::Error::RustError(format!("binding {budget} failed")));
        }
    }
    Ok(())
}

/// An issuance with an `Idempotency-Key`: the key's object is the one
/// place that decides whether the key exists, so concurrent and retried
/// requests all end with one key. A repeat answers `200` with the same key
/// and token (`Idempotent-Replayed: true`), whatever its status now.
async fn create_idempotent(
    record: KeyRecord,
    object: &VaultKeyClient,
    db: &worker::D1Database,
    token: String,
    now: i64,
) -> ApiResult<Response> {
    let first = object.init(&record).await.map_err(internal)?.is_ok();
    // Bound on every attempt (binding is idempotent): a first attempt that
    // stopped before binding is completed by its retry.
    let budgets = store::budgets_for(db, &record.vendor, &record.label)
        .await
        .map_err(internal)?;
    bind_budgets(object, &budgets).await.map_err(internal)?;
    let stored = if first {
        record
    } else {
        let state = object.state(now).await.map_err(internal)?;
        let stored = state
            .map(|s| s.record)
            .ok_or_else(|| internal("key vanished"))?;
        if stored.idempotency != record.idempotency {
            return Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used to issue a key with another policy",
            ));
        }
        stored
    };
    // Listed after the object exists; a replay lists it again in case the
    // first attempt stopped in between (listing is idempotent).
    store::insert_key(db, &stored).await.map_err(internal)?;
    let mut res = issued(if first { 201 } else { 200 }, &stored, &token, now)?;
    if !first {
        res.headers_mut()
            .set("idempotent-replayed", "true")
            .map_err(internal)?;
    }
    Ok(res)
}

fn issued(status: u16, record: &KeyRecord, token: &str, now: i64) -> ApiResult<Response> {
    let mut out = record_json(record, now);
    out["token"] = json!(token);
    out["expires_in"] = json!(format_secs(
        ((record.expires_at - record.created_at) / 1000).max(0) as u64
    ));
    http::json(status, &out).map_err(internal)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &Request) -> ApiResult<Option<String>> {
    let Some(key) = req.headers().get("idempotency-key").map_err(internal)? else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key))
}

pub(super) fn parse_id(id: &str) -> ApiResult<KeyId> {
    KeyId::parse(id).ok_or_else(|| ApiError::not_found(&format!("key {id:?}")))
}

/// A key's live state, if the caller may see it: an issuer sees only the
/// keys it issued (others read as not found, revealing nothing).
pub(super) async fn visible_state(
    id: &KeyId,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<KeyState> {
    VaultKeyClient::for_key(env, id.as_str())
        .map_err(internal)?
        .state(now)
        .await
        .map_err(internal)?
        .filter(|s| {
            caller.issuer_id().is_none() || s.record.issuer_id.as_deref() == caller.issuer_id()
        })
        .ok_or_else(|| ApiError::not_found(&format!("key {id}")))
}

pub async fn get(id: &str, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    let id = parse_id(id)?;
    let state = visible_state(&id, env, now, caller).await?;
    http::json(200, &state_json(&state, now)).map_err(internal)
}

pub async fn list(
    query: Option<&str>,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let params = Query::parse(
        query,
        &["status", "vendor", "label_prefix", "cursor", "limit"],
    )?;
    let q = KeyQuery {
        status: params.parsed(
            "status",
            "must be active, paused, revoked or expired",
            KeyStatus::parse,
        )?,
        vendor: params.string("vendor"),
        label_prefix: params.string("label_prefix"),
        cursor: params.cursor()?,
        limit: params.limit(50, 200)?,
        issuer_id: caller.issuer_id().map(str::to_owned),
    };
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_keys(&db, &q, now).await.map_err(internal)?;
    let next = Cursor::after(&rows, q.limit, |r| (r.created_at, r.id.as_str()));
    let data: Vec<Value> = rows.iter().map(|r| row_json(r, now)).collect();
    http::json(200, &json!({ "data": data, "next_cursor": next })).map_err(internal)
}

/// `DELETE /v1/keys/{id}`: the key's object refuses every request that
/// starts after this returns. Idempotent.
pub async fn revoke(id: &str, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    let id = parse_id(id)?;
    if caller.issuer_id().is_some() {
        visible_state(&id, env, now, caller).await?;
    }
    let record = VaultKeyClient::for_key(env, id.as_str())
        .map_err(internal)?
        .revoke(now)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(&format!("key {id}")))?;
    let db = env.d1(store::DB).map_err(internal)?;
    store::mark_revoked(
        &db,
        std::slice::from_ref(&record.id),
        record.revoked_at.unwrap_or(now),
    )
    .await
    .map_err(internal)?;
    if let Some(issuer) = &record.issuer_id {
        tell_issuer(env, issuer, &record.id).await;
    }
    http::json(200, &record_json(&record, now)).map_err(internal)
}

/// Frees a revoked key's slot under its issuer's `max_live_keys`. Best
/// effort: the slot frees itself at the key's expiry anyway.
async fn tell_issuer(env: &Env, issuer: &str, key_id: &str) {
    let told = match IssuerClient::for_issuer(env, issuer) {
        Ok(client) => client.key_revoked(key_id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = told {
        worker::console_error!("issuer {issuer}: could not free {key_id}: {e}");
    }
}

/// Revokes keys (objects first: once each has answered, its key is dead;
/// D1 follows) and frees their issuers' slots. Returns how many.
pub async fn revoke_keys(env: &Env, keys: &[store::LiveKey], now: i64) -> ApiResult<usize> {
    let db = env.d1(store::DB).map_err(internal)?;
    let mut revoked = Vec::with_capacity(keys.len());
    let mut failed = 0;
    for chunk in keys.chunks(32) {
        let results = join_all(chunk.iter().map(|k| async move {
            VaultKeyClient::for_key(env, &k.id)?.revoke(now).await?;
            if let Some(issuer) = &k.issuer_id {
                tell_issuer(env, issuer, &k.id).await;
            }
            Ok::<_, worker::Error>(())
        }))
        .await;
        for (k, result) in chunk.iter().zip(results) {
            match result {
                Ok(()) => revoked.push(k.id.clone()),
                Err(e) => {
                    worker::console_error!("revoke: {} failed: {e}", k.id);
                    failed += 1;
                }
            }
        }
    }
    store::mark_revoked(&db, &revoked, now)
        .await
        .map_err(internal)?;
    if failed > 0 {
        return Err(ApiError::internal(format!(
            "revoked {} keys but {failed} did not answer; revoke again",
            revoked.len()
        )));
    }
    Ok(revoked.len())
}

/// `POST /v1/keys/revoke-all` with an optional `{vendor, label_prefix}`;
/// an issuer token revokes only its own keys.
pub async fn revoke_all(
    mut req: Request,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let body = json_object(&mut req, true).await?;
    reject_unknown(&body, &["vendor", "label_prefix"])?;
    let vendor = opt_str(&body, "vendor")?;
    let label_prefix = opt_str(&body, "label_prefix")?;
    if let Some(v) = &vendor {
        if vendor_for(v).is_none() {
            return Err(ApiError::field("vendor", format!("{v:?} is not supported")));
        }
    }
    let db = env.d1(store::DB).map_err(internal)?;
    let keys = store::live_keys(
        &db,
        vendor.as_deref(),
        label_prefix.as_deref(),
        caller.issuer_id(),
        now,
    )
    .await
    .map_err(internal)?;
    let revoked = revoke_keys(env, &keys, now).await?;
    http::json(200, &json!({ "revoked": revoked })).map_err(internal)
}

/// `POST /v1/test/faults {key_id, d1_fails}`: test configuration only.
pub async fn set_faults(mut req: Request, env: &Env, _now: i64) -> ApiResult<Response> {
    let body = json_object(&mut req, false).await?;
    reject_unknown(&body, &["key_id", "d1_fails"])?;
    let id = opt_str(&body, "key_id")?.ok_or_else(|| ApiError::field("key_id", "is required"))?;
    let d1_fails = body
        .get("d1_fails")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::field("d1_fails", "must be true or false"))?;
    let id = parse_id(&id)?;
    let faults = VaultKeyClient::for_key(env, id.as_str())
        .map_err(internal)?
        .set_faults(&Faults { d1_fails })
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(&format!("key {id}")))?;
    http::json(
        200,
        &json!({ "key_id": id.as_str(), "d1_fails": faults.d1_fails }),
    )
    .map_err(internal)
}

/// A runtime failure (storage, binding) as a 500 that names no secret.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    worker::console_error!("internal error: {e}");
    ApiError::internal("Keybrake could not complete the request; nothing was changed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> ApiResult<NewKey> {
        parse_new_key(v.as_object().unwrap(), 86_400, &RateTable::default())
    }

    fn brief_example() -> Value {
        json!({
            "label": "workers-charge-wf_1",
            "vendor": "stripe",
            "allowed_endpoints": ["/v1/payment_intents", "/v1/payment_intents/*"],
            "daily_usd_cap": 500,
            "expires_in": "5m"
        })
    }

    #[test]
    fn accepts_the_brief_example() {
        let k = parse(brief_example()).unwrap();
        assert_eq!(k.daily_cap, Money::from_micros(500_000_000));
        assert_eq!(k.ttl_secs, 300);
        assert_eq!(k.allowlist.entries().len(), 2);
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            ("label", json!("")),
            ("vendor", json!("paypal")),
            ("allowed_endpoints", json!([])),
            ("allowed_endpoints", json!(["/v1/../x"])),
            ("daily_usd_cap", json!(-1)),
            ("daily_usd_cap", json!(0)),
            ("daily_usd_cap", json!("lots")),
            ("expires_in", json!("5 minutes")),
            ("expires_in", json!("2d")),
        ];
        for (field, value) in cases {
            let mut body = brief_example();
            body[field] = value.clone();
            let err = parse(body)
                .err()
                .unwrap_or_else(|| panic!("{field}={value} accepted"));
            assert_eq!(
                err.param.as_deref(),
                Some(field),
                "{field}={value}: {}",
                err.message
            );
        }
        let mut typo = brief_example();
        typo["daily_cap"] = json!(1);
        assert_eq!(
            parse(typo).err().unwrap().param.as_deref(),
            Some("daily_cap")
        );
        let mut missing = brief_example();
        missing.as_object_mut().unwrap().remove("daily_usd_cap");
        assert_eq!(
            parse(missing).err().unwrap().param.as_deref(),
            Some("daily_usd_cap")
        );
    }

    #[test]
    fn decimal_caps_are_exact() {
        let mut body = brief_example();
        body["daily_usd_cap"] = json!(0.1);
        assert_eq!(parse(body).unwrap().daily_cap, Money::from_micros(100_000));
    }
}
