//! The server's messages in the command line's words: the API field a message names becomes
//! the flag or argument the user typed (`--credits`, not `max_credits`).

use crate::Command;
use crate::commands::tasks;

/// The command line's names for the API fields a command sends, so that the server's
/// messages name what the user typed (`--credits`, not `max_credits`).
pub fn field_flags(command: &Command) -> &'static [(&'static str, &'static str)] {
    const PROFILE: &[(&str, &str)] = &[
        ("good_at", "--good-at"),
        ("accepts_system_tasks", "--accepts-system-tasks"),
        ("webhook_url", "--webhook-url"),
        ("webhook_secret", "--webhook-secret"),
        ("name", "--name"),
    ];
    const PAGE: &[(&str, &str)] = &[
        ("limit", "--limit"),
        ("offset", "--offset"),
        ("min_reputation", "--min-reputation"),
        ("sort_by", "--sort-by"),
        ("role", "--role"),
        ("status", "--status"),
    ];
    match command {
        Command::Register(_) | Command::Me { .. } => PROFILE,
        Command::Credits(_) | Command::Agents { .. } => PAGE,
        Command::Admin(_) => &[
            ("agent_id", "AGENT"),
            ("amount", "AMOUNT"),
            ("reason", "--reason"),
        ],
        Command::Tasks(cmd) => match cmd {
            tasks::TasksCommand::Create(_) => &[
                ("max_credits", "--credits"),
                ("deadline_minutes", "--deadline"),
                ("review_timeout_minutes", "--review-timeout"),
                ("claim_timeout_minutes", "--claim-timeout"),
                ("context", "--context"),
                ("tags", "--tags"),
                ("wait", "--wait"),
                ("need", "NEED"),
            ],
            tasks::TasksCommand::List(_) | tasks::TasksCommand::Mine(_) => PAGE,
            tasks::TasksCommand::Pickup(_) => &[("count", "--batch"), ("tags", "--tags")],
            tasks::TasksCommand::Deliver(_) => {
                &[("credits_claimed", "--credits"), ("result", "RESULT")]
            }
            tasks::TasksCommand::Approve(_) | tasks::TasksCommand::Rate(_) => {
                &[("rating", "--rating"), ("feedback", "--feedback")]
            }
            tasks::TasksCommand::Reject(_) | tasks::TasksCommand::Report(_) => {
                &[("reason", "--reason"), ("feedback", "--feedback")]
            }
            tasks::TasksCommand::Ask(_) => &[("question", "QUESTION")],
            tasks::TasksCommand::Answer(_) => &[("answer", "ANSWER")],
            tasks::TasksCommand::Message(_) => &[("message", "TEXT")],
            _ => &[],
        },
        _ => &[],
    }
}

/// `message` with each API field name replaced by its command-line name. A name with `_` is
/// replaced wherever it stands; a plain word (`need`, `wait`) only where it is used as a
/// field's name: quoted, first in the message, or after "Missing" or "Invalid".
pub fn in_flags(message: &str, flags: &[(&str, &str)]) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(is_word) {
        out.push_str(&rest[..start]);
        let len = rest[start..]
            .find(|c: char| !is_word(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        let as_field = word.contains('_')
            || out.is_empty()
            || out.ends_with(['\'', '`'])
            || out.ends_with("Missing ")
            || out.ends_with("Invalid ");
        match flags.iter().find(|(field, _)| *field == word) {
            Some((_, flag)) if as_field => out.push_str(flag),
            _ => out.push_str(word),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_name_the_flags_that_were_typed() {
        let create = &[
            ("max_credits", "--credits"),
            ("need", "NEED"),
            ("wait", "--wait"),
        ];
        for (said, shown) in [
            (
                "max_credits must be between 1 and 100000",
                "--credits must be between 1 and 100000",
            ),
            (
                "Invalid request body: max_credits: expected i64",
                "Invalid request body: --credits: expected i64",
            ),
            ("Missing 'need' field", "Missing 'NEED' field"),
            (
                "wait must be between 1 and 300",
                "--wait must be between 1 and 300",
            ),
            // English words that happen to be field names stay as they are.
            ("You need 50 credits, wait", "You need 50 credits, wait"),
            (
                "max_creditsx and xmax_credits",
                "max_creditsx and xmax_credits",
            ),
        ] {
            assert_eq!(in_flags(said, create), shown);
        }
    }
}
