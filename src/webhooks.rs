//! Webhook delivery: events reach the `EVENTS` queue from the objects that
//! see them (a key's object flushes its `events` table; an issuer's
//! revocation sends one), and this consumer signs and POSTs each to every
//! endpoint that wants it. At least once: a message is acknowledged only
//! when every endpoint took it (2xx); otherwise it is retried with backoff,
//! skipping the endpoints that already have it, and after the queue's last
//! retry it lands in the dead-letter queue, whose consumer records what
//! was never delivered.

use serde::Deserialize;
use worker::{Env, Headers, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Result};

use crate::api::ADMIN_TOKEN;
use crate::core::webhook::{check_url, retry_delay_secs, signature, signing_secret, wants};
use crate::http::EnvConfig;
use crate::store::{self, Delivery, WebhookRow};
use crate::vendors::ConfigSource;

/// The queue binding events are sent to (`wrangler.toml`).
pub const QUEUE: &str = "EVENTS";
/// The dead-letter queue's name: its messages gave up.
pub const DEAD_LETTER_QUEUE: &str = "keybrake-events-dlq";
const DELIVERY_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_RETRY_SECS: u32 = 10;

/// What the consumer reads of an event: the rest goes out as it is.
#[derive(Deserialize)]
struct EventHead {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    label: Option<String>,
}

/// Whether plain http and private addresses are allowed (local
/// development only).
pub fn insecure_allowed(env: &Env) -> bool {
    EnvConfig(env)
        .get("KEYBRAKE_ALLOW_INSECURE_WEBHOOKS")
        .as_deref()
        == Some("1")
}

/// Sends an event from the Worker itself (an issuer's revocation).
pub async fn emit(
    env: &Env,
    kind: &str,
    label: Option<&str>,
    data: serde_json::Value,
) -> Result<()> {
    let event = serde_json::json!({
        "id": format!("evt_{}", crate::core::token::random_hex(12)),
        "type": kind,
        "created": crate::core::time::to_rfc3339(worker::Date::now().as_millis() as i64),
        "label": label,
        "data": data,
    });
    env.queue(QUEUE)?.send(event.to_string()).await
}

/// The queue consumer, for the events queue and its dead-letter queue.
pub async fn consume(batch: MessageBatch<String>, env: &Env) -> Result<()> {
    let dead = batch.queue() == DEAD_LETTER_QUEUE;
    let db = env.d1(store::DB)?;
    let hooks = store::live_webhooks(&db).await?;
    let secret = EnvConfig(env).get(ADMIN_TOKEN);
    let insecure = insecure_allowed(env);
    let base = EnvConfig(env)
        .get("KEYBRAKE_WEBHOOK_RETRY_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RETRY_SECS);
    for message in batch.raw_iter() {
        let Some(body) = message.body().as_string() else {
            message.ack();
            continue;
        };
        let Ok(event) = serde_json::from_str::<EventHead>(&body) else {
            worker::console_error!("webhooks: dropped a message that is not an event");
            message.ack();
            continue;
        };
        let earlier = store::deliveries_of(&db, &event.id).await?;
        let mut retry_after = None;
        for hook in hooks.iter().filter(|h| {
            wants(
                &h.event_list(),
                h.label_prefix.as_deref(),
                &event.kind,
                event.label.as_deref(),
            )
        }) {
            let tried: Vec<&Delivery> =
                earlier.iter().filter(|d| d.webhook_id == hook.id).collect();
            if tried.iter().any(|d| d.status == "delivered") {
                continue;
            }
            let attempt = tried.len() as u32 + 1;
            let outcome = if dead {
                Err((None, "the queue gave up retrying".to_owned()))
            } else {
                match &secret {
                    Some(secret) => deliver(hook, &body, &event, secret, insecure).await,
                    None => Err((None, "KEYBRAKE_ADMIN_TOKEN is not set".to_owned())),
                }
            };
            let now = worker::Date::now().as_millis() as i64;
            let row = match &outcome {
                Ok(status) => Delivery::new(
                    hook,
                    &event.id,
                    &event.kind,
                    attempt,
                    "delivered",
                    Some(*status),
                    None,
                    now,
                ),
                Err((status, error)) => Delivery::new(
                    hook,
                    &event.id,
                    &event.kind,
                    attempt,
                    if dead { "dead" } else { "failed" },
                    *status,
                    Some(error.clone()),
                    now,
                ),
            };
            store::record_delivery(&db, &row).await?;
            if outcome.is_err() && !dead {
                let delay = retry_delay_secs(attempt - 1, base);
                retry_after = Some(retry_after.map_or(delay, |d: u32| d.min(delay)));
            }
        }
        match retry_after {
            Some(delay) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay)
                    .build(),
            ),
            None => message.ack(),
        }
    }
    Ok(())
}

/// One signed POST: the vendor's status on a 2xx, else what went wrong.
async fn deliver(
    hook: &WebhookRow,
    body: &str,
    event: &EventHead,
    secret: &str,
    insecure: bool,
) -> std::result::Result<u16, (Option<u16>, String)> {
    // Checked again at send time: the rule may have tightened since.
    let url = check_url(&hook.url, insecure).map_err(|e| (None, format!("url {e}")))?;
    let key = signing_secret(secret.as_bytes(), &hook.id);
    let t = worker::Date::now().as_millis() as i64 / 1000;
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| (None, e.to_string()));
    set("content-type", "application/json")?;
    set("user-agent", "Keybrake-Webhooks/1")?;
    set("keybrake-event-id", &event.id)?;
    set("keybrake-event-type", &event.kind)?;
    set("keybrake-signature", &signature(&key, t, body))?;
    let res = crate::proxy::send(&url, "POST", &headers, body.as_bytes(), DELIVERY_TIMEOUT_MS)
        .await
        .map_err(|e| (None, e.to_string()))?;
    let status = res.status();
    // Redirects are not followed: a 3xx is a failed delivery.
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err((Some(status), format!("the endpoint answered {status}")))
    }
}

/// An endpoint as the API shows it (never with its secret).
pub fn hook_json(h: &WebhookRow) -> serde_json::Value {
    serde_json::json!({
        "id": h.id,
        "url": h.url,
        "events": h.event_list(),
        "label_prefix": h.label_prefix,
        "created_at": crate::core::time::to_rfc3339(h.created_at),
        "deleted_at": h.deleted_at.map(crate::core::time::to_rfc3339),
    })
}

/// A delivery as the API shows it.
pub fn delivery_json(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "event_id": d.event_id,
        "event_type": d.event_type,
        "attempt": d.attempt,
        "status": d.status,
        "response_status": d.response_status,
        "error": d.error,
        "at": crate::core::time::to_rfc3339(d.at),
    })
}
