//! The metrics the send path records for every message and batch, registered once. A
//! `counter!` or `histogram!` macro looks its series up in the recorder's registry (hashing
//! and comparing the key) on every call; at 2,000 msgs/s those lookups were about 2 % of the runtime
//! thread (issue 10). A handle goes straight to the series.

use metrics::{Counter, Histogram};
use std::sync::LazyLock;

pub(crate) struct SendMeters {
    /// `chat_events_total{event="message:send"}`.
    pub(crate) events: Counter,
    /// `chat_ack_seconds`: from a `message:send`'s arrival to its ack.
    pub(crate) ack_seconds: Histogram,
    /// `chat_messages_total`: messages stored (duplicates not counted).
    pub(crate) messages: Counter,
    /// `chat_commit_batch_size`: messages per group commit.
    pub(crate) batch_size: Histogram,
    /// `chat_commit_seconds`: how long each group commit took in the store, its transaction
    /// and the disk's flush (SQLite's `fdatasync`, PostgreSQL's commit) included. A flush the
    /// disk holds up holds up every message of the batch and of those queued behind it.
    pub(crate) commit_seconds: Histogram,
}

/// Registered on first use, after the process's recorder is in place (installing it if
/// nothing has yet), so these are never the no-op handles of a process without one.
pub(crate) static SEND: LazyLock<SendMeters> = LazyLock::new(|| {
    chatsync_platform::telemetry::metrics_handle();
    SendMeters {
        events: metrics::counter!("chat_events_total", "event" => crate::protocol::SEND),
        ack_seconds: metrics::histogram!("chat_ack_seconds"),
        messages: metrics::counter!("chat_messages_total"),
        batch_size: metrics::histogram!("chat_commit_batch_size"),
        commit_seconds: metrics::histogram!("chat_commit_seconds"),
    }
});
