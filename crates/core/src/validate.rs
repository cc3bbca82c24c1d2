//! Checked input. A value of these types has passed validation, so the code holding one need
//! not check again (parse, don't validate).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a piece of input was refused. The message is shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The request field at fault, as the client named it.
    pub field: &'static str,
    /// What is wrong with it, in words a user understands.
    pub message: String,
}

impl Invalid {
    /// An error about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A syntactically valid email address, trimmed and lower-cased so that one mailbox has one
/// account whatever case it was typed in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Checks and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(Invalid::new("email", "is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(Invalid::new("email", "is too long"));
        }
        // `email_address` accepts quoted local parts and IP literals; a chat product does not
        // need those, and refusing them keeps addresses safe to put in mail headers and logs.
        let plain = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.!#$%&'*+/=?^_`{|}~-".contains(c));
        let (_, domain) = s.rsplit_once('@').unwrap_or(("", ""));
        if !plain || !domain.contains('.') || !email_address::EmailAddress::is_valid(&s) {
            return Err(Invalid::new("email", "is not a valid email address"));
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds from a value that was validated before it was stored.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the length policy. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest password accepted.
    pub const MIN_CHARS: usize = 8;
    /// Longest accepted; argon2 cost grows with the input and nobody types more.
    pub const MAX_CHARS: usize = 256;

    /// Checks the length policy.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Invalid::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Trims `raw` and checks it holds 1..=`max` characters with no control characters.
fn short_text(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if s.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// A person's shown name: 1 to 64 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Longest name accepted (SPEC §6).
    pub const MAX_CHARS: usize = 64;

    /// Checks and trims `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        short_text("display_name", raw, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes into the inner string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A group conversation's name: 1 to 100 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationName(String);

impl ConversationName {
    /// Longest name accepted.
    pub const MAX_CHARS: usize = 100;

    /// Checks and trims `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        short_text("name", raw, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message body: at most 4,000 characters (SPEC §6). It may be empty only when the message
/// carries attachments, which the caller checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    /// Longest body accepted, in characters.
    pub const MAX_CHARS: usize = 4000;

    /// Checks the length of `raw`; leading and trailing blank lines are kept as typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "body",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// True when there is nothing but white space.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes into the inner string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
            "\"a\"@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_need_eight_to_256_characters() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret123").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn message_bodies_count_characters_not_bytes() {
        assert!(MessageBody::parse(&"ü".repeat(4000)).is_ok());
        assert!(MessageBody::parse(&"a".repeat(4001)).is_err());
        assert!(MessageBody::parse(" \n").unwrap().is_blank());
    }
}
