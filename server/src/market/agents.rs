//! Agents: registration, authentication and profile changes.

use super::error::{Error, Result};
use super::{Ctx, credits, system_tasks, validate};
use crate::ids::{key_digest, new_api_key, new_id};
use crate::model::{Agent, MINT_ACCOUNT, PLATFORM_AGENT_ID};
use crate::store::{SessionKey, Transaction};
use pinchwork_client::types::{
    GrantRequest, RegisterRequest, SuspendRequest, UpdateProfileRequest,
};

/// Creates the platform account on first start (it has no key, so it can never log in). It
/// starts empty: nothing is minted for it, it holds only the fees it earns and what the
/// operator grants it.
pub async fn ensure_platform(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<()> {
    // Nodes starting together may race to create it: one does, the others find it there.
    tx.insert_agent(&Agent::blank(
        PLATFORM_AGENT_ID.into(),
        "platform".into(),
        ctx.now,
    ))
    .await?;
    Ok(())
}

/// The length limits of the profile fields an agent sets at registration or later.
fn profile_limits(good_at: Option<&str>, webhook_secret: Option<&str>) -> Result<()> {
    validate::optional_text("good_at", good_at, validate::MAX_GOOD_AT)?;
    validate::optional_text(
        "webhook_secret",
        webhook_secret,
        validate::MAX_WEBHOOK_SECRET,
    )
}

/// A new agent with its sign-up credits; returns it with its API key (shown only this once).
pub async fn register(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    req: RegisterRequest,
) -> Result<(Agent, String)> {
    let name = validate::required_text("name", Some(&req.name), validate::MAX_NAME)?;
    profile_limits(req.good_at.as_deref(), req.webhook_secret.as_deref())?;
    let webhook_url = req.webhook_url.filter(|u| !u.is_empty());
    if let Some(url) = &webhook_url {
        validate::webhook_url(url, ctx.cfg.webhook_allow_insecure)?;
    }
    let key = new_api_key();
    let mut agent = Agent::blank(new_id("ag"), name, ctx.now);
    agent.key_digest = key_digest(&key);
    agent.good_at = req.good_at;
    agent.accepts_system_tasks = req.accepts_system_tasks.unwrap_or(false);
    agent.webhook_url = webhook_url;
    agent.webhook_secret = req.webhook_secret.filter(|s| !s.is_empty());
    if !tx.insert_agent(&agent).await? {
        return Err(Error::Inconsistent(format!(
            "agent id {} is taken",
            agent.id
        )));
    }
    let bonus = ctx.cfg.initial_credits;
    credits::transfer(
        tx,
        ctx,
        MINT_ACCOUNT,
        &agent.id,
        bonus,
        credits::reason::SIGNUP_BONUS,
        None,
    )
    .await?;
    // After the bonus: the agent pays for the extraction of its capabilities.
    system_tasks::request_capabilities(tx, ctx, &agent).await?;
    let agent = tx
        .agent(&agent.id)
        .await?
        .expect("the agent was just created");
    Ok((agent, key))
}

/// The agent whose API key has this digest: 401 when unknown, 403 when suspended.
pub async fn authenticate(tx: &mut Transaction<'_>, digest: &[u8]) -> Result<Agent> {
    let agent = tx
        .agent_by_key_digest(digest)
        .await?
        .ok_or_else(|| Error::Unauthenticated("Invalid API key".into()))?;
    if agent.suspended {
        return Err(Error::forbidden("Agent suspended"));
    }
    Ok(agent)
}

/// Applies the given profile fields; an empty `webhook_url` removes the webhook.
pub async fn update_profile(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    agent_id: &str,
    req: UpdateProfileRequest,
) -> Result<Agent> {
    profile_limits(req.good_at.as_deref(), req.webhook_secret.as_deref())?;
    let mut agent = tx
        .agent(agent_id)
        .await?
        .ok_or_else(|| Error::not_found("Agent not found"))?;
    if let Some(url) = req.webhook_url {
        if url.is_empty() {
            agent.webhook_url = None;
        } else {
            validate::webhook_url(&url, ctx.cfg.webhook_allow_insecure)?;
            agent.webhook_url = Some(url);
        }
    }
    if let Some(secret) = req.webhook_secret {
        agent.webhook_secret = Some(secret).filter(|s| !s.is_empty());
    }
    // Capability extraction runs once per change of good_at, not on every update.
    let good_at_changed = req.good_at.is_some() && req.good_at != agent.good_at;
    if let Some(good_at) = req.good_at {
        agent.good_at = Some(good_at);
    }
    if let Some(accepts) = req.accepts_system_tasks {
        agent.accepts_system_tasks = accepts;
    }
    tx.save_agent_profile(&agent).await?;
    if good_at_changed {
        system_tasks::request_capabilities(tx, ctx, &agent).await?;
    }
    Ok(agent)
}

/// Admin: adds credits to an agent, minted and recorded under `reason`. Granting to the
/// platform account (`ag-platform`) funds subsidised system work.
pub async fn grant(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    req: GrantRequest,
) -> Result<(Agent, i64, String)> {
    let agent_id = req
        .agent_id
        .ok_or_else(|| Error::invalid("Missing required field: agent_id"))?;
    let Some(amount) = validate::in_range("amount", req.amount, 1, 1_000_000_000)? else {
        return Err(Error::invalid("Missing required field: amount"));
    };
    let reason = req
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or(credits::reason::ADMIN_GRANT.into());
    validate::max_chars("reason", &reason, validate::MAX_REASON)?;
    let agent = tx
        .agent(&agent_id)
        .await?
        .ok_or_else(|| Error::not_found("Agent not found"))?;
    credits::transfer(tx, ctx, MINT_ACCOUNT, &agent.id, amount, &reason, None).await?;
    let agent = tx
        .agent(&agent_id)
        .await?
        .expect("the agent was just credited");
    Ok((agent, amount, reason))
}

/// Admin: suspends or reinstates an agent. A suspended agent gets 403 on every
/// authenticated request and disappears from the directory; its tasks are untouched.
pub async fn suspend(tx: &mut Transaction<'_>, req: &SuspendRequest) -> Result<Agent> {
    let agent_id = req
        .agent_id
        .as_deref()
        .ok_or_else(|| Error::invalid("Missing required field: agent_id"))?;
    let suspended = req
        .suspended
        .ok_or_else(|| Error::invalid("Missing required field: suspended"))?;
    validate::optional_text("reason", req.reason.as_deref(), validate::MAX_REASON)?;
    let mut agent = tx
        .agent(agent_id)
        .await?
        .filter(|a| a.id != PLATFORM_AGENT_ID)
        .ok_or_else(|| Error::not_found("Agent not found"))?;
    agent.suspended = suspended;
    tx.save_agent_profile(&agent).await?;
    if suspended {
        // Its owner's web sessions end with it.
        tx.end_web_sessions(SessionKey::Subject, &agent.id).await?;
    }
    Ok(agent)
}
