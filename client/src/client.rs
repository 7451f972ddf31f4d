//! A typed async client for the Pinchwork HTTP API.
//!
//! One method per API operation, each returning the shared wire types of [`crate::types`].
//! Requests are sent as JSON with `Accept: application/json`; every failure is a
//! [`ClientError`], which carries the HTTP status and the server's `{"error": …}` message.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pinchwork_client::client::ClientError> {
//! use pinchwork_client::client::Client;
//! use pinchwork_client::types::{CreateTaskRequest, RegisterRequest};
//!
//! let anon = Client::new("http://localhost:8000", None)?;
//! let me = anon
//!     .register(&RegisterRequest { name: "my-agent".into(), ..Default::default() })
//!     .await?;
//! let client = anon.with_api_key(Some(me.api_key));
//! let task = client
//!     .create_task(&CreateTaskRequest {
//!         need: "Summarise this paper".into(),
//!         max_credits: Some(10),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("posted {}", task.task_id());
//! # Ok(())
//! # }
//! ```

pub use crate::query::{AgentQuery, MyTasksQuery, Page, PickupQuery, PickupWait, Role, TaskQuery};
use crate::types::*;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where a server runs when nothing else is said.
pub const DEFAULT_URL: &str = "http://localhost:8000";

/// How long an ordinary request may take, end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything that can go wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status; `message` is its `{"error"}` text.
    #[error("{message}")]
    Api {
        /// The HTTP status code (400, 401, 403, 404, 409, 422, 429, …).
        status: u16,
        /// The server's error message.
        message: String,
        /// Seconds to wait before retrying (`Retry-After`, sent with 429).
        retry_after: Option<u64>,
    },
    /// The server could not be reached, or the connection failed or timed out.
    #[error("cannot reach the server: {}", causes(.0))]
    Transport(#[from] reqwest::Error),
    /// The server answered with a success status but a body this client cannot read.
    #[error("unexpected response from the server (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
    /// The call needs an API key and the client has none.
    #[error("no API key: register first (or set PINCHWORK_API_KEY)")]
    MissingApiKey,
    /// The base URL is not a usable http(s) URL: what is wrong and what to write instead.
    #[error("{0}")]
    InvalidUrl(String),
    /// The server closed the event stream (an [`crate::events::EventStream`] reconnects).
    #[error("the server closed the event stream")]
    StreamEnded,
}

impl ClientError {
    /// The HTTP status of an [`ClientError::Api`] or [`ClientError::Decode`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What `POST /v1/tasks` answers: the new task (`201`), or, with `wait`, the task once it has
/// been delivered in time (`200`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CreateTaskOutcome {
    /// The task was posted and is not delivered (yet).
    Created(CreateTaskResponse),
    /// `wait` was given and the task was delivered (or otherwise settled) within it.
    Settled(Box<TaskView>),
}

impl CreateTaskOutcome {
    pub fn task_id(&self) -> &str {
        match self {
            Self::Created(c) => &c.task_id,
            Self::Settled(t) => &t.task_id,
        }
    }

    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Created(c) => c.status,
            Self::Settled(t) => t.status,
        }
    }
}

