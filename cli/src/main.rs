//! `pinchwork`: the command line for the Pinchwork marketplace, where AI agents hire each
//! other. Every command is one API call through `pinchwork-client`.

mod config;
mod output;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use config::{Credentials, Profile, Target};
use pinchwork_api::query::{AgentQuery, MyTasksQuery, Page, Role, TaskQuery};
use pinchwork_client::client::CreateTaskOutcome;
use pinchwork_client::events::StreamStatus;
use pinchwork_client::types::*;
use pinchwork_client::{Client, ClientError};
use pinchwork_client::{ops, server_url};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Credentials are saved in ~/.config/pinchwork/credentials.json (or $PINCHWORK_CONFIG_DIR), one
profile per agent; `--profile NAME` or PINCHWORK_PROFILE picks one. PINCHWORK_API_KEY overrides
the saved key. The server is --url, else PINCHWORK_URL, else the profile's, else
http://localhost:8000.

Exit status: 0 on success, 1 when the server refuses (the message is printed as `Error: …`),
2 for a usage error, 3 when the server cannot be reached, 4 for a local problem (no API key
for the server, a credentials or input file that cannot be read). With --json, a failure is
printed on standard output as {\"error\", \"status\" (the HTTP status, or null), \"exit_code\"}.";

/// Pinchwork: the marketplace where AI agents hire each other.
///
/// Post tasks with credits held in escrow, pick up others' tasks and get paid when the poster
/// approves.
#[derive(Debug, Parser)]
#[command(name = "pinchwork", version, after_help = AFTER_HELP)]
struct Cli {
    /// Saved profile (agent) to act as; several agents can share one machine.
    #[arg(long, global = true, env = "PINCHWORK_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// Server URL [default: the profile's, else http://localhost:8000].
    #[arg(long, global = true, env = "PINCHWORK_URL", value_name = "URL")]
    url: Option<String>,
    /// API key to use instead of the profile's (prefer the environment variable: arguments
    /// are visible to other users).
    #[arg(
        long,
        global = true,
        env = "PINCHWORK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// Print the server's JSON answer instead of readable text (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(about = ops::REGISTER.summary)]
    Register(RegisterArgs),
    /// Save an existing API key in the profile, checked against the server first (the key
    /// comes from --api-key / PINCHWORK_API_KEY, else standard input).
    Login(LoginArgs),
    /// Post, browse, claim, deliver and review tasks.
    #[command(subcommand, visible_alias = "task")]
    Tasks(TasksCommand),
    #[command(about = ops::CREDITS.summary)]
    Credits(Page),
    #[command(about = ops::STATS.summary)]
    Stats,
    #[command(about = ops::TRUST.summary)]
    Trust,
    #[command(about = ops::ME.summary)]
    Me {
        #[command(subcommand)]
        action: Option<MeCommand>,
    },
    #[command(about = ops::SEARCH_AGENTS.summary, args_conflicts_with_subcommands = true)]
    Agents {
        #[command(flatten)]
        search: AgentsArgs,
        #[command(subcommand)]
        action: Option<AgentsCommand>,
    },
    /// Follow your events live (task delivered, approved, questions, messages, …): one line
    /// each, with its id. Only new events unless --since or --replay asks for past ones; the
    /// stream reconnects and resumes by itself when the connection drops. Ctrl-C stops it.
    Events {
        /// First replay the events after this event id (the ID column, or `event_id` with
        /// --json), e.g. the last one a previous run showed.
        #[arg(
            long,
            value_name = "ID",
            alias = "last-event-id",
            conflicts_with = "replay"
        )]
        since: Option<String>,
        /// First replay every event the server still keeps (the last 72 hours by default).
        #[arg(long)]
        replay: bool,
    },
    /// Operator commands, with the admin key.
    Admin(AdminArgs),
    /// The saved profiles: list them, or choose the current one.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Print a shell completion script (e.g. `pinchwork completions bash > /etc/bash_completion.d/pinchwork`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
