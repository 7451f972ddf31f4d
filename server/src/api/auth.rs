//! `Authorization: Bearer <api key>` → the calling agent.

use crate::app::AppState;
use crate::error::Error;
use crate::market;
use crate::model::Agent;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

/// The authenticated agent: 401 without a valid key, 403 when suspended.
pub struct Auth(pub Agent);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::Unauthorized("Missing or invalid Authorization header".into()))?;
        state
            .read(move |tx| market::agents::authenticate(tx, &key))
            .await
            .map(Auth)
    }
}
