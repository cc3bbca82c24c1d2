//! SMTP through lettre: implicit TLS, STARTTLS, or plain for a local relay.

use crate::{MailError, Mailer, RenderedMail};
use anyhow::Context;
use async_trait::async_trait;
use chatsync_core::config::{MailConfig, SmtpTls};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Sends through one SMTP server, with a connection pool.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    described: String,
}

/// The Node app's nodemailer setup used Gmail with `EMAIL_USER`/`EMAIL_PASS` alone.
const DEFAULT_HOST_WITH_USER: &str = "smtp.gmail.com";

impl SmtpMailer {
    /// Builds the transport from `SMTP_URL`, or from host, port, TLS mode and credentials.
    pub fn from_config(cfg: &MailConfig) -> anyhow::Result<Self> {
        let timeout = Some(Duration::from_secs(cfg.smtp_timeout_secs.max(1)));
        let (builder, described) = if let Some(url) = &cfg.smtp_url {
            let b = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?;
            (b, url.redacted())
        } else {
            let host = cfg
                .smtp_host
                .clone()
                .unwrap_or_else(|| DEFAULT_HOST_WITH_USER.to_owned());
            let (b, default_port) = match cfg.smtp_tls {
                SmtpTls::Tls => (AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?, 465),
                SmtpTls::Starttls => (
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
                    587,
                ),
                SmtpTls::None => (
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
                    25,
                ),
            };
            let port = cfg.smtp_port.unwrap_or(default_port);
            (b.port(port), format!("{host}:{port} ({:?})", cfg.smtp_tls))
        };
        let builder = match (&cfg.email_user, &cfg.email_pass) {
            (Some(user), Some(pass)) => {
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()))
            }
            _ => builder,
        };
        let from = cfg
            .from
            .clone()
            .or_else(|| cfg.email_user.clone().filter(|u| u.contains('@')))
            .unwrap_or_else(|| "ChatSync <no-reply@localhost>".to_owned());
        Ok(Self {
            transport: builder.timeout(timeout).build(),
            from: from
                .parse()
                .with_context(|| format!("MAIL_FROM {from:?} is not a valid mailbox"))?,
            described,
        })
    }

    /// The server, for logs (no credentials).
    pub fn describe(&self) -> &str {
        &self.described
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &RenderedMail) -> Result<(), MailError> {
        let to: Mailbox = format!(
            "{} <{}>",
            mail.to_name.replace(['<', '>', '"'], ""),
            mail.to
        )
        .parse()
        .or_else(|_| mail.to.parse())
        .map_err(|e| MailError::Permanent(format!("bad recipient {}: {e}", mail.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}
