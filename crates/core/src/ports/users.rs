//! The user service's store: accounts, OTPs and its outbox.

use crate::ids::UserId;
use crate::outbox::OutboxMessage;
use crate::ports::StoreError;
use crate::validate::Email;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An account as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Its id.
    pub id: UserId,
    /// The normalised address.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Shown name.
    pub display_name: String,
    /// Avatar image URL, if set.
    pub avatar_url: Option<String>,
    /// When the address was proven; `None` until then.
    pub verified_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change to any field.
    pub updated_at: DateTime<Utc>,
}

/// The account as its owner sees it (`GET /api/users/me`).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Me {
    /// Id.
    pub id: UserId,
    /// Address.
    pub email: String,
    /// Shown name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<&Account> for Me {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            email: a.email.to_string(),
            display_name: a.display_name.clone(),
            avatar_url: a.avatar_url.clone(),
            created_at: a.created_at,
        }
    }
}

/// What other people see of an account.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct PublicProfile {
    /// Id.
    pub id: UserId,
    /// Shown name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
}

impl From<&Account> for PublicProfile {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            display_name: a.display_name.clone(),
            avatar_url: a.avatar_url.clone(),
        }
    }
}

/// A registration after validation and hashing.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Normalised address.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Shown name.
    pub display_name: String,
}

/// A stored one-time code.
#[derive(Clone, Debug, PartialEq)]
pub struct OtpRecord {
    /// Whose code it is.
    pub user_id: UserId,
    /// HMAC of the code; the code itself is never stored.
    pub code_hash: String,
    /// After this the code is refused.
    pub expires_at: DateTime<Utc>,
    /// Wrong codes tried so far.
    pub failed_attempts: u32,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfilePatch {
    /// New shown name.
    pub display_name: Option<String>,
    /// New avatar: `Some(None)` removes it.
    pub avatar_url: Option<Option<String>>,
}

/// Accounts, OTPs and the user service's outbox. Every method that also takes outbox messages
/// writes them in the same transaction as its change, so an event is published if and only if
/// the change committed.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates an unverified account, or replaces the password and name of an existing
    /// unverified one (whoever registers last owns the unproven address).
    /// `Conflict("email_taken")` if the address is verified.
    async fn upsert_unverified(&self, new: &NewAccount) -> Result<Account, StoreError>;

    /// The account with this address.
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError>;

    /// The account with this id.
    async fn account_by_id(&self, id: UserId) -> Result<Option<Account>, StoreError>;

    /// Replaces the user's OTP and enqueues the mail that carries it.
    async fn put_otp(&self, otp: &OtpRecord, mail: &OutboxMessage) -> Result<(), StoreError>;

    /// The user's current OTP.
    async fn otp(&self, user: UserId) -> Result<Option<OtpRecord>, StoreError>;

    /// Counts a wrong code; deletes the OTP once `max_attempts` is reached. Returns the
    /// attempts left (0: burnt).
    async fn fail_otp(&self, user: UserId, max_attempts: u32) -> Result<u32, StoreError>;

    /// Deletes the OTP, marks the account verified at `at` and enqueues `events`.
    async fn verify(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        events: &[OutboxMessage],
    ) -> Result<Account, StoreError>;

    /// Applies `patch` and enqueues `events` built from the result by `events_for`.
    async fn update_profile(
        &self,
        user: UserId,
        patch: &ProfilePatch,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError>;

    /// Verified accounts whose name or address starts with `prefix` (case-insensitive),
    /// ordered by name then id.
    async fn search(
        &self,
        prefix: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Account>, StoreError>;
}
