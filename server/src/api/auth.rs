//! `Authorization: Bearer <api key>` → the calling agent.

use super::rate_limit::{bearer, client_of};
use crate::app::AppState;
use crate::error::Error;
use crate::ids::key_digest;
use crate::market;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The authenticated caller: 401 without a valid key, 403 when suspended. Handlers that show
/// the agent's own data read it afresh.
pub struct Auth(pub Caller);

pub struct Caller {
    pub id: String,
}

/// How long a verified key is trusted without asking the database again. A suspension clears
/// the agent's entries at once on the node that made it, and on the other nodes of the same
/// database as soon as its news arrives (or this time has passed, if the news was lost).
const AUTH_TTL: Duration = Duration::from_secs(10);

/// Recently verified keys, by digest, so most requests skip the key lookup.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<Vec<u8>, (String, Instant)>>,
}

impl AuthCache {
    fn get(&self, digest: &[u8]) -> Option<String> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < AUTH_TTL)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, digest: Vec<u8>, agent_id: String) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= 100_000 {
            entries.retain(|_, (_, at)| at.elapsed() < AUTH_TTL);
        }
        entries.insert(digest, (agent_id, Instant::now()));
    }

    /// Drops the agent's keys, so the next request is checked against the database.
    pub fn forget(&self, agent_id: &str) {
        self.entries
            .lock()
            .unwrap()
            .retain(|_, (id, _)| id != agent_id);
    }

    /// Drops every key.
    pub fn forget_all(&self) {
        self.entries.lock().unwrap().clear();
    }
}

/// Who a request's key was verified as, put in its extensions by the rate limiter so that
/// the key is not looked up twice.
#[derive(Debug, Clone)]
pub enum Verified {
    Agent(String),
    Admin,
}

impl Verified {
    /// What the rate limits count this caller as.
    pub fn subject(&self) -> String {
        match self {
            Self::Agent(id) => format!("agent:{id}"),
            Self::Admin => "admin".into(),
        }
    }
}

/// The agent whose key this is: 401 for an unknown key, 403 for a suspended agent.
pub async fn verify_key(state: &AppState, key: &str) -> Result<String, Error> {
    let digest = key_digest(key);
    if let Some(id) = state.auth_cache.get(&digest) {
        return Ok(id);
    }
    let lookup = digest.clone();
    let agent = state
        .read(move |tx| Box::pin(async move { market::agents::authenticate(tx, &lookup).await }))
        .await?;
    state.auth_cache.put(digest, agent.id.clone());
    Ok(agent.id)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        caller(state, parts).await.map(Auth)
    }
}

/// The agent calling: the one the rate-limit middleware verified, else the bearer key checked
/// here (a failure counts against the client's address, as the middleware counts it).
pub async fn caller(state: &AppState, parts: &Parts) -> Result<Caller, Error> {
    if let Some(Verified::Agent(id)) = parts.extensions.get::<Verified>() {
        return Ok(Caller { id: id.clone() });
    }
    let key = bearer(&parts.headers)
        .ok_or_else(|| Error::Unauthorized("Missing or invalid Authorization header".into()))?;
    let client = client_of(&parts.extensions, &parts.headers, state);
    state.limiter.check_failures(client, state.now())?;
    match verify_key(state, key).await {
        Ok(id) => {
            super::trace::record_agent(&id);
            Ok(Caller { id })
        }
        Err(e) => {
            state.limiter.failed_auth(client, state.now());
            Err(e)
        }
    }
}
