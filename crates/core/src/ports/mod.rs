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

/// Errors of a SQL store, in terms services can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken; the string names the rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or failed; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or corrupt data.
    #[error("database error: {0}")]
    Other(String),
}

/// Errors of the key-value backends (sessions, presence, throttles).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend (Redis) could not be reached; retrying later may work.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("state store error: {0}")]
    Other(String),
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
