//! The event log, and the news a PostgreSQL node tells the others at commit.

use super::query::Dialect;
use super::sql::{Transaction, args};
use super::{NodeNews, Result};
use crate::model::{Event, EventData, EventKind, Millis};

/// The channel nodes tell each other on, at commit: events logged, agents changed.
pub(super) const EVENTS_CHANNEL: &str = "pinchwork_events";

/// A stable 64-bit key for an advisory lock on one event recipient.
fn recipient_lock(recipient: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(recipient.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// `node event recipient`, `node agent id` or `node opened tasks` → the news, unless this node sent it (and so
/// acted on it already).
pub(super) fn parse_notice(payload: &str, node: &str) -> Option<NodeNews> {
    let mut parts = payload.splitn(3, ' ');
    let (from, kind, about) = (parts.next()?, parts.next()?, parts.next()?.to_string());
    if from == node {
        return None;
    }
    match kind {
        "event" => Some(NodeNews::Logged { recipient: about }),
        "agent" => Some(NodeNews::AgentChanged { agent: about }),
        "opened" => Some(NodeNews::TaskOpened),
        _ => None,
    }
}

impl Transaction<'_> {
    /// Logs the events (setting their ids and times; one recipient's in the order given) and
    /// returns each one's recipient's webhook URL, if any, so that deliveries are queued in
    /// the same transaction without another lookup.
    pub async fn append_events(
        &mut self,
        events: &mut [Event],
        now: Millis,
    ) -> Result<Vec<Option<String>>> {
        // On PostgreSQL each insert first waits for the recipient's turn (an advisory lock held
        // to commit, so one recipient's events commit in id order) and tells the other nodes
        // (NOTIFY is delivered at commit, and only then); locks are taken in one global order,
        // so two appends never wait on each other in a circle. SQLite's single writer orders
        // them already.
        const INSERT: &str = "INSERT INTO events (recipient, kind, task_id, data, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, \
             (SELECT nullif(webhook_url, '') FROM agents WHERE id = $1) AS webhook_url";
        const INSERT_IN_TURN: &str = "INSERT INTO events (recipient, kind, task_id, data, \
             created_at) SELECT $1, $2, $3, $4, $5 FROM (SELECT pg_advisory_xact_lock($6)) AS turn \
             RETURNING id, pg_notify($7, $8 || ' event ' || recipient) AS notified, \
             (SELECT nullif(webhook_url, '') FROM agents WHERE id = $1) AS webhook_url";
        let postgres = self.dialect() == Dialect::Postgres;
        // The recipients' lock keys, PostgreSQL's only: a digest per event would be wasted
        // work on SQLite's writer.
        let locks: Vec<i64> = match postgres {
            true => events
                .iter()
                .map(|e| recipient_lock(&e.recipient))
                .collect(),
            false => Vec::new(),
        };
        let mut order: Vec<usize> = (0..events.len()).collect();
        if postgres {
            order.sort_by_key(|&i| locks[i]);
        }
        let mut urls = vec![None; events.len()];
        let node = self.node().to_string();
        for i in order {
            let event = &mut events[i];
            let data = event.data.fields_json().to_string();
            let mut values = args![
                &event.recipient,
                event.kind().as_str(),
                &event.task_id,
                data,
                now
            ];
            let sql = if postgres {
                values.extend(args![locks[i], EVENTS_CHANNEL, node.as_str()]);
                INSERT_IN_TURN
            } else {
                INSERT
            };
            let (id, url) = self
                .fetch_one(sql, values, |r| {
                    Ok((r.int("id")?, r.opt_text("webhook_url")?))
                })
                .await?;
            event.id = id;
            event.created_at = now;
            urls[i] = url;
        }
        Ok(urls)
    }

    /// The recipient's events after `after_id`, oldest first.
    pub async fn events_after(
        &mut self,
        recipient: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let events = self
            .fetch_all(
                "SELECT id, kind, task_id, data, created_at, recipient FROM events \
                 WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3",
                args![recipient, after_id, limit],
                event_from,
            )
            .await?;
        Ok(events.into_iter().flatten().collect())
    }

    /// The id of the recipient's newest logged event (0 when none).
    pub async fn latest_event_id(&mut self, recipient: &str) -> Result<i64> {
        self.count(
            "SELECT coalesce(max(id), 0) AS n FROM events WHERE recipient = $1",
            args![recipient],
        )
        .await
    }

    /// Tells the other nodes `kind about` at commit (PostgreSQL; one process owns a SQLite
    /// database, so there is nobody to tell).
    pub(super) async fn notify(&mut self, kind: &str, about: &str) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            let payload = format!("{} {kind} {about}", self.node());
            self.execute("SELECT pg_notify($1, $2)", args![EVENTS_CHANNEL, payload])
                .await?;
        }
        Ok(())
    }
}

/// An event row (None for a kind or fields this server cannot read, from a newer node:
/// skipped, not fatal).
pub(super) fn event_from(r: &dyn super::sql::Cells) -> Result<Option<Event>> {
    let Some(kind) = EventKind::parse(&r.text("kind")?) else {
        return Ok(None);
    };
    // Fields this build cannot read are skipped like unknown kinds.
    let fields = serde_json::from_str(&r.text("data")?).unwrap_or_default();
    let Ok(data) = EventData::from_parts(kind, fields) else {
        return Ok(None);
    };
    Ok(Some(Event {
        id: r.int("id")?,
        task_id: r.text("task_id")?,
        recipient: r.text("recipient")?,
        data,
        created_at: r.int("created_at")?,
    }))
}
