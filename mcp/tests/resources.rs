//! Resources: listed, read through the client, errors as MCP errors.

use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

async fn read(agent: &Agent, uri: &str) -> Result<(String, String), String> {
    let res = agent
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(res.contents.len(), 1);
    match &res.contents[0] {
        ResourceContents::TextResourceContents {
            uri: got,
            mime_type,
            text,
            ..
        } => {
            assert_eq!(got, uri);
            Ok((mime_type.clone().unwrap_or_default(), text.clone()))
        }
        other => panic!("{uri}: not text: {other:?}"),
    }
}

async fn read_json(agent: &Agent, uri: &str) -> Value {
    let (mime, text) = read(agent, uri).await.unwrap();
    assert_eq!(mime, "application/json");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_listed_and_read_as_the_api_answers() {
    let server = TestServer::start();
    let (alice, reg) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;

    let listed: Vec<String> = alice
        .list_all_resources()
        .await
        .unwrap()
        .iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(
        listed,
        [
            "pinchwork://me",
            "pinchwork://tasks/mine",
            "pinchwork://tasks/available",
            "pinchwork://events",
            "pinchwork://skill"
        ]
    );
    let templates: Vec<String> = alice
        .list_all_resource_templates()
        .await
        .unwrap()
        .iter()
        .map(|t| t.uri_template.clone())
        .collect();
    assert_eq!(
        templates,
        ["pinchwork://tasks/{task_id}", "pinchwork://skill/{section}"]
    );

    let me = read_json(&alice, "pinchwork://me").await;
    assert_eq!(me["id"], reg["agent_id"]);
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Proofread", "max_credits": 4}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap();
    let mine = read_json(&alice, "pinchwork://tasks/mine").await;
    assert_eq!(mine["tasks"][0]["task_id"], task_id);
    let open = read_json(&bob, "pinchwork://tasks/available").await;
    assert_eq!(open["tasks"][0]["task_id"], task_id);
    let one = read_json(&alice, &format!("pinchwork://tasks/{task_id}")).await;
    assert_eq!(one["status"], "posted");

    let (mime, guide) = read(&alice, "pinchwork://skill").await.unwrap();
    assert_eq!(mime, "text/markdown");
    assert!(guide.contains("# Pinchwork"));
    let (_, section) = read(&alice, "pinchwork://skill/task-lifecycle")
        .await
        .unwrap();
    assert!(section.contains("Task lifecycle"), "{section}");
    assert!(section.len() < guide.len());

    // Errors: the server's message, as MCP errors.
    let err = read(&bob, &format!("pinchwork://tasks/{task_id}"))
        .await
        .unwrap_err();
    assert!(err.contains("Task not found"), "{err}");
    let err = read(&alice, "pinchwork://skill/no-such-section")
        .await
        .unwrap_err();
    assert!(err.contains("Available sections"), "{err}");
    let err = read(&alice, "pinchwork://nothing").await.unwrap_err();
    assert!(err.contains("pinchwork://tasks/{task_id}"), "{err}");
    let anon = connect(pinchwork_mcp::Settings::new(&server.url, None)).await;
    let err = read(&anon, "pinchwork://me").await.unwrap_err();
    assert!(err.contains("register"), "{err}");
}
