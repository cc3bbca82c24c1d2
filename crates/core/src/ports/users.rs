//! The user service's store: accounts, pending registrations with their codes, and its outbox.

use crate::ids::{RegistrationId, UserId};
use crate::ports::StoreError;
use crate::ports::outbox::OutboxMessage;
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
    /// argon2id PHC string; empty while unverified (the credentials live in its
    /// [`Registration`]s until one is activated).
    pub password_hash: String,
    /// Shown name; empty while unverified.
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
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema, ts_rs::TS)]
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
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema, ts_rs::TS)]
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

/// One registration request on an unverified address, after validation and hashing: the
/// credentials it submitted and the code mailed for them (SPEC §8). Verifying with that code
/// activates exactly these credentials, whatever was registered before or after.
#[derive(Clone, Debug)]
pub struct NewRegistration {
    /// Its id; the code's HMAC is bound to it.
    pub id: RegistrationId,
    /// Normalised address.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Shown name.
    pub display_name: String,
    /// HMAC of the code mailed for it; the code itself is never stored.
    pub code_hash: String,
    /// After this the code is refused (a new one can be requested).
    pub code_expires_at: DateTime<Utc>,
    /// After this the registration is gone: registering again is the way back.
    pub expires_at: DateTime<Utc>,
}

/// A stored pending registration.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// Its id.
    pub id: RegistrationId,
    /// The unverified account it would activate.
    pub account_id: UserId,
    /// argon2id PHC string submitted with it.
    pub password_hash: String,
    /// Shown name submitted with it.
    pub display_name: String,
    /// HMAC of its current code.
    pub code_hash: String,
    /// When its current code stops working.
    pub code_expires_at: DateTime<Utc>,
    /// Wrong codes tried against its current code.
    pub failed_attempts: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it is forgotten.
    pub expires_at: DateTime<Utc>,
}

/// A fresh code for a pending registration, and the mail that carries it.
#[derive(Clone, Debug)]
pub struct NewCode {
    /// Whose code.
    pub registration: RegistrationId,
    /// HMAC of the code.
    pub code_hash: String,
    /// When it stops working.
    pub code_expires_at: DateTime<Utc>,
    /// The mail, enqueued only if the registration still exists.
    pub mail: OutboxMessage,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfilePatch {
    /// New shown name.
    pub display_name: Option<String>,
    /// New avatar: `Some(None)` removes it.
    pub avatar_url: Option<Option<String>>,
}

/// Accounts, pending registrations with their codes, and the user service's outbox. Every
/// method that also takes outbox messages writes them in the same transaction as its change,
/// so an event is published if and only if the change committed.
///
/// An unverified account has no credentials of its own: each registration on its address is a
/// separate row holding the password hash and name submitted with it and the code mailed for
/// them, and [`UserStore::activate`] copies one registration onto the account. So a later
/// registration can never change what an earlier code verifies (SPEC §8).
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Records a registration on `reg.email`, creating the unverified account if there is
    /// none, and enqueues `mail` (its code). Registrations past their `expires_at` are
    /// dropped, and of the rest only the newest `keep` stay. Returns the account's id;
    /// `Conflict(EmailTaken)` if the address is verified.
    async fn register(
        &self,
        reg: &NewRegistration,
        keep: u32,
        mail: &OutboxMessage,
    ) -> Result<UserId, StoreError>;

    /// The live (not expired at `now`) registrations of an unverified address, oldest first;
    /// empty for unknown and verified addresses.
    async fn registrations(
        &self,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<Vec<Registration>, StoreError>;

    /// Gives each registration its new code (wrong-try count back to zero) and enqueues the
    /// code's mail; a registration that is gone (used, replaced, expired at `now`) gets
    /// neither.
    async fn replace_codes(&self, codes: &[NewCode], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Counts a wrong code against every registration of the account whose code has fewer
    /// than `max_attempts` wrong tries (a code at `max_attempts` is burnt).
    async fn fail_codes(&self, account: UserId, max_attempts: u32) -> Result<(), StoreError>;

    /// Activates a registration: its account takes the registration's password and name and
    /// is verified at `at`, every registration of the address is deleted, and `events_for`
    /// the result is enqueued. `NotFound` if the registration is gone or the account was
    /// verified meanwhile (the code was used).
    async fn activate(
        &self,
        registration: RegistrationId,
        at: DateTime<Utc>,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError>;

    /// The account with this address.
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError>;

    /// The account with this id.
    async fn account_by_id(&self, id: UserId) -> Result<Option<Account>, StoreError>;

    /// Applies `patch` and enqueues `events` built from the result by `events_for`.
    async fn update_profile(
        &self,
        user: UserId,
        patch: &ProfilePatch,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError>;

    /// Verified accounts whose name (or a word of it) starts with `term`, or whose address is
    /// exactly `term` (case-insensitive), ordered by name then id. Addresses never match by
    /// prefix: that would let anyone signed in spell out an address letter by letter.
    async fn search(&self, term: &str, limit: u32, offset: u32)
    -> Result<Vec<Account>, StoreError>;
}
