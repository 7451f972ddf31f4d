//! Rate limits per API key (per client address where there is none), one fixed window per
//! bucket. Counted on the service clock, so windows follow the same time as everything else.

use crate::app::AppState;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Millis;
use crate::store::Store;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A family of endpoints sharing one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Register,
    Create,
    Pickup,
    Deliver,
    Read,
    Write,
    Question,
    Profile,
    Admin,
    /// Web sign-ins, per client address.
    SignIn,
}

/// `max` requests per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_ms: Millis,
}

impl std::str::FromStr for Limit {
    type Err = String;

    /// `5/hour`, `30/minute`, `10/second`, `100/day` (also `5 per hour`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (n, unit) = s
            .split_once('/')
            .or_else(|| s.split_once(" per "))
            .ok_or_else(|| format!("rate limit {s:?} is not N/unit"))?;
        let max = n
            .trim()
            .parse()
            .map_err(|_| format!("rate limit {s:?}: bad count"))?;
        let window_ms = match unit.trim().trim_end_matches('s') {
            "second" | "sec" => 1_000,
            "minute" | "min" => 60_000,
            "hour" => 3_600_000,
            "day" => 86_400_000,
            other => return Err(format!("rate limit {s:?}: unknown unit {other:?}")),
        };
        Ok(Self { max, window_ms })
    }
}

pub struct RateLimiter {
    enabled: bool,
    limits: HashMap<Bucket, Limit>,
    windows: Windows,
}

/// Where the windows are counted.
enum Windows {
    /// In this process: (bucket, subject) → (window start, hits in it).
    Local(Mutex<HashMap<(Bucket, String), (Millis, i64)>>),
    /// In the database, so that every node sharing it counts the same windows.
    Shared(Store),
}

impl RateLimiter {
    /// Counts in `shared` when given (a database several nodes share), in memory otherwise.
    pub fn from_config(cfg: &Config, shared: Option<Store>) -> std::result::Result<Self, String> {
        let limits = [
            (Bucket::Register, &cfg.rate_limit_register),
            (Bucket::Create, &cfg.rate_limit_create),
            (Bucket::Pickup, &cfg.rate_limit_pickup),
            (Bucket::Deliver, &cfg.rate_limit_deliver),
            (Bucket::Read, &cfg.rate_limit_read),
            (Bucket::Write, &cfg.rate_limit_write),
            (Bucket::Question, &cfg.rate_limit_question),
            (Bucket::Profile, &cfg.rate_limit_profile),
            (Bucket::Admin, &cfg.rate_limit_admin),
            (Bucket::SignIn, &cfg.rate_limit_signin),
        ]
        .into_iter()
        .map(|(bucket, spec)| Ok((bucket, spec.parse()?)))
        .collect::<std::result::Result<_, String>>()?;
        Ok(Self {
            enabled: cfg.rate_limits_enabled,
            limits,
            windows: match shared {
                Some(store) => Windows::Shared(store),
                None => Windows::Local(Mutex::default()),
            },
        })
    }

    /// Counts one request; 429 with Retry-After once the window's allowance is spent.
    pub async fn hit(&self, bucket: Bucket, subject: &str, now: Millis) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let limit = self.limits[&bucket];
        let (start, hits) = match &self.windows {
            Windows::Local(windows) => {
                let mut windows = windows.lock().unwrap();
                if windows.len() > 100_000 {
                    // Forget windows that have ended, so idle keys cost nothing.
                    windows.retain(|(b, _), (start, _)| now < *start + self.limits[b].window_ms);
                }
                let (start, hits) = windows
                    .entry((bucket, subject.to_string()))
                    .or_insert((now, 0));
                if now >= *start + limit.window_ms {
                    (*start, *hits) = (now, 0);
                }
                *hits += 1;
                (*start, *hits)
            }
            Windows::Shared(store) => {
                let (name, subject) = (format!("{bucket:?}"), subject.to_string());
                store
                    .write(move |tx| tx.count_hit(&name, &subject, now, limit.window_ms))
                    .await?
            }
        };
        if hits > i64::from(limit.max) {
            let retry_after_secs = ((start + limit.window_ms - now) as u64)
                .div_ceil(1000)
                .max(1);
            return Err(Error::TooManyRequests {
                message: format!(
                    "Rate limit exceeded: {} per {}s",
                    limit.max,
                    limit.window_ms / 1000
                ),
                retry_after_secs: Some(retry_after_secs),
            });
        }
        Ok(())
    }
}

