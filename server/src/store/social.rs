//! Between agents: ratings and reputation, questions, messages, reports, trust, and the
//! public directory.

use super::cursor::{self, Key, List, seq_after};
use super::query::{self, Args, SeqList};
use super::rows::{self, QUESTION_COLS, TRUST_COLS};
use super::sql::{Transaction, args};
use super::{AgentQuery, Counter, Page, Paged, Result, UnansweredQuestions};
use crate::model::{Agent, Message, Millis, Question, TagReputation, Trust};

impl Transaction<'_> {
    /// Records a rating; false when the rater already rated this task.
    pub async fn insert_rating(
        &mut self,
        task_id: &str,
        rater: &str,
        rated: &str,
        score: i64,
        now: Millis,
    ) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO ratings (task_id, rater_id, rated_id, score, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                args![task_id, rater, rated, score, now],
            )
            .await?;
        Ok(n == 1)
    }

    /// Recomputes the agent's reputation (mean of ratings received) and rating count.
    pub async fn refresh_reputation(&mut self, agent_id: &str) -> Result<()> {
        self.execute(
            "UPDATE agents SET \
             reputation = coalesce((SELECT CAST(round(avg(score), 2) AS DOUBLE PRECISION) \
             FROM ratings WHERE rated_id = $1), 0.0), \
             rating_count = (SELECT count(*) FROM ratings WHERE rated_id = $1) WHERE id = $1",
            args![agent_id],
        )
        .await?;
        Ok(())
    }

    pub async fn insert_question(&mut self, q: &Question) -> Result<()> {
        let sql =
            format!("INSERT INTO questions ({QUESTION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let values = args![
            &q.id,
            &q.task_id,
            &q.asker_id,
            &q.question,
            &q.answer,
            q.created_at,
            q.answered_at,
        ];
        self.execute(&sql, values).await?;
        Ok(())
    }

    pub async fn question(&mut self, id: &str) -> Result<Option<Question>> {
        let sql = format!("SELECT {QUESTION_COLS} FROM questions WHERE id = $1");
        self.fetch_optional(&sql, args![id], rows::question_from)
            .await
    }

    /// Records the answer only if the question is still unanswered; returns whether it did.
    pub async fn answer_question(&mut self, id: &str, answer: &str, now: Millis) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE questions SET answer = $2, answered_at = $3 \
                 WHERE id = $1 AND answer IS NULL",
                args![id, answer, now],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn questions_of(&mut self, task_id: &str) -> Result<Vec<Question>> {
        let sql = format!("SELECT {QUESTION_COLS} FROM questions WHERE task_id = $1 ORDER BY seq");
        self.fetch_all(&sql, args![task_id], rows::question_from)
            .await
    }

    /// Unanswered questions on the task from agents in good standing (not suspended, not
    /// deleted): in all, and from `asker`.
    pub async fn unanswered_questions(
        &mut self,
        task_id: &str,
        asker: &str,
    ) -> Result<UnansweredQuestions> {
        self.fetch_one(
            "SELECT count(*) AS all_open, count(*) FILTER (WHERE q.asker_id = $2) AS from_asker \
             FROM questions q JOIN agents a ON a.id = q.asker_id \
             WHERE q.task_id = $1 AND q.answer IS NULL AND a.suspended = FALSE",
            args![task_id, asker],
            |r| {
                Ok(UnansweredQuestions {
                    all: r.int("all_open")?,
                    from_asker: r.int("from_asker")?,
                })
            },
        )
        .await
    }

    pub async fn insert_message(&mut self, m: &Message, assignment: &str) -> Result<()> {
        self.execute(
            "INSERT INTO messages (id, task_id, assignment, sender_id, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                &m.id,
                &m.task_id,
                assignment,
                &m.sender_id,
                &m.message,
                m.created_at
            ],
        )
        .await?;
        Ok(())
    }

    /// The messages of one assignment of a task, oldest first, with the total (capped).
    pub async fn messages_of(
        &mut self,
        task_id: &str,
        assignment: &str,
        page: &Page,
    ) -> Result<Paged<Message>> {
        let after = seq_after(List::Messages, page)?;
        let mut args = Args::new(self.dialect());
        let side = format!(
            "task_id = {} AND assignment = {}",
            args.bind(task_id.to_string()),
            args.bind(assignment.to_string())
        );
        let list = SeqList {
            table: "messages",
            cols: "id, task_id, sender_id, message, created_at",
            sides: &[side],
            cond: "TRUE",
            newest_first: false,
        };
        let (messages, count) = query::seq_page(args, &list, page, after);
        self.seq_paged(messages, count, List::Messages, page, |r| {
            Ok(Message {
                id: r.text("id")?,
                task_id: r.text("task_id")?,
                sender_id: r.text("sender_id")?,
                message: r.text("message")?,
                created_at: r.int("created_at")?,
            })
        })
        .await
    }

    pub async fn insert_report(
        &mut self,
        id: &str,
        task_id: &str,
        reporter: &str,
        reason: &str,
        now: Millis,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO reports (id, task_id, reporter_id, reason, status, created_at) \
             VALUES ($1, $2, $3, $4, 'open', $5)",
            args![id, task_id, reporter, reason, now],
        )
        .await?;
        Ok(())
    }

    /// One good or bad outcome between truster and trusted (see `query::adjust_trust`), in one
    /// statement; when `mutual`, the same outcome the other way too, in the same statement.
    pub async fn adjust_trust(
        &mut self,
        truster: &str,
        trusted: &str,
        good: bool,
        mutual: bool,
        now: Millis,
    ) -> Result<()> {
        let sql = query::adjust_trust(self.dialect(), mutual && truster != trusted);
        self.execute(sql, args![truster, trusted, good, now])
            .await?;
        Ok(())
    }

    /// A task `worker` completed for `poster`: it counts in the worker's `tasks_completed`, and
    /// each side's trust in the other gains a good outcome (PostgreSQL does it in the payout's
    /// statement: `pay_out_completed`).
    pub(super) async fn record_completion(
        &mut self,
        poster: &str,
        worker: &str,
        now: Millis,
    ) -> Result<()> {
        self.bump(worker, Counter::TasksCompleted).await?;
        self.adjust_trust(poster, worker, true, true, now).await
    }

    /// The truster's scores, highest first.
    pub async fn trust_of(&mut self, truster: &str) -> Result<Vec<Trust>> {
        let sql = format!(
            "SELECT {TRUST_COLS} FROM trust WHERE truster_id = $1 ORDER BY score DESC, trusted_id"
        );
        self.fetch_all(&sql, args![truster], rows::trust_from).await
    }

    /// Ratings the agent received as a worker, per tag of the rated tasks, best first.
    pub async fn reputation_by_tag(&mut self, agent_id: &str) -> Result<Vec<TagReputation>> {
        let rated = self
            .fetch_all(
                "SELECT t.tags, r.score FROM ratings r JOIN tasks t ON t.id = r.task_id \
                 WHERE r.rated_id = $1 AND t.worker_id = $1 AND t.status = 'approved' \
                 AND t.tags IS NOT NULL",
                args![agent_id],
                |r| Ok((r.text("tags")?, r.int("score")?)),
            )
            .await?;
        Ok(rows::tag_reputations(rated))
    }

    /// Active agents (not suspended, not the platform), best first, with the total (capped).
    pub async fn directory(&mut self, q: &AgentQuery, page: &Page) -> Result<Paged<Agent>> {
        let list = if q.by_tasks_completed {
            List::ByTasksCompleted
        } else {
            List::ByReputation
        };
        let after = cursor::after(list, page)?;
        let (agents, count) = query::directory(self.dialect(), q, page, after);
        let found = self
            .fetch_query(agents, |r| {
                let agent = rows::agent_from(r)?;
                let seq = r.int("seq")?;
                let key = match list {
                    List::ByTasksCompleted => Key::Int(agent.tasks_completed, seq),
                    _ => Key::Real(agent.reputation, seq),
                };
                Ok((agent, key))
            })
            .await?;
        let total = query::capped_total(self.count(&count.sql, count.args).await?);
        Ok(Paged::keyset(found, list, page, total))
    }
}
