//! The commands, one module each: its arguments and what it runs.

use clap::Args;

pub mod account;
pub mod admin;
pub mod agents;
pub mod events;
pub mod login;
pub mod me;
pub mod profiles;
pub mod register;
pub mod tasks;

/// Paging, for the commands that list (credits, tasks, agents).
#[derive(Debug, Args)]
pub struct PageArgs {
    /// How many entries to show (1-100).
    #[arg(long)]
    pub limit: Option<i64>,
    /// How many entries to skip.
    #[arg(long)]
    pub offset: Option<i64>,
}
