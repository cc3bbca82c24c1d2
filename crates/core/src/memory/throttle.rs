use crate::ports::StateError;
use crate::ports::throttle::{Decision, Grant, Throttle};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Counters in a map. `tokio::time::Instant`, so tests can pause time.
#[derive(Default)]
pub struct MemoryThrottle {
    map: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    count: u32,
    until: Instant,
}

const SWEEP_AT: usize = 10_000;

impl MemoryThrottle {
    /// No counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> R) -> R {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() >= SWEEP_AT {
            map.retain(|_, e| e.until > now);
        }
        f(&mut map, now)
    }
}

#[async_trait]
impl Throttle for MemoryThrottle {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, StateError> {
        Ok(self.with(|map, now| {
            let e = map.entry(key.to_owned()).or_insert(Entry {
                count: 0,
                until: now + window,
            });
            if e.until <= now {
                *e = Entry {
                    count: 0,
                    until: now + window,
                };
            }
            e.count += 1;
            if e.count > limit {
                Decision::Limited {
                    retry_after: e.until - now,
                }
            } else {
                Decision::Allowed
            }
        }))
    }

    async fn take(
        &self,
        key: &str,
        want: u32,
        limit: u32,
        window: Duration,
    ) -> Result<Grant, StateError> {
        Ok(self.with(|map, now| {
            let e = map.entry(key.to_owned()).or_insert(Entry {
                count: 0,
                until: now + window,
            });
            if e.until <= now {
                *e = Entry {
                    count: 0,
                    until: now + window,
                };
            }
            let granted = want.min(limit.saturating_sub(e.count));
            e.count += granted;
            Grant {
                granted,
                resets_in: e.until - now,
            }
        }))
    }

    async fn claim(&self, key: &str, ttl: Duration) -> Result<Decision, StateError> {
        Ok(self.with(|map, now| match map.get(key) {
            Some(e) if e.until > now => Decision::Limited {
                retry_after: e.until - now,
            },
            _ => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        count: 1,
                        until: now + ttl,
                    },
                );
                Decision::Allowed
            }
        }))
    }

    async fn clear(&self, key: &str) -> Result<(), StateError> {
        self.with(|map, _| map.remove(key));
        Ok(())
    }
}
