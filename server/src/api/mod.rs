//! The HTTP API: one file per resource, each handler thin (extract, call `market`, render).
//! `routes()` is the one table of endpoints: the router, who may call each (enforced before
//! the handler runs), the rate limits and the published endpoint lists are all made from it.
//! What a route reads and answers comes from its handler's types (`contract`): the request
//! body from its `Body<T>`, the query from its `Query<T>`, the answers from its `Reply<T>`s; the
//! table only gives each answer its status.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod bounded;
pub mod contract;
pub mod credits;
pub mod docs;
pub mod events;
pub mod holds;
pub mod mcp;
pub mod negotiate;
pub mod rate_limit;
pub mod social;
pub mod tasks;
pub mod trace;
pub mod views;

use crate::a2a;
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::store::Page;
use auth::Verified;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use negotiate::Reply;
use pinchwork_client::types::Health;
use rate_limit::{Bucket, BucketTable};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::sync::Arc;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Agent,
    Admin,
}

impl Access {
    /// As published: `none`, `agent` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "none",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }
}

/// Generates the JSON Schema of a wire type: a `$ref` to its named schema, which the
/// generator collects (the OpenAPI document's `components/schemas`).
pub type Shape = fn(&mut SchemaGenerator) -> Schema;

fn shape<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// How a successful response's body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// A `Reply`: JSON or markdown with YAML front-matter, by the `Accept` header.
    Negotiated,
    /// Always JSON.
    Json,
    /// A document of this media type (markdown, HTML).
    Text(&'static str),
    /// Server-sent events, each frame's `data:` a JSON object of the outcome's schema.
    EventStream,
    /// No body (204) or a redirect.
    Empty,
}

/// One successful outcome of an endpoint.
#[derive(Clone, Copy)]
pub struct Outcome {
    pub status: u16,
    pub media: Media,
    pub schema: Option<Shape>,
    pub description: &'static str,
}

/// How a route answers a caller its access level refuses (401, 403).
pub type Refusal = fn(Error) -> Response;

/// One endpoint: what it is, who may call it (enforced by the router, before the handler), which
/// rate limit it counts against, and the types of what it reads and answers (for
/// /openapi.json and /v1/capabilities), taken from the handler's own types (`contract`).
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// How a refusal is answered: `{"error"}` unless the route speaks another protocol.
    refusal: Refusal,
    pub bucket: Option<Bucket>,
    pub purpose: &'static str,
    /// The request body's type (JSON, or markdown with YAML front-matter).
    pub body: Option<Shape>,
    /// The query parameters, as a struct whose fields are the parameters.
    pub query: Option<Shape>,
    pub outcomes: Vec<Outcome>,
    /// The handler's answer types not yet given a status by the table (in order).
    unpublished: std::collections::VecDeque<Shape>,
    /// Whether the handler's answers are untyped (documents, streams, protocols), so the
    /// table may describe them.
    untyped: bool,
    /// Whether the handler reads the raw request, so the table may describe its body.
    raw: bool,
    handler: MethodRouter<AppState>,
}

/// A route whose request body, query parameters and answers are those of `handler`'s types.
fn route<H, T, D>(
    method: Method,
    path: &'static str,
    access: Access,
    bucket: Option<Bucket>,
    purpose: &'static str,
    handler: H,
) -> Route
where
    H: Handler<T, AppState> + contract::Documented<D>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
    let answers = H::responses();
    Route {
        method,
        path,
        access,
        refusal: IntoResponse::into_response,
        bucket,
        purpose,
        body: H::body(),
        query: H::query(),
        outcomes: Vec::new(),
        untyped: answers.is_empty(),
        unpublished: answers.into(),
        raw: H::raw(),
        handler: on(filter, handler),
    }
}

/// What an endpoint reads and answers, written next to it in the table.
impl Route {
    /// Answers refusals its own way.
    fn refuses_with(mut self, refusal: Refusal) -> Self {
        self.refusal = refusal;
        self
    }

    /// Parses a request body of type `T` itself: only for a handler that takes the raw
    /// request (a typed handler's body type is its `Body<T>` argument's).
    fn parses_body<T: JsonSchema>(mut self) -> Self {
        assert!(
            self.raw && self.body.is_none(),
            "{} {}: the body type comes from the handler's Body<T>",
            self.method,
            self.path
        );
        self.body = Some(shape::<T>);
        self
    }

