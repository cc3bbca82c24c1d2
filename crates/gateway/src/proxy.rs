//! Forwarding to services in other processes, WebSocket upgrades included.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chatsync_platform::http::{ApiError, ClientIp};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;

use crate::balance::{self, ChatNodes};

/// Base URLs (`http://host:port`) of the services.
#[derive(Clone, Debug)]
pub struct Remote {
    /// User service.
    pub user: String,
    /// Chat nodes (REST and Socket.IO), balanced (see `balance`).
    pub chat: Vec<String>,
    /// Mail service (dev outbox).
    pub mail: Option<String>,
}

impl Remote {
    /// Checks every URL is `http://host[:port]` with nothing after it: a wrong one is a
    /// configuration error at start, not a 502 on every request later.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, u: &str| -> Result<(), String> {
            let bad = || {
                format!(
                    "{name} must be a base URL like http://10.0.0.5:3002 (plain HTTP, no path), got {u:?}"
                )
            };
            let url = url::Url::parse(u).map_err(|_| bad())?;
            let bare = url.path().trim_end_matches('/').is_empty()
                && url.query().is_none()
                && url.username().is_empty();
            if url.scheme() != "http" || url.host_str().is_none() || !bare {
                return Err(bad());
            }
            Ok(())
        };
        check("USER_SERVICE_URL", &self.user)?;
        for c in &self.chat {
            check("each CHAT_SERVICE_URL entry", c)?;
        }
        if let Some(m) = &self.mail {
            check("MAIL_SERVICE_URL", m)?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct ProxyState {
    remote: Arc<Remote>,
    chat: Arc<ChatNodes>,
    client: Client<HttpConnector, Body>,
}

/// `/api/...` and `/socket.io/`, forwarded by path to the service that owns it.
pub(crate) fn router(remote: Remote) -> Router {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let chat = ChatNodes::new(&remote.chat);
    chat.probe_in_background();
    Router::new()
        .route("/api/{*rest}", axum::routing::any(forward))
        .route("/socket.io/", axum::routing::any(socket_io))
        .with_state(ProxyState {
            remote: Arc::new(remote),
            chat,
            client,
        })
}

enum Upstream<'a> {
    Fixed(&'a str),
    Chat,
}

fn upstream_for<'a>(remote: &'a Remote, path: &str) -> Option<Upstream<'a>> {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("api"), Some("auth" | "users" | "sessions")) => Some(Upstream::Fixed(&remote.user)),
        (Some("api"), Some("dev")) => remote.mail.as_deref().map(Upstream::Fixed),
        _ => Some(Upstream::Chat),
    }
}

async fn forward(State(s): State<ProxyState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let base = match upstream_for(&s.remote, &path) {
        Some(Upstream::Fixed(base)) => base.to_owned(),
        Some(Upstream::Chat) => match s.chat.pick() {
            Some(i) => s.chat.nodes()[i].base.clone(),
            None => return ApiError::not_found("endpoint").into_response(),
        },
        None => return ApiError::not_found("endpoint").into_response(),
    };
    send(&s, req, &base, &path, query.as_deref()).await
}

/// Engine.IO's answer to a session it does not know: the client starts a new session.
fn unknown_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"code":1,"message":"Session ID unknown"}"#,
    )
        .into_response()
}

/// `/socket.io/`: a request of an existing session goes to the node its `sid` names (with the
/// node's own id); a new session goes to the node [`ChatNodes::pick`] chooses, and a polling
/// handshake's answer gets the node written into its `sid`.
async fn socket_io(State(s): State<ProxyState>, mut req: Request) -> Response {
    let query = req.uri().query().unwrap_or("").to_owned();
    let mut sid = None;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            if k == "sid" {
                sid = Some(v.to_string());
            }
            (k.into_owned(), v.into_owned())
        })
        .collect();
    let (node, query) = match sid {
        Some(tagged) => {
            let Some((node, own)) =
                balance::untag(&tagged).filter(|(n, _)| s.chat.node(*n).is_some())
            else {
                return unknown_session();
            };
            let rewritten: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| {
                    if k == "sid" {
                        (k.as_str(), own)
                    } else {
                        (k.as_str(), v.as_str())
                    }
                }))
                .finish();
            (node, rewritten)
        }
        None => match s.chat.pick() {
            Some(node) => {
                // The handshake's answer is rewritten: ask for it uncompressed.
                req.headers_mut().remove(header::ACCEPT_ENCODING);
                (node, query)
            }
            None => return ApiError::not_found("endpoint").into_response(),
        },
    };
    let handshake = !pairs.iter().any(|(k, _)| k == "sid");
    let base = s.chat.nodes()[node].base.clone();
    let res = send(&s, req, &base, "/socket.io/", Some(&query)).await;
    if handshake && res.status() == StatusCode::OK && s.chat.nodes().len() > 1 {
        return tag_handshake_response(res, node).await;
    }
    res
}

async fn tag_handshake_response(res: Response, node: usize) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            "the chat node's answer could not be read",
        )
        .into_response();
    };
    let body = match balance::tag_handshake(&bytes, node) {
        Some(tagged) => tagged,
        None => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

const HOP_BY_HOP: &[header::HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

async fn send(
    s: &ProxyState,
    mut req: Request,
    base: &str,
    path: &str,
    query: Option<&str>,
) -> Response {
    let query = query
        .filter(|q| !q.is_empty())
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
    // The services learn the client's address from this header, so it says what the gateway
    // found (`ClientIp`: the peer, or a trusted proxy's word), and nothing the client wrote.
    headers.remove("x-forwarded-for");
    if let Some(ip) = client_ip
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", v);
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
