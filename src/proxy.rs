//! The life of one proxied call, top to bottom:
//!
//! 1. authenticate: the token's shape and checksum, offline
//! 2. route: the vendor path exactly as it will be forwarded
//! 3. read: query, headers and body exactly as the vendor will read them,
//!    or refused; what is forwarded is Keybrake's own encoding of them
//! 4. price: the vendor's catalogue classifies the call (default deny) and
//!    reads the money it moves
//! 5. reserve: the key's Durable Object checks the key and reserves the cost
//!    against today's cap, recording the audit row
//! 6. forward: the real secret replaces the vault key
//! 7. settle: keep (2xx, 5xx, no answer) or release (4xx)
//! 8. respond: the vendor's answer plus Keybrake's headers; the audit row
//!    reaches D1 through the object's alarm
//!
//! One Durable Object round-trip before forwarding and none to D1.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use futures_channel::oneshot;
use futures_util::future::{select, Either};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{
    Context, Delay, Env, Headers, Request, Response, ResponseBody, ResponseBuilder, Result,
};

use crate::core::body::{self, Params};
use crate::core::catalogue::OperatorCatalogue;
use crate::core::constraints::CallFacts;
use crate::core::currency::RateTable;
use crate::core::endpoint::{canonicalize, CanonicalPath};
use crate::core::money::Money;
use crate::core::token::{hash_token, hex, parse_token, request_id, KeyId, TOKEN_PREFIX};
use crate::error::{ApiError, ErrorCode};
use crate::http::{now_ms, EnvConfig};
use crate::ledger::{settle_as, Attempt, Decision, SettleAs, Settlement};
use crate::store::{self, AuditRow};
use crate::vault_key::{Settled, VaultKeyClient};
use crate::vendors::{
    header_use, vendor_for, Charge, ConfigSource, HeaderUse, PricingInput, Vendor,
};

/// Largest request body Keybrake will read and price.
const MAX_BODY_BYTES: usize = 1 << 20;

