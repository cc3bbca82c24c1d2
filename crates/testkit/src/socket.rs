//! A small Socket.IO v5 client for tests, on the wire of `chatsync-sio-client` (shared with the
//! load generator): connect with a handshake payload, emit with acks, wait for server events,
//! and send raw frames for bad-input tests.
//! (The official JavaScript and Python clients are exercised by `tests/clients/`.)

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// A connected socket.
pub struct Sock {
    /// The server-assigned socket id.
    pub sid: String,
    out: chatsync_sio_client::Outgoing,
    inbox: mpsc::UnboundedReceiver<Incoming>,
    seen: VecDeque<(String, Value)>,
    acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_ack: AtomicU64,
    closed: bool,
}

enum Incoming {
    Event(String, Value),
    Closed,
}

/// How long to wait for an ack or an event before failing the test.
pub const WAIT: Duration = Duration::from_secs(10);

/// A socket whose client stops reading once it is connected, the server's pings included:
/// what the server sends it piles up in the TCP buffers until the server's writes to it block.
/// Dropping it closes the connection.
pub struct Unread {
    _out: chatsync_sio_client::Outgoing,
    _incoming: chatsync_sio_client::Incoming<chatsync_sio_client::WsStream>,
}

impl Unread {
    /// Connects with `{token}` as the handshake, then reads nothing more.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<Self, String> {
        let c = chatsync_sio_client::connect(addr, &json!({ "token": token }).to_string(), &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            _out: c.out,
            _incoming: c.incoming,
        })
    }
}

impl Sock {
    /// Connects with `{token}` as the handshake; `Err` carries the `connect_error` message.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<Self, String> {
        Self::connect_with(addr, json!({ "token": token })).await
    }

    /// Connects with any handshake payload.
    pub async fn connect_with(addr: SocketAddr, auth: Value) -> Result<Self, String> {
        Self::connect_with_headers(addr, auth, &[]).await
    }

    /// Connects with any handshake payload, sending `headers` with the WebSocket upgrade.
    pub async fn connect_with_headers(
        addr: SocketAddr,
        auth: Value,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, String> {
        let chatsync_sio_client::Connected {
            sid,
            out,
            mut incoming,
        } = chatsync_sio_client::connect(addr, &auth.to_string(), headers)
            .await
            .map_err(|e| match e {
                chatsync_sio_client::ConnectError::Refused(m) => m,
                other => other.to_string(),
            })?;
        let (in_tx, inbox) = mpsc::unbounded_channel();
        let acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let reader_acks = acks.clone();
        tokio::spawn(async move {
            while let Ok(p) = incoming.next().await {
                if let Some(rest) = p.strip_prefix("43") {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let body: Value =
                        serde_json::from_str(&rest[digits.len()..]).unwrap_or(Value::Null);
                    if let Ok(id) = digits.parse::<u64>()
                        && let Some(tx) = reader_acks.lock().await.remove(&id)
                    {
                        let _ = tx.send(body.get(0).cloned().unwrap_or(Value::Null));
                    }
                } else if let Some(rest) = p.strip_prefix("42") {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(Value::Array(mut a)) =
                        serde_json::from_str::<Value>(&rest[digits.len()..])
                        && !a.is_empty()
                    {
                        let name = a.remove(0).as_str().unwrap_or_default().to_owned();
                        let data = a.into_iter().next().unwrap_or(Value::Null);
                        let _ = in_tx.send(Incoming::Event(name, data));
                    }
                }
            }
            let _ = in_tx.send(Incoming::Closed);
        });
        Ok(Self {
            sid,
            out,
            inbox,
            seen: VecDeque::new(),
            acks,
            next_ack: AtomicU64::new(1),
            closed: false,
        })
    }

    /// Emits `event` and returns its ack.
    pub async fn emit(&self, event: &str, data: Value) -> Value {
        self.try_emit(event, data, WAIT)
            .await
            .unwrap_or_else(|| panic!("no ack for {event} within {WAIT:?}"))
    }

    /// Emits `event`; its ack, or `None` if none came within `within` (or the socket closed).
    pub async fn try_emit(&self, event: &str, data: Value, within: Duration) -> Option<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        self.raw(format!("42{id}{}", json!([event, data])));
        tokio::time::timeout(within, rx).await.ok()?.ok()
    }

    /// Emits without asking for an ack.
    pub fn emit_no_ack(&self, event: &str, data: Value) {
        self.raw(format!("42{}", json!([event, data])));
    }

    /// Sends a raw Socket.IO packet text (for malformed-input tests).
    pub fn raw(&self, packet: String) {
        self.out.packet(packet);
    }

    /// Waits for the next `event`, keeping other events for later calls.
    pub async fn event(&mut self, event: &str) -> Value {
        self.event_within(event, WAIT)
            .await
            .unwrap_or_else(|| panic!("no {event} event within {WAIT:?}"))
    }

    /// The next `event` matching `accept`, waiting at most `within`.
    pub async fn event_where(&mut self, event: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.seen.iter().position(|(n, v)| n == event && accept(v)) {
                return self.seen.remove(i).expect("present").1;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero() && !self.closed, "no matching {event} event");
            self.pull(left).await;
        }
    }

    /// The next `event`, or `None` after `within`.
    pub async fn event_within(&mut self, event: &str, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.seen.iter().position(|(n, _)| n == event) {
                return self.seen.remove(i).map(|(_, v)| v);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.closed {
                return None;
            }
            self.pull(left).await;
        }
    }

    /// Asserts no `event` arrives within `within`.
    pub async fn no_event(&mut self, event: &str, within: Duration) {
        if let Some(v) = self.event_within(event, within).await {
            panic!("unexpected {event}: {v}");
        }
    }

    /// Drops buffered events.
    pub fn clear(&mut self) {
        self.seen.clear();
    }

    /// Waits until the server closes the socket; true if it did within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.closed {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            self.pull(left).await;
        }
        true
    }

    async fn pull(&mut self, within: Duration) {
        match tokio::time::timeout(within, self.inbox.recv()).await {
            Ok(Some(Incoming::Event(n, v))) => self.seen.push_back((n, v)),
            Ok(Some(Incoming::Closed) | None) => self.closed = true,
            Err(_) => {}
        }
    }

    /// Disconnects.
    pub fn close(&self) {
        self.out.disconnect();
    }
}
