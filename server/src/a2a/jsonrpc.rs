//! The JSON-RPC 2.0 envelope of A2A: reading a request (method, params, version), and
//! writing results and errors with A2A's codes. Errors carry a `google.rpc.ErrorInfo` in
//! `data` (the reason, and for Pinchwork's own failures the HTTP status the API would give),
//! as the official SDKs write and read them.

use super::types::{JsonRpcError, JsonRpcResponse};
use crate::error::Error;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The protocol version this server speaks (the `A2A-Version` header).
pub const VERSION: &str = "1.0";

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const A2A_DOMAIN: &str = "a2a-protocol.org";
const PINCHWORK_DOMAIN: &str = "pinchwork";

/// An A2A method of the 1.0 JSON-RPC binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    SendMessage,
    SendStreamingMessage,
    GetTask,
    ListTasks,
    CancelTask,
    SubscribeToTask,
    CreatePushConfig,
    GetPushConfig,
    ListPushConfigs,
    DeletePushConfig,
    GetExtendedAgentCard,
}

impl Method {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "SendMessage" => Self::SendMessage,
            "SendStreamingMessage" => Self::SendStreamingMessage,
            "GetTask" => Self::GetTask,
            "ListTasks" => Self::ListTasks,
            "CancelTask" => Self::CancelTask,
            "SubscribeToTask" => Self::SubscribeToTask,
            "CreateTaskPushNotificationConfig" => Self::CreatePushConfig,
            "GetTaskPushNotificationConfig" => Self::GetPushConfig,
            "ListTaskPushNotificationConfigs" => Self::ListPushConfigs,
            "DeleteTaskPushNotificationConfig" => Self::DeletePushConfig,
            "GetExtendedAgentCard" => Self::GetExtendedAgentCard,
            _ => return None,
        })
    }
}

/// The A2A 0.3 method names and their 1.0 successors: a 0.3 client is told which to use.
const V03_METHODS: [(&str, &str); 10] = [
    ("message/send", "SendMessage"),
    ("message/stream", "SendStreamingMessage"),
    ("tasks/get", "GetTask"),
    ("tasks/list", "ListTasks"),
    ("tasks/cancel", "CancelTask"),
    ("tasks/resubscribe", "SubscribeToTask"),
    (
        "tasks/pushNotificationConfig/set",
        "CreateTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/get",
        "GetTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/list",
        "ListTaskPushNotificationConfigs",
    ),
    (
        "tasks/pushNotificationConfig/delete",
        "DeleteTaskPushNotificationConfig",
    ),
];

/// A call that failed: its JSON-RPC code and message, the reason it carries, and the HTTP
/// status of the answer (200, but 401 or 403 for a refused key and 429 past a rate limit).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    reason: &'static str,
    domain: &'static str,
    /// The HTTP status the Pinchwork API gives for the same failure, when it is one.
    api_status: Option<u16>,
    http: StatusCode,
    retry_after_secs: Option<u64>,
}