/// `via`: how the call arrived when not as plain HTTP (`mcp`), for the
/// audit row; the path through here is the same.
pub async fn handle(
    mut req: Request,
    env: Env,
    ctx: Context,
    vendor: &'static dyn Vendor,
    vendor_path: &str,
    query: Option<String>,
    via: Option<&'static str>,
) -> Result<Response> {
    let request_id = request_id();
    let started = now_ms();
    let hooks = TestHooks::read(&req, &env);
    let now = hooks.now.unwrap_or_else(now_ms);
    let method = req.method().to_string();
    let config = EnvConfig(&env);
    // The caller's trace and run, to join Keybrake's audit with its own.
    let trace_id = req
        .headers()
        .get("traceparent")?
        .as_deref()
        .and_then(crate::core::trace::trace_id);
    let run_id = req
        .headers()
        .get("keybrake-run-id")?
        .map(|v| crate::core::trace::run_id(&v).map_err(|e| ApiError::field("Keybrake-Run-Id", e)));

    // 1. authenticate
    let Some((key_id, token)) = authenticate(req.headers()) else {
        let error = ApiError::new(
            ErrorCode::InvalidKey,
            "send a Keybrake vault key (kbk_…) as Authorization: Bearer",
        );
        let mut row = orphan_row(&request_id, None, vendor, &method, vendor_path, &error, now);
        row.via = via.map(str::to_owned);
        row.trace_id = trace_id;
        row.run_id = run_id.and_then(|r| r.ok());
        CallLog::of_row(&row, started).write();
        ctx.wait_until(audit_orphan(env, row));
        return deny(vendor, &error, &request_id, None);
    };
    // 2. route
    let path = route(vendor, vendor_path, &key_id, &config);
    let forward_path = path.as_ref().map_or(vendor_path, |p| p.as_str()).to_owned();
    // 3. read
    let read = read(vendor, &mut req, &method, query.as_deref()).await?;
    // 4. price (a vendor without its secret configured fails closed)
    let upstream_auth = vendor.upstream_authorization(&config);
    let (charge, facts) = match (&path, &run_id, &upstream_auth) {
        (_, Some(Err(e)), _) | (Err(e), _, _) | (_, _, Err(e)) => {
            (Err(e.clone()), CallFacts::default())
        }
        (Ok(path), _, Ok(_)) => price(vendor, &method, path, &read, &config),
    };

    let Read {
        headers,
        semantic,
        params,
    } = read;
    let (body, content_type) = params.map(|p| p.encode()).unwrap_or_default();
    let mut url = format!(
        "{}{}",
        vendor.api_base(&config).trim_end_matches('/'),
        forward_path
    );
    // Only a read keeps its query string (`read` refused any other's).
    if let Some(q) = query.as_deref().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    if let Ok(auth) = &upstream_auth {
        headers.set("authorization", auth)?;
    }
    if let Some(ct) = content_type {
        headers.set("content-type", ct)?;
    }
    let idempotency_key = vendor
        .idempotency_header()
        .and_then(|h| req.headers().get(h).ok().flatten());
    let call = Call {
        attempt: Attempt {
            request_id: request_id.clone(),
            token_hash: hash_token(&token).0,
            vendor: vendor.name().to_owned(),
            method: method.clone(),
            // What an idempotent retry and an approval are bound to.
            fingerprint: fingerprint(&method, &forward_path, query.as_deref(), &semantic, &body),
            path: forward_path,
            charge,
            accounts: vendor
                .account_headers()
                .iter()
                .filter_map(|h| req.headers().get(h).ok().flatten())
                .collect(),
            idempotency_key,
            now,
            trace_id,
            run_id: run_id.and_then(|r| r.ok()),
            facts,
            via: via.map(str::to_owned),
        },
        object: VaultKeyClient::for_key(&env, key_id.as_str())?,
        env,
        vendor,
        key_id: key_id.to_string(),
        method,
        url,
        headers,
        body,
        client_gone: req.inner().signal(),
        skip_settle: hooks.skip_settle,
        clock_offset: hooks.now.map_or(0, |n| n - now_ms()),
        started,
    };
    // Steps 5-8 run as a task the runtime keeps alive after the client has
    // gone, so a call that reached the vendor is always settled.
    let (reply, response) = oneshot::channel();
    ctx.wait_until(call.run(reply));
    response.await.unwrap_or_else(|_| {
        Err(worker::Error::RustError(
            "the proxy task ended without an answer".into(),
        ))
    })
}

/// Step 1, authenticate: the vault key's shape and checksum, offline. The
/// key id it names and the token itself.
pub(crate) fn authenticate(headers: &Headers) -> Option<(KeyId, String)> {
    let token = presented_token(headers)?;
    let key_id = parse_token(&token).ok()?;
    Some((key_id, token))
}

/// Step 2, route: the vendor path exactly as it will be forwarded (Twilio's
/// placeholder account becomes the real one), or why it cannot be.
fn route(
    vendor: &dyn Vendor,
    vendor_path: &str,
    key_id: &KeyId,
    config: &dyn ConfigSource,
) -> std::result::Result<CanonicalPath, ApiError> {
    let path =
        canonicalize(vendor_path).map_err(|e| ApiError::bad_request(format!("refused: {e}")))?;
    vendor.forward_path(path, key_id, config)
}

/// What step 3 read of a request: the headers to forward, those that make
/// two calls different (for idempotent retries), and the parameters, or
/// why the request cannot be read as the vendor would read it.
struct Read {
    headers: Headers,
    semantic: Vec<String>,
    params: std::result::Result<Params, ApiError>,
}

