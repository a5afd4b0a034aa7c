//! `GET /v1/audit`: every proxied attempt, newest first.

use serde_json::{json, Value};
use worker::{Env, Response};

use super::keys::internal;
use super::Caller;
use super::Query;
use crate::core::money::Money;
use crate::core::time::to_rfc3339;
use crate::error::ApiResult;
use crate::http;
use crate::store::{self, AuditQuery, AuditRow, Cursor};

const PARAMS: &[&str] = &[
    "key_id",
    "label",
    "label_prefix",
    "vendor",
    "decision",
    "trace_id",
    "run_id",
    "since",
    "until",
    "limit",
    "cursor",
];

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

pub async fn list(query: Option<&str>, env: &Env, caller: &Caller) -> ApiResult<Response> {
    let params = Query::parse(query, PARAMS)?;
    let decision = |v: &str| ["allowed", "denied"].contains(&v).then(|| v.to_owned());
    let q = AuditQuery {
        key_id: params.string("key_id"),
        label: params.string("label"),
        label_prefix: params.string("label_prefix"),
        vendor: params.string("vendor"),
        decision: params.parsed("decision", "must be allowed or denied", decision)?,
        trace_id: params.string("trace_id"),
        run_id: params.string("run_id"),
        since: params.instant("since")?,
        until: params.instant("until")?,
        cursor: params.cursor()?,
        limit: params.limit(100, 1000)?,
        issuer_id: caller.issuer_id().map(str::to_owned),
    };
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::list_audit(&db, &q).await.map_err(internal)?;
    let next = Cursor::after(&rows, q.limit, |r| (r.created_at, r.id.as_str()));
    let data: Vec<Value> = rows.iter().map(entry_json).collect();
    http::json(200, &json!({ "data": data, "next_cursor": next })).map_err(internal)
}
