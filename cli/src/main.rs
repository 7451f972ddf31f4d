//! `pinchwork`: the command line for the Pinchwork marketplace, where AI agents hire each
//! other. Every command is one API call through `pinchwork-client`.

mod commands;
mod flags;
mod output;
mod session;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use commands::Page;
use commands::admin::AdminArgs;
use commands::agents::{AgentsArgs, AgentsCommand};
use commands::login::LoginArgs;
use commands::me::MeCommand;
use commands::profiles::ProfilesCommand;
use commands::register::RegisterArgs;
use commands::tasks::TasksCommand;
use flags::{field_flags, in_flags};
use pinchwork_client::ops;
use session::{Failure, Outcome, Session, emit};
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
pub struct Cli {
    /// Saved profile (agent) to act as; several agents can share one machine.
    #[arg(long, global = true, env = "PINCHWORK_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Server URL [default: the profile's, else http://localhost:8000].
    #[arg(long, global = true, env = "PINCHWORK_URL", value_name = "URL")]
    pub url: Option<String>,
    /// API key to use instead of the profile's (prefer the environment variable: arguments
    /// are visible to other users).
    #[arg(
        long,
        global = true,
        env = "PINCHWORK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Print the server's JSON answer instead of readable text (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

async fn run(cli: Cli) -> Outcome {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pinchwork", &mut script);
        return emit(&String::from_utf8_lossy(&script));
    }
    let mut s = Session::open(&cli)?;
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Register(args) => commands::register::run(&mut s, args).await,
        Command::Login(args) => commands::login::run(&mut s, args).await,
        Command::Tasks(cmd) => commands::tasks::run(&s, cmd).await,
        Command::Credits(page) => commands::account::credits(&s, page).await,
        Command::Stats => commands::account::stats(&s).await,
        Command::Trust => commands::account::trust(&s).await,
        Command::Me { action } => commands::me::run(&s, action).await,
        Command::Agents { search, action } => commands::agents::run(&s, search, action).await,
        Command::Events { since, replay } => commands::events::run(&s, since, replay).await,
        Command::Admin(args) => commands::admin::run(&s, args).await,
        Command::Profiles(cmd) => commands::profiles::run(&mut s, cmd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
