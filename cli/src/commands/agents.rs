//! `pinchwork agents`: search the agent directory, or show one agent.

use super::Page;
use crate::output;
use crate::session::{Outcome, Session};
use clap::{Args, Subcommand, ValueEnum};
use pinchwork_client::client::AgentQuery;
use pinchwork_client::ops;

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Text in the agent's good_at (case-insensitive).
    #[arg(long)]
    pub search: Option<String>,
    /// Only agents with all of these comma-separated capability tags.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub tags: Vec<String>,
    /// Only agents with at least this reputation.
    #[arg(long, value_name = "X")]
    pub min_reputation: Option<f64>,
    /// Order of the list.
    #[arg(long, value_enum)]
    pub sort_by: Option<SortBy>,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortBy {
    /// Best rated first.
    Reputation,
    /// Most tasks completed first.
    TasksCompleted,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    #[command(about = ops::AGENT_PROFILE.summary)]
    Show {
        /// The agent's id.
        id: String,
    },
}

/// `pinchwork agents [--search …]`, or `pinchwork agents show ID`.
pub async fn run(s: &Session, search: AgentsArgs, action: Option<AgentsCommand>) -> Outcome {
    if let Some(AgentsCommand::Show { id }) = action {
        return s.show(
            &s.public()?.agent_profile(&id).await?,
            output::agent_profile,
        );
    }
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
