//! The fetcher against a local HTTP server: previews, images, and every limit.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use chatsync_link_preview::{Fetcher, Limits, PreviewError};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use url::Url;

const PAGE: &str = r#"<!doctype html><html><head>
<title>Fallback</title>
<meta property="og:title" content="A page worth sharing">
<meta property="og:description" content="What it is about.">
<meta property="og:image" content="/cover.png">
</head><body>hello</body></html>"#;

async fn server() -> SocketAddr {
    chatsync_core::install_crypto_provider();
    let app = Router::new()
        .route(
            "/page",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/cover.png",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    vec![0x89u8, b'P', b'N', b'G'],
                )
            }),
        )
        .route(
            "/big",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "x".repeat(2 * 1024 * 1024),
                )
            }),
        )
        .route(
            "/text",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "just text") }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/to-page", get(|| async { Redirect::temporary("/page") }))
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-ipv6-loopback",
            get(|| async { Redirect::temporary("http://[::1]/page") }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/to-file",
            get(|| async { Redirect::temporary("file:///etc/passwd").into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn local() -> Limits {
    Limits {
        allow: vec![IpAddr::from([127, 0, 0, 1])],
        ..Limits::default()
    }
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn a_page_gives_its_open_graph_preview_and_image() {
    let addr = server().await;
    let f = Fetcher::new(local()).unwrap();
    let p = f.preview(&url(addr, "/to-page")).await.unwrap();
    assert_eq!(p.title.as_deref(), Some("A page worth sharing"));
    assert_eq!(p.description.as_deref(), Some("What it is about."));
    assert_eq!(
        p.site_name.as_deref(),
        Some("127.0.0.1"),
        "the host when the page names none"
    );
    let image = p.image_url.unwrap();
    assert_eq!(image, url(addr, "/cover.png"));
    let img = f.image(&image).await.unwrap();
    assert_eq!(img.content_type, "image/png");
    assert_eq!(&img.bytes[..], b"\x89PNG");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_listed() {
    let addr = server().await;
    let strict = Fetcher::new(Limits::default()).unwrap();
    assert!(matches!(
        strict.preview(&url(addr, "/page")).await,
        Err(PreviewError::Refused)
    ));
    // A name resolving to loopback is refused after resolution, as the literal is.
    let by_name = Url::parse(&format!("http://localhost:{}/page", addr.port())).unwrap();
    assert!(matches!(
        strict.preview(&by_name).await,
        Err(PreviewError::Refused)
    ));
}

#[tokio::test]
async fn redirects_are_checked_at_every_hop() {
    let addr = server().await;
    let f = Fetcher::new(local()).unwrap();
    for path in ["/to-metadata", "/to-ipv6-loopback"] {
        let r = f.preview(&url(addr, path)).await;
        assert!(matches!(r, Err(PreviewError::Refused)), "{path}: {r:?}");
    }
    // reqwest does not follow a redirect to another scheme: the 307 itself is the answer.
    let r = f.preview(&url(addr, "/to-file")).await;
    assert!(
        matches!(r, Err(PreviewError::NotHttp | PreviewError::Status(307))),
        "{r:?}"
    );
    assert!(matches!(
        f.preview(&url(addr, "/loop")).await,
        Err(PreviewError::TooManyRedirects)
    ));
}

#[tokio::test]
async fn size_time_type_and_status_limits_hold() {
    let addr = server().await;
    let f = Fetcher::new(Limits {
        timeout: Duration::from_millis(500),
        ..local()
    })
    .unwrap();
    assert!(matches!(
        f.preview(&url(addr, "/big")).await,
        Err(PreviewError::TooLarge(_))
    ));
    assert!(matches!(
        f.preview(&url(addr, "/slow")).await,
        Err(PreviewError::Timeout)
    ));
    assert!(matches!(
        f.preview(&url(addr, "/text")).await,
        Err(PreviewError::ContentType(_))
    ));
    assert!(matches!(
        f.preview(&url(addr, "/missing")).await,
        Err(PreviewError::Status(404))
    ));
    assert!(matches!(
        f.image(&url(addr, "/page")).await,
        Err(PreviewError::ContentType(_))
    ));
}
