//! `pinchwork events`: follow your events live, one line each.

use crate::output;
use crate::session::{Failure, Outcome, Session, emit};
use pinchwork_client::events::StreamStatus;
use std::io::Write;

/// `pinchwork events`: from `since` (an event id), or everything kept with `replay`, else only
/// new events.
pub async fn run(s: &Session, since: Option<String>, replay: bool) -> Outcome {
    // Event ids start at 1: replaying after 0 replays everything kept.
    let last_event_id = since.or_else(|| replay.then(|| "0".to_string()));
    let profile = s.profile_name.clone();
    let mut connections = 0u64;
    let mut stream = s
        .agent()?
        .events(last_event_id)?
        .on_status(move |status| match status {
            StreamStatus::Connected => {
                connections += 1;
                if connections == 1 {
                    eprintln!("Listening for the events of profile '{profile}' (Ctrl-C to stop).");
                } else {
                    eprintln!("Reconnected.");
                }
            }
            StreamStatus::Reconnecting { error, delay } => {
                eprintln!(
                    "Connection lost ({error}); reconnecting in {} s.",
                    delay.as_secs_f32()
                );
            }
        });
    if !s.json {
        emit(&output::event_header())?;
    }
    loop {
        let event = stream.next().await?;
        let line = if s.json {
            let mut line = serde_json::to_string(&event).expect("events serialize");
            line.push('\n');
            line
        } else {
            output::event(&event)
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return Err(Failure::OutputClosed);
        }
    }
}
