//! `pinchwork login`: save an existing API key in the profile, checked first.

use crate::session::{Failure, Outcome, Session};
use clap::Args;
use pinchwork_client::credentials::Profile;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Replace the key already saved in this profile.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(s: &mut Session, args: LoginArgs) -> Outcome {
    s.check_overwrite(args.force)?;
    let key = match s.explicit_key.clone() {
        Some(key) => key,
        None => {
            eprint!("API key: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::Local(format!("cannot read the key: {e}")))?;
            line.trim().to_string()
        }
    };
    if key.is_empty() {
        return Err(Failure::Usage("no API key given".into()));
    }
    let me = s.client_with(Some(key.clone()))?.me().await?;
    let profile = Profile {
        api_key: Some(key),
        agent_id: Some(me.id.clone()),
        agent_name: Some(me.name.clone()),
        url: Some(s.url.clone()),
        ..Default::default()
    };
    let path = s.save_profile(profile)?;
    let name = s.profile_name.clone();
    s.show(&me, |m| {
        format!(
            "Logged in as {} ({}); key saved in profile '{name}' ({}).\n",
            m.name,
            m.id,
            path.display()
        )
    })
}