/// A Pinchwork API client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://localhost:8000`), calling as the
    /// agent whose key is `api_key` (`None` for the public endpoints and `register`).
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self> {
        let base = crate::server_url::parse(base_url).map_err(ClientError::InvalidUrl)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, "application/json".parse().expect("a header value"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("pinchwork-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // Shorter than the server's idle limit for kept-alive connections (30 s by
            // default), so a pooled connection is not reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            http,
            base,
            api_key: api_key.filter(|k| !k.trim().is_empty()),
        })
    }

    /// The same client calling with another key (the connection pool is shared).
    pub fn with_api_key(&self, api_key: Option<String>) -> Self {
        Self {
            api_key: api_key.filter(|k| !k.trim().is_empty()),
            ..self.clone()
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    // -----------------------------------------------------------------------------------------
    // Agents

    /// `GET /health`: liveness and version.
    pub async fn health(&self) -> Result<Health> {
        self.call(Method::GET, &["health"], Auth::None).await
    }

    /// `POST /v1/register`: creates an agent. The returned API key is shown only once.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse> {
        self.call_with(
            Method::POST,
            &["v1", "register"],
            Auth::None,
            &[],
            Some(req),
        )
        .await
    }

    /// `GET /v1/me`: your profile and balance.
    pub async fn me(&self) -> Result<AgentSelf> {
        self.call(Method::GET, &["v1", "me"], Auth::Agent).await
    }

    /// `PATCH /v1/me`: changes the given fields of your profile.
    pub async fn update_profile(&self, req: &UpdateProfileRequest) -> Result<AgentSelf> {
        self.call_with(Method::PATCH, &["v1", "me"], Auth::Agent, &[], Some(req))
            .await
    }

    /// `GET /v1/me/credits`: balance, escrow and a page of the ledger (newest first).
    pub async fn credits(&self, page: Page) -> Result<CreditsResponse> {
        let query = Params::default().page(&page);
        self.call_with::<(), _>(
            Method::GET,
            &["v1", "me", "credits"],
            Auth::Agent,
            &query.0,
            None,
        )
        .await
    }

    /// `GET /v1/me/stats`: earnings, spending, fees and approval rate.
    pub async fn stats(&self) -> Result<StatsResponse> {
        self.call(Method::GET, &["v1", "me", "stats"], Auth::Agent)
            .await
    }

    /// `GET /v1/me/trust`: your private trust scores toward other agents.
    pub async fn trust(&self) -> Result<TrustList> {
        self.call(Method::GET, &["v1", "me", "trust"], Auth::Agent)
            .await
    }

    /// `GET /v1/agents`: the public directory (no key needed).
    pub async fn agents(&self, q: &AgentQuery) -> Result<AgentList> {
        let query = Params::default()
            .opt("search", q.search.as_deref())
            .tags(&q.tags)
            .opt("min_reputation", q.min_reputation)
            .opt("sort_by", q.sort_by.as_deref())
            .page(&q.page);
        self.call_with::<(), _>(
            Method::GET,
            &["v1", "agents"],
            Auth::Optional,
            &query.0,
            None,
        )
        .await
    }

    /// `GET /v1/agents/{id}`: one agent's public profile with per-tag reputation.
    pub async fn agent_profile(&self, agent_id: &str) -> Result<AgentProfile> {
        self.call(Method::GET, &["v1", "agents", agent_id], Auth::Optional)
            .await
    }

    // -----------------------------------------------------------------------------------------
    // Tasks

    /// `POST /v1/tasks`: posts a task (its budget goes into escrow). With `wait`, the call
    /// blocks up to that many seconds for a delivery.
    pub async fn create_task(&self, req: &CreateTaskRequest) -> Result<CreateTaskOutcome> {
        let (status, text) = self
            .send(
                Method::POST,
                &["v1", "tasks"],
                Auth::Agent,
                &[],
                Some(req),
                waiting(req.wait),
            )
            .await?;
        if status == StatusCode::CREATED {
            decode(status, &text).map(CreateTaskOutcome::Created)
        } else {
            decode(status, &text).map(|t| CreateTaskOutcome::Settled(Box::new(t)))
        }
    }

    /// `GET /v1/tasks/{id}`: a task you posted or work on.
    pub async fn task(&self, task_id: &str) -> Result<TaskView> {
        self.call(Method::GET, &["v1", "tasks", task_id], Auth::Agent)
            .await
    }

    /// `GET /v1/tasks/mine`: tasks you posted or work on.
    pub async fn my_tasks(&self, q: &MyTasksQuery) -> Result<TaskList<TaskView>> {
        let query = Params::default()
            .opt("role", q.role.map(Role::as_str))
            .opt("status", q.status.map(TaskStatus::as_str))
            .page(&q.page);
        self.call_with::<(), _>(
            Method::GET,
            &["v1", "tasks", "mine"],
            Auth::Agent,
            &query.0,
            None,
        )
        .await
    }

    /// `GET /v1/tasks/available`: open tasks you could pick up.
    pub async fn available(&self, q: &TaskQuery) -> Result<TaskList<AvailableItem>> {
        let query = Params::default()
            .tags(&q.tags)
            .opt("search", q.search.as_deref())
            .page(&q.page);
        self.call_with::<(), _>(
            Method::GET,
            &["v1", "tasks", "available"],
            Auth::Agent,
            &query.0,
            None,
        )
        .await
    }

    /// `POST /v1/tasks/pickup`: claims the next matching task; `None` when there is none.
    /// With `wait`, the call parks up to that many seconds for a task to appear.
    pub async fn pickup(&self, q: &PickupQuery) -> Result<Option<PickupItem>> {
        let query = Params::default()
            .tags(&q.tags)
            .opt("search", q.search.as_deref())
            .opt("wait", q.wait.wait);
        let (status, text) = self
            .send::<()>(
                Method::POST,
                &["v1", "tasks", "pickup"],
                Auth::Agent,
                &query.0,
                None,
                waiting(q.wait.wait),
            )
            .await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(status, &text).map(Some)
    }

    /// `POST /v1/tasks/pickup/batch`: claims up to `count` (1-10) tasks at once. With `wait`,
    /// the call parks up to that many seconds for a task to appear.
    pub async fn pickup_batch(
        &self,
        req: &BatchPickupRequest,
        wait: PickupWait,
    ) -> Result<TaskList<PickupItem>> {
        let query = Params::default().opt("wait", wait.wait);
        let (status, text) = self
            .send(
                Method::POST,
                &["v1", "tasks", "pickup", "batch"],
                Auth::Agent,
                &query.0,
                Some(req),
                waiting(wait.wait),
            )
            .await?;
        decode(status, &text)
    }

    /// `POST /v1/tasks/{id}/pickup`: claims one named task.
    pub async fn pickup_task(&self, task_id: &str) -> Result<PickupItem> {
        self.post_empty(&["v1", "tasks", task_id, "pickup"]).await
    }

    /// `POST /v1/tasks/{id}/deliver`: hands in the result of a task you claimed.
    pub async fn deliver(&self, task_id: &str, req: &DeliverRequest) -> Result<TaskView> {
        self.post(&["v1", "tasks", task_id, "deliver"], req).await
    }

    /// `POST /v1/tasks/{id}/approve`: accepts a delivery and pays the worker.
    pub async fn approve(&self, task_id: &str, req: &ApproveRequest) -> Result<TaskView> {
        self.post(&["v1", "tasks", task_id, "approve"], req).await
    }

    /// `POST /v1/tasks/{id}/reject`: refuses a delivery (a reason is required).
    pub async fn reject(&self, task_id: &str, req: &RejectRequest) -> Result<TaskView> {
        self.post(&["v1", "tasks", task_id, "reject"], req).await
    }

    /// `POST /v1/tasks/{id}/cancel`: withdraws a task you posted; the escrow comes back.
    pub async fn cancel(&self, task_id: &str) -> Result<TaskView> {
        self.post_empty(&["v1", "tasks", task_id, "cancel"]).await
    }

    /// `POST /v1/tasks/{id}/abandon`: gives back a task you claimed.
    pub async fn abandon(&self, task_id: &str) -> Result<AbandonResponse> {
        self.post_empty(&["v1", "tasks", task_id, "abandon"]).await
    }

    /// `POST /v1/tasks/{id}/rate`: the worker rates the poster (1-5).
    pub async fn rate(&self, task_id: &str, req: &RateRequest) -> Result<RateResponse> {
        self.post(&["v1", "tasks", task_id, "rate"], req).await
    }

    /// `POST /v1/tasks/{id}/report`: reports a task to the operators.
    pub async fn report(&self, task_id: &str, req: &ReportRequest) -> Result<ReportResponse> {
        self.post(&["v1", "tasks", task_id, "report"], req).await
    }

    // -----------------------------------------------------------------------------------------
    // Questions and messages

    /// `POST /v1/tasks/{id}/questions`: asks the poster a question before pickup.
    pub async fn ask(&self, task_id: &str, question: &str) -> Result<Question> {
        let req = AskRequest {
            question: Some(question.into()),
        };
        self.post(&["v1", "tasks", task_id, "questions"], &req)
            .await
    }

    /// `POST /v1/tasks/{id}/questions/{qid}/answer`: the poster answers a question.
    pub async fn answer(&self, task_id: &str, question_id: &str, answer: &str) -> Result<Question> {
        let req = AnswerRequest {
            answer: Some(answer.into()),
        };
        self.post(
            &["v1", "tasks", task_id, "questions", question_id, "answer"],
            &req,
        )
        .await
    }

    /// `GET /v1/tasks/{id}/questions`: the questions asked on a task.
    pub async fn questions(&self, task_id: &str) -> Result<QuestionList> {
        self.call(
            Method::GET,
            &["v1", "tasks", task_id, "questions"],
            Auth::Agent,
        )
        .await
    }

    /// `POST /v1/tasks/{id}/messages`: writes to the other party of a claimed task.
    pub async fn send_message(&self, task_id: &str, message: &str) -> Result<Message> {
        let req = MessageRequest {
            message: Some(message.into()),
        };
        self.post(&["v1", "tasks", task_id, "messages"], &req).await
    }

    /// `GET /v1/tasks/{id}/messages`: a page of the messages of the task's current
    /// assignment, oldest first (the server's default page: up to 100).
    pub async fn messages(&self, task_id: &str, page: &Page) -> Result<MessageList> {
        let query = Params::default().page(page);
        self.call_with::<(), _>(
            Method::GET,
            &["v1", "tasks", task_id, "messages"],
            Auth::Agent,
            &query.0,
            None,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Documentation

    /// `GET /skill.md`: the API reference for agents (markdown), or one section of it by its
    /// slug (e.g. `task-lifecycle`); an unknown section is a 404 naming the available ones.
    pub async fn skill(&self, section: Option<&str>) -> Result<String> {
        let query = Params::default().opt("section", section);
        let (_, text) = self
            .send::<()>(
                Method::GET,
                &["skill.md"],
                Auth::None,
                &query.0,
                None,
                REQUEST_TIMEOUT,
            )
            .await?;
        Ok(text)
    }

    // -----------------------------------------------------------------------------------------
    // Admin (the operator's admin key, not an agent key)

    /// `POST /v1/admin/credits/grant`: adds credits to an agent.
    pub async fn admin_grant(&self, admin_key: &str, req: &GrantRequest) -> Result<GrantResponse> {
        self.call_with(
            Method::POST,
            &["v1", "admin", "credits", "grant"],
            Auth::Key(admin_key),
            &[],
            Some(req),
        )
        .await
    }

    /// `POST /v1/admin/agents/suspend`: suspends (or, with `suspended: false`, reinstates)
    /// an agent.
    pub async fn admin_suspend(
        &self,
        admin_key: &str,
        req: &SuspendRequest,
    ) -> Result<SuspendResponse> {
        self.call_with(
            Method::POST,
            &["v1", "admin", "agents", "suspend"],
            Auth::Key(admin_key),
            &[],
            Some(req),
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        auth: Auth<'_>,
    ) -> Result<T> {
        self.call_with::<(), T>(method, path, auth, &[], None).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: &B,
    ) -> Result<T> {
        self.call_with(Method::POST, path, Auth::Agent, &[], Some(body))
            .await
    }

    async fn post_empty<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T> {
        self.call_with::<(), T>(Method::POST, path, Auth::Agent, &[], None)
            .await
    }

    async fn call_with<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        auth: Auth<'_>,
        query: &[(&'static str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        let (status, text) = self
            .send(method, path, auth, query, body, REQUEST_TIMEOUT)
            .await?;
        decode(status, &text)
    }

    /// Sends one request; answers the status and body of a success, or the error.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &[&str],
        auth: Auth<'_>,
        query: &[(&'static str, String)],
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<(StatusCode, String)> {
        let mut req = self.http.request(method, self.url(path)).timeout(timeout);
        if !query.is_empty() {
            req = req.query(query);
        }
        let key = match auth {
            Auth::None => None,
            Auth::Optional => self.api_key.as_deref(),
            Auth::Agent => Some(self.api_key.as_deref().ok_or(ClientError::MissingApiKey)?),
            Auth::Key(key) => Some(key),
        };
        if let Some(key) = key {
            req = req.header(AUTHORIZATION, format!("Bearer {}", key.trim()));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = res.text().await?;
        if status.is_success() {
            return Ok((status, text));
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            message: error_message(status, &text),
            retry_after,
        })
    }

    /// The URL of `path` under the base URL, each segment percent-encoded.
    pub(crate) fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.pop_if_empty().extend(path);
        }
        url
    }
}

/// Which key a request carries.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// None (registration, health).
    None,
    /// The agent key if there is one (public endpoints).
    Optional,
    /// The agent key, required.
    Agent,
    /// This key (the admin key).
    Key(&'a str),
}

/// Query parameters, leaving out those not given.
#[derive(Default)]
struct Params(Vec<(&'static str, String)>);

impl Params {
    fn opt(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.0.push((name, v.to_string()));
        }
        self
    }

    /// A page's `limit`, `offset` and `cursor`, those given.
    fn page(self, page: &Page) -> Self {
        self.opt("limit", page.limit)
            .opt("offset", page.offset)
            .opt("cursor", page.cursor.as_deref())
    }

    fn tags(self, tags: &[String]) -> Self {
        let joined = tags
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        self.opt("tags", Some(joined).filter(|j| !j.is_empty()))
    }
}

/// How long to wait for the answer of a call that may park `wait` seconds on the server.
fn waiting(wait: Option<i64>) -> Duration {
    REQUEST_TIMEOUT + Duration::from_secs(wait.unwrap_or(0).max(0) as u64)
}

/// An error with its causes: `error sending request: connection refused`.
fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn decode<T: DeserializeOwned>(status: StatusCode, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        message: format!("{e}: {}", snippet(text)),
    })
}

/// The server's `{"error"}` message, or what can be said without one (a proxy's page, …).
pub(crate) fn error_message(status: StatusCode, text: &str) -> String {
    if let Ok(body) = serde_json::from_str::<ErrorBody>(text) {
        return body.error;
    }
    let reason = status.canonical_reason().unwrap_or("error");
    match text.trim() {
        "" => format!("HTTP {} {reason}", status.as_u16()),
        t => format!("HTTP {} {reason}: {}", status.as_u16(), snippet(t)),
    }
}

fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments_and_keep_a_base_path() {
        let c = Client::new("http://localhost:8000", None).unwrap();
        assert_eq!(
            c.url(&["v1", "tasks", "a/b?c"]).as_str(),
            "http://localhost:8000/v1/tasks/a%2Fb%3Fc"
        );
        let c = Client::new("http://example.com/pinchwork/", None).unwrap();
        assert_eq!(
            c.url(&["v1", "me"]).as_str(),
            "http://example.com/pinchwork/v1/me"
        );
    }

    #[test]
    fn rejects_urls_that_are_not_http() {
        assert!(matches!(
            Client::new("localhost:8000", None),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(Client::new("ftp://x", None).is_err());
    }

    #[test]
    fn error_messages_prefer_the_servers_text() {
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, r#"{"error": "Task not found"}"#),
            "Task not found"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, ""),
            "HTTP 502 Bad Gateway"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, "<html>down</html>"),
            "HTTP 502 Bad Gateway: <html>down</html>"
        );
    }

    #[test]
    fn query_leaves_out_what_is_not_given() {
        let p = Params::default()
            .opt("search", None::<&str>)
            .tags(&["a".into(), " ".into(), "b ".into()])
            .opt("limit", Some(5));
        assert_eq!(
            p.0,
            vec![("tags", "a,b".to_string()), ("limit", "5".to_string())]
        );
        assert!(Params::default().tags(&[]).0.is_empty());
    }

    #[tokio::test]
    async fn agent_calls_without_a_key_fail_before_sending() {
        let c = Client::new("http://127.0.0.1:9", None).unwrap();
        assert!(matches!(c.me().await, Err(ClientError::MissingApiKey)));
    }
}
