//! The capabilities services need, as traits. Adapters implement them; services hold them as
//! `Arc<dyn Trait>` so that the backend is chosen at run time by configuration.

pub mod agreement;
pub mod bus;
pub mod chat;
pub mod media;
pub mod outbox;
pub mod presence;
pub mod sessions;
pub mod throttle;
pub mod users;

pub use agreement::Agreement;
pub use bus::{Delivery, EventBus, Subscription};
pub use chat::ChatStore;
pub use media::{Attachments, MediaRepo};
pub use outbox::OutboxStore;
pub use presence::Presence;
pub use sessions::SessionStore;
pub use throttle::Throttle;
pub use users::UserStore;

use std::borrow::Cow;

/// How a store's connection pool is used, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open now.
    pub open: u32,
    /// Of those, the ones waiting for work.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// An error kept as the cause of a port error, so logs can follow it down to the driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of a SQL store, in terms services can act on. The driver's error stays reachable
/// through [`std::error::Error::source`]: log the chain ([`crate::error_chain`]), never show it
/// to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken, or the transaction lost a race; the kind says which.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database could not be reached or failed; retrying later may work.
    #[error("database unavailable: {context}")]
    Unavailable {
        /// What was being done, or what failed.
        context: Cow<'static, str>,
        /// The driver's error, if there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else; a bug or corrupt data.
    #[error("database error: {context}")]
    Other {
        /// What was being done, or what broke.
        context: Cow<'static, str>,
        /// The driver's error, if there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// [`Unavailable`](Self::Unavailable), caused by `source`.
    pub fn unavailable(context: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// [`Other`](Self::Other), caused by `source`.
    pub fn other(context: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Other {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// [`Other`](Self::Other) with no cause but what it says: a broken invariant or corrupt
    /// data found by our own code.
    pub fn broken(context: impl Into<Cow<'static, str>>) -> Self {
        Self::Other {
            context: context.into(),
            source: None,
        }
    }
}

/// Which rule a write broke. The adapters name it from the database's error code and
/// constraint, so callers match a kind, never a driver's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The address belongs to a verified account (`account.email`).
    #[error("email_taken")]
    EmailTaken,
    /// Another message already has this sender's `client_id`, the idempotency key
    /// (`message (sender_id, client_id)`): a concurrent append stored it first. Running the
    /// append again answers it as a duplicate.
    #[error("duplicate client_id")]
    DuplicateClientId,
    /// The transaction lost a race with another: PostgreSQL's serialization failure (40001)
    /// or deadlock (40P01), or a join or leave that moved a conversation's members after the
    /// PostgreSQL append read them. Running it again may succeed.
    #[error("transaction conflict")]
    Serialization,
    /// Any other uniqueness rule, named by the database (PostgreSQL's constraint, SQLite's
    /// `table.column, ...`). None is expected: one means a bug, or a race no code handles.
    #[error("{0}")]
    Unique(String),
}

impl Conflict {
    /// Whether running the same transaction again may succeed (the PostgreSQL append retries
    /// these).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::DuplicateClientId | Self::Serialization)
    }
}

/// Errors of the key-value backends (sessions, presence, throttles). The backend's error
/// stays reachable through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend (Redis) could not be reached; retrying later may work.
    #[error("state store unavailable")]
    Unavailable(#[source] BoxError),
    /// Stored data could not be read back, or the backend refused a command.
    #[error("state store error")]
    Other(#[source] BoxError),
}

/// Something a readiness probe can check.
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// A short name for `/readyz` output, e.g. `database`.
    fn name(&self) -> &'static str;
    /// Succeeds when the backend answers.
    async fn check(&self) -> Result<(), String>;
    /// Whether `/readyz` fails when this check does. A check that only informs (one of several
    /// chat nodes behind a gateway) is reported but does not make the process unready.
    fn required(&self) -> bool {
        true
    }
}
