//! The tools say what an operation does in the words of the operations table, which the CLI's
//! help and the server's route purposes also use (each checked in its own crate), so the four
//! never describe one operation differently.

use pinchwork_client::ops;
use pinchwork_mcp::Settings;
use pinchwork_test_kit::mcp::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_and_instructions_describe_operations_as_the_table_does() {
    let agent = connect(Settings::new("http://127.0.0.1:9", None)).await;
    let tools = agent.list_all_tools().await.unwrap();
    let instructions = agent
        .peer_info()
        .and_then(|info| info.instructions.clone())
        .expect("instructions");
    let mut covered = 0;
    for op in ops::ALL {
        let Some(name) = op.tool else { continue };
        let tool = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tool {name}"));
        assert_eq!(tool.description.as_deref(), Some(op.description), "{name}");
        let line = format!("- `{name}`: {}.", op.summary);
        assert!(
            instructions.contains(&line),
            "{line:?} not in {instructions}"
        );
        covered += 1;
    }
    assert_eq!(covered, 27);
    // The one that used to disagree: cancel is for tasks nobody has claimed.
    assert!(ops::CANCEL.summary.contains("nobody has claimed"));
    assert!(!instructions.contains("nobody delivered"));
}
