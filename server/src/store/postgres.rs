//! PostgreSQL backend, for several server nodes sharing one database, through sqlx: a pool of
//! async connections on the server's own runtime. Writes run at READ COMMITTED, where every
//! read-check-write of the rules is made safe by a row lock (`task` reads lock the row) or a
//! conditional statement (compare-and-set, `credits >= n`, `ON CONFLICT`); reads on a
//! REPEATABLE READ snapshot. Pickups lock the task they return with `FOR UPDATE SKIP LOCKED`,
//! so concurrent pickups on any node never wait for each other nor claim a task twice.
//!
//! Each commit that logs events or saves a task open notifies the other nodes (`NOTIFY
//! pinchwork_events`) so they can wake their listeners and parked pickups; the event log
//! stays the source of truth.

use super::events::{EVENTS_CHANNEL, parse_notice};
use super::sql::{Conn, Transaction};
use super::{Job, JobError, NodeNews, Outcome, Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The schema's versions (`server/src/store/postgres/NNNN_name.sql`), applied in order under
/// sqlx's migration lock, so nodes starting together take turns.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/postgres");

/// Prepared statements kept per connection, at most (dynamic filters make many shapes).
const STATEMENT_CACHE: usize = 512;

pub struct Postgres {
    pool: PgPool,
    /// Read-only transactions run on connections of their own, as SQLite's run on reader
    /// threads beside its writer: a browse never queues behind the writes for a connection.
    readers: PgPool,
    /// Tells this node's own notifications apart from other nodes'.
    node: Arc<str>,
}

impl Postgres {
    pub async fn open(url: &str, pool_size: usize, read_pool_size: usize) -> Result<Self> {
        let node: Arc<str> = crate::ids::new_id("node").into();
        // The node's id on each connection: the statements that open a task tell the other
        // nodes by trigger, in the node's name (migration 0011).
        let options = PgConnectOptions::from_str(url)?
            .statement_cache_capacity(STATEMENT_CACHE)
            .application_name("pinchwork")
            .options([("pinchwork.node", &*node)]);
        let pool_of = |size: usize| {
            PgPoolOptions::new()
                .max_connections(size.max(1) as u32)
                .acquire_timeout(Duration::from_secs(30))
                // A ping before each transaction would cost a round trip every time; a
                // connection that died fails its one transaction instead, and is dropped.
                .test_before_acquire(false)
        };
        let pool = pool_of(pool_size).connect_with(options.clone()).await?;
        let readers = pool_of(read_pool_size).connect_lazy_with(options);
        adopt_old_migrations(&pool).await?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Unavailable(format!("migrating the PostgreSQL schema: {e}"))
        })?;
        Ok(Self {
            pool,
            readers,
            node,
        })
    }

    /// Runs `job` in one transaction on a pooled connection. The transaction runs to its end
    /// in a task of its own, so a caller that goes away (a client hanging up) never cuts a
    /// transaction short between its statements.
    pub(super) async fn run<T: Outcome, E: JobError>(
        &self,
        write: bool,
        job: impl Job<T, E>,
    ) -> Result<T, E> {
        let pool = match write {
            true => self.pool.clone(),
            false => self.readers.clone(),
        };
        let node = self.node.clone();
        let begin = if write {
            "BEGIN"
        } else {
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        };
        let work = async move {
            let mut conn = pool.begin_with(begin).await.map_err(StoreError::from)?;
            let outcome = {
                let mut tx = Transaction::new(Conn::Postgres(&mut conn), write, &node);
                job(&mut tx).await
            };
            match outcome {
                Ok(value) => {
                    conn.commit().await.map_err(StoreError::from)?;
                    Ok(value)
                }
                Err(e) => {
                    let _ = conn.rollback().await;
                    Err(e)
                }
            }
        };
        to_the_end(work).await
    }

    /// Runs a job of one statement on a pooled connection, committed by itself.
    pub(super) async fn run_one<T: Outcome, E: JobError>(
        &self,
        job: impl Job<T, E>,
    ) -> Result<T, E> {
        let (pool, node) = (self.pool.clone(), self.node.clone());
        let work = async move {
            let mut conn = pool.acquire().await.map_err(StoreError::from)?;
            let mut tx = Transaction::new(Conn::Postgres(&mut conn), true, &node).one_statement();
            job(&mut tx).await
        };
        to_the_end(work).await
    }

    /// Follows the other nodes' notifications. Each time it starts listening (again) it asks
    /// for a resynchronisation: notifications sent while it was not (before the first
    /// connection too, when streams may already be open) are lost.
    pub(super) fn listen(&self) -> tokio::sync::mpsc::UnboundedReceiver<NodeNews> {
        let (out, news) = tokio::sync::mpsc::unbounded_channel();
        let (pool, node) = (self.pool.clone(), self.node.clone());
        tokio::spawn(async move {
            while !out.is_closed() {
                let mut listener = match subscribe(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other nodes' events failed, retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if out.send(NodeNews::Resync).is_err() {
                    return;
                }
                loop {
                    tokio::select! {
                        next = listener.try_recv() => match next {
                            Ok(Some(n)) => {
                                if let Some(notice) = parse_notice(n.payload(), &node)
                                    && out.send(notice).is_err()
                                {
                                    return;
                                }
                            }
                            // The connection was lost: listen again, and resynchronise.
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the event notifications, reconnecting");
                                break;
                            }
                        },
                        () = out.closed() => return,
                    }
                }
            }
        });
        news
    }
}

/// Runs a job's work in a task of its own, to its end whatever becomes of the caller.
async fn to_the_end<T: Outcome, E: JobError>(
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|_| Err(StoreError::JobPanicked.into()))
}

async fn subscribe(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    Ok(listener)
}

/// A database migrated before the schema's versions moved to sqlx's own table
/// (`pinchwork_migrations` held how many had run): those versions are recorded as sqlx
/// records them, with their checksums, so that sqlx does not apply them again.
async fn adopt_old_migrations(pool: &PgPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let old: Option<i64> = sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('pinchwork_migrations') IS NULL THEN NULL \
         WHEN to_regclass('_sqlx_migrations') IS NOT NULL THEN NULL ELSE 0 END",
    )
    .fetch_one(&mut *conn)
    .await?;
    if old.is_none() {
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    let applied: i64 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM pinchwork_migrations")
            .fetch_one(&mut *tx)
            .await?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), \
         success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await?;
    for m in MIGRATOR.iter().filter(|m| m.version <= applied) {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT DO NOTHING",
        )
        .bind(m.version)
        .bind(m.description.as_ref())
        .bind(m.checksum.as_ref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::scratch::{ScratchDatabase, admin};

    /// A database from before the mark of system workers marks those who did system work
    /// about a task, and only them, when it is migrated.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
    async fn migrating_marks_the_agents_that_did_system_work() {
        let server = std::env::var("PINCHWORK_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .expect("this test needs PostgreSQL: set PINCHWORK_TEST_POSTGRES_URL");
        let db = ScratchDatabase::create(&server, "pw-migrate").unwrap();
        let pool = PgPool::connect(&db.url).await.unwrap();
        let marked = MIGRATOR
            .iter()
            .find(|m| m.sql.as_str().contains("ADD COLUMN did_system_work"))
            .unwrap()
            .version;
        MIGRATOR.run_to(marked - 1, &pool).await.unwrap();
        admin(&db.url, crate::store::BEFORE_SYSTEM_WORKER_MARK).unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM agents WHERE did_system_work ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(ids, ["ag-matcher"]);
        pool.close().await;
    }
}
