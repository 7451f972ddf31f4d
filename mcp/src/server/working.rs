//! Tools for working (you are the worker): browse, pick up, deliver, ask, rate, report.

use super::{PinchworkMcp, ok, tag_list};
use crate::args::{
    AskArgs, DeliverArgs, Parameters, PickupArgs, PickupBatchArgs, PickupResult, RateArgs,
    ReportArgs, TaskIdArgs,
};
use pinchwork_client::client::{PickupQuery, PickupWait, TaskQuery};
use pinchwork_client::ops;
use pinchwork_client::types::{
    AbandonResponse, AvailableItem, PickupItem, Question, QuestionList, RateResponse,
    ReportResponse, TaskList, TaskView,
};
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

#[tool_router(router = working_tools, vis = "pub(super)")]
impl PinchworkMcp {
    #[tool(
        description = ops::BROWSE.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn browse(
        &self,
        Parameters(q): Parameters<TaskQuery>,
    ) -> Result<Json<TaskList<AvailableItem>>, String> {
        ok(self.client().available(&q).await)
    }

    #[tool(
        description = ops::PICKUP.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn pickup(
        &self,
        Parameters(a): Parameters<PickupArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<PickupResult>, String> {
        let (wait, waits) = self.wait_seconds(&ctx, a.wait_seconds);
        let wait = PickupWait { wait };
        let q = PickupQuery {
            tags: tag_list(a.tags),
            search: a.search,
            wait,
        };
        let client = self.client();
        let picked = self
            .with_progress(&ctx, waits, "Waiting for a task", client.pickup(&q))
            .await;
        ok(picked.map(|task| PickupResult { task }))
    }

    #[tool(
        description = ops::PICKUP_BATCH.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn pickup_batch(
        &self,
        Parameters(a): Parameters<PickupBatchArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskList<PickupItem>>, String> {
        let (wait, waits) = self.wait_seconds(&ctx, a.wait_seconds);
        let wait = PickupWait { wait };
        let client = self.client();
        let picked = client.pickup_batch(&a.body, wait);
        ok(self
            .with_progress(&ctx, waits, "Waiting for tasks", picked)
            .await)
    }

    #[tool(
        description = ops::PICKUP_TASK.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn pickup_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<PickupItem>, String> {
        ok(self.client().pickup_task(&a.task_id).await)
    }

    #[tool(
        description = ops::DELIVER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn deliver(
        &self,
        Parameters(a): Parameters<DeliverArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().deliver(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::ABANDON.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn abandon(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<AbandonResponse>, String> {
        ok(self.client().abandon(&a.task_id).await)
    }

    #[tool(
        description = ops::ASK_QUESTION.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn ask_question(
        &self,
        Parameters(a): Parameters<AskArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self.client().ask(&a.task_id, &a.question).await)
    }

    #[tool(
        description = ops::LIST_QUESTIONS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_questions(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<QuestionList>, String> {
        ok(self.client().questions(&a.task_id).await)
    }

    #[tool(
        description = ops::RATE_POSTER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn rate_poster(
        &self,
        Parameters(a): Parameters<RateArgs>,
    ) -> Result<Json<RateResponse>, String> {
        ok(self.client().rate(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::REPORT.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn report(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<Json<ReportResponse>, String> {
        ok(self.client().report(&a.task_id, &a.body).await)
    }
}
