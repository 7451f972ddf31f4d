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
    Contention(#[source] Arc<postgres::Error>),
    #[error("sqlite: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    #[error("postgres: {}", describe_postgres(.0))]
    Postgres(#[source] Arc<postgres::Error>),
    /// The database could not be opened or reached, or the thread running transactions is
    /// gone.
    #[error("{0}")]
    Unavailable(String),
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

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                Self::Contention(Arc::new(e))
            }
            _ => Self::Postgres(Arc::new(e)),
        }
    }
}

/// The server's message with its code and detail (the driver's own text says only "db error").
fn describe_postgres(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}
