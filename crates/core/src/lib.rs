//! ChatSync's shared kernel: ids, validated input types, configuration, the port traits every
//! service talks through, and the embedded (in-process) adapters that make a zero-setup install
//! work.
//!
//! # Layout
//! - [`ids`], [`validate`]: newtypes; a value of these types has already been checked.
//! - [`ports`]: the capabilities services need (`UserStore`, `ChatStore`, `EventBus`,
//!   `SessionStore`, `Presence`, `Throttle`). Technology-specific adapters live in their own
//!   crates (`store-sqlite`, `store-postgres`, `bus-rabbitmq`, `redis`).
//! - [`memory`]: the in-process adapters, held to the same contract suites as the real ones.
//! - [`events`]: what crosses service boundaries on the bus.
//! - [`tokens`], [`http`]: access tokens and the HTTP plumbing every service shares (error
//!   shape, JSON extractor, authentication extractor).
//! - [`config`], [`telemetry`], [`outbox`]: start-up and operations; [`listener`]: the
//!   accept loop with its connection limits.
//!
//! This crate must not depend on any service crate or any adapter crate.
#![warn(missing_docs)]

pub mod config;
pub mod events;
pub mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod listener;
pub mod memory;
pub mod outbox;
pub mod ports;
pub mod telemetry;
pub mod tokens;
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
