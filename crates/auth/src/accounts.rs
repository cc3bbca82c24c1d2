//! Registration and email verification (SPEC §2.1–2.3).

use crate::secrets::Secrets;
use crate::sessions::{TokenPair, start_session};
use crate::{AppState, Inner};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chatsync_core::events::{MailTemplate, SendMail, UserUpserted};
use chatsync_core::http::{ApiError, ApiResult, ClientIp, Json};
use chatsync_core::outbox::OutboxMessage;
use chatsync_core::ports::StoreError;
use chatsync_core::ports::chat::Profile;
use chatsync_core::ports::throttle::Decision;
use chatsync_core::ports::users::{Account, NewAccount, OtpRecord};
use chatsync_core::validate::{DisplayName, Email, Invalid, Password};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/verify", post(verify))
        .route("/api/auth/resend-otp", post(resend_otp))
}

/// `POST /api/auth/register`.
#[derive(Deserialize)]
pub struct RegisterRequest {
    /// Address to verify.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// Shown name, 1–64 characters.
    pub display_name: String,
}

/// Answer to register and resend: a code is on its way (or was sent moments ago).
#[derive(Serialize)]
pub struct CodeSent {
    /// The normalised address.
    pub email: String,
    /// Seconds the code stays valid.
    pub otp_expires_in: u64,
    /// Seconds until another code may be requested.
    pub resend_after: u64,
}

async fn register(
    State(s): State<AppState>,
    ip: ClientIp,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let s = &s.inner;
    s.limit(&format!("register:ip:{}", ip.key()), s.cfg.register_per_ip)
        .await?;
    let email = Email::parse(&req.email)?;
    let password = Password::parse(&req.password)?;
    let name = DisplayName::parse(&req.display_name)?;
    let password_hash = s
        .secrets
        .hash_password(password.expose().to_owned())
        .await?;
    let account = s
        .store
        .upsert_unverified(&NewAccount {
            email,
            password_hash,
            display_name: name.into_inner(),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "email_taken",
                "an account with this email already exists; log in instead",
            ),
            other => other.into(),
        })?;
    // A repeated registration within the cooldown keeps the code already sent.
    let resend_after = match s.send_code(&account).await? {
        Decision::Allowed => s.cfg.otp_resend_cooldown_secs,
        Decision::Limited { retry_after } => retry_after.as_secs().max(1),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            email: account.email.to_string(),
            otp_expires_in: s.cfg.otp_ttl_secs,
            resend_after,
        }),
    ))
}

/// `POST /api/auth/resend-otp`.
#[derive(Deserialize)]
pub struct ResendRequest {
    /// The address that registered.
    pub email: String,
}

async fn resend_otp(
    State(s): State<AppState>,
    ip: ClientIp,
    Json(req): Json<ResendRequest>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let s = &s.inner;
    s.limit(&format!("otp:ip:{}", ip.key()), s.cfg.verify_per_ip)
        .await?;
    let email = Email::parse(&req.email)?;
    let sent = CodeSent {
        email: email.to_string(),
        otp_expires_in: s.cfg.otp_ttl_secs,
        resend_after: s.cfg.otp_resend_cooldown_secs,
    };
    // Unknown and already-verified addresses get the same answer, and no mail.
    let Some(account) = s.store.account_by_email(&email).await? else {
        return Ok((StatusCode::ACCEPTED, Json(sent)));
    };
    if account.verified_at.is_some() {
        return Ok((StatusCode::ACCEPTED, Json(sent)));
    }
    match s.send_code(&account).await? {
        Decision::Allowed => Ok((StatusCode::ACCEPTED, Json(sent))),
        Decision::Limited { retry_after } => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "otp_cooldown",
            format!(
                "a code was sent moments ago; you can ask for another in {} s",
                retry_after.as_secs().max(1)
            ),
        )
        .with_retry_after(retry_after)),
    }
}

/// `POST /api/auth/verify`.
#[derive(Deserialize)]
pub struct VerifyRequest {
    /// The registered address.
    pub email: String,
    /// The six digits from the email.
    pub otp: String,
}

/// Tokens and the account, after verify or login.
#[derive(Serialize)]
pub struct LoggedIn {
    /// Access and refresh tokens.
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// The account.
    pub user: chatsync_core::ports::users::Me,
}

fn wrong_code(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::bad_request("otp_invalid", message)
}

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
    let account = s
        .store
        .account_by_email(&email)
        .await?
        .filter(|a| a.verified_at.is_none())
        .ok_or_else(|| wrong_code("no pending verification for this address"))?;
    let otp = s
        .store
        .otp(account.id)
        .await?
        .ok_or_else(|| wrong_code("no active code; request a new one"))?;
    if otp.expires_at <= Utc::now() {
        return Err(ApiError::bad_request(
            "otp_expired",
            "this code has expired; request a new one",
        ));
    }
    if !s.secrets.code_matches(account.id, code, &otp.code_hash) {
        let left = s.store.fail_otp(account.id, s.cfg.otp_max_attempts).await?;
        return Err(if left == 0 {
            ApiError::bad_request("otp_exhausted", "too many wrong codes; request a new one")
        } else {
            wrong_code(format!("wrong code; {left} attempt(s) left"))
        });
    }
    let now = Utc::now();
    let account = s
        .store
        .verify(account.id, now, &[profile_event(&account, now)])
        .await
        .map_err(|e| match e {
            StoreError::NotFound => wrong_code("this code was already used"),
            other => other.into(),
        })?;
    s.outbox_wake.notify_one();
    let _ = s.throttle.clear(&cooldown_key(&account.email)).await;
    let tokens = start_session(s, &account, ip, &headers).await?;
    Ok(Json(LoggedIn {
        tokens,
        user: (&account).into(),
    }))
}

/// The `user.upserted` event for the account as it is at `updated_at`.
pub(crate) fn profile_event(a: &Account, updated_at: chrono::DateTime<Utc>) -> OutboxMessage {
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

impl Inner {
    /// Sends a fresh code unless one went to this address within the cooldown.
    async fn send_code(&self, account: &Account) -> Result<Decision, ApiError> {
        let cooldown = Duration::from_secs(self.cfg.otp_resend_cooldown_secs);
        let decision = self
            .throttle
            .claim(&cooldown_key(&account.email), cooldown)
            .await?;
        if decision != Decision::Allowed {
            return Ok(decision);
        }
        let code = Secrets::new_code();
        let ttl = self.cfg.otp_ttl_secs;
        let otp = OtpRecord {
            user_id: account.id,
            code_hash: self.secrets.code_hash(account.id, &code),
            expires_at: Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(600)),
            failed_attempts: 0,
        };
        let mail = OutboxMessage::of(&SendMail {
            to: account.email.to_string(),
            to_name: account.display_name.clone(),
            template: MailTemplate::Otp {
                code,
                expires_in_minutes: ttl.div_ceil(60),
            },
        });
        if let Err(e) = self.store.put_otp(&otp, &mail).await {
            // Nothing was sent: let the user ask again at once.
            let _ = self.throttle.clear(&cooldown_key(&account.email)).await;
            return Err(e.into());
        }
        self.outbox_wake.notify_one();
        Ok(Decision::Allowed)
    }
}
