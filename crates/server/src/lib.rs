//! The `chatsync` binary's library half: which services to run, wiring configuration to
//! adapters ([`wiring`]), and running them until a signal. The test kit starts apps through
//! [`start`], exactly as the binary does.
#![warn(missing_docs)]

pub mod api_docs;
mod shared_media;
#[cfg(feature = "redis")]
mod socket_redis;
pub mod wiring;

use anyhow::Context;
use axum::Router;
use chatsync_auth::AuthService;
use chatsync_core::config::Config;
use chatsync_core::ports::HealthCheck;
use chatsync_gateway::{Gateway, Remote, Upstream};
use chatsync_mail::MailService;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One of ChatSync's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// The public port: web app and routing.
    Gateway,
    /// Accounts, OTPs, sessions.
    User,
    /// Conversations, messages, Socket.IO.
    Chat,
    /// Email.
    Mail,
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "gateway" => Ok(Self::Gateway),
            "user" | "auth" => Ok(Self::User),
            "chat" => Ok(Self::Chat),
            "mail" => Ok(Self::Mail),
            other => Err(format!(
                "unknown service {other:?}; expected gateway, user, chat or mail"
            )),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gateway => "gateway",
            Self::User => "user",
            Self::Chat => "chat",
            Self::Mail => "mail",
        })
    }
}

/// The services one process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services(BTreeSet<Service>);

impl Services {
    /// Every service: the single-process install.
    pub fn all() -> Self {
        Self(
            [
                Service::Gateway,
                Service::User,
                Service::Chat,
                Service::Mail,
            ]
            .into(),
        )
    }

    /// Parses `user,mail`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let set: BTreeSet<Service> = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Service::from_str)
            .collect::<Result<_, _>>()?;
        if set.is_empty() {
            return Err("--only needs at least one service".into());
        }
        Ok(Self(set))
    }

    /// Whether `s` runs here.
    pub fn has(&self, s: Service) -> bool {
        self.0.contains(&s)
    }
}

impl fmt::Display for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(","))
    }
}

/// A started app.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Finishes when the app has shut down; `Err` if a service failed.
    pub handle: JoinHandle<anyhow::Result<()>>,
    /// The dev outbox, when this process runs the mail service in that mode.
    pub dev_outbox: Option<Arc<chatsync_mail::DevOutbox>>,
    /// Where `/metrics` is served when `http.metrics_addr` puts it on a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
}

