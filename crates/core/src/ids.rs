//! Typed identifiers. Every id is a UUIDv7, so ids sort by creation time and index well.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[derive(utoipa::ToSchema, ts_rs::TS)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        #[ts(type = "string")]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// An account, in the user service, and the same person's profile copy in the chat service.
    UserId
);
id_type!(
    /// A login session: one per device that logged in. Access tokens carry it.
    SessionId
);
id_type!(
    /// One registration request on an unverified address: the credentials it submitted and
    /// the code mailed for them.
    RegistrationId
);
id_type!(
    /// A direct or group conversation.
    ConversationId
);
id_type!(
    /// A stored message.
    MessageId
);
id_type!(
    /// An uploaded file.
    MediaId
);
