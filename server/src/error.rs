//! The error of the surfaces (the API, the web pages, A2A) and the services beside them: each
//! variant is an HTTP status; the body is always `{"error": "<message>"}`. The rules' domain
//! error and the store's error are mapped to it here, once. Internal causes are logged, never
//! shown.

use crate::market;
use crate::store::StoreError;
use axum::http::StatusCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    PaymentRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: Option<u64>,
    },
    #[error("{0}")]
    NotImplemented(String),
    /// The message is for the log; clients see a generic text.
    #[error("{0}")]
    Internal(String),
    /// The database failed; the cause (with its source) is for the log.
    #[error(transparent)]
    Store(StoreError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) | Self::Store(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }

    /// Logs what clients are not shown: an internal cause, or a database failure with the
    /// driver's error it came from.
    pub fn log_if_internal(&self) {
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Store(e) => {
                let source = std::error::Error::source(e).map(|s| format!("{s:?}"));
                tracing::error!(error = %e, source, "database error");
            }
            _ => {}
        }
    }

    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::BadRequest(m.into())
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::NotFound(m.into())
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::Forbidden(m.into())
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::Conflict(m.into())
    }
    pub fn task_not_found() -> Self {
        Self::not_found("Task not found")
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // The other transaction went through; this one may simply be tried again.
            StoreError::Contention(_) => {
                Self::Conflict("A concurrent change got in the way, try again".into())
            }
            StoreError::InvalidCursor => Self::BadRequest(StoreError::InvalidCursor.to_string()),
            other => Self::Store(other),
        }
    }
}

impl From<market::Error> for Error {
    fn from(e: market::Error) -> Self {
        use market::Error as M;
        match e {
            M::Invalid(m) => Self::BadRequest(m),
            M::Unauthenticated(m) => Self::Unauthorized(m),
            M::InsufficientCredits(m) => Self::PaymentRequired(m),
            M::NotAllowed(m) => Self::Forbidden(m),
            M::NotFound(m) => Self::NotFound(m),
            M::Conflict(m) => Self::Conflict(m),
            M::LimitReached {
                message,
                retry_after_secs,
            } => Self::TooManyRequests {
                message,
                retry_after_secs,
            },
            M::Inconsistent(m) => Self::Internal(m),
            M::Store(e) => Self::from(e),
        }
    }
}
