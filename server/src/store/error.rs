//! The store's error: what went wrong below the rules, with its cause kept (for the log).
//! Surfaces decide what a client is told (see `crate::error`).

use std::sync::Arc;

/// A database failure. Cheap to clone (a group commit that fails tells every job in it), and
/// the driver's own error stays reachable through `source()`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Two transactions got in each other's way (a deadlock or serialization failure): one
    /// gave way, and trying again may succeed.
    #[error("a concurrent transaction got in the way: {0}")]
    Contention(#[source] Arc<sqlx::Error>),
    #[error("sqlite: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    #[error("postgres: {}", describe_postgres(.0))]
    Postgres(#[source] Arc<sqlx::Error>),
    /// The database could not be opened or reached, or the thread running transactions is
    /// gone.
    #[error("{0}")]
    Unavailable(String),
    /// A page's cursor is not one its list wrote (malformed, or from another list).
    #[error("Invalid cursor")]
    InvalidCursor,
    /// A job panicked inside its transaction (which was rolled back).
    #[error("a database job panicked")]
    JobPanicked,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(e))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // Deadlock detected, serialization failure.
        let contention = e
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "40P01" || code == "40001");
        if contention {
            Self::Contention(Arc::new(e))
        } else {
            Self::Postgres(Arc::new(e))
        }
    }
}

/// The server's message with its code and detail.
fn describe_postgres(e: &sqlx::Error) -> String {
    let Some(db) = e.as_database_error() else {
        return e.to_string();
    };
    let code = db.code().unwrap_or_default();
    match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        Some(pg) => format!(
            "{} ({code}){}",
            pg.message(),
            pg.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => format!("{} ({code})", db.message()),
    }
}