impl RpcError {
    fn a2a(code: i64, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason,
            domain: A2A_DOMAIN,
            api_status: None,
            http: StatusCode::OK,
            retry_after_secs: None,
        }
    }

    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::a2a(-32700, "PARSE_ERROR", message)
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::a2a(-32600, "INVALID_REQUEST", message)
    }
    pub fn method_not_found(method: &str) -> Self {
        Self::a2a(
            -32601,
            "METHOD_NOT_FOUND",
            format!("Method not found: {method}"),
        )
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::a2a(-32602, "INVALID_PARAMS", message)
    }
    pub fn internal() -> Self {
        Self::a2a(-32603, "INTERNAL_ERROR", "Internal error")
    }
    pub fn task_not_found() -> Self {
        Self::not_found("Task not found")
    }
    /// A task, or something of a task (a push config), not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::a2a(-32001, "TASK_NOT_FOUND", message)
    }
    pub fn not_cancelable(message: impl Into<String>) -> Self {
        Self::a2a(-32002, "TASK_NOT_CANCELABLE", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::a2a(-32004, "UNSUPPORTED_OPERATION", message)
    }
    pub fn content_type(message: impl Into<String>) -> Self {
        Self::a2a(-32005, "CONTENT_TYPE_NOT_SUPPORTED", message)
    }
    pub fn no_extended_card() -> Self {
        Self::a2a(
            -32007,
            "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            "This agent has no extended agent card: its public card says everything",
        )
    }
    pub fn version(message: impl Into<String>) -> Self {
        Self::a2a(-32009, "VERSION_NOT_SUPPORTED", message)
    }

    /// A failure of the marketplace's rules, with the code A2A has for it, else -32000 and
    /// the reason and HTTP status the API would give.
    pub fn from_market(e: Error) -> Self {
        let status = e.status().as_u16();
        let message = e.public_message();
        let own = |reason: &'static str, http: StatusCode| Self {
            code: -32000,
            message: message.clone(),
            reason,
            domain: PINCHWORK_DOMAIN,
            api_status: Some(status),
            http,
            retry_after_secs: None,
        };
        let mut rpc = match &e {
            Error::BadRequest(_) | Error::Unprocessable(_) => Self::invalid_params(&message),
            Error::NotFound(_) if message.starts_with("Task") || message.starts_with("Push") => {
                Self::not_found(&message)
            }
            Error::NotFound(_) => Self::invalid_params(&message),
            Error::Conflict(_) => Self::unsupported(&message),
            Error::PayloadTooLarge(_) => Self::invalid_request(&message),
            Error::NotImplemented(_) | Error::MethodNotAllowed => Self::unsupported(&message),
            Error::Internal(_) | Error::Store(_) => {
                e.log_if_internal();
                Self::internal()
            }
            Error::Unauthorized(_) => own("UNAUTHENTICATED", StatusCode::OK),
            Error::Forbidden(_) => own("FORBIDDEN", StatusCode::OK),
            Error::PaymentRequired(_) => own("INSUFFICIENT_CREDITS", StatusCode::OK),
            Error::TooManyRequests {
                retry_after_secs, ..
            } => Self {
                retry_after_secs: *retry_after_secs,
                ..own("RATE_LIMITED", StatusCode::TOO_MANY_REQUESTS)
            },
        };
        rpc.api_status = Some(status);
        rpc
    }

    /// A key refused: answered with the HTTP status of the refusal (401, or 403 for a
    /// suspended agent), as the HTTP API answers it.
    pub fn refused(e: Error) -> Self {
        Self {
            http: e.status(),
            ..Self::from_market(e)
        }
    }

    /// The error object of a response.
    pub fn body(&self) -> JsonRpcError {
        let mut metadata = serde_json::Map::new();
        if let Some(status) = self.api_status {
            metadata.insert("httpStatus".into(), status.to_string().into());
        }
        JsonRpcError {
            code: self.code,
            message: self.message.clone(),
            data: Some(json!([{
                "@type": ERROR_INFO,
                "reason": self.reason,
                "domain": self.domain,
                "metadata": metadata,
            }])),
        }
    }

    /// The whole answer to a call that failed before anything was streamed.
    pub fn respond(self, id: Value) -> Response {
        let mut res = (
            self.http,
            Json(JsonRpcResponse {
                jsonrpc: "2.0".into(),
                id,
                result: None,
                error: Some(self.body()),
            }),
        )
            .into_response();
        if self.http == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        Self::from_market(e)
    }
}

/// A successful response's JSON.
pub fn success(id: &Value, result: Value) -> JsonRpcResponse {
    JsonRpcResponse {
        jsonrpc: "2.0".into(),
        id: id.clone(),
        result: Some(result),
        error: None,
    }
}

/// A failed response's JSON (inside a stream).
pub fn failure(id: &Value, e: &RpcError) -> JsonRpcResponse {
    JsonRpcResponse {
        jsonrpc: "2.0".into(),
        id: id.clone(),
        result: None,
        error: Some(e.body()),
    }
}

/// A request, read as far as the envelope: the id to answer with, the method, its params.
pub struct Call {
    pub id: Value,
    pub method: Method,
    pub params: Value,
}

