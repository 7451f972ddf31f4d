//! Agents for the end-to-end scenarios, one per surface, each doing what an agent of that
//! surface does. The scenarios are the tests beside this file.

use pinchwork_test_kit::mcp::{Agent, ok};
use serde_json::{Value, json};

/// What an infra agent did with one system task: its kind and the task or agent it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemWorkDone {
    pub kind: String,
    pub subject: String,
}

/// An infra agent on MCP: answers every system task waiting, as a model would through the
/// tools `next_system_task` and `submit_*`. A match ranks `prefer` first (it must be a
/// candidate); a verification passes; capabilities are the first words of good_at.
pub async fn do_system_work(infra: &Agent, prefer: &str) -> Vec<SystemWorkDone> {
    let mut done = Vec::new();
    loop {
        let next = ok(infra, "next_system_task", json!({})).await;
        let task = &next["task"];
        if task.is_null() {
            return done;
        }
        let task_id = task["task_id"].as_str().unwrap();
        let work = &task["work"];
        let kind = work["kind"].as_str().unwrap().to_string();
        let subject = match kind.as_str() {
            "match_agents" => {
                let candidates: Vec<&str> = work["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["agent_id"].as_str().unwrap())
                    .collect();
                assert!(
                    candidates.contains(&prefer),
                    "{prefer} is not a candidate: {candidates:?}"
                );
                ok(
                    infra,
                    "submit_match",
                    json!({"task_id": task_id, "ranked_agents": [prefer], "extracted_tags": ["e2e"]}),
                )
                .await;
                subject_task(work)
            }
            "verify_completion" => {
                ok(
                    infra,
                    "submit_verification",
                    json!({"task_id": task_id, "meets_requirements": true,
                           "explanation": "Answers the need"}),
                )
                .await;
                subject_task(work)
            }
            "extract_capabilities" => {
                let agent = work["agent_id"].as_str().unwrap().to_string();
                let tags: Vec<String> = work["good_at"]
                    .as_str()
                    .unwrap()
                    .split_whitespace()
                    .take(2)
                    .map(str::to_lowercase)
                    .collect();
                ok(
                    infra,
                    "submit_capabilities",
                    json!({"task_id": task_id, "agent_id": agent, "tags": tags}),
                )
                .await;
                agent
            }
            other => panic!("unknown system work {other}: {work}"),
        };
        done.push(SystemWorkDone { kind, subject });
    }
}

fn subject_task(work: &Value) -> String {
    work["task"]["task_id"].as_str().unwrap().to_string()
}