/// Step 3, read: the request exactly as the vendor will. Its parameters come
/// from the body alone (a write's query string is refused), and the body
/// forwarded is Keybrake's encoding of what it read.
async fn read(
    vendor: &dyn Vendor,
    req: &mut Request,
    method: &str,
    query: Option<&str>,
) -> Result<Read> {
    let (headers, semantic, header_problem) = forwarded_headers(vendor, req.headers())?;
    let content_type = req.headers().get("content-type")?;
    let body = read_body(req).await;
    let params = query_allowed(method, query)
        .and_then(|()| header_problem.map_or(Ok(()), Err))
        .and(body)
        .and_then(|b| body::read_body(vendor.body_shape(), method, content_type.as_deref(), &b));
    Ok(Read {
        headers,
        semantic,
        params,
    })
}

/// Step 4, price: refused unless the vendor's catalogue (or the operator's)
/// classifies the call; what the key's constraints judge is read from the
/// same parameters.
fn price(
    vendor: &dyn Vendor,
    method: &str,
    path: &CanonicalPath,
    read: &Read,
    config: &dyn ConfigSource,
) -> (std::result::Result<Charge, ApiError>, CallFacts) {
    let inspected = match &read.params {
        Ok(params) => rate_table(config)
            .and_then(|rates| Ok((rates, operator_catalogue(config)?)))
            .and_then(|(rates, operator)| {
                vendor.inspect(&PricingInput {
                    method,
                    path,
                    params,
                    rates: &rates,
                    config,
                    operator: &operator,
                })
            }),
        Err(e) => Err(e.clone()),
    };
    match inspected {
        Ok(read) => (Ok(read.charge), read.facts),
        Err(e) => (Err(e), CallFacts::default()),
    }
}

/// Everything steps 5-8 need, owned, so they can outlive the request.
struct Call {
    attempt: Attempt,
    object: VaultKeyClient,
    env: Env,
    vendor: &'static dyn Vendor,
    key_id: String,
    method: String,
    url: String,
    headers: Headers,
    body: Vec<u8>,
    /// Fires when the client disconnects.
    client_gone: web_sys::AbortSignal,
    skip_settle: bool,
    /// How far an injected test clock is from the runtime's.
    clock_offset: i64,
    /// When the request arrived (the runtime's clock), for the log line.
    started: i64,
}

type Reply = oneshot::Sender<Result<Response>>;

/// What step 5 reserved.
struct Reserved {
    cost: Money,
    remaining: Money,
    /// The key's label, for the log line.
    label: Option<String>,
}

impl Call {
    async fn run(self, reply: Reply) {
        if let Err(e) = self.reserve_forward_settle(reply).await {
            worker::console_error!("proxy task failed: {e}");
        }
    }

    /// Steps 5 to 8, in order.
    async fn reserve_forward_settle(self, reply: Reply) -> Result<()> {
        let reserved = match self.reserve().await {
            Ok(reserved) => reserved,
            Err(denial) => {
                let _ = reply.send(denial);
                return Ok(());
            }
        };
        // In production the runtime fires this when the client disconnects
        // (`enable_request_signal`); Miniflare's local proxy never does.
        if self.client_gone.aborted() {
            // Nothing was sent: the reservation goes back at once.
            let _ = reply.send(Err(worker::Error::RustError("client went away".into())));
            let request_id = &self.attempt.request_id;
            return self
                .settle(Settlement::not_forwarded(request_id, self.now()))
                .await
                .map(|_| ());
        }
        let (answer, settlement) = self.forward().await?;
        self.settle_and_respond(reply, reserved, answer, settlement)
            .await
    }

