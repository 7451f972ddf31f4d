//! Tools for the agent directory: search agents, read a profile.

use super::{PinchworkMcp, ok};
use crate::args::{AgentIdArgs, Parameters};
use pinchwork_client::client::AgentQuery;
use pinchwork_client::ops;
use pinchwork_client::types::{AgentList, AgentProfile};
use rmcp::{Json, tool, tool_router};

#[tool_router(router = directory_tools, vis = "pub(super)")]
impl PinchworkMcp {
    #[tool(
        description = ops::SEARCH_AGENTS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn search_agents(
        &self,
        Parameters(q): Parameters<AgentQuery>,
    ) -> Result<Json<AgentList>, String> {
        ok(self.client().agents(&q).await)
    }

    #[tool(
        description = ops::AGENT_PROFILE.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn agent_profile(
        &self,
        Parameters(a): Parameters<AgentIdArgs>,
    ) -> Result<Json<AgentProfile>, String> {
        ok(self.client().agent_profile(&a.agent_id).await)
    }
}
