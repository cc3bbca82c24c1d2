use crate::ids::{SessionId, UserId};
use crate::ports::StateError;
use crate::ports::sessions::{RETIRED_SECRETS_KEPT, Rotation, Session, SessionStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Sessions in a map. A restart logs everyone out; use Redis to keep sessions across restarts
/// and share them between processes.
#[derive(Default)]
pub struct MemorySessions {
    map: Mutex<HashMap<SessionId, Entry>>,
}

struct Entry {
    session: Session,
    /// Rotated-away refresh hashes, newest first, at most `RETIRED_SECRETS_KEPT`.
    retired: VecDeque<String>,
}

impl MemorySessions {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
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
            map.retain(|_, e| e.session.expires_at > now);
        }
        map.insert(
            session.id,
            Entry {
                session: session.clone(),
                retired: VecDeque::new(),
            },
        );
        Ok(())
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        let now = Utc::now();
        Ok(self
            .lock()
            .get(&id)
            .filter(|e| e.session.expires_at > now)
            .map(|e| e.session.clone()))
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
        let Some(e) = map.get_mut(&id).filter(|e| e.session.expires_at > now) else {
            return Ok(Rotation::Missing);
        };
        if e.session.refresh_hash != presented {
            if !e.retired.iter().any(|h| h == presented) {
                return Ok(Rotation::Unrecognized);
            }
            let e = map.remove(&id).expect("present: just looked it up");
            return Ok(Rotation::Reused(e.session));
        }
        let old = std::mem::replace(&mut e.session.refresh_hash, next.to_owned());
        e.retired.push_front(old);
        e.retired.truncate(RETIRED_SECRETS_KEPT);
        e.session.last_used_at = now;
        e.session.expires_at = expires_at;
        Ok(Rotation::Rotated(e.session.clone()))
    }

    async fn revoke(&self, id: SessionId) -> Result<Option<Session>, StateError> {
        Ok(self.lock().remove(&id).map(|e| e.session))
    }

    async fn list(&self, user: UserId) -> Result<Vec<Session>, StateError> {
        let now = Utc::now();
        let mut v: Vec<Session> = self
            .lock()
            .values()
            .map(|e| &e.session)
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
