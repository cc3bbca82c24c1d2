//! The ws transport module is responsible for handling websocket connections
//! The only public function is [`new_req`] which is used to upgrade a http request to a websocket connection
//!
//! Other functions are used internally to handle the websocket connection through tasks and channels
//! and to handle upgrade from polling to ws

use std::{pin::Pin, sync::Arc, task::Poll, time::Duration};

use futures_util::{
    FutureExt as _, SinkExt, StreamExt, TryFutureExt as _, TryStreamExt,
    future::OptionFuture,
    stream::{SplitSink, SplitStream},
};
use http::{HeaderValue, Request, Response, StatusCode, request::Parts};
use smallvec::smallvec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message,
        handshake::derive_accept_key,
        protocol::{Role, WebSocketConfig},
    },
};
use tokio_util::future::FutureExt as _;

use engineioxide_core::{Packet, PacketBuf, ProtocolVersion, Sid, Str, TransportType};

use crate::{
    DisconnectReason, Socket, body::ResponseBody, config::EngineIoConfig, engine::EngineIo,
    errors::Error, handler::EngineIoHandler, socket::InternalRx, transport::make_open_packet,
};

/// Create a response for websocket upgrade
fn ws_response<B>(ws_key: &HeaderValue) -> Response<ResponseBody<B>> {
    let derived = derive_accept_key(ws_key.as_bytes());
    let sec = derived.parse::<HeaderValue>().unwrap();
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(
            http::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        )
        .header(http::header::SEC_WEBSOCKET_ACCEPT, sec)
        .body(ResponseBody::empty_response())
        .unwrap() // we are only using constants
}

/// Upgrade a websocket request to create a websocket connection.
///
/// If a sid is provided in the query it means that is is upgraded from an existing HTTP polling request.
/// In this case the http polling request is closed and the SID is kept for the websocket
pub fn new_req<R: Send + 'static, B, H: EngineIoHandler>(
    engine: Arc<EngineIo<H>>,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req: Request<R>,
) -> Result<Response<ResponseBody<B>>, Error> {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts.clone(), body);

    let ws_key = parts
        .headers
        .get("Sec-WebSocket-Key")
        .ok_or(Error::InvalidWebSocketKey)?
        .clone();

    // ChatSync's patch (see `vendor/README.md`): the task that lives as long as the socket
    // holds only what reading it needs. The set-up (the upgrade, the handshake, the request's
    // head) is a boxed future of its own, freed once the socket is open: an `async` block keeps
    // room for everything it captured, and everything its awaited futures captured, for its
    // whole life (3.9 KB per socket with the set-up inline).
    let setup = Box::pin(async move {
        let conn = match hyper::upgrade::on(req).await {
            Ok(conn) => hyper_util::rt::TokioIo::new(conn),
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("ws upgrade error: {}", _e);
                return None;
            }
        };
        match open::<H, _>(engine.clone(), conn, protocol, sid, parts).await {
            Ok(opened) => Some(opened),
            Err(Error::MultipleWebsocketRequests) => None,
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(?sid, "ws closed with error: {_e}");
                if let Some(sid) = sid {
                    engine.close_session(sid, DisconnectReason::TransportError);
                }
                None
            }
        }
    });
    tokio::spawn(setup.then(|opened| {
        OptionFuture::from(opened.map(|(engine, socket, rx)| serve(engine, socket, rx)))
    }));

    Ok(ws_response(&ws_key))
}

/// Handle a websocket connection upgrade
///
/// Sends an open packet if it is not an upgrade from a polling request
///
/// Read packets from the websocket and handle them, it will block until the connection is closed
pub fn on_init<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> impl Future<Output = Result<(), Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // ChatSync's patch: the set-up boxed, as in `new_req`.
    Box::pin(open::<H, S>(engine, conn, protocol, sid, req_data))
        .and_then(|(engine, socket, rx)| serve(engine, socket, rx).map(Ok))
}

