//! SQLite backend: one writer thread owns the only read-write connection, so write
//! transactions never wait on each other's locks and a read-check-write inside one of them is
//! atomic; a few reader threads serve snapshots from WAL beside it. A job's future is polled
//! on the thread that owns the connection: rusqlite never waits, so it is ready at once.

use super::sql::{Conn, Transaction};
use super::{Job, JobError, Outcome, Result, StoreError};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_core.sql"),
    include_str!("sqlite/0002_social.sql"),
    include_str!("sqlite/0003_events.sql"),
    include_str!("sqlite/0004_webhooks.sql"),
    include_str!("sqlite/0005_infra.sql"),
    include_str!("sqlite/0006_rate_windows.sql"),
    include_str!("sqlite/0007_economy.sql"),
    include_str!("sqlite/0008_retire_reserve.sql"),
    include_str!("sqlite/0009_webhook_order.sql"),
    include_str!("sqlite/0010_a2a.sql"),
    include_str!("sqlite/0011_web.sql"),
    include_str!("sqlite/0012_nodes.sql"),
    include_str!("sqlite/0013_flag_indexes.sql"),
    include_str!("sqlite/0014_open_board.sql"),
    include_str!("sqlite/0015_retention_system_work.sql"),
    include_str!("sqlite/0016_directory_order.sql"),
    include_str!("sqlite/0017_system_workers.sql"),
    include_str!("sqlite/0018_open_board_sizes.sql"),
];

/// A job as the worker threads run it, its value and its own error erased.
type Work = Box<dyn FnOnce(&mut Transaction<'_>) -> Result<Box<dyn Any + Send>, Failed> + Send>;

/// Why a job's transaction did not commit.
enum Failed {
    /// The database failed (the job may not even have run).
    Store(StoreError),
    /// The job returned its own error, handed back to its caller as it was.
    Job(Box<dyn Any + Send>),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

type Done = tokio::sync::oneshot::Sender<Result<Box<dyn Any + Send>, Failed>>;

struct Command {
    work: Work,
    write: bool,
    done: Done,
}

pub struct Sqlite {
    writer: mpsc::Sender<Command>,
    /// None when reads share the writer (in-memory databases).
    readers: Option<mpsc::Sender<Command>>,
    /// Background threads without a queue (the checkpointer) stop once this is dropped.
    _alive: Arc<()>,
}

impl Sqlite {
    /// `target` is what follows `sqlite:` in the URL: `//relative/path`, `///absolute/path`
    /// or `:memory:`.
    pub fn open(target: &str, readers: usize) -> Result<Self> {
        Self::open_with_wal_limit(target, readers, WAL_LIMIT_BYTES)
    }

    /// As `open`, the WAL truncated whenever it has grown past `wal_limit` bytes.
    fn open_with_wal_limit(target: &str, readers: usize, wal_limit: u64) -> Result<Self> {
        let in_memory = target == ":memory:" || target == "//:memory:";
        let path = target.strip_prefix("//").unwrap_or(target).to_string();
        let dir = std::path::Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if let (false, Some(dir)) = (in_memory, dir) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {dir:?}: {e}")))?;
        }
        let conn = if in_memory {
            Connection::open_in_memory()?
        } else {
            Connection::open(&path)?
        };
        configure(&conn, true)?;
        migrate(&conn)?;

        let alive = Arc::new(());
        if !in_memory {
            // Checkpoints run beside the writer instead of inside its commits.
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            // A WAL left by the last run (or by a bulk load) is copied in before serving,
            // while nobody reads it.
            if let Err(e) = checkpoint(&conn, "TRUNCATE") {
                tracing::warn!(error = %e, "WAL checkpoint at start failed");
            }
            spawn_checkpointer(path.clone(), Arc::downgrade(&alive), wal_limit)?;
        }
        let writer = spawn_writer(conn)?;
        let readers = if in_memory || readers == 0 {
            None
        } else {
            let (tx, rx) = mpsc::channel::<Command>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..readers {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn, false)?;
                spawn_reader(format!("sqlite-reader-{i}"), rx.clone(), conn)?;
            }
            Some(tx)
        };
        Ok(Self {
            writer,
            readers,
            _alive: alive,
        })
    }
}

