//! Every tool's input and output schema under a strict JSON Schema 2020-12 validator: valid
//! against the meta-schema, only 2020-12 keywords and formats (an unknown format is a compile
//! error here, as in Ajv strict), arguments described and closed, the fields the server
//! requires required; and the answers of real calls valid against their output schemas.

use jsonschema::{Draft, Validator};
use pinchwork_client::schema::unknown_keywords;
use pinchwork_mcp::Settings;
use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::Tool;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The validator for `schema`, after checking it is a strict 2020-12 schema.
fn strict(schema: &Value, what: &str) -> Validator {
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{what}: {schema}"
    );
    jsonschema::meta::validate(schema)
        .unwrap_or_else(|e| panic!("{what}: not a valid 2020-12 schema: {e}\n{schema}"));
    assert_eq!(
        unknown_keywords(schema),
        Vec::<String>::new(),
        "{what}: keywords 2020-12 does not define"
    );
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: refused by a strict validator: {e}\n{schema}"))
}

fn input(tool: &Tool) -> Value {
    Value::Object((*tool.input_schema).clone())
}

fn output(tool: &Tool) -> Value {
    Value::Object((**tool.output_schema.as_ref().expect("an output schema")).clone())
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_schema_is_strict_json_schema_2020_12() {
    let agent = connect(Settings::new("http://127.0.0.1:9", None)).await;
    let tools = agent.list_all_tools().await.unwrap();
    assert!(tools.len() >= 30);
    for tool in &tools {
        let name = tool.name.as_ref();
        let input = input(tool);
        strict(&input, &format!("{name} input"));
        strict(&output(tool), &format!("{name} output"));
        // Arguments: closed (unknown ones are refused), each described, optional ones with
        // their plain type (no `null` union, which tool schema converters trip over).
        assert_eq!(input["additionalProperties"], false, "{name}: {input}");
        let text = input.to_string();
        assert!(
            !text.contains("\"null\""),
            "{name}: null in arguments: {input}"
        );
        for (field, prop) in input["properties"].as_object().unwrap() {
            let described = prop["description"].as_str().unwrap_or_default();
            assert!(
                described.len() >= 10,
                "{name}.{field} has no description: {prop}"
            );
        }
    }

    // What the server requires is required, and what it defaults is not.
    let by_name: BTreeMap<&str, &Tool> = tools.iter().map(|t| (t.name.as_ref(), t)).collect();
    for (tool, fields) in [
        ("delegate", vec!["need"]),
        ("deliver", vec!["task_id", "result"]),
        ("reject", vec!["task_id", "reason"]),
        ("report", vec!["task_id", "reason"]),
        ("rate_poster", vec!["task_id", "rating"]),
        ("approve", vec!["task_id"]),
        ("register", vec!["name"]),
        ("update_profile", vec![]),
        ("wait_for_events", vec![]),
        (
            "submit_verification",
            vec!["task_id", "meets_requirements", "explanation"],
        ),
    ] {
        let schema = input(by_name[tool]);
        assert_eq!(required(&schema), fields, "{tool}: {schema}");
    }
    let delegate = input(by_name["delegate"]);
    assert!(
        delegate["properties"]["need"].get("default").is_none(),
        "{delegate}"
    );
    assert_eq!(delegate["properties"]["need"]["type"], "string");
    assert_eq!(delegate["properties"]["max_credits"]["minimum"], 1);
    let wait = input(by_name["wait_for_events"]);
    assert_eq!(
        wait["properties"]["timeout_seconds"]["minimum"], 1,
        "{wait}"
    );
    assert_eq!(
        wait["properties"]["timeout_seconds"]["maximum"], 300,
        "{wait}"
    );
    // Answers say which of their fields may be null, in 2020-12 terms.
    let task = output(by_name["get_task"]);
    assert_eq!(
        task["properties"]["result"]["type"],
        json!(["string", "null"]),
        "{task}"
    );
    assert!(required(&task).contains(&"result"), "{task}");
}

/// Calls `tool` and checks its structured answer against the tool's output schema.
async fn checked(agent: &Agent, tools: &[Tool], tool: &'static str, args: Value) -> Value {
    let answer = ok(agent, tool, args).await;
    let schema = output(tools.iter().find(|t| t.name == tool).unwrap());
    let validator = strict(&schema, tool);
    let errors: Vec<String> = validator
        .iter_errors(&answer)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{tool} answered outside its schema: {errors:?}\n{answer}"
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_output_schemas() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let (bob, bob_reg) = registered_agent(&server.url, "bob").await;
    let tools = alice.list_all_tools().await.unwrap();
    let t = &tools;

    let task = checked(
        &alice,
        t,
        "delegate",
        json!({"need": "Count the words", "max_credits": 3}),
    )
    .await;
    let id = task["task_id"].as_str().unwrap().to_string();
    checked(&alice, t, "get_task", json!({"task_id": id})).await;
    checked(&bob, t, "browse", json!({})).await;
    checked(
        &bob,
        t,
        "ask_question",
        json!({"task_id": id, "question": "Which text?"}),
    )
    .await;
    checked(&bob, t, "list_questions", json!({"task_id": id})).await;
    checked(&bob, t, "pickup", json!({})).await;
    checked(&bob, t, "pickup", json!({})).await;
    checked(
        &alice,
        t,
        "send_message",
        json!({"task_id": id, "message": "This one"}),
    )
    .await;
    checked(&bob, t, "list_messages", json!({"task_id": id})).await;
    checked(&bob, t, "deliver", json!({"task_id": id, "result": "12"})).await;
    checked(&alice, t, "my_tasks", json!({"role": "poster"})).await;
    checked(&alice, t, "approve", json!({"task_id": id, "rating": 5})).await;
    checked(&bob, t, "rate_poster", json!({"task_id": id, "rating": 4})).await;
    checked(&alice, t, "me", json!({})).await;
    checked(&alice, t, "credits", json!({})).await;
    checked(&bob, t, "stats", json!({})).await;
    checked(&alice, t, "trust", json!({})).await;
    checked(&alice, t, "search_agents", json!({})).await;
    checked(
        &alice,
        t,
        "agent_profile",
        json!({"agent_id": bob_reg["agent_id"]}),
    )
    .await;
    checked(&alice, t, "wait_for_events", json!({"timeout_seconds": 1})).await;
    let other = checked(
        &alice,
        t,
        "delegate",
        json!({"need": "Another", "max_credits": 2}),
    )
    .await;
    checked(
        &bob,
        t,
        "report",
        json!({"task_id": other["task_id"], "reason": "spam"}),
    )
    .await;
    checked(&bob, t, "pickup_batch", json!({"count": 2})).await;
    checked(&bob, t, "abandon", json!({"task_id": other["task_id"]})).await;
    checked(&alice, t, "cancel", json!({"task_id": other["task_id"]})).await;
    checked(&alice, t, "update_profile", json!({"good_at": "counting"})).await;
}
