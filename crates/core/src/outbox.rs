//! Transactional outbox: a service writes the events of a change in the same database
//! transaction as the change, and [`run_relay`] publishes them afterwards. So an event is
//! published if and only if its change committed, even when the broker is down at the time
//! (the relay keeps retrying) or the process dies in between (the rows are still there).

use crate::ports::bus::EventBus;
use crate::ports::outbox::OutboxStore;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Publishes pending outbox rows until `shutdown`. `wake` is notified after each write so
/// that events leave at once; the timer only catches up after failures and restarts.
///
/// After a failure the relay tries again when the next event is written (a new event is worth
/// a try: the broker may be back, and a sign-up's code should not wait out a backoff) or when
/// the backoff runs out, whichever comes first. The backoff starts at [`RETRY_FIRST`] and
/// doubles up to [`RETRY_MAX`]; it is what bounds the retries while nobody writes.
pub async fn run_relay(
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut backoff = RETRY_FIRST;
    loop {
        let wait = match relay_once(&*store, &*bus).await {
            Ok(n) => {
                backoff = RETRY_FIRST;
                if n > 0 {
                    continue; // maybe more waiting
                }
                POLL
            }
            Err(e) => {
                let wait = backoff;
                backoff = (backoff * 2).min(RETRY_MAX);
                tracing::warn!(
                    error = %format_args!("{e:#}"),
                    retry_in = ?wait,
                    "outbox relay failed; will retry at the next event or after retry_in"
                );
                wait
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last pass so events written just before shutdown leave now.
                let _ = relay_once(&*store, &*bus).await;
                return;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long the relay waits for a wake before it looks at the outbox anyway (rows written by
/// an earlier process, or by another node's transaction on PostgreSQL).
const POLL: Duration = Duration::from_secs(1);
/// The first wait after a failure.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait after failures in a row.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Publishes one batch; returns how many rows were published.
pub async fn relay_once(store: &dyn OutboxStore, bus: &dyn EventBus) -> anyhow::Result<usize> {
    let rows = store.pending(100).await?;
    let mut done = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in &rows {
        match bus
            .publish(&row.message.topic, Bytes::from(row.message.payload.clone()))
            .await
        {
            Ok(()) => done.push(row.id),
            Err(e) => {
                failure = Some(e);
                break; // keep order: do not publish later rows before this one
            }
        }
    }
    if !done.is_empty() {
        store.remove(&done).await?;
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(done.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;
    use crate::ports::bus::{BusError, Subscription};
    use crate::ports::outbox::{OutboxMessage, OutboxRow};
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

    #[derive(Default)]
    struct Rows(Mutex<Vec<OutboxRow>>);

    #[async_trait]
    impl OutboxStore for Rows {
        async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
            let rows = self.0.lock().unwrap();
            Ok(rows.iter().take(limit as usize).cloned().collect())
        }
        async fn remove(&self, ids: &[i64]) -> Result<(), StoreError> {
            self.0.lock().unwrap().retain(|r| !ids.contains(&r.id));
            Ok(())
        }
    }

    /// A broker that refuses every publish while `down`, and counts the tries.
    #[derive(Default)]
    struct Broker {
        down: AtomicBool,
        tries: AtomicU32,
        published: Mutex<Vec<String>>,
    }

    fn refused() -> BusError {
        BusError::Unavailable("connection refused".into())
    }

    #[async_trait]
    impl EventBus for Broker {
        async fn publish(&self, topic: &str, _: Bytes) -> Result<(), BusError> {
            self.tries.fetch_add(1, SeqCst);
            if self.down.load(SeqCst) {
                return Err(refused());
            }
            self.published.lock().unwrap().push(topic.to_owned());
            Ok(())
        }
        async fn consume(&self, _: &str) -> Result<Box<dyn Subscription>, BusError> {
            Err(refused())
        }
        async fn subscribe(&self, _: &str) -> Result<Box<dyn Subscription>, BusError> {
            Err(refused())
        }
        async fn ping(&self) -> Result<(), BusError> {
            Ok(())
        }
        async fn dead_letters(&self, _: &str, _: usize) -> Result<Vec<Bytes>, BusError> {
            Ok(Vec::new())
        }
        async fn queue_depth(&self, _: &str) -> Result<u64, BusError> {
            Ok(0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_broker_is_down_retries_back_off_and_a_new_event_tries_at_once() {
        let rows = Arc::new(Rows::default());
        rows.0.lock().unwrap().push(OutboxRow {
            id: 1,
            message: OutboxMessage {
                topic: "user.registered".into(),
                payload: "{}".into(),
            },
        });
        let broker = Arc::new(Broker::default());
        broker.down.store(true, SeqCst);
        let wake = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(run_relay(
            rows.clone(),
            broker.clone(),
            wake.clone(),
            shutdown.clone(),
        ));

        // Nobody writes for 30 s: tries at 0, 1, 3, 7, 15 and 25 s (waits of 1, 2, 4, 8, 10 s).
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            broker.tries.load(SeqCst),
            6,
            "tries in 30 s of a broker outage"
        );

        // An event written now is tried at once, not when the 10 s backoff runs out.
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(broker.tries.load(SeqCst), 7, "a new event is tried at once");

        // The broker is back: the next event takes the waiting row with it.
        broker.down.store(false, SeqCst);
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(*broker.published.lock().unwrap(), ["user.registered"]);
        assert!(
            rows.0.lock().unwrap().is_empty(),
            "published rows are removed"
        );

        shutdown.cancel();
        relay.await.unwrap();
    }
}