/// Reads the socket's packets and hands them to the handler until it closes, then closes the
/// session.
async fn serve<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    rx: SplitStream<WebSocketStream<S>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // pipe between internal socket channel and websocket
    match forward_to_handler(&engine, rx, &socket)
        .with_cancellation_token(&socket.cancellation_token)
        .await
    {
        Some(Err(ref e)) => {
            let reason =
                Option::<DisconnectReason>::from(e).unwrap_or(DisconnectReason::TransportError);

            #[cfg(feature = "tracing")]
            tracing::debug!("error when handling packet: {:?}", e);
            engine.close_session(socket.id, reason);
        }
        Some(Ok(())) => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "ws transport was closed");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
        }
        None => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "socket is closing");
        }
    }
}

/// An open socket, ready for [`serve`]: its engine, itself, and the stream's reading half.
type Opened<H, S> = (
    Arc<EngineIo<H>>,
    Arc<Socket<<H as EngineIoHandler>::Data>>,
    SplitStream<WebSocketStream<S>>,
);

/// Creates the session (or finds the one being upgraded), completes the handshake and starts
/// the task that writes to the socket.
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", name = "init_websocket", skip(engine, conn, req_data))
)]
async fn open<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<Opened<H, S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(engine.config.ws_read_buffer_size)
        .max_message_size(Some(engine.config.ws_max_message_size))
        .max_frame_size(Some(engine.config.ws_max_frame_size));

    let ws_init = move || WebSocketStream::from_raw_socket(conn, Role::Server, Some(ws_config));
    let (socket, ws, heartbeat) = if let Some(sid) = sid {
        match engine.get_socket(sid) {
            None => return Err(Error::UnknownSessionID(sid)),
            Some(socket) if socket.is_ws() => return Err(Error::MultipleWebsocketRequests),
            Some(socket) => {
                let mut ws = ws_init().await;

                let upgrade_fut = upgrade_handshake::<H, S>(&socket, &mut ws);
                match tokio::time::timeout(engine.config.upgrade_timeout, upgrade_fut)
                    .with_cancellation_token(&socket.cancellation_token)
                    .await
                {
                    Some(Ok(res)) => res?,
                    Some(Err(_)) => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "ws upgrade timed out, closing session");
                        engine.close_session(socket.id, DisconnectReason::TransportError);
                        return Err(Error::Upgrade);
                    }
                    None => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "socket is being closed");
                        return Err(Error::Upgrade);
                    }
                }
                (socket, ws, None)
            }
        }
    } else {
        let socket = engine.create_session(protocol, TransportType::Websocket, req_data, false);

        #[cfg(feature = "tracing")]
        tracing::debug!("new websocket connection");

        let mut ws = ws_init().await;
        init_handshake(socket.id, &mut ws, &engine.config).await?;
        let (interval, timeout) = (engine.config.ping_interval, engine.config.ping_timeout);
        // ChatSync's patch (see `vendor/README.md`): the writer runs v4's heartbeat (the server
        // pings) instead of a task of its own. A socket opened by polling keeps the heartbeat
        // task it started with; v3's (the client pings) keeps its task too.
        let heartbeat = if protocol == ProtocolVersion::V4 {
            Some(Heartbeat::new(interval, timeout))
        } else {
            socket.clone().spawn_heartbeat(interval, timeout);
            None
        };
        (socket, ws, heartbeat)
    };
    let (tx, rx) = ws.split();

    // Pipe between websocket and internal socket channel.
    let stall = engine.config.ping_interval + engine.config.ping_timeout;
    tokio::spawn(forward_to_socket::<H, S>(
        socket.clone(),
        tx,
        heartbeat,
        stall,
    ));
    Ok((engine, socket, rx))
}

