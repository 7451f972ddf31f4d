//! Content negotiation, both ways. Requests: JSON, or markdown with YAML front-matter whose
//! text becomes the endpoint's main field. Responses: markdown with YAML front-matter by
//! default, JSON when the `Accept` header asks for `application/json`.
//!
//! Handlers return a `Reply` (or an `Error`), which carries its body as a JSON value; the
//! `render` middleware turns it into bytes once it knows what the client accepts.

use super::bounded;
use crate::error::Error;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, KeepAliveStream, Sse};
use axum::response::{IntoResponse, Response};
use pinchwork_api::query::INVALID_FILTER;
use pinchwork_client::types::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::marker::PhantomData;

/// A response whose body, a `T`, is rendered by `render` in the format the client accepts.
/// The type is the handler's promise: `/openapi.json` publishes `T` for the route (see
/// `contract`), and the handler's body cannot answer anything else.
pub struct Reply<T> {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    payload: Option<Value>,
    json_only: bool,
    body: PhantomData<fn() -> T>,
}

/// The body of a `Reply`, waiting in the response's extensions for `render`.
#[derive(Clone)]
struct Payload {
    value: Value,
    json_only: bool,
}

impl<T: Serialize> Reply<T> {
    pub fn new(status: StatusCode, body: &T) -> Self {
        let value = serde_json::to_value(body).expect("API types serialize");
        Self {
            status,
            headers: Vec::new(),
            payload: Some(value),
            json_only: false,
            body: PhantomData,
        }
    }

    pub fn ok(body: &T) -> Self {
        Self::new(StatusCode::OK, body)
    }

    pub fn created(body: &T) -> Self {
        Self::new(StatusCode::CREATED, body)
    }
}

impl<T> Reply<T> {
    /// 204, no body (where a `T` may also be the answer).
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            payload: None,
            json_only: false,
            body: PhantomData,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    /// Always JSON, whatever the client accepts (health, capabilities).
    pub fn json_only(mut self) -> Self {
        self.json_only = true;
        self
    }
}

impl<T> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, value);
            }
        }
        if let Some(value) = self.payload {
            res.extensions_mut().insert(Payload {
                value,
                json_only: self.json_only,
            });
        }
        res
    }
}

/// One frame of a typed event stream: `event:`, `id:`, and `data:` a `T` as JSON.
pub struct Frame<T> {
    pub event: &'static str,
    pub id: String,
    pub data: T,
}

type Frames = futures_util::stream::BoxStream<'static, Result<SseEvent, Infallible>>;

/// Server-sent events whose `data:` are `T`s: the route publishes `T` (see `contract`), and
/// the frames can carry nothing else.
pub struct Events<T> {
    sse: Sse<KeepAliveStream<Frames>>,
    body: PhantomData<fn() -> T>,
}

impl<T: Serialize> Events<T> {
    pub fn new(
        frames: impl futures_util::Stream<Item = Frame<T>> + Send + 'static,
        keep_alive: KeepAlive,
    ) -> Self {
        use futures_util::StreamExt;
        let frames = frames.map(|f| {
            Ok(SseEvent::default()
                .event(f.event)
                .id(f.id)
                .json_data(f.data)
                .expect("API types serialize"))
        });
        Self {
            sse: Sse::new(frames.boxed()).keep_alive(keep_alive),
            body: PhantomData,
        }
    }
}

impl<T> IntoResponse for Events<T> {
    fn into_response(self) -> Response {
        self.sse.into_response()
    }
}

/// One of two answers of different types (e.g. a task created, or, after a wait, the task
/// as it stands); both are published, in this order.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

