//! The MCP tools against a real Pinchwork server: agents over in-process MCP sessions.

use pinchwork_mcp::Settings;
use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const TOOLS: [&str; 31] = [
    "register",
    "me",
    "update_profile",
    "credits",
    "stats",
    "trust",
    "delegate",
    "get_task",
    "my_tasks",
    "approve",
    "reject",
    "cancel",
    "answer_question",
    "send_message",
    "list_messages",
    "browse",
    "pickup",
    "pickup_batch",
    "pickup_task",
    "deliver",
    "abandon",
    "ask_question",
    "list_questions",
    "rate_poster",
    "report",
    "search_agents",
    "submit_match",
    "submit_verification",
    "submit_capabilities",
    "next_system_task",
    "wait_for_events",
];

const READ_ONLY: [&str; 12] = [
    "me",
    "credits",
    "stats",
    "trust",
    "get_task",
    "my_tasks",
    "list_messages",
    "browse",
    "list_questions",
    "search_agents",
    "agent_profile",
    "wait_for_events",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_delegate_pick_up_deliver_approve_and_credits_move() {
    let server = TestServer::start();
    let initial = server.cfg.initial_credits;

    // Alice registers through the tool; her key lands in the CLI's credentials file.
    let config = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(&server.url, None);
    settings.profile = "alice".into();
    settings.config_dir = Some(config.path().to_path_buf());
    let alice = connect(settings).await;
    let reg = ok(
        &alice,
        "register",
        json!({"name": "alice", "good_at": "reviews"}),
    )
    .await;
    let alice_id = reg["agent_id"].as_str().unwrap().to_string();
    assert_eq!(reg["credits"], initial);
    assert!(
        !reg["api_key"].as_str().unwrap().starts_with("pwk"),
        "a saved key is not shown to the model: {reg}"
    );
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(config.path().join("credentials.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["current"], "alice");
    assert_eq!(saved["profiles"]["alice"]["agent_id"], alice_id.as_str());
    assert_eq!(saved["profiles"]["alice"]["url"], server.url.as_str());
    let key = saved["profiles"]["alice"]["api_key"].as_str().unwrap();
    assert!(!key.is_empty());
    // Registering again is refused rather than creating a second agent.
    let again = call(&alice, "register", json!({"name": "alice2"})).await;
    assert_eq!(again.is_error, Some(true));
    assert!(
        text(&again).contains("Already registered"),
        "{}",
        text(&again)
    );

    let (bob, bob_reg) = registered_agent(&server.url, "bob").await;
    let bob_id = bob_reg["agent_id"].as_str().unwrap().to_string();

    // Alice delegates; the budget goes into escrow.
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Review this function", "max_credits": 10, "tags": ["review"]}),
    )
    .await;
    assert_eq!(task["status"], "posted");
    assert_eq!(task["max_credits"], 10);
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let credits = ok(&alice, "credits", json!({})).await;
    assert_eq!(credits["balance"], initial - 10);
    assert_eq!(credits["escrowed"], 10);

    // Bob finds it and claims it.
    let open = ok(&bob, "browse", json!({"tags": ["review"]})).await;
    assert_eq!(open["tasks"][0]["task_id"], task_id.as_str());
    let picked = ok(&bob, "pickup", json!({})).await;
    assert_eq!(picked["task"]["task_id"], task_id.as_str());
    let none = ok(&bob, "pickup", json!({})).await;
    assert_eq!(none["task"], Value::Null);

    // They talk, then Bob delivers without naming a price: max_credits is charged.
    ok(
        &alice,
        "send_message",
        json!({"task_id": task_id, "message": "focus on error handling"}),
    )
    .await;
    let thread = ok(&bob, "list_messages", json!({"task_id": task_id})).await;
    assert_eq!(thread["messages"][0]["sender_id"], alice_id.as_str());
    let delivered = ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "Looks good; handle the None case."}),
    )
    .await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["credits_charged"], 10);

    // Alice sees the delivery and approves it.
    let waiting = ok(
        &alice,
        "my_tasks",
        json!({"role": "poster", "status": "delivered"}),
    )
    .await;
    assert_eq!(waiting["total"], 1);
    let approved = ok(
        &alice,
        "approve",
        json!({"task_id": task_id, "rating": 5, "feedback": "thanks"}),
    )
    .await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["worker_id"], bob_id.as_str());

    let fee = (10.0 * server.cfg.platform_fee_percent / 100.0).floor() as i64;
    let alice_me = ok(&alice, "me", json!({})).await;
    assert_eq!(alice_me["credits"], initial - 10);
    let bob_me = ok(&bob, "me", json!({})).await;
    assert_eq!(bob_me["credits"], initial + 10 - fee);
    assert_eq!(bob_me["tasks_completed"], 1);
    let stats = ok(&bob, "stats", json!({})).await;
    assert_eq!(stats["total_earned"], 10 - fee);

    // The worker rates the poster; the directory shows the worker.
    ok(
        &bob,
        "rate_poster",
        json!({"task_id": task_id, "rating": 4}),
    )
    .await;
    let profile = ok(&alice, "agent_profile", json!({"agent_id": bob_id})).await;
    assert_eq!(profile["id"], bob_id.as_str());
    assert_eq!(profile["tasks_completed"], 1);
    let found = ok(&bob, "search_agents", json!({"search": "REVIEW"})).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["agents"][0]["id"], alice_id.as_str());

    // The key saved by `register` works for a later session (as the CLI would use it).
    let later = connect(Settings::new(&server.url, Some(key.to_string()))).await;
    let me = ok(&later, "me", json!({})).await;
    assert_eq!(me["id"], alice_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_rejection_cancel_and_abandon() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;

    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Translate", "max_credits": 5}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let q = ok(
        &bob,
        "ask_question",
        json!({"task_id": task_id, "question": "Which language?"}),
    )
    .await;
    let qid = q["id"].as_str().unwrap().to_string();
    ok(
        &alice,
        "answer_question",
        json!({"task_id": task_id, "question_id": qid, "answer": "French"}),
    )
    .await;
    let qs = ok(&bob, "list_questions", json!({"task_id": task_id})).await;
    assert_eq!(qs["questions"][0]["answer"], "French");

    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "Bonjour", "credits_claimed": 3}),
    )
    .await;
    let rejected = ok(
        &alice,
        "reject",
        json!({"task_id": task_id, "reason": "Incomplete"}),
    )
    .await;
    assert_eq!(rejected["rejection_count"], 1);
    assert_eq!(rejected["rejection_reason"], "Incomplete");
    let abandoned = ok(&bob, "abandon", json!({"task_id": task_id})).await;
    assert_eq!(abandoned["status"], "posted");
    let cancelled = ok(&alice, "cancel", json!({"task_id": task_id})).await;
    assert_eq!(cancelled["status"], "cancelled");
    let credits = ok(&alice, "credits", json!({"limit": 50})).await;
    assert_eq!(credits["escrowed"], 0);
    assert_eq!(credits["balance"], server.cfg.initial_credits);

    let other = ok(
        &alice,
        "delegate",
        json!({"need": "Something", "max_credits": 2}),
    )
    .await;
    let report = ok(
        &bob,
        "report",
        json!({"task_id": other["task_id"], "reason": "spam"}),
    )
    .await;
    assert_eq!(report["reason"], "spam");
    let batch = ok(&bob, "pickup_batch", json!({"count": 3})).await;
    assert_eq!(batch["tasks"].as_array().unwrap().len(), 1);
    ok(&alice, "update_profile", json!({"good_at": "French"})).await;
    let me = ok(&alice, "me", json!({})).await;
    assert_eq!(me["good_at"], "French");
    ok(&alice, "trust", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickup_with_wait_seconds_waits_for_a_task_to_be_posted() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;
    // Bob waits for work; Alice posts some a moment later.
    let (picked, posted) = tokio::join!(ok(&bob, "pickup", json!({"wait_seconds": 30})), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        ok(
            &alice,
            "delegate",
            json!({"need": "Later work", "max_credits": 2}),
        )
        .await
    });
    assert_eq!(picked["task"]["task_id"], posted["task_id"]);
    let (batch, posted) = tokio::join!(
        ok(
            &bob,
            "pickup_batch",
            json!({"count": 2, "wait_seconds": "30"})
        ),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            ok(
                &alice,
                "delegate",
                json!({"need": "More work", "max_credits": 2}),
            )
            .await
        }
    );
    assert_eq!(batch["tasks"][0]["task_id"], posted["task_id"]);
    // Nothing comes: the wait ends with none, as a pickup without a wait answers.
    let none = ok(&bob, "pickup", json!({"wait_seconds": 1})).await;
    assert_eq!(none["task"], Value::Null);
    let refused = call(&bob, "pickup", json!({"wait_seconds": 301})).await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).contains("wait must be between 0 and 300"),
        "{}",
        text(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_tool_errors_with_the_servers_message() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Summarise", "max_credits": 5}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "done"}),
    )
    .await;

    // The worker approving the poster's task: a 403 from the server, as a tool error.
    let res = call(&bob, "approve", json!({"task_id": task_id})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(text(&res).contains("Not your task"), "{}", text(&res));
    assert!(text(&res).contains("403"), "{}", text(&res));
    // A stranger's task does not exist for you.
    let (carol, _) = registered_agent(&server.url, "carol").await;
    let res = call(&carol, "get_task", json!({"task_id": task_id})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(text(&res).contains("Task not found"), "{}", text(&res));
    // Validation errors carry the server's wording too.
    let res = call(&alice, "delegate", json!({"need": "x", "max_credits": 0})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(text(&res).contains("max_credits"), "{}", text(&res));
    // Without a key, the model is told to register.
    let anon = connect(Settings::new(&server.url, None)).await;
    let res = call(&anon, "me", json!({})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(text(&res).contains("register"), "{}", text(&res));
    // An unreachable server is a tool error as well, not a protocol error.
    let down = connect(Settings::new("http://127.0.0.1:9", Some("pwk_x".into()))).await;
    let res = call(&down, "me", json!({})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(
        text(&res).contains("cannot reach the server"),
        "{}",
        text(&res)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_is_listed_with_schemas_and_annotations() {
    let agent = connect(Settings::new("http://127.0.0.1:9", None)).await;
    let tools = agent.list_all_tools().await.unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let expected: BTreeSet<&str> = TOOLS.iter().copied().chain(["agent_profile"]).collect();
    assert_eq!(names, expected);

    for tool in &tools {
        let name = tool.name.as_ref();
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            description.len() > 30,
            "{name}: description {description:?}"
        );

        let input = Value::Object((*tool.input_schema).clone());
        assert_eq!(input["type"], "object", "{name}: input schema {input}");
        let props = input["properties"].as_object();
        if let Some(required) = input.get("required") {
            for field in required.as_array().unwrap() {
                let field = field.as_str().unwrap();
                assert!(
                    props.is_some_and(|p| p.contains_key(field)),
                    "{name}: required {field} is not a property: {input}"
                );
            }
        }
        if let Some(props) = props {
            for (field, schema) in props {
                assert!(schema.is_object(), "{name}.{field}: not a schema: {schema}");
            }
        }

        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no output schema"));
        let output = Value::Object((**output).clone());
        assert_eq!(output["type"], "object", "{name}: output schema {output}");
        assert!(output["properties"].is_object(), "{name}: {output}");

        let hints = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no annotations"));
        let read_only = READ_ONLY.contains(&name);
        assert_eq!(hints.read_only_hint, Some(read_only), "{name}");
        if !read_only {
            assert!(hints.destructive_hint.is_some(), "{name}: destructive_hint");
        }
        assert!(hints.idempotent_hint.is_some(), "{name}: idempotent_hint");
    }

    // The shapes come from the shared types: their field docs, flattened bodies, defaults.
    let by_name = |n: &str| tools.iter().find(|t| t.name == n).unwrap();
    let deliver = Value::Object((*by_name("deliver").input_schema).clone());
    assert!(
        deliver["properties"]["credits_claimed"]["description"]
            .as_str()
            .unwrap()
            .contains("max_credits")
    );
    let required: Vec<&str> = deliver["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["task_id", "result"], "{deliver}");
    let delegate = Value::Object((*by_name("delegate").input_schema).clone());
    assert!(delegate["properties"]["wait"].is_object(), "{delegate}");
    let my_tasks = Value::Object((*by_name("my_tasks").input_schema).clone());
    assert!(my_tasks.to_string().contains("delivered"), "{my_tasks}");
    let approve = by_name("approve").annotations.clone().unwrap();
    assert_eq!(approve.destructive_hint, Some(true));
    let delegate = by_name("delegate").annotations.clone().unwrap();
    assert_eq!(delegate.idempotent_hint, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infra_agent_does_system_work_with_typed_tools() {
    let server = TestServer::start();
    let initial = server.cfg.initial_credits;
    let infra = connect(Settings::new(&server.url, None)).await;
    ok(
        &infra,
        "register",
        json!({"name": "infra", "accepts_system_tasks": true}),
    )
    .await;
    let (poster, _) = registered_agent(&server.url, "poster").await;
    let worker = connect(Settings::new(&server.url, None)).await;
    let reg = ok(
        &worker,
        "register",
        json!({"name": "worker", "good_at": "python security reviews"}),
    )
    .await;
    let worker_id = reg["agent_id"].as_str().unwrap().to_string();

    // Capability extraction for the worker's good_at.
    let extract = ok(&infra, "pickup", json!({})).await["task"].clone();
    assert_eq!(extract["system_task_type"], "extract_capabilities");
    let done = ok(
        &infra,
        "submit_capabilities",
        json!({"task_id": extract["task_id"], "agent_id": worker_id, "tags": ["python", "security"]}),
    )
    .await;
    assert_eq!(done["status"], "approved");

    // Matching a new task: a result of the wrong kind is refused with the server's message.
    let task = ok(
        &poster,
        "delegate",
        json!({"need": "Audit this endpoint", "max_credits": 20}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let matching = ok(&infra, "pickup", json!({})).await["task"].clone();
    assert_eq!(matching["system_task_type"], "match_agents");
    assert_eq!(
        matching["system_payload"]["task"]["task_id"],
        task_id.as_str()
    );
    let wrong = call(
        &infra,
        "submit_verification",
        json!({"task_id": matching["task_id"], "meets_requirements": true, "explanation": "?"}),
    )
    .await;
    assert_eq!(wrong.is_error, Some(true));
    assert!(text(&wrong).contains("400"), "{}", text(&wrong));
    ok(
        &infra,
        "submit_match",
        json!({"task_id": matching["task_id"], "ranked_agents": [worker_id], "extracted_tags": ["security"]}),
    )
    .await;

    // The matched worker delivers; the infra agent verifies.
    let claimed = ok(&worker, "pickup", json!({})).await;
    assert_eq!(claimed["task"]["task_id"], task_id.as_str());
    ok(
        &worker,
        "deliver",
        json!({"task_id": task_id, "result": "An injection in line 4"}),
    )
    .await;
    let verify = ok(&infra, "pickup", json!({})).await["task"].clone();
    assert_eq!(verify["system_task_type"], "verify_completion");
    ok(
        &infra,
        "submit_verification",
        json!({"task_id": verify["task_id"], "meets_requirements": true, "explanation": "Names the flaw"}),
    )
    .await;
    let seen = ok(&poster, "get_task", json!({"task_id": task_id})).await;
    assert_eq!(seen["verification"]["status"], "passed", "{seen}");

    let me = ok(&infra, "me", json!({})).await;
    assert_eq!(me["credits"], initial + 2 + 3 + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_system_task_hands_out_typed_work_and_results_are_checked_before_sending() {
    let server = TestServer::start();
    // An ordinary task posted before any infra agent exists (so no system work for it).
    let (poster, _) = registered_agent(&server.url, "poster").await;
    let ordinary = ok(
        &poster,
        "delegate",
        json!({"need": "Paint", "max_credits": 5}),
    )
    .await;

    let not_infra = call(&poster, "next_system_task", json!({})).await;
    assert_eq!(not_infra.is_error, Some(true));
    assert!(
        text(&not_infra).contains("accepts_system_tasks"),
        "{}",
        text(&not_infra)
    );

    let infra = connect(Settings::new(&server.url, None)).await;
    ok(
        &infra,
        "register",
        json!({"name": "infra", "accepts_system_tasks": true}),
    )
    .await;
    // No system work: nothing is claimed, not even the open ordinary task.
    let none = ok(&infra, "next_system_task", json!({})).await;
    assert!(none["task"].is_null(), "{none}");
    let still = ok(&poster, "get_task", json!({"task_id": ordinary["task_id"]})).await;
    assert_eq!(still["status"], "posted");

    // extract_capabilities, with its payload typed.
    let worker = connect(Settings::new(&server.url, None)).await;
    let reg = ok(
        &worker,
        "register",
        json!({"name": "worker", "good_at": "rust and sql"}),
    )
    .await;
    let worker_id = reg["agent_id"].as_str().unwrap().to_string();
    let next = ok(&infra, "next_system_task", json!({})).await["task"].clone();
    assert_eq!(next["work"]["kind"], "extract_capabilities", "{next}");
    assert_eq!(next["work"]["agent_id"], worker_id.as_str());
    assert_eq!(next["work"]["good_at"], "rust and sql");
    let max_tags = next["work"]["max_tags"].as_u64().unwrap() as usize;
    let extract_id = next["task_id"].clone();

    // Bad results are refused here, as tool errors, before any call to the API.
    let long = "x".repeat(51);
    let too_many: Vec<String> = (0..=max_tags).map(|i| format!("tag{i}")).collect();
    for (args, why) in [
        (
            json!({"task_id": extract_id, "agent_id": "ag-other", "tags": ["rust"]}),
            "agent_id must be",
        ),
        (
            json!({"task_id": extract_id, "agent_id": worker_id, "tags": [long]}),
            "1-50 characters",
        ),
        (
            json!({"task_id": extract_id, "agent_id": worker_id, "tags": too_many}),
            "At most",
        ),
        (
            json!({"task_id": extract_id, "agent_id": worker_id, "tags": [7]}),
            "Invalid arguments",
        ),
        (
            json!({"task_id": extract_id, "tags": ["rust"]}),
            "Invalid arguments",
        ),
    ] {
        let res = call(&infra, "submit_capabilities", args).await;
        assert_eq!(res.is_error, Some(true), "{}", text(&res));
        assert!(text(&res).contains(why), "{why}: {}", text(&res));
    }
    let blank = call(
        &infra,
        "submit_verification",
        json!({"task_id": "tk-nothing", "meets_requirements": true, "explanation": "  "}),
    )
    .await;
    assert_eq!(blank.is_error, Some(true));
    assert!(
        text(&blank).contains("explanation must be"),
        "{}",
        text(&blank)
    );
    let seen = ok(&infra, "get_task", json!({"task_id": extract_id})).await;
    assert_eq!(seen["status"], "claimed", "nothing was delivered: {seen}");
    let done = ok(
        &infra,
        "submit_capabilities",
        json!({"task_id": extract_id, "agent_id": worker_id, "tags": ["Rust", "sql"]}),
    )
    .await;
    assert_eq!(done["status"], "approved");

    // match_agents: the task and its candidates.
    let task = ok(
        &poster,
        "delegate",
        json!({"need": "Write a SQL query", "max_credits": 9}),
    )
    .await;
    let next = ok(&infra, "next_system_task", json!({})).await["task"].clone();
    assert_eq!(next["work"]["kind"], "match_agents", "{next}");
    assert_eq!(next["work"]["task"]["task_id"], task["task_id"]);
    let candidates: Vec<&str> = next["work"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent_id"].as_str().unwrap())
        .collect();
    assert!(candidates.contains(&worker_id.as_str()), "{next}");
    for (ranked, why) in [
        (json!([1, 2]), "Invalid arguments"),
        (json!(["ag-stranger"]), "not one of the task's candidates"),
        (json!([""]), "empty agent id"),
    ] {
        let res = call(
            &infra,
            "submit_match",
            json!({"task_id": next["task_id"], "ranked_agents": ranked}),
        )
        .await;
        assert_eq!(res.is_error, Some(true), "{}", text(&res));
        assert!(text(&res).contains(why), "{why}: {}", text(&res));
    }
    ok(
        &infra,
        "submit_match",
        json!({"task_id": next["task_id"], "ranked_agents": [worker_id], "extracted_tags": ["sql"]}),
    )
    .await;
    let none = ok(&infra, "next_system_task", json!({})).await;
    assert!(none["task"].is_null(), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_arguments_are_refused_naming_them_and_the_accepted_ones() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let before = ok(&alice, "credits", json!({})).await;

    // `budget` is not an argument of delegate: refused, and nothing is escrowed.
    let res = call(
        &alice,
        "delegate",
        json!({"need": "Sort these", "budget": 5}),
    )
    .await;
    assert_eq!(res.is_error, Some(true), "{}", text(&res));
    let said = text(&res);
    for part in [
        "`budget`",
        "need (required)",
        "max_credits",
        "wait",
        "nothing was done",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    let after = ok(&alice, "credits", json!({})).await;
    assert_eq!(after["balance"], before["balance"]);
    assert_eq!(ok(&alice, "my_tasks", json!({})).await["total"], 0);

    // Several at once, and a tool that takes none.
    let res = call(&alice, "browse", json!({"tag": "x", "query": "y"})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(text(&res).contains("`query`, `tag`") || text(&res).contains("`tag`, `query`"));
    assert!(text(&res).contains("tags"), "{}", text(&res));
    let res = call(&alice, "me", json!({"verbose": true})).await;
    assert_eq!(res.is_error, Some(true));
    assert!(
        text(&res).contains("me takes no arguments"),
        "{}",
        text(&res)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_error_names_the_argument() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    for (tool, args, says) in [
        (
            "delegate",
            json!({"need": "x", "max_credits": "fifty"}),
            r#"`max_credits`: expected an integer, got a string ("fifty")"#,
        ),
        (
            "delegate",
            json!({"need": "x", "tags": ["a", 7]}),
            "`tags`: expected a list of strings, got a number (7)",
        ),
        // Fields of flattened API bodies are named too.
        (
            "deliver",
            json!({"task_id": "tk-x", "result": 5}),
            "`result`: expected a string, got a number (5)",
        ),
        (
            "rate_poster",
            json!({"task_id": "tk-x", "rating": "five"}),
            "`rating`: expected an integer",
        ),
        (
            "my_tasks",
            json!({"status": "done"}),
            "`status`: Invalid status: done",
        ),
        (
            "credits",
            json!({"limit": "many"}),
            "`limit`: expected an integer, got a string",
        ),
        ("get_task", json!({}), "missing field `task_id`"),
    ] {
        let res = call(&alice, tool, args).await;
        assert_eq!(res.is_error, Some(true), "{tool}: {}", text(&res));
        assert!(text(&res).contains(says), "{tool}: {says}: {}", text(&res));
        assert!(
            !text(&res).contains("failed to deserialize"),
            "{}",
            text(&res)
        );
    }
}
