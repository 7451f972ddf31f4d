//! Tools for infra agents (accepts_system_tasks): take system tasks and answer them, typed.

use super::{PinchworkMcp, fail, ok};
use crate::args::{
    NextSystemTask, Parameters, SubmitCapabilitiesArgs, SubmitMatchArgs, SubmitVerificationArgs,
    SystemTask, SystemWork,
};
use pinchwork_client::client::PickupQuery;
use pinchwork_client::types::{DeliverRequest, TaskView};
use pinchwork_client::validate;
use rmcp::{Json, tool, tool_router};

#[tool_router(router = infra_tools, vis = "pub(super)")]
impl PinchworkMcp {
    /// Deliver a `match_agents` system task (picked up like any task; its system_payload
    /// is a MatchPayload): the candidate agent ids best suited to the task, best first, and
    /// short lowercase tags for the task. Paid by the platform on delivery.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_match(
        &self,
        Parameters(a): Parameters<SubmitMatchArgs>,
    ) -> Result<Json<TaskView>, String> {
        let payload = match self.system_work(&a.task_id) {
            Some(SystemWork::MatchAgents(p)) => Some(p),
            _ => None,
        };
        validate::match_result(&a.result, payload.as_ref())?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Deliver a `verify_completion` system task (system_payload is a VerifyPayload): whether
    /// the delivered result meets the need, and why. Advice shown to the poster.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_verification(
        &self,
        Parameters(a): Parameters<SubmitVerificationArgs>,
    ) -> Result<Json<TaskView>, String> {
        validate::verification(&a.result)?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Deliver an `extract_capabilities` system task (system_payload is an ExtractPayload):
    /// short lowercase keyword tags for the agent's good_at (agent_id must be the payload's).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_capabilities(
        &self,
        Parameters(a): Parameters<SubmitCapabilitiesArgs>,
    ) -> Result<Json<TaskView>, String> {
        let payload = match self.system_work(&a.task_id) {
            Some(SystemWork::ExtractCapabilities(p)) => Some(p),
            _ => None,
        };
        validate::capabilities(&a.result, payload.as_ref())?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Claim the next system task waiting for infra agents (you need accepts_system_tasks:
    /// true) and get its work typed by kind: match_agents (the task and its candidates),
    /// verify_completion (the task and the delivered result) or extract_capabilities (the
    /// agent and its good_at). task is null when no system work is waiting; ordinary tasks
    /// are never claimed by this tool.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn next_system_task(&self) -> Result<Json<NextSystemTask>, String> {
        let client = self.client();
        let me = client.me().await.map_err(fail)?;
        if !me.accepts_system_tasks {
            return Err("You do not take system tasks: call update_profile with \
                        accepts_system_tasks: true first"
                .into());
        }
        // System work is handed out first whatever the filters; a tag no ordinary task
        // carries keeps the later phases from claiming one.
        let q = PickupQuery {
            tags: vec![system_only_tag()],
            ..Default::default()
        };
        let Some(item) = client.pickup(&q).await.map_err(fail)? else {
            return Ok(Json(NextSystemTask { task: None }));
        };
        let (Some(kind), Some(payload)) = (item.system_task_type, item.system_payload.clone())
        else {
            let _ = client.abandon(&item.task_id).await;
            return Err(format!(
                "Picked up {}, which is not a system task; it was given back",
                item.task_id
            ));
        };
        let work = SystemWork::parse(kind, payload).map_err(|e| {
            format!(
                "System task {} is claimed, but {e}; its raw payload is in get_task or pickup",
                item.task_id
            )
        })?;
        self.inner
            .system_work
            .lock()
            .expect("system work lock")
            .insert(item.task_id.clone(), work.clone());
        Ok(Json(NextSystemTask {
            task: Some(SystemTask {
                task_id: item.task_id,
                max_credits: item.max_credits,
                claim_deadline: item.claim_deadline,
                work,
            }),
        }))
    }
}

impl PinchworkMcp {
    /// Delivers a system task: its typed result, JSON-encoded as the `result` text.
    async fn deliver_system<R: serde::Serialize>(
        &self,
        task_id: &str,
        result: &R,
    ) -> Result<Json<TaskView>, String> {
        let req = DeliverRequest {
            result: Some(serde_json::to_string(result).map_err(|e| e.to_string())?),
            credits_claimed: None,
        };
        ok(self.client().deliver(task_id, &req).await)
    }

    /// The payload this session handed out with system task `task_id`, if any.
    fn system_work(&self, task_id: &str) -> Option<SystemWork> {
        self.inner
            .system_work
            .lock()
            .expect("system work lock")
            .get(task_id)
            .cloned()
    }
}

/// A tag no ordinary task carries (for next_system_task's pickup).
fn system_only_tag() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("pinchwork-system-only-{:016x}", h.finish())
}
