//! `pinchwork admin …`: operator commands, with the admin key.

use crate::session::{Failure, Outcome, Session};
use clap::{Args, Subcommand};
use pinchwork_client::ops;
use pinchwork_client::types::{GrantRequest, SuspendRequest};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's admin key.
    #[arg(
        long,
        global = true,
        env = "PINCHWORK_ADMIN_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub admin_key: Option<String>,
    #[command(subcommand)]
    pub action: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
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

pub async fn run(s: &Session, args: AdminArgs) -> Outcome {
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
