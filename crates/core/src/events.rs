//! What crosses service boundaries on the bus. Events are past tense, commands imperative.
//! Payloads are JSON; fields may be added, never renamed, so old consumers keep working.

use crate::ids::{SessionId, UserId};
use crate::ports::chat::Profile;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A payload with a fixed bus topic.
pub trait Event: Serialize + DeserializeOwned + Send + Sync {
    /// The topic it is published under.
    const TOPIC: &'static str;
}

/// Command to the mail service: send one email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendMail {
    /// Recipient address.
    pub to: String,
    /// Recipient's name, for the greeting.
    pub to_name: String,
    /// What to send; the mail service renders it.
    pub template: MailTemplate,
    /// The `X-Request-Id` of the HTTP request that caused it, for following one request
    /// through the services' logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Event for SendMail {
    const TOPIC: &'static str = "mail.send";
}

/// The emails ChatSync sends.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailTemplate {
    /// A verification code.
    Otp {
        /// The six digits.
        code: String,
        /// Minutes until it expires.
        expires_in_minutes: u64,
    },
}

impl MailTemplate {
    /// The template's name, safe to log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Otp { .. } => "otp",
        }
    }
}

/// Never shows the code: codes never go to logs (SPEC §8), and a `{:?}` of a command is the
/// easiest way for one to get there.
impl std::fmt::Debug for MailTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Otp {
                expires_in_minutes, ..
            } => f
                .debug_struct("Otp")
                .field("code", &"***")
                .field("expires_in_minutes", expires_in_minutes)
                .finish(),
        }
    }
}

/// A verified user's public profile was created or changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserUpserted(pub Profile);

impl Event for UserUpserted {
    const TOPIC: &'static str = "user.upserted";
}

/// A session ended (logout, revoke, refresh-token reuse): its sockets must close now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRevoked {
    /// The session.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
}

impl Event for SessionRevoked {
    const TOPIC: &'static str = "session.revoked";
}

/// Decodes a delivery's payload as `E`.
pub fn decode<E: Event>(payload: &[u8]) -> Result<E, serde_json::Error> {
    serde_json::from_slice(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_command_never_prints_its_code() {
        let cmd = SendMail {
            request_id: None,
            to: "ann@example.com".into(),
            to_name: "Ann".into(),
            template: MailTemplate::Otp {
                code: "482913".into(),
                expires_in_minutes: 10,
            },
        };
        let shown = format!(
            "{cmd:?} {cmd:#?} {:?}",
            crate::ports::outbox::OutboxMessage::of(&cmd)
        );
        assert!(!shown.contains("482913"), "{shown}");
        assert!(shown.contains("ann@example.com") && shown.contains("expires_in_minutes"));
    }
}
