//! The Socket.IO v5 wire over WebSocket, as ChatSync's own clients need it: open the Engine.IO
//! transport, connect to the default namespace with a handshake payload, answer the server's
//! pings, and hand over raw packets both ways. What a packet means is the caller's business:
//! the test client (`chatsync-testkit`) parses every packet into JSON values, the load
//! generator (`chatsync-bench`) only the few fields it measures, borrowing from the text.
//! (The official JavaScript and Python clients are exercised by `tests/clients/`.)

use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How much a socket reads at a time (longer frames are still read whole).
const READ_BUFFER_BYTES: usize = 4096;

/// A connected socket's sending half: packets go out in order from a task of their own.
#[derive(Clone)]
pub struct Outgoing {
    out: mpsc::UnboundedSender<Message>,
}

impl Outgoing {
    /// Sends a raw Socket.IO packet (`42["event",{...}]`, `421["event",{...}]` with an ack id,
    /// or anything malformed a test wants the server to see).
    pub fn packet(&self, text: String) {
        let _ = self.out.send(Message::text(text));
    }

    /// Leaves the namespace and closes the WebSocket.
    pub fn disconnect(&self) {
        let _ = self.out.send(Message::text("41"));
        self.close();
    }

    /// Closes the WebSocket (without a namespace disconnect first).
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

/// A connected socket's receiving half: Socket.IO packets from the server, pings answered.
pub struct Incoming<S> {
    rx: S,
    pong: Outgoing,
}

/// A socket just connected.
pub struct Connected<S> {
    /// The server's id for the socket (from the namespace connect answer).
    pub sid: String,
    /// Where packets go out.
    pub out: Outgoing,
    /// Where packets come in.
    pub incoming: Incoming<S>,
}

/// The stream a WebSocket reads from.
pub type WsStream = futures::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// Why a connect failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server refused the namespace connect (`44`): its message.
    Refused(String),
    /// The transport failed or answered unexpectedly.
    Transport(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(m) => write!(f, "refused: {m}"),
            Self::Transport(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Opens a WebSocket to `addr`'s `/socket.io/` (sending `headers` with the upgrade) and
/// connects to the default namespace with `auth` (JSON text) as the handshake payload.
pub async fn connect(
    addr: SocketAddr,
    auth: &str,
    headers: &[(&'static str, &str)],
) -> Result<Connected<WsStream>, ConnectError> {
    let transport = |e: &dyn std::fmt::Display| ConnectError::Transport(e.to_string());
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let mut req = url.into_client_request().map_err(|e| transport(&e))?;
    for (name, value) in headers {
        let value = value
            .parse()
            .map_err(|_| ConnectError::Transport(format!("bad value for header {name}")))?;
        req.headers_mut().insert(*name, value);
    }
    // tungstenite's default read buffer is 128 KiB, zero-filled on every read: a load
    // generator holding thousands of sockets spent its core on `memset` instead of talking.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false)
        .await
        .map_err(|e| transport(&e))?;
    let (mut tx, mut rx) = ws.split();
    let open = next_text(&mut rx)
        .await
        .map_err(|e| ConnectError::Transport(format!("no open packet: {e}")))?;
    if !open.starts_with('0') {
        return Err(ConnectError::Transport(format!(
            "unexpected open packet {open}"
        )));
    }
    tx.send(Message::text(format!("40{auth}")))
        .await
        .map_err(|e| transport(&e))?;
    let sid = loop {
        let p = next_text(&mut rx)
            .await
            .map_err(|e| ConnectError::Transport(format!("closed during connect: {e}")))?;
        if let Some(body) = p.strip_prefix("40") {
            break field(body, "sid").unwrap_or_default();
        } else if let Some(body) = p.strip_prefix("44") {
            return Err(ConnectError::Refused(
                field(body, "message").unwrap_or_else(|| body.to_owned()),
            ));
        } else if p == "2" {
            // socketioxide pings as soon as the transport opens, often before it answers the
            // namespace connect: a ping left unanswered here closes the socket 20 s later.
            tx.send(Message::text("3"))
                .await
                .map_err(|e| transport(&e))?;
        }
    };
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if tx.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = tx.close().await;
    });
    let out = Outgoing { out };
    Ok(Connected {
        sid,
        incoming: Incoming {
            rx,
            pong: out.clone(),
        },
        out,
    })
}

impl<S> Incoming<S>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    /// The next Socket.IO packet from the server (pings are answered here and not returned),
    /// or how the connection ended: a close frame with its code and reason, an error, the end
    /// of the stream, or the server leaving the namespace (`41`).
    pub async fn next(&mut self) -> Result<String, String> {
        loop {
            let p = next_text(&mut self.rx).await?;
            match p.as_str() {
                "2" => self.pong.packet("3".into()),
                "1" | "41" => return Err("disconnected by the server".into()),
                _ => return Ok(p),
            }
        }
    }
}

/// A string field of the JSON object a connect answer carries.
fn field(json: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get(name)?.as_str().map(str::to_owned)
}

/// The next text frame, or how the connection ended.
async fn next_text<S>(rx: &mut S) -> Result<String, String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(Some(f)))) => {
                return Err(format!("closed by the server: {} {}", f.code, f.reason));
            }
            Some(Ok(Message::Close(None))) => return Err("closed by the server".into()),
            Some(Err(e)) => return Err(format!("connection error: {e}")),
            None => return Err("connection ended".into()),
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn connect_answers_give_their_fields() {
        assert_eq!(field(r#"{"sid":"abc-1"}"#, "sid").as_deref(), Some("abc-1"));
        assert_eq!(
            field(r#"{"message":"unauthorized: \"x\""}"#, "message").as_deref(),
            Some(r#"unauthorized: "x""#)
        );
        assert_eq!(field(r#"{"other":1}"#, "sid"), None);
    }
}
