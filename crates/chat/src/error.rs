//! The chat service's errors, answered the same way over REST (`{error:{code,message}}` with a
//! status) and over Socket.IO acks (`{ok:false, error:{code,message}}`).

use crate::protocol::{AckError, ErrorAck};
use axum::http::StatusCode;
use chatsync_core::ports::{StateError, StoreError};
use chatsync_core::validate::Invalid;
use chatsync_platform::http::ApiError;
use std::time::Duration;

/// What went wrong with a chat operation.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The thing does not exist, or the caller may not see it (never a hint which).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field broke a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The payload has the wrong shape (missing field, wrong type).
    #[error("invalid payload: {0}")]
    Payload(String),
    /// The caller may see the thing but not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many events; retry after the given time.
    #[error("too many requests")]
    RateLimited(Duration),
    /// A backend is down; retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ChatError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "validation_failed",
            Self::Payload(_) => "invalid_payload",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The message for people; internal causes are not revealed.
    pub fn message(&self) -> String {
        match self {
            Self::Unavailable(_) => "a backend service is unavailable; try again shortly".into(),
            Self::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// Whether [`ChatError::ack`] logs it: the server's own failures, not the client's.
    pub fn is_logged(&self) -> bool {
        matches!(self, Self::Internal(_) | Self::Unavailable(_))
    }

    /// The Socket.IO ack body; logs the error where [`ChatError::is_logged`].
    pub fn ack(&self) -> ErrorAck {
        if self.is_logged() {
            tracing::error!(error = %self, "chat event failed");
        }
        let retry_after_ms = match self {
            Self::RateLimited(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            _ => None,
        };
        ErrorAck {
            ok: false,
            error: AckError {
                code: self.code(),
                message: self.message(),
                retry_after_ms,
                request_id: None,
            },
        }
    }
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            // Rendered with its causes: this is the last stop before the log line.
            StoreError::Unavailable { .. } => {
                Self::Unavailable(chatsync_core::error_chain(&e).to_string())
            }
            StoreError::Conflict(_) | StoreError::Other { .. } => {
                Self::Internal(chatsync_core::error_chain(&e).to_string())
            }
        }
    }
}

impl From<StateError> for ChatError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Unavailable(_) => {
                Self::Unavailable(chatsync_core::error_chain(&e).to_string())
            }
            StateError::Other(_) => Self::Internal(chatsync_core::error_chain(&e).to_string()),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::NotFound(what) => ApiError::not_found(what),
            ChatError::Invalid(i) => ApiError::invalid(i),
            ChatError::Payload(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload", m)
            }
            ChatError::Forbidden(m) => ApiError::forbidden("forbidden", m),
            ChatError::RateLimited(d) => ApiError::rate_limited(d),
            ChatError::Unavailable(s) => ApiError::unavailable(s),
            ChatError::Internal(s) => ApiError::internal(s),
        }
    }
}

/// Result of a chat operation.
pub type ChatResult<T> = Result<T, ChatError>;