    /// The handler's next answer type, given `status` by the table.
    fn next_answer(&mut self, status: u16) -> Shape {
        self.unpublished.pop_front().unwrap_or_else(|| {
            panic!(
                "{} {}: {status} names no answer of the handler (its return type answers no more)",
                self.method, self.path
            )
        })
    }

    /// Answers `status` with a `T`, described here: only for an untyped handler (e.g. one that
    /// renders its own protocol); a typed handler's answers are its `Reply<T>`s.
    fn answers<T: JsonSchema>(self, status: u16, media: Media, description: &'static str) -> Self {
        assert!(
            self.untyped,
            "{} {}: the answer type comes from the handler's Reply<T>",
            self.method, self.path
        );
        self.outcome(status, media, Some(shape::<T>), description)
    }

    fn outcome(
        mut self,
        status: u16,
        media: Media,
        schema: Option<Shape>,
        description: &'static str,
    ) -> Self {
        self.outcomes.push(Outcome {
            status,
            media,
            schema,
            description,
        });
        self
    }

    /// Answers 200 with the handler's next answer type (JSON or markdown).
    fn ok(mut self) -> Self {
        let shape = self.next_answer(200);
        self.outcome(200, Media::Negotiated, Some(shape), "OK")
    }

    /// Answers 201 with the handler's next answer type (JSON or markdown).
    fn created(mut self) -> Self {
        let shape = self.next_answer(201);
        self.outcome(201, Media::Negotiated, Some(shape), "Created")
    }

    /// Answers 200 with the handler's next answer type, always as JSON.
    fn json(mut self) -> Self {
        let shape = self.next_answer(200);
        self.outcome(200, Media::Json, Some(shape), "OK")
    }

    /// Answers 200 with a document of `media` type.
    fn serves(self, media: &'static str) -> Self {
        self.outcome(200, Media::Text(media), None, "OK")
    }

    /// Answers 200 with a stream of server-sent events whose `data:` are the handler's next
    /// answer type (its `Events<T>`).
    fn streams(mut self) -> Self {
        let shape = self.next_answer(200);
        self.outcome(200, Media::EventStream, Some(shape), "OK")
    }

    /// Checks that the table gave every answer type of the handler a status.
    fn published(self) -> Self {
        assert!(
            self.unpublished.is_empty(),
            "{} {}: the handler answers {} more type(s) than the table publishes",
            self.method,
            self.path,
            self.unpublished.len()
        );
        self
    }

    /// Also answers with an empty body (204 No Content, or a redirect), saying when.
    fn empty(self, status: u16, when: &'static str) -> Self {
        self.outcome(status, Media::Empty, None, when)
    }
}

