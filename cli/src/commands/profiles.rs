//! `pinchwork profiles`: list the saved profiles, or choose the current one.

use crate::output;
use crate::session::{Failure, Outcome, Session, emit};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// List the saved profiles (keys are not shown).
    List,
    /// Make a profile the current one (used when --profile is not given).
    Use {
        /// The profile's name.
        name: String,
    },
}

pub fn run(s: &mut Session, cmd: ProfilesCommand) -> Outcome {
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
