//! Where the server is and who we are: `PINCHWORK_URL`, `PINCHWORK_API_KEY`, and the
//! credentials file of the `pinchwork` CLI (profile from `PINCHWORK_PROFILE`).

use crate::credentials::{self, Credentials, Profile, Target};
use pinchwork_client::server_url;
use std::path::PathBuf;

/// How the MCP server reaches Pinchwork.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Pinchwork server's base URL.
    pub url: String,
    /// The agent's API key; `None` until the `register` tool is called.
    pub api_key: Option<String>,
    /// The profile of the credentials file this agent is saved under.
    pub profile: String,
    /// The directory of the credentials file; `None` saves nothing.
    pub config_dir: Option<PathBuf>,
}

impl Settings {
    /// Reads the environment and the CLI's credentials file, with the CLI's rules:
    /// `PINCHWORK_URL`, else the profile's server, else `http://localhost:8000`;
    /// `PINCHWORK_API_KEY`, else the profile's key, but only for the server it was saved for
    /// (a `PINCHWORK_URL` naming another server needs its own `PINCHWORK_API_KEY`).
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        // Without a configuration directory (no HOME), the environment alone configures us
        // and a newly registered key is not saved.
        let dir = match credentials::config_dir() {
            Ok(dir) => Some(dir),
            Err(e) => {
                tracing::warn!("{e}; credentials will not be read or saved");
                None
            }
        };
        let creds = match &dir {
            Some(dir) => credentials::load(dir)?,
            None => Credentials::default(),
        };
        let profile = creds.profile_name(var("PINCHWORK_PROFILE").as_deref());
        let target = Target::choose(
            &profile,
            creds.profiles.get(&profile),
            var("PINCHWORK_URL").as_deref(),
            var("PINCHWORK_API_KEY").as_deref(),
        );
        server_url::parse(&target.url)?;
        if let Some(why) = target.withheld {
            return Err(why);
        }
        if target.api_key.is_some()
            && let Some(warning) = server_url::plain_http_warning(&target.url)
        {
            tracing::warn!("{warning}");
        }
        Ok(Self {
            url: target.url,
            api_key: target.api_key,
            profile,
            config_dir: dir,
        })
    }

    /// Settings for a server at `url` with `api_key`, saving nothing.
    pub fn new(url: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            url: url.into(),
            api_key,
            profile: credentials::DEFAULT_PROFILE.into(),
            config_dir: None,
        }
    }

    /// Saves a newly registered agent under this profile (making it the current profile when
    /// there is none), re-reading the file first so other profiles are kept. A key saved in
    /// the profile meanwhile is never replaced. Answers the path written, or `None` when these
    /// settings save nothing.
    pub fn save_agent(
        &self,
        agent_id: &str,
        agent_name: &str,
        api_key: &str,
    ) -> Result<Option<PathBuf>, String> {
        let Some(dir) = &self.config_dir else {
            return Ok(None);
        };
        let mut creds: Credentials = credentials::load(dir)?;
        if let Some(held) = creds.profiles.get(&self.profile)
            && held.api_key.is_some()
        {
            return Err(format!(
                "profile '{}' already holds the key of agent {}, which is kept",
                self.profile,
                held.who()
            ));
        }
        creds.put_profile(
            &self.profile,
            Profile {
                api_key: Some(api_key.into()),
                agent_id: Some(agent_id.into()),
                agent_name: Some(agent_name.into()),
                url: Some(self.url.clone()),
                ..Default::default()
            },
        );
        credentials::save(dir, &creds).map(Some)
    }
}
