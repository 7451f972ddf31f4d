//! What every command runs in: the saved credentials and the chosen profile, a client for the
//! server, printing the answer (readable or `--json`), and how a command fails.

use crate::Cli;
use pinchwork_client::credentials::{self as config, Credentials, Profile, Target};
use pinchwork_client::{Client, ClientError, server_url};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::PathBuf;

/// A failed command and its exit status.
#[derive(Debug)]
pub enum Failure {
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
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::OutputClosed => 0,
            Self::Api(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
            Self::Local(_) => 4,
        }
    }

    pub fn message(&self) -> String {
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

pub type Outcome = Result<(), Failure>;

/// What a command needs: the saved credentials, the chosen profile, and a client.
pub struct Session {
    pub dir: PathBuf,
    pub creds: Credentials,
    pub profile_name: String,
    /// The profile was named with --profile / PINCHWORK_PROFILE.
    pub profile_asked: bool,
    pub url: String,
    pub api_key: Option<String>,
    /// Why the profile's key is not sent to `url`, when it belongs to another server.
    pub withheld: Option<String>,
    /// The key given with --api-key / PINCHWORK_API_KEY (not from the profile).
    pub explicit_key: Option<String>,
    pub json: bool,
}

impl Session {
    pub fn open(cli: &Cli) -> Result<Self, Failure> {
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
    pub fn agent(&self) -> Result<Client, Failure> {
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
    pub fn public(&self) -> Result<Client, Failure> {
        self.client_with(self.api_key.clone())
    }

    /// A client sending `key`, after warning if it would cross the network in clear text.
    pub fn client_with(&self, key: Option<String>) -> Result<Client, Failure> {
        let client = Client::new(&self.url, key)?;
        if client.api_key().is_some()
            && let Some(warning) = server_url::plain_http_warning(&self.url)
        {
            eprintln!("Warning: {warning}");
        }
        Ok(client)
    }

    /// Prints `value` as the server's JSON with --json, else the readable `text`.
    pub fn show<T: Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) -> Outcome {
        if self.json {
            let mut json = serde_json::to_string_pretty(value).expect("wire types serialize");
            json.push('\n');
            emit(&json)
        } else {
            emit(&text(value))
        }
    }

    /// Saves `profile` under the session's profile name (making it current if none is).
    pub fn save_profile(&mut self, profile: Profile) -> Result<PathBuf, Failure> {
        self.creds.put_profile(&self.profile_name, profile);
        self.save()
    }

    /// Writes the credentials file (backing up the previous one), saying so when that
    /// converts a file of the older single-agent shape.
    pub fn save(&mut self) -> Result<PathBuf, Failure> {
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
    pub fn check_overwrite(&self, force: bool) -> Outcome {
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
pub fn emit(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Local(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

/// `text`, or standard input when it is `-`.
pub fn text_or_stdin(text: String, what: &str) -> Result<String, Failure> {
    if text != "-" {
        return Ok(text);
    }
    let mut buf = String::new();
    std::io::stdin()
        .read_to_string(&mut buf)
        .map_err(|e| Failure::Local(format!("cannot read the {what} from standard input: {e}")))?;
    Ok(buf)
}

pub fn read_file(path: &PathBuf, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::Local(format!(
            "cannot read the {what} from {}: {e}",
            path.display()
        ))
    })
}
