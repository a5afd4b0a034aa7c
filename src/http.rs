//! Building responses and reading the runtime's configuration.

use serde_json::Value;
use worker::{Env, Headers, Request, Response, ResponseBuilder, Result};

use crate::error::ApiError;
use crate::vendors::ConfigSource;

/// A JSON response. Management answers carry tokens and are never cached.
pub fn json(status: u16, body: &Value) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(serde_json::to_vec(body)?))
}

/// An error in Keybrake's own shape (management API, unknown vendor).
pub fn error(err: &ApiError) -> Result<Response> {
    json(err.status(), &err.plain_body())
}

/// Secrets first, then plain vars: the same name works as either, so tests
/// and `.dev.vars` can set what production keeps secret.
pub struct EnvConfig<'a>(pub &'a Env);

impl ConfigSource for EnvConfig<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let Ok(secret) = self.0.secret(name) {
            return Some(secret.to_string());
        }
        self.0.var(name).ok().map(|v| v.to_string())
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// How long the proxy waits for a vendor before answering 502 (the
/// reservation is kept: the vendor may still act on the call). Set by
/// `KEYBRAKE_UPSTREAM_TIMEOUT_MS`; 60 s by default.
pub fn upstream_timeout_ms(env: &Env) -> u64 {
    env.var("KEYBRAKE_UPSTREAM_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.to_string().parse::<u64>().ok())
        .map_or(60_000, |ms| ms.max(100))
}

/// Test-only switches are honoured only when `KEYBRAKE_TEST_HOOKS` is `1`;
/// the test harness sets it, `wrangler.toml` never does.
pub fn test_hooks_enabled(env: &Env) -> bool {
    env.var("KEYBRAKE_TEST_HOOKS")
        .is_ok_and(|v| v.to_string() == "1")
}

/// The injected clock of a test request (`Keybrake-Test-Now: <epoch ms>`).
pub fn test_now(req: &Request, env: &Env) -> Option<i64> {
    if !test_hooks_enabled(env) {
        return None;
    }
    req.headers()
        .get("keybrake-test-now")
        .ok()
        .flatten()?
        .parse()
        .ok()
}

/// The clock for a request: the injected one in tests, the runtime's otherwise.
pub fn request_now(req: &Request, env: &Env) -> i64 {
    test_now(req, env).unwrap_or_else(now_ms)
}