/// Forwards all packets received from a websocket to a EngineIo [`Socket`]
async fn forward_to_handler<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    mut rx: SplitStream<WebSocketStream<S>>,
    socket: &Arc<Socket<H::Data>>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    while let Some(msg) = rx.try_next().await? {
        match msg {
            Message::Text(msg) => match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
                Packet::Close => {
                    #[cfg(feature = "tracing")]
                    tracing::debug!("[sid={}] closing session", socket.id);
                    engine.close_session(socket.id, DisconnectReason::TransportClose);
                    break;
                }
                Packet::Pong | Packet::Ping => {
                    socket.heartbeat_received();
                    Ok::<(), Error>(())
                }
                Packet::Message(msg) => {
                    engine.handler.on_message(msg, socket.clone());
                    Ok(())
                }
                p => return Err(Error::BadPacket(p)),
            },
            Message::Binary(mut data) => {
                if socket.protocol == ProtocolVersion::V3 && !data.is_empty() {
                    // The first byte is the message type, which we don't need.
                    data = data.split_off(1);
                }
                engine.handler.on_binary(data, socket.clone());
                Ok(())
            }
            Message::Close(_) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("websocket closed, closing session");
                engine.close_session(socket.id, DisconnectReason::TransportClose);
                break;
            }
            _ => {
                #[cfg(feature = "tracing")]
                tracing::debug!(sid = ?socket.id, "unexpected ws message");
                Ok(())
            }
        }?
    }
    Ok(())
}

/// Forwards all packets waiting to be sent to the websocket
///
/// The websocket stream is flushed only when the internal channel is drained
///
/// ChatSync's patch (see `vendor/README.md`): a write that stays blocked for `stall` (the
/// heartbeat's interval and timeout: as long as a client that answers no ping is given) closes
/// the socket, and the session's close ends a blocked write ([`write_within`]).
async fn forward_to_socket<H: EngineIoHandler, S>(
    socket: Arc<Socket<H::Data>>,
    mut tx: SplitSink<WebSocketStream<S>, Message>,
    mut heartbeat: Option<Heartbeat>,
    stall: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A polling request that was in progress during the upgrade may still hold the lock.
    let lock = socket.internal_rx.lock();
    let Some(mut internal_rx) = lock
        .with_cancellation_token(&socket.cancellation_token)
        .await
    else {
        #[cfg(feature = "tracing")]
        tracing::debug!(sid = %socket.id, "session closed before starting the ws writer");
        return;
    };
    let InternalRx { buffered_rx, .. } = &mut *internal_rx;
    // The heartbeat's timer, when this task runs the heartbeat.
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);

    // Forward buffered packets until the channel is closed or the session is cancelled.
    //
    // ChatSync's patch (see `vendor/README.md`): the packets are fed by one `feed_packets`
    // future wherever they come from. With the feeding inlined (a macro) at each of the three
    // places, every iterator and packet of every place was kept in this task's state side by
    // side: 1.8 KB, for as long as the socket lives.
    loop {
        let (packets, buffered) = tokio::select! {
            biased;
            // First: with packets always waiting, a branch after them would never run, and a
            // busy socket would go without pings (its client closes it then). It is ready only
            // when a ping is due or a pong is late.
            beat = Heartbeat::due(heartbeat.as_mut(), timer.as_mut(), &socket) => match beat {
                Beat::Ping => (smallvec![Packet::Ping], false),
                Beat::Missed => {
                    #[cfg(feature = "tracing")]
                    tracing::debug!(sid = ?socket.id, "heartbeat timeout");
                    socket.close(DisconnectReason::HeartbeatTimeout);
                    break;
                }
            },
            items = buffered_rx.recv() => {
                match items {
                    Some(packets) => (*packets, true),
                    None => break
                }
            }
            _ = socket.cancellation_token.cancelled() => break,
            () = socket.volatile.ready.notified() => {
                match socket.volatile.take() {
                    Some(packets) => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(sid = ?socket.id, "ws volatile flush: {} packets", packets.len());
                        (packets, false)
                    }
                    None => continue,
                }
            },
        };
        // Boxed: inline, the feeding's state (an iterator, a packet, the sink's future, the
        // stall's timer) would sit in this task's state for as long as the socket lives.
        let mut wrote = Box::pin(write_within(
            feed_packets(&mut tx, &socket, packets),
            &socket,
            stall,
        ))
        .await;
        if buffered {
            // Until the channel is empty, or the heartbeat has something due (ChatSync's
            // patch: on a socket whose channel never empties, pings would wait for ever).
            while matches!(wrote, Wrote::Done) && (heartbeat.is_none() || !timer.is_elapsed()) {
                let Ok(packets) = buffered_rx.try_recv() else {
                    break;
                };
                let feed = feed_packets(&mut tx, &socket, *packets);
                wrote = Box::pin(write_within(feed, &socket, stall)).await;
            }
        }
        if matches!(wrote, Wrote::Done) {
            #[cfg(feature = "tracing")]
            tracing::trace!(sid = %socket.id, "ws flush");
            let flush = async {
                tx.flush().await.ok();
            };
            wrote = Box::pin(write_within(flush, &socket, stall)).await;
        }
        match wrote {
            Wrote::Done => {}
            // A write was waiting when the session closed: the rest would wait as well.
            Wrote::Closed => return,
            Wrote::Stalled => {
                #[cfg(feature = "tracing")]
                tracing::debug!(sid = ?socket.id, "ws write stalled, closing session");
                socket.close(DisconnectReason::HeartbeatTimeout);
                // Nothing more can be written: no closing flush.
                return;
            }
        }
    }

    #[cfg(feature = "tracing")]
    tracing::trace!(sid = %socket.id, "ws closing flush");

    // ChatSync's patch: bounded, as a client that stopped reading would hold it for ever, and
    // what was queued before the close (a Socket.IO disconnect, say) still goes out. Boxed,
    // with its timer, for the task's size.
    let closing = async {
        while let Ok(packets) = buffered_rx.try_recv() {
            feed_packets(&mut tx, &socket, *packets).await;
        }
        tx.flush().await.ok();
        tx.close().await.ok();
    };
    Box::pin(tokio::time::timeout(stall, closing)).await.ok();
}