impl<A: IntoResponse, B: IntoResponse> IntoResponse for Either<A, B> {
    fn into_response(self) -> Response {
        match self {
            Self::Left(a) => a.into_response(),
            Self::Right(b) => b.into_response(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let mut reply = Reply::new(
            self.status(),
            &ErrorBody {
                error: self.public_message(),
            },
        );
        if let Error::TooManyRequests {
            retry_after_secs: Some(secs),
            ..
        } = &self
        {
            reply = reply.header("retry-after", secs);
        }
        reply.into_response()
    }
}

/// Renders every `Reply` body as JSON or markdown, by the request's `Accept` header.
pub async fn render(req: Request, next: Next) -> Response {
    let wants_json = wants_json(req.headers());
    let mut res = next.run(req).await;
    let Some(payload) = res.extensions_mut().remove::<Payload>() else {
        return res;
    };
    let (content_type, bytes) = if wants_json || payload.json_only {
        let mut bytes = serde_json::to_vec_pretty(&payload.value).expect("values serialize");
        bytes.push(b'\n');
        ("application/json", bytes)
    } else {
        (
            "text/markdown; charset=utf-8",
            to_markdown(&payload.value).into_bytes(),
        )
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    *res.body_mut() = HttpBody::from(bytes);
    res
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("application/json")))
}

// ---------------------------------------------------------------------------------------------
// Responses as markdown

/// Keys whose value becomes the markdown body, the first one present winning.
const BODY_KEYS: [&str; 3] = ["result", "need", "message"];

/// `---`, the other fields as YAML (keys sorted), `---`, a blank line, then the body text.
pub fn to_markdown(value: &Value) -> String {
    let Value::Object(map) = value else {
        return yaml_scalar(value);
    };
    let mut rest = map.clone();
    let body = BODY_KEYS
        .iter()
        .find_map(|k| rest.remove(*k))
        .map(|v| match v {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => yaml_scalar(&other),
        })
        .unwrap_or_default();
    let mut out = String::new();
    if !rest.is_empty() {
        out.push_str("---\n");
        yaml_map(&mut out, &rest, 0);
        out.push_str("---\n");
    }
    let body = body.trim();
    if !body.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(body);
        out.push('\n');
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn yaml_map(out: &mut String, map: &Map<String, Value>, indent: usize) {
    for (key, value) in map {
        pad(out, indent);
        out.push_str(&yaml_string(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                yaml_map(out, m, indent + 2);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                yaml_seq(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        let mut nested = String::new();
        match item {
            Value::Object(m) if !m.is_empty() => yaml_map(&mut nested, m, indent + 2),
            Value::Array(inner) if !inner.is_empty() => yaml_seq(&mut nested, inner, indent + 2),
            scalar => {
                pad(out, indent);
                out.push_str("- ");
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
                continue;
            }
        }
        // The first line of a nested block shares the line of its dash.
        pad(out, indent);
        out.push_str("- ");
        out.push_str(&nested[indent + 2..]);
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Plain when unambiguous, otherwise double-quoted with JSON escapes (valid YAML).
fn yaml_string(s: &str) -> String {
    let reserved = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit() || " -?:,[]{}#&*!|>'\"%@`+.".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(|c| c.is_control())
        && !reserved.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialize")
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Which field a markdown body's text fills, per request type.
pub trait BodyText {
    const TEXT_FIELD: &'static str = "need";
}

/// Bodies larger than this are decoded on a blocking thread.
const BLOCKING_PARSE_BYTES: usize = 64 * 1024;

/// A request body in JSON or markdown with YAML front-matter, decoded as `T`. Every malformed
/// body is a 400 that says what is wrong; nothing malformed reaches a handler.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + BodyText> FromRequest<S> for Body<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge("Request body too large".into())
            } else {
                Error::bad_request(format!("Could not read the request body: {rejection}"))
            }
        })?;
        // A large body is decoded off the async workers, so that it cannot stall other
        // requests (its size and what it decodes to are bounded either way).
        let fields = if bytes.len() <= BLOCKING_PARSE_BYTES {
            parse_body(&bytes, &content_type, T::TEXT_FIELD)?
        } else {
            tokio::task::spawn_blocking(move || parse_body(&bytes, &content_type, T::TEXT_FIELD))
                .await
                .map_err(|e| Error::Internal(format!("decoding a request body: {e}")))??
        };
        serde_json::from_value(Value::Object(fields))
            .map(Body)
            .map_err(|e| Error::bad_request(format!("Invalid request body: {e}")))
    }
}

/// The fields of a request body (see the module comment); empty bodies have none.
pub fn parse_body(
    bytes: &[u8],
    content_type: &str,
    text_field: &str,
) -> Result<Map<String, Value>, Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::bad_request("Request body is not valid UTF-8"))?
        .trim();
    if text.contains('\0') {
        return Err(Error::bad_request(NUL_REFUSED));
    }
    if text.is_empty() {
        return Ok(Map::new());
    }
    match BodyFormat::of(text, content_type) {
        BodyFormat::Json => parse_json(text, content_type),
        BodyFormat::Markdown => parse_markdown(text, text_field),
        BodyFormat::Unknown => Err(Error::bad_request(
            "Cannot tell the request body's format: send JSON (an object, `{...}`), or \
             markdown declared with `Content-Type: text/markdown` or starting with YAML \
             front-matter between `---` lines",
        )),
    }
}

/// How a request body is read, decided before anything is parsed (skill.md, "Requests", says
/// the same): a body that looks like JSON is JSON whatever its declared type, so a typo in
/// JSON is a 400 and never a task whose need is the raw text.
#[derive(Debug, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Markdown,
    Unknown,
}

