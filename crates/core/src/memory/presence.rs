use crate::ids::UserId;
use crate::ports::StateError;
use crate::ports::presence::{Connected, Presence, PresenceState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Presence of one node's sockets. Leases are pointless in one process: `renew` does nothing.
#[derive(Default)]
pub struct MemoryPresence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    conns: HashMap<UserId, HashSet<String>>,
    last_seen: HashMap<UserId, DateTime<Utc>>,
}

impl MemoryPresence {
    /// Nobody online.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn connect(&self, user: UserId, conn: &str, max: u32) -> Result<Connected, StateError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let set = st.conns.entry(user).or_default();
        if set.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Ok(Connected::Full);
        }
        let was_offline = set.is_empty();
        set.insert(conn.to_owned());
        Ok(if was_offline {
            Connected::CameOnline
        } else {
            Connected::AlreadyOnline
        })
    }

    async fn disconnect(
        &self,
        user: UserId,
        conn: &str,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(set) = st.conns.get_mut(&user) else {
            return Ok(None);
        };
        if !set.remove(conn) || !set.is_empty() {
            return Ok(None);
        }
        st.conns.remove(&user);
        let now = Utc::now();
        st.last_seen.insert(user, now);
        Ok(Some(now))
    }

    async fn renew(&self, _conns: &[(UserId, String)]) -> Result<(), StateError> {
        Ok(())
    }

    async fn states(&self, users: &[UserId]) -> Result<Vec<PresenceState>, StateError> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(users
            .iter()
            .map(|u| {
                let online = st.conns.get(u).is_some_and(|s| !s.is_empty());
                PresenceState {
                    user_id: *u,
                    online,
                    last_seen: if online {
                        None
                    } else {
                        st.last_seen.get(u).copied()
                    },
                }
            })
            .collect())
    }
}