    /// Step 5, reserve: the key's object checks the key and reserves the
    /// cost, recording the audit row. A denial is answered (and audited
    /// straight to D1 when the object kept no row).
    async fn reserve(&self) -> std::result::Result<Reserved, Result<Response>> {
        let Call {
            attempt,
            object,
            env,
            vendor,
            key_id,
            ..
        } = self;
        let request_id = attempt.request_id.as_str();
        let authorized = object.authorize(attempt).await.map_err(Err)?;
        let label = authorized.label;
        match authorized.decision {
            Decision::Allowed { cost, remaining } => Ok(Reserved {
                cost,
                remaining,
                label,
            }),
            Decision::Denied { error, audited } => {
                // A credential that failed is nobody's: it is neither
                // attributed to the key it named nor told that key's id.
                let owner = (error.code != ErrorCode::InvalidKey).then_some(key_id.as_str());
                self.log(label.as_deref(), Some(&error), Money::ZERO, None, owner);
                if !audited {
                    let mut row = orphan_row(
                        request_id,
                        owner,
                        *vendor,
                        &attempt.method,
                        &attempt.path,
                        &error,
                        attempt.now,
                    );
                    row.trace_id = attempt.trace_id.clone();
                    row.run_id = attempt.run_id.clone();
                    row.via = attempt.via.clone();
                    audit_orphan(env.clone(), row).await;
                }
                Err(deny(*vendor, &error, request_id, owner))
            }
        }
    }

