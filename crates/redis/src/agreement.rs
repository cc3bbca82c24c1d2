//! [`Agreement`] as one key per topic with an expiry that the nodes using it keep renewing.

use crate::{RedisState, StateResult};
use async_trait::async_trait;
use chatsync_core::ports::StateError;
use chatsync_core::ports::agreement::Agreement;
use std::time::Duration;

/// KEYS: the topic. ARGV: value, ttl ms. Returns nil when recorded, else the other value.
const AGREE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

#[async_trait]
impl Agreement for RedisState {
    async fn agree(
        &self,
        topic: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StateError> {
        let key = self.key(format_args!("agreement:{topic}"));
        redis::Script::new(AGREE)
            .key(key)
            .arg(value)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut self.conn())
            .await
            .state()
    }
}
