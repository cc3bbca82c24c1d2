//! A lean Socket.IO v5 client on the wire of `chatsync-sio-client` (shared with the tests'
//! client): just what the load needs, parsing only the fields it measures.

use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What a socket reports to the scenario.
#[derive(Debug)]
pub(crate) enum Report {
    /// An ack of `message:send` arrived with the stored seq; `generation` is the one the
    /// message's body carries (see [`body`]).
    Acked { generation: u32, seq: i64 },
    /// A `message:new` arrived: its generation, conversation, seq, and latency.
    Delivered {
        generation: u32,
        conversation: String,
        seq: i64,
        latency_us: u64,
    },
    /// An ack said `ok: false`.
    Refused(String),
    /// The connection ended, and how: a close frame from the server (with its code and
    /// reason), an error, or the end of the stream.
    Closed(String),
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
    #[serde(borrow)]
    message: Option<AckMessage<'a>>,
    #[serde(borrow, default)]
    error: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct AckMessage<'a> {
    seq: i64,
    body: &'a str,
}

/// Microseconds since the epoch: what messages carry to measure latency across sockets.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A 64-byte body carrying its send time and the measurement it belongs to (its
/// generation), so that a straggler of one measurement is never counted in the next.
pub(crate) fn body(generation: u32) -> String {
    let mut b = format!("t={} g={generation} ", now_us());
    while b.len() < 64 {
        b.push('x');
    }
    b
}

/// The send time and generation [`body`] wrote, or `None` for a body it did not write.
pub(crate) fn parse_body(body: &str) -> Option<(u64, u32)> {
    let mut words = body.split(' ');
    let sent = words.next()?.strip_prefix("t=")?.parse().ok()?;
    let generation = words.next()?.strip_prefix("g=")?.parse().ok()?;
    Some((sent, generation))
}

/// The sending half of a socket.
#[derive(Clone)]
pub(crate) struct Sender {
    out: chatsync_sio_client::Outgoing,
}

impl Sender {
    /// Sends a message with an ack request. `n` must be unique for this socket's user across
    /// the whole run: it is the idempotency key.
    pub(crate) fn send(&self, conversation: &str, n: u64, generation: u32) {
        let packet = format!(
            "42{n}[\"message:send\",{{\"conversation_id\":\"{conversation}\",\"client_id\":\"m{n}\",\"body\":\"{}\"}}]",
            body(generation)
        );
        self.out.packet(packet);
    }

    pub(crate) fn close(&self) {
        self.out.close();
    }
}

/// Connects and authenticates; reports flow into `reports` tagged with `id`.
pub(crate) async fn connect(
    addr: SocketAddr,
    token: &str,
    id: usize,
    reports: Option<mpsc::UnboundedSender<(usize, Report)>>,
) -> anyhow::Result<Sender> {
    let chatsync_sio_client::Connected {
        out, mut incoming, ..
    } = chatsync_sio_client::connect(addr, &format!("{{\"token\":\"{token}\"}}"), &[])
        .await
        .context("socket.io connect")?;
    tokio::spawn(async move {
        let ended = loop {
            let p = match incoming.next().await {
                Ok(p) => p,
                Err(e) => break e,
            };
            let Some(reports) = &reports else { continue };
            if let Some(rest) = p.strip_prefix("43") {
                let start = rest.find('[').unwrap_or(0);
                if let Ok([ack]) = serde_json::from_str::<[Ack<'_>; 1]>(&rest[start..]) {
                    let report = match (ack.ok, ack.message) {
                        (true, Some(m)) => Report::Acked {
                            generation: parse_body(m.body).map_or(u32::MAX, |(_, g)| g),
                            seq: m.seq,
                        },
                        _ => Report::Refused(
                            ack.error.map(|e| e.get().to_owned()).unwrap_or_default(),
                        ),
                    };
                    let _ = reports.send((id, report));
                }
            } else if let Some(rest) = p.strip_prefix("42[\"message:new\",")
                && let Ok(m) = serde_json::from_str::<NewMessage<'_>>(rest.trim_end_matches(']'))
            {
                let (sent, generation) = parse_body(m.body).unwrap_or((0, u32::MAX));
                let _ = reports.send((
                    id,
                    Report::Delivered {
                        generation,
                        conversation: m.conversation_id.to_owned(),
                        seq: m.seq,
                        latency_us: now_us().saturating_sub(sent),
                    },
                ));
            }
        };
        if let Some(r) = &reports {
            let _ = r.send((id, Report::Closed(ended)));
        }
    });
    Ok(Sender { out })
}

#[cfg(test)]
mod tests {
    use super::{body, parse_body};

    #[test]
    fn a_body_is_64_bytes_and_gives_back_its_send_time_and_generation() {
        let b = body(7);
        assert_eq!(b.len(), 64);
        let (sent, generation) = parse_body(&b).unwrap();
        assert_eq!(generation, 7);
        assert!(
            sent > 1_600_000_000_000_000,
            "{sent} is microseconds since the epoch"
        );
        assert_eq!(parse_body("hello"), None);
        assert_eq!(parse_body("t=12 x"), None);
    }
}