impl BodyFormat {
    /// `text` is trimmed and not empty; `content_type` is lower case.
    fn of(text: &str, content_type: &str) -> Self {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if text.starts_with(['{', '[']) || media == "application/json" || media.ends_with("+json") {
            Self::Json
        } else if matches!(media, "text/markdown" | "text/x-markdown" | "text/plain")
            || has_front_matter(text)
        {
            Self::Markdown
        } else {
            Self::Unknown
        }
    }
}

fn parse_json(text: &str, content_type: &str) -> Result<Map<String, Value>, Error> {
    match bounded::json(text)? {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(Error::bad_request("Request body must be a JSON object")),
        Err(e) if content_type.contains("json") => {
            Err(Error::bad_request(format!("Malformed JSON: {e}")))
        }
        Err(e) => Err(Error::bad_request(format!(
            "Malformed JSON: {e} (a body starting with `{{` or `[` is read as JSON; markdown \
             that starts with one must open with front-matter, even an empty `---` block)"
        ))),
    }
}

/// The text opens with a front-matter block: a `---` line, later closed by another.
fn has_front_matter(text: &str) -> bool {
    let mut lines = text.lines();
    lines.next().is_some_and(is_fence) && lines.any(is_fence)
}

fn is_fence(line: &str) -> bool {
    let line = line.trim_end();
    line.len() >= 3 && line.bytes().all(|b| b == b'-')
}

fn parse_markdown(text: &str, text_field: &str) -> Result<Map<String, Value>, Error> {
    let mut fields = Map::new();
    let mut body = text;
    let mut lines = text.split_inclusive('\n');
    if lines.next().is_some_and(is_fence) {
        let start = text.find('\n').map_or(text.len(), |i| i + 1);
        let mut offset = start;
        for line in lines {
            if is_fence(line) {
                let yaml = &text[start..offset];
                fields = front_matter(yaml)?;
                body = text[offset + line.len()..].trim();
                break;
            }
            offset += line.len();
        }
    }
    if !body.is_empty() && fields.get(text_field).is_none_or(Value::is_null) {
        fields.insert(text_field.into(), Value::String(body.into()));
    }
    Ok(fields)
}

fn front_matter(yaml: &str) -> Result<Map<String, Value>, Error> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    match bounded::yaml(yaml)? {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::bad_request(
            "YAML front-matter must be a mapping of fields",
        )),
        Err(e) => Err(Error::bad_request(format!(
            "Malformed YAML front-matter: {e}"
        ))),
    }
}

/// Text never holds NUL characters (PostgreSQL cannot store them; nothing needs them).
pub const NUL_REFUSED: &str = "Text must not contain NUL characters";

/// Whether a URL part spells a NUL character (`%00`).
fn has_encoded_nul(part: &str) -> bool {
    part.contains("%00")
}

/// Query parameters: an unknown filter value is a 400, a malformed query a 422, with the
/// reason.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        if parts.uri.query().is_some_and(has_encoded_nul) {
            return Err(Error::Unprocessable(NUL_REFUSED.into()));
        }
        // Read as axum's `Query` reads it, keeping serde's message: an unknown filter value
        // is a bad request (400), anything else a malformed query (422).
        serde_urlencoded::from_str::<T>(parts.uri.query().unwrap_or_default())
            .map(Query)
            .map_err(|e| {
                let message = e.to_string();
                if message.starts_with(INVALID_FILTER) {
                    Error::BadRequest(message)
                } else {
                    Error::Unprocessable(format!(
                        "Invalid query parameters: Failed to deserialize query string: {message}"
                    ))
                }
            })
    }
}

