//! `/mcp`: Keybrake as a Model Context Protocol server (Streamable HTTP,
//! stateless), authenticated by a vault key. Its tools are the key's
//! vendor's common calls and one generic request, listed only where the
//! key's allowlist admits them; a tool call is made into an HTTP request
//! and run through the proxy itself (`proxy::handle`), so it is read,
//! priced, reserved, forwarded, settled and audited exactly as any call,
//! its audit row marked `via: "mcp"`. A refusal is a tool error a model can
//! read, never a protocol error.

use serde_json::{json, Map, Value};
use worker::{
    Context, Env, Headers, Method, Request, RequestInit, Response, ResponseBuilder, Result,
};

use crate::core::endpoint::{canonicalize, Allowlist};
use crate::core::mcp::{
    generic_request, negotiate, parse, result, sample_path, RpcError, Tool, ToolRequest,
    INVALID_PARAMS, METHOD_NOT_FOUND, REQUEST_SCHEMA,
};
use crate::core::time::to_rfc3339;
use crate::core::token::{constant_time_eq, hash_token, KeyId};
use crate::ledger::KeyStatus;
use crate::vault_key::{KeyState, VaultKeyClient};
use crate::vendors::{vendor_for, Vendor};

/// The resource that describes the key itself.
const KEY_RESOURCE: &str = "keybrake://key";

/// An HTTP-level refusal (no valid key): the JSON-RPC error shape, with the
/// status the transport expects.
fn refuse(status: u16, message: &str) -> Result<Response> {
    let mut res = crate::http::json(
        status,
        &RpcError::new(Value::Null, -32001, message).to_json(),
    )?;
    if status == 401 {
        res.headers_mut()
            .set("www-authenticate", "Bearer error=\"invalid_token\"")?;
    }
    Ok(res)
}

/// The key a request presents, if it is alive: its id, token and state.
async fn key_of(
    req: &Request,
    env: &Env,
    now: i64,
) -> Result<std::result::Result<(KeyId, String, KeyState), &'static str>> {
    let Some((id, token)) = crate::proxy::authenticate(req.headers()) else {
        return Ok(Err(
            "send a Keybrake vault key (kbk_…) as Authorization: Bearer",
        ));
    };
    let state = VaultKeyClient::for_key(env, id.as_str())?
        .state(now)
        .await?;
    let Some(state) = state.filter(|s| {
        constant_time_eq(
            hash_token(&token).0.as_bytes(),
            s.record.token_hash.as_bytes(),
        )
    }) else {
        return Ok(Err("this vault key is not valid"));
    };
    match state.record.status(now) {
        KeyStatus::Revoked => Ok(Err("this vault key has been revoked")),
        KeyStatus::Expired => Ok(Err("this vault key has expired")),
        KeyStatus::Active | KeyStatus::Paused => Ok(Ok((id, token, state))),
    }
}

pub async fn handle(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    if req.method() != Method::Post {
        // Stateless: no server-sent stream to open, no session to end.
        let mut res = refuse(
            405,
            "this MCP server is stateless: POST JSON-RPC messages to /mcp",
        )?;
        res.headers_mut().set("allow", "POST")?;
        return Ok(res);
    }
    let now = crate::http::request_now(&req, &env);
    // Read (within the proxy's 1 MiB) before any refusal: a client whose
    // body was left unread can see its connection reset instead.
    let body = match crate::proxy::read_body(&mut req).await {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(e) => return refuse(e.status(), &e.message),
    };
    let (key_id, token, state) = match key_of(&req, &env, now).await? {
        Ok(key) => key,
        Err(why) => return refuse(401, why),
    };
    let message = match parse(&body) {
        Ok(m) => m,
        Err(e) => return crate::http::json(400, &e.to_json()),
    };
    let Some(id) = message.id.clone() else {
        // A notification (initialized, cancelled…): nothing to answer.
        return Ok(ResponseBuilder::new().with_status(202).empty());
    };
    let vendor = vendor_for(&state.record.vendor)
        .ok_or_else(|| worker::Error::RustError("the key names no known vendor".into()))?;
    let answer = match message.method.as_str() {
        "initialize" => Ok(initialize(&message.params, &state)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools(vendor, &key_id, &state) })),
        "tools/call" => call(&message.params, vendor, &key_id, &token, &state, env, ctx)
            .await
            .map_err(|m| RpcError::new(id.clone(), INVALID_PARAMS, m)),
        "resources/list" => Ok(json!({ "resources": [{
            "uri": KEY_RESOURCE,
            "name": "key",
            "title": "This vault key",
            "description": "The key's policy, today's spend and what is left of its caps",
            "mimeType": "application/json",
        }] })),
        "resources/read" => match message.params.get("uri").and_then(Value::as_str) {
            Some(KEY_RESOURCE) => Ok(json!({ "contents": [{
                "uri": KEY_RESOURCE,
                "mimeType": "application/json",
                "text": key_json(&state, now).to_string(),
            }] })),
            _ => Err(RpcError::new(
                id.clone(),
                -32002,
                format!("no such resource (this server has {KEY_RESOURCE})"),
            )),
        },
        other => Err(RpcError::new(
            id.clone(),
            METHOD_NOT_FOUND,
            format!("{other} is not a method of this server"),
        )),
    };
    match answer {
        Ok(value) => crate::http::json(200, &result(&id, value)),
        Err(e) => crate::http::json(200, &e.to_json()),
    }
}