    /// Step 6, forward: the real secret replaces the vault key. A call that
    /// created something this key paid for has its answer read, to remember
    /// the object's id; anything else streams through untouched.
    async fn forward(&self) -> Result<(Option<Answer>, Settlement)> {
        let request_id = self.attempt.request_id.as_str();
        let timeout = crate::http::upstream_timeout_ms(&self.env);
        let upstream = send(&self.url, &self.method, &self.headers, &self.body, timeout).await;
        let status = upstream.as_ref().ok().map(web_sys::Response::status);
        let creates = matches!(self.attempt.charge, Ok(Charge::Amount { .. }));
        let mut created_object = None;
        let answer = match upstream {
            Ok(response) => {
                let headers = Headers(response.headers());
                let status = response.status();
                let body = if creates && (200..300).contains(&status) {
                    let buffer = JsFuture::from(response.array_buffer()?).await?;
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    created_object = self.vendor.created_object_id(&bytes);
                    ResponseBody::Body(bytes)
                } else {
                    response
                        .body()
                        .map_or(ResponseBody::Empty, ResponseBody::Stream)
                };
                Some(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                worker::console_error!("{request_id}: {} unreachable: {e}", self.vendor.name());
                None
            }
        };
        let settlement = Settlement {
            request_id: request_id.to_owned(),
            upstream_status: status,
            forwarded: true,
            created_object,
            now: self.now(),
        };
        Ok((answer, settlement))
    }

    /// Steps 7 and 8, settle and respond. A release (the vendor refused:
    /// 4xx) lands before the client hears back, so the freed cap is usable
    /// by its very next call. Anything kept settles after the reply: the
    /// reservation already counts, and a step on an object created here
    /// waits in the key's object until this settlement has recorded it.
    async fn settle_and_respond(
        &self,
        reply: Reply,
        reserved: Reserved,
        answer: Option<Answer>,
        settlement: Settlement,
    ) -> Result<()> {
        let status = settlement.upstream_status;
        let release = settle_as(status, true) == SettleAs::Release && reserved.cost > Money::ZERO;
        let (cost, remaining) = match release {
            true => match self.settle(settlement.clone()).await {
                Ok(Some(settled)) => (settled.cost, settled.remaining),
                _ => (reserved.cost, reserved.remaining),
            },
            false => (reserved.cost, reserved.remaining),
        };
        let key_id = self.key_id.as_str();
        let request_id = self.attempt.request_id.as_str();
        let _ = reply.send(respond(
            self.vendor,
            answer,
            request_id,
            key_id,
            cost,
            remaining,
        ));
        self.log(reserved.label.as_deref(), None, cost, status, Some(key_id));
        if !release {
            self.settle_later(settlement).await;
        }
        Ok(())
    }

    fn now(&self) -> i64 {
        now_ms() + self.clock_offset
    }

    fn log(
        &self,
        label: Option<&str>,
        error: Option<&ApiError>,
        cost: Money,
        status: Option<u16>,
        key_id: Option<&str>,
    ) {
        let a = &self.attempt;
        CallLog {
            event: "keybrake.call",
            request_id: &a.request_id,
            key_id,
            label,
            vendor: self.vendor.name(),
            method: &a.method,
            path: &a.path,
            decision: if error.is_some() { "denied" } else { "allowed" },
            code: error.map(|e| e.code.as_str()),
            cost_usd: cost.to_json(),
            upstream_status: status,
            latency_ms: now_ms() - self.started,
            trace_id: a.trace_id.as_deref(),
            run_id: a.run_id.as_deref(),
        }
        .write();
    }

    /// Settles with the key's object. A failure is logged, not fatal: the
    /// object's alarm resolves the reservation after its deadline.
    async fn settle(&self, settlement: Settlement) -> Result<Option<Settled>> {
        if self.skip_settle {
            return Ok(None);
        }
        match self.object.settle(&settlement).await {
            Ok(settled) => Ok(Some(settled)),
            Err(e) => {
                worker::console_error!("settle of {} failed: {e}", settlement.request_id);
                Ok(None)
            }
        }
    }

    /// Settles a kept call after its reply, in one trip with the other
    /// calls of the same key this isolate is settling at the same moment
    /// (a hot key's calls finish together): the first of them waits a
    /// moment, then carries them all. Each call's task lives until its own
    /// settlement has been delivered; one that never is, the key's alarm
    /// resolves.
    async fn settle_later(&self, settlement: Settlement) {
        if self.skip_settle {
            return;
        }
        let (done, delivered) = oneshot::channel();
        let leads = PENDING_SETTLEMENTS.with_borrow_mut(|pending| {
            let leads = !pending.iter().any(|(key, _, _)| *key == self.key_id);
            pending.push((self.key_id.clone(), settlement, done));
            leads
        });
        if leads {
            Delay::from(Duration::from_millis(SETTLE_GATHER_MS)).await;
            let (settlements, waiting): (Vec<_>, Vec<_>) =
                PENDING_SETTLEMENTS.with_borrow_mut(|pending| {
                    let (mine, others) = std::mem::take(pending)
                        .into_iter()
                        .partition(|(key, _, _)| *key == self.key_id);
                    *pending = others;
                    mine.into_iter().map(|(_, s, done)| (s, done)).unzip()
                });
            if let Err(e) = self.object.settle_many(&settlements).await {
                worker::console_error!("settling {} calls failed: {e}", settlements.len());
            }
            for done in waiting {
                let _ = done.send(());
            }
        }
        let _ = delivered.await;
    }
}

/// How long the first kept call of a key waits for others to settle with.
const SETTLE_GATHER_MS: u64 = 1;

/// Kept calls waiting to be settled: key id, settlement, and the signal
/// that it was delivered. Few at a time, so a list, not a map.
type PendingSettlements = Vec<(String, Settlement, oneshot::Sender<()>)>;

thread_local! {
    static PENDING_SETTLEMENTS: RefCell<PendingSettlements> = const { RefCell::new(Vec::new()) };
}

/// One JSON line per proxied call, for Workers Logs: who called what, the
/// decision, what it cost and how long it took. No token or secret.
#[derive(serde::Serialize)]
struct CallLog<'a> {
    event: &'static str,
    request_id: &'a str,
    key_id: Option<&'a str>,
    label: Option<&'a str>,
    vendor: &'a str,
    method: &'a str,
    path: &'a str,
    decision: &'static str,
    code: Option<&'a str>,
    cost_usd: serde_json::Value,
    upstream_status: Option<u16>,
    /// From the request's arrival to the reply.
    latency_ms: i64,
    trace_id: Option<&'a str>,
    run_id: Option<&'a str>,
}

