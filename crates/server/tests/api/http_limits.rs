//! The public port's own protections (issue 9, items 2, 4, 5 and 8): metric labels from a
//! closed set and `/metrics` off the public port, the client address through proxies,
//! slowloris and idle connections, the connection cap, the dev outbox on a public bind,
//! private data files, and configuration that would not work refused at start.

use chatsync_core::config::Config;
use chatsync_server::Services;
use chatsync_testkit::{
    Backends, PgDatabase, Process, RabbitVhost, RedisPrefix, Resources, TestApp, init,
};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_chatsync");

/// Generous bound for something configured to happen after a second or two: the machine may
/// be slow, but a connection that is never closed still fails the test.
const CLOSES_WITHIN: Duration = Duration::from_secs(20);

async fn metrics_text(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let client = reqwest::Client::new();
    for i in 0..60 {
        let method = reqwest::Method::from_bytes(format!("ZQMETHOD{i}").as_bytes()).unwrap();
        let _ = client
            .request(method, app.url(&format!("/api/zqpath{i}")))
            .send()
            .await
            .unwrap();
        let _ = client
            .get(app.url(&format!("/zqunmatched{i}")))
            .send()
            .await
            .unwrap();
    }
    let text = metrics_text(app.url("/metrics")).await;
    assert!(
        !text.contains("ZQMETHOD") && !text.contains("zqpath") && !text.contains("zqunmatched"),
        "a label came from the request:\n{text}"
    );
    assert!(
        text.contains(r#"method="other""#),
        "unknown methods count as other:\n{text}"
    );
    // Only the made-up methods' series: other suites in this binary share the process-wide
    // recorder and add their own routes meanwhile.
    let series = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("http_requests_total{") && l.contains(r#"method="other""#))
            .count()
    };
    let before = series(&text);
    for i in 60..120 {
        let method = reqwest::Method::from_bytes(format!("ZQMETHOD{i}").as_bytes()).unwrap();
        let _ = client
            .request(method, app.url(&format!("/zqunmatched{i}")))
            .send()
            .await
            .unwrap();
    }
    let after = series(&metrics_text(app.url("/metrics")).await);
    assert!(
        after <= before + 2,
        "60 more made-up requests added {} series",
        after - before
    );
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_address_and_not_on_the_public_port() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.http.metrics_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let _ = app.url("/healthz");
    let public = reqwest::get(app.url("/metrics")).await.unwrap();
    let status = public.status().as_u16();
    let body = public.text().await.unwrap();
    assert!(
        !body.contains("# TYPE"),
        "the public port still serves metrics ({status})"
    );
    let at = app.metrics_addr().expect("bound");
    let text = metrics_text(format!("http://{at}/metrics")).await;
    assert!(text.contains("http_requests_total"), "{text}");
}

/// A login attempt with a wrong password, from `xff` if given.
async fn wrong_login(base: &str, xff: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "wrong password"}));
    if let Some(v) = xff {
        req = req.header("x-forwarded-for", v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[rstest::rstest]
#[case::embedded(false)]
#[case::production(true)]
#[tokio::test]
async fn a_client_cannot_pick_its_address_through_the_gateway(#[case] production: bool) {
    init();
    let bin = Path::new(BIN);
    let mut env = vec![
        ("TRUST_FORWARDED_FOR", "true".to_owned()),
        ("CHATSYNC__AUTH__LOGIN_PER_IP__LIMIT", "3".into()),
        ("JWT_SECRET", "xff-test-secret-0123456789abcdef".into()),
    ];
    // In production the per-address counts live in Redis (the throttle port), accounts in
    // PostgreSQL, events on RabbitMQ.
    let (_pg, _vhost, _redis);
    if production {
        let (pg, vhost, redis) = (
            PgDatabase::create().await,
            RabbitVhost::create().await,
            RedisPrefix::new(),
        );
        env.push(("DATABASE_URL", pg.url.clone()));
        env.push(("RABBITMQ_URL", vhost.url.clone()));
        env.push(("REDIS_URL", redis.url.clone()));
        env.push(("REDIS_PREFIX", redis.prefix.clone()));
        (_pg, _vhost, _redis) = (Some(pg), Some(vhost), Some(redis));
    } else {
        (_pg, _vhost, _redis) = (None, None, None);
    }
    // The user service behind the gateway believes the gateway's X-Forwarded-For (loopback is
    // a trusted proxy by default); the gateway is the edge and believes no one.
    let user = Process::start(bin, &["--only", "user"], &env).await;
    let gateway = Process::start(
        bin,
        &["--only", "gateway"],
        &[
            (
                "USER_SERVICE_URL",
                format!("http://127.0.0.1:{}", user.port),
            ),
            ("JWT_SECRET", "xff-test-secret-0123456789abcdef".into()),
        ],
    )
    .await;
    let base = gateway.url("");
    let mut statuses = Vec::new();
    for i in 1..=5 {
        let spoofed = format!("203.0.113.{i}");
        statuses.push(wrong_login(&base, Some(&spoofed)).await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "every request came from one address, whatever it claimed\n{}",
        user.output()
    );
}

#[tokio::test]
async fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.http.trust_forwarded_for = true;
        c.http.trusted_proxies = "127.0.0.0/8, ::1, 10.0.0.0/8".into();
        c.auth.login_per_ip.limit = 2;
    })
    .await;
    let base = app.url("");
    // The client writes its own header; a trusted proxy (10.1.2.3) appends the address it saw
    // (198.51.100.9) and the one before it (10.1.2.3 itself) on a second header line.
    for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
        let xff = format!("{forged}, 198.51.100.9, 10.1.2.3");
        let status = wrong_login(&base, Some(&xff)).await;
        if forged == "3.3.3.3" {
            assert_eq!(
                status, 429,
                "the third try from 198.51.100.9 is over the limit"
            );
        } else {
            assert_eq!(status, 401);
        }
    }
    // Another real client behind the same proxies has its own allowance.
    assert_eq!(
        wrong_login(&base, Some("198.51.100.10, 10.1.2.3")).await,
        401
    );
    // Garbage in the header does not make a new address either: it stops at the proxy.
    assert_eq!(wrong_login(&base, Some("not-an-ip, 10.9.9.9")).await, 401);
    assert_eq!(wrong_login(&base, Some("also-not, 10.9.9.9")).await, 401);
    assert_eq!(wrong_login(&base, Some("still-not, 10.9.9.9")).await, 429);
}

