//! `GET /healthz`: what Keybrake needs and lacks, named, so an operator (or
//! `npm run doctor`) sees a missing secret before an agent's call does.
//! Public for what is broken (settings named, never their values); which
//! vendors this deployment holds secrets for is said only to the admin
//! token: a stranger learns nothing about the deployment from it.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::{self, ADMIN_TOKEN};
use crate::error::ApiResult;
use crate::http::{self, EnvConfig};
use crate::vendors::{self, ConfigSource};
use crate::{budget, issuer, proxy, store, vault_key, webhooks};

/// `ok` (200) when every binding and setting Keybrake depends on holds
/// (503 otherwise, each problem named); with the admin token, `vendors`
/// says which vendors can be called, naming the missing secret of each that
/// cannot.
pub fn handle(req: &Request, env: &Env) -> ApiResult<Response> {
    let config = EnvConfig(env);
    let mut problems = missing_bindings(env);
    problems.extend(config_problems(&config));
    let ok = problems.is_empty();
    let mut answer = json!({ "ok": ok, "problems": problems });
    if api::is_admin(req, env) {
        answer["vendors"] = vendor_states(&config);
    }
    http::json(if ok { 200 } else { 503 }, &answer).map_err(api::keys::internal)
}

/// Per vendor: `{ready: true}`, or `{ready: false, missing: "<what>"}`.
fn vendor_states(config: &dyn ConfigSource) -> serde_json::Value {
    let vendors: serde_json::Map<String, serde_json::Value> = vendors::readiness(config)
        .into_iter()
        .map(|(name, ready)| {
            let state = match ready {
                Ok(()) => json!({ "ready": true }),
                Err(missing) => json!({ "ready": false, "missing": missing }),
            };
            (name.to_owned(), state)
        })
        .collect();
    serde_json::Value::Object(vendors)
}

/// Settings that break calls or the management API: the admin token, the
/// USD rates, the operator's catalogue, the vendors' price tables.
fn config_problems(config: &dyn ConfigSource) -> Vec<String> {
    let mut problems = Vec::new();
    if config
        .get(ADMIN_TOKEN)
        .filter(|t| !t.trim().is_empty())
        .is_none()
    {
        problems.push(format!(
            "{ADMIN_TOKEN} is not set: the management API answers 503 not_configured"
        ));
    }
    problems.extend(proxy::rate_table(config).err().map(|e| e.message));
    problems.extend(proxy::operator_catalogue(config).err().map(|e| e.message));
    for vendor in vendors::all() {
        problems.extend(vendor.config_problems(config));
    }
    problems
}

/// The bindings wrangler.toml declares, each checked present.
fn missing_bindings(env: &Env) -> Vec<String> {
    let mut missing = Vec::new();
    if env.d1(store::DB).is_err() {
        missing.push(format!("the D1 binding {} is missing", store::DB));
    }
    for name in [vault_key::BINDING, issuer::BINDING, budget::BINDING] {
        if env.durable_object(name).is_err() {
            missing.push(format!("the Durable Object binding {name} is missing"));
        }
    }
    if env.queue(webhooks::QUEUE).is_err() {
        missing.push(format!("the queue binding {} is missing", webhooks::QUEUE));
    }
    missing
}
