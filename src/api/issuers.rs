//! `/v1/issuers` (admin only): scoped issuer tokens. An agent's Worker holds
//! an issuer token instead of the admin token; it can mint keys only inside
//! the ceilings set here, and see and revoke only its own keys.

use serde_json::{json, Value};
use worker::{Env, Request, Response};

use super::keys::{internal, revoke_keys};
use super::{json_object, reject_unknown};
use crate::budget::{issuer_budget_id, BudgetClient, BudgetRecord};
use crate::core::ceilings::{Ceilings, FIELDS};
use crate::core::duration::parse_duration_secs;
use crate::core::time::to_rfc3339;
use crate::core::token::{mint_issuer_token, IssuerId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::{self, EnvConfig};
use crate::issuer::{IssuerClient, IssuerRecord, IssuerState};
use crate::store;
use crate::vendors::vendor_for;

/// Longest an issuer token may live (it can always be revoked sooner).
const MAX_ISSUER_SECS: u64 = 366 * 86_400;

fn status(r: &IssuerRecord, now: i64) -> &'static str {
    if r.revoked_at.is_some() {
        "revoked"
    } else if r.expires_at.is_some_and(|t| now >= t) {
        "expired"
    } else {
        "active"
    }
}

fn issuer_json(r: &IssuerRecord, now: i64) -> Value {
    let mut v = r.ceilings.to_json();
    v["id"] = json!(r.id);
    v["label"] = json!(r.label);
    v["created_at"] = json!(to_rfc3339(r.created_at));
    v["expires_at"] = json!(r.expires_at.map(to_rfc3339));
    v["revoked_at"] = json!(r.revoked_at.map(to_rfc3339));
    v["status"] = json!(status(r, now));
    v
}

fn state_json(s: &IssuerState, now: i64) -> Value {
    let mut v = issuer_json(&s.record, now);
    v["live_keys"] = json!(s.live_keys.len());
    v
}

pub async fn create(mut req: Request, env: &Env, now: i64) -> ApiResult<Response> {
    let body = json_object(&mut req, false).await?;
    reject_unknown(&body, FIELDS)?;
    let label =
        super::opt_str(&body, "label")?.ok_or_else(|| ApiError::field("label", "is required"))?;
    if label.trim().is_empty() || label.chars().count() > 200 || label.chars().any(char::is_control)
    {
        return Err(ApiError::field("label", "must be 1 to 200 characters"));
    }
    let rates = crate::proxy::rate_table(&EnvConfig(env))?;
    let max_ttl = super::keys::max_ttl_secs(env)?;
    let ceilings = Ceilings::parse(&body, &|v| vendor_for(v).is_some(), max_ttl, &|c| {
        rates.to_usd(1, c).is_ok()
    })
    .map_err(|(field, problem)| ApiError::field(&field, problem))?;
    let expires_at = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let secs = parse_duration_secs(s).map_err(|e| ApiError::field("expires_in", e))?;
            if secs == 0 || secs > MAX_ISSUER_SECS {
                return Err(ApiError::field(
                    "expires_in",
                    "must be above zero and at most 366d",
                ));
            }
            Some(now + secs as i64 * 1000)
        }
        Some(_) => {
            return Err(ApiError::field(
                "expires_in",
                "must be a duration such as \"30d\"",
            ))
        }
    };
    let id = IssuerId::generate();
    let minted = mint_issuer_token(&id);
    let record = IssuerRecord {
        id: id.to_string(),
        label,
        created_at: now,
        expires_at,
        revoked_at: None,
        token_hash: minted.hash.0,
        ceilings,
    };
    // The budget carrying its spend ceilings exists before its token does.
    if let Some(daily_cap) = record.ceilings.max_daily_spend_usd {
        BudgetClient::for_budget(env, &issuer_budget_id(&record.id))
            .map_err(internal)?
            .put(&BudgetRecord {
                id: issuer_budget_id(&record.id),
                vendor: String::new(),
                label_prefix: None,
                daily_cap,
                total_cap: record.ceilings.max_total_spend_usd,
                created_at: now,
                deleted: false,
            })
            .await
            .map_err(internal)?;
    }
    IssuerClient::for_issuer(env, &record.id)
        .map_err(internal)?
        .init(&record)
        .await
        .map_err(internal)??;
    let db = env.d1(store::DB).map_err(internal)?;
    let ceilings_json = serde_json::to_string(&record.ceilings).map_err(internal)?;
    store::insert_issuer(
        &db,
        &record.id,
        &record.label,
        now,
        expires_at,
        &ceilings_json,
    )
    .await
    .map_err(internal)?;
    let mut out = issuer_json(&record, now);
    out["token"] = json!(minted.token);
    http::json(201, &out).map_err(internal)
}

pub async fn list(env: &Env, now: i64) -> ApiResult<Response> {
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_issuers(&db, 500).await.map_err(internal)?;
    let data: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let ceilings: Ceilings = serde_json::from_str(&r.json).ok()?;
            Some(issuer_json(
                &IssuerRecord {
                    id: r.id.clone(),
                    label: r.label.clone(),
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                    revoked_at: r.revoked_at,
                    token_hash: String::new(),
                    ceilings,
                },
                now,
            ))
        })
        .collect();
    http::json(200, &json!({ "data": data })).map_err(internal)
}

fn parse_id(id: &str) -> ApiResult<IssuerId> {
    IssuerId::parse(id).ok_or_else(|| ApiError::not_found(&format!("issuer {id:?}")))
}

pub async fn get(id: &str, env: &Env, now: i64) -> ApiResult<Response> {
    let id = parse_id(id)?;
    let state = IssuerClient::for_issuer(env, id.as_str())
        .map_err(internal)?
        .state(now)
        .await
        .map_err(internal)??;
    http::json(200, &state_json(&state, now)).map_err(internal)
}

/// Revokes the issuer (its token is refused from now on) and every live
/// key it issued.
pub async fn revoke(id: &str, env: &Env, now: i64) -> ApiResult<Response> {
    let id = parse_id(id)?;
    let state = IssuerClient::for_issuer(env, id.as_str())
        .map_err(internal)?
        .revoke(now)
        .await
        .map_err(internal)??;
    let db = env.d1(store::DB).map_err(internal)?;
    store::mark_issuer_revoked(&db, id.as_str(), state.record.revoked_at.unwrap_or(now))
        .await
        .map_err(internal)?;
    // D1 lists the issuer's keys; its object's list covers any D1 missed.
    let mut keys = store::live_keys(&db, None, None, Some(id.as_str()), now)
        .await
        .map_err(internal)?;
    for k in &state.live_keys {
        if !keys.iter().any(|l| &l.id == k) {
            keys.push(store::LiveKey {
                id: k.clone(),
                issuer_id: Some(id.to_string()),
            });
        }
    }
    let revoked = revoke_keys(env, &keys, now).await?;
    // Sent on every call, so revoking again resends an event the queue
    // refused (a retried revocation changes nothing else).
    let told = crate::webhooks::emit(
        env,
        "issuer.revoked",
        Some(&state.record.label),
        json!({ "issuer_id": id.as_str(), "revoked_keys": revoked }),
    )
    .await;
    if let Err(e) = told {
        worker::console_error!("issuer {id}: the issuer.revoked event was not queued: {e}");
        return Err(ApiError::new(
            ErrorCode::InternalError,
            format!("issuer {id} and its keys are revoked, but its issuer.revoked event could not be queued; revoke it again to send it"),
        ));
    }
    let mut out = issuer_json(&state.record, now);
    out["revoked_keys"] = json!(revoked);
    http::json(200, &out).map_err(internal)
}
