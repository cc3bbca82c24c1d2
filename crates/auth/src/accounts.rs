//! Registration and email verification (SPEC §2.1–2.3, §8).
//!
//! Each registration is kept apart, with the credentials submitted with it and the code mailed
//! for them, and verifying with a code activates exactly the registration that code was mailed
//! for. So whoever registers an address later can never change who logs in to the account an
//! earlier code verifies: the real owner's code activates the owner's password and name.
//!
//! Pending addresses answer like unknown ones everywhere (SPEC §8): register is `202` for
//! both, resend holds both to the same cooldown and answers alike, and a wrong code reads the
//! same for both, with no count of attempts left. Only someone holding a code learns more
//! (`otp_expired`, `otp_exhausted`).

use crate::secrets::Secrets;
use crate::sessions::{LoggedIn, start_session};
use crate::{AppState, Inner};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chatsync_core::RegistrationId;
use chatsync_core::events::{MailTemplate, SendMail, UserUpserted};
use chatsync_core::ports::chat::Profile;
use chatsync_core::ports::outbox::OutboxMessage;
use chatsync_core::ports::throttle::Decision;
use chatsync_core::ports::users::{Account, NewCode, NewRegistration, Registration};
use chatsync_core::ports::{Conflict, StoreError};
use chatsync_core::validate::{DisplayName, Email, Invalid, Password};
use chatsync_platform::http::{ApiError, ApiResult, ClientIp, Json, RequestId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify))
        .routes(routes!(resend_otp))
}

/// `POST /api/auth/register`.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct RegisterRequest {
    /// Address to verify.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// Shown name, 1–64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub display_name: String,
}

/// Answer to register and resend: a code is on its way.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct CodeSent {
    /// The normalised address.
    pub email: String,
    /// Seconds the code stays valid.
    pub otp_expires_in: u64,
    /// Seconds to wait before asking for another code (at most).
    pub resend_after: u64,
}

impl Inner {
    fn code_sent(&self, email: &Email) -> CodeSent {
        CodeSent {
            email: email.to_string(),
            otp_expires_in: self.cfg.otp_ttl_secs,
            resend_after: self.cfg.otp_resend_cooldown_secs,
        }
    }
}

/// Creates an unverified account and mails a six-digit code.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", security(()), request_body = RegisterRequest,
    responses((status = 202, description = "A code is on its way.", body = CodeSent)))]
async fn register(
    State(s): State<AppState>,
    ip: ClientIp,
    request_id: RequestId,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let s = &s.inner;
    s.limit(&format!("register:ip:{}", ip.key()), s.cfg.register_per_ip)
        .await?;
    let email = Email::parse(&req.email)?;
    let password = Password::parse(&req.password)?;
    let name = DisplayName::parse(&req.display_name)?.into_inner();
    let password_hash = s
        .secrets
        .hash_password(password.expose().to_owned())
        .await?;
    let now = Utc::now();
    let id = RegistrationId::new();
    let code = Secrets::new_code();
    let reg = NewRegistration {
        id,
        email: email.clone(),
        password_hash,
        code_hash: s.secrets.code_hash(id, &code),
        code_expires_at: s.code_expiry(now),
        expires_at: now + secs(s.cfg.registration_ttl_secs),
        display_name: name,
    };
    let mail = s.code_mail(&email, &reg.display_name, code, &request_id);
    // The code goes out at once whatever the resend cooldown says: holding it back would let
    // whoever registered first (or asked for a resend) delay the real owner's code while their
    // own registration is the one waiting in the mailbox.
    s.store
        .register(&reg, s.cfg.pending_registrations_per_address, &mail)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(Conflict::EmailTaken) => ApiError::conflict(
                "email_taken",
                "an account with this email already exists; log in instead",
            ),
            other => other.into(),
        })?;
    s.outbox_wake.notify_one();
    // Starts the resend cooldown if it is not running. The registration and its mail are
    // committed: a throttle that is down must not turn that into an error the client retries.
    let _ = s.throttle.claim(&cooldown_key(&email), s.cooldown()).await;
    Ok((StatusCode::ACCEPTED, Json(s.code_sent(&email))))
}

/// `POST /api/auth/resend-otp`.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ResendRequest {
    /// The address that registered.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// Mails a fresh code to an address that registered and is not verified.
#[utoipa::path(post, path = "/api/auth/resend-otp", tag = "auth", security(()), request_body = ResendRequest,
    responses((status = 202, description = "A code is on its way (whether or not the address registered).", body = CodeSent)))]
async fn resend_otp(
    State(s): State<AppState>,
    ip: ClientIp,
    request_id: RequestId,
    Json(req): Json<ResendRequest>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let s = &s.inner;
    s.limit(&format!("otp:ip:{}", ip.key()), s.cfg.verify_per_ip)
        .await?;
    let email = Email::parse(&req.email)?;
    // Every address is held to the cooldown, pending, verified or unknown: if only pending
    // ones were, asking twice would tell which addresses are waiting for a code.
    if let Decision::Limited { retry_after } = s
        .throttle
        .claim(&cooldown_key(&email), s.cooldown())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "otp_cooldown",
            "a code was sent moments ago; wait a little before asking for another",
        )
        .with_retry_after(retry_after));
    }
    if let Err(e) = s.resend_codes(&email, &request_id).await {
        // Nothing was sent: let the user ask again at once.
        let _ = s.throttle.clear(&cooldown_key(&email)).await;
        return Err(e);
    }
    Ok((StatusCode::ACCEPTED, Json(s.code_sent(&email))))
}

