//! `pinchwork me`: who you are; `me update` changes your profile.

use crate::output;
use crate::session::{Failure, Outcome, Session};
use clap::Subcommand;
use pinchwork_client::ops;
use pinchwork_client::types::UpdateProfileRequest;

#[derive(Debug, Subcommand)]
pub enum MeCommand {
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

/// `pinchwork me`, or `pinchwork me update …`.
pub async fn run(s: &Session, action: Option<MeCommand>) -> Outcome {
    let Some(MeCommand::Update {
        good_at,
        accepts_system_tasks,
        webhook_url,
        webhook_secret,
    }) = action
    else {
        return s.show(&s.agent()?.me().await?, output::me);
    };
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
