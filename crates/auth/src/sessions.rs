//! Login, token refresh with rotation and reuse detection, logout, and the session list
//! (SPEC §2.4–2.6).

use crate::{AppState, Inner};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use chatsync_core::SessionId;
use chatsync_core::events::{Event, SessionRevoked};
use chatsync_core::ports::sessions::{Rotation, Session};
use chatsync_core::ports::throttle::Decision;
use chatsync_core::ports::users::Account;
use chatsync_core::validate::Email;
use chatsync_platform::http::{ApiError, ApiResult, AuthUser, ClientIp, Json};
use chatsync_platform::tokens::{TokenSubject, new_refresh_token, parse_refresh_token};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

/// Tokens and the account, after verify or login.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct LoggedIn {
    /// Access and refresh tokens.
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// The account.
    pub user: chatsync_core::ports::users::Me,
}

/// An access token and a refresh token.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; exchange at `/api/auth/refresh`. Each use returns a new one.
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session both tokens belong to.
    pub session_id: SessionId,
}

fn tokens_for(s: &Inner, user: &Session, refresh: String) -> TokenPair {
    let tokens = s.auth.tokens();
    TokenPair {
        access_token: tokens.issue(
            TokenSubject {
                user_id: user.user_id,
                session_id: user.id,
            },
            Utc::now(),
        ),
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: tokens.ttl_secs(),
        session_id: user.id,
    }
}

fn refresh_expiry(s: &Inner, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::seconds(i64::try_from(s.cfg.refresh_ttl_secs).unwrap_or(i64::MAX / 4))
}

/// Opens a session for `account` and returns its tokens.
pub(crate) async fn start_session(
    s: &Inner,
    account: &Account,
    ip: ClientIp,
    headers: &HeaderMap,
) -> Result<TokenPair, ApiError> {
    let id = SessionId::new();
    let refresh = new_refresh_token(id);
    let now = Utc::now();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect());
    let session = Session {
        id,
        user_id: account.id,
        refresh_hash: refresh.hash,
        created_at: now,
        last_used_at: now,
        expires_at: refresh_expiry(s, now),
        user_agent,
        ip: ip.0.map(|i| i.to_string()),
    };
    s.sessions.create(&session).await?;
    Ok(tokens_for(s, &session, refresh.token))
}

/// `POST /api/auth/login`.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct LoginRequest {
    /// Address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Logs in with address and password: a new session (one per device) and its tokens.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoggedIn)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoggedIn>> {
    let s = &state.inner;
    s.limit(&format!("login:ip:{}", ip.key()), s.cfg.login_per_ip)
        .await?;
    let invalid = || ApiError::unauthorized("invalid_credentials", "wrong email or password");
    let Ok(email) = Email::parse(&req.email) else {
        return Err(invalid());
    };
    s.limit_login(&email, ip).await?;
    let account = s.store.account_by_email(&email).await?;
    if let Some(account) = account.filter(|a| a.verified_at.is_some()) {
        if !s
            .secrets
            .verify_password(req.password, Some(account.password_hash.clone()))
            .await?
        {
            return Err(invalid());
        }
        let tokens = start_session(s, &account, ip, &headers).await?;
        return Ok(Json(LoggedIn {
            tokens,
            user: (&account).into(),
        }));
    }
    // Unknown or pending. A pending address says `unverified` only to someone who knows a
    // password registered for it; to anyone else it answers as an unknown one does.
    let pending = s.store.registrations(&email, Utc::now()).await?;
    let hashes = pending.into_iter().map(|r| r.password_hash).collect();
    if s.secrets.verify_password_any(req.password, hashes).await? {
        return Err(ApiError::forbidden(
            "unverified",
            "verify your email address first; we can send a new code",
        ));
    }
    Err(invalid())
}

/// `POST /api/auth/refresh`.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct RefreshRequest {
    /// The latest refresh token.
    pub refresh_token: String,
}

/// Exchanges a refresh token for new tokens (the old refresh token stops working).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(()), request_body = RefreshRequest,
    responses((status = 200, body = TokenPair)))]
