//! System tasks: the platform's matching, verification and capability extraction, done by
//! infra agents and paid from the platform account. This file holds what they read (payloads)
//! and the strict checks of what they answer; `tasks.rs` spawns and settles them.

use crate::error::{Error, Result};
use crate::model::Task;
use pinchwork_client::types::{
    CapabilityResult, ExtractPayload, MatchCandidate, MatchPayload, MatchResult, SystemTaskSubject,
    VerificationResult, VerifyPayload,
};
use serde::de::DeserializeOwned;

/// Agents a `match_agents` task may rank, and candidates it is shown.
pub const MAX_RANKED: usize = 20;
pub const MAX_CANDIDATES: i64 = 50;
/// A tag is a short keyword.
pub const MAX_TAG_CHARS: usize = 50;
pub const MAX_EXPLANATION: usize = 5_000;

pub fn subject(task: &Task) -> SystemTaskSubject {
    SystemTaskSubject {
        task_id: task.id.clone(),
        need: task.need.clone(),
        context: task.context.clone(),
        tags: task.tags.clone(),
        poster_id: task.poster_id.clone(),
    }
}

/// The need text and payload of a `match_agents` task.
pub fn match_task(
    parent: &Task,
    candidates: Vec<MatchCandidate>,
    max_tags: usize,
) -> (String, MatchPayload) {
    let payload = MatchPayload {
        task: subject(parent),
        candidates,
        max_ranked: MAX_RANKED,
        max_tags,
    };
    let need = format!(
        "Match agents for: {}\n\nRank the candidate agents in system_payload.candidates that \
         best fit this task and extract short lowercase tags describing it. Deliver JSON: \
         {{\"ranked_agents\": [\"ag-…\", …] (at most {MAX_RANKED}), \"extracted_tags\": [\"…\"] \
         (at most {max_tags})}}.",
        parent.need
    );
    (need, payload)
}

/// The need text and payload of a `verify_completion` task.
pub fn verify_task(parent: &Task) -> (String, VerifyPayload) {
    let payload = VerifyPayload {
        task: subject(parent),
        result: parent.result.clone().unwrap_or_default(),
        worker_id: parent.worker_id.clone().unwrap_or_default(),
    };
    let need = format!(
        "Verify completion. Task need: {}\n\nJudge whether the delivery in \
         system_payload.result meets the task's requirements. Deliver JSON: \
         {{\"meets_requirements\": true|false, \"explanation\": \"…\"}}.",
        parent.need
    );
    (need, payload)
}

/// The need text and payload of an `extract_capabilities` task.
pub fn extract_task(agent_id: &str, good_at: &str, max_tags: usize) -> (String, ExtractPayload) {
    let payload = ExtractPayload {
        agent_id: agent_id.into(),
        good_at: good_at.into(),
        max_tags,
    };
    let need = format!(
        "Extract capability tags from this agent description: \"{good_at}\"\nAgent ID: \
         {agent_id}\n\nDeliver JSON: {{\"agent_id\": \"{agent_id}\", \"tags\": [\"…\"]}} with at \
         most {max_tags} short lowercase tags."
    );
    (need, payload)
}

fn parse<T: DeserializeOwned>(result: &str, shape: &str) -> Result<T> {
    serde_json::from_str(result.trim())
        .map_err(|e| Error::bad_request(format!("The result must be JSON {shape}: {e}")))
}

/// Lower-cased, trimmed, de-duplicated tags, each 1-50 characters, at most `max`.
fn clean_tags(tags: Vec<String>, max: usize) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::bad_request(format!(
                "Tags must be 1-{MAX_TAG_CHARS} characters: {tag:?}"
            )));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > max {
        return Err(Error::bad_request(format!(
            "At most {max} tags are allowed"
        )));
    }
    Ok(out)
}

/// A match result: known candidates only, each once, at most `MAX_RANKED`.
pub fn parse_match(result: &str, payload: &MatchPayload) -> Result<MatchResult> {
    let parsed: MatchResult = parse(
        result,
        r#"{"ranked_agents": [...], "extracted_tags": [...]}"#,
    )?;
    let mut ranked: Vec<String> = Vec::new();
    for id in parsed.ranked_agents {
        if !payload.candidates.iter().any(|c| c.agent_id == id) {
            return Err(Error::bad_request(format!(
                "{id:?} is not one of the candidates"
            )));
        }
        if !ranked.contains(&id) {
            ranked.push(id);
        }
    }
    if ranked.len() > MAX_RANKED {
        return Err(Error::bad_request(format!(
            "Rank at most {MAX_RANKED} agents"
        )));
    }
    Ok(MatchResult {
        ranked_agents: ranked,
        extracted_tags: clean_tags(parsed.extracted_tags, payload.max_tags)?,
    })
}

