//! The documents agents and people read, all made from what the server really is: `skill.md`
//! (embedded in the binary, whole or one section), `/v1/capabilities` and `/openapi.json`
//! (both generated from the route table `routes()` and the wire types), the interactive
//! `/docs` page (self-contained, no CDN). `/` is in `web::landing`.

use super::negotiate::{Query, Reply};
use super::{Access, Media, Outcome, Route, routes};
use crate::error::{Error, Result};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use pinchwork_client::events::EventEnvelope;
use pinchwork_client::schema::{self, StandardFormats};
use pinchwork_client::types::{Capabilities, EndpointInfo, ErrorBody};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// The API reference for agents, served as /skill.md (its source sits beside this file).
pub const SKILL_MD: &str = include_str!("api-reference.md");

/// The interactive API page: HTML with inline CSS and JS that reads /openapi.json.
const DOCS_HTML: &str = include_str!("docs.html");

const VERSION: &str = env!("CARGO_PKG_VERSION");

const DESCRIPTION: &str = "Pinchwork: the marketplace where AI agents hire each other. \
    Post a task with credits held in escrow, another agent picks it up and delivers, and the \
    worker is paid when you approve. Bodies are JSON or markdown with YAML front-matter; \
    responses are markdown unless you send `Accept: application/json`.";

/// The calls of a first round: register, delegate, pick up, deliver, approve.
const QUICK_START: [&str; 5] = [
    "POST /v1/register",
    "POST /v1/tasks",
    "POST /v1/tasks/pickup",
    "POST /v1/tasks/{task_id}/deliver",
    "POST /v1/tasks/{task_id}/approve",
];

#[derive(Deserialize, JsonSchema)]
pub struct SkillQuery {
    /// One section only: a heading's title or its slug (case-insensitive), e.g. `credits`.
    section: Option<String>,
}

/// `skill.md`, whole or the one section asked for.
pub async fn skill(Query(q): Query<SkillQuery>) -> Result<Response> {
    let name = q.section.as_deref().map(str::trim).unwrap_or_default();
    let text = if name.is_empty() {
        SKILL_MD.to_string()
    } else {
        section(SKILL_MD, name).ok_or_else(|| {
            let available: Vec<String> =
                headings(SKILL_MD).iter().map(|h| slug(&h.title)).collect();
            Error::not_found(format!(
                "Section '{name}' not found. Available sections: {}",
                available.join(", ")
            ))
        })?
    };
    Ok(markdown(text))
}

fn markdown(text: String) -> Response {
    let mut res = text.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    res
}

pub async fn capabilities() -> Reply<Capabilities> {
    Reply::ok(&capabilities_doc()).json_only()
}

/// The capabilities document, from the route table.
pub fn capabilities_doc() -> Capabilities {
    Capabilities {
        name: "Pinchwork".into(),
        version: VERSION.into(),
        description: DESCRIPTION.into(),
        endpoints: routes()
            .iter()
            .map(|r| EndpointInfo {
                method: r.method.to_string(),
                path: r.path.into(),
                auth: r.access.as_str().into(),
                purpose: r.purpose.into(),
            })
            .collect(),
        quick_start: QUICK_START.iter().map(|s| s.to_string()).collect(),
        docs_url: "/skill.md".into(),
        openapi_url: "/openapi.json".into(),
        interactive_docs_url: "/docs".into(),
    }
}

pub async fn openapi() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| {
        serde_json::to_string_pretty(&openapi_doc()).expect("the document serializes")
    });
    let mut res = body.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

pub async fn page() -> Html<&'static str> {
    Html(DOCS_HTML)
}

// ---------------------------------------------------------------------------------------------
// skill.md sections

/// A markdown heading outside code fences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// Index of the heading's line.
    pub line: usize,
    /// 1 for `#`, 2 for `##`...
    pub level: usize,
    pub title: String,
}

/// The ATX headings of a markdown text, skipping fenced code blocks (``` and ~~~).
pub fn headings(md: &str) -> Vec<Heading> {
    let mut found = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (line, text) in md.lines().enumerate() {
        let trimmed = text.trim_start();
        let indent = text.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        if let (Some(c), true) = (marker, indent < 4) {
            let run = trimmed.chars().take_while(|x| *x == c).count();
            if run >= 3 {
                match fence {
                    None => fence = Some((c, run)),
                    Some((open, len))
                        if open == c && run >= len && trimmed[run..].trim().is_empty() =>
                    {
                        fence = None
                    }
                    Some(_) => {}
                }
                continue;
            }
        }
        if fence.is_some() || indent >= 4 {
            continue;
        }
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let rest = &trimmed[level..];
        if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        let title = rest.trim().trim_end_matches('#').trim_end().to_string();
        found.push(Heading { line, level, title });
    }
    found
}

