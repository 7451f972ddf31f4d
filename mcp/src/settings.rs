//! Where the server is and who we are: `PINCHWORK_URL`, `PINCHWORK_API_KEY`, and the
//! credentials file of the `pinchwork` CLI (profile from `PINCHWORK_PROFILE`).

use crate::credentials::{self, Credentials, Profile};
use pinchwork_client::client::DEFAULT_URL;
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
    /// Reads the environment and the CLI's credentials file, with the CLI's precedence:
    /// `PINCHWORK_URL`, else the profile's server, else `http://localhost:8000`;
    /// `PINCHWORK_API_KEY`, else the profile's key.
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
        let saved = creds.profiles.get(&profile);
        let url = var("PINCHWORK_URL")
            .or_else(|| saved.and_then(|p| p.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.into());
        let api_key = var("PINCHWORK_API_KEY").or_else(|| saved.and_then(|p| p.api_key.clone()));
        Ok(Self {
            url,
            api_key,
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
    /// there is none), re-reading the file first so other profiles are kept. Answers the path
    /// written, or `None` when these settings save nothing.
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
        creds.profiles.insert(
            self.profile.clone(),
            Profile {
                api_key: Some(api_key.into()),
                agent_id: Some(agent_id.into()),
                agent_name: Some(agent_name.into()),
                url: Some(self.url.clone()),
            },
        );
        if creds.current.is_none() {
            creds.current = Some(self.profile.clone());
        }
        credentials::save(dir, &creds).map(Some)
    }
}
