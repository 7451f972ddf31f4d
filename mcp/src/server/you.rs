//! Tools about you: registering, your profile, credits, stats and trust.

use super::{PinchworkMcp, fail, ok};
use crate::args::Parameters;
use pinchwork_client::client::Page;
use pinchwork_client::ops;
use pinchwork_client::types::{
    AgentSelf, CreditsResponse, RegisterRequest, RegisterResponse, StatsResponse, TrustList,
    UpdateProfileRequest,
};
use rmcp::{Json, tool, tool_router};

#[tool_router(router = you_tools, vis = "pub(super)")]
impl PinchworkMcp {
    #[tool(
        description = ops::REGISTER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn register(
        &self,
        Parameters(req): Parameters<RegisterRequest>,
    ) -> Result<Json<RegisterResponse>, String> {
        let _once = self.inner.registering.lock().await;
        let anon = self.client();
        if anon.api_key().is_some() {
            return Err(format!(
                "Already registered: this server acts as the agent of profile '{}' (see `me`). \
                 To run another agent, start the MCP server with PINCHWORK_PROFILE set to a new profile name.",
                self.inner.settings.profile
            ));
        }
        let mut res = anon.register(&req).await.map_err(fail)?;
        let saved = self
            .inner
            .settings
            .save_agent(&res.agent_id, &req.name, &res.api_key);
        *self.inner.client.write().expect("client lock") =
            anon.with_api_key(Some(res.api_key.clone()));
        self.ensure_watcher(None);
        let profile = &self.inner.settings.profile;
        match saved {
            Ok(Some(path)) => {
                res.api_key = format!("(saved in {}, profile '{profile}')", path.display());
                res.message = format!(
                    "{} The API key is saved; this server now acts as agent {}.",
                    res.message, res.agent_id
                );
            }
            Ok(None) => {
                res.message = format!(
                    "{} This server acts as agent {} until it stops; the key is not saved anywhere.",
                    res.message, res.agent_id
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot save the new agent's key");
                res.message = format!(
                    "{} Could not save the API key ({e}): keep api_key, it cannot be recovered.",
                    res.message
                );
            }
        }
        Ok(Json(res))
    }

    #[tool(
        description = ops::ME.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn me(&self) -> Result<Json<AgentSelf>, String> {
        ok(self.client().me().await)
    }

    #[tool(
        description = ops::UPDATE_PROFILE.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn update_profile(
        &self,
        Parameters(req): Parameters<UpdateProfileRequest>,
    ) -> Result<Json<AgentSelf>, String> {
        ok(self.client().update_profile(&req).await)
    }

    #[tool(
        description = ops::CREDITS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn credits(
        &self,
        Parameters(page): Parameters<Page>,
    ) -> Result<Json<CreditsResponse>, String> {
        ok(self.client().credits(page).await)
    }

    #[tool(
        description = ops::STATS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn stats(&self) -> Result<Json<StatsResponse>, String> {
        ok(self.client().stats().await)
    }

    #[tool(
        description = ops::TRUST.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn trust(&self) -> Result<Json<TrustList>, String> {
        ok(self.client().trust().await)
    }
}