/// How [`write_within`] ended.
enum Wrote {
    Done,
    /// The session was closed while the write waited.
    Closed,
    /// The write waited for the whole stall limit.
    Stalled,
}

/// Runs `write`, unless it waits for `stall` or the session is closed while it waits.
///
/// ChatSync's patch (see `vendor/README.md`): a client that stops reading fills its TCP window,
/// and a write to it then waits until TCP gives up, which it never does while the client's host
/// still acknowledges; meanwhile the writer, which runs the heartbeat, noticed neither missed
/// pongs nor the session's close, and the socket lived on.
async fn write_within<D, F>(write: F, socket: &Socket<D>, stall: Duration) -> Wrote
where
    D: Default + Send + Sync + 'static,
    F: Future<Output = ()>,
{
    let mut write = std::pin::pin!(write);
    // Nearly every write completes at once: only one that waits sets a timer.
    if std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx)))
        .await
        .is_ready()
    {
        return Wrote::Done;
    }
    tokio::select! {
        biased;
        () = &mut write => Wrote::Done,
        () = socket.cancellation_token.cancelled() => Wrote::Closed,
        () = tokio::time::sleep(stall) => Wrote::Stalled,
    }
}
/// Engine.IO v4's heartbeat, run by the writer of a socket opened over WebSocket: a ping at
/// once and then every `interval`, and the socket closed when a pong does not come within
/// `timeout` of its ping (as `Socket::spawn_heartbeat` does).
///
/// ChatSync's patch (see `vendor/README.md`): a task of its own per socket, with its timer,
/// took about 1 KB for as long as the socket lived.
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// A ping is out and its pong not yet in; the timer is set to its deadline.
    awaiting_pong: bool,
}

/// What the heartbeat asks of the writer.
enum Beat {
    /// Send a ping.
    Ping,
    /// The last ping's pong did not come in time: close the socket.
    Missed,
}

impl Heartbeat {
    fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            next_ping: Instant::now(),
            awaiting_pong: false,
        }
    }

    /// Resolves when the writer has something to do for the heartbeat; never without one.
    /// Dropping it before then loses nothing: its state changes only as it resolves.
    async fn due<D>(
        heartbeat: Option<&mut Self>,
        mut timer: Pin<&mut Sleep>,
        socket: &Socket<D>,
    ) -> Beat
    where
        D: Default + Send + Sync + 'static,
    {
        let Some(hb) = heartbeat else {
            return std::future::pending().await;
        };
        loop {
            if hb.awaiting_pong {
                tokio::select! {
                    biased;
                    () = socket.heartbeat_notified() => {
                        hb.awaiting_pong = false;
                        timer.as_mut().reset(hb.next_ping);
                    }
                    () = timer.as_mut() => return Beat::Missed,
                }
            } else {
                if timer.deadline() != hb.next_ping {
                    timer.as_mut().reset(hb.next_ping);
                }
                timer.as_mut().await;
                let now = Instant::now();
                hb.awaiting_pong = true;
                hb.next_ping = (hb.next_ping + hb.interval).max(now);
                timer.as_mut().reset(now + hb.timeout);
                return Beat::Ping;
            }
        }
    }
}