/// Builds the services in `only` from `cfg` and serves them on `listener`. Returns once they
/// are accepting requests; the app runs until `Running::shutdown` is cancelled.
pub async fn start(cfg: Config, only: Services, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    // `shutdown` starts the drain (see `drain`); background work runs until `stop_work`, after
    // the sockets and the HTTP server, so what clients sent while draining is still committed.
    let shutdown = CancellationToken::new();
    let stop_work = CancellationToken::new();
    // 1 from the start of a graceful drain until the process ends (see `drain`).
    chatsync_platform::telemetry::metrics_handle();
    metrics::gauge!("chatsync_draining").set(0.0);
    let tracker = TaskTracker::new();
    let shared = wiring::Shared::new(&cfg, &only).await?;

    let mut api = Router::new();
    let mut health: Vec<Arc<dyn HealthCheck>> = Vec::new();

    let mut local_auth = None;
    if only.has(Service::User) {
        let auth = AuthService::new(
            cfg.auth.clone(),
            &shared.signing_secret,
            shared.auth_deps(&cfg).await?,
        );
        api = api.merge(auth.router());
        health.extend(auth.health_checks());
        local_auth = Some(auth);
    }
    // The outbox relay writes to the user service's database from its first pass, which on
    // SQLite can be the chat service's file too: it starts once the chat service below has
    // migrated it, or that migration's transaction can find the file changed under its read
    // and fail with "database is locked".
    let relay = local_auth.clone();

    if only.has(Service::Chat) {
        let (deps, media) = shared.chat_deps(&cfg, local_auth).await?;
        if let Some(agreement) = shared.agreement.clone() {
            let shared_media = shared_media::SharedMedia::check(agreement, &cfg).await?;
            health.push(shared_media.clone());
            tracker.spawn(shared_media.run(stop_work.clone()));
        }
        let (chat, sockets) = shared.chat_with_sockets(&cfg, deps).await?;
        api = api
            .merge(chat.router())
            .merge(media.router())
            .merge(sockets.layer(axum::middleware::from_fn_with_state(
                shutdown.clone(),
                refuse_new_sessions_while_draining,
            )));
        health.extend(chat.health_checks());
        tracker.spawn(chat.start_background(stop_work.clone()).await);
        let stop = stop_work.clone();
        tracker.spawn(async move { media.run_cleanup(stop).await });
    }
    if let Some(relay) = relay {
        let stop = stop_work.clone();
        tracker.spawn(async move { relay.run_outbox_relay(stop).await });
    }

    let mut dev_outbox = None;
    if only.has(Service::Mail) {
        let mail = MailService::from_config(
            &cfg.mail,
            cfg.http.binds_loopback_only(),
            shared.bus.clone(),
            shared.bus_health(),
        )?;
        api = api.merge(mail.router());
        health.extend(mail.health_checks());
        dev_outbox = mail.dev_outbox();
        let (stop, fail) = (stop_work.clone(), shutdown.clone());
        tracker.spawn(async move {
            if let Err(e) = mail.run_worker(stop).await {
                tracing::error!(error = %e, "mail worker stopped");
                fail.cancel();
            }
        });
    }

    dedup_health(&mut health);
    health.push(Arc::new(Draining(shutdown.clone())));
    let app = if only.has(Service::Gateway) {
        let local_all =
            only.has(Service::User) && only.has(Service::Mail) && only.has(Service::Chat);
        let upstream = if local_all {
            Upstream::InProcess(api)
        } else if only.0.len() == 1 {
            Upstream::Remote(remote(&cfg)?)
        } else {
            anyhow::bail!(
                "the gateway runs either with every service (`serve`) or alone \
                 (`serve --only gateway`), not with {only}"
            );
        };
        Gateway::new(&cfg, upstream, health)
            .with_api_docs(api_docs::router())
            .router()
    } else {
        // A service on its own: its API, operational endpoints and the standard layers; the
        // browser-facing protections are the gateway's job.
        chatsync_platform::http::standard_layers(
            api.merge(chatsync_platform::telemetry::ops_router(health, &cfg.http))
                .fallback(chatsync_platform::http::not_found_fallback),
            &cfg.http,
        )
    };

    let limits = chatsync_platform::listener::ConnectionLimits::from_config(&cfg.http);
    let stop_http = CancellationToken::new();
    let metrics_addr = match cfg.http.metrics_socket_addr()? {
        Some(bind) => {
            let metrics = TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding METRICS_ADDR {bind}"))?;
            let at = metrics.local_addr()?;
            let stop = stop_http.clone();
            let router = chatsync_platform::telemetry::metrics_router();
            tokio::spawn(async move {
                if let Err(e) = chatsync_platform::http::serve(router, metrics, limits, stop).await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
            tracing::info!(addr = %at, "metrics listening");
            Some(at)
        }
        None => None,
    };

    tracing::info!(%addr, services = %only, "chatsync listening");
    let serving = tokio::spawn(chatsync_platform::http::serve(
        app,
        listener,
        limits,
        stop_http.clone(),
    ));
    let drain = Drain {
        shutdown: shutdown.clone(),
        stop_http,
        stop_work,
        tracker,
        shared,
        drain_for: if only.has(Service::Chat) {
            Duration::from_secs(cfg.shutdown.drain_secs)
        } else {
            Duration::ZERO
        },
        deadline: Duration::from_secs(cfg.shutdown.deadline_secs.max(1)),
    };
    let handle = tokio::spawn(drain.run(serving));
    Ok(Running {
        addr,
        shutdown,
        handle,
        dev_outbox,
        metrics_addr,
    })
}

/// The steps of a graceful shutdown, once `shutdown` is cancelled (or the server fails).
struct Drain {
    shutdown: CancellationToken,
    stop_http: CancellationToken,
    stop_work: CancellationToken,
    tracker: TaskTracker,
    shared: wiring::Shared,
    drain_for: Duration,
    deadline: Duration,
}

impl Drain {
    async fn run(self, mut serving: JoinHandle<std::io::Result<()>>) -> anyhow::Result<()> {
        let mut served = None;
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            r = &mut serving => served = Some(r),
        }
        self.shutdown.cancel();
        metrics::gauge!("chatsync_draining").set(1.0);
        let deadline = tokio::time::Instant::now() + self.deadline;
        // 1. `/readyz` answers 503 and new Socket.IO sessions are refused (both look at
        //    `shutdown`), while connected clients are still served: gateways and load
        //    balancers stop sending new ones here.
        if !self.drain_for.is_zero() && served.is_none() {
            tracing::info!(
                seconds = self.drain_for.as_secs(),
                "draining: refusing new sockets"
            );
            tokio::time::sleep(self.drain_for.min(self.deadline / 2)).await;
        }
        // 2. Sockets are long-lived: close them, so clients reconnect (elsewhere) and `sync`.
        if tokio::time::timeout_at(deadline, self.shared.close_sockets())
            .await
            .is_err()
        {
            tracing::warn!("closing the sockets took past the shutdown deadline");
        }
        // 3. Stop accepting connections; requests in flight finish.
        self.stop_http.cancel();
        let served = match served {
            Some(r) => r,
            None => match tokio::time::timeout_at(deadline, serving).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("requests still running at the shutdown deadline");
                    Ok(Ok(()))
                }
            },
        };
        // 4. Background work: queued commits, the outbox relay, the mail in hand.
        self.stop_work.cancel();
        self.tracker.close();
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "background work did not finish within the shutdown deadline ({:?}); \
                 what was not acknowledged will be redelivered",
                self.deadline
            );
        }
        self.shared.close().await;
        served.context("http server task")?.context("http server")
    }
}

