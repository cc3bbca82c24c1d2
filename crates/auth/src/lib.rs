//! The user service (SPEC §2): accounts, email verification with one-time codes, access and
//! refresh tokens, sessions, profiles and user search.
//!
//! It owns the `account`, `otp` and `user_outbox` tables (through [`UserStore`]) and publishes
//! `mail.send` and `user.upserted` through its outbox, and `session.revoked` directly.
//!
//! # Layout
//! - [`accounts`]: register, verify, resend a code.
//! - [`sessions`]: login, refresh, logout, session list and revoke.
//! - [`profiles`]: me, profile edits, search, public profiles.
//! - `secrets`: password hashing and OTP codes.
//! - `fuzzing` (feature `fuzzing`, for `fuzz/` only): the body checks, reachable from outside.
//!
//! Depends only on `chatsync-core`.
#![warn(missing_docs)]

pub mod accounts;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod profiles;
mod secrets;
pub mod sessions;

use axum::Router;
use axum::extract::FromRef;
use chatsync_core::config::{AuthConfig, RateLimit};
use chatsync_core::ports::outbox::OutboxStore;
use chatsync_core::ports::throttle::Decision;
use chatsync_core::ports::{EventBus, HealthCheck, SessionStore, Throttle, UserStore};
use chatsync_platform::http::{ApiError, Authenticator};
use chatsync_platform::tokens::AccessTokens;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// The adapters the user service runs on.
#[derive(Clone)]
pub struct AuthDeps {
    /// Accounts and OTPs.
    pub store: Arc<dyn UserStore>,
    /// The same database's outbox.
    pub outbox: Arc<dyn OutboxStore>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Rate limits and cooldowns.
    pub throttle: Arc<dyn Throttle>,
    /// Where events go.
    pub bus: Arc<dyn EventBus>,
    /// What `/readyz` checks.
    pub health: Vec<Arc<dyn HealthCheck>>,
}

/// The user service.
#[derive(Clone)]
pub struct AuthService {
    state: AppState,
    health: Vec<Arc<dyn HealthCheck>>,
    outbox: Arc<dyn OutboxStore>,
}

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: AuthConfig,
    pub(crate) store: Arc<dyn UserStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) throttle: Arc<dyn Throttle>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) auth: Authenticator,
    pub(crate) secrets: secrets::Secrets,
    /// Notified after each outbox write so the relay publishes at once.
    pub(crate) outbox_wake: Arc<Notify>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(s: &AppState) -> Self {
        s.inner.auth.clone()
    }
}

impl AuthService {
    /// Builds the service. `signing_secret` signs access tokens and keys OTP hashes.
    pub fn new(cfg: AuthConfig, signing_secret: &[u8], deps: AuthDeps) -> Self {
        let tokens = Arc::new(AccessTokens::new(signing_secret, cfg.access_ttl_secs));
        let auth = Authenticator::new(tokens, deps.sessions.clone());
        Self {
            state: AppState {
                inner: Arc::new(Inner {
                    secrets: secrets::Secrets::new(signing_secret),
                    cfg,
                    store: deps.store,
                    sessions: deps.sessions,
                    throttle: deps.throttle,
                    bus: deps.bus.clone(),
                    auth,
                    outbox_wake: Arc::new(Notify::new()),
                }),
            },
            health: deps.health,
            outbox: deps.outbox,
        }
    }

    /// The service's API routes (no operational endpoints, no outer layers): mounted by the
    /// gateway in a single process, and used by `run`.
    pub fn router(&self) -> Router {
        routes().with_state(self.state.clone()).into()
    }

    /// The service's REST API as an OpenAPI document (paths and schemas), which the server
    /// merges into `/api/openapi.json`.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        routes().into_openapi()
    }

    /// Writes the TypeScript types of the service's REST bodies into `cfg`'s directory.
    pub fn export_types(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
        use ts_rs::TS;
        accounts::RegisterRequest::export_all(cfg)?;
        accounts::ResendRequest::export_all(cfg)?;
        accounts::VerifyRequest::export_all(cfg)?;
        accounts::CodeSent::export_all(cfg)?;
        sessions::LoginRequest::export_all(cfg)?;
        sessions::RefreshRequest::export_all(cfg)?;
        sessions::LoggedIn::export_all(cfg)?;
        sessions::TokenPair::export_all(cfg)?;
        sessions::SessionView::export_all(cfg)?;
        profiles::UpdateMe::export_all(cfg)?;
        profiles::UserSearchPage::export_all(cfg)?;
        Ok(())
    }

    /// The public profile of a verified user, for the chat service in the same process (the
    /// in-process form of `GET /api/users/{id}`).
    pub async fn public_profile(
        &self,
        id: chatsync_core::UserId,
    ) -> Result<Option<chatsync_core::ports::chat::Profile>, chatsync_core::ports::StoreError> {
        Ok(self
            .state
            .inner
            .store
            .account_by_id(id)
            .await?
            .filter(|a| a.verified_at.is_some())
            .map(|a| chatsync_core::ports::chat::Profile {
                id: a.id,
                display_name: a.display_name,
                avatar_url: a.avatar_url,
                updated_at: a.updated_at,
            }))
    }

    /// What `/readyz` checks for this service.
    pub fn health_checks(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.health.clone()
    }

    /// Publishes outbox events until `shutdown`. Runs wherever the service runs.
    pub async fn run_outbox_relay(&self, shutdown: CancellationToken) {
        chatsync_core::outbox::run_relay(
            self.outbox.clone(),
            self.state.inner.bus.clone(),
            self.state.inner.outbox_wake.clone(),
            shutdown,
        )
        .await;
    }
}

impl Inner {
    /// Applies a rate limit; `Err(429)` when exceeded.
    pub(crate) async fn limit(&self, key: &str, rule: RateLimit) -> Result<(), ApiError> {
        match self
            .throttle
            .hit(key, rule.limit, Duration::from_secs(rule.window_secs))
            .await?
        {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => Err(ApiError::rate_limited(retry_after)),
        }
    }
}

/// Every route of the service with its OpenAPI description, before the state is supplied.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::routes())
        .merge(sessions::routes())
        .merge(profiles::routes())
}