/// Maps each packet to a websocket message and feeds it to `tx`, unflushed.
async fn feed_packets<D, S>(
    tx: &mut SplitSink<WebSocketStream<S>, Message>,
    socket: &Socket<D>,
    packets: PacketBuf,
) where
    D: Default + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    for item in packets {
        let res = match item {
            Packet::Binary(bin) | Packet::BinaryV3(bin) => {
                if socket.protocol == ProtocolVersion::V3 {
                    // v3 protocol requires packet type as the first byte.
                    // This requires a new buffer. This is OK as it is only for the V3 protocol.
                    let mut buff = Vec::with_capacity(bin.len() + 1);
                    buff.push(0x04);
                    buff.extend(bin);
                    tx.feed(Message::Binary(buff.into())).await
                } else {
                    tx.feed(Message::Binary(bin)).await
                }
            }
            // A Noop Packet maybe sent by the server to upgrade from a polling connection
            // In the case that the packet was not poll in time it will remain in the buffer and therefore
            // it should be discarded here
            Packet::Noop => Ok(()),
            item => {
                let packet: String = item.try_into().unwrap();
                tx.feed(Message::Text(packet.into())).await
            }
        };
        if let Err(_e) = res {
            #[cfg(feature = "tracing")]
            tracing::debug!("[sid={}] error sending packet: {}", socket.id, _e);
        }
    }
}

/// Send a Engine.IO [`OpenPacket`] to initiate a websocket connection
async fn init_handshake<S>(
    sid: Sid,
    ws: &mut WebSocketStream<S>,
    config: &EngineIoConfig,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let packet = Packet::Open(make_open_packet(TransportType::Websocket, sid, config));
    let packet: String = packet.into();
    ws.send(Message::Text(packet.into())).await?;
    Ok(())
}

/// Upgrade a session from a polling request to a websocket request.
///
/// Before upgrading the session the server should send a NOOP packet to any pending polling request.
///
/// ## Handshake :
/// ```text
/// CLIENT                                                 SERVER
///│                                                      │
///│   GET /engine.io/?EIO=4&transport=websocket&sid=...  │
///│ ───────────────────────────────────────────────────► │
///│  ◄─────────────────────────────────────────────────┘ │
///│            HTTP 101 (WebSocket handshake)            │
///│                                                      │
///│            -----  WebSocket frames -----             │
///│  ─────────────────────────────────────────────────►  │
///│                         2probe                       │ (ping packet)
///│  ◄─────────────────────────────────────────────────  │
///│                         3probe                       │ (pong packet)
///│  ─────────────────────────────────────────────────►  │
///│                         5                            │ (upgrade packet)
///│                                                      │
///│            -----  WebSocket frames -----             │
/// ```
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", skip(socket, ws))
)]
async fn upgrade_handshake<H: EngineIoHandler, S>(
    socket: &Arc<Socket<H::Data>>,
    ws: &mut WebSocketStream<S>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    #[cfg(feature = "tracing")]
    tracing::debug!("starting websocket connection upgrade");

    // The socket is upgrading, from now on all polling
    // request will return a `Packet::Noop`
    socket.start_upgrade();

    // We send a last Noop request to close a potential waiting polling request.
    socket
        .internal_tx
        .send(Box::new(smallvec![Packet::Noop]))
        .await
        .map_err(|_| Error::Upgrade)?;

    // wait for any current polling connection to finish by waiting for the socket to be unlocked
    // All other polling connection will be immediately closed with a NOOP packet.
    let _lock = socket.internal_rx.lock().await;

    // Fetch the next packet from the ws stream, it should be a PingUpgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        _ => Err(Error::Upgrade)?,
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::PingUpgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("received first ping upgrade");
            // Respond with a PongUpgrade packet
            ws.send(Message::Text(String::from(Packet::PongUpgrade).into()))
                .await?;
        }
        p => Err(Error::BadPacket(p))?,
    };

    // Fetch the next packet from the ws stream, it should be an Upgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        Some(Ok(Message::Close(_))) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws stream closed before upgrade");
            Err(Error::Upgrade)?
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!("unexpected ws message before upgrade");
            Err(Error::Upgrade)?
        }
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::Upgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws upgraded successfully")
        }
        p => Err(Error::BadPacket(p))?,
    };

    socket.upgrade_to_websocket();
    Ok(())
}

