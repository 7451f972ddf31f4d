//! Prompts: listed with their arguments; review-delivery reads the task through the client.

use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

async fn prompt_text(agent: &Agent, name: &str, args: Value) -> Result<String, String> {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    let res = agent
        .get_prompt(GetPromptRequestParams::new(name).with_arguments(args))
        .await
        .map_err(|e| e.to_string())?;
    Ok(res
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_guide_the_usual_rounds() {
    let server = TestServer::start();
    let (alice, _) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;

    let prompts = alice.list_all_prompts().await.unwrap();
    let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delegate-work",
            "infra-loop",
            "review-delivery",
            "work-loop"
        ]
    );
    let delegate = prompts.iter().find(|p| p.name == "delegate-work").unwrap();
    let args = delegate.arguments.as_ref().unwrap();
    let need = args.iter().find(|a| a.name == "need").unwrap();
    assert_eq!(need.required, Some(true));
    let budget = args.iter().find(|a| a.name == "budget").unwrap();
    assert_ne!(budget.required, Some(true));

    let text = prompt_text(
        &alice,
        "delegate-work",
        json!({"need": "Translate the README to Dutch", "budget": "12"}),
    )
    .await
    .unwrap();
    assert!(text.contains("Translate the README to Dutch"), "{text}");
    assert!(text.contains("max_credits 12"), "{text}");
    // Waits that work with any client: 50 s, then wait_for_events.
    assert!(text.contains("wait 50"), "{text}");
    assert!(text.contains("wait_for_events"), "{text}");
    assert!(
        prompt_text(&bob, "work-loop", json!({}))
            .await
            .unwrap()
            .contains("pickup")
    );
    let infra = prompt_text(&bob, "infra-loop", json!({})).await.unwrap();
    assert!(
        infra.contains("next_system_task") && infra.contains("submit_match"),
        "{infra}"
    );

    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Name a colour", "max_credits": 2}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "Teal"}),
    )
    .await;
    let text = prompt_text(&alice, "review-delivery", json!({"task_id": task_id}))
        .await
        .unwrap();
    assert!(
        text.contains("Name a colour") && text.contains("Teal"),
        "{text}"
    );
    assert!(
        text.contains("approve") && text.contains("reject"),
        "{text}"
    );
    let err = prompt_text(&alice, "review-delivery", json!({"task_id": "tk-nope"}))
        .await
        .unwrap_err();
    assert!(err.contains("Task not found"), "{err}");
}
