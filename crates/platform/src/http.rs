//! HTTP plumbing every service shares: the error shape of SPEC §6, a JSON extractor whose
//! rejections use it, bearer authentication against the session store, and the client address.

use crate::tokens::{AccessTokens, TokenError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chatsync_core::ids::{SessionId, UserId};
use chatsync_core::ports::bus::BusError;
use chatsync_core::ports::sessions::SessionStore;
use chatsync_core::ports::{StateError, StoreError};
use chatsync_core::validate::Invalid;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// An error answered to an HTTP client: `{"error":{"code","message"}}` with a status.
/// Codes are stable identifiers clients may branch on; messages are for people. A 5xx never
/// reveals its cause: that goes to the log.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    cause: Option<String>,
}

/// Result of a handler.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

impl ApiError {
    /// An error with any status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 with `code`.
    pub fn unauthorized(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 with `code`.
    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404 `not_found`: also what a caller gets for other people's data (SPEC §6).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 `validation_failed` naming the field at fault.
    pub fn invalid(e: Invalid) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            e.to_string(),
        )
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests; try again in {} s",
                retry_after.as_secs().max(1)
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503 `unavailable`: a backend is down; the client may retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backend service is unavailable; try again shortly",
        );
        e.cause = Some(cause.to_string());
        e.retry_after = Some(Duration::from_secs(2));
        e
    }

    /// 500 `internal`: a bug. The cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        );
        e.cause = Some(cause.to_string());
        e
    }

    /// Adds a `Retry-After` to any error.
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// The body of every error response, for clients and tests.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `{code, message}`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: String,
    /// For people.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), code = %self.code, cause = self.cause.as_deref().unwrap_or(""), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into_owned(),
                message: self.message.into_owned(),
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(d) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&d.as_secs().max(1).to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict(what) => Self::conflict("conflict", what.to_string()),
            // The cause, down to the driver's error, goes to the log; the client gets the
            // fixed message.
            StoreError::Unavailable { .. } => Self::unavailable(chatsync_core::error_chain(&e)),
            StoreError::Other { .. } => Self::internal(chatsync_core::error_chain(&e)),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Unavailable(_) => Self::unavailable(chatsync_core::error_chain(&e)),
            StateError::Other(_) => Self::internal(chatsync_core::error_chain(&e)),
        }
    }
}

impl From<BusError> for ApiError {
    fn from(e: BusError) -> Self {
        Self::unavailable(chatsync_core::error_chain(&e))
    }
}

/// A JSON body whose rejections answer in the SPEC §6 shape: malformed JSON is 400, a missing
/// or mistyped field 422, a wrong content type 415, an oversized body 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            // serde's message names the field: "missing field `email` at line 1 column 2".
            e.body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_owned(),
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("invalid_json", "the request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        ),
        other => ApiError::new(other.status(), "invalid_body", other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Checks bearer tokens: signature, expiry, and that the session still exists, on every
/// request, so a logout takes effect at once.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Arc<AccessTokens>,
    sessions: Arc<dyn SessionStore>,
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// No token was presented.
    #[error("missing bearer token")]
    Missing,
    /// Bad signature or format.
    #[error("invalid access token")]
    Invalid,
    /// Past its expiry: refresh it.
    #[error("access token expired")]
    Expired,
    /// The session was logged out or revoked.
    #[error("session revoked")]
    Revoked,
    /// The session store is unreachable.
    #[error(transparent)]
    Store(#[from] StateError),
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> Self {
        let code = match &e {
            AuthFailure::Missing => "unauthorized",
            AuthFailure::Invalid => "invalid_token",
            AuthFailure::Expired => "token_expired",
            AuthFailure::Revoked => "session_revoked",
            AuthFailure::Store(_) => {
                let AuthFailure::Store(s) = e else {
                    unreachable!()
                };
                return s.into();
            }
        };
        ApiError::unauthorized(code, e.to_string())
    }
}

impl Authenticator {
    /// Checks tokens signed by `tokens` against `sessions`.
    pub fn new(tokens: Arc<AccessTokens>, sessions: Arc<dyn SessionStore>) -> Self {
        Self { tokens, sessions }
    }

    /// The issuer, for services that mint tokens.
    pub fn tokens(&self) -> &Arc<AccessTokens> {
        &self.tokens
    }

    /// Authenticates a raw access token.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, AuthFailure> {
        let subject = self.tokens.verify(token).map_err(|e| match e {
            TokenError::Expired => AuthFailure::Expired,
            TokenError::Invalid => AuthFailure::Invalid,
        })?;
        match self.sessions.get(subject.session_id).await? {
            Some(s) if s.user_id == subject.user_id => Ok(AuthUser {
                user_id: subject.user_id,
                session_id: subject.session_id,
            }),
            _ => Err(AuthFailure::Revoked),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The user.
    pub user_id: UserId,
    /// Their session.
    pub session_id: SessionId,
}

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(AuthFailure::Missing)?;
        Ok(Authenticator::from_ref(state).authenticate(token).await?)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's address, as [`client_ip`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// A key part for rate limits.
    pub fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(None)))
    }
}