/// `/readyz` fails from the moment shutdown starts.
struct Draining(CancellationToken);

#[async_trait::async_trait]
impl HealthCheck for Draining {
    fn name(&self) -> &'static str {
        "accepting"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_cancelled() {
            Err("shutting down".into())
        } else {
            Ok(())
        }
    }
}

/// While draining, a new Engine.IO session (a request without `sid`) is answered 503, so the
/// client retries and lands on another node; requests of existing sessions go on.
async fn refuse_new_sessions_while_draining(
    axum::extract::State(shutdown): axum::extract::State<CancellationToken>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let new_session = !req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("sid=")));
    if new_session && shutdown.is_cancelled() {
        return chatsync_platform::http::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "this node is shutting down; connect again",
        )
        .with_retry_after(Duration::from_secs(1))
        .into_response();
    }
    next.run(req).await
}

fn remote(cfg: &Config) -> anyhow::Result<Remote> {
    let remote = Remote {
        user: cfg
            .services
            .user_url
            .clone()
            .context("a gateway running alone needs USER_SERVICE_URL")?,
        chat: cfg
            .services
            .chat_url
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        mail: cfg.services.mail_url.clone(),
    };
    remote.validate().map_err(anyhow::Error::msg)?;
    Ok(remote)
}

/// Services in one process share adapters; list each backend once in `/readyz`.
fn dedup_health(checks: &mut Vec<Arc<dyn HealthCheck>>) {
    let mut seen = Vec::new();
    checks.retain(|c| {
        let p = Arc::as_ptr(c) as *const () as usize;
        if seen.contains(&p) {
            false
        } else {
            seen.push(p);
            true
        }
    });
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(cfg: Config, only: Services) -> anyhow::Result<()> {
    // Caught before anything listens: a SIGTERM sent as soon as the port answers (a quick
    // restart by a supervisor, a test) found no handler yet while the services started, and
    // the default action ended the process at once, with no drain.
    let signalled = shutdown_signal();
    let bind = format!("{}:{}", cfg.http.host, cfg.http.port);
    let listener = chatsync_platform::listener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let running = start(cfg, only, listener).await?;
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        signalled.await;
        tracing::info!("shutting down: finishing in-flight work");
        shutdown.cancel();
    });
    running.handle.await?
}

/// Resolves at SIGINT or SIGTERM; both are caught from the moment this is called, not from the
/// first poll (`tokio::signal::ctrl_c` registers only then).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let caught = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match caught {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
