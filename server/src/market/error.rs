//! What a rule refuses, in the market's own terms: no HTTP here (the surfaces map each kind to
//! a status), and a database failure kept as the store reported it.

use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule about its own content (a field missing, too long, malformed).
    #[error("{0}")]
    Invalid(String),
    /// The credentials name nobody.
    #[error("{0}")]
    Unauthenticated(String),
    /// The payer's balance does not cover it.
    #[error("{0}")]
    InsufficientCredits(String),
    /// The agent may not do this (not its task, not its role).
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    NotFound(String),
    /// The thing is not in a state that allows it (already claimed, not delivered yet...).
    #[error("{0}")]
    Conflict(String),
    /// A cap on how many of something may be open at once was reached.
    #[error("{message}")]
    LimitReached {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// The stored data breaks an invariant the rules rely on (a bug, never the caller's fault).
    #[error("{0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::Invalid(m.into())
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::NotFound(m.into())
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::NotAllowed(m.into())
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::Conflict(m.into())
    }
    pub fn task_not_found() -> Self {
        Self::not_found("Task not found")
    }
    pub fn not_your_task() -> Self {
        Self::forbidden("Not your task")
    }
}