/// Which `X-Forwarded-For` hops are believed: those appended by a listed proxy.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    enabled: bool,
    nets: Vec<ipnet::IpNet>,
}

impl TrustedProxies {
    /// `X-Forwarded-For` read when `enabled`, from peers in `nets` only.
    pub fn new(enabled: bool, nets: Vec<ipnet::IpNet>) -> Self {
        Self { enabled, nets }
    }

    /// From the `http` settings. An unparseable `trusted_proxies` was refused at start-up
    /// (`Config::validate`); here it trusts nobody.
    pub fn from_config(cfg: &chatsync_core::config::HttpConfig) -> Self {
        Self::new(
            cfg.trust_forwarded_for,
            cfg.trusted_proxy_nets().unwrap_or_default(),
        )
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical(); // an IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` hop that is not one (every header line counts, in order). A client
    /// may write anything into the header, but only hops left of the last trusted proxy are
    /// its own, and those are never reached while an untrusted hop stands to their right.
    pub fn client(&self, peer: Option<IpAddr>, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.enabled || !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            // A hop that is not an address was written by someone untrusted: stop at the
            // trusted proxy that passed it on.
            match hop.parse::<IpAddr>() {
                Ok(ip) => client = ip.to_canonical(),
                Err(_) => break,
            }
        }
        Some(client)
    }
}

/// Middleware that records the client address in the request (see [`TrustedProxies::client`]).
pub async fn client_ip(proxies: Arc<TrustedProxies>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = proxies.client(peer, req.headers());
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// `404 not_found` for routes that do not exist.
pub async fn not_found_fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// `405 method_not_allowed` for a known route with the wrong method.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// The layers every public router gets, outermost first: a request id (the caller's, e.g. the
/// gateway's, if it sent a usable one; logged in the request's span, answered in the response
/// and carried onto the bus by the commands it causes, `RequestId`), a trace span per request,
/// metrics, a request timeout (so a stuck request cannot hold shutdown forever), a body limit
/// for JSON, the client's address.
///
/// One stack, applied with one `Router::layer`: axum wraps every route in a boxed service per
/// `layer` call, and a request clones the whole chain of boxes at each level it passes, so
/// eight separate calls cost a WebSocket handshake (one request per connect) about 190 boxed
/// clones instead of a handful (issue 10, twenty-second pass). Per route, not around the
/// router: the span and the metrics name the matched route.
pub fn standard_layers(
    router: axum::Router,
    cfg: &chatsync_core::config::HttpConfig,
) -> axum::Router {
    use tower::ServiceBuilder;
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;
    let proxies = Arc::new(TrustedProxies::from_config(cfg));
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(axum::middleware::from_fn(drop_unusable_request_id))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("", |p| p.as_str());
                    let request_id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("http", method = %req.method(), route, uri = %req.uri().path(), request_id)
                }),
            )
            .layer(axum::middleware::from_fn(crate::telemetry::http_metrics))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(cfg.request_timeout_secs.max(1)),
            ))
            .layer(axum::extract::DefaultBodyLimit::max(cfg.json_limit_bytes))
            .layer(axum::middleware::from_fn(move |req, next| {
                client_ip(proxies.clone(), req, next)
            })),
    )
}