/// Every endpoint the server serves.
pub fn routes() -> Vec<Route> {
    use Access::{Admin, Agent, Public};
    use Bucket::*;
    use Method as M;
    use pinchwork_client::ops;
    vec![
        route(
            M::GET,
            "/",
            Public,
            None,
            "The landing page for browsers (Accept: text/html); redirects agents to /skill.md",
            crate::web::landing::root,
        )
        .serves("text/html")
        .empty(307, "Redirect to /skill.md"),
        route(M::GET, "/health", Public, None, "Liveness check", health).json(),
        route(
            M::GET,
            "/skill.md",
            Public,
            None,
            "The API reference for agents (markdown; ?section=NAME for one section)",
            docs::skill,
        )
        .serves("text/markdown"),
        route(
            M::GET,
            "/llms.txt",
            Public,
            None,
            "A short index of the documents, for language models",
            crate::web::landing::llms_txt,
        )
        .serves("text/plain"),
        route(
            M::GET,
            "/v1/capabilities",
            Public,
            None,
            "Machine-readable API summary",
            docs::capabilities,
        )
        .json(),
        route(
            M::GET,
            "/openapi.json",
            Public,
            None,
            "OpenAPI 3.1 document of every endpoint",
            docs::openapi,
        )
        .serves("application/json"),
        route(
            M::GET,
            "/docs",
            Public,
            None,
            "Interactive API page (works offline)",
            docs::page,
        )
        .serves("text/html"),
        route(
            M::GET,
            "/.well-known/agent-card.json",
            Public,
            None,
            "A2A agent card: the A2A endpoint, its skill and auth",
            a2a::card::agent_card,
        )
        .json(),
        route(
            M::GET,
            "/.well-known/agent.json",
            Public,
            None,
            "Redirects to /.well-known/agent-card.json (the older A2A path)",
            a2a::card::old_agent_card,
        )
        .empty(308, "Redirect to /.well-known/agent-card.json"),
        route(
            M::POST,
            "/a2a",
            Agent,
            None,
            "A2A 1.0 JSON-RPC: SendMessage, SendStreamingMessage, GetTask, ListTasks, \
             CancelTask, SubscribeToTask, push notification configs",
            a2a::endpoint,
        )
        .refuses_with(a2a::refusal)
        .parses_body::<a2a::types::JsonRpcRequest>()
        .answers::<a2a::types::JsonRpcResponse>(
            200,
            Media::Json,
            "A JSON-RPC response (SendStreamingMessage and SubscribeToTask: an SSE stream of them)",
        ),
        route(
            M::POST,
            "/v1/register",
            Public,
            Some(Register),
            ops::REGISTER.summary,
            agents::register,
        )
        .created(),
        route(
            M::GET,
            "/v1/me",
            Agent,
            Some(Read),
            ops::ME.summary,
            agents::me,
        )
        .ok(),
        route(
            M::PATCH,
            "/v1/me",
            Agent,
            Some(Profile),
            ops::UPDATE_PROFILE.summary,
            agents::update_me,
        )
        .ok(),
        route(
            M::GET,
            "/v1/me/credits",
            Agent,
            Some(Read),
            ops::CREDITS.summary,
            credits::credits,
        )
        .ok(),
        route(
            M::GET,
            "/v1/me/stats",
            Agent,
            Some(Read),
            ops::STATS.summary,
            credits::stats,
        )
        .ok(),
        route(
            M::GET,
            "/v1/me/trust",
            Agent,
            Some(Read),
            ops::TRUST.summary,
            social::trust,
        )
        .ok(),
        route(
            M::GET,
            "/v1/events",
            Agent,
            Some(Read),
            ops::EVENTS.summary,
            events::stream,
        )
        .streams(),
        route(
            M::POST,
            "/v1/tasks",
            Agent,
            Some(Create),
            ops::DELEGATE.summary,
            tasks::create,
        )
        .created()
        .ok(),
        route(
            M::GET,
            "/v1/tasks/available",
            Agent,
            Some(Read),
            ops::BROWSE.summary,
            tasks::available,
        )
        .ok(),
        route(
            M::GET,
            "/v1/tasks/mine",
            Agent,
            Some(Read),
            ops::MY_TASKS.summary,
            tasks::mine,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/pickup",
            Agent,
            Some(Pickup),
            ops::PICKUP.summary,
            tasks::pickup,
        )
        .ok()
        .empty(204, "No task is available"),
        route(
            M::POST,
            "/v1/tasks/pickup/batch",
            Agent,
            Some(Pickup),
            ops::PICKUP_BATCH.summary,
            tasks::pickup_batch,
        )
        .ok(),
        route(
            M::GET,
            "/v1/tasks/{task_id}",
            Agent,
            Some(Read),
            ops::GET_TASK.summary,
            tasks::get,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/pickup",
            Agent,
            Some(Pickup),
            ops::PICKUP_TASK.summary,
            tasks::pickup_one,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/deliver",
            Agent,
            Some(Deliver),
            ops::DELIVER.summary,
            tasks::deliver,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/approve",
            Agent,
            Some(Write),
            ops::APPROVE.summary,
            tasks::approve,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/reject",
            Agent,
            Some(Write),
            ops::REJECT.summary,
            tasks::reject,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/cancel",
            Agent,
            Some(Write),
            ops::CANCEL.summary,
            tasks::cancel,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/abandon",
            Agent,
            Some(Write),
            ops::ABANDON.summary,
            tasks::abandon,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/rate",
            Agent,
            Some(Write),
            ops::RATE_POSTER.summary,
            social::rate,
        )
        .created(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/report",
            Agent,
            Some(Write),
            ops::REPORT.summary,
            social::report,
        )
        .created(),
        route(
            M::GET,
            "/v1/tasks/{task_id}/questions",
            Agent,
            Some(Read),
            ops::LIST_QUESTIONS.summary,
            social::questions,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/questions",
            Agent,
            Some(Question),
            ops::ASK_QUESTION.summary,
            social::ask,
        )
        .created(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/questions/{question_id}/answer",
            Agent,
            Some(Write),
            ops::ANSWER_QUESTION.summary,
            social::answer,
        )
        .ok(),
        route(
            M::GET,
            "/v1/tasks/{task_id}/messages",
            Agent,
            Some(Read),
            ops::LIST_MESSAGES.summary,
            social::messages,
        )
        .ok(),
        route(
            M::POST,
            "/v1/tasks/{task_id}/messages",
            Agent,
            Some(Write),
            ops::SEND_MESSAGE.summary,
            social::send_message,
        )
        .created(),
        route(
            M::GET,
            "/v1/agents",
            Public,
            Some(Read),
            ops::SEARCH_AGENTS.summary,
            agents::directory,
        )
        .ok(),
        route(
            M::GET,
            "/v1/agents/{agent_id}",
            Public,
            Some(Read),
            ops::AGENT_PROFILE.summary,
            agents::profile,
        )
        .ok(),
        route(
            M::POST,
            "/v1/admin/credits/grant",
            Admin,
            Some(Bucket::Admin),
            ops::ADMIN_GRANT.summary,
            admin::grant,
        )
        .ok(),
        route(
            M::POST,
            "/v1/admin/agents/suspend",
            Admin,
            Some(Bucket::Admin),
            ops::ADMIN_SUSPEND.summary,
            admin::suspend,
        )
        .ok(),
    ]
    .into_iter()
    .map(Route::published)
    .collect()
}

