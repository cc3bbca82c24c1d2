//! The per-account send limit (SPEC §8: one send limit per account covers REST and Socket.IO,
//! across nodes). Each socket's own token bucket is checked first, locally; this limit is the
//! account's budget for every socket and REST call together, kept in the [`Throttle`] (Redis
//! when there are several nodes).
//!
//! Asking the throttle for every message would put a Redis round trip on the send path. So a
//! node draws the account's budget in shares and spends a share locally, asking again only when
//! it is spent, for a larger share while the account keeps sending (up to a quarter of the
//! budget). A node never admits more than it was granted, so all nodes together never pass the
//! budget; a share one node holds unused may be refused to another until the window ends. Once
//! the budget is spent the node remembers the refusal until the window ends, so a flood costs
//! no further round trips either.

use crate::error::{ChatError, ChatResult};
use chatsync_core::config::RateLimit;
use chatsync_core::ids::UserId;
use chatsync_core::ports::Throttle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Leases kept before expired ones are swept out: the map holds only accounts that sent in
/// their current window, so it is bounded by recent senders, not by every account ever seen.
const SWEEP_AT: usize = 10_000;

/// One account's share of its budget on this node.
struct Lease {
    /// Sends this node may still admit in the current window.
    left: u32,
    /// When the window ends (as the throttle said when the share was granted).
    until: Instant,
    /// The share to ask for next.
    next: u32,
    /// The window's whole budget is spent, on every node.
    spent: bool,
}

/// The per-account send limit, shared by REST and Socket.IO.
pub(crate) struct SendLimit {
    throttle: Arc<dyn Throttle>,
    rule: RateLimit,
    leases: Mutex<HashMap<UserId, Lease>>,
}

impl SendLimit {
    pub(crate) fn new(throttle: Arc<dyn Throttle>, rule: RateLimit) -> Self {
        Self {
            throttle,
            rule,
            leases: Mutex::new(HashMap::new()),
        }
    }

    fn largest_share(&self) -> u32 {
        (self.rule.limit / 4).max(1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Lease>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one send by `user`; `RateLimited` once the account's budget is spent. If the
    /// throttle cannot be reached the send is admitted (and a warning logged): messaging
    /// stays up when Redis blips, and each socket's own limit still holds.
    pub(crate) async fn admit(&self, user: UserId) -> ChatResult<()> {
        let want = {
            let now = Instant::now();
            let mut leases = self.lock();
            match leases.get_mut(&user) {
                Some(l) if l.until > now => {
                    if l.left > 0 {
                        l.left -= 1;
                        return Ok(());
                    }
                    if l.spent {
                        return Err(ChatError::RateLimited(l.until - now));
                    }
                    l.next
                }
                // A share left unused when its window ended was too large.
                Some(l) if l.left > 0 => (l.next / 2).max(1),
                Some(l) => l.next,
                None => 1,
            }
        };
        let window = Duration::from_secs(self.rule.window_secs.max(1));
        let grant = match self
            .throttle
            .take(&format!("chat:send:{user}"), want, self.rule.limit, window)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), "the per-account send limit could not be checked");
                return Ok(());
            }
        };
        let now = Instant::now();
        let until = now + grant.resets_in;
        let mut leases = self.lock();
        if leases.len() >= SWEEP_AT {
            leases.retain(|_, l| l.until > now);
        }
        let l = leases.entry(user).or_insert(Lease {
            left: 0,
            until,
            next: 1,
            spent: false,
        });
        if l.until <= now {
            // A new window: what was left of the old one is gone.
            l.left = 0;
            l.spent = false;
        }
        l.until = until;
        if grant.granted == 0 {
            l.spent = true;
            return Err(ChatError::RateLimited(grant.resets_in));
        }
        // Concurrent sends may each have drawn a share: keep them all.
        l.left = l.left.saturating_add(grant.granted - 1);
        l.next = grant
            .granted
            .saturating_mul(2)
            .clamp(1, self.largest_share());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use chatsync_core::memory::MemoryThrottle;
    use chatsync_core::ports::StateError;
    use chatsync_core::ports::throttle::{Decision, Grant};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A throttle that counts how often it is asked.
    #[derive(Default)]
    struct Counting {
        inner: MemoryThrottle,
        takes: AtomicU32,
    }

    #[async_trait]
    impl Throttle for Counting {
        async fn hit(&self, key: &str, limit: u32, w: Duration) -> Result<Decision, StateError> {
            self.inner.hit(key, limit, w).await
        }
        async fn take(
            &self,
            key: &str,
            want: u32,
            limit: u32,
            w: Duration,
        ) -> Result<Grant, StateError> {
            self.takes.fetch_add(1, Ordering::Relaxed);
            self.inner.take(key, want, limit, w).await
        }
        async fn claim(&self, key: &str, ttl: Duration) -> Result<Decision, StateError> {
            self.inner.claim(key, ttl).await
        }
        async fn clear(&self, key: &str) -> Result<(), StateError> {
            self.inner.clear(key).await
        }
    }

    async fn admitted(limit: &SendLimit, user: UserId, n: u32) -> u32 {
        let mut ok = 0;
        for _ in 0..n {
            if limit.admit(user).await.is_ok() {
                ok += 1;
            }
        }
        ok
    }

    #[tokio::test]
    async fn nodes_sharing_a_throttle_never_admit_more_than_the_budget_and_rarely_ask() {
        let shared = Arc::new(Counting::default());
        let rule = RateLimit::new(100, 10);
        let (a, b) = (
            SendLimit::new(shared.clone(), rule),
            SendLimit::new(shared.clone(), rule),
        );
        let ann = UserId::new();
        let first = admitted(&a, ann, 70).await;
        let second = admitted(&b, ann, 70).await;
        assert_eq!(first, 70);
        assert!(
            second < 30,
            "node B gets what node A did not draw: {second}"
        );
        assert_eq!(
            first + second + admitted(&a, ann, 70).await,
            100,
            "node A spends the share it still held, then nothing more"
        );
        let asked = shared.takes.load(Ordering::Relaxed);
        assert!(asked <= 20, "{asked} round trips for 210 sends");
        // Refused sends cost no round trip.
        assert_eq!(admitted(&a, ann, 50).await + admitted(&b, ann, 50).await, 0);
        assert_eq!(shared.takes.load(Ordering::Relaxed), asked);
        match a.admit(ann).await {
            Err(ChatError::RateLimited(d)) => assert!(d <= Duration::from_secs(10)),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Other accounts have budgets of their own.
        assert_eq!(admitted(&a, UserId::new(), 5).await, 5);
    }
}
