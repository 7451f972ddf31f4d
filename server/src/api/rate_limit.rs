//! Rate limits, one fixed window per bucket, counted on what an attacker cannot multiply: the
//! client's address until a key is verified, then the agent (or the admin). Failed
//! authentications count against the address, and an address that fails too often is refused
//! before its keys are even looked up (this also throttles guessing the admin key). IPv6
//! clients are counted per /64; behind trusted proxies, `X-Forwarded-For` names the client.
//! Windows live in a sharded map of bounded size (or in the database when nodes share one).
//! Counted on the service clock, so windows follow the same time as everything else.

use super::admin;
use super::auth::{self, Verified};
use crate::app::AppState;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Millis;
use crate::store::Store;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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
    /// Failed authentications, per client address (always counted on this node).
    AuthFailure,
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

/// The client a request is counted against before (or without) a verified key: its address,
/// IPv6 grouped by /64. Put in the request's extensions by the middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    fn subject(self) -> String {
        format!("ip:{}", self.0)
    }
}

/// An address block, as `10.0.0.0/8`, `fd00::/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (addr, bits) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("trusted proxy {s:?} is not an address or block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            "" => max,
            b => b
                .parse()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("trusted proxy {s:?}: bad prefix length"))?,
        };
        Ok(Self { net, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix(u32::from(net).into(), 32, self.bits)
                    == prefix(u32::from(ip).into(), 32, self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(net.into(), 128, self.bits) == prefix(ip.into(), 128, self.bits)
            }
            _ => false,
        }
    }
}

