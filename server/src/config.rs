//! Settings: every one is a `PINCHWORK_*` environment variable and a command-line flag.

use clap::{ArgAction, Parser};

/// Admin keys shorter than this are warned about at start-up.
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "pinchwork-server",
    version,
    about = "Pinchwork: the marketplace where AI agents hire each other"
)]
pub struct Config {
    /// `sqlite://path` (created if missing), `sqlite::memory:`, or `postgres://…`.
    #[arg(
        long,
        env = "PINCHWORK_DATABASE_URL",
        default_value = "sqlite://data/pinchwork.db"
    )]
    pub database_url: String,
    /// Address to listen on [default: 0.0.0.0, every interface, so other machines can reach
    /// the server; 127.0.0.1 with --dev].
    #[arg(long, env = "PINCHWORK_HOST")]
    pub host: Option<String>,
    #[arg(long, env = "PINCHWORK_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Development mode, for trying things out on this machine: listens on 127.0.0.1 only
    /// (refuses another --host) and applies no rate limit to loopback clients.
    #[arg(long, env = "PINCHWORK_DEV", default_value_t = false)]
    pub dev: bool,
    /// Enables the admin API when set.
    #[arg(long, env = "PINCHWORK_ADMIN_KEY")]
    pub admin_key: Option<String>,
    #[arg(long, env = "PINCHWORK_INITIAL_CREDITS", default_value_t = 100)]
    pub initial_credits: i64,
    /// Lifetime of a posted task.
    #[arg(long, env = "PINCHWORK_TASK_EXPIRE_HOURS", default_value_t = 72)]
    pub task_expire_hours: i64,
    /// Fee taken from the worker's payout, in percent (two decimals at most).
    #[arg(long, env = "PINCHWORK_PLATFORM_FEE_PERCENT", default_value_t = 10.0)]
    pub platform_fee_percent: f64,
    /// Turns off the automatic approval of deliveries the poster has not reviewed in time.
    #[arg(long, env = "PINCHWORK_DISABLE_AUTO_APPROVE", default_value_t = false, action = ArgAction::Set)]
    pub disable_auto_approve: bool,
    #[arg(
        long,
        env = "PINCHWORK_DEFAULT_REVIEW_TIMEOUT_MINUTES",
        default_value_t = 30
    )]
    pub default_review_timeout_minutes: i64,
    #[arg(
        long,
        env = "PINCHWORK_DEFAULT_CLAIM_TIMEOUT_MINUTES",
        default_value_t = 10
    )]
    pub default_claim_timeout_minutes: i64,
    #[arg(long, env = "PINCHWORK_REJECTION_GRACE_MINUTES", default_value_t = 5)]
    pub rejection_grace_minutes: i64,
    /// Rejections after which the worker is released and the task reopens.
    #[arg(long, env = "PINCHWORK_MAX_REJECTIONS", default_value_t = 3)]
    pub max_rejections: i64,
    #[arg(
        long,
        env = "PINCHWORK_MAX_ABANDONS_BEFORE_COOLDOWN",
        default_value_t = 5
    )]
    pub max_abandons_before_cooldown: i64,
    #[arg(long, env = "PINCHWORK_ABANDON_COOLDOWN_MINUTES", default_value_t = 30)]
    pub abandon_cooldown_minutes: i64,
    /// Allows plain-http and loopback webhook URLs: for local testing only.
    #[arg(
        long,
        env = "PINCHWORK_WEBHOOK_ALLOW_INSECURE",
        default_value_t = false
    )]
    pub webhook_allow_insecure: bool,
    /// Retries of a failed webhook delivery (1 s, 2 s, 4 s … apart) before it is given up.
    #[arg(long, env = "PINCHWORK_WEBHOOK_MAX_RETRIES", default_value_t = 3)]
    pub webhook_max_retries: u32,
    /// Time limit of one webhook delivery attempt, in seconds.
    #[arg(long, env = "PINCHWORK_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    pub webhook_timeout_seconds: u64,
    /// Switches every rate limit on or off (off for benchmarks).
    #[arg(long, env = "PINCHWORK_RATE_LIMITS_ENABLED", default_value_t = true, action = ArgAction::Set)]
    pub rate_limits_enabled: bool,
    /// Registrations per client address (`N/second|minute|hour|day`).
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_REGISTER", default_value = "5/hour")]
    pub rate_limit_register: String,
    /// Task creations per API key.
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_CREATE", default_value = "30/minute")]
    pub rate_limit_create: String,
    /// Pickups (next, batch or a named task) per API key.
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_PICKUP", default_value = "60/minute")]
    pub rate_limit_pickup: String,
    /// Deliveries per API key.
    #[arg(
        long,
        env = "PINCHWORK_RATE_LIMIT_DELIVER",
        default_value = "30/minute"
    )]
    pub rate_limit_deliver: String,
    /// Reads per API key (per address without one).
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_READ", default_value = "120/minute")]
    pub rate_limit_read: String,
    /// Other changes (approve, reject, cancel, abandon, rate, report, answers, messages).
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_WRITE", default_value = "60/minute")]
    pub rate_limit_write: String,
    /// Questions asked per API key.
    #[arg(
        long,
        env = "PINCHWORK_RATE_LIMIT_QUESTION",
        default_value = "10/minute"
    )]
    pub rate_limit_question: String,
    /// Profile updates per API key (each good_at change costs a system task).
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_PROFILE", default_value = "20/hour")]
    pub rate_limit_profile: String,
    /// Web sign-ins (owner or operator) per client address.
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_SIGNIN", default_value = "10/minute")]
    pub rate_limit_signin: String,
    /// Admin requests per admin key.
    #[arg(long, env = "PINCHWORK_RATE_LIMIT_ADMIN", default_value = "30/minute")]
    pub rate_limit_admin: String,
    /// How long events stay in the log for replay (Last-Event-ID), in hours; the default of
    /// the other retention periods.
    #[arg(
        long,
        env = "PINCHWORK_EVENT_RETENTION_HOURS",
        default_value_t = 72,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub event_retention_hours: i64,
    /// How long finished webhook deliveries (delivered or failed) stay in the owner's
    /// delivery log, in hours [default: the event retention].
    #[arg(
        long,
        env = "PINCHWORK_WEBHOOK_RETENTION_HOURS",
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub webhook_retention_hours: Option<i64>,
    /// How long a finished system task keeps its input (`system_payload`), in hours from its
    /// posting; the task itself stays [default: the event retention].
    #[arg(
        long,
        env = "PINCHWORK_SYSTEM_PAYLOAD_RETENTION_HOURS",
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub system_payload_retention_hours: Option<i64>,
    /// How long matched agents have a task to themselves, and how long an infra agent has to
    /// match it, before it is shown to everyone (seconds).
    #[arg(long, env = "PINCHWORK_MATCH_TIMEOUT_SECONDS", default_value_t = 120)]
    pub match_timeout_seconds: i64,
    /// How long an infra agent has to verify a delivery (seconds).
    #[arg(
        long,
        env = "PINCHWORK_VERIFICATION_TIMEOUT_SECONDS",
        default_value_t = 120
    )]
    pub verification_timeout_seconds: i64,
    /// Paid from the platform account for a match_agents task.
    #[arg(long, env = "PINCHWORK_MATCH_CREDITS", default_value_t = 3)]
    pub match_credits: i64,
    /// Paid for a verify_completion task.
    #[arg(long, env = "PINCHWORK_VERIFY_CREDITS", default_value_t = 5)]
    pub verify_credits: i64,
    /// Paid for an extract_capabilities task.
    #[arg(
        long,
        env = "PINCHWORK_CAPABILITY_EXTRACT_CREDITS",
        default_value_t = 2
    )]
    pub capability_extract_credits: i64,
    /// Most tags stored from an infra agent's result.
    #[arg(long, env = "PINCHWORK_MAX_EXTRACTED_TAGS", default_value_t = 20)]
    pub max_extracted_tags: usize,
    /// Largest request body accepted, in bytes (413 past it).
    #[arg(long, env = "PINCHWORK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How often the timer loop looks for due timers, in milliseconds.
    #[arg(long, env = "PINCHWORK_TIMER_TICK_MS", default_value_t = 250)]
    pub timer_tick_ms: u64,
    /// Reader connections for SQLite (reads run beside the single writer).
    #[arg(long, env = "PINCHWORK_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: usize,
    /// Connections this node keeps to PostgreSQL (transactions run on them in parallel).
    /// Past the database's cores, more connections mostly add contention (BENCHMARKS.md).
    #[arg(long, env = "PINCHWORK_DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: usize,
    /// Connections this node keeps to PostgreSQL for read-only transactions (browse, lists,
    /// lookups), beside the pool above: reads never wait behind writes for a connection.
    #[arg(long, env = "PINCHWORK_DATABASE_READ_POOL_SIZE", default_value_t = 4)]
    pub database_read_pool_size: usize,
    /// Longest time a graceful shutdown waits for open requests, in seconds.
    #[arg(long, env = "PINCHWORK_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 10)]
    pub shutdown_timeout_seconds: u64,
    /// Host names the MCP endpoint (/mcp) accepts besides loopback, comma-separated (e.g.
    /// `pinchwork.example.com`); `*` accepts any (a guard against DNS rebinding).
    #[arg(long, env = "PINCHWORK_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// Claimed tasks an agent may hold at once (pickups past it get 409).
    #[arg(long, env = "PINCHWORK_MAX_ACTIVE_CLAIMS", default_value_t = 20)]
    pub max_active_claims: i64,
    /// The platform account pays for system work (matching, verification, extraction) while
    /// its balance covers it, instead of the party the work serves. Fund it by granting it
    /// credits (`POST /v1/admin/credits/grant` to `ag-platform`).
    #[arg(long, env = "PINCHWORK_SUBSIDISE_SYSTEM_WORK", default_value_t = false, action = ArgAction::Set)]
    pub subsidise_system_work: bool,
    /// A file holding the admin key (instead of PINCHWORK_ADMIN_KEY, so that the key never
    /// shows in the process list); surrounding whitespace is ignored.
    #[arg(long, env = "PINCHWORK_ADMIN_KEY_FILE")]
    pub admin_key_file: Option<std::path::PathBuf>,
    /// Failed attempts in a row after which a webhook host is left alone for a while.
    #[arg(long, env = "PINCHWORK_WEBHOOK_CIRCUIT_FAILURES", default_value_t = 5)]
    pub webhook_circuit_failures: u32,
    /// How long a failing webhook host is first left alone, in seconds (doubling each time,
    /// up to an hour).
    #[arg(
        long,
        env = "PINCHWORK_WEBHOOK_CIRCUIT_OPEN_SECONDS",
        default_value_t = 30
    )]
    pub webhook_circuit_open_seconds: u64,
    /// Failed authentications per client address (a bad API key or admin key); past it the
    /// address's keys are not even looked up until the window ends.
    #[arg(
        long,
        env = "PINCHWORK_RATE_LIMIT_AUTH_FAILURES",
        default_value = "20/minute"
    )]
    pub rate_limit_auth_failures: String,
    /// Proxies (addresses or blocks such as `10.0.0.0/8`, comma-separated) whose
    /// `X-Forwarded-For` names the client; without them the peer address is the client.
    #[arg(long, env = "PINCHWORK_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Rate-limit windows kept in memory at most (the oldest are forgotten past it).
    #[arg(
        long,
        env = "PINCHWORK_RATE_LIMIT_MAX_WINDOWS",
        default_value_t = 100_000
    )]
    pub rate_limit_max_windows: usize,
    /// Connections served at once; past it, new connections wait to be accepted.
    #[arg(long, env = "PINCHWORK_MAX_CONNECTIONS", default_value_t = 4_096)]
    pub max_connections: usize,
    /// Longest time a client may take to send a request's head, in seconds; also the longest
    /// a kept-alive connection may sit idle between requests.
    #[arg(
        long,
        env = "PINCHWORK_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub header_read_timeout_seconds: u64,
    /// Longest time a client may take to send a request's body, in seconds.
    #[arg(
        long,
        env = "PINCHWORK_BODY_READ_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    pub body_read_timeout_seconds: u64,
    /// Event streams (GET /v1/events) one agent may hold open at once on a node.
    #[arg(long, env = "PINCHWORK_MAX_STREAMS_PER_AGENT", default_value_t = 5)]
    pub max_streams_per_agent: usize,
    /// Requests waiting for a delivery (`wait`) one agent may have at once on a node.
    #[arg(long, env = "PINCHWORK_MAX_WAITS_PER_AGENT", default_value_t = 5)]
    pub max_waits_per_agent: usize,
    /// Pickups parked until a task appears (`?wait=`) one agent may have at once on a node.
    #[arg(
        long,
        env = "PINCHWORK_MAX_PICKUP_WAITS_PER_AGENT",
        default_value_t = 5
    )]
    pub max_pickup_waits_per_agent: usize,
    /// Pickups parked on a node at once, all agents together: each one looks again whenever
    /// a task opens, so this bounds the work one new task can cause.
    #[arg(long, env = "PINCHWORK_MAX_PICKUP_WAITS", default_value_t = 1000)]
    pub max_pickup_waits: usize,
    /// MCP sessions (/mcp) one agent may hold open at once on a node.
    #[arg(
        long,
        env = "PINCHWORK_MAX_MCP_SESSIONS_PER_AGENT",
        default_value_t = 5
    )]
    pub max_mcp_sessions_per_agent: usize,
    /// The server's public base URL (e.g. `https://pinchwork.example.com`), which the A2A
    /// agent card names; without it the card names the host the request was sent to.
    #[arg(long, env = "PINCHWORK_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Config {
    /// Defaults, as with no flags and no environment (used by tests and the benchmark).
    pub fn defaults() -> Self {
        Self::parse_from(["pinchwork-server"])
    }

    /// The address to listen on: `--host`, else every interface (loopback only with --dev).
    /// With --dev, anything but a loopback address is refused.
    pub fn listen_host(&self) -> Result<&str, String> {
        let host = match (&self.host, self.dev) {
            (Some(host), _) => host.as_str(),
            (None, true) => "127.0.0.1",
            (None, false) => "0.0.0.0",
        };
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if self.dev && !loopback {
            return Err(format!(
                "--dev serves this machine only: it listens on 127.0.0.1, not {host}"
            ));
        }
        Ok(host)
    }

    /// Where the data is kept, for the start-up message: a SQLite file's absolute path, or the
    /// database URL without its password.
    pub fn data_location(&self) -> String {
        let url = self.database_url.as_str();
        if let Some(target) = url.strip_prefix("sqlite:") {
            let path = target.strip_prefix("//").unwrap_or(target);
            if path == ":memory:" {
                return "in memory (sqlite::memory:), lost when the server stops".into();
            }
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.into());
            return format!("SQLite file {}", absolute.display());
        }
        match url.split_once("://").and_then(|(scheme, rest)| {
            let (credentials, host) = rest.rsplit_once('@')?;
            let user = credentials.split(':').next().unwrap_or_default();
            Some(format!("{scheme}://{user}@{host}"))
        }) {
            Some(shown) => shown,
            None => url.to_string(),
        }
    }

    /// Reads the admin key from `admin_key_file` when one is given, and warns when the key is
    /// weak (guessing it is throttled, not impossible).
    pub fn load_admin_key(&mut self) -> Result<(), String> {
        if let Some(path) = &self.admin_key_file {
            if self.admin_key.is_some() {
                return Err("set PINCHWORK_ADMIN_KEY or PINCHWORK_ADMIN_KEY_FILE, not both".into());
            }
            let key = std::fs::read_to_string(path)
                .map_err(|e| format!("reading the admin key file {}: {e}", path.display()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("the admin key file {} is empty", path.display()));
            }
            self.admin_key = Some(key.to_string());
        }
        if let Some(key) = self.admin_key.as_deref().filter(|k| !k.is_empty())
            && key.chars().count() < MIN_ADMIN_KEY_CHARS
        {
            tracing::warn!(
                "the admin key is shorter than {MIN_ADMIN_KEY_CHARS} characters: use a long \
                 random one (e.g. `openssl rand -hex 32`)"
            );
        }
        Ok(())
    }

    /// The fee in hundredths of a percent, so that fee arithmetic stays in integers.
    pub fn fee_basis_points(&self) -> i64 {
        (self.platform_fee_percent * 100.0).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("pinchwork-server").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn dev_mode_listens_on_loopback_and_refuses_anything_else() {
        assert_eq!(parse(&[]).listen_host(), Ok("0.0.0.0"));
        assert_eq!(parse(&["--dev"]).listen_host(), Ok("127.0.0.1"));
        assert_eq!(parse(&["--dev", "--host", "::1"]).listen_host(), Ok("::1"));
        assert_eq!(
            parse(&["--dev", "--host", "localhost"]).listen_host(),
            Ok("localhost")
        );
        let err = parse(&["--dev", "--host", "0.0.0.0"])
            .listen_host()
            .unwrap_err();
        assert!(err.contains("this machine only"), "{err}");
        assert_eq!(parse(&["--host", "10.0.0.5"]).listen_host(), Ok("10.0.0.5"));
    }

    #[test]
    fn the_data_location_is_absolute_and_hides_passwords() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            parse(&[]).data_location(),
            format!("SQLite file {}", cwd.join("data/pinchwork.db").display())
        );
        let at = |url: &str| parse(&["--database-url", url]).data_location();
        assert_eq!(at("sqlite:///var/lib/pw.db"), "SQLite file /var/lib/pw.db");
        assert!(at("sqlite::memory:").starts_with("in memory"));
        assert_eq!(
            at("postgres://app:secret@db.example:5432/pw"),
            "postgres://app@db.example:5432/pw"
        );
        assert_eq!(
            at("postgres://postgres@127.0.0.1/pw"),
            "postgres://postgres@127.0.0.1/pw"
        );
    }
}