impl Sqlite {
    /// Runs `job` on the writer (or, to read, a reader) in one transaction.
    pub(super) async fn run<T: Outcome, E: JobError>(
        &self,
        write: bool,
        job: impl Job<T, E>,
    ) -> Result<T, E> {
        let work: Work = Box::new(move |tx| match poll_once(job(tx)) {
            Some(Ok(value)) => Ok(Box::new(value) as Box<dyn Any + Send>),
            Some(Err(e)) => Err(Failed::Job(Box::new(e))),
            None => Err(Failed::Store(StoreError::Unavailable(
                "a SQLite transaction waited on something other than the database".into(),
            ))),
        });
        let (done, answer) = tokio::sync::oneshot::channel();
        let queue = match (&self.readers, write) {
            (Some(readers), false) => readers,
            _ => &self.writer,
        };
        let stopped = || StoreError::Unavailable("database worker stopped".into());
        let cmd = Command { work, write, done };
        if queue.send(cmd).is_err() {
            return Err(stopped().into());
        }
        match answer
            .await
            .unwrap_or_else(|_| Err(Failed::Store(stopped())))
        {
            Ok(value) => Ok(*value.downcast::<T>().expect("job returns its own type")),
            Err(Failed::Store(e)) => Err(E::from(e)),
            Err(Failed::Job(e)) => Err(*e.downcast::<E>().expect("job fails with its own type")),
        }
    }
}

/// Polls a future once: rusqlite's statements never wait, so a job's future is ready at its
/// first poll (None if it was not: it awaited something other than the database).
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Runs a job's work in the transaction already begun on `conn`.
fn perform(
    conn: &Mutex<Connection>,
    write: bool,
    work: Work,
) -> Result<Box<dyn Any + Send>, Failed> {
    let mut tx = Transaction::new(Conn::Sqlite(conn), write, "");
    catch_unwind(AssertUnwindSafe(|| work(&mut tx)))
        .unwrap_or_else(|_| Err(Failed::Store(StoreError::JobPanicked)))
}

/// How much of the database file each connection maps into memory, at most.
const MMAP_BYTES: i64 = 1 << 30;

fn configure(conn: &Connection, writer: bool) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.set_prepared_statement_cache_capacity(256);
    if writer {
        // WAL lets readers run beside the writer; NORMAL sync is durable across process
        // crashes (only an OS crash can lose the last commits).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    // Plans never depend on bound values. Without this SQLite plans `LIMIT ?` for the value
    // bound, so every statement with one was parsed and planned again on each run (a fifth of
    // the server's CPU under load); the plans checked by the tests are those for no values.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    // In WAL mode a connection's page cache is dropped whenever another one has written, so a
    // reader starts nearly every transaction cold: mapped, the database file's pages cost no
    // read call and no copy (at 100,000 open tasks, browse p50 6.3-7.2 -> 5.2-5.4 ms). The
    // mapping is read-only and as large as the file, up to 1 GiB.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Jobs committed together at most, when they queue up behind each other.
const MAX_GROUP: usize = 64;

/// The writer: one thread, one connection. Jobs that queued up while the previous commit
/// ran are committed together in one transaction (group commit), each inside its own
/// savepoint so that a failing job is undone alone.
fn spawn_writer(conn: Connection) -> Result<mpsc::Sender<Command>> {
    let (tx, rx) = mpsc::channel::<Command>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let conn = Mutex::new(conn);
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(cmd) => group.push(cmd),
                        Err(_) => break,
                    }
                }
                if group.len() == 1 {
                    let cmd = group.pop().expect("one job");
                    run_in_transaction(&conn, "BEGIN IMMEDIATE", cmd);
                } else {
                    run_group(&conn, group);
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning the SQLite writer: {e}")))?;
    Ok(tx)
}