/// The request id header.
pub const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// Whether a caller's request id is one we keep: short, and plain characters only (it goes
/// into logs and onto the bus).
pub fn usable_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Replaces a request id that is not [`usable_request_id`] with a fresh one.
async fn drop_unusable_request_id(mut req: axum::extract::Request, next: Next) -> Response {
    let bad = req
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|v| !v.to_str().is_ok_and(usable_request_id));
    if bad {
        let fresh = uuid::Uuid::now_v7().to_string();
        if let Ok(v) = axum::http::HeaderValue::from_str(&fresh) {
            req.headers_mut().insert(REQUEST_ID, v);
        }
    }
    next.run(req).await
}

/// The id of the request being handled (see [`standard_layers`]).
#[derive(Clone, Debug, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .filter(|v| usable_request_id(v))
                .map(str::to_owned),
        ))
    }
}

pub use crate::listener::serve;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn proxies(nets: &str) -> TrustedProxies {
        let cfg = chatsync_core::config::HttpConfig {
            trust_forwarded_for: true,
            trusted_proxies: nets.into(),
            ..Default::default()
        };
        TrustedProxies::from_config(&cfg)
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_vouches_past() {
        let p = proxies("127.0.0.0/8, 10.0.0.0/8");
        let lo = ip("127.0.0.1");
        // No header: the proxy itself.
        assert_eq!(p.client(lo, &HeaderMap::new()), lo);
        // What the client wrote sits left of what the proxies saw.
        let h = headers(&["6.6.6.6, 198.51.100.1"]);
        assert_eq!(p.client(lo, &h), ip("198.51.100.1"));
        // Chained trusted proxies, on several header lines.
        let h = headers(&["6.6.6.6", "198.51.100.1, 10.0.0.5", "10.0.0.6"]);
        assert_eq!(p.client(lo, &h), ip("198.51.100.1"));
        // Only trusted hops: the left-most of them.
        let h = headers(&["10.0.0.9, 10.0.0.5"]);
        assert_eq!(p.client(lo, &h), ip("10.0.0.9"));
        // Garbage stops the walk at the proxy that passed it on.
        let h = headers(&["not-an-address, 10.0.0.5"]);
        assert_eq!(p.client(lo, &h), ip("10.0.0.5"));
        // An untrusted peer's header is ignored.
        let h = headers(&["198.51.100.1"]);
        assert_eq!(p.client(ip("203.0.113.4"), &h), ip("203.0.113.4"));
        // IPv4 peers on a dual-stack socket are matched as IPv4.
        assert_eq!(
            p.client(ip("::ffff:127.0.0.1"), &headers(&["198.51.100.2"])),
            ip("198.51.100.2")
        );
    }

    #[test]
    fn the_header_is_ignored_unless_forwarding_is_trusted() {
        let cfg = chatsync_core::config::HttpConfig::default(); // trust_forwarded_for off
        let p = TrustedProxies::from_config(&cfg);
        let lo = ip("127.0.0.1");
        assert_eq!(p.client(lo, &headers(&["198.51.100.1"])), lo);
    }

    /// A store failure answers with the fixed message; the log gets the whole chain, down to
    /// the driver's words.
    #[test]
    fn store_errors_log_their_cause_and_tell_the_client_nothing() {
        let driver = std::io::Error::other("connection reset by peer at 10.0.0.7");
        let e = ApiError::from(StoreError::unavailable("no connection", driver));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "unavailable");
        assert!(!e.message().contains("10.0.0.7"));
        assert_eq!(
            e.cause.as_deref(),
            Some("database unavailable: no connection: connection reset by peer at 10.0.0.7")
        );

        let e = ApiError::from(StoreError::other(
            "query failed",
            std::io::Error::other("x"),
        ));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message(), "internal error");
        assert_eq!(e.cause.as_deref(), Some("database error: query failed: x"));

        let e = ApiError::from(StoreError::Conflict(
            chatsync_core::ports::Conflict::EmailTaken,
        ));
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "conflict"));
    }
}
