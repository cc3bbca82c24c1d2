//! ChatSync's platform: what every service shares to be an HTTP service, on top of the domain
//! in `chatsync-core`.
//!
//! # Layout
//! - [`http`]: the error shape ([`http::ApiError`], and its mapping from the ports' errors), the
//!   JSON extractor, authentication, the client address, the standard layers and request ids.
//! - [`tokens`]: access tokens (JWT) and the signing secret.
//! - [`listener`]: the accept loop with its connection limits.
//! - [`telemetry`]: logs, metrics, `/healthz`, `/readyz`.
//! - [`config`]: loading the configuration (figment layers); its types are
//!   `chatsync_core::config`.
//!
//! Adapters must not depend on this crate: that is why it is apart from `chatsync-core`.
//! It must not depend on any service crate or any adapter crate.
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod listener;
pub mod telemetry;
pub mod tokens;
