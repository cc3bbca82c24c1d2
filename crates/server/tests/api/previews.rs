//! Link previews (issue 11, item 4): the first link of a message gets a preview read from the
//! page's meta tags, its image copied into media storage, delivered with `message:updated`;
//! the sender can remove it; a redirect to a private address gets nothing; an edit that changes
//! the link changes the preview. Against a local HTTP
//! server the test starts (allowed by `chat.link_preview_allow`, a setting for tests only), on
//! the embedded backends and on PostgreSQL + RabbitMQ + Redis.

use axum::Router;
use axum::http::header;
use axum::response::Redirect;
use axum::routing::get;
use chatsync_testkit::{Backends, Sock, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const PAGE: &str = r#"<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="Launch notes">
<meta property="og:description" content="Everything that shipped this week.">
<meta property="og:site_name" content="Example Blog">
<meta property="og:image" content="/cover.png">
</head><body>hello</body></html>"#;

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 12, image::Rgb([200, 40, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn site() -> SocketAddr {
    let app = Router::new()
        .route(
            "/page",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/page2",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    PAGE.replace("Launch notes", "Second page"),
                )
            }),
        )
        .route(
            "/cover.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png()) }),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-private",
            get(|| async { Redirect::temporary("http://10.1.2.3/page") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Ann and Bob in a direct conversation, Bob's socket open, and a site to link to that the
/// chat service may read.
struct Fx {
    site: SocketAddr,
    app: TestApp,
    ann: TestUser,
    bob: TestUser,
    conv: String,
    bob_sock: Sock,
}

impl Fx {
    async fn new(b: Backends) -> Self {
        let site = site().await;
        let app = TestApp::spawn_with(b, |c| {
            c.chat.link_preview_allow = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
        let ann = app.signup("Ann").await;
        let bob = app.signup("Bob").await;
        let conv = app.direct(&ann, &bob).await;
        let bob_sock = app.socket(&bob).await;
        Self {
            site,
            app,
            ann,
            bob,
            conv,
            bob_sock,
        }
    }
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_link_gets_a_preview_with_a_copied_image(#[case] b: Backends) {
    let Fx {
        site,
        app,
        ann,
        bob,
        conv,
        mut bob_sock,
    } = Fx::new(b).await;

    let send = |client_id: &'static str, body: String| {
        let app = &app;
        let token = ann.access.clone();
        let conv = conv.clone();
        async move {
            let r = app
                .call(
                    Method::POST,
                    &format!("/api/conversations/{conv}/messages"),
                    Some(&token),
                    Some(json!({"client_id": client_id, "body": body})),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.body
        }
    };

    // Stored and acked at once, without a preview; the preview follows.
    let m = send(
        "p1",
        format!("read this: http://{site}/page, then http://{site}/other"),
    )
    .await;
    assert_eq!(m["preview"], Value::Null);
    let id = m["id"].as_str().unwrap().to_owned();
    let updated = bob_sock
        .event_where("message:updated", |e| e["id"] == id.as_str())
        .await;
    let p = &updated["preview"];
    assert_eq!(
        p["url"],
        format!("http://{site}/page"),
        "the first link: {p}"
    );
    assert_eq!(p["title"], "Launch notes");
    assert_eq!(p["description"], "Everything that shipped this week.");
    assert_eq!(p["site_name"], "Example Blog");
    assert_eq!(p["image"]["content_type"], "image/png");
    assert_eq!(
        (p["image"]["width"].as_u64(), p["image"]["height"].as_u64()),
        (Some(16), Some(12))
    );
    // The image is ChatSync's own copy, behind a signed URL for this reader.
    let image_url = p["image"]["url"].as_str().unwrap();
    assert!(image_url.starts_with("/api/media/"), "{image_url}");
    assert!(
        !image_url.contains(&site.to_string()),
        "never hot-linked: {image_url}"
    );
    let r = app.client.get(app.url(image_url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 16);

    // History has it too.
    let h = app
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    assert_eq!(h.body["messages"][0]["preview"]["title"], "Launch notes");

    // Only the sender may remove it; it is gone for good, for everyone.
    let path = format!("/api/messages/{id}/preview");
    let r = app
        .call(Method::DELETE, &path, Some(&bob.access), None)
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{:?}", r.body);
    let r = app
        .call(Method::DELETE, &path, Some(&ann.access), None)
        .await;
    assert_eq!(
        (r.status, &r.body["preview"]),
        (200, &Value::Null),
        "{:?}",
        r.body
    );
    let gone = bob_sock
        .event_where("message:updated", |e| {
            e["id"] == id.as_str() && e["preview"].is_null()
        })
        .await;
    assert_eq!(gone["body"], m["body"]);

    // Redirects to private or link-local addresses are refused after the redirect: no
    // preview. (A later message with a good link shows the worker is running.)
    let bad1 = send("p2", format!("http://{site}/to-metadata")).await;
    let bad2 = send("p3", format!("see http://{site}/to-private")).await;
    let good = send("p4", format!("again http://{site}/page")).await;
    let good_id = good["id"].as_str().unwrap().to_owned();
    bob_sock
        .event_where("message:updated", |e| e["id"] == good_id.as_str())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let h = app
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    for bad in [&bad1, &bad2] {
        let stored = h.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == bad["id"])
            .unwrap();
        assert_eq!(stored["preview"], Value::Null, "{stored}");
    }
}

/// The preview follows the message's first link through edits: the same link keeps it, a
/// new link replaces it (with `message:updated`), no link removes it.
#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_changes_the_link_changes_the_preview(#[case] b: Backends) {
    let Fx {
        site,
        app,
        ann,
        bob,
        conv,
        mut bob_sock,
    } = Fx::new(b).await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{conv}/messages"),
            Some(&ann.access),
            Some(json!({"client_id": "e1", "body": format!("look http://{site}/page")})),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let first = bob_sock
        .event_where("message:updated", |e| {
            e["id"] == id.as_str() && !e["preview"].is_null()
        })
        .await;
    assert_eq!(first["preview"]["title"], "Launch notes");

    let edit = |body: String| {
        let (app, token, id) = (&app, ann.access.clone(), id.clone());
        async move {
            let r = app
                .call(
                    Method::PATCH,
                    &format!("/api/messages/{id}"),
                    Some(&token),
                    Some(json!({ "body": body })),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.body
        }
    };
    // A typo fixed around the same link: the preview stays.
    let kept = edit(format!("look at http://{site}/page")).await;
    assert_eq!(kept["preview"]["title"], "Launch notes", "{kept}");

    // Another link: the old preview goes at once, the new one follows.
    let moved = edit(format!("no, look http://{site}/page2")).await;
    assert_eq!(moved["preview"], Value::Null, "{moved}");
    let second = bob_sock
        .event_where("message:updated", |e| {
            e["id"] == id.as_str() && e["preview"]["title"] == "Second page"
        })
        .await;
    assert_eq!(second["preview"]["url"], format!("http://{site}/page2"));

    // No link any more: no preview, and none comes back.
    let plain = edit("never mind".into()).await;
    assert_eq!(plain["preview"], Value::Null, "{plain}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let h = app
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    assert_eq!(
        h.body["messages"][0]["preview"],
        Value::Null,
        "{:?}",
        h.body
    );
}
