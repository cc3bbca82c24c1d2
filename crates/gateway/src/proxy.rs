//! Forwarding to services in other processes, WebSocket upgrades included.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chatsync_core::http::{ApiError, ClientIp};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;

/// Base URLs (`http://host:port`) of the services.
#[derive(Clone, Debug)]
pub struct Remote {
    /// User service.
    pub user: String,
    /// Chat service (REST and Socket.IO).
    pub chat: Option<String>,
    /// Mail service (dev outbox).
    pub mail: Option<String>,
}

#[derive(Clone)]
struct ProxyState {
    remote: Arc<Remote>,
    client: Client<HttpConnector, Body>,
}

/// `/api/...` and `/socket.io/`, forwarded by path to the service that owns it.
pub(crate) fn router(remote: Remote) -> Router {
    let client = Client::builder(TokioExecutor::new()).build_http();
    Router::new()
        .route("/api/{*rest}", axum::routing::any(forward))
        .route("/socket.io/", axum::routing::any(forward))
        .with_state(ProxyState {
            remote: Arc::new(remote),
            client,
        })
}

fn upstream_for<'a>(remote: &'a Remote, path: &str) -> Option<&'a str> {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("api"), Some("auth" | "users" | "sessions")) => Some(&remote.user),
        (Some("api"), Some("dev")) => remote.mail.as_deref(),
        _ => remote.chat.as_deref(),
    }
}

async fn forward(State(s): State<ProxyState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(base) = upstream_for(&s.remote, &path) else {
        return ApiError::not_found("endpoint").into_response();
    };
    let base = base.to_owned();
    send(&s, req, &base, &path).await
}

const HOP_BY_HOP: &[header::HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

async fn send(s: &ProxyState, mut req: Request, base: &str, path: &str) -> Response {
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let Ok(uri) = format!("{base}{path}{query}").parse::<Uri>() else {
        return ApiError::internal("bad upstream url").into_response();
    };
    let client_ip = req.extensions().get::<ClientIp>().and_then(|c| c.0);
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade
        .then(|| req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    if !upgrade {
        for h in HOP_BY_HOP {
            headers.remove(h);
        }
    }
    if let Some(ip) = client_ip
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        headers.append("x-forwarded-for", v);
    }
    let mut res = match s.client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, upstream = base, "upstream unreachable");
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "the service behind this endpoint is not reachable",
            )
            .into_response();
        }
    };
    if res.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut res);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade through proxy failed"),
            }
        });
    }
    res.map(Body::new)
}
