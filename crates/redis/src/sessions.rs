//! Sessions as hashes `session:<id>` that expire with the session, plus a set per user
//! (`user_sessions:<user>`) for listing. Fields that change on refresh (with the list of
//! retired refresh hashes that recognises a replay) are kept apart from the fixed ones, so a
//! refresh is one atomic script with no read-modify-write race.

use crate::{RedisState, StateResult};
use async_trait::async_trait;
use chatsync_core::ids::{SessionId, UserId};
use chatsync_core::ports::StateError;
use chatsync_core::ports::sessions::{RETIRED_SECRETS_KEPT, Rotation, Session, SessionStore};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The fields of a session that never change.
#[derive(Serialize, Deserialize)]
struct Fixed {
    user_id: UserId,
    created_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
}

/// KEYS: session, user index. ARGV: presented hash, next hash, now ms, expires ms, session id,
/// retired hashes kept. Returns 1 rotated, -1 reused (session deleted), 2 unrecognised
/// (nothing changed), 0 missing.
///
/// `retired` holds the rotated-away hashes, newest first, comma-separated (hashes are hex, so
/// a comma-delimited search cannot match part of one).
const ROTATE: &str = r"
local current = redis.call('HGET', KEYS[1], 'refresh_hash')
if not current then return 0 end
local retired = redis.call('HGET', KEYS[1], 'retired') or ''
if current ~= ARGV[1] then
  if ARGV[1] ~= '' and string.find(',' .. retired .. ',', ',' .. ARGV[1] .. ',', 1, true) then
    redis.call('DEL', KEYS[1])
    redis.call('SREM', KEYS[2], ARGV[5])
    return -1
  end
  return 2
end
local list = current
if retired ~= '' then list = current .. ',' .. retired end
local kept, seen = tonumber(ARGV[6]), 0
for i = 1, #list do
  if string.byte(list, i) == 44 then
    seen = seen + 1
    if seen == kept then list = string.sub(list, 1, i - 1) break end
  end
end
redis.call('HSET', KEYS[1], 'refresh_hash', ARGV[2], 'last_used_at', ARGV[3], 'expires_at', ARGV[4], 'retired', list)
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
";

impl RedisState {
    fn session_key(&self, id: SessionId) -> String {
        self.key(format_args!("session:{id}"))
    }

    fn user_sessions_key(&self, user: UserId) -> String {
        self.key(format_args!("user_sessions:{user}"))
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn decode(id: SessionId, h: &HashMap<String, String>) -> Option<Session> {
    let fixed: Fixed = serde_json::from_str(h.get("fixed")?).ok()?;
    let time = |k: &str| {
        h.get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|v| Utc.timestamp_millis_opt(v).single())
    };
    Some(Session {
        id,
        user_id: fixed.user_id,
        refresh_hash: h.get("refresh_hash")?.clone(),
        created_at: fixed.created_at,
        last_used_at: time("last_used_at")?,
        expires_at: time("expires_at")?,
        user_agent: fixed.user_agent,
        ip: fixed.ip,
    })
}

#[async_trait]
impl SessionStore for RedisState {
    async fn create(&self, s: &Session) -> Result<(), StateError> {
        let fixed = serde_json::to_string(&Fixed {
            user_id: s.user_id,
            created_at: s.created_at,
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
        })
        .map_err(|e| StateError::Other(Box::new(e)))?;
        let key = self.session_key(s.id);
        let index = self.user_sessions_key(s.user_id);
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("fixed", fixed),
                    ("refresh_hash", s.refresh_hash.clone()),
                    ("last_used_at", ms(s.last_used_at).to_string()),
                    ("expires_at", ms(s.expires_at).to_string()),
                ],
            )
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(ms(s.expires_at))
            .ignore()
            .sadd(&index, s.id.to_string())
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&index)
            .arg(ms(s.expires_at))
            .arg("GT")
            .ignore()
            // A brand-new set has no TTL and `GT` treats that as infinite: set one then.
            .cmd("PEXPIREAT")
            .arg(&index)
            .arg(ms(s.expires_at))
            .arg("NX")
            .ignore()
            .exec_async(&mut self.conn())
            .await
            .state()
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.session_key(id))
            .query_async(&mut self.conn())
            .await
            .state()?;
        Ok(decode(id, &h).filter(|s| s.expires_at > Utc::now()))
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Rotation, StateError> {
        // Read first only to learn the user (for the index key) and to return the session.
        let Some(before) = self.get(id).await? else {
            return Ok(Rotation::Missing);
        };
        let outcome: i64 = redis::Script::new(ROTATE)
            .key(self.session_key(id))
            .key(self.user_sessions_key(before.user_id))
            .arg(presented)
            .arg(next)
            .arg(ms(now))
            .arg(ms(expires_at))
            .arg(id.to_string())
            .arg(RETIRED_SECRETS_KEPT)
            .invoke_async(&mut self.conn())
            .await
            .state()?;
        Ok(match outcome {
            1 => Rotation::Rotated(Session {
                refresh_hash: next.to_owned(),
                last_used_at: now,
                expires_at,
                ..before
            }),
            -1 => Rotation::Reused(before),
            2 => Rotation::Unrecognized,
            _ => Rotation::Missing,
        })
    }

    async fn revoke(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        let Some(s) = self.get(id).await? else {
            return Ok(None);
        };
        let (deleted,): (i64,) = redis::pipe()
            .atomic()
            .del(self.session_key(id))
            .srem(self.user_sessions_key(s.user_id), id.to_string())
            .ignore()
            .query_async(&mut self.conn())
            .await
            .state()?;
        Ok((deleted > 0).then_some(s))
    }

    async fn list(&self, user: UserId) -> Result<Vec<Session>, StateError> {
        let index = self.user_sessions_key(user);
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&index)
            .query_async(&mut self.conn())
            .await
            .state()?;
        let ids: Vec<SessionId> = ids.iter().filter_map(|s| s.parse().ok()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.session_key(*id));
        }
        let hashes: Vec<HashMap<String, String>> =
            pipe.query_async(&mut self.conn()).await.state()?;
        let now = Utc::now();
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, h) in ids.into_iter().zip(hashes) {
            match decode(id, &h).filter(|s| s.expires_at > now) {
                Some(s) => live.push(s),
                None => gone.push(id.to_string()),
            }
        }
        if !gone.is_empty() {
            let _: Result<(), _> = redis::cmd("SREM")
                .arg(&index)
                .arg(gone)
                .query_async(&mut self.conn())
                .await;
        }
        live.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(live)
    }

    async fn ping(&self) -> Result<(), StateError> {
        RedisState::ping(self).await
    }
}