/// Path parameters; an undecodable segment is a 400 with the reason, like any bad input.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(Error::bad_request(NUL_REFUSED));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| Error::bad_request(format!("Invalid path: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markdown_puts_the_main_field_in_the_body_and_the_rest_in_front_matter() {
        let md = to_markdown(
            &json!({"task_id": "tk-1", "status": "posted", "need": "Review this\nplease"}),
        );
        assert_eq!(
            md,
            "---\nstatus: posted\ntask_id: tk-1\n---\n\nReview this\nplease\n"
        );
        let md = to_markdown(&json!({"task_id": "tk-1", "result": null, "need": "Fix it"}));
        assert_eq!(
            md, "---\nneed: Fix it\ntask_id: tk-1\n---\n",
            "a null body is empty, never None"
        );
        assert_eq!(
            to_markdown(&json!({"error": "Task not found"})),
            "---\nerror: Task not found\n---\n"
        );
    }

    #[test]
    fn front_matter_round_trips_through_a_yaml_parser() {
        let value = json!({
            "a": "x: y", "b": "true", "c": "2025-01-01T00:00:00Z", "d": ["p", "q"], "e": [],
            "f": {"g": 1, "h": [{"i": "j", "k": null}]}, "l": "line\nbreak", "m": "#hash",
            "n": 1.5, "o": false, "p": "  padded ", "q": "", "r": "ünïcödé 🦞", "s": "- dash"
        });
        let md = to_markdown(&value);
        let yaml = md.trim_start_matches("---\n").trim_end_matches("---\n");
        let back: Value = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(back, value, "{md}");
    }

    #[test]
    fn request_bodies_in_every_documented_form() {
        let parse = |body: &str, ct: &str| parse_body(body.as_bytes(), ct, "need");
        let json = parse(r#"{"need": "x", "max_credits": 5}"#, "application/json").unwrap();
        assert_eq!(json["max_credits"], 5);
        // curl -d sends form encoding: JSON-looking text is still read as JSON.
        let form = parse(r#"{"need": "x"}"#, "application/x-www-form-urlencoded").unwrap();
        assert_eq!(form["need"], "x");
        let md = parse(
            "---\nmax_credits: 15\ntags: [a, b]\n---\nReview the terms.\n",
            "text/markdown",
        )
        .unwrap();
        assert_eq!(
            (md["max_credits"].clone(), md["need"].clone()),
            (json!(15), json!("Review the terms."))
        );
        assert_eq!(md["tags"], json!(["a", "b"]));
        assert_eq!(
            parse("Just text", "text/markdown; charset=utf-8").unwrap()["need"],
            "Just text"
        );
        // Undeclared front-matter is unmistakable.
        let md = parse("---\nmax_credits: 3\n---\nShort", "").unwrap();
        assert_eq!(
            (md["max_credits"].clone(), md["need"].clone()),
            (json!(3), json!("Short"))
        );
        // So is JSON, even declared as markdown.
        let json = parse(r#" {"need": "x"}"#, "text/markdown").unwrap();
        assert_eq!(json["need"], "x");
        assert!(parse("", "application/json").unwrap().is_empty());
        let deliver = parse_body(b"plain result", "text/plain", "result").unwrap();
        assert_eq!(deliver["result"], "plain result");
    }

    #[test]
    fn a_body_that_looks_like_json_is_json_whatever_its_declared_type() {
        for ct in [
            "",
            "application/x-www-form-urlencoded",
            "text/plain",
            "text/markdown",
            "application/json",
        ] {
            for body in [
                r#"{"need": "Summarize this paper", "max_credits": 5,}"#,
                "{need: 'x'}",
                "[1, 2",
            ] {
                let err = parse_body(body.as_bytes(), ct, "need").unwrap_err();
                assert!(
                    matches!(&err, Error::BadRequest(m) if m.starts_with("Malformed JSON")),
                    "{ct:?} {body:?}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn undeclared_text_is_refused_not_taken_as_markdown() {
        for (body, ct) in [
            ("not json", ""),
            ("not json", "application/x-www-form-urlencoded"),
            ("need=x&max_credits=5", "application/x-www-form-urlencoded"),
            ("---\nopened but never closed", ""),
            ("text", "image/png"),
        ] {
            let err = parse_body(body.as_bytes(), ct, "need").unwrap_err();
            assert!(
                matches!(&err, Error::BadRequest(m) if m.contains("Cannot tell the request body's format")),
                "{ct:?} {body:?}: {err:?}"
            );
        }
        for ct in [
            "text/markdown",
            "text/x-markdown",
            "text/plain; charset=utf-8",
        ] {
            let fields = parse_body(b"not json", ct, "need").unwrap();
            assert_eq!(fields["need"], "not json", "{ct}");
        }
    }

    #[test]
    fn malformed_bodies_are_400_with_a_reason() {
        let parse = |body: &[u8], ct: &str| parse_body(body, ct, "need").unwrap_err();
        for (body, ct, says) in [
            (&b"{\"need\": "[..], "application/json", "Malformed JSON"),
            (b"[1, 2]", "application/json", "must be a JSON object"),
            (b"\"str\"", "application/json", "must be a JSON object"),
            (
                b"---\nkey: [unclosed\n---\nbody",
                "text/markdown",
                "Malformed YAML",
            ),
            (
                b"---\n- a list\n---\nbody",
                "text/markdown",
                "must be a mapping",
            ),
            (b"\xff\xfe", "application/json", "UTF-8"),
        ] {
            let err = parse(body, ct);
            assert!(
                matches!(&err, Error::BadRequest(m) if m.contains(says)),
                "{err:?}"
            );
        }
    }
}
