//! One server and an agent on each surface: a poster on plain HTTP (following its events on SSE
//! and by webhook), a poster on MCP over stdio (the `pinchwork-mcp` binary), a worker on MCP
//! over HTTP (`/mcp`), a worker on the `pinchwork` CLI, and an infra agent on MCP. Two tasks go
//! all the way, delegate → match → pickup → deliver → verify → approve, and the books balance
//! at the end.

use pinchwork_test_kit::bins::workspace_bin;
use pinchwork_test_kit::cli::{Machine, Run};
use pinchwork_test_kit::hooks::Receiver;
use pinchwork_test_kit::mcp::{self, ok};
use pinchwork_test_kit::{TestServer, next, open};
use pinchwork_tests::{SystemWorkDone, do_system_work};
use serde_json::{Value, json};

/// An agent on plain HTTP.
struct HttpAgent {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl HttpAgent {
    async fn register(base: &str, body: Value) -> (String, Self) {
        let http = reqwest::Client::new();
        let me: Value = send(http.post(format!("{base}/v1/register")).json(&body), 201).await;
        let agent = Self {
            http,
            base: base.to_string(),
            key: me["api_key"].as_str().unwrap().to_string(),
        };
        (me["agent_id"].as_str().unwrap().to_string(), agent)
    }

    async fn get(&self, path: &str) -> Value {
        let req = self.http.get(format!("{}{path}", self.base));
        send(req.bearer_auth(&self.key), 200).await
    }

