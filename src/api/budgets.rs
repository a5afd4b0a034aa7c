//! `/v1/budgets` (admin only): account-wide daily caps per vendor, and
//! optionally per label prefix, across every key they bind.

use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{Env, Request, Response};

use super::keys::internal;
use super::{json_object, opt_str, reject_unknown};
use crate::budget::{BudgetClient, BudgetRecord};
use crate::core::money::Money;
use crate::core::time::{to_rfc3339, utc_day};
use crate::core::token::hex;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::store::{self, BudgetRow};
use crate::vault_key::VaultKeyClient;
use crate::vendors::{vendor_for, vendor_names};

/// A budget's id follows from what it covers: setting the same vendor and
/// prefix again updates that budget rather than adding a second.
fn budget_id(vendor: &str, label_prefix: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(vendor.as_bytes());
    h.update([0]);
    h.update(label_prefix.unwrap_or("").as_bytes());
    format!("bud_{}", hex(&h.finalize()[..12]))
}

fn record_json(r: &BudgetRecord) -> Value {
    json!({
        "id": r.id,
        "vendor": r.vendor,
        "label_prefix": r.label_prefix,
        "daily_usd_cap": r.daily_cap.to_json(),
        "created_at": to_rfc3339(r.created_at),
    })
}

/// `POST /v1/budgets {vendor, label_prefix?, daily_usd_cap}`: creates or
/// updates the budget and binds every live key it covers.
pub async fn put(mut req: Request, env: &Env, now: i64) -> ApiResult<Response> {
    let body = json_object(&mut req, false).await?;
    reject_unknown(&body, &["vendor", "label_prefix", "daily_usd_cap"])?;
    let vendor =
        opt_str(&body, "vendor")?.ok_or_else(|| ApiError::field("vendor", "is required"))?;
    if vendor_for(&vendor).is_none() {
        return Err(ApiError::field(
            "vendor",
            format!(
                "{vendor:?} is not supported (supported: {})",
                vendor_names()
            ),
        ));
    }
    let label_prefix = opt_str(&body, "label_prefix")?;
    if label_prefix
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.chars().count() > 200)
    {
        return Err(ApiError::field(
            "label_prefix",
            "must be 1 to 200 characters",
        ));
    }
    let cap = Money::from_json_limit(
        body.get("daily_usd_cap")
            .ok_or_else(|| ApiError::field("daily_usd_cap", "is required"))?,
    )
    .map_err(|e| ApiError::field("daily_usd_cap", e))?;
    let id = budget_id(&vendor, label_prefix.as_deref());
    let record = BudgetClient::for_budget(env, &id)
        .map_err(internal)?
        .put(&BudgetRecord {
            id: id.clone(),
            vendor: vendor.clone(),
            label_prefix: label_prefix.clone(),
            daily_cap: cap,
            total_cap: None,
            created_at: now,
            deleted: false,
        })
        .await
        .map_err(internal)?;
    let db = env.d1(store::DB).map_err(internal)?;
    store::upsert_budget(
        &db,
        &BudgetRow {
            id: id.clone(),
            vendor: vendor.clone(),
            label_prefix: label_prefix.clone(),
            daily_cap_micros: cap.micros(),
            created_at: record.created_at,
        },
    )
    .await
    .map_err(internal)?;
    // Keys issued before the budget spend under it too.
    let live = store::live_keys(&db, Some(&vendor), label_prefix.as_deref(), None, now)
        .await
        .map_err(internal)?;
    let mut attached = 0;
    let id = id.as_str();
    for chunk in live.chunks(32) {
        let results =
            join_all(chunk.iter().map(|k| async move {
                VaultKeyClient::for_key(env, &k.id)?.attach_budget(id).await
            }))
            .await;
        for (k, r) in chunk.iter().zip(results) {
            match r {
                Ok(true) => attached += 1,
                Ok(false) => {}
                Err(e) => {
                    return Err(internal(format!(
                        "could not bind key {} to the budget: {e}; set the budget again",
                        k.id
                    )))
                }
            }
        }
    }
    let mut out = record_json(&record);
    out["attached_keys"] = json!(attached);
    http::json(200, &out).map_err(internal)
}

pub async fn list(env: &Env) -> ApiResult<Response> {
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_budgets(&db).await.map_err(internal)?;
    let data: Vec<Value> = rows
        .iter()
        .map(|b| {
            json!({
                "id": b.id,
                "vendor": b.vendor,
                "label_prefix": b.label_prefix,
                "daily_usd_cap": Money::from_micros(b.daily_cap_micros).to_json(),
                "created_at": to_rfc3339(b.created_at),
            })
        })
        .collect();
    http::json(200, &json!({ "data": data })).map_err(internal)
}

fn client(id: &str, env: &Env) -> ApiResult<BudgetClient> {
    let ok = id
        .strip_prefix("bud_")
        .is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(ApiError::not_found(&format!("budget {id:?}")));
    }
    BudgetClient::for_budget(env, id).map_err(internal)
}

/// A budget with what its keys have leased today (an upper bound on
/// today's spend under it).
pub async fn get(id: &str, env: &Env, now: i64) -> ApiResult<Response> {
    let state = client(id, env)?
        .state(utc_day(now))
        .await
        .map_err(internal)?
        .filter(|s| !s.record.deleted)
        .ok_or_else(|| ApiError::not_found(&format!("budget {id}")))?;
    let mut out = record_json(&state.record);
    out["leased_today_usd"] = state.leased_today.to_json();
    out["keys_today"] = json!(state.keys_today);
    http::json(200, &out).map_err(internal)
}

pub async fn delete(id: &str, env: &Env, now: i64) -> ApiResult<Response> {
    let record = client(id, env)?
        .delete()
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(&format!("budget {id}")))?;
    let db = env.d1(store::DB).map_err(internal)?;
    store::delete_budget(&db, id, now).await.map_err(internal)?;
    http::json(200, &record_json(&record)).map_err(internal)
}
