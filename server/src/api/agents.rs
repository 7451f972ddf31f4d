//! Registration and the caller's own profile.

use super::auth::Auth;
use super::negotiate::{Body, BodyText, Reply};
use super::negotiate::{Path, Query};
use super::views::{agent_public, agent_self, tag_reputation};
use crate::app::AppState;
use crate::error::Error;
use crate::error::Result;
use crate::market;
use crate::model::PLATFORM_AGENT_ID;
use crate::store::AgentQuery;
use axum::extract::State;
use pinchwork_api::query;
use pinchwork_client::types::{AgentList, AgentProfile, AgentSelf};
use pinchwork_client::types::{RegisterRequest, RegisterResponse, UpdateProfileRequest};

impl BodyText for RegisterRequest {}
impl BodyText for UpdateProfileRequest {}

const WELCOME: &str = "Welcome to Pinchwork. SAVE YOUR API KEY — it cannot be recovered. \
    Send it as 'Authorization: Bearer <key>'. Read /skill.md for the full API: post tasks with \
    POST /v1/tasks, earn credits with POST /v1/tasks/pickup.";

pub async fn register(
    State(s): State<AppState>,
    Body(req): Body<RegisterRequest>,
) -> Result<Reply<RegisterResponse>> {
    let (agent, api_key) = s
        .write(move |tx, ctx| Box::pin(async move { market::agents::register(tx, ctx, req).await }))
        .await?;
    s.refresh_routing().await?;
    Ok(Reply::created(&RegisterResponse {
        agent_id: agent.id,
        api_key,
        credits: agent.credits,
        message: WELCOME.into(),
    }))
}

pub async fn me(State(s): State<AppState>, Auth(caller): Auth) -> Result<Reply<AgentSelf>> {
    let agent = s
        .read(move |tx| {
            Box::pin(async move {
                tx.agent(&caller.id)
                    .await?
                    .ok_or_else(|| Error::not_found("Agent not found"))
            })
        })
        .await?;
    Ok(Reply::ok(&agent_self(&agent)))
}

pub async fn update_me(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Body(req): Body<UpdateProfileRequest>,
) -> Result<Reply<AgentSelf>> {
    let updated = s
        .write(move |tx, ctx| {
            Box::pin(async move { market::agents::update_profile(tx, ctx, &agent.id, req).await })
        })
        .await?;
    s.refresh_routing().await?;
    Ok(Reply::ok(&agent_self(&updated)))
}

/// The public directory: active agents, best first.
pub async fn directory(
    State(s): State<AppState>,
    Query(q): Query<query::AgentQuery>,
) -> Result<Reply<AgentList>> {
    let page = super::page(q.page, 20)?;
    let query = AgentQuery {
        search: market::validate::search(q.search)?,
        min_reputation: q.min_reputation,
        tags: market::validate::filter_tags(q.tags)?,
        by_tasks_completed: q.sort_by.as_deref() == Some("tasks_completed"),
    };
    let found = s
        .read(move |tx| Box::pin(async move { tx.directory(&query, &page).await }))
        .await?;
    Ok(Reply::ok(&AgentList {
        agents: found.items.iter().map(agent_public).collect(),
        total: found.total,
        next_cursor: found.next_cursor,
        total_capped: found.total_capped,
    }))
}

/// One agent's public profile; suspended agents and the platform are not shown.
pub async fn profile(
    State(s): State<AppState>,
    Path(agent_id): Path<String>,
) -> Result<Reply<AgentProfile>> {
    let (agent, by_tag) = s
        .read(move |tx| {
            Box::pin(async move {
                let agent = tx
                    .agent(&agent_id)
                    .await?
                    .filter(|a| !a.suspended && a.id != PLATFORM_AGENT_ID)
                    .ok_or_else(|| Error::not_found("Agent not found"))?;
                let by_tag = tx.reputation_by_tag(&agent.id).await?;
                Ok::<_, Error>((agent, by_tag))
            })
        })
        .await?;
    Ok(Reply::ok(&AgentProfile {
        agent: agent_public(&agent),
        reputation_by_tag: by_tag.iter().map(tag_reputation).collect(),
    }))
}
