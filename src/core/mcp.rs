//! The Model Context Protocol, the pure parts: JSON-RPC messages in and
//! out, protocol versions, and turning a tool call's arguments into the
//! HTTP request the proxy will judge (method, vendor path, query, body).
//! A tool can only ask for what the HTTP proxy would be asked: the path is
//! built from validated segments and then read, priced and refused exactly
//! as any other call.

use serde_json::{json, Map, Value};

/// Versions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// JSON-RPC error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// One JSON-RPC message from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `None` for a notification (no answer is due).
    pub id: Option<Value>,
    pub method: String,
    pub params: Map<String, Value>,
}

/// A JSON-RPC error: its code, message and the id to answer it under.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(id: Value, code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            id,
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "jsonrpc": "2.0", "id": self.id, "error": { "code": self.code, "message": self.message } })
    }
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// Reads one message. Batches (JSON arrays) are not part of the versions
/// spoken here and are refused, as are responses sent to the server.
pub fn parse(body: &str) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| RpcError::new(Value::Null, PARSE_ERROR, format!("not JSON: {e}")))?;
    let Value::Object(mut m) = value else {
        return Err(RpcError::new(
            Value::Null,
            INVALID_REQUEST,
            "a message must be one JSON-RPC object (batches are not supported)",
        ));
    };
    let id = match m.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err(RpcError::new(
                Value::Null,
                INVALID_REQUEST,
                "id must be a string or a number",
            ))
        }
    };
    let answer_to = id.clone().unwrap_or(Value::Null);
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::new(
            answer_to,
            INVALID_REQUEST,
            "jsonrpc must be \"2.0\"",
        ));
    }
    let method = match m.remove("method") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(RpcError::new(
                answer_to,
                INVALID_REQUEST,
                "a request needs a method (this server takes no responses)",
            ))
        }
    };
    let params = match m.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(RpcError::new(
                answer_to,
                INVALID_PARAMS,
                "params must be an object",
            ))
        }
    };
    Ok(Message { id, method, params })
}

/// The version to answer `initialize` with: the client's if spoken here,
/// else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    PROTOCOL_VERSIONS
        .iter()
        .copied()
        .find(|v| Some(*v) == requested)
        .unwrap_or(PROTOCOL_VERSIONS[0])
}

/// A tool: one vendor endpoint with typed arguments.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// What a call costs, in words (the catalogue prices it exactly).
    pub cost: &'static str,
    pub method: &'static str,
    /// `{name}` segments are filled from the argument of that name.
    pub path: &'static str,
    /// The JSON Schema of the arguments.
    pub input_schema: &'static str,
    /// The body is this argument's value rather than the other arguments
    /// (Resend's batch takes an array).
    pub body_from: Option<&'static str>,
}

/// The generic tool of a vendor: any method and path its catalogue and
/// the key allow.
pub const REQUEST_SCHEMA: &str = r#"{"type":"object","properties":{"method":{"type":"string","enum":["GET","POST","PUT","PATCH","DELETE"]},"path":{"type":"string","description":"the vendor path, starting with /"},"params":{"type":"object","description":"query parameters for GET and DELETE, the body otherwise"}},"required":["method","path"],"additionalProperties":false}"#;

/// An HTTP call a tool asks the proxy to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// A JSON body (the proxy re-encodes it as the vendor takes bodies).
    pub body: Option<String>,
}

/// A path segment taken from an argument: ids, never separators, dots or
/// escapes that could move the call elsewhere.
fn segment(name: &str, value: Option<&Value>) -> Result<String, String> {
    match value.and_then(Value::as_str) {
        Some(s)
            if !s.is_empty()
                && s.len() <= 255
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(s.to_owned())
        }
        _ => Err(format!("{name} must be an id: letters, digits, _ and -")),
    }
}

/// Query parameters from flat arguments, encoded as the vendors read them.
fn query_of(args: &Map<String, Value>) -> Result<Option<String>, String> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in args {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "{k} must be a string, number or boolean in a query"
                ))
            }
        };
        q.append_pair(k, &text);
    }
    Ok(Some(q.finish()))
}

/// The request a curated tool's arguments describe. `fixed` fills
/// placeholders the key supplies (Twilio's `AccountSid`).
pub fn tool_request(
    tool: &Tool,
    args: &Map<String, Value>,
    fixed: &[(&str, String)],
) -> Result<ToolRequest, String> {
    let mut rest = args.clone();
    let mut path = String::new();
    for part in tool.path.split('/').skip(1) {
        path.push('/');
        let Some(name) = part.strip_prefix('{').and_then(|p| p.split_once('}')) else {
            path.push_str(part);
            continue;
        };
        let (name, suffix) = name;
        let given = rest.remove(name);
        // What the key fixes (its account) wins over any argument.
        let value = match fixed.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => v.clone(),
            None => segment(name, given.as_ref())?,
        };
        path.push_str(&value);
        path.push_str(suffix);
    }
    let (query, body) = match (tool.method, tool.body_from) {
        ("GET" | "DELETE", _) => (query_of(&rest)?, None),
        (_, Some(field)) => match rest.remove(field) {
            Some(v) => (None, Some(v.to_string())),
            None => return Err(format!("{field} is required")),
        },
        _ => (None, Some(Value::Object(rest).to_string())),
    };
    Ok(ToolRequest {
        method: tool.method.to_owned(),
        path,
        query,
        body,
    })
}

