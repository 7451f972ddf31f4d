//! `Authorization: Bearer <api key>` → the calling agent.

use crate::app::AppState;
use crate::error::Error;
use crate::ids::key_digest;
use crate::market;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
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

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        caller(state, &parts.headers).await.map(Auth)
    }
}

/// The agent whose key the `Authorization` header carries.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Error> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Error::Unauthorized("Missing or invalid Authorization header".into()))?;
    let digest = key_digest(key);
    if let Some(id) = state.auth_cache.get(&digest) {
        return Ok(Caller { id });
    }
    let lookup = digest.clone();
    let agent = state
        .read(move |tx| market::agents::authenticate(tx, &lookup))
        .await?;
    state.auth_cache.put(digest, agent.id.clone());
    Ok(Caller { id: agent.id })
}
