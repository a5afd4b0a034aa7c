//! `PATCH /v1/keys/{id}`, `POST /v1/keys/{id}/pause` and `/resume`:
//! steering a live key without killing its run. The key's object applies
//! the change (`ledger::steer`), so it is exact against calls in flight;
//! D1's copy follows for listing.

use serde_json::{Map, Value};
use worker::{Env, Request, Response};

use super::keys::{expires_in, internal, max_ttl_secs, parse_id, state_json, visible_state};
use super::{json_object, Caller};
use crate::core::ceilings::KeyAsk;
use crate::core::constraints::Constraints;
use crate::core::money::Money;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, EnvConfig};
use crate::issuer::IssuerClient;
use crate::ledger::steer::{apply_change, KeyChange};
use crate::ledger::KeyRecord;
use crate::store;
use crate::vault_key::VaultKeyClient;

const PATCH_FIELDS: &[&str] = &[
    "daily_usd_cap",
    "total_usd_cap",
    "expires_in",
    "constraints",
];
/// Fields of a key that define what it is: changing them is a new key.
const FIXED_FIELDS: &[&str] = &["label", "vendor", "allowed_endpoints", "allowed_accounts"];

/// A `PATCH` body, validated against the key it changes.
fn parse_change(
    body: &Map<String, Value>,
    record: &KeyRecord,
    env: &Env,
    now: i64,
) -> ApiResult<KeyChange> {
    if let Some(fixed) = body.keys().find(|k| FIXED_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::field(
            fixed,
            "cannot be changed on a live key; issue a new key",
        ));
    }
    super::reject_unknown(body, PATCH_FIELDS)?;
    let money = |field: &str| -> ApiResult<Option<Money>> {
        body.get(field)
            .map(|v| Money::from_json_limit(v).map_err(|e| ApiError::field(field, e)))
            .transpose()
    };
    let expires_at = match body.get("expires_in") {
        // From now, within the deployment's longest TTL (an issuer's own
        // ceiling is checked by its object).
        Some(v) => Some(now + expires_in(v, max_ttl_secs(env)?)? as i64 * 1000),
        None => None,
    };
    let constraints = match body.get("constraints") {
        None => None,
        Some(Value::Null) => {
            return Err(ApiError::field(
                "constraints",
                "cannot be removed from a live key; issue a new key",
            ))
        }
        Some(v) => {
            let rates = crate::proxy::rate_table(&EnvConfig(env))?;
            let parsed = Constraints::parse(v, &record.vendor, &|c| rates.to_usd(1, c).is_ok())
                .map_err(|(field, problem)| ApiError::field(&field, problem))?;
            if parsed.total_usd_cap.is_some() {
                return Err(ApiError::field(
                    "constraints.total_usd_cap",
                    "is changed by the top-level total_usd_cap field",
                ));
            }
            Some(parsed)
        }
    };
    let change = KeyChange {
        daily_cap: money("daily_usd_cap")?,
        total_cap: money("total_usd_cap")?,
        expires_at,
        constraints,
        paused: None,
        now,
    };
    if change
        == (KeyChange {
            now,
            ..KeyChange::default()
        })
    {
        return Err(ApiError::bad_request(format!(
            "nothing to change: give one of {}",
            PATCH_FIELDS.join(", ")
        )));
    }
    Ok(change)
}

/// An issuer's key must stay inside the issuer's ceilings as changed; its
/// object also moves the key's live-key slot to the new expiry.
async fn admit_change(env: &Env, issuer: &str, changed: &KeyRecord, now: i64) -> ApiResult<()> {
    let ask = KeyAsk {
        label: changed.label.clone(),
        vendor: changed.vendor.clone(),
        allowed_endpoints: changed.allowed_endpoints.clone(),
        daily_cap: changed.daily_cap,
        // A lifetime counted from issuance: moving the expiry cannot
        // stretch a key past the issuer's max_ttl.
        ttl_secs: ((changed.expires_at - changed.created_at).max(0) as u64).div_ceil(1000),
        constraints: changed.constraints.clone(),
        allowed_accounts: changed.allowed_accounts.clone(),
    };
    IssuerClient::for_issuer(env, issuer)
        .map_err(internal)?
        .admit(&changed.id, changed.expires_at, ask, now)
        .await
        .map_err(internal)??;
    Ok(())
}

/// Applies a change in the key's object, then mirrors it to D1, and
/// answers the key's live state.
async fn change(
    id: &str,
    env: &Env,
    now: i64,
    caller: &Caller,
    body: Option<Map<String, Value>>,
    paused: Option<bool>,
) -> ApiResult<Response> {
    let id = parse_id(id)?;
    let current = visible_state(&id, env, now, caller).await?.record;
    let change = match &body {
        Some(body) => parse_change(body, &current, env, now)?,
        None => KeyChange {
            paused,
            now,
            ..KeyChange::default()
        },
    };
    if let (Some(issuer), Some(_)) = (caller.issuer_id(), &body) {
        // Judged on the key as it will be; the object judges the rest.
        admit_change(env, issuer, &apply_change(&current, &change)?, now).await?;
    }
    let object = VaultKeyClient::for_key(env, id.as_str()).map_err(internal)?;
    let record = object.change(&change).await.map_err(internal)??;
    let db = env.d1(store::DB).map_err(internal)?;
    store::update_key(&db, &record).await.map_err(internal)?;
    let state = visible_state(&id, env, now, caller).await?;
    http::json(200, &state_json(&state, now)).map_err(internal)
}

/// `PATCH /v1/keys/{id}`: raise or lower the caps, move the expiry,
/// tighten the constraints.
pub async fn update(
    mut req: Request,
    id: &str,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let body = json_object(&mut req, false).await?;
    change(id, env, now, caller, Some(body), None).await
}

/// `POST /v1/keys/{id}/pause`: the key's calls are refused `423
/// key_paused` from the moment this returns; the key keeps its spend.
pub async fn pause(id: &str, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    change(id, env, now, caller, None, Some(true)).await
}

/// `POST /v1/keys/{id}/resume`: the same key carries on.
pub async fn resume(id: &str, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    change(id, env, now, caller, None, Some(false)).await
}