impl<'a> CallLog<'a> {
    fn of_row(row: &'a AuditRow, started: i64) -> CallLog<'a> {
        CallLog {
            event: "keybrake.call",
            request_id: &row.id,
            key_id: row.key_id.as_deref(),
            label: None,
            vendor: row.vendor.as_deref().unwrap_or_default(),
            method: &row.method,
            path: &row.path,
            decision: "denied",
            code: row.code.as_deref(),
            cost_usd: Money::ZERO.to_json(),
            upstream_status: None,
            latency_ms: now_ms() - started,
            trace_id: row.trace_id.as_deref(),
            run_id: row.run_id.as_deref(),
        }
    }

    fn write(&self) {
        if let Ok(line) = serde_json::to_string(self) {
            worker::console_log!("{line}");
        }
    }
}

/// The vendor's answer, its body streamed through or already read.
struct Answer {
    status: u16,
    headers: Headers,
    body: ResponseBody,
}

/// Step 8, respond: the vendor's answer with Keybrake's headers, or a 502
/// when no answer came.
fn respond(
    vendor: &dyn Vendor,
    upstream: Option<Answer>,
    request_id: &str,
    key_id: &str,
    cost: Money,
    remaining: Money,
) -> Result<Response> {
    let Some(answer) = upstream else {
        let error = ApiError::new(
            ErrorCode::UpstreamUnreachable,
            format!(
                "{} did not answer; the call may or may not have been made",
                vendor.name()
            ),
        );
        return deny(vendor, &error, request_id, Some(key_id));
    };
    let read = matches!(answer.body, ResponseBody::Body(_));
    let headers = Headers::new();
    for (name, value) in answer.headers.entries() {
        if !read || name != "content-length" {
            headers.append(&name, &value)?;
        }
    }
    keybrake_headers(&headers, request_id, Some(key_id))?;
    headers.set("keybrake-cost-usd", &cost.to_string())?;
    headers.set("keybrake-remaining-usd", &remaining.to_string())?;
    Ok(ResponseBuilder::new()
        .with_status(answer.status)
        .with_headers(headers)
        .body(answer.body))
}

/// Switches honoured only when `KEYBRAKE_TEST_HOOKS` is `1` (the test
/// harness sets it; `wrangler.toml` never does).
struct TestHooks {
    /// `Keybrake-Test-Now: <epoch ms>`: the clock for this request.
    now: Option<i64>,
    /// `Keybrake-Test-Skip-Settle: 1`: forward but never settle, as a
    /// Worker cut off mid-call would.
    skip_settle: bool,
}

impl TestHooks {
    fn read(req: &Request, env: &Env) -> TestHooks {
        if !crate::http::test_hooks_enabled(env) {
            return TestHooks {
                now: None,
                skip_settle: false,
            };
        }
        let header = |name| req.headers().get(name).ok().flatten();
        TestHooks {
            now: crate::http::test_now(req, env),
            skip_settle: header("keybrake-test-skip-settle").as_deref() == Some("1"),
        }
    }
}

/// A write's query string is refused: Stripe and Twilio read it as
/// parameters, and Keybrake prices the body alone.
fn query_allowed(method: &str, query: Option<&str>) -> std::result::Result<(), ApiError> {
    match query {
        Some(q) if !q.is_empty() && !matches!(method, "GET" | "HEAD") => Err(ApiError {
            param: Some("query".into()),
            ..ApiError::bad_request(format!(
                "a {method} may not carry a query string: the vendor would read it as parameters; send them in the body"
            ))
        }),
        _ => Ok(()),
    }
}

/// The headers to forward, the ones that make two calls different (for the
/// idempotency fingerprint), and the first header that refuses the call.
fn forwarded_headers(
    vendor: &dyn Vendor,
    client: &Headers,
) -> Result<(Headers, Vec<String>, Option<ApiError>)> {
    let headers = Headers::new();
    let mut semantic = Vec::new();
    let mut problem = None;
    for (name, value) in client.entries() {
        match header_use(vendor, &name) {
            HeaderUse::Semantic => {
                headers.append(&name, &value)?;
                semantic.push(format!("{name}:{value}"));
            }
            HeaderUse::Cosmetic => headers.append(&name, &value)?,
            HeaderUse::Dropped => {}
            HeaderUse::Refused => {
                problem.get_or_insert(ApiError::field(
                    &name,
                    format!(
                        "is a {} header Keybrake does not know; it could change what the call does",
                        vendor.name()
                    ),
                ));
            }
        }
    }
    Ok((headers, semantic, problem))
}

/// The vault key from `Authorization: Bearer <key>` or Basic auth, where it
/// may be the username (Stripe's form) or the password (Twilio's SDK sends
/// the account SID as username).
fn presented_token(headers: &Headers) -> Option<String> {
    let value = headers.get("authorization").ok()??;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
        let token = if pass.starts_with(TOKEN_PREFIX) {
            pass
        } else {
            user
        };
        return Some(token.to_owned());
    }
    None
}

