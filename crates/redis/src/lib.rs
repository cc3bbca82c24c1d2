//! Redis adapters for the state every process must share: sessions (so a logout is seen by
//! every service at once), presence (online while any socket is connected on any chat node) and
//! throttles (rate limits count across instances).
//!
//! One [`ConnectionManager`] multiplexes everything and reconnects by itself after a Redis
//! restart; calls made while Redis is down fail with `StateError::Unavailable` (HTTP 503)
//! instead of hanging. Every key starts with the configured prefix.
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

mod agreement;
mod presence;
mod sessions;
mod throttle;

pub use presence::LEASE_MS;

use chatsync_core::ports::{HealthCheck, StateError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A shared Redis connection with a key prefix.
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisState {
    /// Prepares a connection to `url`; it is opened on first use and re-opened after failures,
    /// so start-up does not depend on Redis being up at that instant.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, StateError> {
        let client = redis::Client::open(url).map_err(|e| StateError::Other(Box::new(e)))?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, cfg)
            .map_err(|e| StateError::Other(Box::new(e)))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{}", self.prefix, parts)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Pings the server.
    pub async fn ping(&self) -> Result<(), StateError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map(|_| ())
            .state()
    }
}

#[async_trait::async_trait]
impl HealthCheck for RedisState {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        self.ping()
            .await
            .map_err(|e| chatsync_core::error_chain(&e).to_string())
    }
}

/// Maps a driver error to the port's, keeping it as the source: a lost or refused
/// connection may heal, anything else is a refused command or data we cannot read.
pub(crate) fn state_error(e: redis::RedisError) -> StateError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StateError::Unavailable(Box::new(e))
    } else {
        StateError::Other(Box::new(e))
    }
}

/// `.state()?`: a driver result as the port's, through [`state_error`].
pub(crate) trait StateResult<T> {
    fn state(self) -> Result<T, StateError>;
}

impl<T> StateResult<T> for redis::RedisResult<T> {
    fn state(self) -> Result<T, StateError> {
        self.map_err(state_error)
    }
}