/// The request the generic `<vendor>_request` tool describes.
pub fn generic_request(args: &Map<String, Value>) -> Result<ToolRequest, String> {
    let method = match args.get("method").and_then(Value::as_str) {
        Some(m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE")) => m.to_owned(),
        _ => return Err("method must be GET, POST, PUT, PATCH or DELETE".into()),
    };
    let path = match args.get("path").and_then(Value::as_str) {
        // The proxy canonicalizes and refuses odd paths; a query belongs
        // in params, so it cannot slip past the query rules.
        Some(p) if p.starts_with('/') && !p.contains('?') && !p.contains('#') => p.to_owned(),
        _ => return Err("path must start with / and carry no query (put it in params)".into()),
    };
    let params = match args.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err("params must be an object".into()),
    };
    let (query, body) = match method.as_str() {
        "GET" | "DELETE" => (query_of(&params)?, None),
        _ => (None, Some(Value::Object(params).to_string())),
    };
    Ok(ToolRequest {
        method,
        path,
        query,
        body,
    })
}

/// A sample of the path a tool calls, for asking a key's allowlist whether
/// it admits the tool: each placeholder becomes one segment.
pub fn sample_path(tool: &Tool, fixed: &[(&str, String)]) -> String {
    tool.path
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.split_once('}')) {
                Some((name, suffix)) => {
                    let value = fixed
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("x", |(_, v)| v.as_str());
                    format!("{value}{suffix}")
                }
                None => part.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY: Tool = Tool {
        name: "stripe_confirm_payment_intent",
        title: "Confirm",
        description: "",
        cost: "",
        method: "POST",
        path: "/v1/payment_intents/{id}/confirm",
        input_schema: "{}",
        body_from: None,
    };

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn messages_are_one_json_rpc_object() {
        let m = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!((m.id, m.method.as_str()), (Some(json!(1)), "tools/list"));
        let n = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n.id, None);
        for (bad, code) in [
            ("{", PARSE_ERROR),
            ("[]", INVALID_REQUEST),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                INVALID_REQUEST,
            ),
            (r#"{"id":1,"method":"ping"}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
                INVALID_PARAMS,
            ),
        ] {
            assert_eq!(parse(bad).unwrap_err().code, code, "{bad}");
        }
        assert_eq!(
            parse(r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#)
                .unwrap_err()
                .id,
            json!("a")
        );
    }

    #[test]
    fn versions_are_negotiated_down_to_one_spoken_here() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2099-01-01")), PROTOCOL_VERSIONS[0]);
        assert_eq!(negotiate(None), PROTOCOL_VERSIONS[0]);
    }

    #[test]
    fn tool_arguments_fill_the_path_and_cannot_move_it() {
        let r = tool_request(
            &PAY,
            &args(json!({"id": "pi_123", "payment_method": "pm_card_visa"})),
            &[],
        )
        .unwrap();
        assert_eq!(r.path, "/v1/payment_intents/pi_123/confirm");
        assert_eq!(
            r.body.as_deref(),
            Some(r#"{"payment_method":"pm_card_visa"}"#)
        );
        for id in [
            "../customers",
            "pi_1/../../v1/customers",
            "pi%2F1",
            "",
            "a.b",
            "pi 1",
        ] {
            assert!(
                tool_request(&PAY, &args(json!({ "id": id })), &[]).is_err(),
                "{id}"
            );
        }
        assert!(tool_request(&PAY, &args(json!({ "id": 5 })), &[]).is_err());
        let get = Tool {
            method: "GET",
            path: "/v1/customers",
            ..PAY
        };
        let r = tool_request(&get, &args(json!({"limit": 3, "email": "a+b@x.co"})), &[]).unwrap();
        assert_eq!(r.query.as_deref(), Some("email=a%2Bb%40x.co&limit=3"));
        assert!(tool_request(&get, &args(json!({"expand": ["x"]})), &[]).is_err());
        let twilio = Tool {
            path: "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
            method: "GET",
            ..PAY
        };
        let fixed = [("AccountSid", "ACplaceholder".to_owned())];
        let r = tool_request(
            &twilio,
            &args(json!({"Sid": "SM1", "AccountSid": "ACother"})),
            &fixed,
        )
        .unwrap();
        assert_eq!(
            r.path,
            "/2010-04-01/Accounts/ACplaceholder/Messages/SM1.json"
        );
        assert_eq!(r.query, None, "the key's account wins over the argument");
        assert_eq!(
            sample_path(&twilio, &fixed),
            "/2010-04-01/Accounts/ACplaceholder/Messages/x.json"
        );
        let batch = Tool {
            path: "/emails/batch",
            body_from: Some("emails"),
            ..PAY
        };
        let r = tool_request(&batch, &args(json!({"emails": [{"to": "a@x.co"}]})), &[]).unwrap();
        assert_eq!(r.body.as_deref(), Some(r#"[{"to":"a@x.co"}]"#));
    }

    #[test]
    fn the_generic_tool_takes_a_path_and_params_but_no_query() {
        let r = generic_request(&args(
            json!({"method": "GET", "path": "/v1/customers", "params": {"limit": 1}}),
        ))
        .unwrap();
        assert_eq!(
            (r.path.as_str(), r.query.as_deref()),
            ("/v1/customers", Some("limit=1"))
        );
        let r = generic_request(&args(
            json!({"method": "POST", "path": "/v1/refunds", "params": {"payment_intent": "pi_1"}}),
        ))
        .unwrap();
        assert_eq!(r.body.as_deref(), Some(r#"{"payment_intent":"pi_1"}"#));
        for bad in [
            json!({"method": "TRACE", "path": "/v1/x"}),
            json!({"method": "GET", "path": "v1/x"}),
            json!({"method": "POST", "path": "/v1/refunds?amount=1"}),
            json!({"method": "GET", "path": "/v1/x", "params": [1]}),
        ] {
            assert!(generic_request(&args(bad.clone())).is_err(), "{bad}");
        }
    }
}
