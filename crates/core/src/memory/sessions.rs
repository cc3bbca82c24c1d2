use crate::ids::{SessionId, UserId};
use crate::ports::StateError;
use crate::ports::sessions::{Rotation, Session, SessionStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Sessions in a map. A restart logs everyone out; use Redis to keep sessions across restarts
/// and share them between processes.
#[derive(Default)]
pub struct MemorySessions {
    map: Mutex<HashMap<SessionId, Session>>,
}

impl MemorySessions {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, session: &Session) -> Result<(), StateError> {
        let mut map = self.lock();
        // Sweep expired sessions now and then, so the map cannot grow without bound.
        if map.len() % 256 == 255 {
            let now = Utc::now();
            map.retain(|_, s| s.expires_at > now);
        }
        map.insert(session.id, session.clone());
        Ok(())
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        let now = Utc::now();
        Ok(self.lock().get(&id).filter(|s| s.expires_at > now).cloned())
    }

    async fn rotate(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Rotation, StateError> {
        let mut map = self.lock();
        let Some(s) = map.get_mut(&id).filter(|s| s.expires_at > now) else {
            return Ok(Rotation::Missing);
        };
        if s.refresh_hash != presented {
            let s = map.remove(&id).expect("present: just looked it up");
            return Ok(Rotation::Reused(s));
        }
        s.refresh_hash = next.to_owned();
        s.last_used_at = now;
        s.expires_at = expires_at;
        Ok(Rotation::Rotated(s.clone()))
    }

    async fn revoke(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        Ok(self.lock().remove(&id))
    }

    async fn list(&self, user: UserId) -> Result<Vec<Session>, StateError> {
        let now = Utc::now();
        let mut v: Vec<Session> = self
            .lock()
            .values()
            .filter(|s| s.user_id == user && s.expires_at > now)
            .cloned()
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(v)
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }
}