pub(crate) async fn read_body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.parse::<usize>().is_ok_and(|n| n > MAX_BODY_BYTES) {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is over {MAX_BODY_BYTES} bytes"),
            ));
        }
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// A setting's text and what it parsed to, kept per isolate.
type Parsed<T> = RefCell<Option<(String, Rc<T>)>>;

/// A setting parsed once per isolate, and again only when its text
/// changes. `cell` is the setting's own thread-local slot.
fn parsed_setting<T>(
    cell: &'static std::thread::LocalKey<Parsed<T>>,
    text: String,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> std::result::Result<Rc<T>, ApiError> {
    if let Some(parsed) = cell.with_borrow(|p| {
        p.as_ref()
            .filter(|(t, _)| *t == text)
            .map(|(_, v)| v.clone())
    }) {
        return Ok(parsed);
    }
    let parsed = Rc::new(parse(&text).map_err(|e| ApiError::new(ErrorCode::NotConfigured, e))?);
    cell.set(Some((text, parsed.clone())));
    Ok(parsed)
}

/// The operator's USD rates (`KEYBRAKE_USD_RATES`).
pub(crate) fn rate_table(
    config: &dyn ConfigSource,
) -> std::result::Result<Rc<RateTable>, ApiError> {
    thread_local! {
        static PARSED: Parsed<RateTable> = const { RefCell::new(None) };
    }
    let text = config.get("KEYBRAKE_USD_RATES").unwrap_or_default();
    parsed_setting(&PARSED, text, |json| {
        if json.trim().is_empty() {
            return Ok(RateTable::default());
        }
        RateTable::parse(json).map_err(|e| format!("KEYBRAKE_USD_RATES is invalid: {e}"))
    })
}

/// The operator's catalogue additions (`KEYBRAKE_CATALOGUE`). A broken one
/// fails every call closed, naming the problem.
pub(crate) fn operator_catalogue(
    config: &dyn ConfigSource,
) -> std::result::Result<Rc<OperatorCatalogue>, ApiError> {
    thread_local! {
        static PARSED: Parsed<OperatorCatalogue> = const { RefCell::new(None) };
    }
    let text = config.get("KEYBRAKE_CATALOGUE").unwrap_or_default();
    parsed_setting(&PARSED, text, |text| {
        OperatorCatalogue::parse(text, &|v| vendor_for(v).is_some())
    })
}

/// What makes two requests the same call: method, path, query, the
/// headers that change what the vendor does (`Stripe-Account`,
/// `Stripe-Version`) and the body as forwarded (its content type follows
/// from it).
fn fingerprint(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[String],
    body: &[u8],
) -> String {
    let mut headers = headers.to_vec();
    headers.sort();
    let mut h = Sha256::new();
    for part in [method, path, query.unwrap_or("")] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    for header in &headers {
        h.update(header.as_bytes());
        h.update(b"\n");
    }
    h.update(body);
    hex(&h.finalize())
}

/// Sends the call upstream, giving up after `timeout_ms`.
/// Redirects are not followed: the real secret goes to the vendor only.
/// (Raw `fetch`: workers-rs would take the answer apart and rebuild it.)
/// Webhook deliveries go out the same way.
pub(crate) async fn send(
    url: &str,
    method: &str,
    headers: &Headers,
    body: &[u8],
    timeout_ms: u64,
) -> Result<web_sys::Response> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if !body.is_empty() {
        init.set_body(&js_sys::Uint8Array::from(body));
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let call = JsFuture::from(global.fetch_with_request(&request));
    let timeout = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    match select(call, timeout).await {
        Either::Left((result, _)) => Ok(result?.unchecked_into()),
        Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {timeout_ms} ms"
        ))),
    }
}

