//! Browser sessions. Signing in with an API key (or the admin key) opens a session: a random
//! id in a `Secure; HttpOnly; SameSite=Strict` cookie, of which the database keeps only the
//! digest, with its subject and expiry. The key itself is never stored nor sent back.
//! Sessions are bounded per subject (the oldest is dropped) and in total (sign-in refused);
//! suspending an agent ends its sessions; rotating the admin key ends the operator's.
//!
//! Forms carry a CSRF token derived from the session id (HMAC), so only a page the server
//! rendered for this browser can post; the sign-in forms, before there is a session, use a
//! short-lived pre-session cookie the same way.

use super::WebError;
use crate::app::AppState;
use crate::error::Error;
use crate::market;
use crate::model::{HOUR, Millis};
use crate::store::{SessionKey, WebSession};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The owner's and the operator's cookies (`__Host-`: Secure, Path=/, this host only).
pub const OWNER_COOKIE: &str = "__Host-pinchwork-owner";
pub const OPERATOR_COOKIE: &str = "__Host-pinchwork-operator";
/// Before sign-in: ties the sign-in form to this browser.
pub const PRE_COOKIE: &str = "__Host-pinchwork-pre";

/// How long a session lasts.
pub const OWNER_TTL: Millis = 12 * HOUR;
pub const OPERATOR_TTL: Millis = 8 * HOUR;
/// Sessions per agent (and for the operator): a new one drops the oldest.
pub const PER_SUBJECT: i64 = 5;
/// Live sessions in all: beyond, sign-in is refused until some expire.
pub const TOTAL: i64 = 10_000;

