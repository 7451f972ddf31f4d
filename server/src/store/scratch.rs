//! Scratch PostgreSQL databases for test suites and benchmarks: one fresh database per run,
//! dropped when done.

use super::{Result, StoreError as Error};

/// A database made on a PostgreSQL server for one run; dropped (with any connections still
/// open to it) when this is dropped.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates a database named `<prefix>_<random>` on the server that `server` (the URL of
    /// any database on it) names.
    pub fn create(server: &str, prefix: &str) -> Result<Self> {
        let name = crate::ids::new_id(prefix).to_lowercase().replace('-', "_");
        let (scheme, rest) = server
            .split_once("://")
            .ok_or_else(|| Error::Unavailable(format!("not a database URL: {server}")))?;
        let host = rest.split(['/', '?']).next().unwrap_or(rest);
        admin(server, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            server: server.to_string(),
            url: format!("{scheme}://{host}/{name}"),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &drop) {
            eprintln!("{drop}: {e}");
        }
    }
}

/// Runs `sql` on the database `url` names, on a thread and runtime of its own (callers may be
/// synchronous code, or inside another runtime that must not be blocked).
pub fn admin(url: &str, sql: &str) -> Result<()> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Unavailable(format!("starting a runtime: {e}")))?;
        runtime.block_on(async {
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            conn.execute(sqlx::AssertSqlSafe(sql)).await?;
            conn.close().await?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| Error::Unavailable("a PostgreSQL admin statement panicked".into()))?
}