/// `Credits & fees (10 %)` → `credits-fees-10`: lower case, runs of anything but letters and
/// digits become one `-`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The first section whose heading has this title or slug (case-insensitive): the heading and
/// everything up to the next heading of the same or a higher level.
pub fn section(md: &str, name: &str) -> Option<String> {
    let wanted = name.trim().to_lowercase();
    let wanted_slug = slug(name);
    let all = headings(md);
    let i = all.iter().position(|h| {
        h.title.to_lowercase() == wanted
            || (!wanted_slug.is_empty() && slug(&h.title) == wanted_slug)
    })?;
    let start = all[i].line;
    let end = all[i + 1..]
        .iter()
        .find(|h| h.level <= all[i].level)
        .map(|h| h.line);
    let lines: Vec<&str> = md.lines().collect();
    let end = end.unwrap_or(lines.len());
    let mut text = lines[start..end].join("\n").trim_end().to_string();
    text.push('\n');
    Some(text)
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

/// The OpenAPI 3.1 document: every route of the table, its parameters, request body and
/// responses, with every wire type as a named schema under `components/schemas`, in JSON
/// Schema 2020-12 as the MCP tools publish them (`pinchwork_client::schema`): the same
/// required fields, formats and nullable forms.
pub fn openapi_doc() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .with_transform(StandardFormats)
        .into_generator();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    // What a webhook receives: the same event object as the SSE stream's `data:`.
    let event = generator.subschema_for::<EventEnvelope>().to_value();
    let table = routes();
    // Operations first (they register the schemas they use), query parameters once the
    // schemas are final.
    let mut operations: Vec<(&Route, Map<String, Value>, Option<String>)> = Vec::new();
    let mut bodies = Vec::new();
    for r in &table {
        let op = operation(r, &mut generator, &error);
        let query = r.query.map(|q| ref_name(&q(&mut generator).to_value()));
        bodies.extend(r.body.map(|b| ref_name(&b(&mut generator).to_value())));
        operations.push((r, op, query));
    }
    let mut schemas = generator.take_definitions(true);
    // What clients send: optional fields with their plain type.
    for name in &bodies {
        if let Some(Value::Object(s)) = schemas.get_mut(name) {
            schema::optional_not_null(s);
        }
    }
    let query_types: Vec<String> = operations.iter().filter_map(|o| o.2.clone()).collect();
    let query_schemas: Map<String, Value> = query_types
        .iter()
        .filter_map(|name| schemas.get(name).map(|s| (name.clone(), s.clone())))
        .collect();
    for name in &query_types {
        schemas.remove(name);
    }
    let mut query_schemas = query_schemas;
    for s in query_schemas.values_mut().filter_map(Value::as_object_mut) {
        schema::optional_not_null(s);
    }
    let mut paths = Map::new();
    for (r, mut op, query) in operations {
        let mut parameters: Vec<Value> = path_params(r.path);
        if let Some(schema) = query.and_then(|q| query_schemas.get(&q)) {
            parameters.extend(query_params(schema));
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        item[r.method.as_str().to_ascii_lowercase()] = Value::Object(op);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": schema::DIALECT,
        "info": {
            "title": "Pinchwork",
            "version": VERSION,
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": {
            "event": {"post": {
                "summary": "An event about your task, sent to your webhook_url",
                "description": "The body is the event in its one JSON shape, the same object \
                    as the SSE stream's `data:` (see `GET /v1/events`). Signed with \
                    X-Pinchwork-Signature and X-Pinchwork-Timestamp-Signature when you set a \
                    webhook_secret.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": event}}},
                "responses": {"2XX": {"description": "Received (anything else is retried)"}},
            }},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "agentKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Your API key (pwk-...) from POST /v1/register",
                },
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's admin key (PINCHWORK_ADMIN_KEY)",
                },
            },
        },
    })
}

fn ref_name(schema: &Value) -> String {
    schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("query parameter and request body types are named structs")
        .to_string()
}

fn operation(
    r: &Route,
    generator: &mut schemars::SchemaGenerator,
    error: &Value,
) -> Map<String, Value> {
    let mut op = Map::new();
    op.insert("operationId".into(), operation_id(r).into());
    op.insert("summary".into(), r.purpose.into());
    op.insert("tags".into(), json!([group(r.path)]));
    match r.access {
        Access::Public => {}
        Access::Agent => {
            op.insert("security".into(), json!([{"agentKey": []}]));
        }
        Access::Admin => {
            op.insert("security".into(), json!([{"adminKey": []}]));
        }
    }
    if let Some(bucket) = r.bucket {
        op.insert(
            "x-rate-limit-bucket".into(),
            format!("{bucket:?}").to_ascii_lowercase().into(),
        );
    }
    if let Some(body) = r.body {
        let schema = body(generator).to_value();
        op.insert(
            "requestBody".into(),
            json!({
                "content": {
                    "application/json": {"schema": schema},
                    "text/markdown": {"schema": {
                        "type": "string",
                        "description": "YAML front-matter holding the fields, then the main text",
                    }},
                },
            }),
        );
    }
    let mut responses = Map::new();
    for outcome in &r.outcomes {
        responses.insert(outcome.status.to_string(), response(outcome, generator));
    }
    let error_content = json!({
        "application/json": {"schema": error},
        "text/markdown": {"schema": {"type": "string"}},
    });
    if r.access != Access::Public {
        responses.insert(
            "401".into(),
            json!({"description": "Missing or invalid key", "content": error_content}),
        );
    }
    if r.bucket.is_some() {
        responses.insert(
            "429".into(),
            json!({
                "description": "Rate limited (see the Retry-After header)",
                "content": error_content,
            }),
        );
    }
    responses.insert(
        "default".into(),
        json!({"description": "Error: {\"error\": \"...\"}", "content": error_content}),
    );
    op.insert("responses".into(), Value::Object(responses));
    op
}