/// Which bucket each route counts against: (method, path template) → bucket.
pub type BucketTable = Arc<HashMap<(Method, &'static str), Bucket>>;

/// Middleware: counts the request against its route's bucket before the handler runs.
pub async fn enforce(
    State((state, table)): State<(AppState, BucketTable)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let Some(&bucket) = table.get(&(req.method().clone(), path.as_str())) else {
        return next.run(req).await;
    };
    let peer = peer_ip(req.extensions());
    // Development mode lifts the limits for this machine's own clients only.
    if exempt(&state, peer) {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let subject = match (bucket, bearer) {
        (Bucket::Register, _) | (_, None) => address_subject(peer),
        // The key's digest, so that keys are never held in memory longer than a request.
        (_, Some(key)) => format!(
            "key:{}",
            hex::encode(&Sha256::digest(key.trim().as_bytes())[..16])
        ),
    };
    match state.limiter.hit(bucket, &subject, state.now()).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The client's address, as the server accepted its connection.
pub fn peer_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether the client goes unlimited: development mode, on this machine.
fn exempt(state: &AppState, peer: Option<IpAddr>) -> bool {
    state.cfg.dev && peer.is_some_and(|ip| ip.is_loopback())
}

fn address_subject(peer: Option<IpAddr>) -> String {
    format!("ip:{}", peer.map_or("unknown".into(), |ip| ip.to_string()))
}

/// Counts one request of a client known only by its address (a sign-in form, say).
pub async fn hit_by_address(state: &AppState, bucket: Bucket, peer: Option<IpAddr>) -> Result<()> {
    if exempt(state, peer) {
        return Ok(());
    }
    state
        .limiter
        .hit(bucket, &address_subject(peer), state.now())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_like_the_reference() {
        assert_eq!(
            "5/hour".parse(),
            Ok(Limit {
                max: 5,
                window_ms: 3_600_000
            })
        );
        assert_eq!(
            "30/minute".parse(),
            Ok(Limit {
                max: 30,
                window_ms: 60_000
            })
        );
        assert_eq!(
            "5 per hours".parse(),
            Ok(Limit {
                max: 5,
                window_ms: 3_600_000
            })
        );
        assert!("five/hour".parse::<Limit>().is_err());
        assert!("5/fortnight".parse::<Limit>().is_err());
    }

    fn two_per_minute() -> Config {
        let mut cfg = Config::defaults();
        cfg.rate_limit_create = "2/minute".into();
        cfg
    }

    #[tokio::test]
    async fn a_window_allows_max_then_refuses_until_it_ends() {
        allows_max_then_refuses(RateLimiter::from_config(&two_per_minute(), None).unwrap()).await;
    }

    /// The same windows counted in the database (as nodes sharing PostgreSQL count them).
    #[tokio::test]
    async fn a_shared_window_allows_max_then_refuses_until_it_ends() {
        let store = Store::open("sqlite::memory:", 0, 1).unwrap();
        allows_max_then_refuses(RateLimiter::from_config(&two_per_minute(), Some(store)).unwrap())
            .await;
    }

    async fn allows_max_then_refuses(limiter: RateLimiter) {
        assert!(limiter.hit(Bucket::Create, "a", 0).await.is_ok());
        assert!(limiter.hit(Bucket::Create, "a", 10).await.is_ok());
        let Err(Error::TooManyRequests {
            retry_after_secs, ..
        }) = limiter.hit(Bucket::Create, "a", 30_000).await
        else {
            panic!("third hit in the window must be refused")
        };
        assert_eq!(retry_after_secs, Some(30));
        assert!(
            limiter.hit(Bucket::Create, "b", 30_000).await.is_ok(),
            "other keys have their own window"
        );
        assert!(
            limiter.hit(Bucket::Create, "a", 60_000).await.is_ok(),
            "a new window starts"
        );
    }
}
