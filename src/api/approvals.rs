//! `/v1/approvals`: the calls waiting for a person (`ledger::approval`).
//! One approval lives in its key's Durable Object, which decides it; D1
//! holds a copy for listing across keys.

use std::time::Duration;

use serde_json::{json, Value};
use worker::{Delay, Env, Request, Response};

use super::keys::internal;
use super::{json_object, opt_str, reject_unknown, Caller, Query};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http;
use crate::ledger::approval::{key_of, Approval, ApprovalDecision, ApprovalStatus};
use crate::store::{self, ApprovalQuery, Cursor};
use crate::vault_key::{ApprovalView, VaultKeyClient};

/// The longest `?wait=` a read may hold the connection open for.
const MAX_WAIT_SECS: u64 = 60;
const POLL: Duration = Duration::from_millis(250);
const MAX_NOTE_CHARS: usize = 500;

fn view_json(v: &ApprovalView) -> Value {
    v.approval.to_json(&v.label, &v.vendor)
}

/// An approval the caller may see: an issuer sees its own keys' only
/// (others' read as not found, revealing nothing).
async fn visible(id: &str, env: &Env, now: i64, caller: &Caller) -> ApiResult<ApprovalView> {
    let missing = || ApiError::not_found(&format!("approval {id:?}"));
    let key = key_of(id).ok_or_else(missing)?;
    let view = VaultKeyClient::for_key(env, key.as_str())
        .map_err(internal)?
        .approval(id, now)
        .await
        .map_err(internal)?
        .map_err(|_| missing())?;
    match caller.issuer_id() {
        Some(issuer) if view.issuer_id.as_deref() != Some(issuer) => Err(missing()),
        _ => Ok(view),
    }
}

/// `GET /v1/approvals/{id}`, with `?wait=N` holding the answer up to N
/// seconds while the approval is still pending.
pub async fn get(
    query: Option<&str>,
    id: &str,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let must = format!("must be whole seconds, 0 to {MAX_WAIT_SECS}");
    let wait_secs = Query::parse(query, &["wait"])?
        .parsed("wait", &must, |v| {
            v.parse::<u64>().ok().filter(|s| *s <= MAX_WAIT_SECS)
        })?
        .unwrap_or(0);
    let started = worker::Date::now().as_millis() as i64;
    loop {
        let elapsed = worker::Date::now().as_millis() as i64 - started;
        let view = visible(id, env, now + elapsed, caller).await?;
        if view.approval.status != ApprovalStatus::Pending || elapsed >= wait_secs as i64 * 1000 {
            return http::json(200, &view_json(&view)).map_err(internal);
        }
        Delay::from(POLL).await;
    }
}

/// `POST /v1/approvals/{id}/approve` and `/deny`, with an optional
/// `{"note"}`. The admin may decide any approval; an issuer only its own
/// keys', and only when its ceilings say `can_approve`.
pub async fn decide(
    mut req: Request,
    id: &str,
    approve: bool,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let body = json_object(&mut req, true).await?;
    reject_unknown(&body, &["note"])?;
    let note = opt_str(&body, "note")?;
    if let Some(n) = &note {
        if n.chars().count() > MAX_NOTE_CHARS || n.chars().any(char::is_control) {
            return Err(ApiError::field(
                "note",
                format!("must be at most {MAX_NOTE_CHARS} characters, without control characters"),
            ));
        }
    }
    visible(id, env, now, caller).await?;
    let by = match caller {
        Caller::Admin => "admin".to_owned(),
        Caller::Issuer(issuer) if issuer.ceilings.can_approve => format!("issuer {}", issuer.id),
        Caller::Issuer(_) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this issuer's ceilings do not allow it to decide approvals (can_approve)",
            ))
        }
    };
    let key = key_of(id).ok_or_else(|| ApiError::not_found(&format!("approval {id:?}")))?;
    let decision = ApprovalDecision {
        approve,
        by,
        note,
        now,
    };
    let view = VaultKeyClient::for_key(env, key.as_str())
        .map_err(internal)?
        .decide_approval(id, decision)
        .await
        .map_err(internal)??;
    http::json(200, &view_json(&view)).map_err(internal)
}

/// `GET /v1/approvals`: newest first, from D1's copy (a moment behind the
/// keys' objects at most; `GET /v1/approvals/{id}` reads the object).
pub async fn list(
    query: Option<&str>,
    env: &Env,
    now: i64,
    caller: &Caller,
) -> ApiResult<Response> {
    let params = Query::parse(
        query,
        &["status", "key_id", "label_prefix", "cursor", "limit"],
    )?;
    let q = ApprovalQuery {
        status: params.parsed(
            "status",
            "must be pending, approved, denied, expired or used",
            ApprovalStatus::parse,
        )?,
        key_id: params.string("key_id"),
        label_prefix: params.string("label_prefix"),
        cursor: params.cursor()?,
        limit: params.limit(50, 200)?,
        issuer_id: caller.issuer_id().map(str::to_owned),
    };
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_approvals(&db, &q, now)
        .await
        .map_err(internal)?;
    let next = Cursor::after(&rows, q.limit, |r| (r.created_at, r.id.as_str()));
    let data = rows
        .iter()
        .map(|r| {
            let mut a: Approval = serde_json::from_str(&r.body).map_err(internal)?;
            a.status = a.status_at(now);
            Ok(a.to_json(&r.label, &r.vendor))
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    http::json(200, &json!({ "data": data, "next_cursor": next })).map_err(internal)
}
