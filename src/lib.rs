//! Keybrake: vault keys for AI agents on Cloudflare Workers.
//!
//! This file only wires routes. The proxy pipeline is `proxy.rs`, the spend
//! ledger `vault_key/` (one Durable Object per key) with its rules in
//! `ledger/`, the management API `api/`, and everything that needs no
//! runtime (`core/`, `vendors/`, `ledger/`, `error.rs`) tests on the host.

pub mod api;
pub mod budget;
pub mod core;
pub mod error;
pub mod health;
pub mod http;
pub mod issuer;
pub mod ledger;
pub mod mcp;
pub mod objects;
pub mod proxy;
pub mod retention;
pub mod store;
pub mod vault_key;
pub mod vendors;
pub mod webhooks;

use worker::{event, Context, Env, Method, Request, Response, Result};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The cron trigger: audit retention.
#[event(scheduled)]
async fn scheduled(event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    match retention::prune_audit(&env, event.schedule() as i64).await {
        Ok(pruned) => worker::console_log!(
            "{}",
            serde_json::json!({ "event": "keybrake.audit_pruned", "rows": pruned })
        ),
        Err(e) => worker::console_error!("audit retention failed: {e}"),
    }
}

/// The webhooks' queue and its dead-letter queue.
#[event(queue)]
async fn queue(batch: worker::MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    webhooks::consume(batch, &env).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    // Parsed once: the `url` crate runs IDNA on every host it parses.
    let url = req.url()?;
    let path = url.path().to_owned();
    let query = url.query().map(str::to_owned);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    // The MCP server, at `/mcp` on every host (no vendor has that path),
    // the proxy's host-style ones included.
    if segments == ["mcp"] {
        return mcp::handle(req, env, ctx).await;
    }

    // Proxy, by host (`stripe.<anything>`: for SDKs that cannot add a path
    // prefix) or by path (`/<vendor>/<vendor path>`).
    let host = url.host_str().unwrap_or_default();
    let by_host = host
        .split_once('.')
        .and_then(|(first, _)| vendors::vendor_for(first));
    if let Some(vendor) = by_host {
        return proxy_or_fail(req, env, ctx, vendor, &path, query).await;
    }
    if let Some(vendor) = segments.first().and_then(|s| vendors::vendor_for(s)) {
        let vendor_path = &path[1 + vendor.name().len()..];
        return proxy_or_fail(req, env, ctx, vendor, vendor_path, query).await;
    }

    let answer = match (req.method(), segments.as_slice()) {
        (Method::Get, ["healthz"]) => health::handle(&req, &env),
        (_, ["v1", ..]) => management(req, &env, &segments, query.as_deref()).await,
        _ => Err(ApiError::not_found(&format!("route {path}"))),
    };
    answer.or_else(|e| http::error(&e))
}

async fn proxy_or_fail(
    req: Request,
    env: Env,
    ctx: Context,
    vendor: &'static dyn vendors::Vendor,
    vendor_path: &str,
    query: Option<String>,
) -> Result<Response> {
    match proxy::handle(req, env, ctx, vendor, vendor_path, query, None).await {
        Ok(response) => Ok(response),
        // A runtime failure (the key's object unreachable, storage): nothing
        // was forwarded, and the details stay in the logs.
        Err(e) => proxy::deny(vendor, &api::keys::internal(e), "", None),
    }
}

async fn management(
    req: Request,
    env: &Env,
    segments: &[&str],
    query: Option<&str>,
) -> ApiResult<Response> {
    let now = http::request_now(&req, env);
    let caller = api::authenticate(&req, env, now).await?;
    let caller = &caller;
    match (req.method(), segments) {
        (Method::Post, ["v1", "keys"]) => api::keys::create(req, env, now, caller).await,
        (Method::Get, ["v1", "keys"]) => api::keys::list(query, env, now, caller).await,
        (Method::Post, ["v1", "keys", "revoke-all"]) => {
            api::keys::revoke_all(req, env, now, caller).await
        }
        (Method::Get, ["v1", "keys", id]) => api::keys::get(id, env, now, caller).await,
        (Method::Delete, ["v1", "keys", id]) => api::keys::revoke(id, env, now, caller).await,
        (Method::Patch, ["v1", "keys", id]) => {
            api::key_changes::update(req, id, env, now, caller).await
        }
        (Method::Post, ["v1", "keys", id, "pause"]) => {
            api::key_changes::pause(id, env, now, caller).await
        }
        (Method::Post, ["v1", "keys", id, "resume"]) => {
            api::key_changes::resume(id, env, now, caller).await
        }
        (Method::Get, ["v1", "approvals"]) => api::approvals::list(query, env, now, caller).await,
        (Method::Get, ["v1", "approvals", id]) => {
            api::approvals::get(query, id, env, now, caller).await
        }
        (Method::Post, ["v1", "approvals", id, step @ ("approve" | "deny")]) => {
            let approve = *step == "approve";
            api::approvals::decide(req, id, approve, env, now, caller).await
        }
        (Method::Get, ["v1", "audit"]) => api::audit::list(query, env, caller).await,
        (Method::Get, ["v1", "usage"]) => api::usage::get(query, env, now, caller).await,
        (_, ["v1", "budgets", ..]) => {
            caller.require_admin()?;
            match (req.method(), segments) {
                (Method::Post, ["v1", "budgets"]) => api::budgets::put(req, env, now).await,
                (Method::Get, ["v1", "budgets"]) => api::budgets::list(env).await,
                (Method::Get, ["v1", "budgets", id]) => api::budgets::get(id, env, now).await,
                (Method::Delete, ["v1", "budgets", id]) => api::budgets::delete(id, env, now).await,
                _ => Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{} is not supported on {}", req.method(), req.path()),
                )),
            }
        }
        (_, ["v1", "webhooks", ..]) => {
            caller.require_admin()?;
            match (req.method(), segments) {
                (Method::Post, ["v1", "webhooks"]) => api::webhooks::create(req, env, now).await,
                (Method::Get, ["v1", "webhooks"]) => api::webhooks::list(env).await,
                (Method::Get, ["v1", "webhooks", id]) => api::webhooks::get(id, env).await,
                (Method::Delete, ["v1", "webhooks", id]) => {
                    api::webhooks::delete(id, env, now).await
                }
                _ => Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{} is not supported on {}", req.method(), req.path()),
                )),
            }
        }
        (_, ["v1", "issuers", ..]) => {
            caller.require_admin()?;
            match (req.method(), segments) {
                (Method::Post, ["v1", "issuers"]) => api::issuers::create(req, env, now).await,
                (Method::Get, ["v1", "issuers"]) => api::issuers::list(env, now).await,
                (Method::Get, ["v1", "issuers", id]) => api::issuers::get(id, env, now).await,
                (Method::Delete, ["v1", "issuers", id]) => api::issuers::revoke(id, env, now).await,
                _ => Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{} is not supported on {}", req.method(), req.path()),
                )),
            }
        }
        (Method::Post, ["v1", "test", "faults"]) if http::test_hooks_enabled(env) => {
            caller.require_admin()?;
            api::keys::set_faults(req, env, now).await
        }
        (
            _,
            ["v1", "keys"]
            | ["v1", "keys", _]
            | ["v1", "keys", _, "pause" | "resume"]
            | ["v1", "approvals"]
            | ["v1", "approvals", _]
            | ["v1", "approvals", _, "approve" | "deny"]
            | ["v1", "audit"]
            | ["v1", "usage"],
        ) => Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{} is not supported on {}", req.method(), req.path()),
        )),
        _ => Err(ApiError::not_found(&format!("route {}", req.path()))),
    }
}