fn initialize(params: &Map<String, Value>, state: &KeyState) -> Value {
    let version = negotiate(params.get("protocolVersion").and_then(Value::as_str));
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "resources": { "listChanged": false } },
        "serverInfo": { "name": "keybrake", "title": "Keybrake", "version": env!("CARGO_PKG_VERSION") },
        "instructions": format!(
            "Tools call {} through a Keybrake vault key ({}). Every call is priced and held to the key's caps; a refusal says why and what is left.",
            state.record.vendor, state.record.label
        ),
    })
}

/// What a tool call costs and what the key has left, for its description.
fn budget_note(state: &KeyState) -> String {
    let r = &state.record;
    let mut note = format!(
        " This key has ${} of its ${} daily cap left today.",
        state.remaining_today, r.daily_cap
    );
    if let Some(limit) = r.constraints.as_ref().and_then(|c| c.approval_above_usd) {
        note.push_str(&format!(
            " A call above ${limit} waits for a person's approval."
        ));
    }
    note
}

/// The vendor's curated tools the key's allowlist admits.
fn admitted(vendor: &dyn Vendor, key_id: &KeyId, state: &KeyState) -> Vec<&'static Tool> {
    let Ok(allowlist) = Allowlist::parse(&state.record.allowed_endpoints) else {
        return Vec::new();
    };
    let fixed = vendor.tool_placeholders(key_id);
    vendor
        .tools()
        .iter()
        .filter(|t| {
            canonicalize(&sample_path(t, &fixed)).is_ok_and(|p| allowlist.allows(t.method, &p))
        })
        .collect()
}

/// The key's tools: its vendor's curated ones its allowlist admits, and the
/// generic request.
fn tools(vendor: &dyn Vendor, key_id: &KeyId, state: &KeyState) -> Vec<Value> {
    let budget = budget_note(state);
    let mut out: Vec<Value> = admitted(vendor, key_id, state)
        .into_iter()
        .map(|t| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": format!("{} Cost: {}.{budget}", t.description, t.cost),
                "inputSchema": serde_json::from_str::<Value>(t.input_schema).unwrap_or_else(|_| json!({"type": "object"})),
                "annotations": { "readOnlyHint": t.method == "GET", "openWorldHint": true },
            })
        })
        .collect();
    out.push(json!({
        "name": format!("{}_request", vendor.name()),
        "title": format!("Any {} call this key allows", vendor.name()),
        "description": format!(
            "Calls {} at any method and path this key's allowlist and Keybrake's catalogue admit; anything else is refused. Allowed: {}. Cost: what the catalogue prices the call at (reads are free).{budget}",
            vendor.name(),
            state.record.allowed_endpoints.join(", ")
        ),
        "inputSchema": serde_json::from_str::<Value>(REQUEST_SCHEMA).unwrap_or_default(),
        "annotations": { "openWorldHint": true },
    }));
    out
}