async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let s = &state.inner;
    s.limit(&format!("refresh:ip:{}", ip.key()), s.cfg.refresh_per_ip)
        .await?;
    let invalid = || ApiError::unauthorized("invalid_token", "invalid or expired refresh token");
    let (sid, presented) = parse_refresh_token(req.refresh_token.trim()).ok_or_else(invalid)?;
    let next = new_refresh_token(sid);
    let now = Utc::now();
    match s
        .sessions
        .rotate(sid, &presented, &next.hash, now, refresh_expiry(s, now))
        .await?
    {
        Rotation::Rotated(session) => Ok(Json(tokens_for(s, &session, next.token))),
        Rotation::Reused(session) => {
            tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reused; session revoked");
            s.announce_revoked(&session).await;
            Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been ended for safety",
            ))
        }
        // A secret never issued for this session leaves it alone: only the real holder of an
        // old secret can prove a replay.
        Rotation::Unrecognized | Rotation::Missing => Err(invalid()),
    }
}

/// Ends the session of the access token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204, description = "Ended.")))]
async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<StatusCode> {
    let s = &state.inner;
    if let Some(session) = s.sessions.revoke(user.session_id).await? {
        s.announce_revoked(&session).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A session as listed to its owner.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct SessionView {
    /// Id.
    pub id: SessionId,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_used_at: DateTime<Utc>,
    /// End unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Browser or app.
    pub user_agent: Option<String>,
    /// Address at login.
    pub ip: Option<String>,
    /// The session making this request.
    pub current: bool,
}

/// My sessions (one per device that logged in).
#[utoipa::path(get, path = "/api/sessions", tag = "auth", responses((status = 200, body = Vec<SessionView>)))]
async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<SessionView>>> {
    let sessions = state.inner.sessions.list(user.user_id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == user.session_id,
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    ))
}

/// Ends one of my sessions.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "auth",
    params(("id" = SessionId, Path, description = "The session.")),
    responses((status = 204, description = "Ended.")))]
async fn revoke_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = &state.inner;
    let not_found = || ApiError::not_found("session");
    let id: SessionId = id.parse().map_err(|_| not_found())?;
    // Check ownership before revoking: other users' sessions are "not found".
    match s.sessions.get(id).await? {
        Some(session) if session.user_id == user.user_id => {
            if let Some(session) = s.sessions.revoke(id).await? {
                s.announce_revoked(&session).await;
            }
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(not_found()),
    }
}

impl Inner {
    /// The per-account login limits (SPEC §6), shaped so that a stranger cannot lock the
    /// owner out by failing on purpose:
    /// - per account *and* client address (`login_per_account_ip`): the stranger's address is
    ///   refused for that account, the owner's addresses are not;
    /// - per account from every address (`login_per_account`): past it the account is under
    ///   a spread-out attack, and each address gets only `login_slow_per_ip` tries on it. That
    ///   bounds guessing from many addresses, while the owner still gets in with the right
    ///   password, slowly, instead of being refused.
    ///
    /// All are counted before the password is checked, so a refused guess costs no hashing,
    /// and keyed by the address as typed, so unknown and known accounts behave alike.
    async fn limit_login(&self, email: &Email, ip: ClientIp) -> Result<(), ApiError> {
        let from = ip.key();
        self.limit(
            &format!("login:account_ip:{email}:{from}"),
            self.cfg.login_per_account_ip,
        )
        .await?;
        let all = self.cfg.login_per_account;
        match self
            .throttle
            .hit(
                &format!("login:account:{email}"),
                all.limit,
                std::time::Duration::from_secs(all.window_secs),
            )
            .await?
        {
            Decision::Allowed => Ok(()),
            Decision::Limited { .. } => {
                self.limit(
                    &format!("login:slow:{email}:{from}"),
                    self.cfg.login_slow_per_ip,
                )
                .await
            }
        }
    }

    /// Tells chat nodes to close the session's sockets. The session is already gone from the
    /// store, so REST calls fail even if this event is lost; chat nodes also re-check their
    /// sockets' sessions periodically.
    pub(crate) async fn announce_revoked(&self, session: &Session) {
        let event = SessionRevoked {
            session_id: session.id,
            user_id: session.user_id,
        };
        let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        if let Err(e) = self.bus.publish(SessionRevoked::TOPIC, payload).await {
            tracing::warn!(error = %chatsync_core::error_chain(&e), "could not announce a revoked session");
        }
    }
}
