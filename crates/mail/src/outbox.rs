//! The dev outbox: where mail goes when no SMTP server is configured. Each mail is logged and
//! kept in memory (newest first, bounded) for `GET /api/dev/outbox`, which exists only in this
//! mode, so a production install never exposes it. On a port open beyond the host (allowed only
//! by `mail.dev_outbox_public`) it lists one address's mail at a time, never everyone's.

use crate::{MailError, Mailer, RenderedMail};
use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chatsync_platform::http::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A mail in the dev outbox.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutboxMail {
    /// Id.
    pub id: Uuid,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
    /// When it was "sent".
    pub created_at: DateTime<Utc>,
    /// The verification code, if the mail carries one (for the web app's dev banner).
    pub code: Option<String>,
}

/// In-memory mail sink.
pub struct DevOutbox {
    mails: Mutex<VecDeque<OutboxMail>>,
    capacity: usize,
    /// Listing needs `?email=`: the port is reachable from other hosts.
    needs_email: bool,
    /// Woken on every new mail, for [`DevOutbox::wait_for`].
    arrived: tokio::sync::Notify,
}

impl DevOutbox {
    /// Keeps at most `capacity` mails; with `needs_email`, `GET /api/dev/outbox` lists only
    /// the mail of the address it is given.
    pub fn new(capacity: usize, needs_email: bool) -> Self {
        Self {
            mails: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            needs_email,
            arrived: tokio::sync::Notify::new(),
        }
    }

    /// The newest mail to `email` for which `accept` holds, waiting for it to arrive.
    pub async fn wait_for(&self, email: &str, accept: impl Fn(&OutboxMail) -> bool) -> OutboxMail {
        loop {
            // Register interest before looking, so a mail landing in between is not missed.
            let arrived = self.arrived.notified();
            if let Some(m) = self.list(Some(email)).into_iter().find(|m| accept(m)) {
                return m;
            }
            arrived.await;
        }
    }

    /// Mails to `email` (all if `None`), newest first.
    pub fn list(&self, email: Option<&str>) -> Vec<OutboxMail> {
        let email = email.map(|e| e.trim().to_lowercase());
        self.mails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|m| email.as_deref().is_none_or(|e| m.to == e))
            .cloned()
            .collect()
    }
}

fn code_in(subject: &str) -> Option<String> {
    subject
        .split_whitespace()
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

#[async_trait]
impl Mailer for DevOutbox {
    async fn send(&self, mail: &RenderedMail) -> Result<(), MailError> {
        // The dev outbox *is* the mailbox in this mode (SPEC §1: "logged, and readable at GET
        // /api/dev/outbox"), so its log line carries the code on purpose. It exists only when
        // no SMTP server is configured; with SMTP, nothing logs a subject or a body.
        tracing::info!(to = %mail.to, subject = %mail.subject, "dev outbox: mail not sent, kept for GET /api/dev/outbox\n{}", mail.text);
        let mut mails = self.mails.lock().unwrap_or_else(|p| p.into_inner());
        if mails.len() == self.capacity {
            mails.pop_back();
        }
        mails.push_front(OutboxMail {
            id: Uuid::now_v7(),
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            html: mail.html.clone(),
            created_at: Utc::now(),
            code: code_in(&mail.subject),
        });
        drop(mails);
        self.arrived.notify_waiters();
        Ok(())
    }
}

#[derive(Deserialize)]
struct Filter {
    email: Option<String>,
}

#[derive(Serialize)]
struct Listing {
    messages: Vec<OutboxMail>,
}

pub(crate) fn router(outbox: Arc<DevOutbox>) -> Router {
    Router::new()
        .route("/api/dev/outbox", get(list))
        .with_state(outbox)
}

async fn list(
    State(outbox): State<Arc<DevOutbox>>,
    Query(f): Query<Filter>,
) -> Result<Json<Listing>, ApiError> {
    let email = f.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if outbox.needs_email && email.is_none() {
        return Err(ApiError::bad_request(
            "email_required",
            "this dev outbox is reachable from other hosts: ask for one address with ?email=",
        ));
    }
    Ok(Json(Listing {
        messages: outbox.list(email),
    }))
}