/// Runs a transaction-control statement through the statement cache: these run several
/// times per request, and parsing them each time is a measurable part of the writer's work.
fn control(conn: &Mutex<Connection>, sql: &str) -> rusqlite::Result<()> {
    let conn = conn
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Ends a failed transaction, if one is open.
fn roll_back(conn: &Mutex<Connection>) {
    let conn = conn
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

fn run_group(conn: &Mutex<Connection>, group: Vec<Command>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let e = StoreError::from(e);
        for cmd in group {
            let _ = cmd.done.send(Err(Failed::Store(e.clone())));
        }
        return;
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for cmd in group {
        let outcome = control(conn, "SAVEPOINT job")
            .map_err(Failed::from)
            .and_then(|()| perform(conn, cmd.write, cmd.work));
        let closed = match outcome {
            Ok(_) => control(conn, "RELEASE job"),
            Err(_) => control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job")),
        };
        let outcome = closed.map_err(Failed::from).and(outcome);
        outcomes.push((cmd.done, outcome));
    }
    // Nobody hears of a success before it is committed.
    match control(conn, "COMMIT") {
        Ok(()) => {
            for (done, outcome) in outcomes {
                let _ = done.send(outcome);
            }
        }
        Err(e) => {
            roll_back(conn);
            let e = StoreError::from(e);
            for (done, _) in outcomes {
                let _ = done.send(Err(Failed::Store(e.clone())));
            }
        }
    }
}

/// How large the WAL may grow before it is restarted. Under steady reads a passive checkpoint
/// copies the WAL into the database but never restarts it (some reader is always using it),
/// so without a restart the file grows by everything ever written.
const WAL_LIMIT_BYTES: u64 = 64 << 20;

/// How long a restart of the WAL may wait for the readers still using it; writers wait
/// meanwhile, so it gives up soon and tries again next time.
const WAL_RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Checkpoints the WAL from its own connection every half second, so the writer never pays
/// for it inside a commit: a passive checkpoint, which never blocks readers or the writer,
/// then a truncating one when the WAL has grown past `limit` bytes.
fn spawn_checkpointer(path: String, alive: std::sync::Weak<()>, limit: u64) -> Result<()> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(WAL_RESTART_WAIT)?;
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // Ends with the store that started it.
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = checkpoint(&conn, "PASSIVE") {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                if size > limit {
                    // Busy (a reader outlasted the wait) is retried next time.
                    let _ = checkpoint(&conn, "TRUNCATE");
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning the SQLite checkpointer: {e}")))?;
    Ok(())
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs one checkpoint of the WAL in `mode` (PASSIVE, FULL, RESTART or TRUNCATE).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<()> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
}

/// A reader: takes the next read job from the shared queue, runs it in a snapshot.
fn spawn_reader(
    name: String,
    queue: Arc<Mutex<mpsc::Receiver<Command>>>,
    conn: Connection,
) -> Result<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let conn = Mutex::new(conn);
            loop {
                let next = queue.lock().unwrap().recv();
                let Ok(cmd) = next else { return };
                run_in_transaction(&conn, "BEGIN", cmd);
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning a SQLite reader: {e}")))?;
    Ok(())
}

fn run_in_transaction(conn: &Mutex<Connection>, begin: &str, cmd: Command) {
    let outcome = control(conn, begin)
        .map_err(Failed::from)
        .and_then(|()| perform(conn, cmd.write, cmd.work));
    let outcome = match outcome {
        Ok(value) => control(conn, "COMMIT").map(|()| value).map_err(|e| {
            roll_back(conn);
            Failed::from(e)
        }),
        Err(e) => {
            roll_back(conn);
            Err(e)
        }
    };
    let _ = cmd.done.send(outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A database from before the mark of system workers marks those who did system work
    /// about a task, and only them, when it is migrated.
    #[test]
    fn migrating_marks_the_agents_that_did_system_work() {
        let conn = migrated_before("ADD COLUMN did_system_work");
        conn.execute_batch(crate::store::BEFORE_SYSTEM_WORKER_MARK)
            .unwrap();
        migrate(&conn).unwrap();
        let ids: Vec<String> = rows(
            &conn,
            "SELECT id FROM agents WHERE did_system_work ORDER BY id",
        );
        assert_eq!(ids, ["ag-matcher"]);
    }

    /// The board's counts by tag start from the tasks open when they are added.
    #[test]
    fn migrating_counts_the_open_board_by_tag() {
        let conn = migrated_before("CREATE TABLE open_board_sizes");
        conn.execute_batch(
            "INSERT INTO tasks (id, poster_id, need, status, max_credits, match_status, \
             created_at, expires_at, tags_key) VALUES \
             ('tk-1', 'ag-p', 'n', 'posted', 1, 'broadcast', 1, 2, ',x,y,'), \
             ('tk-2', 'ag-p', 'n', 'posted', 1, 'pending', 1, 2, ',x,'), \
             ('tk-3', 'ag-p', 'n', 'posted', 1, 'broadcast', 1, 2, NULL), \
             ('tk-4', 'ag-p', 'n', 'approved', 1, 'broadcast', 1, 2, ',x,');",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let sizes: Vec<String> = rows(
            &conn,
            "SELECT tag || '=' || n FROM open_board_sizes ORDER BY tag",
        );
        assert_eq!(sizes, ["=3", "x=2", "y=1"]);
    }

    /// A database migrated up to the migration that contains `marker`, not including it.
    fn migrated_before(marker: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        let at = MIGRATIONS.iter().position(|m| m.contains(marker)).unwrap();
        for sql in &MIGRATIONS[..at] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", at).unwrap();
        conn
    }

    /// The first column of each row `sql` reads.
    fn rows(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A statement whose LIMIT is a parameter runs as prepared, whatever value is bound:
    /// planned for each value, it was parsed and planned again on every run.
    #[test]
    fn statements_are_not_prepared_again_for_new_limits() {
        let conn = Connection::open_in_memory().unwrap();
        configure(&conn, false).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        let mut stmt = conn.prepare("SELECT x FROM t ORDER BY x LIMIT ?1").unwrap();
        for limit in 1..=3 {
            let got: Vec<i64> = stmt
                .query_map([limit], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(got.len() as i64, limit);
        }
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    /// Reads that never pause keep a passive checkpoint from ever restarting the WAL, which
    /// then grows by everything written; past its limit it is truncated all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_reads_that_never_pause() {
        const LIMIT: u64 = 1 << 20;
        const WRITES: usize = 2_000;
        const BLOB: usize = 4 << 10;
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("wal.db");
        let wal = dir.path().join("wal.db-wal");
        let db = Arc::new(
            Sqlite::open_with_wal_limit(&format!("//{}", path.display()), 2, LIMIT).unwrap(),
        );
        db.run(true, |tx| {
            Box::pin(async move { tx.execute("CREATE TABLE blobs (b BLOB)", vec![]).await })
        })
        .await
        .unwrap();
        const READ: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
            WHERE x < 20000) SELECT count(*) AS n FROM c, (SELECT count(*) FROM blobs)";
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (db, done) = (db.clone(), done.clone());
                tokio::spawn(async move {
                    while !done.load(Ordering::Relaxed) {
                        db.run(false, |tx| {
                            // Long enough that one always overlaps the next.
                            Box::pin(async move { tx.count(READ, vec![]).await })
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        // 8 MB over about 5 s, under 1 MB between two checkpoints.
        let mut largest = 0;
        for _ in 0..WRITES {
            db.run(true, |tx| {
                Box::pin(async move {
                    let blob = Cell::Bytes(Some(vec![7; BLOB]));
                    tx.execute("INSERT INTO blobs (b) VALUES ($1)", vec![blob])
                        .await
                })
            })
            .await
            .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.await.unwrap();
        }
        assert!(
            largest < 4 * LIMIT,
            "the WAL grew to {largest} bytes with {} written",
            WRITES * BLOB
        );
    }
}
