//! The gateway: ChatSync's one public port (SPEC §1). It serves the built web app, routes
//! `/api/...` and `/socket.io/` to the services, and puts the browser-facing protections on
//! every response: a strict Content-Security-Policy and the usual security headers, and CORS
//! for configured origins only.
//!
//! In one process the services' routers are mounted directly ([`Upstream::InProcess`]); when
//! the gateway runs alone it forwards requests, WebSocket upgrades included, to the services'
//! base URLs ([`Upstream::Remote`]).
//!
//! Depends only on `chatsync-core`.
#![warn(missing_docs)]

mod balance;
mod proxy;
mod web;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use chatsync_core::config::{Config, HttpConfig};
use chatsync_core::ports::HealthCheck;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub use proxy::Remote;

/// Where API requests go.
pub enum Upstream {
    /// The services' routers, in this process.
    InProcess(Router),
    /// The services elsewhere.
    Remote(Remote),
}

/// The gateway.
pub struct Gateway {
    http: HttpConfig,
    cors_origins: Vec<String>,
    web_dir: PathBuf,
    upstream: Upstream,
    health: Vec<Arc<dyn HealthCheck>>,
    docs: Option<Router>,
}

/// The Content-Security-Policy of every response. Scripts, styles and connections only from
/// this origin (WebSocket included); images and media also from `blob:`/`data:` for previews.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

impl Gateway {
    /// A gateway in front of `upstream`.
    pub fn new(cfg: &Config, upstream: Upstream, health: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self {
            http: cfg.http.clone(),
            cors_origins: cfg.cors_origins(),
            web_dir: cfg.http.web_dir.clone(),
            upstream,
            health,
            docs: None,
        }
    }

    /// Serves `docs` (the API description: `/api/openapi.json` and its page) from the gateway
    /// itself, ahead of the upstreams.
    pub fn with_api_docs(mut self, docs: Router) -> Self {
        self.docs = Some(docs);
        self
    }

    /// The whole public app: API, operational endpoints, web app, protections.
    /// `/socket.io/` is added by the caller as a layer (in process) or proxied (remote).
    pub fn router(self) -> Router {
        let mut health = self.health;
        let api = match self.upstream {
            // Unknown `/api/...` paths answer JSON 404s instead of the web app's index page.
            Upstream::InProcess(r) => r.route(
                "/api/{*rest}",
                axum::routing::any(chatsync_platform::http::not_found_fallback),
            ),
            Upstream::Remote(remote) => {
                health.extend(balance::upstream_checks(&remote));
                proxy::router(remote)
            }
        };
        let app = Router::new()
            .merge(chatsync_platform::telemetry::ops_router(health, &self.http))
            .merge(self.docs.unwrap_or_default())
            .merge(api)
            .method_not_allowed_fallback(chatsync_platform::http::method_not_allowed_fallback)
            .fallback_service(web::service(&self.web_dir));
        let app = chatsync_platform::http::standard_layers(app, &self.http);
        with_protections(app, &self.cors_origins)
    }
}

/// Security headers on every response, and CORS for the configured origins.
pub fn with_protections(app: Router, cors_origins: &[String]) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // One stack, one `Router::layer` (see `standard_layers` for why: every call is another
    // boxed service per route, cloned at each level a request passes).
    let app = app.layer(
        tower::ServiceBuilder::new()
            .layer(set(
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ))
            .layer(set(
                HeaderName::from_static("permissions-policy"),
                "camera=(), microphone=(), geolocation=()",
            ))
            .layer(set(header::REFERRER_POLICY, "no-referrer"))
            .layer(set(header::X_FRAME_OPTIONS, "DENY"))
            .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(set(
                header::CONTENT_SECURITY_POLICY,
                CONTENT_SECURITY_POLICY,
            )),
    );
    if cors_origins.is_empty() {
        return app;
    }
    let origins: Vec<HeaderValue> = cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    app.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
