//! The documents agents read, and that they never drift from what the server serves: every
//! route of the router is in skill.md, /v1/capabilities and /openapi.json, and every endpoint
//! those documents name is served. Also /skill.md (whole and by section), /docs, / and the
//! validity of the OpenAPI document.

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_server::api::{Media, routes};
use pinchwork_test_kit::{Resp, TestApp};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Endpoints the docs describe while another developer is still building them. Each may be
/// missing from the router; once it is served it is checked like any other (then remove it
/// from here).
const BEING_BUILT: &[(&str, &str)] = &[];

/// The API reference, served as /skill.md.
const SKILL_MD: &str = include_str!("../src/api/api-reference.md");

/// The installable skill (`skill/SKILL.md`, outside this crate: read, not included).
static INSTALLABLE_SKILL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../skill/SKILL.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
});

type Endpoint = (String, String);

const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "PUT", "DELETE"];

fn served() -> BTreeSet<Endpoint> {
    routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

/// `/v1/tasks/TASK_ID/deliver` matches `/v1/tasks/{task_id}/deliver`.
fn matches_template(path: &str, template: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), template.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(seg, t)| seg == t || (t.starts_with('{') && t.ends_with('}') && !seg.is_empty()))
}

/// The route serving `method path`, if any.
fn route_for(method: Option<&str>, path: &str) -> Option<Endpoint> {
    served()
        .into_iter()
        .filter(|(m, _)| method.is_none_or(|want| want == m))
        .find(|(_, t)| matches_template(path, t))
}

fn clean_path(token: &str) -> String {
    let token = token.trim_start_matches(['`', '(', '"', '\'']);
    let end = token
        .find(['?', '`', '"', '\'', ')', ',', ' '])
        .unwrap_or(token.len());
    let path = token[..end].trim_end_matches(['.', ':', ';']);
    if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path.to_string()
    }
}

/// The rows of skill.md's endpoint table: `| GET | `/path` | auth | purpose |`.
fn skill_table() -> BTreeSet<Endpoint> {
    SKILL_MD
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 || !METHODS.contains(&cells[1]) {
                return None;
            }
            Some((cells[1].to_string(), clean_path(cells[2])))
        })
        .collect()
}

/// Every `METHOD /path` written anywhere in a text (prose, headings, tables, code).
fn method_mentions(text: &str) -> BTreeSet<Endpoint> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter_map(|w| {
            let method = w[0].trim_matches(|c: char| !c.is_ascii_alphabetic());
            let path = w[1].trim_start_matches('`');
            (METHODS.contains(&method)
                && w[0].trim_start_matches('`') == method
                && path.starts_with('/'))
            .then(|| (method.to_string(), clean_path(path)))
        })
        .collect()
}

/// Every API path (`/v1/...`) written anywhere in a text.
fn v1_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("/v1/") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "/_-{}.".contains(c)))
            .unwrap_or(tail.len());
        found.insert(clean_path(&tail[..end]));
        rest = &tail[4..];
    }
    found
}

async fn caps(app: &TestApp) -> Value {
    app.call("GET", "/v1/capabilities", None, None)
        .await
        .expect(200)
        .json
}

async fn openapi(app: &TestApp) -> Value {
    app.call("GET", "/openapi.json", None, None)
        .await
        .expect(200)
        .json
}

fn openapi_endpoints(doc: &Value) -> BTreeSet<Endpoint> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