pub fn parse_verdict(result: &str) -> Result<VerificationResult> {
    let verdict: VerificationResult = parse(
        result,
        r#"{"meets_requirements": true|false, "explanation": "..."}"#,
    )?;
    if verdict.explanation.trim().is_empty()
        || verdict.explanation.chars().count() > MAX_EXPLANATION
    {
        return Err(Error::bad_request(format!(
            "explanation must be 1-{MAX_EXPLANATION} characters"
        )));
    }
    Ok(verdict)
}

/// Capability tags for the agent the task was spawned for, and no other.
pub fn parse_capabilities(result: &str, payload: &ExtractPayload) -> Result<Vec<String>> {
    let parsed: CapabilityResult = parse(result, r#"{"agent_id": "...", "tags": [...]}"#)?;
    if parsed.agent_id != payload.agent_id {
        return Err(Error::bad_request(format!(
            "agent_id must be {}, the agent this task is about",
            payload.agent_id
        )));
    }
    clean_tags(parsed.tags, payload.max_tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> MatchPayload {
        let candidate = |id: &str| MatchCandidate {
            agent_id: id.into(),
            name: id.into(),
            good_at: None,
            tags: None,
            reputation: 0.0,
            tasks_completed: 0,
        };
        MatchPayload {
            task: SystemTaskSubject {
                task_id: "tk-1".into(),
                need: "n".into(),
                context: None,
                tags: None,
                poster_id: "ag-p".into(),
            },
            candidates: vec![candidate("ag-a"), candidate("ag-b")],
            max_ranked: MAX_RANKED,
            max_tags: 3,
        }
    }

    #[test]
    fn match_results_are_checked_against_the_candidates() {
        let ok = parse_match(r#"{"ranked_agents": ["ag-b", "ag-a", "ag-b"], "extracted_tags": [" Python ", "python", "api"]}"#, &payload()).unwrap();
        assert_eq!(ok.ranked_agents, ["ag-b", "ag-a"]);
        assert_eq!(ok.extracted_tags, ["python", "api"]);
        for bad in [
            r#"{"ranked_agents": ["ag-stranger"]}"#,
            r#"{"ranked_agents": [1, 2]}"#,
            r#"{"ranked_agents": "ag-a"}"#,
            r#"{"extracted_tags": []}"#,
            r#"{"ranked_agents": [], "extracted_tags": [7]}"#,
            r#"{"ranked_agents": [], "extracted_tags": ["a", "b", "c", "d"]}"#,
            r#"{"ranked_agents": [], "extracted_tags": [""]}"#,
            "[]",
            "not json",
        ] {
            assert!(
                matches!(parse_match(bad, &payload()), Err(Error::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn verdicts_need_a_boolean_and_an_explanation() {
        let v =
            parse_verdict(r#"{"meets_requirements": true, "explanation": "all done"}"#).unwrap();
        assert!(v.meets_requirements);
        for bad in [
            r#"{"meets_requirements": "yes", "explanation": "x"}"#,
            r#"{"meets_requirements": true}"#,
            r#"{"meets_requirements": true, "explanation": " "}"#,
        ] {
            assert!(parse_verdict(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capabilities_only_for_the_named_agent() {
        let p = ExtractPayload {
            agent_id: "ag-x".into(),
            good_at: "rust".into(),
            max_tags: 2,
        };
        assert_eq!(
            parse_capabilities(r#"{"agent_id": "ag-x", "tags": ["Rust", "sql"]}"#, &p).unwrap(),
            ["rust", "sql"]
        );
        assert!(parse_capabilities(r#"{"agent_id": "ag-other", "tags": ["rust"]}"#, &p).is_err());
        assert!(
            parse_capabilities(r#"{"agent_id": "ag-x", "tags": ["a", "b", "c"]}"#, &p).is_err()
        );
        assert!(parse_capabilities(r#"{"agent_id": "ag-x", "tags": [{"x": 1}]}"#, &p).is_err());
    }
}
