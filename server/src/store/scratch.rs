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

/// Runs `sql` on the database `url` names, on a thread of its own (the blocking client runs
/// its own runtime, which may not nest in the caller's).
pub fn admin(url: &str, sql: &str) -> Result<()> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || -> Result<()> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })
    .join()
    .map_err(|_| Error::Unavailable("a PostgreSQL admin statement panicked".into()))?
}
