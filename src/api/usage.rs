//! `GET /v1/usage`: calls and spend per key, label, vendor or UTC day,
//! summed from the audit log, so it always agrees with `GET /v1/audit`.

use serde_json::{json, Value};
use worker::{Env, Response};

use super::keys::internal;
use super::{Caller, Query};
use crate::core::money::Money;
use crate::core::time::{to_rfc3339, utc_day};
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::store::{self, UsageGroup, UsageQuery};

const DAY_MS: i64 = 86_400_000;

pub async fn get(query: Option<&str>, env: &Env, now: i64, caller: &Caller) -> ApiResult<Response> {
    let params = Query::parse(
        query,
        &[
            "group_by",
            "since",
            "until",
            "vendor",
            "label_prefix",
            "key_id",
        ],
    )?;
    let q = UsageQuery {
        group: params
            .parsed(
                "group_by",
                "must be key, label, vendor or day",
                UsageGroup::parse,
            )?
            .unwrap_or(UsageGroup::Key),
        // Today (UTC) unless told otherwise.
        since: params.instant("since")?.unwrap_or(utc_day(now) * DAY_MS),
        until: params.instant("until")?.unwrap_or(now + 1),
        vendor: params.string("vendor"),
        label_prefix: params.string("label_prefix"),
        key_id: params.string("key_id"),
        issuer_id: caller.issuer_id().map(str::to_owned),
    };
    if q.since >= q.until {
        return Err(ApiError::field("since", "must be before until"));
    }
    let db = env.d1(store::DB).map_err(internal)?;
    let rows = store::usage(&db, &q).await.map_err(internal)?;
    let name = match q.group {
        UsageGroup::Key => "key_id",
        UsageGroup::Label => "label",
        UsageGroup::Vendor => "vendor",
        UsageGroup::Day => "day",
    };
    let (mut calls, mut cost) = (0u64, 0u64);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            calls += r.calls;
            cost += r.cost_micros;
            let group = match (q.group, &r.grp) {
                (UsageGroup::Day, Some(day)) => {
                    json!(to_rfc3339(day.as_i64().unwrap_or(0) * DAY_MS)[..10])
                }
                (_, g) => g.clone().unwrap_or(Value::Null),
            };
            let mut v = json!({
                name: group,
                "calls": r.calls,
                "allowed": r.allowed,
                "denied": r.denied,
                "cost_usd": Money::from_micros(r.cost_micros).to_json(),
            });
            if q.group == UsageGroup::Key {
                v["label"] = json!(r.label);
            }
            v
        })
        .collect();
    http::json(
        200,
        &json!({
            "group_by": name,
            "since": to_rfc3339(q.since),
            "until": to_rfc3339(q.until),
            "data": data,
            "total": { "calls": calls, "cost_usd": Money::from_micros(cost).to_json() },
        }),
    )
    .map_err(internal)
}
