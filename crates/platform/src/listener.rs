//! The HTTP listener every service serves on, with the limits a public port needs: a bound on
//! open connections, a deadline for each request head (slowloris), and an idle timeout that
//! closes a connection on which nothing has moved, an upgraded WebSocket included.
//!
//! `axum::serve` has none of these knobs, so this is its accept loop with them added: hyper's
//! HTTP/1 connection (with upgrades, for WebSocket) per accepted socket, `ConnectInfo` in every
//! request as axum would put it, and a graceful shutdown that lets in-flight requests finish.

use axum::Router;
use axum::extract::ConnectInfo;
use chatsync_core::config::HttpConfig;
use futures::task::AtomicWaker;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The limits of one listener (`[http]` settings).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time allowed for a complete request head, counted from when the server waits for it.
    pub header_read_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// From the `http` settings.
    pub fn from_config(cfg: &HttpConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_secs.max(1)),
            max_connections: cfg.max_connections.max(1),
        }
    }
}

/// Connections the kernel keeps ready for `accept` (the listen backlog; the kernel caps it at
/// `net.core.somaxconn`). The 128 that the standard library and tokio ask for overflowed in a
/// burst of WebSocket connects while the one runtime thread was busy: the kernel dropped the
/// SYNs, and each client waited a second for its retry (issue 10, connect rate).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (`host:port`; a name is resolved, its first address that binds is used) for
/// [`serve`], with a [`LISTEN_BACKLOG`] deep accept queue.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut failed = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(e) => failed = Some(e),
        }
    }
    Err(failed.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} names no address"),
        )
    }))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting and lets