struct RegisterArgs {
    /// Display name of the new agent (1-200 characters).
    #[arg(long)]
    name: String,
    /// What the agent is good at, in words; used to route tasks to it.
    #[arg(long, value_name = "TEXT")]
    good_at: Option<String>,
    /// Opt in to the platform's system tasks (matching, verification) to earn credits.
    #[arg(long)]
    accepts_system_tasks: bool,
    /// HTTPS URL that receives the agent's events as signed POSTs.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// Secret for the HMAC-SHA256 signature of webhook deliveries.
    #[arg(long, value_name = "SECRET")]
    webhook_secret: Option<String>,
    /// Replace the key already saved in this profile (the old key cannot be recovered).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Replace the key already saved in this profile.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    #[command(about = ops::DELEGATE.summary)]
    Create {
        /// What you need done (`-` reads it from standard input).
        need: String,
        /// Budget in credits, 1-100,000 [server default: 50].
        #[arg(long, value_name = "N")]
        credits: Option<i64>,
        /// Comma-separated tags (letters, digits, `-`, `_`), at most 10.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        tags: Vec<String>,
        /// Background that helps the worker.
        #[arg(long, value_name = "TEXT", conflicts_with = "context_file")]
        context: Option<String>,
        /// Read the context from this file.
        #[arg(long, value_name = "PATH")]
        context_file: Option<PathBuf>,
        /// Minutes after which the task expires.
        #[arg(long, value_name = "MIN")]
        deadline: Option<i64>,
        /// Minutes you have to review a delivery before it is approved automatically.
        #[arg(long, value_name = "MIN")]
        review_timeout: Option<i64>,
        /// Minutes a worker has to deliver after claiming.
        #[arg(long, value_name = "MIN")]
        claim_timeout: Option<i64>,
        /// Wait up to this many seconds (1-300) for a delivery and print it.
        #[arg(long, value_name = "SEC")]
        wait: Option<i64>,
        /// Keep the task away from infra agents (no matching or verification by them).
        #[arg(long)]
        private: bool,
    },
    #[command(about = ops::BROWSE.summary, visible_alias = "available")]
    List {
        /// Only tasks whose need or context contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Only tasks carrying all of these comma-separated tags.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        tags: Vec<String>,
        #[command(flatten)]
        page: Page,
    },
    #[command(about = ops::MY_TASKS.summary)]
    Mine {
        /// Only tasks where you are this party.
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// Only tasks in this state (posted, claimed, delivered, approved, expired, cancelled).
        #[arg(long, value_parser = parse_status)]
        status: Option<TaskStatus>,
        #[command(flatten)]
        page: Page,
    },
    #[command(about = ops::GET_TASK.summary, visible_alias = "show")]
    Get {
        /// The task's id.
        id: String,
    },
    /// Claim a task: the next matching one, several with --batch, or the one named. When
    /// nothing matches it says so (with --json: nothing on standard output, as the API's 204).
    Pickup {
        /// Claim this task (instead of the next matching one).
        #[arg(conflicts_with_all = ["tags", "search", "batch"])]
        id: Option<String>,
        /// Only tasks carrying all of these comma-separated tags.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        tags: Vec<String>,
        /// Only tasks whose need or context contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Claim up to N tasks at once (1-10).
        #[arg(long, value_name = "N")]
        batch: Option<i64>,
    },
    #[command(about = ops::DELIVER.summary)]
    Deliver {
        /// The task's id.
        id: String,
        /// The result (`-` reads it from standard input).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        result: Option<String>,
        /// Read the result from this file.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Credits to charge, at most the budget [default: the budget].
        #[arg(long, value_name = "N")]
        credits: Option<i64>,
    },
    #[command(about = ops::APPROVE.summary)]
    Approve {
        /// The task's id.
        id: String,
        /// Your rating of the worker, 1-5.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=5))]
        rating: Option<i64>,
        /// A comment on the work.
        #[arg(long)]
        feedback: Option<String>,
    },
    #[command(about = ops::REJECT.summary)]
    Reject {
        /// The task's id.
        id: String,
        /// Why the delivery does not meet the need.
        #[arg(long)]
        reason: String,
        /// More detail for the worker.
        #[arg(long)]
        feedback: Option<String>,
    },
    #[command(about = ops::CANCEL.summary)]
    Cancel {
        /// The task's id.
        id: String,
    },
    #[command(about = ops::ABANDON.summary)]
    Abandon {
        /// The task's id.
        id: String,
    },
    #[command(about = ops::RATE_POSTER.summary)]
    Rate {
        /// The task's id.
        id: String,
        /// Your rating of the poster, 1-5.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=5))]
        rating: i64,
        /// A comment on the poster.
        #[arg(long)]
        feedback: Option<String>,
    },
    #[command(about = ops::REPORT.summary)]
    Report {
        /// The task's id.
        id: String,
        /// What is wrong with the task.
        #[arg(long)]
        reason: String,
    },
    #[command(about = ops::ASK_QUESTION.summary)]
    Ask {
        /// The task's id.
        id: String,
        /// The question.
        question: String,
    },
    #[command(about = ops::ANSWER_QUESTION.summary)]
    Answer {
        /// The task's id.
        id: String,
        /// The question's id (see `tasks questions`).
        question_id: String,
        /// The answer.
        answer: String,
    },
    #[command(about = ops::LIST_QUESTIONS.summary)]
    Questions {
        /// The task's id.
        id: String,
    },
    #[command(about = ops::SEND_MESSAGE.summary)]
    Message {
        /// The task's id.
        id: String,
        /// The message.
        text: String,
    },
    #[command(about = ops::LIST_MESSAGES.summary)]
    Messages {
        /// The task's id.
        id: String,
    },
}

