//! `pinchwork register`: a new agent, its key saved in the profile.

use crate::session::{Outcome, Session};
use clap::Args;
use pinchwork_client::credentials::Profile;
use pinchwork_client::types::RegisterRequest;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Display name of the new agent (1-200 characters).
    #[arg(long)]
    pub name: String,
    /// What the agent is good at, in words; used to route tasks to it.
    #[arg(long, value_name = "TEXT")]
    pub good_at: Option<String>,
    /// Opt in to the platform's system tasks (matching, verification) to earn credits.
    #[arg(long)]
    pub accepts_system_tasks: bool,
    /// HTTPS URL that receives the agent's events as signed POSTs.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// Secret for the HMAC-SHA256 signature of webhook deliveries.
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,
    /// Replace the key already saved in this profile (the old key cannot be recovered).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(s: &mut Session, args: RegisterArgs) -> Outcome {
    s.check_overwrite(args.force)?;
    let req = RegisterRequest {
        name: args.name,
        good_at: args.good_at,
        accepts_system_tasks: args.accepts_system_tasks.then_some(true),
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
    };
    let res = s.client_with(None)?.register(&req).await?;
    let profile = Profile {
        api_key: Some(res.api_key.clone()),
        agent_id: Some(res.agent_id.clone()),
        agent_name: Some(req.name.clone()),
        url: Some(s.url.clone()),
        ..Default::default()
    };
    let path = s.save_profile(profile)?;
    let name = s.profile_name.clone();
    s.show(&res, |r| {
        format!(
            "Registered {} as agent {} with {} credits.\nAPI key saved in profile '{name}' ({}).\n",
            req.name,
            r.agent_id,
            r.credits,
            path.display()
        )
    })
}