/// `POST /api/auth/verify`.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct VerifyRequest {
    /// The registered address.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// The six digits from the email.
    #[schema(pattern = "^[0-9]{6}$")]
    pub otp: String,
    /// The password chosen at registration (optional). With it, the code proves the mailbox
    /// and the password picks the registration: a person who opens the newest mail, which
    /// may carry a code for someone else's registration of their address, still activates
    /// their own password.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub password: Option<String>,
}

/// The one answer to a code that activates nothing, whether the address is unknown, verified
/// or pending, and however many tries are left: any difference would tell them apart.
fn wrong_code() -> ApiError {
    ApiError::bad_request(
        "otp_invalid",
        "wrong or expired code; check the latest email, or ask for a new code",
    )
}

/// Activates the account with the emailed code and logs in.
#[utoipa::path(post, path = "/api/auth/verify", tag = "auth", security(()), request_body = VerifyRequest,
    responses((status = 200, body = LoggedIn)))]
async fn verify(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(req): Json<VerifyRequest>,
) -> ApiResult<Json<LoggedIn>> {
    let s = &state.inner;
    s.limit(&format!("otp:ip:{}", ip.key()), s.cfg.verify_per_ip)
        .await?;
    let email = Email::parse(&req.email)?;
    let code = req.otp.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("otp", "must be the 6 digits from the email").into());
    }
    // Checks per address across all its codes, counted before the code is looked at: a
    // resend gives a code fresh tries, but not the address fresh guesses. Keyed by the
    // address whether or not it exists, so the limit itself tells nothing.
    s.limit(&format!("otp:address:{email}"), s.cfg.verify_per_address)
        .await?;
    let now = Utc::now();
    let registrations = s.store.registrations(&email, now).await?;
    let Some(reg) = registrations
        .iter()
        .find(|r| s.secrets.code_matches(r.id, code, &r.code_hash))
    else {
        if let Some(r) = registrations.first() {
            s.store
                .fail_codes(r.account_id, s.cfg.otp_max_attempts)
                .await?;
        }
        return Err(wrong_code());
    };
    // Only the holder of the code gets here, so these may say what is wrong.
    if reg.failed_attempts >= s.cfg.otp_max_attempts {
        return Err(ApiError::bad_request(
            "otp_exhausted",
            "too many wrong codes were tried; ask for a new code",
        ));
    }
    if reg.code_expires_at <= now {
        return Err(ApiError::bad_request(
            "otp_expired",
            "this code has expired; ask for a new one",
        ));
    }
    let chosen = match req.password {
        None => reg.id,
        Some(password) => s.registration_with(&registrations, reg, password).await?,
    };
    let account = s
        .store
        .activate(chosen, now, &|a| vec![profile_event(a, a.updated_at)])
        .await
        .map_err(|e| match e {
            StoreError::NotFound => wrong_code(),
            other => other.into(),
        })?;
    s.outbox_wake.notify_one();
    let tokens = start_session(s, &account, ip, &headers).await?;
    Ok(Json(LoggedIn {
        tokens,
        user: (&account).into(),
    }))
}

/// The `user.upserted` event for the account as it is at `updated_at`.
pub(crate) fn profile_event(a: &Account, updated_at: DateTime<Utc>) -> OutboxMessage {
    OutboxMessage::of(&UserUpserted(Profile {
        id: a.id,
        display_name: a.display_name.clone(),
        avatar_url: a.avatar_url.clone(),
        updated_at,
    }))
}

fn cooldown_key(email: &Email) -> String {
    format!("otp:cooldown:{email}")
}

fn secs(n: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 4_000))
}

impl Inner {
    /// The pending registration whose password is `password`, trying the code's own
    /// registration `by_code` first. Only a holder of a valid code gets here, so a mismatch
    /// may say so.
    async fn registration_with(
        &self,
        pending: &[Registration],
        by_code: &Registration,
        password: String,
    ) -> Result<RegistrationId, ApiError> {
        let candidates =
            std::iter::once(by_code).chain(pending.iter().filter(|r| r.id != by_code.id));
        for r in candidates {
            if self
                .secrets
                .verify_password(password.clone(), Some(r.password_hash.clone()))
                .await?
            {
                return Ok(r.id);
            }
        }
        Err(ApiError::unauthorized(
            "invalid_credentials",
            "this is not the password this address was registered with",
        ))
    }

    fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cfg.otp_resend_cooldown_secs)
    }

    fn code_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + secs(self.cfg.otp_ttl_secs)
    }

    /// The mail carrying `code`, greeting the name submitted with its registration, so two
    /// mails for two registrations of one address can be told apart.
    fn code_mail(
        &self,
        email: &Email,
        name: &str,
        code: String,
        request_id: &RequestId,
    ) -> OutboxMessage {
        OutboxMessage::of(&SendMail {
            request_id: request_id.0.clone(),
            to: email.to_string(),
            to_name: name.to_owned(),
            template: MailTemplate::Otp {
                code,
                expires_in_minutes: self.cfg.otp_ttl_secs.div_ceil(60),
            },
        })
    }

    /// A fresh code for every pending registration of `email`, each mailed on its own and
    /// each activating only the registration it was made for. A resend carries no
    /// credentials, so it cannot pick one registration over another; the address's mailbox
    /// gets them all and the greeting names each one's display name.
    async fn resend_codes(&self, email: &Email, request_id: &RequestId) -> Result<(), ApiError> {
        let now = Utc::now();
        let codes: Vec<NewCode> = self
            .store
            .registrations(email, now)
            .await?
            .into_iter()
            .map(|r| {
                let code = Secrets::new_code();
                NewCode {
                    registration: r.id,
                    code_hash: self.secrets.code_hash(r.id, &code),
                    code_expires_at: self.code_expiry(now),
                    mail: self.code_mail(email, &r.display_name, code, request_id),
                }
            })
            .collect();
        if codes.is_empty() {
            return Ok(());
        }
        self.store.replace_codes(&codes, now).await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