/// in-flight requests finish (each is bounded by the request timeout layer) before returning.
/// Upgraded connections (WebSocket) are not waited for: their owner closes them.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let upgraded = Arc::new(Upgraded::default());
    tokio::spawn(
        upgraded
            .clone()
            .watch(limits.idle_timeout, shutdown.clone()),
    );
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: not
                // the listener's fault. Pause briefly so a full descriptor table is not spun on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            tracing::debug!(%peer, limit = limits.max_connections, "connection refused: at the limit");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot::new(slot);
        let router = router.clone();
        let shutdown = shutdown.clone();
        let upgraded = upgraded.clone();
        connections.spawn(async move {
            let activity = Arc::new(Activity::new());
            let io = TokioIo::new(Watched {
                inner: stream,
                activity: activity.clone(),
            });
            // Boxed: the HTTP connection's state (over a kilobyte) is not kept in this task.
            let open = Box::pin(serve_http(io, peer, router, &limits, &activity, &shutdown)).await;
            // Upgraded, its socket lives on with the WebSocket handler, which holds the other
            // reference to its activity. One task watches every such socket for idleness, and
            // keeps its slot, so this one ends here instead of living as long as the socket
            // (issue 10: memory per idle socket).
            if open && Arc::strong_count(&activity) > 1 && !shutdown.is_cancelled() {
                upgraded.add(activity, slot);
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves HTTP on a connection until it ends, is upgraded, or goes idle (then false: the
/// connection is closed).
async fn serve_http(
    io: TokioIo<Watched>,
    peer: SocketAddr,
    router: Router,
    limits: &ConnectionLimits,
    activity: &Arc<Activity>,
    shutdown: &CancellationToken,
) -> bool {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let idle = activity.clone().idle(limits.idle_timeout);
    tokio::pin!(idle);
    let mut draining = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = &mut idle => {
                tracing::debug!(%peer, "closing an idle connection");
                return false;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    true
}

/// When bytes last moved on a connection, and a way to close it from outside.
struct Activity {
    started: Instant,
    /// Milliseconds after `started` at which a byte last moved.
    last_ms: AtomicU64,
    closed: AtomicBool,
    reader: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection goes idle unless a byte moves before then.
    fn deadline(&self, timeout: Duration) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout
    }

    /// Makes the connection read as ended (so whoever reads it lets go of it) and fail writes.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
    }

    /// Resolves, after closing the connection, when nothing has moved for `timeout`.
    async fn idle(self: Arc<Self>, timeout: Duration) {
        loop {
            let deadline = self.deadline(timeout);
            if Instant::now() >= deadline {
                self.close();
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A connection's place under `max_connections`, given back when dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("http_connections_open").increment(1.0);
        Self { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("http_connections_open").decrement(1.0);
    }
}

/// A listener's upgraded connections, with their slots, watched for idleness by one task for
/// all of them (a task per socket, with its timer, cost about a kilobyte for as long as the
/// socket lived).
#[derive(Default)]
struct Upgraded {
    open: Mutex<Vec<(Arc<Activity>, Slot)>>,
}

impl Upgraded {
    fn add(&self, activity: Arc<Activity>, slot: Slot) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((activity, slot));
    }

    /// Every tenth of `timeout` (at least 100 ms, at most 5 s), closes the connections on
    /// which nothing has moved for `timeout` and forgets those that have ended, giving their
    /// slots back, until shutdown (then the WebSocket handler closes its sockets itself).
    async fn watch(self: Arc<Self>, timeout: Duration, shutdown: CancellationToken) {
        let period = (timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            open.retain(|(a, _)| {
                if Arc::strong_count(a) == 1 {
                    return false; // the socket is gone
                }
                if now >= a.deadline(timeout) {
                    tracing::debug!("closing an idle WebSocket");
                    a.close();
                    return false;
                }
                true
            });
            if open.capacity() > 2 * open.len() + 64 {
                open.shrink_to_fit(); // after a crowd has left
            }
        }
    }
}

/// A socket that records when bytes move, and reads as ended once its [`Activity`] says so.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.closed.load(Ordering::Acquire) {
            return Poll::Ready(Ok(())); // end of stream: whoever reads lets go of the socket
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.activity.touch(),
            Poll::Pending => this.activity.reader.register(cx.waker()),
            _ => {}
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.activity.closed.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.activity.closed.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of connects larger than the old 128-deep queue completes while nothing accepts
    /// (the runtime thread busy): none is dropped to wait a second for its SYN's retry.
    #[tokio::test]
    async fn a_burst_of_connects_waits_in_the_accept_queue() {
        let listener = bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let connects = (0..600)
            .map(|_| tokio::time::timeout(Duration::from_millis(900), TcpStream::connect(addr)));
        let done = futures::future::join_all(connects).await;
        let completed = done.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(completed, 600, "connects completed without an accept");
        drop(listener);
    }

    /// The one watcher of upgraded connections closes a quiet one, keeps a busy one, forgets
    /// one whose socket is gone, and gives back the slots of the two it let go.
    #[tokio::test]
    async fn the_watcher_closes_quiet_upgraded_connections_and_frees_their_slots() {
        let slots = Arc::new(Semaphore::new(3));
        let slot = || Slot::new(slots.clone().try_acquire_owned().expect("a free slot"));
        let upgraded = Arc::new(Upgraded::default());
        let shutdown = CancellationToken::new();
        let timeout = Duration::from_secs(2);
        tokio::spawn(upgraded.clone().watch(timeout, shutdown.clone()));

        // Each `*_socket` stands for the reference the socket's stream holds.
        let quiet_socket = Arc::new(Activity::new());
        let busy_socket = Arc::new(Activity::new());
        upgraded.add(quiet_socket.clone(), slot());
        upgraded.add(busy_socket.clone(), slot());
        upgraded.add(Arc::new(Activity::new()), slot()); // its socket is already gone

        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !quiet_socket.closed.load(Ordering::Acquire) {
                busy_socket.touch();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the quiet connection was not closed");
        assert!(Instant::now() >= quiet_socket.deadline(timeout));
        assert!(!busy_socket.closed.load(Ordering::Acquire));
        assert_eq!(slots.available_permits(), 2, "the slots of the two let go");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_name_is_resolved_and_an_unusable_address_is_an_error() {
        let l = bind("localhost:0").await.expect("localhost binds");
        let taken = l.local_addr().expect("address");
        assert!(taken.ip().is_loopback());
        assert!(bind(&taken.to_string()).await.is_err(), "a port in use");
        assert!(bind("127.0.0.1:99999").await.is_err(), "no such port");
    }
}
