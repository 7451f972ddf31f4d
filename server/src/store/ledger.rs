//! The ledger: transfers, an agent's lines and sums, and the audits of the books.

use super::cursor::{List, seq_after};
use super::query::{self, Args, Dialect, SeqList};
use super::rows::{self, StatFigures};
use super::sql::{Cell, Transaction, args};
use super::{Books, Page, Paged, Result};
use crate::model::{DAY, ESCROW_ACCOUNT, LedgerLine, MINT_ACCOUNT, Millis, Transfer};

/// Open tasks whose budget is held in escrow (a system task only when an agent funds it).
const ESCROWED: &str = "(is_system = FALSE OR payer_id IS NOT NULL) \
    AND status IN ('posted', 'claimed', 'delivered')";

/// A transfer's values, as its ledger line's columns are listed.
pub(super) fn transfer_cells(t: &Transfer) -> Vec<Cell> {
    args![
        &t.id,
        &t.from,
        &t.to,
        t.amount,
        &t.reason,
        &t.task_id,
        t.created_at
    ]
}

impl Transaction<'_> {
    /// Moves the transfer's credits and records it: taken from `from` (when `take`) only if
    /// its balance covers them, given to `to` (when `give`). False, and nothing changed, when
    /// the balance does not cover them. One statement on PostgreSQL (a data-modifying CTE,
    /// locking the same rows as the statements it replaces); three on SQLite, where a
    /// statement costs microseconds, not a round trip.
    pub async fn move_credits(&mut self, t: &Transfer, take: bool, give: bool) -> Result<bool> {
        if self.dialect() == Dialect::Postgres && t.from != t.to {
            const MOVE: &str = "WITH taken AS (UPDATE agents SET credits = credits - $4 \
                 WHERE $8 AND id = $2 AND credits >= $4 RETURNING id), \
                 moved AS (SELECT 1 AS ok WHERE NOT $8 OR EXISTS (SELECT 1 FROM taken)), \
                 given AS (UPDATE agents SET credits = credits + $4 \
                 WHERE $9 AND id = $3 AND EXISTS (SELECT 1 FROM moved) RETURNING id) \
                 INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 FROM moved";
            let mut values = transfer_cells(t);
            values.extend(args![take, give]);
            return Ok(self.execute(MOVE, values).await? == 1);
        }
        if take && !self.take_credits(&t.from, t.amount).await? {
            return Ok(false);
        }
        if give {
            self.add_credits(&t.to, t.amount).await?;
        }
        self.insert_transfer(t).await?;
        Ok(true)
    }

    /// Pays an approved task's escrow out to agents (`ts`) and records the completion with it:
    /// `worker`'s `tasks_completed` and a good outcome for each side's trust in the other
    /// (`query::adjust_trust`). One statement on PostgreSQL (a data-modifying CTE, locking the
    /// same rows as the statements it replaces), the approval's only one besides the task's
    /// own and its event; one per line and two more on SQLite.
    pub async fn pay_out_completed(
        &mut self,
        ts: &[Transfer],
        poster: &str,
        worker: &str,
        now: Millis,
    ) -> Result<()> {
        if self.dialect() != Dialect::Postgres || ts.is_empty() {
            for t in ts {
                self.move_credits(t, false, true).await?;
            }
            return self.record_completion(poster, worker, now).await;
        }
        // $1-$4 are the trust statement's (poster, worker, good, now); the lines follow.
        let rows: Vec<String> = (0..ts.len())
            .map(|i| {
                let n = |k: usize| 4 + 7 * i + k;
                format!(
                    "(${}, ${}, ${}, ${}::bigint, ${}, ${}, ${}::bigint)",
                    n(1),
                    n(2),
                    n(3),
                    n(4),
                    n(5),
                    n(6),
                    n(7)
                )
            })
            .collect();
        // Summed per agent, so that two lines to one agent both count; the worker is among
        // the agents updated even with no line of its own, to count the completion.
        let sql = format!(
            "WITH v (id, src, dst, amount, reason, task_id, created_at) AS (VALUES {}), \
             given AS (UPDATE agents AS a SET credits = a.credits + s.amount, \
             tasks_completed = a.tasks_completed + CASE WHEN a.id = $2 THEN 1 ELSE 0 END \
             FROM (SELECT dst, sum(amount)::bigint AS amount \
             FROM (SELECT dst, amount FROM v UNION ALL SELECT $2, 0) AS lines GROUP BY dst) AS s \
             WHERE a.id = s.dst RETURNING a.id), \
             trusted AS ({}) \
             INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at) \
             SELECT id, src, dst, amount, reason, task_id, created_at FROM v",
            rows.join(", "),
            query::adjust_trust(Dialect::Postgres, true),
        );
        let mut values = args![poster, worker, true, now];
        values.extend(ts.iter().flat_map(transfer_cells));
        self.execute(&sql, values).await?;
        Ok(())
    }

    pub async fn insert_transfer(&mut self, t: &Transfer) -> Result<()> {
        self.execute(
            "INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            transfer_cells(t),
        )
        .await?;
        Ok(())
    }

    /// Newest first, signed from the agent's side, with the total count (capped). A
    /// transfer to oneself is one line.
    pub async fn ledger_of(&mut self, agent_id: &str, page: &Page) -> Result<Paged<LedgerLine>> {
        let after = seq_after(List::Ledger, page)?;
        let mut args = Args::new(self.dialect());
        let agent = args.bind(agent_id.to_string());
        let cols = format!(
            "id, CASE WHEN dst = {agent} THEN amount ELSE -amount END AS amount, reason, \
             task_id, created_at"
        );
        let sides = [format!("src = {agent}"), format!("dst = {agent}")];
        let list = SeqList {
            table: "ledger",
            cols: &cols,
            sides: &sides,
            cond: "TRUE",
            newest_first: true,
        };
        let (lines, count) = query::seq_page(args, &list, page, after);
        self.seq_paged(lines, count, List::Ledger, page, |r| {
            Ok(LedgerLine {
                id: r.text("id")?,
                amount: r.int("amount")?,
                reason: r.text("reason")?,
                task_id: r.opt_text("task_id")?,
                created_at: r.int("created_at")?,
            })
        })
        .await
    }

    /// Credits the agent has in escrow: its open tasks' budgets and the system work it funds.
    pub async fn escrowed_by(&mut self, agent_id: &str) -> Result<i64> {
        self.count(
            "SELECT CAST((SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE poster_id = $1 \
             AND is_system = FALSE AND status IN ('posted', 'claimed', 'delivered')) \
             + (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE payer_id = $1 \
             AND status IN ('posted', 'claimed', 'delivered')) AS BIGINT) AS n",
            args![agent_id],
        )
        .await
    }

    /// The sums an agent's stats are made of.
    pub async fn stats_of(&mut self, agent_id: &str, now: Millis) -> Result<StatFigures> {
        let mut earned = [0; 3];
        for (slot, since) in earned
            .iter_mut()
            .zip([i64::MIN, now - 7 * DAY, now - 30 * DAY])
        {
            *slot = self
                .count(
                    "SELECT CAST(coalesce(sum(amount), 0) AS BIGINT) AS n FROM ledger \
                     WHERE dst = $1 AND reason = 'payment' AND created_at >= $2",
                    args![agent_id, since],
                )
                .await?;
        }
        let total_spent = self
            .count(
                "SELECT CAST(coalesce(sum(credits_charged), 0) AS BIGINT) AS n FROM tasks \
                 WHERE poster_id = $1 AND status = 'approved' AND is_system = FALSE",
                args![agent_id],
            )
            .await?;
        let total_fees_paid = self
            .count(
                "SELECT CAST(coalesce(sum(l.amount), 0) AS BIGINT) AS n FROM ledger l \
                 JOIN tasks t ON t.id = l.task_id \
                 WHERE l.reason = 'platform_fee' AND t.worker_id = $1 AND t.status = 'approved'",
                args![agent_id],
            )
            .await?;
        let (approved, delivered, avg_value) = self
            .fetch_one(
                "SELECT count(*) FILTER (WHERE status = 'approved') AS approved, \
                 count(*) FILTER (WHERE status = 'delivered') AS delivered, \
                 CAST(avg(credits_charged) FILTER (WHERE status = 'approved') \
                 AS DOUBLE PRECISION) AS avg_value \
                 FROM tasks WHERE worker_id = $1",
                args![agent_id],
                |r| {
                    Ok((
                        r.int("approved")?,
                        r.int("delivered")?,
                        r.opt_real("avg_value")?,
                    ))
                },
            )
            .await?;
        let approved_tags = self
            .fetch_all(
                "SELECT t.tags, l.amount FROM ledger l JOIN tasks t ON t.id = l.task_id \
                 WHERE l.dst = $1 AND l.reason = 'payment' AND t.tags IS NOT NULL",
                args![agent_id],
                |r| Ok((r.text("tags")?, r.int("amount")?)),
            )
            .await?;
        let [total_earned, recent_7d_earned, recent_30d_earned] = earned;
        Ok(StatFigures {
            total_earned,
            total_spent,
            total_fees_paid,
            approved,
            delivered,
            avg_value,
            earned_by_tag: rows::earned_by_tag(approved_tags),
            recent_7d_earned,
            recent_30d_earned,
        })
    }

    // Audits (tests and operators)

    pub async fn books(&mut self) -> Result<Books> {
        let sql = format!(
            "SELECT (SELECT CAST(coalesce(sum(credits), 0) AS BIGINT) FROM agents) AS balances, \
             (SELECT CAST(coalesce(sum(max_credits), 0) AS BIGINT) FROM tasks \
              WHERE {ESCROWED}) AS escrowed, \
             (SELECT CAST(coalesce(sum(amount), 0) AS BIGINT) FROM ledger \
              WHERE src = '{MINT_ACCOUNT}') \
             - (SELECT CAST(coalesce(sum(amount), 0) AS BIGINT) FROM ledger \
              WHERE dst = '{MINT_ACCOUNT}') AS minted"
        );
        self.fetch_one(&sql, args![], |r| {
            Ok(Books {
                balances: r.int("balances")?,
                escrowed: r.int("escrowed")?,
                minted: r.int("minted")?,
            })
        })
        .await
    }

    /// Agents whose balance differs from the sum of their ledger lines.
    pub async fn unexplained_balances(&mut self) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT id FROM agents a WHERE credits <> \
             (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = a.id) \
             - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = a.id) \
             UNION ALL SELECT '{ESCROW_ACCOUNT}' AS id WHERE \
             (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{ESCROW_ACCOUNT}') \
             - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{ESCROW_ACCOUNT}') \
             <> (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE {ESCROWED})"
        );
        self.fetch_all(&sql, args![], |r| r.text("id")).await
    }
}