async fn short_timeouts_app(tweak: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.http.header_read_timeout_secs = 1;
        c.http.request_timeout_secs = 1;
        c.http.idle_timeout_secs = 2;
        tweak(c);
    })
    .await
}

/// Reads until the server closes the connection; returns what it sent. Fails if it is still
/// open after [`CLOSES_WITHIN`].
async fn read_until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(CLOSES_WITHIN, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let app = short_timeouts_app(|_| {}).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut s).await, "");
}

#[tokio::test]
async fn a_request_head_trickled_in_is_cut_off() {
    let app = short_timeouts_app(|_| {}).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 300 ms, for far longer than the 1 s allowed for the head.
    let trickle = async {
        for i in 0..60 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), s.peek(&mut probe)).await
            {
                return true; // closed by the server
            }
        }
        false
    };
    assert!(
        trickle.await,
        "18 s of trickled headers were still being read"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let app = short_timeouts_app(|_| {}).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_upgraded_connection_that_goes_quiet_is_closed() {
    // Socket.IO pings every 25 s, so a WebSocket on which nothing moves for the 2 s idle
    // timeout is closed by the listener, not by Socket.IO.
    let app = short_timeouts_app(|_| {}).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
          Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_admitted_again_when_one_ends() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| c.http.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        // Each proves it is being served, then stays open (keep-alive).
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let mut over = TcpStream::connect(app.addr).await.unwrap();
    let _ = over
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        !read_until_closed(&mut over).await.contains("200"),
        "a fourth connection was served"
    );
    drop(held.pop());
    let served = tokio::time::timeout(CLOSES_WITHIN, async {
        loop {
            if reqwest::get(app.url("/healthz"))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "a freed slot was not given to a new connection"
    );
}

#[tokio::test]
async fn the_dev_outbox_is_refused_on_a_public_bind_unless_allowed_and_then_lists_one_address() {
    init();
    let (resources, mut cfg) = Resources::create(Backends::EMBEDDED).await;
    cfg.http.host = "0.0.0.0".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = chatsync_server::start(cfg.clone(), Services::all(), listener)
        .await
        .err()
        .expect("the dev outbox on 0.0.0.0 is refused");
    assert!(
        format!("{refused:#}").contains("DEV_OUTBOX_PUBLIC"),
        "{refused:#}"
    );

    cfg.mail.dev_outbox_public = true;
    let app = TestApp::start(cfg, Services::all(), resources).await;
    app.register("olive@example.com", "password123", "Olive")
        .await;
    let everyone = reqwest::get(app.url("/api/dev/outbox")).await.unwrap();
    assert_eq!(everyone.status(), 400);
    let body: serde_json::Value = everyone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "email_required");
    let code = app.code_for("olive@example.com", None).await;
    let one: serde_json::Value = reqwest::get(app.url("/api/dev/outbox?email=olive@example.com"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["messages"][0]["code"], code.as_str());

    // On loopback (the laptop install) the whole outbox stays listable.
    let local = TestApp::spawn(Backends::EMBEDDED).await;
    assert_eq!(
        reqwest::get(local.url("/api/dev/outbox"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[cfg(unix)]
#[tokio::test]
async fn data_files_are_readable_by_the_service_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = chatsync_testkit::TempDir::new("chatsync-perms");
    let data = root.path().join("data");
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.data_dir = chatsync_core::config::DataDir(data.clone());
    })
    .await;
    app.signup("Pat").await; // writes to the database, so the WAL exists
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&data.join("media")), 0o700, "data/media/");
    for f in ["chatsync.db", "chatsync.db-wal", "jwt_secret"] {
        let p = data.join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
}

#[test]
fn a_wildcard_cors_origin_is_a_configuration_error_not_a_panic() {
    let dir = chatsync_testkit::TempDir::new("chatsync-cors");
    let out = std::process::Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CORS_ORIGINS", "*")
        .env("PORT", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("CORS_ORIGINS='*' is not allowed") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
