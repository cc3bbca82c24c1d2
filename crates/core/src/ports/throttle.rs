//! Rate limits and cooldowns, shared by every instance of a service.

use crate::ports::StateError;
use async_trait::async_trait;
use std::time::Duration;

/// The answer of a throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Refused; may try again after this long.
    Limited {
        /// Time until the limit resets.
        retry_after: Duration,
    },
}

/// What [`Throttle::take`] granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Hits granted, at most the number asked; 0 when the window's budget is spent.
    pub granted: u32,
    /// Time until the window ends and its budget is whole again.
    pub resets_in: Duration,
}

/// Fixed-window counters and single-use claims, keyed by strings the caller builds
/// (`login:ip:1.2.3.4`).
#[async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Counts a hit on `key`; more than `limit` hits within `window` are refused.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, StateError>;

    /// Takes up to `want` of the `limit` hits allowed on `key` per `window`: as many as are
    /// left, never more. A node draws a share of a budget that several nodes spend together
    /// and spends it locally, so it need not ask for every hit (the per-account send limit).
    async fn take(
        &self,
        key: &str,
        want: u32,
        limit: u32,
        window: Duration,
    ) -> Result<Grant, StateError>;

    /// Claims `key` for `ttl` if nobody holds it: a cooldown (one OTP mail per minute).
    async fn claim(&self, key: &str, ttl: Duration) -> Result<Decision, StateError>;

    /// Drops a claim or counter early.
    async fn clear(&self, key: &str) -> Result<(), StateError>;
}