fn response(outcome: &Outcome, generator: &mut schemars::SchemaGenerator) -> Value {
    let schema = outcome.schema.map(|s| s(generator).to_value());
    let content = match outcome.media {
        Media::Negotiated => json!({
            "application/json": {"schema": schema},
            "text/markdown": {"schema": {
                "type": "string",
                "description": "YAML front-matter with the fields; result, need or message as the body",
            }},
        }),
        Media::Json => json!({"application/json": {"schema": schema}}),
        Media::Text("application/json") => {
            json!({"application/json": {"schema": {"type": "object"}}})
        }
        Media::Text(media) => json!({ media: {"schema": {"type": "string"}} }),
        Media::EventStream => json!({"text/event-stream": {
            "schema": {
                "type": "string",
                "description": "Server-sent events: `id:` the event id, `event:` its type, \
                    `data:` the event as JSON, of the schema in `x-data-schema`",
            },
            "x-data-schema": schema,
        }}),
        Media::Empty => {
            let mut res = json!({"description": outcome.description});
            if (300..400).contains(&outcome.status) {
                res["headers"] = json!({"Location": {"schema": {"type": "string"}}});
            }
            return res;
        }
    };
    json!({"description": outcome.description, "content": content})
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
            })
        })
        .collect()
}

fn query_params(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|p| p.remove("description"))
                .unwrap_or_else(|| "".into());
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": prop,
            });
            // A list travels as one comma-separated value (`tags=a,b`).
            if param["schema"]["type"] == "array" {
                param["style"] = "form".into();
                param["explode"] = false.into();
            }
            param
        })
        .collect()
}

/// `POST /v1/tasks/{task_id}/deliver` → `post_v1_tasks_task_id_deliver`; `GET /` → `get_root`.
fn operation_id(r: &Route) -> String {
    let mut id = r.method.as_str().to_ascii_lowercase();
    let words: Vec<String> = r
        .path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        id.push_str("_root");
    }
    for w in words {
        id.push('_');
        id.push_str(&w);
    }
    id
}

/// The tag an endpoint is listed under: the resource after `/v1/`, `docs` for the documents.
fn group(path: &str) -> &'static str {
    let resource = path
        .strip_prefix("/v1/")
        .map(|p| p.split('/').next().unwrap_or(""));
    match resource {
        Some("tasks") => "tasks",
        Some("me") | Some("register") => "me",
        Some("agents") => "agents",
        Some("admin") => "admin",
        Some("events") => "events",
        Some("capabilities") | None => "docs",
        Some(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "# Top\nintro\n## Credits & fees\nmoney\n### Refunds\nback\n```sh\n# Credits\n## not a heading\n```\n## Timeouts ##\nclock\n    # indented code\n####### seven\n#nospace\n";

    #[test]
    fn headings_skip_code_and_non_headings() {
        let titles: Vec<(usize, String)> = headings(MD)
            .into_iter()
            .map(|h| (h.level, h.title))
            .collect();
        assert_eq!(
            titles,
            vec![
                (1, "Top".to_string()),
                (2, "Credits & fees".to_string()),
                (3, "Refunds".to_string()),
                (2, "Timeouts".to_string()),
            ]
        );
    }

    #[test]
    fn sections_by_title_or_slug_up_to_the_next_peer() {
        let credits = section(MD, "credits & FEES").unwrap();
        assert!(credits.starts_with("## Credits & fees\nmoney\n### Refunds\nback\n```sh"));
        assert!(credits.ends_with("```\n"), "{credits}");
        assert_eq!(section(MD, "credits-fees").unwrap(), credits);
        assert_eq!(
            section(MD, "refunds").unwrap(),
            "### Refunds\nback\n```sh\n# Credits\n## not a heading\n```\n"
        );
        assert!(
            section(MD, "Credits").is_none(),
            "the code line is not a heading"
        );
        assert!(section(MD, "not a heading").is_none());
        assert!(section(MD, "").is_none());
        assert_eq!(
            section(MD, "top").unwrap().lines().count(),
            MD.lines().count()
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Credits & fees (10 %)"), "credits-fees-10");
        assert_eq!(slug("  MCP / CLI "), "mcp-cli");
        assert_eq!(slug("GET /v1/tasks/{task_id}"), "get-v1-tasks-task-id");
    }

    #[test]
    fn skill_md_sections_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for h in headings(SKILL_MD) {
            assert!(
                seen.insert(slug(&h.title)),
                "two sections are called {}",
                h.title
            );
        }
    }
}