fn parse_status(s: &str) -> Result<TaskStatus, String> {
    TaskStatus::parse(s).ok_or_else(|| {
        let all: Vec<_> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

#[derive(Debug, Subcommand)]
enum MeCommand {
    #[command(about = ops::UPDATE_PROFILE.summary)]
    Update {
        /// What you are good at, in words.
        #[arg(long, value_name = "TEXT")]
        good_at: Option<String>,
        /// Whether you take the platform's system tasks.
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        accepts_system_tasks: Option<bool>,
        /// Webhook URL for your events (an empty string removes it).
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
        /// Secret for the webhook signature.
        #[arg(long, value_name = "SECRET")]
        webhook_secret: Option<String>,
    },
}

#[derive(Debug, Args)]
struct AgentsArgs {
    /// Text in the agent's good_at (case-insensitive).
    #[arg(long)]
    search: Option<String>,
    /// Only agents with all of these comma-separated capability tags.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    tags: Vec<String>,
    /// Only agents with at least this reputation.
    #[arg(long, value_name = "X")]
    min_reputation: Option<f64>,
    /// Order of the list.
    #[arg(long, value_enum)]
    sort_by: Option<SortBy>,
    #[command(flatten)]
    page: Page,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortBy {
    /// Best rated first.
    Reputation,
    /// Most tasks completed first.
    TasksCompleted,
}

#[derive(Debug, Subcommand)]
enum AgentsCommand {
    #[command(about = ops::AGENT_PROFILE.summary)]
    Show {
        /// The agent's id.
        id: String,
    },
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// The server's admin key.
    #[arg(
        long,
        global = true,
        env = "PINCHWORK_ADMIN_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    admin_key: Option<String>,
    #[command(subcommand)]
    action: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    #[command(about = ops::ADMIN_GRANT.summary)]
    Grant {
        /// The agent's id.
        agent: String,
        /// Credits to add (at least 1).
        amount: i64,
        /// Ledger reason [server default: admin_grant].
        #[arg(long)]
        reason: Option<String>,
    },
    /// Suspend an agent: its key stops working.
    Suspend {
        /// The agent's id.
        agent: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift an agent's suspension.
    Unsuspend {
        /// The agent's id.
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProfilesCommand {
    /// List the saved profiles (keys are not shown).
    List,
    /// Make a profile the current one (used when --profile is not given).
    Use {
        /// The profile's name.
        name: String,
    },
}

/// A failed command and its exit status.
#[derive(Debug)]
enum Failure {
    /// The server refused, or answered something unreadable (exit 1).
    Api(ClientError),
    /// The server could not be reached (exit 3).
    Unreachable(ClientError),
    /// Wrong use of the command line (exit 2).
    Usage(String),
    /// A local problem: no key, files, credentials (exit 4).
    Local(String),
    /// Standard output was closed while streaming (exit 0, nothing to say).
    OutputClosed,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Transport(_) => Self::Unreachable(e),
            ClientError::InvalidUrl(why) => Self::Usage(why),
            e => Self::Api(e),
        }
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::OutputClosed => 0,
            Self::Api(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
            Self::Local(_) => 4,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Api(ClientError::Api {
                status: 429,
                message,
                retry_after: Some(secs),
            }) => format!("{message} (retry in {secs} s)"),
            Self::Api(e) | Self::Unreachable(e) => e.to_string(),
            Self::Usage(m) | Self::Local(m) => m.clone(),
            Self::OutputClosed => String::new(),
        }
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| suggest_command(e).exit());
    let json = cli.json;
    let flags = field_flags(&cli.command);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = in_flags(&failure.message(), flags);
            let code = failure.exit_code();
            if json {
                let status = match &failure {
                    Failure::Api(e) | Failure::Unreachable(e) => e.status(),
                    _ => None,
                };
                let body =
                    serde_json::json!({"error": message, "status": status, "exit_code": code});
                let _ = emit(&format!("{body}\n"));
            } else {
                eprintln!("Error: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Adds "did you mean" to an unknown command that is a subcommand one level down (`pinchwork
/// pickup` → `pinchwork tasks pickup`) or the name of an MCP tool (`delegate`).
fn suggest_command(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let (ErrorKind::InvalidSubcommand, Some(ContextValue::String(word))) =
        (e.kind(), e.get(ContextKind::InvalidSubcommand))
    else {
        return e;
    };
    let word = word.to_ascii_lowercase();
    let cli = Cli::command();
    let nested = cli.get_subcommands().find_map(|parent| {
        parent
            .get_subcommands()
            .find(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
            .map(|c| format!("{} {}", parent.get_name(), c.get_name()))
    });
    let tool = || {
        ops::ALL
            .iter()
            .find(|op| op.tool == Some(word.as_str()))
            .and_then(|op| op.cli)
            .map(String::from)
    };
    if let Some(command) = nested.or_else(tool) {
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![format!("did you mean `pinchwork {command}`?").into()]),
        );
    }
    e
}

/// The command line's names for the API fields a command sends, so that the server's
/// messages name what the user typed (`--credits`, not `max_credits`).
fn field_flags(command: &Command) -> &'static [(&'static str, &'static str)] {
    const PROFILE: &[(&str, &str)] = &[
        ("good_at", "--good-at"),
        ("accepts_system_tasks", "--accepts-system-tasks"),
        ("webhook_url", "--webhook-url"),
        ("webhook_secret", "--webhook-secret"),
        ("name", "--name"),
    ];
    const PAGE: &[(&str, &str)] = &[
        ("limit", "--limit"),
        ("offset", "--offset"),
        ("min_reputation", "--min-reputation"),
        ("sort_by", "--sort-by"),
        ("role", "--role"),
        ("status", "--status"),
    ];
    match command {
        Command::Register(_) | Command::Me { .. } => PROFILE,
        Command::Credits(_) | Command::Agents { .. } => PAGE,
        Command::Admin(_) => &[
            ("agent_id", "AGENT"),
            ("amount", "AMOUNT"),
            ("reason", "--reason"),
        ],
        Command::Tasks(cmd) => match cmd {
            TasksCommand::Create { .. } => &[
                ("max_credits", "--credits"),
                ("deadline_minutes", "--deadline"),
                ("review_timeout_minutes", "--review-timeout"),
                ("claim_timeout_minutes", "--claim-timeout"),
                ("context", "--context"),
                ("tags", "--tags"),
                ("wait", "--wait"),
                ("need", "NEED"),
            ],
            TasksCommand::List { .. } | TasksCommand::Mine { .. } => PAGE,
            TasksCommand::Pickup { .. } => &[("count", "--batch"), ("tags", "--tags")],
            TasksCommand::Deliver { .. } => {
                &[("credits_claimed", "--credits"), ("result", "RESULT")]
            }
            TasksCommand::Approve { .. } | TasksCommand::Rate { .. } => {
                &[("rating", "--rating"), ("feedback", "--feedback")]
            }
            TasksCommand::Reject { .. } | TasksCommand::Report { .. } => {
                &[("reason", "--reason"), ("feedback", "--feedback")]
            }
            TasksCommand::Ask { .. } => &[("question", "QUESTION")],
            TasksCommand::Answer { .. } => &[("answer", "ANSWER")],
            TasksCommand::Message { .. } => &[("message", "TEXT")],
            _ => &[],
        },
        _ => &[],
    }
}

/// `message` with each API field name replaced by its command-line name. A name with `_` is
/// replaced wherever it stands; a plain word (`need`, `wait`) only where it is used as a
/// field's name: quoted, first in the message, or after "Missing" or "Invalid".
fn in_flags(message: &str, flags: &[(&str, &str)]) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(is_word) {
        out.push_str(&rest[..start]);
        let len = rest[start..]
            .find(|c: char| !is_word(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        let as_field = word.contains('_')
            || out.is_empty()
            || out.ends_with(['\'', '`'])
            || out.ends_with("Missing ")
            || out.ends_with("Invalid ");
        match flags.iter().find(|(field, _)| *field == word) {
            Some((_, flag)) if as_field => out.push_str(flag),
            _ => out.push_str(word),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// What a command needs: the saved credentials, the chosen profile, and a client.
struct Session {
    dir: PathBuf,
    creds: Credentials,
    profile_name: String,
    /// The profile was named with --profile / PINCHWORK_PROFILE.
    profile_asked: bool,
    url: String,
    api_key: Option<String>,
    /// Why the profile's key is not sent to `url`, when it belongs to another server.
    withheld: Option<String>,
    /// The key given with --api-key / PINCHWORK_API_KEY (not from the profile).
    explicit_key: Option<String>,
    json: bool,
}

impl Session {
    fn open(cli: &Cli) -> Result<Self, Failure> {
        let dir = config::config_dir().map_err(Failure::Local)?;
        let creds = config::load(&dir).map_err(Failure::Local)?;
        let asked = cli.profile.as_deref().filter(|p| !p.is_empty());
        let profile_name = creds.profile_name(asked);
        let target = Target::choose(
            &profile_name,
            creds.profiles.get(&profile_name),
            cli.url.as_deref(),
            cli.api_key.as_deref(),
        );
        server_url::parse(&target.url).map_err(Failure::Usage)?;
        let explicit_key = cli.api_key.clone().filter(|k| !k.trim().is_empty());
        Ok(Self {
            dir,
            creds,
            profile_name,
            profile_asked: asked.is_some(),
            url: target.url,
            api_key: target.api_key,
            withheld: target.withheld,
            explicit_key,
            json: cli.json,
        })
    }

    /// A client with the agent's key, or the reason there is none.
    fn agent(&self) -> Result<Client, Failure> {
        if let Some(why) = &self.withheld {
            return Err(Failure::Local(why.clone()));
        }
        if self.api_key.is_none() {
            let profile = if self.profile_asked {
                format!("--profile {} ", self.profile_name)
            } else {
                String::new()
            };
            return Err(Failure::Local(format!(
                "no API key for profile '{}': run `pinchwork {profile}register --name NAME` or \
                 `pinchwork {profile}login`, or set PINCHWORK_API_KEY",
                self.profile_name
            )));
        }
        self.client_with(self.api_key.clone())
    }

    /// A client for public endpoints (sends the key when there is one).
    fn public(&self) -> Result<Client, Failure> {
        self.client_with(self.api_key.clone())
    }

    /// A client sending `key`, after warning if it would cross the network in clear text.
    fn client_with(&self, key: Option<String>) -> Result<Client, Failure> {
        let client = Client::new(&self.url, key)?;
        if client.api_key().is_some()
            && let Some(warning) = server_url::plain_http_warning(&self.url)
        {
            eprintln!("Warning: {warning}");
        }
        Ok(client)
    }

    /// Prints `value` as the server's JSON with --json, else the readable `text`.
    fn show<T: Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) -> Outcome {
        if self.json {
            let mut json = serde_json::to_string_pretty(value).expect("wire types serialize");
            json.push('\n');
            emit(&json)
        } else {
            emit(&text(value))
        }
    }

    /// Saves `profile` under the session's profile name (making it current if none is).
    fn save_profile(&mut self, profile: Profile) -> Result<PathBuf, Failure> {
        self.creds.put_profile(&self.profile_name, profile);
        self.save()
    }

    /// Writes the credentials file (backing up the previous one), saying so when that
    /// converts a file of the older single-agent shape.
    fn save(&mut self) -> Result<PathBuf, Failure> {
        let path = config::save(&self.dir, &self.creds).map_err(Failure::Local)?;
        if std::mem::take(&mut self.creds.converted) {
            eprintln!(
                "Note: {} was in the older single-agent shape; its agent is now the profile \
                 '{}' (the file as it was: {}).",
                path.display(),
                config::DEFAULT_PROFILE,
                self.dir.join(config::BACKUP_NAME).display()
            );
        }
        Ok(path)
    }

    /// Refuses to overwrite a saved key unless forced: it could not be recovered.
    fn check_overwrite(&self, force: bool) -> Outcome {
        match self.creds.profiles.get(&self.profile_name) {
            Some(p) if p.api_key.is_some() && !force => Err(Failure::Usage(format!(
                "profile '{}' already holds agent {} ({}) — use --profile NAME for another \
                 agent, or --force to replace its key",
                self.profile_name,
                p.who(),
                p.server()
            ))),
            _ => Ok(()),
        }
    }
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Local(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

/// `text`, or standard input when it is `-`.
fn text_or_stdin(text: String, what: &str) -> Result<String, Failure> {
    if text != "-" {
        return Ok(text);
    }
    let mut buf = String::new();
    std::io::stdin()
        .read_to_string(&mut buf)
        .map_err(|e| Failure::Local(format!("cannot read the {what} from standard input: {e}")))?;
    Ok(buf)
}

fn read_file(path: &PathBuf, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::Local(format!(
            "cannot read the {what} from {}: {e}",
            path.display()
        ))
    })
}

async fn run(cli: Cli) -> Outcome {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pinchwork", &mut script);
        return emit(&String::from_utf8_lossy(&script));
    }
    let mut s = Session::open(&cli)?;
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Register(args) => register(&mut s, args).await,
        Command::Login(args) => login(&mut s, args).await,
        Command::Tasks(cmd) => tasks(&s, cmd).await,
        Command::Credits(page) => {
            let c = s.agent()?.credits(page).await?;
            s.show(&c, |c| output::credits(c, page.offset))
        }
        Command::Stats => s.show(&s.agent()?.stats().await?, output::stats),
        Command::Trust => s.show(&s.agent()?.trust().await?, output::trust),
        Command::Me { action: None } => s.show(&s.agent()?.me().await?, output::me),
        Command::Me {
            action:
                Some(MeCommand::Update {
                    good_at,
                    accepts_system_tasks,
                    webhook_url,
                    webhook_secret,
                }),
        } => {
            let req = UpdateProfileRequest {
                good_at,
                accepts_system_tasks,
                webhook_url,
                webhook_secret,
            };
            if req.good_at.is_none()
                && req.accepts_system_tasks.is_none()
                && req.webhook_url.is_none()
                && req.webhook_secret.is_none()
            {
                return Err(Failure::Usage(
                    "nothing to update: give --good-at, --accepts-system-tasks, --webhook-url or --webhook-secret".into(),
                ));
            }
            s.show(&s.agent()?.update_profile(&req).await?, output::me)
        }
        Command::Agents {
            action: Some(AgentsCommand::Show { id }),
            ..
        } => s.show(
            &s.public()?.agent_profile(&id).await?,
            output::agent_profile,
        ),
        Command::Agents {
            search,
            action: None,
        } => {
            let q = AgentQuery {
                search: search.search,
                tags: search.tags,
                min_reputation: search.min_reputation,
                sort_by: search.sort_by.map(|s| {
                    match s {
                        SortBy::Reputation => "reputation",
                        SortBy::TasksCompleted => "tasks_completed",
                    }
                    .to_string()
                }),
                page: search.page,
            };
            let list = s.public()?.agents(&q).await?;
            s.show(&list, |l| output::agents(l, q.page.offset))
        }
        Command::Events { since, replay } => {
            // Event ids start at 1: replaying after 0 replays everything kept.
            let after = since.or_else(|| replay.then(|| "0".to_string()));
            events(&s, after).await
        }
        Command::Admin(args) => admin(&s, args).await,
        Command::Profiles(cmd) => profiles(&mut s, cmd),
    }
}

async fn register(s: &mut Session, args: RegisterArgs) -> Outcome {
    s.check_overwrite(args.force)?;
    let req = RegisterRequest {
        name: args.name,
        good_at: args.good_at,
        accepts_system_tasks: args.accepts_system_tasks.then_some(true),
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
    };
    let res = s.client_with(None)?.register(&req).await?;
    let profile = Profile {
        api_key: Some(res.api_key.clone()),
        agent_id: Some(res.agent_id.clone()),
        agent_name: Some(req.name.clone()),
        url: Some(s.url.clone()),
        ..Default::default()
    };
    let path = s.save_profile(profile)?;
    let name = s.profile_name.clone();
    s.show(&res, |r| {
        format!(
            "Registered {} as agent {} with {} credits.\nAPI key saved in profile '{name}' ({}).\n",
            req.name,
            r.agent_id,
            r.credits,
            path.display()
        )
    })
}

async fn login(s: &mut Session, args: LoginArgs) -> Outcome {
    s.check_overwrite(args.force)?;
    let key = match s.explicit_key.clone() {
        Some(key) => key,
        None => {
            eprint!("API key: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::Local(format!("cannot read the key: {e}")))?;
            line.trim().to_string()
        }
    };
    if key.is_empty() {
        return Err(Failure::Usage("no API key given".into()));
    }
    let me = s.client_with(Some(key.clone()))?.me().await?;
    let profile = Profile {
        api_key: Some(key),
        agent_id: Some(me.id.clone()),
        agent_name: Some(me.name.clone()),
        url: Some(s.url.clone()),
        ..Default::default()
    };
    let path = s.save_profile(profile)?;
    let name = s.profile_name.clone();
    s.show(&me, |m| {
        format!(
            "Logged in as {} ({}); key saved in profile '{name}' ({}).\n",
            m.name,
            m.id,
            path.display()
        )
    })
}

fn profiles(s: &mut Session, cmd: ProfilesCommand) -> Outcome {
    match cmd {
        ProfilesCommand::List => {
            let current = s.creds.profile_name(None);
            if s.json {
                let list: Vec<_> = s
                    .creds
                    .profiles
                    .iter()
                    .map(|(name, p)| {
                        serde_json::json!({
                            "name": name,
                            "current": *name == current,
                            "agent_id": p.agent_id,
                            "agent_name": p.agent_name,
                            "url": p.url,
                            "has_key": p.api_key.is_some(),
                        })
                    })
                    .collect();
                return s.show(&list, |_| String::new());
            }
            if s.creds.profiles.is_empty() {
                return emit("No profiles saved yet: run `pinchwork register --name NAME`.\n");
            }
            let mut table = output::Table::new(&["", "PROFILE", "AGENT", "NAME", "URL"]);
            for (name, p) in &s.creds.profiles {
                let dash = || "-".to_string();
                table.row(vec![
                    if *name == current { "*" } else { "" }.into(),
                    name.clone(),
                    p.agent_id.clone().unwrap_or_else(dash),
                    p.agent_name.clone().unwrap_or_else(dash),
                    p.url.clone().unwrap_or_else(dash),
                ]);
            }
            emit(&table.render())
        }
        ProfilesCommand::Use { name } => {
            if !s.creds.profiles.contains_key(&name) {
                return Err(Failure::Local(format!("no profile named '{name}'")));
            }
            s.creds.current = Some(name.clone());
            s.save()?;
            emit(&format!("Current profile: {name}\n"))
        }
    }
}

async fn tasks(s: &Session, cmd: TasksCommand) -> Outcome {
    let c = s.agent()?;
    match cmd {
        TasksCommand::Create {
            need,
            credits,
            tags,
            context,
            context_file,
            deadline,
            review_timeout,
            claim_timeout,
            wait,
            private,
        } => {
            let context = match context_file {
                Some(path) => Some(read_file(&path, "context")?),
                None => context,
            };
            let req = CreateTaskRequest {
                need: text_or_stdin(need, "need")?,
                context,
                max_credits: credits,
                tags: (!tags.is_empty()).then_some(tags),
                wait,
                deadline_minutes: deadline,
                review_timeout_minutes: review_timeout,
                claim_timeout_minutes: claim_timeout,
                private: private.then_some(true),
            };
            let outcome = c.create_task(&req).await?;
            s.show(&outcome, |o| match o {
                CreateTaskOutcome::Created(created) => {
                    let mut text = output::created(created);
                    if wait.is_some() {
                        text.push_str("Not delivered within the wait; it stays open.\n");
                    }
                    text
                }
                CreateTaskOutcome::Settled(task) => output::task(task),
            })
        }
        TasksCommand::List { search, tags, page } => {
            let q = TaskQuery { tags, search, page };
            let list = c.available(&q).await?;
            s.show(&list, |l| output::available(l, page.offset))
        }
        TasksCommand::Mine { role, status, page } => {
            let q = MyTasksQuery { role, status, page };
            let list = c.my_tasks(&q).await?;
            let me = s
                .creds
                .profiles
                .get(&s.profile_name)
                .filter(|p| p.api_key == s.api_key)
                .and_then(|p| p.agent_id.clone());
            s.show(&list, |l| output::mine(l, me.as_deref(), page.offset))
        }
        TasksCommand::Get { id } => s.show(&c.task(&id).await?, output::task),
        TasksCommand::Pickup { id: Some(id), .. } => {
            s.show(&c.pickup_task(&id).await?, output::pickup)
        }
        TasksCommand::Pickup {
            id: None,
            tags,
            search,
            batch: Some(count),
        } => {
            let req = BatchPickupRequest {
                count: Some(count),
                tags: (!tags.is_empty()).then_some(tags),
                search,
            };
            s.show(&c.pickup_batch(&req).await?, output::pickups)
        }
        TasksCommand::Pickup {
            id: None,
            tags,
            search,
            batch: None,
        } => {
            let q = TaskQuery {
                tags,
                search,
                ..Default::default()
            };
            match c.pickup(&q).await? {
                Some(claimed) => s.show(&claimed, output::pickup),
                // As the API's 204: no body, so `--json … | jq -r .task_id` prints nothing.
                None if s.json => {
                    eprintln!("No tasks available.");
                    Ok(())
                }
                None => emit("No tasks available.\n"),
            }
        }
        TasksCommand::Deliver {
            id,
            result,
            file,
            credits,
        } => {
            let result = match (file, result) {
                (Some(path), _) => read_file(&path, "result")?,
                (None, Some(text)) => text_or_stdin(text, "result")?,
                (None, None) => return Err(Failure::Usage("give the result or --file".into())),
            };
            let req = DeliverRequest {
                result: Some(result),
                credits_claimed: credits,
            };
            let task = c.deliver(&id, &req).await?;
            s.show(&task, |t| {
                format!(
                    "Delivered task {} ({}); waiting for the poster's review.\n",
                    t.task_id,
                    t.credits_charged
                        .map_or_else(String::new, |c| format!("{c} credits")),
                )
            })
        }
        TasksCommand::Approve {
            id,
            rating,
            feedback,
        } => {
            let task = c.approve(&id, &ApproveRequest { rating, feedback }).await?;
            s.show(&task, |t| {
                format!(
                    "Approved task {}: {} credits charged, paid to {} (less the platform fee).\n",
                    t.task_id,
                    t.credits_charged.unwrap_or(t.max_credits),
                    t.worker_id.as_deref().unwrap_or("the worker")
                )
            })
        }
        TasksCommand::Reject {
            id,
            reason,
            feedback,
        } => {
            let req = RejectRequest {
                reason: Some(reason),
                feedback,
            };
            let task = c.reject(&id, &req).await?;
            s.show(&task, |t| {
                let mut text = format!(
                    "Rejected the delivery of task {} ({}).",
                    t.task_id, t.status
                );
                if let Some(grace) = &t.rejection_grace_deadline {
                    text.push_str(&format!(" The worker may deliver again until {grace}."));
                }
                text.push('\n');
                text
            })
        }
        TasksCommand::Cancel { id } => s.show(&c.cancel(&id).await?, |t| {
            format!("Cancelled task {}; its escrow is refunded.\n", t.task_id)
        }),
        TasksCommand::Abandon { id } => s.show(&c.abandon(&id).await?, output::abandoned),
        TasksCommand::Rate {
            id,
            rating,
            feedback,
        } => {
            let req = RateRequest {
                rating: Some(rating),
                feedback,
            };
            s.show(&c.rate(&id, &req).await?, |r| {
                format!(
                    "Rated {} {}/5 for task {}.\n",
                    r.rated_id, r.rating, r.task_id
                )
            })
        }
        TasksCommand::Report { id, reason } => {
            let req = ReportRequest {
                reason: Some(reason),
            };
            s.show(&c.report(&id, &req).await?, |r| {
                format!("Reported task {} (report {}).\n", r.task_id, r.report_id)
            })
        }
        TasksCommand::Ask { id, question } => {
            let q = c.ask(&id, &text_or_stdin(question, "question")?).await?;
            s.show(&q, |q| {
                format!("Asked question {} on task {}.\n", q.id, q.task_id)
            })
        }
        TasksCommand::Answer {
            id,
            question_id,
            answer,
        } => {
            let answer = text_or_stdin(answer, "answer")?;
            s.show(
                &c.answer(&id, &question_id, &answer).await?,
                output::question,
            )
        }
        TasksCommand::Questions { id } => s.show(&c.questions(&id).await?, output::questions),
        TasksCommand::Message { id, text } => {
            let text = text_or_stdin(text, "message")?;
            s.show(&c.send_message(&id, &text).await?, output::message)
        }
        TasksCommand::Messages { id } => s.show(&c.messages(&id).await?, output::messages),
    }
}

async fn events(s: &Session, last_event_id: Option<String>) -> Outcome {
    let profile = s.profile_name.clone();
    let mut connections = 0u64;
    let mut stream = s
        .agent()?
        .events(last_event_id)?
        .on_status(move |status| match status {
            StreamStatus::Connected => {
                connections += 1;
                if connections == 1 {
                    eprintln!("Listening for the events of profile '{profile}' (Ctrl-C to stop).");
                } else {
                    eprintln!("Reconnected.");
                }
            }
            StreamStatus::Reconnecting { error, delay } => {
                eprintln!(
                    "Connection lost ({error}); reconnecting in {} s.",
                    delay.as_secs_f32()
                );
            }
        });
    if !s.json {
        emit(&output::event_header())?;
    }
    loop {
        let event = stream.next().await?;
        let line = if s.json {
            let mut line = serde_json::to_string(&event.data).expect("JSON values serialize");
            line.push('\n');
            line
        } else {
            output::event(&event)
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return Err(Failure::OutputClosed);
        }
    }
}

async fn admin(s: &Session, args: AdminArgs) -> Outcome {
    let key = args
        .admin_key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            Failure::Usage("the admin key is needed: --admin-key or PINCHWORK_ADMIN_KEY".into())
        })?;
    let c = s.public()?;
    match args.action {
        AdminCommand::Grant {
            agent,
            amount,
            reason,
        } => {
            let req = GrantRequest {
                agent_id: Some(agent),
                amount: Some(amount),
                reason,
            };
            s.show(&c.admin_grant(&key, &req).await?, |g| {
                format!(
                    "Granted {} credits to {} ({}); balance {}.\n",
                    g.granted, g.agent_id, g.reason, g.balance
                )
            })
        }
        AdminCommand::Suspend { agent, reason } => {
            let req = SuspendRequest {
                agent_id: Some(agent),
                suspended: Some(true),
                reason,
            };
            s.show(&c.admin_suspend(&key, &req).await?, |r| {
                format!("Suspended {}.\n", r.agent_id)
            })
        }
        AdminCommand::Unsuspend { agent } => {
            let req = SuspendRequest {
                agent_id: Some(agent),
                suspended: Some(false),
                reason: None,
            };
            s.show(&c.admin_suspend(&key, &req).await?, |r| {
                format!("Lifted the suspension of {}.\n", r.agent_id)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_name_the_flags_that_were_typed() {
        let create = &[
            ("max_credits", "--credits"),
            ("need", "NEED"),
            ("wait", "--wait"),
        ];
        for (said, shown) in [
            (
                "max_credits must be between 1 and 100000",
                "--credits must be between 1 and 100000",
            ),
            (
                "Invalid request body: max_credits: expected i64",
                "Invalid request body: --credits: expected i64",
            ),
            ("Missing 'need' field", "Missing 'NEED' field"),
            (
                "wait must be between 1 and 300",
                "--wait must be between 1 and 300",
            ),
            // English words that happen to be field names stay as they are.
            ("You need 50 credits, wait", "You need 50 credits, wait"),
            (
                "max_creditsx and xmax_credits",
                "max_creditsx and xmax_credits",
            ),
        ] {
            assert_eq!(in_flags(said, create), shown);
        }
    }

    #[test]
    fn unknown_commands_suggest_the_nested_one_or_the_tools_command() {
        for (typed, suggested) in [
            (vec!["pinchwork", "pickup"], "pinchwork tasks pickup"),
            (
                vec!["pinchwork", "deliver", "tk-1", "x"],
                "pinchwork tasks deliver",
            ),
            (vec!["pinchwork", "delegate", "x"], "pinchwork tasks create"),
        ] {
            let e = suggest_command(Cli::try_parse_from(&typed).unwrap_err()).to_string();
            assert!(
                e.contains(&format!("did you mean `{suggested}`?")),
                "{typed:?}: {e}"
            );
        }
    }

    /// The help of each command that calls one operation is that operation's summary, the
    /// same words as the server's route table and the MCP tool.
    #[test]
    fn command_help_comes_from_the_operations_table() {
        let cli = Cli::command();
        let mut covered = 0;
        for op in ops::ALL {
            let Some(path) = op.cli else { continue };
            let mut cmd = &cli;
            for word in path.split(' ') {
                cmd = cmd
                    .find_subcommand(word)
                    .unwrap_or_else(|| panic!("no command `pinchwork {path}`"));
            }
            let about = cmd.get_about().map(|a| a.to_string());
            assert_eq!(about.as_deref(), Some(op.summary), "pinchwork {path}");
            assert!(
                cmd.get_long_about().is_none(),
                "pinchwork {path}: one description"
            );
            covered += 1;
        }
        assert_eq!(covered, 25);
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_is_documented() {
        fn check(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            assert!(cmd.get_about().is_some(), "{path} has no help");
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help");
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    check(sub, &path);
                }
            }
        }
        check(&Cli::command(), "");
    }
}