/// A request through the router does not fall through to "no such route" (404/405).
async fn assert_served(app: &TestApp, method: &str, template: &str) {
    let path: String = template
        .split('/')
        .map(|s| if s.starts_with('{') { "x-test" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let r = app.call(method, &path, None, None).await;
    let unrouted = (r.status == 404 && r.json["error"] == "Not found") || r.status == 405;
    assert!(
        !unrouted,
        "{method} {template} is not served: {} {}",
        r.status, r.text
    );
}

#[tokio::test]
async fn every_route_is_in_skill_md_capabilities_and_openapi() {
    let app = TestApp::new().await;
    let served = served();
    let table = skill_table();
    let caps: BTreeSet<Endpoint> = caps(&app).await["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().into(),
                e["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let openapi = openapi_endpoints(&openapi(&app).await);
    for route in &served {
        assert!(
            table.contains(route),
            "{route:?} is missing from skill.md's endpoint table"
        );
        assert!(
            method_mentions(SKILL_MD).contains(route),
            "{route:?} is not written as `METHOD /path` in skill.md"
        );
        assert!(
            caps.contains(route),
            "{route:?} is missing from /v1/capabilities"
        );
        assert!(
            openapi.contains(route),
            "{route:?} is missing from /openapi.json"
        );
    }
    for route in &served {
        assert_served(&app, &route.0, &route.1).await;
    }
}

#[tokio::test]
async fn every_endpoint_the_documents_name_is_served() {
    let app = TestApp::new().await;
    let pending = |m: &str, p: &str| {
        BEING_BUILT
            .iter()
            .any(|(bm, bp)| (m.is_empty() || *bm == m) && matches_template(p, bp))
    };
    let caps = caps(&app).await;
    let mut named: BTreeSet<Endpoint> = skill_table();
    named.extend(method_mentions(SKILL_MD));
    named.extend(method_mentions(&INSTALLABLE_SKILL));
    for e in caps["endpoints"].as_array().unwrap() {
        named.insert((
            e["method"].as_str().unwrap().into(),
            e["path"].as_str().unwrap().into(),
        ));
    }
    let quick_start: Vec<&str> = caps["quick_start"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!quick_start.is_empty());
    named.extend(method_mentions(&quick_start.join("\n")));
    named.extend(openapi_endpoints(&openapi(&app).await));
    assert!(named.len() >= served().len());
    for (method, path) in &named {
        match route_for(Some(method), path) {
            Some((m, template)) => assert_served(&app, &m, &template).await,
            None => assert!(
                pending(method, path),
                "the docs name {method} {path}, which the server does not serve"
            ),
        }
    }
    // Paths written without a method (curl lines, prose): some route serves each.
    for text in [SKILL_MD, INSTALLABLE_SKILL.as_str()] {
        for path in v1_paths(text) {
            assert!(
                route_for(None, &path).is_some() || pending("", &path),
                "the docs name {path}, which the server does not serve"
            );
        }
    }
    for key in ["docs_url", "openapi_url", "interactive_docs_url"] {
        let url = caps[key].as_str().unwrap();
        app.call("GET", url, None, None).await.expect(200);
    }
}

#[tokio::test]
async fn every_section_named_in_the_skill_resolves() {
    let app = TestApp::new().await;
    let mut names = BTreeSet::new();
    for text in [INSTALLABLE_SKILL.as_str(), SKILL_MD] {
        for (i, _) in text.match_indices("section=") {
            let name: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !name.is_empty() && name != "NAME" {
                names.insert(name);
            }
        }
    }
    assert!(names.len() >= 10, "SKILL.md points to sections: {names:?}");
    for name in names {
        let r = app
            .call("GET", &format!("/skill.md?section={name}"), None, None)
            .await;
        assert_eq!(r.status, 200, "section {name}: {}", r.text);
        assert!(
            r.text.starts_with('#'),
            "section {name} starts with its heading"
        );
    }
}

#[tokio::test]
async fn skill_has_front_matter_for_installation() {
    let front = INSTALLABLE_SKILL
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .expect("front-matter")
        .0;
    let meta: Value = serde_yaml::from_str(front).unwrap();
    assert_eq!(meta["name"], "pinchwork");
    let description = meta["description"].as_str().unwrap();
    assert!(description.len() > 80 && description.to_lowercase().contains("use when"));
}

/// The validator for the component schema `name` of the OpenAPI document, after checking it
/// is a strict JSON Schema 2020-12 schema (only 2020-12 keywords, no unknown format).
fn strict_component(doc: &Value, name: &str) -> jsonschema::Validator {
    let schema = &doc["components"]["schemas"][name];
    assert_eq!(
        pinchwork_client::schema::unknown_keywords(schema),
        Vec::<String>::new(),
        "{name}: keywords 2020-12 does not define"
    );
    // Resolved within the document, where its $refs point.
    let mut root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
    });
    root["components"] = doc["components"].clone();
    jsonschema::meta::validate(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&root)
        .unwrap_or_else(|e| panic!("{name}: refused by a strict validator: {e}"))
}

#[tokio::test]
async fn openapi_schemas_are_strict_json_schema_and_require_what_the_server_requires() {
    let app = TestApp::new().await;
    let doc = openapi(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in schemas.keys() {
        strict_component(&doc, name);
    }
    let required = |name: &str| -> Vec<&str> {
        schemas[name]["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default()
    };
    for (body, fields) in [
        ("CreateTaskRequest", vec!["need"]),
        ("DeliverRequest", vec!["result"]),
        ("RejectRequest", vec!["reason"]),
        ("ReportRequest", vec!["reason"]),
        ("RateRequest", vec!["rating"]),
        ("AskRequest", vec!["question"]),
        ("AnswerRequest", vec!["answer"]),
        ("MessageRequest", vec!["message"]),
        ("RegisterRequest", vec!["name"]),
        ("GrantRequest", vec!["agent_id", "amount"]),
        ("SuspendRequest", vec!["agent_id", "suspended"]),
        ("ApproveRequest", vec![]),
        ("UpdateProfileRequest", vec![]),
        ("BatchPickupRequest", vec![]),
    ] {
        assert_eq!(required(body), fields, "{body}: {}", schemas[body]);
        // Every field of a request body says what it is; optional ones have a plain type.
        for (field, prop) in schemas[body]["properties"].as_object().unwrap() {
            assert!(
                prop["description"].as_str().is_some_and(|d| d.len() >= 10),
                "{body}.{field} has no description"
            );
            assert!(!prop.to_string().contains("null"), "{body}.{field}: {prop}");
        }
    }
    assert!(
        schemas["CreateTaskRequest"]["properties"]["need"]
            .get("default")
            .is_none()
    );

    // Real answers validate against their schemas, nulls included.
    let (_, key) = app.register("alice").await;
    let task = app
        .call(
            "POST",
            "/v1/tasks",
            Some(&key),
            Some(serde_json::json!({"need": "Check", "max_credits": 5})),
        )
        .await
        .expect(201)
        .json;
    let view = app
        .call(
            "GET",
            &format!("/v1/tasks/{}", task["task_id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await
        .expect(200)
        .json;
    assert!(view["result"].is_null(), "{view}");
    let validator = strict_component(&doc, "TaskView");
    let errors: Vec<String> = validator
        .iter_errors(&view)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{view}");
}

#[tokio::test]
async fn openapi_is_valid_openapi_3_1_with_named_schemas() {
    let app = TestApp::new().await;
    let r = app
        .call("GET", "/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["jsonSchemaDialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["title"].is_string());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ErrorBody",
        "RegisterRequest",
        "RegisterResponse",
        "CreateTaskRequest",
        "CreateTaskResponse",
        "TaskView",
        "PickupItem",
        "DeliverRequest",
        "CreditsResponse",
        "Capabilities",
        "AvailableItemList",
        "PickupItemList",
        "TaskViewList",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    for name in schemas.keys() {
        assert!(
            !name.ends_with(|c: char| c.is_ascii_digit()),
            "{name}: two types share a schema name"
        );
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for (i, _) in text.match_indices("#/components/schemas/") {
        let name: String = text[i + 21..].chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "dangling $ref to {name}");
    }
    // Every route declares what it answers; bodies and JSON answers have named schemas.
    for route in routes() {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert!(
            !route.outcomes.is_empty(),
            "{} {} declares no outcome in routes()",
            route.method,
            route.path
        );
        if route.body.is_some() {
            let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            assert!(
                body.is_string(),
                "{} {}: request body schema",
                route.method,
                route.path
            );
        }
        for outcome in &route.outcomes {
            let res = &op["responses"][outcome.status.to_string()];
            assert!(
                res.is_object(),
                "{} {} {}",
                route.method,
                route.path,
                outcome.status
            );
            if matches!(outcome.media, Media::Negotiated | Media::Json) {
                assert!(
                    res["content"]["application/json"]["schema"]["$ref"].is_string(),
                    "{} {} {}: named response schema",
                    route.method,
                    route.path,
                    outcome.status
                );
            }
        }
        assert!(op["responses"]["default"].is_object());
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        for seg in route.path.split('/').filter(|s| s.starts_with('{')) {
            assert!(
                params.contains(&seg.trim_matches(['{', '}'])),
                "{}: {seg}",
                route.path
            );
        }
    }
    let browse = &doc["paths"]["/v1/tasks/available"]["get"]["parameters"];
    let names: Vec<&str> = browse
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for q in ["tags", "search", "limit", "offset"] {
        assert!(names.contains(&q), "browse query {q}: {names:?}");
    }
    assert_eq!(
        doc["paths"]["/v1/tasks"]["post"]["security"][0]["agentKey"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn skill_md_is_served_whole_as_markdown() {
    let app = TestApp::new().await;
    for accept in ["application/json", "text/markdown"] {
        let req = Request::get("/skill.md")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        let r = app.send(req).await.expect(200);
        assert_eq!(
            r.header("content-type"),
            Some("text/markdown; charset=utf-8")
        );
        assert_eq!(r.text, SKILL_MD);
    }
    let r = app
        .call("GET", "/skill.md?section=", None, None)
        .await
        .expect(200);
    assert_eq!(r.text, SKILL_MD, "an empty section is the whole document");
}

async fn section(app: &TestApp, name: &str) -> Resp {
    app.call("GET", &format!("/skill.md?section={name}"), None, None)
        .await
}

#[tokio::test]
async fn sections_by_title_slug_and_any_case() {
    let app = TestApp::new().await;
    let credits = section(&app, "Credits").await.expect(200);
    assert_eq!(
        credits.header("content-type"),
        Some("text/markdown; charset=utf-8")
    );
    assert!(credits.text.starts_with("## Credits\n"), "{}", credits.text);
    assert!(
        credits.text.contains("### GET /v1/me/credits"),
        "subsections come along"
    );
    assert!(
        !credits.text.contains("## Matching"),
        "stops at the next section"
    );
    assert_eq!(
        section(&app, "CREDITS").await.expect(200).text,
        credits.text
    );
    assert_eq!(
        section(&app, "cReDiTs").await.expect(200).text,
        credits.text
    );

    let lifecycle = section(&app, "task-lifecycle").await.expect(200);
    assert!(lifecycle.text.starts_with("## Task lifecycle\n"));
    assert_eq!(
        section(&app, "Task%20Lifecycle").await.expect(200).text,
        lifecycle.text
    );

    // A nested section ends at the next heading of its level or higher.
    let deadlines = section(&app, "deadlines").await.expect(200);
    assert!(deadlines.text.starts_with("### Deadlines\n"));
    assert!(!deadlines.text.contains("### Rejections"));
    let by_path = section(&app, "POST%20/v1/tasks").await.expect(200);
    assert!(by_path.text.starts_with("### POST /v1/tasks\n"));
    assert!(!by_path.text.contains("### GET /v1/tasks/{task_id}"));
    assert_eq!(
        section(&app, "post-v1-tasks").await.expect(200).text,
        by_path.text
    );
}

#[tokio::test]
async fn lines_in_code_blocks_are_not_headings() {
    let app = TestApp::new().await;
    let mut in_fence = false;
    let mut fenced_hashes = Vec::new();
    for line in SKILL_MD.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if in_fence && line.starts_with('#') {
            fenced_hashes.push(line.to_string());
        }
    }
    assert!(
        !fenced_hashes.is_empty(),
        "skill.md has `#` lines inside code blocks"
    );
    for line in fenced_hashes {
        let title = line.trim_start_matches('#').trim();
        let r = section(&app, &title.replace(' ', "%20")).await;
        assert!(
            r.status == 404 || !r.text.starts_with(&format!("{line}\n")),
            "{title} matched a line inside a code block: {}",
            r.text
        );
    }
    // `# Credits` inside a code block comes before no heading: the real section wins.
    assert!(SKILL_MD.contains("```sh\n") && SKILL_MD.contains("\n# Credits\n"));
    let r = section(&app, "credits").await.expect(200);
    assert!(r.text.starts_with("## Credits\n"));
}

#[tokio::test]
async fn unknown_section_is_404_listing_the_sections() {
    let app = TestApp::new().await;
    let r = section(&app, "no-such-thing").await.expect(404);
    let error = r.error();
    assert!(error.contains("no-such-thing"), "{error}");
    for listed in [
        "credits",
        "task-lifecycle",
        "endpoints",
        "deadlines",
        "errors",
    ] {
        assert!(error.contains(listed), "{error} lists {listed}");
    }
}

#[tokio::test]
async fn capabilities_from_the_route_table() {
    let app = TestApp::new().await;
    // No key, and JSON whatever the client accepts.
    let req = Request::get("/v1/capabilities")
        .header(header::ACCEPT, "text/markdown")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await.expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let caps = r.json;
    assert_eq!(caps["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(caps["docs_url"], "/skill.md");
    assert_eq!(caps["openapi_url"], "/openapi.json");
    assert_eq!(caps["quick_start"][0], "POST /v1/register");
    let endpoints = caps["endpoints"].as_array().unwrap();
    let table = routes();
    assert_eq!(endpoints.len(), table.len());
    for (e, r) in endpoints.iter().zip(&table) {
        assert_eq!(e["method"], r.method.as_str());
        assert_eq!(e["path"], r.path);
        assert_eq!(e["purpose"], r.purpose);
        assert!(["none", "agent", "admin"].contains(&e["auth"].as_str().unwrap()));
    }
    let register = endpoints
        .iter()
        .find(|e| e["path"] == "/v1/register")
        .unwrap();
    assert_eq!(register["auth"], "none");
    let me = endpoints.iter().find(|e| e["path"] == "/v1/me").unwrap();
    assert_eq!(me["auth"], "agent");
    let grant = endpoints
        .iter()
        .find(|e| e["path"] == "/v1/admin/credits/grant")
        .unwrap();
    assert_eq!(grant["auth"], "admin");
}

#[tokio::test]
async fn docs_page_is_self_contained_html() {
    let app = TestApp::new().await;
    let r = app.call("GET", "/docs", None, None).await.expect(200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.starts_with("<!doctype html>"));
    assert!(r.text.contains("/openapi.json") && r.text.contains("<script>"));
    assert!(r.text.contains("fetch("), "tries requests with fetch");
    for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(
            !r.text.contains(external),
            "/docs loads something from outside: {external}"
        );
    }
}

#[tokio::test]
async fn root_redirects_to_skill_md() {
    let app = TestApp::new().await;
    let r = app.call("GET", "/", None, None).await.expect(307);
    assert_eq!(r.header("location"), Some("/skill.md"));
}

/// Each route that is an API operation has the operations table's summary as its purpose, the
/// words the CLI's help and the MCP tools use too; and every operation is a route.
#[test]
fn route_purposes_come_from_the_operations_table() {
    let table = routes();
    for op in pinchwork_client::ops::ALL {
        let route = table
            .iter()
            .find(|r| r.method.as_str() == op.method && r.path == op.path)
            .unwrap_or_else(|| panic!("no route {} {}", op.method, op.path));
        assert_eq!(route.purpose, op.summary, "{} {}", op.method, op.path);
    }
    let operations = table
        .iter()
        .filter(|r| pinchwork_client::ops::by_route(r.method.as_str(), r.path).is_some())
        .count();
    assert_eq!(operations, pinchwork_client::ops::ALL.len());
    // Only the documents, the health check and the MCP endpoint are not operations.
    for r in &table {
        if pinchwork_client::ops::by_route(r.method.as_str(), r.path).is_none() {
            assert!(
                !r.path.starts_with("/v1/") || r.path == "/v1/capabilities",
                "{} {} has no entry in the operations table",
                r.method,
                r.path
            );
        }
    }
}

/// The one event object (SSE `data:`, webhook body, MCP) is published as `Event`, with a
/// branch for every event type naming that type's fields; an event as the server makes it
/// validates, one with a field of the wrong type does not.
#[tokio::test]
async fn every_event_type_and_its_fields_are_in_the_published_event_schema() {
    use pinchwork_client::events::{EventData, EventEnvelope, EventKind};
    let app = TestApp::new().await;
    let doc = openapi(&app).await;
    let event_ref = "#/components/schemas/Event";
    assert_eq!(
        doc["webhooks"]["event"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        event_ref
    );
    assert_eq!(
        doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]["x-data-schema"]
            ["$ref"],
        event_ref
    );
    let schemas = &doc["components"]["schemas"];
    let branches = schemas["Event"]["oneOf"].as_array().unwrap();
    let validator = strict_component(&doc, "Event");
    for kind in EventKind::ALL {
        // The branch of this type, and the component holding its fields.
        let branch = branches
            .iter()
            .find(|b| b["properties"]["event"]["const"] == kind.as_str())
            .unwrap_or_else(|| panic!("{kind} has no branch in Event"));
        let fields_ref = branch["properties"]["data"]["$ref"].as_str().unwrap();
        let fields = &schemas[fields_ref.rsplit('/').next().unwrap()];
        let (data, wrong) = match kind {
            EventKind::TaskClaimed => (json!({"worker_id": "ag-1"}), Some("worker_id")),
            EventKind::TaskApproved => (json!({"feedback": "thanks"}), Some("feedback")),
            EventKind::TaskRejected => (
                json!({"reason": "no", "grace_deadline": "2026-01-01T12:05:00Z"}),
                Some("reason"),
            ),
            EventKind::TaskQuestion | EventKind::QuestionAnswered => {
                (json!({"question_id": "q-1"}), Some("question_id"))
            }
            EventKind::TaskMessage => (json!({"message_id": "m-1"}), Some("message_id")),
            _ => (json!({}), None),
        };
        let named: BTreeSet<&String> = fields["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        for key in data.as_object().unwrap().keys() {
            assert!(named.contains(key), "{kind}: {key} in {fields}");
        }
        let event = EventEnvelope {
            event_id: 7,
            task_id: "tk-1".into(),
            created_at: "2026-01-01T12:00:00Z".into(),
            data: EventData::from_parts(kind, data).unwrap(),
        };
        let mut json = serde_json::to_value(&event).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{kind}: {json} refused: {errors:?}");
        if let Some(field) = wrong {
            json["data"][field] = json!(5);
            assert!(!validator.is_valid(&json), "{kind}: {json} accepted");
        }
    }
}