fn keybrake_headers(headers: &Headers, request_id: &str, key_id: Option<&str>) -> Result<()> {
    if !request_id.is_empty() {
        headers.set("keybrake-request-id", request_id)?;
    }
    if let Some(id) = key_id {
        headers.set("keybrake-key-id", id)?;
    }
    Ok(())
}

/// A denial in the vendor's error shape, telling its SDK not to retry
/// unless retrying can help.
pub fn deny(
    vendor: &dyn Vendor,
    error: &ApiError,
    request_id: &str,
    key_id: Option<&str>,
) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    keybrake_headers(&headers, request_id, key_id)?;
    // Whatever the body's vendor shape, a client can tell Keybrake's refusal
    // from the vendor's own error by this header.
    headers.set("keybrake-error-code", error.code.as_str())?;
    if let Some(approval) = &error.approval_id {
        headers.set("keybrake-approval-id", approval)?;
    }
    if let Some(h) = vendor.retry_hint_header() {
        headers.set(
            h,
            if error.code.retryable() {
                "true"
            } else {
                "false"
            },
        )?;
    }
    Ok(ResponseBuilder::new()
        .with_status(error.status())
        .with_headers(headers)
        .fixed(serde_json::to_vec(&vendor.error_body(error))?))
}

/// The audit row of an attempt no key's object could hold (a malformed
/// token, or an id that was never issued).
fn orphan_row(
    request_id: &str,
    key_id: Option<&str>,
    vendor: &dyn Vendor,
    method: &str,
    path: &str,
    error: &ApiError,
    now: i64,
) -> AuditRow {
    AuditRow {
        id: request_id.to_owned(),
        key_id: key_id.map(str::to_owned),
        label: None,
        vendor: Some(vendor.name().to_owned()),
        method: method.to_owned(),
        path: path.chars().take(512).collect(),
        decision: "denied".into(),
        code: Some(error.code.as_str().to_owned()),
        message: Some(error.message.clone()),
        upstream_status: None,
        cost_micros: 0,
        created_at: now,
        trace_id: None,
        run_id: None,
        via: None,
    }
}

/// Writes such a row straight to D1 (off the response path).
async fn audit_orphan(env: Env, row: AuditRow) {
    let written = match env.d1(store::DB) {
        Ok(db) => store::write_orphan_audit(&db, &row).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        worker::console_error!("audit of {} failed: {e}", row.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_body_and_by_account_and_version() {
        let fp = |headers: &[&str], body: &[u8]| {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            fingerprint("POST", "/v1/x", None, &headers, body)
        };
        assert_ne!(fp(&[], b"amount=1"), fp(&[], b"amount=2"));
        assert_eq!(fp(&[], b"a"), fp(&[], b"a"));
        assert_ne!(fp(&[], b"a"), fp(&["stripe-account:acct_1"], b"a"));
        assert_ne!(
            fp(&["stripe-version:2020-08-27"], b"a"),
            fp(&["stripe-version:2024-06-20"], b"a")
        );
        assert_eq!(
            fp(&["a:1", "b:2"], b"a"),
            fp(&["b:2", "a:1"], b"a"),
            "header order does not matter"
        );
    }
}
