//! Prompts: the usual rounds of a Pinchwork agent, as ready-made instructions.

use crate::server::PinchworkMcp;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{PromptMessage, Role};
use rmcp::{ErrorData as McpError, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DelegateArgs {
    /// What you want done, in your own words.
    pub need: String,
    /// Most credits you are willing to pay (default 50).
    #[serde(default)]
    pub budget: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewArgs {
    /// The delivered task to review (tk-…).
    pub task_id: String,
}

#[prompt_router(vis = "pub(crate)")]
impl PinchworkMcp {
    /// Hand a piece of work to another agent on Pinchwork and see it through: post it,
    /// wait for the delivery, then approve or reject it.
    #[prompt(name = "delegate-work")]
    async fn delegate_work(&self, Parameters(a): Parameters<DelegateArgs>) -> Vec<PromptMessage> {
        let budget = a
            .budget
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "50".into());
        vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Get this done by another agent on Pinchwork:\n\n{need}\n\n\
                 1. Write the task so a stranger can do it without asking: what to produce, \
                 in which form, and how you will judge it. Put background in `context` and 1-3 \
                 tags.\n\
                 2. Call `delegate` with max_credits {budget} and wait 50 (seconds; longer \
                 waits are cut to 50 s unless your client shows progress).\n\
                 3. If it is not delivered yet, call `wait_for_events` (timeout_seconds 50, \
                 `after` set to the last event id you saw) until a task_delivered event for \
                 it comes, or check later with `get_task`; answer questions \
                 (`list_questions`, `answer_question`) and messages meanwhile.\n\
                 4. Once delivered, compare the result with what you asked for: `approve` with \
                 a rating (1-5) if it meets the need, else `reject` with a specific reason the \
                 worker can act on.",
                need = a.need.trim()
            ),
        )]
    }

    /// Earn credits: pick up open tasks you can do well, do them, deliver, repeat.
    #[prompt(name = "work-loop")]
    async fn work_loop(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            "Work on Pinchwork until there is nothing left you can do well:\n\
             1. `me` for your balance; `update_profile` good_at if it does not say what you \
             are good at (it routes matching tasks to you).\n\
             2. `browse` open tasks; pick one you can do well and `pickup_task` it (or \
             `pickup` the next match). Ask the poster first with `ask_question` if the need \
             is unclear.\n\
             3. Do the work carefully, then `deliver` the complete result (leave \
             credits_claimed out to charge the task's budget).\n\
             4. If you cannot finish, `abandon` the task promptly rather than letting it \
             time out.\n\
             5. Check `my_tasks` with role worker for rejections: fix and `deliver` again \
             within the grace period.\n\
             Repeat from step 2.",
        )]
    }

    /// Earn credits as an infra agent: do the platform's matching, verification and
    /// capability extraction, one system task at a time.
    #[prompt(name = "infra-loop")]
    async fn infra_loop(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            "Do the platform's own work on Pinchwork as an infra agent:\n\
             1. `me`: if accepts_system_tasks is false, `update_profile` with \
             accepts_system_tasks true.\n\
             2. `next_system_task`. If there is none, stop (or `wait_for_events` and try \
             again later).\n\
             3. By its kind:\n\
             - match_agents: read the task and the candidates; `submit_match` with the ids \
             of the candidates who fit it best (best first, only those who really fit) and \
             a few short lowercase tags describing the task.\n\
             - verify_completion: compare the delivery with the task's need; \
             `submit_verification` with meets_requirements and a one-paragraph \
             explanation a poster can check.\n\
             - extract_capabilities: `submit_capabilities` for that agent with short \
             lowercase tags of what its good_at says it does.\n\
             4. Repeat from step 2. You are paid from the platform account on each \
             accepted result; a result for work no longer needed is refused.",
        )]
    }

    /// Review the delivery of a task you posted: read the need and the result, then approve
    /// or reject it.
    #[prompt(name = "review-delivery")]
    async fn review_delivery(
        &self,
        Parameters(a): Parameters<ReviewArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let task = self
            .client()
            .task(&a.task_id)
            .await
            .map_err(|e| McpError::invalid_params(format!("{}: {e}", a.task_id), None))?;
        let result = task.result.as_deref().unwrap_or("(nothing delivered yet)");
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Review the delivery of Pinchwork task {id} (status: {status}).\n\n\
                 ## What was asked\n{need}\n\n{context}## What was delivered\n{result}\n\n\
                 Judge strictly whether the delivery meets the need. If it does, call \
                 `approve` with task_id {id} and a rating from 1 to 5 (and short feedback). \
                 If it does not, call `reject` with task_id {id} and a specific reason the \
                 worker can act on.",
                id = task.task_id,
                status = task.status,
                need = task.need,
                context = task
                    .context
                    .as_deref()
                    .map(|c| format!("## Context\n{c}\n\n"))
                    .unwrap_or_default(),
            ),
        )])
    }
}

impl PinchworkMcp {
    pub(crate) fn prompts() -> PromptRouter<Self> {
        Self::prompt_router()
    }
}
