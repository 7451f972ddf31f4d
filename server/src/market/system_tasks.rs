//! System tasks: the platform's matching, verification and capability extraction, done by
//! infra agents. The platform pays them at once and recovers the cost from the party the work
//! serves, whose credits are escrowed when the work is spawned (`credits::fund_system_work`);
//! a party that cannot pay does not get the work. This file holds what they read (payloads,
//! only what the job needs) and the strict checks of what they answer, and spawns and
//! withdraws them; `tasks.rs` settles them.

use super::Ctx;
use super::credits;
use super::error::{Error, Result};
use super::matching::{self, Candidate};
use crate::ids::new_id;
use crate::model::{
    Agent, DAY, HOUR, MatchStatus, PLATFORM_AGENT_ID, SystemTaskType, Task, TaskStatus,
    VerificationState,
};
use crate::store::Transaction;
use pinchwork_api::validate as api_validate;
use pinchwork_client::types::{
    CapabilityResult, ExtractPayload, MatchCandidate, MatchPayload, MatchResult, SystemTaskSubject,
    VerificationResult, VerifyPayload,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use pinchwork_client::limits::MAX_RANKED;
/// Candidates a `match_agents` task is shown.
pub const MAX_CANDIDATES: i64 = 50;
/// Characters of a task's context that system tasks carry (the need is carried whole).
pub const CONTEXT_EXCERPT: usize = 2_000;

/// The first `CONTEXT_EXCERPT` characters of a context, `…` marking a cut.
fn excerpt(context: Option<&str>) -> Option<String> {
    let context = context.filter(|c| !c.trim().is_empty())?;
    match context.char_indices().nth(CONTEXT_EXCERPT) {
        None => Some(context.to_string()),
        Some((cut, _)) => Some(format!("{}…", &context[..cut])),
    }
}

/// What a system task tells of the task it is about: what the work needs, not who posted
/// or works on it.
pub fn subject(task: &Task) -> SystemTaskSubject {
    SystemTaskSubject {
        task_id: task.id.clone(),
        need: task.need.clone(),
        context: excerpt(task.context.as_deref()),
        tags: task.tags.clone(),
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
    // The text alone is enough to match well: the need, its context and its tags.
    let mut about = format!("Match agents for: {}", parent.need);
    if let Some(context) = &payload.task.context {
        about.push_str(&format!("\n\nContext: {context}"));
    }
    if let Some(tags) = parent.tags.as_ref().filter(|t| !t.is_empty()) {
        about.push_str(&format!("\n\nTags: {}", tags.join(", ")));
    }
    let need = format!(
        "{about}\n\nRank the candidate agents in system_payload.candidates that best fit this \
         task and extract short lowercase tags describing it. Deliver JSON: \
         {{\"ranked_agents\": [\"ag-…\", …] (at most {MAX_RANKED}), \"extracted_tags\": [\"…\"] \
         (at most {max_tags})}}."
    );
    (need, payload)
}

/// The need text and payload of a `verify_completion` task.
pub fn verify_task(parent: &Task) -> (String, VerifyPayload) {
    let payload = VerifyPayload {
        task: subject(parent),
        result: parent.result.clone().unwrap_or_default(),
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
        .map_err(|e| Error::invalid(format!("The result must be JSON {shape}: {e}")))
}

// The checks are the API contract's, which the MCP tools also run before delivering.

/// A match result: known candidates only, each once, at most `MAX_RANKED`; clean tags.
pub fn parse_match(result: &str, payload: &MatchPayload) -> Result<MatchResult> {
    let parsed: MatchResult = parse(
        result,
        r#"{"ranked_agents": [...], "extracted_tags": [...]}"#,
    )?;
    api_validate::match_result(&parsed, Some(payload)).map_err(Error::invalid)
}

pub fn parse_verdict(result: &str) -> Result<VerificationResult> {
    let verdict: VerificationResult = parse(
        result,
        r#"{"meets_requirements": true|false, "explanation": "..."}"#,
    )?;
    api_validate::verification(&verdict).map_err(Error::invalid)?;
    Ok(verdict)
}

/// Capability tags for the agent the task was spawned for, and no other.
pub fn parse_capabilities(result: &str, payload: &ExtractPayload) -> Result<Vec<String>> {
    let parsed: CapabilityResult = parse(result, r#"{"agent_id": "...", "tags": [...]}"#)?;
    api_validate::capabilities(&parsed, Some(payload)).map_err(Error::invalid)
}

// ---------------------------------------------------------------------------------------------
// Workflows (inside the caller's transaction)

fn candidate(agent: Agent) -> MatchCandidate {
    MatchCandidate {
        agent_id: agent.id,
        name: agent.name,
        good_at: agent.good_at,
        tags: agent.capability_tags,
        reputation: agent.reputation,
        tasks_completed: agent.tasks_completed,
    }
}

/// Posts a system task whose budget `party` (whom the work serves) escrows, or the platform
/// when it subsidises system work. None, and nothing changed, when neither can pay.
/// `excluded` may not do it: the parties of what it is about.
#[allow(clippy::too_many_arguments)]
async fn spawn(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    kind: SystemTaskType,
    need: String,
    payload: &impl Serialize,
    budget: i64,
    about: About<'_>,
    party: &str,
    excluded: &[&str],
) -> Result<Option<Task>> {
    let mut task = Task::posted(
        new_id("tk"),
        PLATFORM_AGENT_ID,
        need,
        budget,
        ctx.now,
        ctx.now + ctx.cfg.task_expire_hours * HOUR,
    );
    let ledger_task = match about {
        About::Task(id) => {
            task.parent_task_id = Some(id.into());
            Some(id)
        }
        About::Agent(id) => {
            task.subject_agent_id = Some(id.into());
            None
        }
    };
    let Some(payer) =
        credits::fund_system_work(tx, ctx, party, budget, kind.as_str(), ledger_task).await?
    else {
        return Ok(None);
    };
    task.is_system = true;
    task.system_task_type = Some(kind);
    task.payer_id = Some(payer);
    task.system_payload = Some(serde_json::to_string(payload).expect("payloads serialize"));
    task.excluded_agents = Some(format!(",{},", excluded.join(",")));
    tx.insert_task(&task).await?;
    ctx.saved(&task);
    Ok(Some(task))
}

#[derive(Clone, Copy)]
enum About<'a> {
    Task(&'a str),
    Agent(&'a str),
}

/// Routes a newly posted task: an infra agent ranks agents for it when there is one and the
/// poster can pay for it (the task is open to everyone meanwhile); otherwise the built-in
/// matcher picks up to five agents who see it first. Either way, after the match window it
/// is shown to everyone. A private task is never shown to an infra agent.
pub async fn route_new_task(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    task: &mut Task,
) -> Result<()> {
    let window = ctx.cfg.match_timeout_seconds * 1000;
    let by_infra = ctx.routing.infra_agents && !task.private;
    if !by_infra && !ctx.routing.skilled_agents {
        return Ok(());
    }
    let candidates = tx.match_candidates(&task.poster_id, MAX_CANDIDATES).await?;
    if by_infra {
        let offered = candidates.iter().cloned().map(candidate).collect();
        let (need, payload) = match_task(task, offered, ctx.cfg.max_extracted_tags);
        let spawned = spawn(
            tx,
            ctx,
            SystemTaskType::MatchAgents,
            need,
            &payload,
            ctx.cfg.match_credits,
            About::Task(&task.id),
            &task.poster_id,
            &[&task.poster_id],
        )
        .await?;
        if spawned.is_some() {
            task.system_work = true;
            task.match_status = MatchStatus::Pending;
            task.match_deadline = Some(ctx.now + window);
            return Ok(());
        }
    }
    let candidates: Vec<_> = candidates
        .into_iter()
        .map(|a| Candidate {
            id: a.id,
            good_at: a.good_at,
            capability_tags: a.capability_tags.unwrap_or_default(),
            reputation: a.reputation,
        })
        .collect();
    let ranked = matching::rank(
        &task.routing_tags(),
        &task.need,
        task.context.as_deref(),
        &candidates,
    );
    if ranked.is_empty() {
        return Ok(());
    }
    tx.insert_matches(&task.id, &ranked).await?;
    task.match_status = MatchStatus::Matched;
    task.match_deadline = Some(ctx.now + window);
    Ok(())
}

/// Asks an infra agent (never the poster or the worker) to check a fresh delivery, at the
/// poster's cost: at most one paid verification per claim (a re-delivery after a verified
/// one is `not_repeated`), none for private tasks or posters who cannot pay.
pub async fn request_verification(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    task: &mut Task,
) -> Result<()> {
    let verified = matches!(
        task.verification,
        Some(VerificationState::Done { .. } | VerificationState::NotRepeated)
    );
    task.verification_deadline = None;
    if verified {
        task.verification = Some(VerificationState::NotRepeated);
        return Ok(());
    }
    task.verification = None;
    if task.is_system || task.private || !ctx.routing.infra_agents {
        return Ok(());
    }
    let (need, payload) = verify_task(task);
    let worker = task.worker_id.clone().unwrap_or_default();
    let spawned = spawn(
        tx,
        ctx,
        SystemTaskType::VerifyCompletion,
        need,
        &payload,
        ctx.cfg.verify_credits,
        About::Task(&task.id),
        &task.poster_id,
        &[&task.poster_id, &worker],
    )
    .await?;
    if spawned.is_some() {
        task.system_work = true;
        task.verification = Some(VerificationState::Pending);
        task.verification_deadline = Some(ctx.now + ctx.cfg.verification_timeout_seconds * 1000);
    }
    Ok(())
}

/// Asks an infra agent (not the agent itself) for capability tags after good_at changed, at
/// the agent's cost and at most once a day (a later change keeps the tags it has until the
/// next change after that). An extraction still open for the old description is withdrawn.
pub async fn request_capabilities(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    agent: &Agent,
) -> Result<()> {
    cancel_about(tx, ctx, &agent.id).await?;
    let Some(good_at) = agent.good_at.as_deref().filter(|g| !g.trim().is_empty()) else {
        return Ok(());
    };
    if !ctx.routing.infra_agents || tx.extracted_since(&agent.id, ctx.now - DAY).await? {
        return Ok(());
    }
    let (need, payload) = extract_task(&agent.id, good_at, ctx.cfg.max_extracted_tags);
    spawn(
        tx,
        ctx,
        SystemTaskType::ExtractCapabilities,
        need,
        &payload,
        ctx.cfg.capability_extract_credits,
        About::Agent(&agent.id),
        &agent.id,
        &[&agent.id],
    )
    .await?;
    Ok(())
}

/// Withdraws the open system tasks about a task or agent (its work is no longer wanted, so a
/// late result is refused and unpaid) and returns their escrow to whoever funded them: spent
/// system work is never refunded, unspent work always is.
pub async fn cancel_about(tx: &mut Transaction<'_>, ctx: &Ctx, subject: &str) -> Result<()> {
    for mut task in tx.open_system_tasks_about(subject).await? {
        let prior = task.clone();
        task.close(TaskStatus::Cancelled);
        if tx
            .save_task(&task, prior.status, prior.worker_id.as_deref())
            .await?
        {
            credits::refund(tx, ctx, &task).await?;
        }
    }
    Ok(())
}

/// The delivery is leaving review (approved, rejected): a verification still pending is moot.
pub async fn end_verification(tx: &mut Transaction<'_>, ctx: &Ctx, task: &mut Task) -> Result<()> {
    if task.verification == Some(VerificationState::Pending) {
        task.verification = None;
        task.verification_deadline = None;
        cancel_about(tx, ctx, &task.id).await?;
    }
    Ok(())
}

/// Applies an infra agent's result to what the system task is about. A malformed result is a
/// 400 and changes nothing; a result for work no longer wanted is a 409.
pub async fn apply_result(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    system_task: &Task,
    result: &str,
) -> Result<()> {
    let payload = system_task.system_payload.as_deref().unwrap_or("null");
    let stale = || Error::conflict("The task this work was for no longer needs it");
    let kind = system_task
        .system_task_type
        .ok_or_else(|| Error::Inconsistent("system task without a type".into()))?;
    let parent_id = system_task.parent_task_id.as_deref().unwrap_or_default();
    let payload_error =
        |e: serde_json::Error| Error::Inconsistent(format!("bad system payload: {e}"));
    match kind {
        SystemTaskType::MatchAgents => {
            let payload: MatchPayload = serde_json::from_str(payload).map_err(payload_error)?;
            let result = parse_match(result, &payload)?;
            let mut task = tx.task(parent_id).await?.ok_or_else(stale)?;
            if task.status != TaskStatus::Posted || task.match_status != MatchStatus::Pending {
                return Err(stale());
            }
            let prior = task.clone();
            if !result.extracted_tags.is_empty() {
                task.extracted_tags = Some(result.extracted_tags);
            }
            if result.ranked_agents.is_empty() {
                task.match_status = MatchStatus::Broadcast;
                task.match_deadline = None;
            } else {
                tx.insert_matches(&task.id, &result.ranked_agents).await?;
                task.match_status = MatchStatus::Matched;
                task.match_deadline = Some(ctx.now + ctx.cfg.match_timeout_seconds * 1000);
            }
            super::tasks::commit(tx, ctx, &task, &prior).await
        }
        SystemTaskType::VerifyCompletion => {
            let payload: VerifyPayload = serde_json::from_str(payload).map_err(payload_error)?;
            let verdict = parse_verdict(result)?;
            let mut task = tx.task(parent_id).await?.ok_or_else(stale)?;
            let current = task.status == TaskStatus::Delivered
                && task.verification == Some(VerificationState::Pending)
                && task.result.as_deref() == Some(payload.result.as_str());
            if !current {
                return Err(stale());
            }
            let prior = task.clone();
            task.verification = Some(VerificationState::Done {
                meets_requirements: verdict.meets_requirements,
                explanation: verdict.explanation,
            });
            task.verification_deadline = None;
            super::tasks::commit(tx, ctx, &task, &prior).await
        }
        SystemTaskType::ExtractCapabilities => {
            let payload: ExtractPayload = serde_json::from_str(payload).map_err(payload_error)?;
            let tags = parse_capabilities(result, &payload)?;
            let mut agent = tx.agent(&payload.agent_id).await?.ok_or_else(stale)?;
            if agent.good_at.as_deref() != Some(payload.good_at.as_str()) {
                return Err(stale());
            }
            agent.capability_tags = Some(tags);
            Ok(tx.save_agent_profile(&agent).await?)
        }
    }
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
                matches!(parse_match(bad, &payload()), Err(Error::Invalid(_))),
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
