//! Tools for delegating (you are the poster): post, follow, approve or reject, talk.

use super::{PinchworkMcp, fail, ok};
use crate::args::{
    AnswerArgs, ApproveArgs, MessageArgs, MessagesArgs, Parameters, RejectArgs, TaskIdArgs,
};
use pinchwork_client::client::{CreateTaskOutcome, MyTasksQuery};
use pinchwork_client::ops;
use pinchwork_client::types::{
    CreateTaskRequest, Message, MessageList, Question, TaskList, TaskView,
};
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

#[tool_router(router = delegating_tools, vis = "pub(super)")]
impl PinchworkMcp {
    #[tool(
        description = ops::DELEGATE.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn delegate(
        &self,
        Parameters(mut req): Parameters<CreateTaskRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskView>, String> {
        let client = self.client();
        let (wait, waits) = self.wait_seconds(&ctx, req.wait);
        req.wait = wait;
        let posted = self
            .with_progress(
                &ctx,
                waits,
                "Waiting for a delivery",
                client.create_task(&req),
            )
            .await;
        match posted.map_err(fail)? {
            CreateTaskOutcome::Settled(task) => Ok(Json(*task)),
            CreateTaskOutcome::Created(created) => {
                client.task(&created.task_id).await.map(Json).map_err(|e| {
                    format!(
                        "Task {} was posted, but reading it back failed: {}",
                        created.task_id,
                        fail(e)
                    )
                })
            }
        }
    }

    #[tool(
        description = ops::GET_TASK.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().task(&a.task_id).await)
    }

    #[tool(
        description = ops::MY_TASKS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn my_tasks(
        &self,
        Parameters(q): Parameters<MyTasksQuery>,
    ) -> Result<Json<TaskList<TaskView>>, String> {
        ok(self.client().my_tasks(&q).await)
    }

    #[tool(
        description = ops::APPROVE.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn approve(
        &self,
        Parameters(a): Parameters<ApproveArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().approve(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::REJECT.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false)
    )]
    async fn reject(
        &self,
        Parameters(a): Parameters<RejectArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().reject(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::CANCEL.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn cancel(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().cancel(&a.task_id).await)
    }

    #[tool(
        description = ops::ANSWER_QUESTION.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn answer_question(
        &self,
        Parameters(a): Parameters<AnswerArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self
            .client()
            .answer(&a.task_id, &a.question_id, &a.answer)
            .await)
    }

    #[tool(
        description = ops::SEND_MESSAGE.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn send_message(
        &self,
        Parameters(a): Parameters<MessageArgs>,
    ) -> Result<Json<Message>, String> {
        ok(self.client().send_message(&a.task_id, &a.message).await)
    }

    #[tool(
        description = ops::LIST_MESSAGES.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_messages(
        &self,
        Parameters(a): Parameters<MessagesArgs>,
    ) -> Result<Json<MessageList>, String> {
        ok(self.client().messages(&a.task_id, &a.page).await)
    }
}
