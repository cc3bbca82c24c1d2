//! A lean Socket.IO v5 client over WebSocket: just what the load needs, parsing only the
//! fields it measures.

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What a socket reports to the scenario.
#[derive(Debug)]
pub(crate) enum Report {
    /// An ack of `message:send` arrived with the stored seq.
    Acked { seq: i64 },
    /// A `message:new` arrived: its conversation, seq, the sender's number, and latency.
    Delivered {
        conversation: String,
        seq: i64,
        latency_us: u64,
    },
    /// An ack said `ok: false`.
    Refused(String),
    /// The connection ended.
    Closed,
}

#[derive(Deserialize)]
struct NewMessage<'a> {
    conversation_id: &'a str,
    seq: i64,
    body: &'a str,
}

#[derive(Deserialize)]
struct Ack<'a> {
    ok: bool,
    message: Option<AckMessage>,
    #[serde(borrow, default)]
    error: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct AckMessage {
    seq: i64,
}

/// Microseconds since the epoch: what messages carry to measure latency across sockets.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A 64-byte body carrying its send time.
pub(crate) fn body() -> String {
    let mut b = format!("t={}", now_us());
    b.push(' ');
    while b.len() < 64 {
        b.push('x');
    }
    b
}

/// The sending half of a socket.
#[derive(Clone)]
pub(crate) struct Sender {
    out: mpsc::UnboundedSender<Message>,
}

impl Sender {
    /// Sends a message with an ack request. `n` must be unique for this socket's user across
    /// the whole run: it is the idempotency key.
    pub(crate) fn send(&self, conversation: &str, n: u64) {
        let packet = format!(
            "42{n}[\"message:send\",{{\"conversation_id\":\"{conversation}\",\"client_id\":\"m{n}\",\"body\":\"{}\"}}]",
            body()
        );
        let _ = self.out.send(Message::text(packet));
    }

    pub(crate) fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

/// Connects and authenticates; reports flow into `reports` tagged with `id`.
pub(crate) async fn connect(
    addr: SocketAddr,
    token: &str,
    id: usize,
    reports: Option<mpsc::UnboundedSender<(usize, Report)>>,
) -> anyhow::Result<Sender> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("websocket")?;
    let (mut tx, mut rx) = ws.split();
    let open = next_text(&mut rx).await.context("no open packet")?;
    if !open.starts_with('0') {
        bail!("unexpected open packet {open}");
    }
    tx.send(Message::text(format!("40{{\"token\":\"{token}\"}}")))
        .await?;
    loop {
        let p = next_text(&mut rx).await.context("closed during connect")?;
        if p.starts_with("40") {
            break;
        }
        if p.starts_with("44") {
            bail!("refused: {p}");
        }
    }
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if tx.send(m).await.is_err() || close {
                break;
            }
        }
    });
    let pong = out.clone();
    tokio::spawn(async move {
        while let Some(p) = next_text(&mut rx).await {
            if p == "2" {
                let _ = pong.send(Message::text("3"));
                continue;
            }
            let Some(reports) = &reports else { continue };
            if let Some(rest) = p.strip_prefix("43") {
                let start = rest.find('[').unwrap_or(0);
                if let Ok([ack]) = serde_json::from_str::<[Ack<'_>; 1]>(&rest[start..]) {
                    let report = match (ack.ok, ack.message) {
                        (true, Some(m)) => Report::Acked { seq: m.seq },
                        _ => Report::Refused(
                            ack.error.map(|e| e.get().to_owned()).unwrap_or_default(),
                        ),
                    };
                    let _ = reports.send((id, report));
                }
            } else if let Some(rest) = p.strip_prefix("42[\"message:new\",")
                && let Ok(m) = serde_json::from_str::<NewMessage<'_>>(rest.trim_end_matches(']'))
            {
                let sent: u64 = m
                    .body
                    .strip_prefix("t=")
                    .and_then(|b| b.split(' ').next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let _ = reports.send((
                    id,
                    Report::Delivered {
                        conversation: m.conversation_id.to_owned(),
                        seq: m.seq,
                        latency_us: now_us().saturating_sub(sent),
                    },
                ));
            }
        }
        if let Some(r) = &reports {
            let _ = r.send((id, Report::Closed));
        }
    });
    Ok(Sender { out })
}

async fn next_text<S>(rx: &mut S) -> Option<String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
