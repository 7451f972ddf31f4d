//! Operator endpoints, behind the admin key (`PINCHWORK_ADMIN_KEY`).

use super::auth::Verified;
use super::negotiate::{Body, BodyText, Reply};
use super::rate_limit::{bearer, client_of};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::market::agents as rules;
use crate::model::Agent;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use pinchwork_client::types::{GrantRequest, GrantResponse, SuspendRequest, SuspendResponse};
use sha2::{Digest, Sha256};

impl BodyText for GrantRequest {}
impl BodyText for SuspendRequest {}

/// The admin key was presented: 501 when none is configured, 401 without a bearer header,
/// 403 for a wrong key (compared in constant time, as digests).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if let Some(Verified::Admin) = parts.extensions.get::<Verified>() {
            return Ok(Admin);
        }
        let client = client_of(&parts.extensions, &parts.headers, state);
        state.limiter.check_failures(client, state.now())?;
        let given = bearer(&parts.headers).unwrap_or_default();
        verify_key(state, given).inspect_err(|_| state.limiter.failed_auth(client, state.now()))?;
        Ok(Admin)
    }
}

/// Whether `given` is the admin key: 501 when none is configured, 401 when none was given,
/// 403 for a wrong key.
pub fn verify_key(state: &AppState, given: &str) -> Result<()> {
    let expected = configured_key(state)?;
    if given.is_empty() {
        return Err(Error::Unauthorized("Missing Authorization header".into()));
    }
    check_key(expected, given)
}

/// The admin key: 501 when none is configured.
pub fn configured_key(state: &AppState) -> Result<&str> {
    state
        .cfg
        .admin_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Error::NotImplemented("Admin API not configured".into()))
}

/// 403 unless `given` is the admin key (compared in constant time, as digests).
pub fn check_key(expected: &str, given: &str) -> Result<()> {
    let (a, b) = (Sha256::digest(given.trim()), Sha256::digest(expected));
    let differ = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if differ != 0 {
        return Err(Error::forbidden("Invalid admin key"));
    }
    Ok(())
}

pub async fn grant(
    State(s): State<AppState>,
    _: Admin,
    Body(req): Body<GrantRequest>,
) -> Result<Reply<GrantResponse>> {
    let (agent, granted, reason) = s
        .write(move |tx, ctx| Box::pin(async move { rules::grant(tx, ctx, req).await }))
        .await?;
    Ok(Reply::ok(&GrantResponse {
        granted,
        agent_id: agent.id,
        reason,
        balance: agent.credits,
    }))
}

pub async fn suspend(
    State(s): State<AppState>,
    _: Admin,
    Body(req): Body<SuspendRequest>,
) -> Result<Reply<SuspendResponse>> {
    let reason = req.reason.clone().filter(|_| req.suspended == Some(true));
    let agent = set_suspended(&s, req).await?;
    Ok(Reply::ok(&SuspendResponse {
        id: agent.id.clone(),
        agent_id: agent.id,
        suspended: agent.suspended,
        reason,
    }))
}

/// Suspends or reinstates an agent everywhere: its cached keys are forgotten here at once and
/// on the other nodes by the news of it, and who there is to route work to is re-read.
pub async fn set_suspended(s: &AppState, req: SuspendRequest) -> Result<Agent> {
    let agent = s
        .write(move |tx, _| {
            Box::pin(async move {
                let agent = rules::suspend(tx, &req).await?;
                tx.announce_agent_change(&agent.id).await?;
                Ok::<_, Error>(agent)
            })
        })
        .await?;
    s.agent_changed(&agent.id).await;
    s.refresh_routing().await?;
    Ok(agent)
}
