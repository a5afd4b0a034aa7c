//! `GET /v1/audit`: every proxied attempt, newest first.

use serde_json::{json, Value};
use worker::{Env, Request, Response};

use super::keys::internal;
use super::limit;
use super::Caller;
use crate::core::money::Money;
use crate::core::time::{parse_instant, to_rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::store::{self, AuditQuery, AuditRow, Cursor};

const PARAMS: &str =
    "key_id, label, label_prefix, vendor, decision, trace_id, run_id, since, until, limit, cursor";

fn instant(field: &str, value: &str) -> ApiResult<i64> {
    parse_instant(value)
        .ok_or_else(|| ApiError::field(field, "must be epoch milliseconds or an RFC 3339 time"))
}

pub fn entry_json(r: &AuditRow) -> Value {
    json!({
        "id": r.id,
        "key_id": r.key_id,
        "label": r.label,
        "vendor": r.vendor,
        "method": r.method,
        "path": r.path,
        "decision": r.decision,
        "code": r.code,
        "message": r.message,
        "upstream_status": r.upstream_status,
        "cost_usd": Money::from_micros(r.cost_micros).to_json(),
        "created_at": to_rfc3339(r.created_at),
        "trace_id": r.trace_id,
        "run_id": r.run_id,
        "via": r.via,
    })
}

pub async fn list(req: &Request, env: &Env, caller: &Caller) -> ApiResult<Response> {
    let url = req.url().map_err(internal)?;
    let mut q = AuditQuery {
        issuer_id: caller.issuer_id().map(str::to_owned),
        ..Default::default()
    };
    let mut lim = None;
    for (k, v) in url.query_pairs() {
        let v = v.into_owned();
        match k.as_ref() {
            "key_id" => q.key_id = Some(v),
            "label" => q.label = Some(v),
            "label_prefix" => q.label_prefix = Some(v),
            "vendor" => q.vendor = Some(v),
            "decision" => {
                if v != "allowed" && v != "denied" {
                    return Err(ApiError::field("decision", "must be allowed or denied"));
                }
                q.decision = Some(v)
            }
            "trace_id" => q.trace_id = Some(v),
            "run_id" => q.run_id = Some(v),
            "since" => q.since = Some(instant("since", &v)?),
            "until" => q.until = Some(instant("until", &v)?),
            "limit" => lim = Some(v),
            "cursor" => {
                q.cursor = Some(Cursor::decode(&v).ok_or_else(|| {
                    ApiError::field("cursor", "is not a cursor this API returned")
                })?)
            }
            other => {
                return Err(ApiError::field(
                    other,
                    format!("is not a known query parameter ({PARAMS})"),
                ))
            }
        }
    }
    q.limit = limit(lim.as_deref(), 100, 1000)?;
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_audit(&db, &q).await.map_err(internal)?;
    let next = Cursor::after(&rows, q.limit, |r| (r.created_at, r.id.as_str()));
    let data: Vec<Value> = rows.iter().map(entry_json).collect();
    http::json(200, &json!({ "data": data, "next_cursor": next })).map_err(internal)
}
