//! Presence as one sorted set per user, `presence:<user>`: members are connection ids, scores
//! the time their lease ends. A node renews its connections' leases while it lives, so the
//! connections of a node that died silently stop counting after [`LEASE_MS`].

use crate::{RedisState, StateResult};
use async_trait::async_trait;
use chatsync_core::ids::UserId;
use chatsync_core::ports::StateError;
use chatsync_core::ports::presence::{Connected, Presence, PresenceState};
use chrono::{DateTime, TimeZone, Utc};

/// How long a connection counts without renewal. Chat nodes renew every third of this.
pub const LEASE_MS: i64 = 60_000;

/// KEYS: presence set. ARGV: now ms, lease end ms, conn, most connections. Returns 1 if the
/// user was offline, 0 if not, 2 if they already have the most connections (nothing recorded).
const CONNECT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
if before >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if before == 0 then return 1 else return 0 end
";

/// KEYS: presence set, last-seen key. ARGV: now ms, conn. Returns 1 if that was the last one.
const DISCONNECT: &str = r"
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
end
return 0
";

impl RedisState {
    fn presence_key(&self, user: UserId) -> String {
        self.key(format_args!("presence:{user}"))
    }
    fn last_seen_key(&self, user: UserId) -> String {
        self.key(format_args!("last_seen:{user}"))
    }
}

#[async_trait]
impl Presence for RedisState {
    async fn connect(&self, user: UserId, conn: &str, max: u32) -> Result<Connected, StateError> {
        let now = Utc::now().timestamp_millis();
        let outcome: i64 = redis::Script::new(CONNECT)
            .key(self.presence_key(user))
            .arg(now)
            .arg(now + LEASE_MS)
            .arg(conn)
            .arg(max)
            .invoke_async(&mut self.conn())
            .await
            .state()?;
        Ok(match outcome {
            1 => Connected::CameOnline,
            2 => Connected::Full,
            _ => Connected::AlreadyOnline,
        })
    }

    async fn disconnect(
        &self,
        user: UserId,
        conn: &str,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        let now = Utc::now();
        let last: i64 = redis::Script::new(DISCONNECT)
            .key(self.presence_key(user))
            .key(self.last_seen_key(user))
            .arg(now.timestamp_millis())
            .arg(conn)
            .invoke_async(&mut self.conn())
            .await
            .state()?;
        Ok((last == 1).then_some(now))
    }

    async fn renew(&self, conns: &[(UserId, String)]) -> Result<(), StateError> {
        let until = Utc::now().timestamp_millis() + LEASE_MS;
        for chunk in conns.chunks(500) {
            let mut pipe = redis::pipe();
            for (user, conn) in chunk {
                let key = self.presence_key(*user);
                pipe.cmd("ZADD")
                    .arg(&key)
                    .arg("XX")
                    .arg(until)
                    .arg(conn)
                    .ignore();
                pipe.cmd("PEXPIREAT")
                    .arg(&key)
                    .arg(until)
                    .arg("GT")
                    .ignore();
            }
            pipe.exec_async(&mut self.conn()).await.state()?;
        }
        Ok(())
    }

    async fn states(&self, users: &[UserId]) -> Result<Vec<PresenceState>, StateError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now().timestamp_millis();
        let mut pipe = redis::pipe();
        for u in users {
            pipe.zcount(self.presence_key(*u), now, "+inf");
            pipe.get(self.last_seen_key(*u));
        }
        let raw: Vec<(i64, Option<i64>)> = pipe
            .query_async::<Vec<redis::Value>>(&mut self.conn())
            .await
            .state()?
            .chunks(2)
            .map(|c| {
                let count = redis::from_redis_value_ref::<i64>(&c[0]).unwrap_or(0);
                let seen = redis::from_redis_value_ref::<Option<i64>>(&c[1]).unwrap_or(None);
                (count, seen)
            })
            .collect();
        Ok(users
            .iter()
            .zip(raw)
            .map(|(u, (count, seen))| PresenceState {
                user_id: *u,
                online: count > 0,
                last_seen: if count > 0 {
                    None
                } else {
                    seen.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                },
            })
            .collect())
    }
}