pub fn router(state: AppState) -> Router {
    let mut buckets = std::collections::HashMap::new();
    let mut router = Router::new();
    for r in routes() {
        if let Some(bucket) = r.bucket {
            buckets.insert(
                (r.method.clone(), r.path),
                (bucket, r.access == Access::Public),
            );
        }
        let handler = match r.access {
            Access::Public => r.handler,
            access => r.handler.route_layer(middleware::from_fn_with_state(
                Guard {
                    state: state.clone(),
                    access,
                    refusal: r.refusal,
                },
                guard,
            )),
        };
        router = router.route(r.path, handler);
    }
    let buckets: BucketTable = Arc::new(buckets);
    // The web pages for people beside the API (their own headers, sessions and forms).
    let shared = Arc::new(crate::web::WebShared::default());
    let router = router
        .merge(crate::web::router())
        .route_layer(middleware::from_fn_with_state(
            (state.clone(), buckets),
            rate_limit::enforce,
        ))
        .fallback(|| async { Error::not_found("Not found") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(middleware::from_fn(negotiate::render))
        .layer(axum::Extension(shared))
        .with_state(state);
    trace::traced(router)
}

/// What `guard` checks a route's callers against.
#[derive(Clone)]
struct Guard {
    state: AppState,
    access: Access,
    refusal: Refusal,
}

/// Lets through only the callers the route's access level admits (401 without a valid key,
/// 403 for a suspended agent or a wrong admin key), and leaves who they are in the request's
/// extensions for the handler's `Auth` or `Admin`.
async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let verified = match g.access {
        Access::Public => return next.run(Request::from_parts(parts, body)).await,
        Access::Agent => auth::caller(&g.state, &parts)
            .await
            .map(|caller| Verified::Agent(caller.id)),
        Access::Admin => admin::Admin::from_request_parts(&mut parts, &g.state)
            .await
            .map(|_| Verified::Admin),
    };
    match verified {
        Ok(who) => {
            parts.extensions.insert(who);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => (g.refusal)(e),
    }
}

async fn health() -> Reply<Health> {
    Reply::ok(&Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
    .json_only()
}

/// Validates the `limit` (1-`MAX_PAGE_LIMIT`) and `offset` (>= 0) query parameters: 422 when
/// out of range. A `cursor` (an empty one is none) is at most `MAX_CURSOR` characters and
/// comes without `offset` (400); the list's query reads it (400 when it is not its own).
pub fn page(asked: pinchwork_api::query::Page, default_limit: i64) -> Result<Page> {
    use pinchwork_client::limits::{MAX_CURSOR, MAX_PAGE_LIMIT};
    let limit = asked.limit.unwrap_or(default_limit);
    let offset = asked.offset.unwrap_or(0);
    let cursor = asked.cursor.filter(|c| !c.is_empty());
    if let Some(cursor) = &cursor {
        if cursor.chars().count() > MAX_CURSOR {
            return Err(Error::BadRequest(format!(
                "Invalid cursor: longer than {MAX_CURSOR} characters"
            )));
        }
        if asked.offset.is_some() {
            return Err(Error::BadRequest(
                "Invalid cursor: give cursor or offset, not both".into(),
            ));
        }
    }
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(Error::Unprocessable(format!(
            "limit must be between 1 and {MAX_PAGE_LIMIT}"
        )));
    }
    if offset < 0 {
        return Err(Error::Unprocessable("offset must be 0 or more".into()));
    }
    Ok(Page {
        limit,
        offset,
        cursor,
    })
}