fn ws_bytes_to_str(bytes: tungstenite::Utf8Bytes) -> Str {
    // SAFETY: the bytes are guaranteed to be valid UTF-8 by the tungstenite parser
    unsafe { Str::from_bytes_unchecked(bytes.into()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use http::Request;
    use tokio::io::DuplexStream;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);
    /// A stall limit the tests that are not about it never reach.
    const STALL: Duration = Duration::from_secs(600);

    #[derive(Debug)]
    struct StubHandler;
    impl EngineIoHandler for StubHandler {
        type Data = ();
        fn on_connect(self: Arc<Self>, _: Arc<Socket<()>>) {}
        fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
        fn on_message(self: &Arc<Self>, _: Str, _: Arc<Socket<()>>) {}
        fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
    }

    fn socket() -> Arc<Socket<()>> {
        socket_closed_into(Arc::default())
    }

    /// A socket that records why it was closed in `closed`.
    fn socket_closed_into(
        closed: Arc<std::sync::Mutex<Option<DisconnectReason>>>,
    ) -> Arc<Socket<()>> {
        Arc::new(Socket::new(
            ProtocolVersion::V4,
            TransportType::Websocket,
            &EngineIoConfig::default(),
            Request::<()>::default().into_parts().0,
            Box::new(move |_, reason| *closed.lock().unwrap() = Some(reason)),
            false,
        ))
    }

    async fn next_text(client: &mut WebSocketStream<DuplexStream>) -> Message {
        tokio::time::timeout(TIMEOUT, client.next())
            .await
            .expect("a message within the timeout")
            .expect("the stream is open")
            .expect("a message")
    }

    /// ChatSync's patch: the writer runs the heartbeat of a socket opened over WebSocket.
    #[tokio::test]
    async fn writer_pings_and_closes_the_socket_when_no_pong_comes() {
        let closed = Arc::default();
        let socket = socket_closed_into(Arc::clone(&closed));
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();
        let heartbeat = Heartbeat::new(Duration::from_millis(50), Duration::from_millis(50));
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            Some(heartbeat),
            STALL,
        ));

        assert_eq!(next_text(&mut client).await, Message::text("2"));
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .expect("the writer should stop after the missed pong")
            .unwrap();
        assert_eq!(
            *closed.lock().unwrap(),
            Some(DisconnectReason::HeartbeatTimeout)
        );
    }

    /// Packets that never stop coming do not hold the pings back: while a ping is out they go
    /// on until its pong's deadline, so pings come at most max(interval, timeout) apart.
    #[tokio::test]
    async fn writer_pings_a_socket_whose_channel_never_empties() {
        let closed = Arc::default();
        let socket = socket_closed_into(Arc::clone(&closed));
        // Every frame written at once, so the writer waits for the reader between packets,
        // and packets keep coming meanwhile.
        let (server, client) = tokio::io::duplex(64);
        let config = WebSocketConfig::default().write_buffer_size(0);
        let server = WebSocketStream::from_raw_socket(server, Role::Server, Some(config)).await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (tx, _rx) = server.split();
        let heartbeat = Heartbeat::new(Duration::from_millis(50), Duration::from_secs(1));
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            Some(heartbeat),
            STALL,
        ));
        let producer = tokio::spawn({
            let socket = socket.clone();
            async move {
                loop {
                    while socket.emit(Str::from("x")).is_ok() {}
                    tokio::task::yield_now().await;
                }
            }
        });

        let counted = tokio::time::timeout(Duration::from_secs(30), async {
            let (mut pings, mut messages) = (0, 0);
            while pings < 3 {
                match next_text(&mut client).await {
                    m if m == Message::text("2") => {
                        pings += 1;
                        socket.heartbeat_received();
                    }
                    _ => messages += 1,
                }
            }
            messages
        })
        .await;
        producer.abort();
        let messages = counted.expect("three pings among the packets");
        assert!(messages > 100, "packets kept coming: {messages}");
        assert!(!writer.is_finished());
        assert_eq!(*closed.lock().unwrap(), None);
        socket.cancellation_token.cancel();
    }

    #[tokio::test]
    async fn writer_keeps_pinging_while_pongs_come() {
        let closed = Arc::default();
        let socket = socket_closed_into(Arc::clone(&closed));
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();
        // A pong is due within 5 s of its ping: far more than answering takes here.
        let heartbeat = Heartbeat::new(Duration::from_millis(50), Duration::from_secs(5));
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            Some(heartbeat),
            STALL,
        ));

        for _ in 0..3 {
            assert_eq!(next_text(&mut client).await, Message::text("2"));
            socket.heartbeat_received();
        }
        // Packets still go out between pings.
        socket.emit(Str::from("hello")).unwrap();
        loop {
            match next_text(&mut client).await {
                m if m == Message::text("2") => socket.heartbeat_received(),
                m => {
                    assert_eq!(m, Message::text("4hello"));
                    break;
                }
            }
        }
        assert!(!writer.is_finished());
        assert_eq!(*closed.lock().unwrap(), None);
        socket.cancellation_token.cancel();
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .unwrap()
            .unwrap();
    }

    /// A server stream whose every frame is written at once into a 64-byte pipe, and the
    /// client's end, which a test may leave unread: writes then block.
    async fn narrow_ws_pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(64);
        let config = WebSocketConfig::default().write_buffer_size(0);
        (
            WebSocketStream::from_raw_socket(server, Role::Server, Some(config)).await,
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
        )
    }

    /// ChatSync's patch: a client that stops reading no longer holds its writer, and so its
    /// heartbeat, for ever.
    #[tokio::test]
    async fn writer_closes_a_socket_whose_write_stays_blocked() {
        let closed = Arc::default();
        let socket = socket_closed_into(Arc::clone(&closed));
        let (server, _unread) = narrow_ws_pair().await;
        let (tx, _rx) = server.split();
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            None,
            Duration::from_millis(100),
        ));
        socket.emit(Str::from("x".repeat(1000))).unwrap();
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .expect("the writer should give up on the blocked write")
            .unwrap();
        assert_eq!(
            *closed.lock().unwrap(),
            Some(DisconnectReason::HeartbeatTimeout)
        );
    }

    #[tokio::test]
    async fn a_blocked_write_ends_with_the_session() {
        let closed = Arc::default();
        let socket = socket_closed_into(Arc::clone(&closed));
        let (server, _unread) = narrow_ws_pair().await;
        let (tx, _rx) = server.split();
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            None,
            STALL,
        ));
        socket.emit(Str::from("x".repeat(1000))).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!writer.is_finished(), "the write should be blocked");

        socket.cancellation_token.cancel();
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .expect("the writer should stop with the session")
            .unwrap();
        assert_eq!(*closed.lock().unwrap(), None);
    }

    async fn ws_pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(1024);
        (
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
        )
    }

    /// A polling request can still hold the lock at the end of an upgrade.
    #[tokio::test]
    async fn writer_waits_for_the_lock_of_a_polling_request() {
        let socket = socket();
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let polling = socket.internal_rx.lock().await;
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            None,
            STALL,
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "the writer should wait for the lock");

        drop(polling);
        socket.emit(Str::from("hello")).unwrap();
        let msg = tokio::time::timeout(TIMEOUT, client.next())
            .await
            .expect("the writer should send the packet")
            .unwrap()
            .unwrap();
        assert_eq!(msg, Message::text("4hello"));
    }

    #[tokio::test]
    async fn writer_waiting_for_the_lock_stops_with_the_session() {
        let socket = socket();
        let (server, _client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let _polling = socket.internal_rx.lock().await;
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(
            socket.clone(),
            tx,
            None,
            STALL,
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;

        socket.cancellation_token.cancel();
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .expect("the writer should stop")
            .unwrap();
    }
}
