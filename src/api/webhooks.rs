//! `/v1/webhooks`: endpoints that hear about approvals, spend thresholds,
//! revocations and refusal bursts (delivery: `webhooks.rs`). Admin only.

use serde_json::{json, Value};
use worker::{Env, Request, Response};

use super::keys::internal;
use super::{json_object, opt_str, reject_unknown, ADMIN_TOKEN};
use crate::core::token::random_hex;
use crate::core::webhook::{check_url, signing_secret, EVENT_TYPES};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, EnvConfig};
use crate::store::{self, WebhookRow};
use crate::vendors::ConfigSource;
use crate::webhooks::{delivery_json, hook_json, insecure_allowed};

const FIELDS: &[&str] = &["url", "events", "label_prefix"];
const RECENT_DELIVERIES: u32 = 50;

fn parse_events(v: Option<&Value>) -> ApiResult<Vec<String>> {
    let known = || format!("{} (or \"*\" for all)", EVENT_TYPES.join(", "));
    let Some(Value::Array(items)) = v else {
        return Err(ApiError::field(
            "events",
            format!("is required: an array of event types: {}", known()),
        ));
    };
    if items.is_empty() {
        return Err(ApiError::field(
            "events",
            "must name at least one event type",
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str() {
            Some(e) if e == "*" || EVENT_TYPES.contains(&e) => {
                if !events.iter().any(|x| x == e) {
                    events.push(e.to_owned());
                }
            }
            _ => {
                return Err(ApiError::field(
                    "events",
                    format!("{item} is not one of {}", known()),
                ))
            }
        }
    }
    Ok(events)
}

/// `POST /v1/webhooks`: the signing secret is in this answer only.
pub async fn create(mut req: Request, env: &Env, now: i64) -> ApiResult<Response> {
    let body = json_object(&mut req, false).await?;
    reject_unknown(&body, FIELDS)?;
    let url = opt_str(&body, "url")?.ok_or_else(|| ApiError::field("url", "is required"))?;
    let url = check_url(&url, insecure_allowed(env)).map_err(|e| ApiError::field("url", e))?;
    let events = parse_events(body.get("events"))?;
    let label_prefix = opt_str(&body, "label_prefix")?;
    if label_prefix
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.chars().count() > 100 || p.chars().any(char::is_control))
    {
        return Err(ApiError::field(
            "label_prefix",
            "must be 1 to 100 characters",
        ));
    }
    let secret = EnvConfig(env)
        .get(ADMIN_TOKEN)
        .ok_or_else(|| ApiError::internal("KEYBRAKE_ADMIN_TOKEN is not set"))?;
    let hook = WebhookRow {
        id: format!("wh_{}", random_hex(12)),
        url,
        events: serde_json::to_string(&events).map_err(internal)?,
        label_prefix,
        created_at: now,
        deleted_at: None,
    };
    let db = env.d1(store::DB).map_err(internal)?;
    store::insert_webhook(&db, &hook).await.map_err(internal)?;
    let mut out = hook_json(&hook);
    out["secret"] = json!(signing_secret(secret.as_bytes(), &hook.id));
    http::json(201, &out).map_err(internal)
}

pub async fn list(env: &Env) -> ApiResult<Response> {
    let db = env.d1(store::DB).map_err(internal)?;
    let hooks = store::live_webhooks(&db).await.map_err(internal)?;
    let data: Vec<Value> = hooks.iter().map(hook_json).collect();
    http::json(200, &json!({ "data": data })).map_err(internal)
}

async fn found(env: &Env, id: &str) -> ApiResult<WebhookRow> {
    let db = env.d1(store::DB).map_err(internal)?;
    store::get_webhook(&db, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(&format!("webhook {id:?}")))
}

/// `GET /v1/webhooks/{id}`: the endpoint and its latest deliveries.
pub async fn get(id: &str, env: &Env) -> ApiResult<Response> {
    let hook = found(env, id).await?;
    let db = env.d1(store::DB).map_err(internal)?;
    let deliveries = store::recent_deliveries(&db, &hook.id, RECENT_DELIVERIES)
        .await
        .map_err(internal)?;
    let mut out = hook_json(&hook);
    out["deliveries"] = deliveries.iter().map(delivery_json).collect();
    http::json(200, &out).map_err(internal)
}

/// `DELETE /v1/webhooks/{id}`: no event is sent to it after this returns.
pub async fn delete(id: &str, env: &Env, now: i64) -> ApiResult<Response> {
    found(env, id).await?;
    let db = env.d1(store::DB).map_err(internal)?;
    store::delete_webhook(&db, id, now)
        .await
        .map_err(internal)?;
    let hook = found(env, id).await?;
    http::json(200, &hook_json(&hook)).map_err(internal)
}
