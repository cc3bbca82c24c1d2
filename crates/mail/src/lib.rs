//! The mail service: consumes `mail.send` commands from the bus, renders them (plain text and
//! HTML) and hands them to a [`Mailer`]: SMTP when configured, otherwise the dev outbox, which
//! logs each mail and serves them at `GET /api/dev/outbox`.
//!
//! A delivery is acknowledged only after the mailer accepted the mail; a failure is retried
//! with back-off and dead-lettered after the bus's `max_attempts`.
//!
//! Depends only on `chatsync-core`. It owns nothing durable.
#![warn(missing_docs)]

mod outbox;
mod render;
mod smtp;

pub use outbox::{DevOutbox, OutboxMail};
pub use render::{RenderedMail, render};
pub use smtp::SmtpMailer;

use async_trait::async_trait;
use axum::Router;
use chatsync_core::config::MailConfig;
use chatsync_core::events::{self, SendMail};
use chatsync_core::ports::bus::topology;
use chatsync_core::ports::{EventBus, HealthCheck};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: the server was unreachable or answered 4xx.
    #[error("temporary mail failure: {0}")]
    Transient(String),
    /// Retrying will not help: bad address, rejected by the server (5xx).
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Something that delivers rendered mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one mail; `Ok` means the server accepted it.
    async fn send(&self, mail: &RenderedMail) -> Result<(), MailError>;
}

/// The mail service.
pub struct MailService {
    bus: Arc<dyn EventBus>,
    mailer: Arc<dyn Mailer>,
    /// Set in dev-outbox mode: the outbox's HTTP route is mounted only then.
    outbox: Option<Arc<DevOutbox>>,
    health: Vec<Arc<dyn HealthCheck>>,
}

impl MailService {
    /// SMTP if `cfg` configures it, else the dev outbox. The dev outbox lets whoever reaches
    /// the port read every code, so on a port open beyond this host (`loopback_only` false) it
    /// starts only when `mail.dev_outbox_public` says so, and then answers only for one
    /// address at a time.
    pub fn from_config(
        cfg: &MailConfig,
        loopback_only: bool,
        bus: Arc<dyn EventBus>,
        health: Vec<Arc<dyn HealthCheck>>,
    ) -> anyhow::Result<Self> {
        if cfg.uses_smtp() {
            let smtp = SmtpMailer::from_config(cfg)?;
            tracing::info!(server = %smtp.describe(), "mail goes through SMTP");
            return Ok(Self::new(bus, Arc::new(smtp), None, health));
        }
        if !loopback_only && !cfg.dev_outbox_public {
            anyhow::bail!(
                "no SMTP server is configured, so mail would go to the dev outbox, where anyone \
                 who can reach this port could read other people's codes; HOST is not a loopback \
                 address. Configure SMTP (SMTP_URL, or SMTP_HOST with EMAIL_USER and EMAIL_PASS), \
                 bind to 127.0.0.1, or, for a demo, set CHATSYNC__MAIL__DEV_OUTBOX_PUBLIC=true"
            );
        }
        tracing::info!("no SMTP configured: mail goes to the dev outbox at GET /api/dev/outbox");
        let outbox = Arc::new(DevOutbox::new(cfg.outbox_capacity, !loopback_only));
        Ok(Self::new(bus, outbox.clone(), Some(outbox), health))
    }

    /// A service with an explicit mailer (tests use failing ones).
    pub fn new(
        bus: Arc<dyn EventBus>,
        mailer: Arc<dyn Mailer>,
        outbox: Option<Arc<DevOutbox>>,
        health: Vec<Arc<dyn HealthCheck>>,
    ) -> Self {
        Self {
            bus,
            mailer,
            outbox,
            health,
        }
    }

    /// `GET /api/dev/outbox` in dev-outbox mode; no routes with SMTP.
    pub fn router(&self) -> Router {
        match &self.outbox {
            Some(o) => outbox::router(o.clone()),
            None => Router::new(),
        }
    }

    /// The dev outbox, when mail goes there.
    pub fn dev_outbox(&self) -> Option<Arc<DevOutbox>> {
        self.outbox.clone()
    }

    /// What `/readyz` checks for this service.
    pub fn health_checks(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.health.clone()
    }

    /// Consumes `mail.send` until `shutdown`. The delivery in hand is finished (sent and
    /// acknowledged); no new one is taken after the signal.
    pub async fn run_worker(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut sub = self.bus.consume(topology::MAIL).await?;
        loop {
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                d = sub.next() => match d {
                    Some(d) => d,
                    None => return Ok(()),
                },
            };
            let cmd = match events::decode::<SendMail>(&delivery.payload) {
                Ok(c) => c,
                Err(e) => {
                    // A payload no version of us can read will never succeed: park it.
                    tracing::error!(error = %e, topic = %delivery.topic, "undecodable mail command");
                    let _ = delivery.retry("undecodable payload").await;
                    continue;
                }
            };
            let mail = render(&cmd);
            match self.mailer.send(&mail).await {
                Ok(()) => {
                    metrics::counter!("mail_sent_total").increment(1);
                    // Never the subject or a body: the OTP mail carries its code in both.
                    tracing::info!(to = %mail.to, kind = mail.kind, request_id = cmd.request_id.as_deref().unwrap_or(""), "mail sent");
                    if let Err(e) = delivery.ack().await {
                        // The broker will redeliver: the mail may go out twice, never zero times.
                        tracing::warn!(error = %chatsync_core::error_chain(&e), "could not acknowledge a sent mail");
                    }
                }
                Err(e) => {
                    metrics::counter!("mail_failed_total").increment(1);
                    tracing::warn!(to = %mail.to, kind = mail.kind, request_id = cmd.request_id.as_deref().unwrap_or(""), error = %e, attempt = delivery.attempt, "mail not sent");
                    if let Err(e) = delivery.retry(&e.to_string()).await {
                        tracing::warn!(error = %chatsync_core::error_chain(&e), "could not schedule a mail retry");
                    }
                }
            }
        }
    }
}