/// Reads the envelope of a JSON-RPC request body. On failure, also returns the id to answer
/// with (null when the request has none that can be echoed).
pub fn read_call(body: &[u8], headers: &HeaderMap) -> Result<Call, (Value, RpcError)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            Value::Null,
            RpcError::parse_error(format!("Invalid JSON payload: {e}")),
        )
    })?;
    let Value::Object(mut request) = value else {
        let why = if value.is_array() {
            "Batch requests are not supported"
        } else {
            "A request must be a JSON object"
        };
        return Err((Value::Null, RpcError::invalid_request(why)));
    };
    let id = match request.remove("id") {
        None | Some(Value::Null) => Value::Null,
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::invalid_request("id must be a string, an integer or null"),
            ));
        }
    };
    let fail = |e: RpcError| Err((id.clone(), e));
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return fail(RpcError::invalid_request(
            "'jsonrpc' must be exactly \"2.0\"",
        ));
    }
    let Some(name) = request.get("method").and_then(Value::as_str) else {
        return fail(RpcError::invalid_request("'method' is required"));
    };
    if let Some((_, successor)) = V03_METHODS.iter().find(|(old, _)| *old == name) {
        return fail(RpcError::version(format!(
            "{name} is a method of A2A 0.3; this server speaks A2A {VERSION} only: \
             call {successor} with the header A2A-Version: {VERSION}"
        )));
    }
    if let Err(e) = check_version(headers) {
        return fail(e);
    }
    let Some(method) = Method::parse(name) else {
        return fail(RpcError::method_not_found(name));
    };
    let params = match request.remove("params") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(params @ Value::Object(_)) => params,
        Some(_) => return fail(RpcError::invalid_params("params must be an object")),
    };
    Ok(Call { id, method, params })
}

/// The `A2A-Version` header, when given, must name a 1.x version (a missing header is taken
/// for the current version).
fn check_version(headers: &HeaderMap) -> Result<(), RpcError> {
    let Some(value) = headers.get("a2a-version") else {
        return Ok(());
    };
    let version = value.to_str().unwrap_or_default().trim();
    let major = version.split('.').next().unwrap_or_default();
    if version.is_empty() || major == "1" {
        return Ok(());
    }
    Err(RpcError::version(format!(
        "A2A version '{version}' is not supported: this server speaks A2A {VERSION}"
    )))
}

/// A method's params as its request message.
pub fn params<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params)
        .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str, version: Option<&str>) -> Result<Call, (Value, RpcError)> {
        let mut headers = HeaderMap::new();
        if let Some(v) = version {
            headers.insert("a2a-version", v.parse().unwrap());
        }
        read_call(body.as_bytes(), &headers)
    }

    #[test]
    fn envelopes_are_checked_in_order() {
        let code = |body: &str| read(body, Some("1.0")).err().map(|(_, e)| e.code);
        assert_eq!(code("{"), Some(-32700));
        assert_eq!(code("[]"), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"GetTask"}"#),
            Some(-32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":true,"method":"GetTask"}"#),
            Some(-32600)
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"Nope"}"#),
            Some(-32601)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":[1]}"#),
            Some(-32602)
        );
        let call = read(r#"{"jsonrpc":"2.0","id":"a","method":"GetTask"}"#, None).unwrap();
        assert_eq!((call.id, call.method), (json!("a"), Method::GetTask));
    }

    #[test]
    fn other_versions_get_a_version_error_naming_what_to_use() {
        let (id, e) = read(r#"{"jsonrpc":"2.0","id":7,"method":"message/send"}"#, None)
            .err()
            .unwrap();
        assert_eq!((id, e.code), (json!(7), -32009));
        assert!(e.message.contains("SendMessage"), "{}", e.message);
        for v in ["0.3", "2.0"] {
            let body = r#"{"jsonrpc":"2.0","id":7,"method":"GetTask"}"#;
            assert_eq!(read(body, Some(v)).err().unwrap().1.code, -32009, "{v}");
        }
        assert!(
            read(
                r#"{"jsonrpc":"2.0","id":7,"method":"GetTask"}"#,
                Some("1.0.1")
            )
            .is_ok()
        );
    }
}
