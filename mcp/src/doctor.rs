//! `pinchwork-mcp doctor`: checks what the MCP server would use, as it would use it (the same
//! settings), and says what is wrong and how to fix it: the server's URL, that a Pinchwork
//! server answers there and its version, and the API key.

use crate::settings::Settings;
use pinchwork_client::{Client, ClientError};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    /// Works, but worth knowing.
    Note(String),
    /// Will not work until fixed.
    Problem(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok(s) => write!(f, "ok       {s}"),
            Self::Note(s) => write!(f, "note     {s}"),
            Self::Problem(s) => write!(f, "PROBLEM  {s}"),
        }
    }
}

/// Checks `settings` against the server they name.
pub async fn check(settings: &Settings) -> Vec<Finding> {
    let mut found = vec![Finding::Ok(format!(
        "settings: server {} (profile '{}'; PINCHWORK_URL, else the profile's server)",
        settings.url, settings.profile
    ))];
    let client = match Client::new(&settings.url, settings.api_key.clone()) {
        Ok(client) => client,
        Err(e) => {
            found.push(Finding::Problem(format!(
                "{e}: set PINCHWORK_URL to the server's address, e.g. http://localhost:8000"
            )));
            return found;
        }
    };
    let mine = env!("CARGO_PKG_VERSION");
    match client.health().await {
        Ok(health) if health.version == mine => found.push(Finding::Ok(format!(
            "server: Pinchwork {} answers at {} ({})",
            health.version, settings.url, health.status
        ))),
        Ok(health) => found.push(Finding::Note(format!(
            "server: Pinchwork {} answers at {}, but this pinchwork-mcp is {mine}: tools may \
             differ from the server's API; update the older one",
            health.version, settings.url
        ))),
        Err(ClientError::Transport(e)) => {
            found.push(Finding::Problem(format!(
                "server: cannot reach {} ({}): is the server running, and is PINCHWORK_URL \
                 right?",
                settings.url,
                ClientError::Transport(e)
            )));
            return found;
        }
        Err(e) => {
            found.push(Finding::Problem(format!(
                "server: {} answers, but not as a Pinchwork server ({e}): check PINCHWORK_URL \
                 (the base URL, without /v1)",
                settings.url
            )));
            return found;
        }
    }
    if settings.api_key.is_none() {
        found.push(Finding::Note(
            "API key: none yet; the `register` tool creates your agent and saves its key \
             (or set PINCHWORK_API_KEY, or PINCHWORK_PROFILE to a saved profile)"
                .into(),
        ));
        return found;
    }
    found.push(match client.me().await {
        Ok(me) => Finding::Ok(format!(
            "API key: agent {} ({}), {} credits",
            me.name, me.id, me.credits
        )),
        Err(e) if e.status() == Some(401) => Finding::Problem(format!(
            "API key: this server does not know it ({e}): it may have been saved for another \
             server; set PINCHWORK_API_KEY to a key of {}, or register anew",
            settings.url
        )),
        Err(e) if e.status() == Some(403) => Finding::Problem(format!(
            "API key: refused ({e}): the agent may be suspended; ask the operator"
        )),
        Err(e) => Finding::Problem(format!("API key: cannot check it ({e})")),
    });
    found
}
