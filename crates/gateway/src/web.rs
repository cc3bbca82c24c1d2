//! The built web app: hashed assets cached for a year, every other path answered with
//! `index.html` so client-side routes survive a reload.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Html;
use axum::routing::get;
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>ChatSync</title>\
<p>ChatSync's API is running, but the web app has not been built. Run <code>scripts/run.sh</code> \
(or <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>) and reload.</p>";

pub(crate) fn service(dir: &Path) -> Router {
    let index = dir.join("index.html");
    if !index.exists() {
        tracing::warn!(dir = %dir.display(), "web app not built; serving a placeholder page");
        return Router::new().fallback(get(|| async { Html(NOT_BUILT) }));
    }
    let assets = ServeDir::new(dir.join("assets"));
    Router::new()
        .nest_service(
            "/assets",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ))
                .service(assets),
        )
        .fallback_service(
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ))
                .service(ServeDir::new(dir).fallback(ServeFile::new(index))),
        )
}
