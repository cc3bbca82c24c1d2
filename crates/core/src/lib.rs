//! ChatSync's domain kernel: ids, validated input types, configuration types, the port traits
//! every service talks through, bus events, and the embedded (in-process) adapters that make a
//! zero-setup install work.
//!
//! Adapters depend on this crate alone. The HTTP, token, configuration-loading and telemetry
//! platform the services share is `chatsync-platform`; nothing here may compile axum, tower,
//! hyper, jsonwebtoken, figment, the Prometheus exporter or tracing-subscriber.
//!
//! # Layout
//! - [`ids`], [`validate`]: newtypes; a value of these types has already been checked.
//! - [`ports`]: the capabilities services need (`UserStore`, `ChatStore`, `EventBus`,
//!   `SessionStore`, `Presence`, `Throttle`). Technology-specific adapters live in their own
//!   crates (`store-sqlite`, `store-postgres`, `bus-rabbitmq`, `redis`).
//! - [`memory`]: the in-process adapters, held to the same contract suites as the real ones.
//! - [`events`]: what crosses service boundaries on the bus.
//! - [`config`]: the settings' types, defaults and validation (loading is the platform's).
//! - [`outbox`]: the relay from the outbox table to the bus; [`files`]: owner-only files and
//!   directories (the SQLite store and the platform's signing secret both need them).
//!
//! This crate must not depend on any service crate or any adapter crate.
#![warn(missing_docs)]

pub mod config;
pub mod events;
pub mod files;
pub mod ids;
pub mod memory;
pub mod outbox;
pub mod ports;
pub mod validate;

pub use ids::*;

/// Installs the process-wide rustls crypto provider.
///
/// sqlx and lettre compile `ring` in, lapin and object_store compile `aws-lc-rs`; with both
/// present rustls refuses to pick one and panics at the first TLS handshake. Every binary and
/// test harness calls this first. Calling it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `e` and each of its causes, `outer: inner: innermost`, for logs. Port errors keep the
/// driver's error as their source; this is how it reaches the log line. Never send it to a
/// client.
pub fn error_chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> ErrorChain<'a> {
    ErrorChain(e)
}

/// See [`error_chain`].
pub struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}