/// The session id: 32 random bytes, hex.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of forms shown under this secret (session id or pre-session value).
pub fn csrf_token(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"pinchwork web form");
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given` is the token for `secret` (constant time).
fn csrf_matches(secret: &str, given: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"pinchwork web form");
    hex::decode(given.trim()).is_ok_and(|tag| mac.verify_slice(&tag).is_ok())
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| v.len() <= 128)
}

/// A `Set-Cookie` value: `max_age` seconds, 0 to delete.
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
    .expect("cookie values are hex")
}

/// Which area a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Owner,
    Operator,
}

impl Area {
    pub fn cookie(self) -> &'static str {
        match self {
            Self::Owner => OWNER_COOKIE,
            Self::Operator => OPERATOR_COOKIE,
        }
    }

    fn ttl(self) -> Millis {
        match self {
            Self::Owner => OWNER_TTL,
            Self::Operator => OPERATOR_TTL,
        }
    }

    pub fn login_path(self) -> &'static str {
        match self {
            Self::Owner => "/app/login",
            Self::Operator => "/admin/login",
        }
    }

    pub fn home(self) -> &'static str {
        match self {
            Self::Owner => "/app",
            Self::Operator => "/admin",
        }
    }
}

/// The operator's subject: tied to the admin key's digest, so a new key ends old sessions.
pub fn operator_subject(admin_key: &str) -> String {
    format!("operator:{}", &digest(admin_key)[..16])
}

/// Opens a session for `subject`; returns the cookie to set.
pub async fn open(s: &AppState, area: Area, subject: String) -> Result<HeaderValue, Error> {
    let secret = new_secret();
    let now = s.now();
    let session = WebSession {
        digest: digest(&secret),
        subject,
        created_at: now,
        expires_at: now + area.ttl(),
    };
    let opened = s
        .store
        .write(move |tx| {
            Box::pin(async move { tx.open_web_session(&session, PER_SUBJECT, TOTAL).await })
        })
        .await?;
    if !opened {
        return Err(Error::TooManyRequests {
            message: "Too many open sessions on this server; try again later".into(),
            retry_after_secs: Some(60),
        });
    }
    Ok(set_cookie(area.cookie(), &secret, area.ttl() / 1000))
}

/// Ends the session the request carries (if any); returns the cookie deletion.
pub async fn close(s: &AppState, area: Area, headers: &HeaderMap) -> Result<HeaderValue, Error> {
    if let Some(secret) = cookie(headers, area.cookie()) {
        let key = digest(secret);
        s.store
            .write(move |tx| {
                Box::pin(async move { tx.end_web_sessions(SessionKey::Digest, &key).await })
            })
            .await?;
    }
    Ok(set_cookie(area.cookie(), "", 0))
}

/// A signed-in owner: the agent's id and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Owner {
    pub agent_id: String,
    pub csrf: String,
}

/// The signed-in operator.
#[derive(Debug, Clone)]
pub struct Operator {
    pub csrf: String,
}

/// Why a page cannot be shown to this browser: not signed in (or no longer), back to the
/// area's sign-in page; or the database failed.
pub enum NotSignedIn {
    SignInFirst(Area),
    Failed(Error),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            Self::SignInFirst(area) => Redirect::to(area.login_path()).into_response(),
            Self::Failed(e) => WebError(e).into_response(),
        }
    }
}

impl From<Error> for NotSignedIn {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// What a live session's subject must still be.
enum Check {
    /// An agent in good standing.
    ActiveAgent,
    /// This one (the operator's subject under the admin key now configured).
    Is(Option<String>),
}

/// The live session of `area` the request carries: its subject and the session secret, if
/// the subject passes `check`, read in one snapshot.
async fn live(
    parts: &Parts,
    s: &AppState,
    area: Area,
    check: Check,
) -> Result<(String, String), NotSignedIn> {
    let secret = cookie(&parts.headers, area.cookie())
        .ok_or(NotSignedIn::SignInFirst(area))?
        .to_string();
    let (key, now) = (digest(&secret), s.now());
    let subject = s
        .read(move |tx| {
            Box::pin(async move {
                let Some(session) = tx.web_session(&key, now).await? else {
                    return Ok::<_, Error>(None);
                };
                let passes = match check {
                    Check::ActiveAgent => tx
                        .agent(&session.subject)
                        .await?
                        .is_some_and(|a| !a.suspended),
                    Check::Is(current) => current.as_deref() == Some(session.subject.as_str()),
                };
                Ok(passes.then_some(session.subject))
            })
        })
        .await?
        .ok_or(NotSignedIn::SignInFirst(area))?;
    Ok((subject, secret))
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, NotSignedIn> {
        // A suspended agent's sessions were ended; this also covers one suspended on a node
        // whose news has not arrived yet.
        let (agent_id, secret) = live(parts, s, Area::Owner, Check::ActiveAgent).await?;
        Ok(Owner {
            agent_id,
            csrf: csrf_token(&secret),
        })
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, NotSignedIn> {
        // Sessions opened under another admin key (or none) are over.
        let current = crate::api::admin::configured_key(s)
            .ok()
            .map(operator_subject);
        let (_, secret) = live(parts, s, Area::Operator, Check::Is(current)).await?;
        Ok(Operator {
            csrf: csrf_token(&secret),
        })
    }
}

/// A signed-in area's session, as forms check it.
pub trait Signed: FromRequestParts<AppState> {
    /// The session secret's token, from the cookie the request carries.
    fn secret_of(parts: &Parts) -> Option<&str>;
}

impl Signed for Owner {
    fn secret_of(parts: &Parts) -> Option<&str> {
        cookie(&parts.headers, OWNER_COOKIE)
    }
}

impl Signed for Operator {
    fn secret_of(parts: &Parts) -> Option<&str> {
        cookie(&parts.headers, OPERATOR_COOKIE)
    }
}

/// A form field set every form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A form posted by a signed-in `S`, whose CSRF token matches its session: 403 otherwise,
/// before anything is read or changed.
pub struct Posted<S, T>(pub S, pub T);

impl<S, T> FromRequest<AppState> for Posted<S, T>
where
    S: Signed + Send,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = S::from_request_parts(&mut parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let secret = S::secret_of(&parts).unwrap_or_default().to_string();
        let bytes = axum::body::to_bytes(body, s.cfg.max_body_bytes)
            .await
            .map_err(|_| {
                WebError(Error::PayloadTooLarge("Form too large".into())).into_response()
            })?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(bad_form)?;
        if !csrf_matches(&secret, &field.csrf) {
            return Err(forged().into_response());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(bad_form)?;
        Ok(Posted(session, form))
    }
}

fn bad_form(e: serde_urlencoded::de::Error) -> Response {
    WebError(Error::bad_request(format!("Invalid form: {e}"))).into_response()
}

fn forged() -> WebError {
    WebError(Error::forbidden(
        "This form has expired or did not come from this site; reload the page and try again",
    ))
}

/// The pre-session secret of a sign-in form: the browser's, or a new one to set.
pub fn pre_session(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, PRE_COOKIE) {
        Some(secret) => (secret.to_string(), None),
        None => {
            let secret = new_secret();
            let cookie = set_cookie(PRE_COOKIE, &secret, 3600);
            (secret, Some(cookie))
        }
    }
}

/// Checks a sign-in form's token against the browser's pre-session cookie.
pub fn check_pre_session(headers: &HeaderMap, given: &str) -> Result<(), WebError> {
    match cookie(headers, PRE_COOKIE) {
        Some(secret) if csrf_matches(secret, given) => Ok(()),
        _ => Err(forged()),
    }
}

/// The agent whose API key this is, as the API authenticates it (401 unknown, 403 suspended).
pub async fn agent_by_key(s: &AppState, key: &str) -> Result<String, Error> {
    let lookup = crate::ids::key_digest(key.trim());
    let agent = s
        .read(move |tx| Box::pin(async move { market::agents::authenticate(tx, &lookup).await }))
        .await?;
    Ok(agent.id)
}