    async fn post(&self, path: &str, body: Value, status: u16) -> Value {
        let req = self.http.post(format!("{}{path}", self.base)).json(&body);
        send(req.bearer_auth(&self.key), status).await
    }
}

/// Sends `req` as JSON and answers the body, checking the status.
async fn send(req: reqwest::RequestBuilder, status: u16) -> Value {
    let res = req
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Runs the CLI without holding up the runtime the other agents live on.
fn cli(machine: &Machine, args: &[&str]) -> Run {
    tokio::task::block_in_place(|| machine.run(args)).ok()
}

fn kinds_for(done: &[SystemWorkDone], subject: &str) -> Vec<String> {
    done.iter()
        .filter(|d| d.subject == subject)
        .map(|d| d.kind.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_goes_round_every_surface_and_the_books_balance() {
    let server = TestServer::start_with(|cfg| cfg.webhook_allow_insecure = true);
    let url = server.url.clone();
    let hooks = Receiver::start(200).await;

    // The infra agent, on MCP (the pinchwork-mcp service in process).
    let (infra, infra_me) = mcp::registered_agent(&url, "infra").await;
    ok(
        &infra,
        "update_profile",
        json!({"accepts_system_tasks": true}),
    )
    .await;
    let infra_id = infra_me["agent_id"].as_str().unwrap().to_string();

    // A poster on HTTP with a webhook, following its events on SSE.
    let (poster_id, poster) = HttpAgent::register(
        &url,
        json!({"name": "http-poster", "webhook_url": hooks.url}),
    )
    .await;
    let mut events = open(&url, &poster.key, None).await;

    // A worker on the CLI, good at something: the infra agent extracts its capabilities.
    let machine = Machine::new(workspace_bin("pinchwork"), &url);
    let registered = cli(
        &machine,
        &[
            "--profile",
            "cli-worker",
            "register",
            "--name",
            "cli-worker",
            "--good-at",
            "haiku poems",
            "--json",
        ],
    );
    let cli_worker = registered.json()["agent_id"].as_str().unwrap().to_string();
    // A worker on MCP over HTTP: registered over HTTP, then acting through /mcp with its key.
    let (http_worker_id, http_worker) = HttpAgent::register(
        &url,
        json!({"name": "mcp-http-worker", "good_at": "limerick poems"}),
    )
    .await;
    let mcp_worker = mcp::connect_http(&url, &http_worker.key).await;
    let done = do_system_work(&infra, &cli_worker).await;
    assert_eq!(kinds_for(&done, &cli_worker), ["extract_capabilities"]);
    assert_eq!(kinds_for(&done, &http_worker_id), ["extract_capabilities"]);

    // Task 1: the HTTP poster delegates; the infra agent matches the CLI worker.
    let task1 = poster
        .post(
            "/v1/tasks",
            json!({"need": "Write a haiku about tides", "max_credits": 12}),
            201,
        )
        .await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = do_system_work(&infra, &cli_worker).await;
    assert_eq!(kinds_for(&done, &task1), ["match_agents"]);
    let offered = cli(
        &machine,
        &["--profile", "cli-worker", "tasks", "list", "--json"],
    )
    .json();
    assert_eq!(offered["tasks"][0]["task_id"], task1.as_str(), "{offered}");
    assert_eq!(offered["tasks"][0]["is_matched"], true, "{offered}");
    let unmatched = ok(&mcp_worker, "browse", json!({})).await;
    assert_eq!(unmatched["total"], 0, "matched to another: {unmatched}");

    // The CLI worker picks it up and delivers; the infra agent verifies.
    let picked = cli(
        &machine,
        &["--profile", "cli-worker", "tasks", "pickup", "--json"],
    )
    .json();
    assert_eq!(picked["task_id"], task1.as_str());
    cli(
        &machine,
        &[
            "--profile",
            "cli-worker",
            "tasks",
            "deliver",
            &task1,
            "Tide pulls the shore / ...",
            "--json",
        ],
    );
    let done = do_system_work(&infra, &cli_worker).await;
    assert_eq!(kinds_for(&done, &task1), ["verify_completion"]);
    let seen = poster.get(&format!("/v1/tasks/{task1}")).await;
    assert_eq!(seen["status"], "delivered");
    assert_eq!(seen["verification"]["status"], "passed", "{seen}");
    assert_eq!(seen["worker_id"], cli_worker.as_str());
    assert_eq!(seen["poster_id"], poster_id.as_str());
    poster
        .post(&format!("/v1/tasks/{task1}/approve"), json!({}), 200)
        .await;

    // The poster saw its task claimed and delivered, on SSE and by webhook.
    for kind in ["task_claimed", "task_delivered"] {
        let event = next(&mut events).await;
        assert_eq!(event.event, kind);
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["task_id"], task1.as_str());
    }
    let hits = hooks.wait_for(2).await;
    let hooked: Vec<(Value, Value)> = hits
        .iter()
        .map(|h| (h.json()["event"].clone(), h.json()["task_id"].clone()))
        .collect();
    assert_eq!(
        hooked,
        [
            (json!("task_claimed"), json!(task1)),
            (json!("task_delivered"), json!(task1)),
        ]
    );

    // Task 2: a poster on MCP over stdio (the binary) delegates; the MCP-over-HTTP worker is
    // matched, picks it up and delivers; the infra agent verifies; the poster approves.
    let config = tempfile::tempdir().unwrap();
    let stdio_poster = mcp::connect_stdio(
        &workspace_bin("pinchwork-mcp"),
        &url,
        config.path(),
        "stdio",
    )
    .await;
    let stdio_me = ok(&stdio_poster, "register", json!({"name": "stdio-poster"})).await;
    let stdio_id = stdio_me["agent_id"].as_str().unwrap().to_string();
    let task2 = ok(
        &stdio_poster,
        "delegate",
        json!({"need": "Write a limerick about crabs", "max_credits": 9}),
    )
    .await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = do_system_work(&infra, &http_worker_id).await;
    assert_eq!(kinds_for(&done, &task2), ["match_agents"]);
    let claimed = ok(&mcp_worker, "pickup", json!({})).await;
    assert_eq!(claimed["task"]["task_id"], task2.as_str(), "{claimed}");
    ok(
        &mcp_worker,
        "deliver",
        json!({"task_id": task2, "result": "A crab with a claw made of brass..."}),
    )
    .await;
    let done = do_system_work(&infra, &http_worker_id).await;
    assert_eq!(kinds_for(&done, &task2), ["verify_completion"]);
    let seen = ok(&stdio_poster, "get_task", json!({"task_id": task2})).await;
    assert_eq!(seen["verification"]["status"], "passed", "{seen}");
    let approved = ok(&stdio_poster, "approve", json!({"task_id": task2})).await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["poster_id"], stdio_id.as_str());
    assert_eq!(approved["worker_id"], http_worker_id.as_str());

    // Everyone paid and was paid as the API reference says: the worker gets the price less
    // the fee (rounded down) and pays for its capability extraction; the poster pays the price,
    // the match and the verification; the infra agent is paid for each piece of system work.
    let cfg = &server.cfg;
    let fee = |credits: i64| credits * cfg.fee_basis_points() / 10_000;
    let (initial, extract) = (cfg.initial_credits, cfg.capability_extract_credits);
    let served = cfg.match_credits + cfg.verify_credits;
    let balance = |me: Value| me["credits"].as_i64().unwrap_or_else(|| panic!("{me}"));
    assert_eq!(
        cli(&machine, &["--profile", "cli-worker", "credits", "--json"]).json()["balance"],
        initial - extract + 12 - fee(12)
    );
    assert_eq!(
        balance(ok(&mcp_worker, "me", json!({})).await),
        initial - extract + 9 - fee(9)
    );
    assert_eq!(balance(poster.get("/v1/me").await), initial - 12 - served);
    assert_eq!(
        balance(ok(&stdio_poster, "me", json!({})).await),
        initial - 9 - served
    );
    assert_eq!(
        balance(ok(&infra, "me", json!({})).await),
        initial + 2 * extract + 2 * served,
        "the infra agent {infra_id} is paid for its system work"
    );
    server.assert_books_balance().await;
}
