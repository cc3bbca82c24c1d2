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
}

impl Event for SendMail {
    const TOPIC: &'static str = "mail.send";
}

/// The emails ChatSync sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
