//! Point SELECT latency by driver: rusqlite, sqlx-sqlite (same SQLite file), the synchronous
//! `postgres` crate and sqlx-postgres (same PostgreSQL database, over loopback). Each driver
//! runs ROUNDS rounds of N statements on one connection with its statement prepared once;
//! the median round is reported, in µs per statement.

use std::time::Instant;

const ROWS: i64 = 10_000;
const N: i64 = 5_000;
const ROUNDS: usize = 5;

fn key(i: i64) -> String {
    format!("k{}", (i * 7919) % ROWS)
}

/// The median of the rounds, in µs per statement.
fn median_us(mut rounds: Vec<f64>) -> f64 {
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn report(driver: &str, rounds: Vec<f64>) {
    let all = rounds
        .iter()
        .map(|r| format!("{r:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "{driver:<16} {:>8.1} µs  (rounds: {all})",
        median_us(rounds)
    );
}

fn rusqlite_rounds(path: &std::path::Path) -> Vec<f64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare_cached("SELECT v FROM t WHERE id = ?1")
        .unwrap();
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..N {
                let v: i64 = stmt.query_row([key(i)], |r| r.get(0)).unwrap();
                std::hint::black_box(v);
            }
            start.elapsed().as_secs_f64() * 1e6 / N as f64
        })
        .collect()
}

/// ROUNDS rounds of N point SELECTs through one sqlx connection (the same for every sqlx
/// driver; their connection types share no trait that would make this a function).
macro_rules! sqlx_rounds {
    ($conn:expr, $sql:expr) => {{
        let mut out = Vec::new();
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for i in 0..N {
                let v: i64 = sqlx::query_scalar($sql)
                    .bind(key(i))
                    .fetch_one(&mut $conn)
                    .await
                    .unwrap();
                std::hint::black_box(v);
            }
            out.push(start.elapsed().as_secs_f64() * 1e6 / N as f64);
        }
        out
    }};
}

async fn sqlx_sqlite_rounds(path: &std::path::Path) -> Vec<f64> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx_rounds!(conn, "SELECT v FROM t WHERE id = ?1")
}

fn postgres_rounds(url: &str) -> Vec<f64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let stmt = client
        .prepare("SELECT v FROM driver_bench WHERE id = $1")
        .unwrap();
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..N {
                let v: i64 = client.query_one(&stmt, &[&key(i)]).unwrap().get(0);
                std::hint::black_box(v);
            }
            start.elapsed().as_secs_f64() * 1e6 / N as f64
        })
        .collect()
}

async fn sqlx_postgres_rounds(url: &str) -> Vec<f64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx_rounds!(conn, "SELECT v FROM driver_bench WHERE id = $1")
}

fn main() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("bench.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            .unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..ROWS {
            tx.execute("INSERT INTO t VALUES (?1, ?2)", (format!("k{i}"), i))
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("point SELECT by primary key, {N} per round, median of {ROUNDS} rounds");
    report("rusqlite", rusqlite_rounds(&path));
    report("sqlx-sqlite", rt.block_on(sqlx_sqlite_rounds(&path)));

    let Some(url) = std::env::args().nth(1) else {
        println!("(no PostgreSQL URL given: PostgreSQL drivers skipped)");
        return;
    };
    // The blocking client runs a runtime of its own: not inside the async one.
    let setup = url.clone();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&setup, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "DROP TABLE IF EXISTS driver_bench; \
                 CREATE TABLE driver_bench (id TEXT PRIMARY KEY, v BIGINT NOT NULL); \
                 INSERT INTO driver_bench SELECT 'k' || g, g FROM generate_series(0, 9999) g",
            )
            .unwrap();
        report("postgres (sync)", postgres_rounds(&setup));
    })
    .join()
    .unwrap();
    report("sqlx-postgres", rt.block_on(sqlx_postgres_rounds(&url)));
    let cleanup = url.clone();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&cleanup, postgres::NoTls).unwrap();
        client.batch_execute("DROP TABLE driver_bench").unwrap();
    })
    .join()
    .unwrap();
}
