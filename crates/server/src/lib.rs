//! The `chatsync` binary's library half: which services to run, wiring configuration to
//! adapters ([`wiring`]), and running them until a signal. The test kit starts apps through
//! [`start`], exactly as the binary does.
#![warn(missing_docs)]

pub mod wiring;

use anyhow::Context;
use axum::Router;
use chatsync_auth::AuthService;
use chatsync_chat::ChatService;
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
}

/// How long background work may take to finish after the HTTP server stopped.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// Builds the services in `only` from `cfg` and serves them on `listener`. Returns once they
/// are accepting requests; the app runs until `Running::shutdown` is cancelled.
pub async fn start(cfg: Config, only: Services, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
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
        let relay = auth.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move { relay.run_outbox_relay(stop).await });
        local_auth = Some(auth);
    }

    if only.has(Service::Chat) {
        let (deps, media) = shared.chat_deps(&cfg, local_auth).await?;
        let chat = ChatService::new(cfg.chat.clone(), deps);
        api = api
            .merge(chat.router())
            .merge(media.router())
            .merge(shared.socket_io(&cfg, &chat).await?);
        health.extend(chat.health_checks());
        let stop = shutdown.clone();
        tracker.spawn(async move { chat.run_background(stop).await });
        let stop = shutdown.clone();
        tracker.spawn(async move { media.run_cleanup(stop).await });
    }

    let mut dev_outbox = None;
    if only.has(Service::Mail) {
        let mail = MailService::from_config(&cfg.mail, shared.bus.clone(), shared.bus_health())?;
        api = api.merge(mail.router());
        health.extend(mail.health_checks());
        dev_outbox = mail.dev_outbox();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            if let Err(e) = mail.run_worker(stop.clone()).await {
                tracing::error!(error = %e, "mail worker stopped");
                stop.cancel();
            }
        });
    }

    dedup_health(&mut health);
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
        Gateway::new(&cfg, upstream, health).router()
    } else {
        // A service on its own: its API, operational endpoints and the standard layers; the
        // browser-facing protections are the gateway's job.
        chatsync_core::http::standard_layers(
            api.merge(chatsync_core::telemetry::ops_router(health))
                .fallback(chatsync_core::http::not_found_fallback),
            &cfg.http,
        )
    };

    tracing::info!(%addr, services = %only, "chatsync listening");
    let handle = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let served = chatsync_core::http::serve(app, listener, shutdown.clone()).await;
            // Sockets are long-lived: close them so clients reconnect elsewhere.
            shared.close_sockets().await;
            // Stop background work too if the server failed on its own.
            shutdown.cancel();
            tracker.close();
            if tokio::time::timeout(DRAIN_DEADLINE, tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!("background tasks did not finish within {DRAIN_DEADLINE:?}");
            }
            shared.close().await;
            served.context("http server")
        }
    });
    Ok(Running {
        addr,
        shutdown,
        handle,
        dev_outbox,
    })
}

fn remote(cfg: &Config) -> anyhow::Result<Remote> {
    Ok(Remote {
        user: cfg
            .services
            .user_url
            .clone()
            .context("a gateway running alone needs USER_SERVICE_URL")?,
        chat: cfg.services.chat_url.clone(),
        mail: cfg.services.mail_url.clone(),
    })
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
    let bind = format!("{}:{}", cfg.http.host, cfg.http.port);
    let listener = TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let running = start(cfg, only, listener).await?;
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight work");
        shutdown.cancel();
    });
    running.handle.await?
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
