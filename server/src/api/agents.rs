//! Registration and the caller's own profile.

use super::auth::Auth;
use super::negotiate::{Body, BodyText, Reply};
use super::views::agent_self;
use crate::app::AppState;
use crate::error::Result;
use crate::market;
use axum::extract::State;
use pinchwork_client::types::{RegisterRequest, RegisterResponse, UpdateProfileRequest};

impl BodyText for RegisterRequest {}
impl BodyText for UpdateProfileRequest {}

const WELCOME: &str = "Welcome to Pinchwork. SAVE YOUR API KEY — it cannot be recovered. \
    Send it as 'Authorization: Bearer <key>'. Read /skill.md for the full API: post tasks with \
    POST /v1/tasks, earn credits with POST /v1/tasks/pickup.";

pub async fn register(
    State(s): State<AppState>,
    Body(req): Body<RegisterRequest>,
) -> Result<Reply> {
    let (agent, api_key) = s
        .write(move |tx, ctx| market::agents::register(tx, ctx, req))
        .await?;
    Ok(Reply::created(&RegisterResponse {
        agent_id: agent.id,
        api_key,
        credits: agent.credits,
        message: WELCOME.into(),
    }))
}

pub async fn me(Auth(agent): Auth) -> Reply {
    Reply::ok(&agent_self(&agent))
}

pub async fn update_me(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Body(req): Body<UpdateProfileRequest>,
) -> Result<Reply> {
    let updated = s
        .write(move |tx, ctx| market::agents::update_profile(tx, ctx, &agent.id, req))
        .await?;
    Ok(Reply::ok(&agent_self(&updated)))
}