/// Runs a tool through the proxy. `Err` is a protocol error (an unknown
/// tool); everything else, refusals included, is a tool result.
async fn call(
    params: &Map<String, Value>,
    vendor: &'static dyn Vendor,
    key_id: &KeyId,
    token: &str,
    state: &KeyState,
    env: Env,
    ctx: Context,
) -> std::result::Result<Value, String> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or("tools/call needs a tool name")?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => return Ok(tool_error("the arguments must be an object", None)),
    };
    let generic = format!("{}_request", vendor.name());
    let request = if name == generic {
        generic_request(&args)
    } else {
        let tool = admitted(vendor, key_id, state)
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("no tool {name:?} for this key (tools/list names them)"))?;
        crate::core::mcp::tool_request(tool, &args, &vendor.tool_placeholders(key_id))
    };
    let request = match request {
        Ok(r) => r,
        Err(why) => return Ok(tool_error(&format!("invalid arguments: {why}"), None)),
    };
    match forward(&request, vendor, token, env, ctx).await {
        Ok(value) => Ok(value),
        Err(e) => Ok(tool_error(
            &format!("Keybrake could not make the call: {e}"),
            None,
        )),
    }
}

fn tool_error(text: &str, structured: Option<Value>) -> Value {
    let mut v = json!({ "content": [{ "type": "text", "text": text }], "isError": true });
    if let Some(s) = structured {
        v["structuredContent"] = s;
    }
    v
}

/// The call as an HTTP request to the proxy, and its answer as a tool result.
async fn forward(
    r: &ToolRequest,
    vendor: &'static dyn Vendor,
    token: &str,
    env: Env,
    ctx: Context,
) -> Result<Value> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {token}"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::from(r.method.clone()))
        .with_headers(headers.clone());
    if let Some(body) = &r.body {
        headers.set("content-type", "application/json")?;
        init.with_headers(headers)
            .with_body(Some(body.clone().into()));
    }
    let query = r
        .query
        .as_deref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!(
        "https://keybrake.internal/{}{}{query}",
        vendor.name(),
        r.path
    );
    let req = Request::new_with_init(&url, &init)?;
    let mut res =
        crate::proxy::handle(req, env, ctx, vendor, &r.path, r.query.clone(), Some("mcp")).await?;
    let status = res.status_code();
    let h = res.headers().clone();
    let text = res.text().await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    let structured = match &body {
        Value::Object(_) => body.clone(),
        other => json!({ "data": other }),
    };
    if let Some(code) = h.get("keybrake-error-code")? {
        let message = body
            .get("message")
            .or_else(|| body.pointer("/error/message"))
            .and_then(Value::as_str)
            .unwrap_or("refused");
        let mut refusal = json!({ "code": code, "message": message });
        if let Some(a) = h.get("keybrake-approval-id")? {
            refusal["approval_id"] = json!(a);
        }
        return Ok(tool_error(
            &format!("Keybrake refused this call ({code}): {message}"),
            Some(json!({ "keybrake_error": refusal })),
        ));
    }
    let cost = h.get("keybrake-cost-usd")?.unwrap_or_else(|| "0.00".into());
    let left = h.get("keybrake-remaining-usd")?;
    let summary = match left {
        Some(left) => format!(
            "{} answered {status}. Charged ${cost}; ${left} left today.",
            vendor.name()
        ),
        None => format!("{} answered {status}. Charged ${cost}.", vendor.name()),
    };
    let content = json!([
        { "type": "text", "text": summary },
        { "type": "text", "text": text },
    ]);
    Ok(json!({
        "content": content,
        "structuredContent": structured,
        "isError": status >= 400,
    }))
}

/// `keybrake://key`: the key's policy and spend.
fn key_json(state: &KeyState, now: i64) -> Value {
    let r = &state.record;
    json!({
        "id": r.id,
        "label": r.label,
        "vendor": r.vendor,
        "status": r.status(now).as_str(),
        "allowed_endpoints": r.allowed_endpoints,
        "daily_usd_cap": r.daily_cap.to_json(),
        "spent_today_usd": state.spent_today.to_json(),
        "reserved_today_usd": state.held_today.to_json(),
        "remaining_today_usd": state.remaining_today.to_json(),
        "expires_at": to_rfc3339(r.expires_at),
        "constraints": r.constraints.as_ref().map(crate::core::constraints::Constraints::to_json),
    })
}
