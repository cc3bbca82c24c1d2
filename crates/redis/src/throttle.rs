//! Fixed-window counters (`INCR` + expiry) and claims (`SET NX PX`).

use crate::{RedisState, StateResult};
use async_trait::async_trait;
use chatsync_core::ports::StateError;
use chatsync_core::ports::throttle::{Decision, Grant, Throttle};
use std::time::Duration;

/// KEYS: counter. ARGV: window ms. Returns {count, ms left}.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

/// KEYS: counter. ARGV: wanted, limit, window ms. Returns {granted, ms left}. The counter never
/// passes the limit, so what one node is refused stays there for the others.
const TAKE: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.max(0, math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used))
if granted > 0 then redis.call('INCRBY', KEYS[1], granted) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  if granted > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  ttl = tonumber(ARGV[3])
end
return {granted, ttl}
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisState {
    fn throttle_key(&self, key: &str) -> String {
        self.key(format_args!("throttle:{key}"))
    }
}

#[async_trait]
impl Throttle for RedisState {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, StateError> {
        let (count, left): (i64, i64) = redis::Script::new(HIT)
            .key(self.throttle_key(key))
            .arg(millis(window))
            .invoke_async(&mut self.conn())
            .await
            .state()?;
        Ok(if count > i64::from(limit) {
            Decision::Limited {
                retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(1)),
            }
        } else {
            Decision::Allowed
        })
    }

    async fn take(
        &self,
        key: &str,
        want: u32,
        limit: u32,
        window: Duration,
    ) -> Result<Grant, StateError> {
        let (granted, left): (i64, i64) = redis::Script::new(TAKE)
            .key(self.throttle_key(key))
            .arg(want)
            .arg(limit)
            .arg(millis(window))
            .invoke_async(&mut self.conn())
            .await
            .state()?;
        Ok(Grant {
            granted: u32::try_from(granted).unwrap_or(0),
            resets_in: Duration::from_millis(u64::try_from(left).unwrap_or(1).max(1)),
        })
    }

    async fn claim(&self, key: &str, ttl: Duration) -> Result<Decision, StateError> {
        let key = self.throttle_key(key);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.conn())
            .await
            .state()?;
        if set.is_some() {
            return Ok(Decision::Allowed);
        }
        let left: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut self.conn())
            .await
            .state()?;
        Ok(Decision::Limited {
            retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(1).max(1)),
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StateError> {
        redis::cmd("DEL")
            .arg(self.throttle_key(key))
            .query_async::<i64>(&mut self.conn())
            .await
            .map(|_| ())
            .state()
    }
}
