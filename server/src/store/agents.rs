//! Agents: their rows, credits and counters, and who there is to route work to.

use super::rows::{self, AGENT_COLS, AGENT_WRITTEN_COLS};
use super::sql::{Cell, Transaction, args};
use super::{Counter, Result};
use crate::model::{Agent, Millis, RoutingHints};

impl Transaction<'_> {
    /// Adds the agent; false (and nothing changed) when one with its id exists.
    pub async fn insert_agent(&mut self, a: &Agent) -> Result<bool> {
        let digest = Cell::Bytes((!a.key_digest.is_empty()).then(|| a.key_digest.clone()));
        let mut values = args![&a.id, &a.name];
        values.push(digest);
        values.extend(args![
            a.credits,
            a.reputation,
            a.rating_count,
            a.tasks_posted,
            a.tasks_completed,
            a.accepts_system_tasks,
            &a.good_at,
            rows::list_json(&a.capability_tags),
            a.suspended,
            a.abandon_count,
            a.last_abandon_at,
            &a.webhook_url,
            &a.webhook_secret,
            a.created_at,
        ]);
        let sql = format!(
            "INSERT INTO agents ({AGENT_WRITTEN_COLS}) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) \
             ON CONFLICT (id) DO NOTHING"
        );
        Ok(self.execute(&sql, values).await? == 1)
    }

    pub async fn agent(&mut self, id: &str) -> Result<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1");
        self.fetch_optional(&sql, args![id], rows::agent_from).await
    }

    /// The agent and how many tasks it holds claimed, in one statement (a pickup checks both).
    pub async fn agent_with_claims(&mut self, id: &str) -> Result<Option<(Agent, i64)>> {
        let sql = format!(
            "SELECT {AGENT_COLS}, (SELECT count(*) FROM tasks WHERE worker_id = $1 \
             AND status = 'claimed') AS active_claims FROM agents WHERE id = $1"
        );
        self.fetch_optional(&sql, args![id], |r| {
            Ok((rows::agent_from(r)?, r.int("active_claims")?))
        })
        .await
    }

    pub async fn agent_by_key_digest(&mut self, digest: &[u8]) -> Result<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE key_digest = $1");
        let digest = vec![Cell::Bytes(Some(digest.to_vec()))];
        self.fetch_optional(&sql, digest, rows::agent_from).await
    }

    /// Writes the profile fields (never credits, see `add_credits`, nor the abandon count,
    /// see `count_abandon`).
    pub async fn save_agent_profile(&mut self, a: &Agent) -> Result<()> {
        self.execute(
            "UPDATE agents SET name = $2, accepts_system_tasks = $3, good_at = $4, \
             capability_tags = $5, suspended = $6, webhook_url = $7, webhook_secret = $8 \
             WHERE id = $1",
            args![
                &a.id,
                &a.name,
                a.accepts_system_tasks,
                &a.good_at,
                rows::list_json(&a.capability_tags),
                a.suspended,
                &a.webhook_url,
                &a.webhook_secret,
            ],
        )
        .await?;
        Ok(())
    }

    /// Counts an abandon at `now`: the count starts again at 1 once a cooldown (reached at
    /// `threshold` abandons, `cooldown_ms` long) has been served. One statement.
    pub async fn count_abandon(
        &mut self,
        agent_id: &str,
        now: Millis,
        threshold: i64,
        cooldown_ms: Millis,
    ) -> Result<()> {
        self.execute(
            "UPDATE agents SET abandon_count = CASE WHEN abandon_count >= $2 \
             AND coalesce(last_abandon_at, 0) + $3 <= $4 THEN 1 ELSE abandon_count + 1 END, \
             last_abandon_at = $4 WHERE id = $1",
            args![agent_id, threshold, cooldown_ms, now],
        )
        .await?;
        Ok(())
    }

    pub async fn bump(&mut self, agent_id: &str, counter: Counter) -> Result<()> {
        let sql = match counter {
            Counter::TasksPosted => {
                "UPDATE agents SET tasks_posted = tasks_posted + 1 WHERE id = $1"
            }
            Counter::TasksCompleted => {
                "UPDATE agents SET tasks_completed = tasks_completed + 1 WHERE id = $1"
            }
        };
        self.execute(sql, args![agent_id]).await?;
        Ok(())
    }

    pub(super) async fn add_credits(&mut self, agent_id: &str, delta: i64) -> Result<()> {
        self.execute(
            "UPDATE agents SET credits = credits + $2 WHERE id = $1",
            args![agent_id, delta],
        )
        .await?;
        Ok(())
    }

    /// Takes `amount` only if the balance covers it; false (and nothing taken) otherwise.
    pub(super) async fn take_credits(&mut self, agent_id: &str, amount: i64) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE agents SET credits = credits - $2 WHERE id = $1 AND credits >= $2",
                args![agent_id, amount],
            )
            .await?;
        Ok(n == 1)
    }

    /// Whether any active agent does system work, and whether any has skills to match on.
    pub async fn routing_hints(&mut self) -> Result<RoutingHints> {
        self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM agents WHERE accepts_system_tasks \
             AND suspended = FALSE AND key_digest IS NOT NULL) AS infra, \
             EXISTS (SELECT 1 FROM agents WHERE (good_at IS NOT NULL \
             OR capability_tags IS NOT NULL) AND suspended = FALSE \
             AND key_digest IS NOT NULL) AS skilled",
            args![],
            |r| {
                Ok(RoutingHints {
                    infra_agents: r.flag("infra")?,
                    skilled_agents: r.flag("skilled")?,
                })
            },
        )
        .await
    }

    /// Active agents with skills to match a task to, best reputation first, never `exclude`.
    pub async fn match_candidates(&mut self, exclude: &str, limit: i64) -> Result<Vec<Agent>> {
        let sql = format!(
            "SELECT {AGENT_COLS} FROM agents WHERE suspended = FALSE AND key_digest IS NOT NULL \
             AND id <> $1 AND (good_at IS NOT NULL OR capability_tags IS NOT NULL) \
             ORDER BY reputation DESC LIMIT $2"
        );
        self.fetch_all(&sql, args![exclude, limit], rows::agent_from)
            .await
    }

    /// Tells the other nodes sharing the database, once this transaction commits, that the
    /// agent's standing changed (a no-op where no other node can be).
    pub async fn announce_agent_change(&mut self, agent_id: &str) -> Result<()> {
        self.notify("agent", agent_id).await
    }
}