fn prefix(bits: u128, width: u8, keep: u8) -> u128 {
    if keep == 0 { 0 } else { bits >> (width - keep) }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The unit a client is counted as: an IPv4 address, or an IPv6 /64 (one subscriber's
/// network: a host can use any address in it).
pub fn group(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

pub struct RateLimiter {
    enabled: bool,
    limits: HashMap<Bucket, Limit>,
    windows: Windows,
    /// Failed authentications are always counted here, so that refusing an address that
    /// fails too often costs no database round trip.
    failures: LocalWindows,
    trusted_proxies: Vec<Cidr>,
}

/// Where the windows are counted.
enum Windows {
    Local(LocalWindows),
    /// In the database, so that every node sharing it counts the same windows.
    Shared(Store),
}

/// Windows in this process: (bucket, digest of the subject) → window, in shards of bounded
/// size, so memory is bounded whatever the traffic and no lock covers them all.
struct LocalWindows {
    shards: Vec<Mutex<HashMap<(Bucket, u64), Window>>>,
    per_shard: usize,
    hasher: RandomState,
}

#[derive(Clone, Copy)]
struct Window {
    start: Millis,
    end: Millis,
    hits: i64,
}

const SHARDS: usize = 16;

impl LocalWindows {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: (capacity / SHARDS).max(8),
            hasher: RandomState::new(),
        }
    }

    fn key(&self, bucket: Bucket, subject: &str) -> (usize, (Bucket, u64)) {
        let digest = self.hasher.hash_one(subject);
        ((digest as usize) % SHARDS, (bucket, digest))
    }

    /// Counts one hit (or only looks, when `count` is false): the window's start and hits.
    fn hit(
        &self,
        bucket: Bucket,
        subject: &str,
        now: Millis,
        limit: Limit,
        count: bool,
    ) -> (Millis, i64) {
        let (shard, key) = self.key(bucket, subject);
        let mut windows = self.shards[shard].lock().unwrap();
        if !count {
            return match windows.get(&key) {
                Some(w) if now < w.end => (w.start, w.hits),
                _ => (now, 0),
            };
        }
        if windows.len() >= self.per_shard && !windows.contains_key(&key) {
            // Full: forget windows that have ended; if most are live, forget a quarter of
            // them too (arbitrary ones), so that this runs once per many new subjects.
            windows.retain(|_, w| now < w.end);
            if windows.len() >= self.per_shard * 3 / 4 {
                let drop: Vec<_> = windows.keys().take(self.per_shard / 4).copied().collect();
                for k in drop {
                    windows.remove(&k);
                }
            }
        }
        let w = windows.entry(key).or_insert(Window {
            start: now,
            end: now + limit.window_ms,
            hits: 0,
        });
        if now >= w.end {
            *w = Window {
                start: now,
                end: now + limit.window_ms,
                hits: 0,
            };
        }
        w.hits += 1;
        (w.start, w.hits)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
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
            (Bucket::AuthFailure, &cfg.rate_limit_auth_failures),
            (Bucket::SignIn, &cfg.rate_limit_signin),
        ]
        .into_iter()
        .map(|(bucket, spec)| Ok((bucket, spec.parse()?)))
        .collect::<std::result::Result<_, String>>()?;
        let trusted_proxies = cfg
            .trusted_proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.parse())
            .collect::<std::result::Result<_, String>>()?;
        Ok(Self {
            enabled: cfg.rate_limits_enabled,
            limits,
            windows: match shared {
                Some(store) => Windows::Shared(store),
                None => Windows::Local(LocalWindows::new(cfg.rate_limit_max_windows)),
            },
            failures: LocalWindows::new(cfg.rate_limit_max_windows),
            trusted_proxies,
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one request; 429 with Retry-After once the window's allowance is spent.
    pub async fn hit(&self, bucket: Bucket, subject: &str, now: Millis) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let limit = self.limits[&bucket];
        let (start, hits) = match &self.windows {
            Windows::Local(windows) => windows.hit(bucket, subject, now, limit, true),
            Windows::Shared(store) => {
                let (name, subject) = (format!("{bucket:?}"), subject.to_string());
                let window = store
                    .write_one(move |tx| {
                        Box::pin(async move {
                            tx.count_hit(&name, &subject, now, limit.window_ms).await
                        })
                    })
                    .await?;
                (window.started_at, window.hits)
            }
        };
        refuse_past(limit, start, hits, now, "Rate limit exceeded")
    }

    /// Counts a failed authentication against the client's address.
    pub fn failed_auth(&self, client: ClientAddr, now: Millis) {
        if self.enabled {
            let limit = self.limits[&Bucket::AuthFailure];
            self.failures
                .hit(Bucket::AuthFailure, &client.subject(), now, limit, true);
        }
    }

    /// 429 when the address has failed to authenticate too often: its keys are not even
    /// looked up until the window ends.
    pub fn check_failures(&self, client: ClientAddr, now: Millis) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let limit = self.limits[&Bucket::AuthFailure];
        let (start, hits) =
            self.failures
                .hit(Bucket::AuthFailure, &client.subject(), now, limit, false);
        refuse_past(
            limit,
            start,
            hits + 1,
            now,
            "Too many failed authentications from your address",
        )
    }

    /// Who sent the request: the peer, or (when the peer is a trusted proxy) the nearest
    /// address in `X-Forwarded-For` that is not a trusted proxy; grouped by `group`.
    pub fn client_addr(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientAddr {
        let Some(peer) = peer else {
            return ClientAddr(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        };
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|c| c.contains(ip));
        let mut client = peer;
        if trusted(peer) {
            let hops = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect::<Vec<_>>();
            for hop in hops.iter().rev() {
                let Ok(ip) = hop.parse::<IpAddr>() else { break };
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
        }
        ClientAddr(group(client))
    }
}

fn refuse_past(limit: Limit, start: Millis, hits: i64, now: Millis, what: &str) -> Result<()> {
    if hits > i64::from(limit.max) {
        let retry_after_secs = ((start + limit.window_ms - now).max(0) as u64)
            .div_ceil(1000)
            .max(1);
        return Err(Error::TooManyRequests {
            message: format!("{what}: {} per {}s", limit.max, limit.window_ms / 1000),
            retry_after_secs: Some(retry_after_secs),
        });
    }
    Ok(())
}

/// The client's address, from the extensions (set by the middleware) or worked out now.
pub fn client_of(
    parts_ext: &axum::http::Extensions,
    headers: &HeaderMap,
    state: &AppState,
) -> ClientAddr {
    if let Some(client) = parts_ext.get::<ClientAddr>() {
        return *client;
    }
    let peer = parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    state.limiter.client_addr(peer, headers)
}

/// The bearer key of a request, if it carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Which bucket each route counts against: (method, path template) → bucket, and whether
/// the route is public (a bad key on it is counted, then ignored).
pub type BucketTable = Arc<HashMap<(Method, &'static str), (Bucket, bool)>>;

/// Middleware: works out the client, verifies a presented key (refusing addresses that
/// failed too often), and counts the request against its route's bucket, before the handler
/// runs.
pub async fn enforce(
    State((state, table)): State<(AppState, BucketTable)>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = client_of(req.extensions(), req.headers(), &state);
    req.extensions_mut().insert(client);
    if !state.limiter.enabled() {
        return next.run(req).await;
    }
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let Some(&(bucket, public)) = table.get(&(req.method().clone(), path.as_str())) else {
        return next.run(req).await;
    };
    if exempt(&state, client) {
        return next.run(req).await;
    }
    let now = state.now();
    let subject = match (bucket, bearer(req.headers())) {
        (Bucket::Register, _) | (_, None) => client.subject(),
        (_, Some(key)) => {
            if let Err(e) = state.limiter.check_failures(client, now) {
                return e.into_response();
            }
            let verified = if bucket == Bucket::Admin {
                admin::verify_key(&state, key).map(|()| Verified::Admin)
            } else {
                auth::verify_key(&state, key).await.map(Verified::Agent)
            };
            match verified {
                Ok(who) => {
                    if let Verified::Agent(id) = &who {
                        super::trace::record_agent(id);
                    }
                    let subject = who.subject();
                    req.extensions_mut().insert(who);
                    subject
                }
                Err(e) => {
                    state.limiter.failed_auth(client, now);
                    if !public {
                        return e.into_response();
                    }
                    client.subject()
                }
            }
        }
    };
    match state.limiter.hit(bucket, &subject, now).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Whether the client goes unlimited: development mode, on this machine.
fn exempt(state: &AppState, client: ClientAddr) -> bool {
    state.cfg.dev && client.0.is_loopback()
}

/// Counts one request of a client known only by its address (a sign-in form, say).
pub async fn hit_by_address(state: &AppState, bucket: Bucket, client: ClientAddr) -> Result<()> {
    if exempt(state, client) {
        return Ok(());
    }
    state
        .limiter
        .hit(bucket, &client.subject(), state.now())
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

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(group(a), group(b));
        assert_ne!(group(a), group(c));
        assert_eq!(
            group("::ffff:203.0.113.9".parse().unwrap()),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut cfg = Config::defaults();
        cfg.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()];
        let limiter = RateLimiter::from_config(&cfg, None).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.5, 10.1.1.1".parse().unwrap(),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Behind the trusted proxy: the nearest untrusted hop, not the spoofable leftmost.
        assert_eq!(
            limiter.client_addr(Some(ip("10.0.0.2")), &headers).0,
            ip("203.0.113.5")
        );
        assert_eq!(
            limiter.client_addr(Some(ip("::1")), &headers).0,
            ip("203.0.113.5")
        );
        // From anyone else the header is ignored.
        assert_eq!(
            limiter.client_addr(Some(ip("192.0.2.1")), &headers).0,
            ip("192.0.2.1")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("not-an-ip".parse::<Cidr>().is_err());
    }

    #[test]
    fn window_memory_stays_bounded_whatever_the_subjects() {
        let windows = LocalWindows::new(1_000);
        let limit = Limit {
            max: 5,
            window_ms: 60_000,
        };
        for i in 0..100_000 {
            windows.hit(Bucket::Read, &format!("ip:{i}"), 0, limit, true);
        }
        assert!(windows.len() <= 1_000, "{}", windows.len());
        // A subject counted just now is still counted.
        windows.hit(Bucket::Read, "agent:x", 0, limit, true);
        assert_eq!(windows.hit(Bucket::Read, "agent:x", 1, limit, true).1, 2);
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
        let store = Store::open("sqlite::memory:", 0, 1, 1).await.unwrap();
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
