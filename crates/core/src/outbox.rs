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
pub async fn run_relay(
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match relay_once(&*store, &*bus).await {
            Ok(n) => {
                backoff = Duration::from_millis(200);
                if n > 0 {
                    continue; // maybe more waiting
                }
            }
            Err(e) => {
                tracing::warn!(error = %format_args!("{e:#}"), retry_in = ?backoff, "outbox relay failed; will retry");
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last pass so events written just before shutdown leave now.
                let _ = relay_once(&*store, &*bus).await;
                return;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(backoff.max(Duration::from_secs(1))) => {}
        }
    }
}

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
