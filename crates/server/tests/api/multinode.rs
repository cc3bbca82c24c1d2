//! Several chat nodes behind one Redis (SPEC §1, issue #3): users on different nodes chat,
//! type, see each other online, get receipts, and a logout closes sockets on every node; a
//! gateway balances several chat nodes and keeps each long-polling session on its node.

use chatsync_server::Services;
use chatsync_testkit::{Backends, Resources, Sock, TestApp, TestUser};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

/// A user-and-mail process plus two chat-only nodes sharing PostgreSQL, RabbitMQ and Redis.
async fn cluster() -> (TestApp, TestApp, TestApp) {
    cluster_with(|_| {}).await
}

/// [`cluster`], with `tweak` applied to every process's configuration.
async fn cluster_with(
    tweak: impl FnOnce(&mut chatsync_core::config::Config),
) -> (TestApp, TestApp, TestApp) {
    let (resources, mut cfg) = Resources::create(Backends::PRODUCTION).await;
    tweak(&mut cfg);
    cfg.auth.jwt_secret = Some(chatsync_core::config::Secret::new(
        "multi-node-test-secret-0123456789",
    ));
    let users = TestApp::start(
        cfg.clone(),
        Services::parse("user,mail").unwrap(),
        resources,
    )
    .await;
    let mut chat_cfg = cfg.clone();
    chat_cfg.services.user_url = Some(users.url(""));
    let node_a = TestApp::start(
        chat_cfg.clone(),
        Services::parse("chat").unwrap(),
        Resources::default(),
    )
    .await;
    let node_b = TestApp::start(
        chat_cfg,
        Services::parse("chat").unwrap(),
        Resources::default(),
    )
    .await;
    (users, node_a, node_b)
}

async fn sock(node: &TestApp, u: &TestUser) -> Sock {
    Sock::connect(node.addr, &u.access).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_different_nodes_chat_type_see_presence_and_receipts() {
    let (users, node_a, node_b) = cluster().await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = node_a.direct(&ann, &bob).await;

    let mut ann_s = sock(&node_a, &ann).await;
    let mut bob_s = sock(&node_b, &bob).await;
    let p = ann_s.event("presence").await;
    assert_eq!(
        (p["user_id"].as_str(), p["online"].as_bool()),
        (Some(bob.id.as_str()), Some(true)),
        "presence crosses nodes"
    );

    let ack = ann_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "x1", "body": "from node A"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let m = bob_s.event("message:new").await;
    assert_eq!(m["body"], "from node A");

    let ack = bob_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "y1", "body": "from node B"}),
        )
        .await;
    assert_eq!(ack["message"]["seq"], 2, "seqs stay gap-free across nodes");
    assert_eq!(ann_s.event("message:new").await["body"], "from node B");

    bob_s
        .emit("typing", json!({"conversation_id": conv, "typing": true}))
        .await;
    let t = ann_s.event("typing").await;
    assert_eq!(
        (t["user_id"].as_str(), t["typing"].as_bool()),
        (Some(bob.id.as_str()), Some(true))
    );

    bob_s
        .emit(
            "receipt",
            json!({"conversation_id": conv, "kind": "read", "seq": 1}),
        )
        .await;
    let r = ann_s.event("receipt").await;
    assert_eq!(
        (r["kind"].as_str(), r["seq"].as_i64()),
        (Some("read"), Some(1))
    );

    // The same user on both nodes is one presence.
    let bob_on_a = sock(&node_a, &bob).await;
    bob_s.close();
    ann_s.no_event("presence", Duration::from_millis(500)).await;
    bob_on_a.close();
    let p = ann_s.event("presence").await;
    assert_eq!(p["online"], false);

    // Both nodes answer the REST API from the shared database.
    let r = node_b
        .get(&format!("/api/conversations/{conv}/messages"), &ann.access)
        .await;
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_closes_the_sessions_sockets_on_every_node() {
    let (users, node_a, node_b) = cluster().await;
    let ann = users.signup("Ann").await;
    let mut on_a = sock(&node_a, &ann).await;
    let mut on_b = sock(&node_b, &ann).await;
    let r = users
        .call(Method::POST, "/api/auth/logout", Some(&ann.access), None)
        .await;
    assert_eq!(r.status, 204);
    assert!(on_a.closed_within(Duration::from_secs(10)).await);
    assert!(on_b.closed_within(Duration::from_secs(10)).await);
    assert!(Sock::connect(node_b.addr, &ann.access).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_changes_reach_the_chat_service_through_events() {
    let (users, node_a, _node_b) = cluster().await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = node_a.direct(&ann, &bob).await;
    let r = users
        .call(
            Method::PATCH,
            "/api/users/me",
            Some(&bob.access),
            Some(json!({"display_name": "Robert"})),
        )
        .await;
    assert_eq!(r.status, 200);
    chatsync_testkit::eventually(Duration::from_secs(15), || async {
        let c = node_a
            .get(&format!("/api/conversations/{conv}"), &ann.access)
            .await;
        c.body["members"]
            .as_array()?
            .iter()
            .any(|m| m["display_name"] == "Robert")
            .then_some(())
    })
    .await;
}

async fn rest_send(
    node: &TestApp,
    conv: &str,
    who: &TestUser,
    client_id: &str,
) -> chatsync_testkit::Resp {
    node.call(
        Method::POST,
        &format!("/api/conversations/{conv}/messages"),
        Some(&who.access),
        Some(json!({"client_id": client_id, "body": "hi"})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_nodes_share_one_send_limit_per_account() {
    let (users, node_a, node_b) = cluster_with(|c| {
        c.chat.send_per_account = chatsync_core::config::RateLimit::new(10, 3600);
    })
    .await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = node_a.direct(&ann, &bob).await;
    let on_a = sock(&node_a, &ann).await;
    for i in 0..5 {
        let ack = on_a
            .emit(
                "message:send",
                json!({"conversation_id": conv, "client_id": format!("s{i}"), "body": "hi"}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        let r = rest_send(&node_a, &conv, &ann, &format!("r{i}")).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    // Node B draws from the same budget, which node A spent.
    let r = rest_send(&node_b, &conv, &ann, "b-rest").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    assert!(r.header("retry-after").is_some());
    let on_b = sock(&node_b, &ann).await;
    let ack = on_b
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "b-sock", "body": "hi"}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    assert_eq!(rest_send(&node_b, &conv, &bob, "bob").await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_cap_counts_an_accounts_sockets_on_every_node() {
    let (users, node_a, node_b) = cluster_with(|c| c.chat.max_sockets_per_account = 2).await;
    let ann = users.signup("Ann").await;
    let _on_a = sock(&node_a, &ann).await;
    let on_b = sock(&node_b, &ann).await;
    for node in [&node_a, &node_b] {
        let err = Sock::connect(node.addr, &ann.access)
            .await
            .err()
            .expect("a third socket is refused on either node");
        assert!(err.starts_with("too_many_sockets"), "{err}");
    }
    on_b.close();
    chatsync_testkit::eventually(Duration::from_secs(10), || async {
        Sock::connect(node_a.addr, &ann.access).await.ok()
    })
    .await;
}

/// A gateway alone in front of `users` (user and mail) and the chat `nodes`.
async fn gateway_over(users: &TestApp, nodes: &[&TestApp]) -> TestApp {
    let mut cfg = users.cfg.clone();
    cfg.services.user_url = Some(users.url(""));
    cfg.services.mail_url = Some(users.url(""));
    let bases: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    cfg.services.chat_url = Some(bases.join(", "));
    TestApp::start(
        cfg,
        Services::parse("gateway").unwrap(),
        Resources::default(),
    )
    .await
}

/// An Engine.IO long-polling session, spoken by hand.
struct Polling {
    client: reqwest::Client,
    url: String,
    sid: String,
}

impl Polling {
    async fn open(gateway: &TestApp) -> Self {
        let client = reqwest::Client::new();
        let url = gateway.url("/socket.io/?EIO=4&transport=polling");
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        let open: serde_json::Value =
            serde_json::from_str(body.strip_prefix('0').expect("an open packet")).unwrap();
        let sid = open["sid"].as_str().unwrap().to_owned();
        Self { client, url, sid }
    }

    fn node(&self) -> &str {
        self.sid.split_once('.').map_or("", |(n, _)| n)
    }

    async fn send(&self, packet: &str) -> u16 {
        self.client
            .post(format!("{}&sid={}", self.url, self.sid))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packet.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls until a packet starting with `prefix` arrives.
    async fn until(&self, prefix: &str) -> String {
        for _ in 0..20 {
            let r = self
                .client
                .get(format!("{}&sid={}", self.url, self.sid))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "the session lives on its node");
            let body = r.text().await.unwrap();
            if let Some(p) = body.split('\u{1e}').find(|p| p.starts_with(prefix)) {
                return p.to_owned();
            }
        }
        panic!("no {prefix} packet");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_spreads_sessions_over_chat_nodes_and_keeps_each_polling_session_on_its_node() {
    let (users, node_a, node_b) = cluster().await;
    let gateway = gateway_over(&users, &[&node_a, &node_b]).await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = gateway.direct(&ann, &bob).await;
    let mut bob_s = gateway.socket(&bob).await;

    // New sessions go to both nodes, and each says which in its id.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(Polling::open(&gateway).await.node().to_owned());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["0", "1"]);

    // A whole Socket.IO conversation over long-polling: every request reaches the node that
    // holds the session, or it would answer "Session ID unknown".
    let p = Polling::open(&gateway).await;
    assert_eq!(
        p.send(&format!(r#"40{{"token":"{}"}}"#, ann.access)).await,
        200
    );
    p.until("40").await;
    let send = json!(["message:send", {"conversation_id": conv, "client_id": "poll-1", "body": "over polling"}]);
    assert_eq!(p.send(&format!("421{send}")).await, 200);
    let ack = p.until("431").await;
    assert!(ack.contains(r#""ok":true"#), "{ack}");
    assert_eq!(bob_s.event("message:new").await["body"], "over polling");

    // A session id the gateway cannot place is answered as an ended session.
    let client = reqwest::Client::new();
    for sid in ["nonsense", "7.abc", "0.not-a-session"] {
        let r = client
            .get(gateway.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{sid}");
    }

    // The gateway's readiness lists each upstream.
    let ready: serde_json::Value = reqwest::get(gateway.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checks = ready["checks"].as_object().unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(checks["user service"], "ok", "{ready}");
    assert_eq!(
        checks.keys().filter(|k| k.starts_with("chat node")).count(),
        2,
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_chat_node_goes_away_its_clients_reconnect_through_the_gateway_and_catch_up() {
    let (users, node_a, mut node_b) = cluster().await;
    let gateway = gateway_over(&users, &[&node_a, &node_b]).await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = gateway.direct(&ann, &bob).await;
    // Two sockets each: taking the nodes in turn, every user has one on each node.
    let mut socks = Vec::new();
    for u in [&ann, &bob, &ann, &bob] {
        socks.push(gateway.socket(u).await);
    }

    node_b.stop().await;
    // Node B's sockets close; node A's stay.
    let mut open = Vec::new();
    for mut s in socks {
        if !s.closed_within(Duration::from_secs(5)).await {
            open.push(s);
        }
    }
    assert_eq!(
        open.len(),
        2,
        "half the sockets were on the node that went away"
    );

    // New sockets only reach the node that is left (once the gateway has noticed).
    let bob_again = chatsync_testkit::eventually(Duration::from_secs(20), || async {
        Sock::connect(gateway.addr, &bob.access).await.ok()
    })
    .await;
    let ann_s = open.into_iter().next().expect("a socket still open");
    let ack = ann_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "after", "body": "while you were away"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let mut after = serde_json::Map::new();
    after.insert(conv.clone(), json!(0));
    let synced = bob_again.emit("sync", json!({ "after": after })).await;
    assert!(
        synced.to_string().contains("while you were away"),
        "sync brings what was missed: {synced}"
    );
    let ready: serde_json::Value =
        chatsync_testkit::eventually(Duration::from_secs(20), || async {
            let v: serde_json::Value = reqwest::get(gateway.url("/readyz"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["checks"]
                .as_object()?
                .values()
                .any(|s| s == "unavailable")
                .then_some(v)
        })
        .await;
    assert_eq!(ready["status"], "ready", "one chat node is enough: {ready}");
}

#[tokio::test]
async fn a_gateway_refuses_upstream_urls_it_cannot_use() {
    chatsync_testkit::init();
    for (chat, user) in [
        ("http://127.0.0.1:1, 127.0.0.1:2", "http://127.0.0.1:3"),
        ("https://chat.internal:3002", "http://127.0.0.1:3"),
        ("http://127.0.0.1:1/api", "http://127.0.0.1:3"),
        ("http://127.0.0.1:1", "user-service"),
    ] {
        let (_r, mut cfg) = Resources::create(Backends::EMBEDDED).await;
        cfg.services.user_url = Some(user.into());
        cfg.services.chat_url = Some(chat.into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = chatsync_server::start(cfg, Services::parse("gateway").unwrap(), listener)
            .await
            .err()
            .unwrap_or_else(|| panic!("{chat} / {user} accepted"));
        assert!(
            format!("{err:#}").contains("must be a base URL like http://"),
            "{err:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_chat_node_takes_no_new_sockets_serves_its_clients_then_sends_them_elsewhere() {
    let (users, node_a, mut node_b) = cluster_with(|c| c.shutdown.drain_secs = 2).await;
    let gateway = gateway_over(&users, &[&node_a, &node_b]).await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = gateway.direct(&ann, &bob).await;
    let mut ann_s = sock(&node_a, &ann).await;
    let mut bob_s = sock(&node_b, &bob).await;

    node_b.begin_shutdown(); // what SIGTERM does
    let ready = reqwest::get(node_b.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "a draining node is not ready");
    let handshake = reqwest::get(node_b.url("/socket.io/?EIO=4&transport=polling"))
        .await
        .unwrap();
    assert_eq!(handshake.status(), 503, "no new sessions while draining");

    // Its connected clients are still served: the message is committed and acknowledged.
    let ack = bob_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "draining-1", "body": "sent while draining"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        ann_s.event("message:new").await["body"],
        "sent while draining"
    );

    // Then it closes its sockets; the client comes back through the gateway to the other
    // node and finds everything there.
    assert!(
        bob_s.closed_within(Duration::from_secs(20)).await,
        "the draining node let its clients go"
    );
    let bob_again = chatsync_testkit::eventually(Duration::from_secs(20), || async {
        Sock::connect(gateway.addr, &bob.access).await.ok()
    })
    .await;
    let mut after = serde_json::Map::new();
    after.insert(conv.clone(), json!(0));
    let synced = bob_again.emit("sync", json!({ "after": after })).await;
    assert!(
        synced.to_string().contains("sent while draining"),
        "{synced}"
    );
    node_b.stop().await;
}

/// Uploads `bytes` through `node`; answers the file's id and signed URL.
async fn upload_through(node: &TestApp, user: &TestUser, bytes: Vec<u8>) -> (String, String) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("notes.txt")
        .mime_str("text/plain")
        .unwrap();
    let r = node
        .client
        .post(node.url("/api/media"))
        .bearer_auth(&user.access)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "upload through {}", node.addr);
    let body: serde_json::Value = r.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["url"].as_str().unwrap().to_owned(),
    )
}

#[rstest::rstest]
#[case::one_shared_directory(false)]
#[case::s3(true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_through_one_chat_node_is_fetched_through_another(#[case] s3: bool) {
    let s3 = if s3 {
        Some(chatsync_testkit::S3Server::start().await)
    } else {
        None
    };
    let (users, node_a, node_b) = cluster_with(|c| {
        if let Some(s3) = &s3 {
            s3.configure(&mut c.media);
        }
    })
    .await;
    let ann = users.signup("Ann").await;
    let bob = users.signup("Bob").await;
    let conv = node_a.direct(&ann, &bob).await;
    let bytes = b"minutes of the meeting, plain text\n".repeat(50);
    let (media_id, url) = upload_through(&node_a, &ann, bytes.clone()).await;
    // Attached to a message on node A, the file is fetched by Bob through node B.
    let a = sock(&node_a, &ann).await;
    let ack = a
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "f1", "body": "", "attachments": [media_id]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let history = node_b
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    assert_eq!(history.status, 200, "{:?}", history.body);
    let on_b = history.body["messages"][0]["attachments"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("an attachment: {}", history.body))
        .to_owned();
    let got = node_b.client.get(node_b.url(&on_b)).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // The uploader's own URL works on the other node too.
    let got = node_b.client.get(node_b.url(&url)).send().await.unwrap();
    assert_eq!(got.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_node_whose_media_storage_differs_from_the_others_is_refused() {
    let (resources, cfg) = Resources::create(Backends::PRODUCTION).await;
    let chat = || Services::parse("chat").unwrap();
    let _node_a = TestApp::start(cfg.clone(), chat(), resources).await;

    let refused = |other: chatsync_core::config::Config| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = chatsync_server::start(other, chat(), listener)
            .await
            .err()
            .expect("a chat node with other media storage was started");
        format!("{err:#}")
    };
    // Its own local directory.
    let dir = chatsync_testkit::TempDir::new("chatsync-other-node");
    let mut other = cfg.clone();
    other.data_dir = chatsync_core::config::DataDir(dir.path().to_owned());
    let err = refused(other).await;
    assert!(
        err.contains("keeps media in") && err.contains("S3_BUCKET") && err.contains("DATA_DIR"),
        "{err}"
    );
    // S3 while the first node keeps files on disk.
    let s3 = chatsync_testkit::S3Server::start().await;
    let mut other = cfg.clone();
    s3.configure(&mut other.media);
    let err = refused(other).await;
    assert!(err.contains("keeps media in"), "{err}");
    // The same directory is fine, and readiness says so.
    let node_b = TestApp::start(cfg.clone(), chat(), Resources::default()).await;
    let ready: serde_json::Value = node_b
        .client
        .get(node_b.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["media shared with other chat nodes"], "ok",
        "{ready}"
    );
}

/// `deploy/nginx/chatsync.conf` with this test's ports, certificate and web directory.
fn nginx_site(
    https: u16,
    http: u16,
    gateway: &TestApp,
    certs: &std::path::Path,
    web: &std::path::Path,
) -> String {
    let site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/nginx/chatsync.conf"
    ))
    .unwrap();
    let swaps = [
        (
            "listen 443 ssl;".to_owned(),
            format!("listen 127.0.0.1:{https} ssl;"),
        ),
        ("listen 80;".to_owned(), format!("listen 127.0.0.1:{http};")),
        (
            "server 127.0.0.1:3000;".to_owned(),
            format!("server {};", gateway.addr),
        ),
        (
            "/etc/letsencrypt/live/chat.example.com/fullchain.pem".to_owned(),
            certs.join("server.pem").display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/chat.example.com/privkey.pem".to_owned(),
            certs.join("server.key").display().to_string(),
        ),
        (
            "/usr/local/share/chatsync/web".to_owned(),
            web.display().to_string(),
        ),
    ];
    let mut site = site;
    for (from, to) in swaps {
        assert!(site.contains(&from), "the nginx file has {from:?}");
        site = site.replace(&from, &to);
    }
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_a_gateway_and_two_chat_nodes_serves_the_flow_over_https() {
    const REGISTER_LIMIT: u32 = 6;
    let (users, node_a, node_b) = cluster_with(|c| {
        c.auth.register_per_ip.limit = REGISTER_LIMIT;
        c.http.trust_forwarded_for = true;
    })
    .await;
    let gateway = gateway_over(&users, &[&node_a, &node_b]).await;

    let dir = chatsync_testkit::TempDir::new("chatsync-nginx");
    let d = dir.path();
    chatsync_testkit::certificates(d);
    let web = d.join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(
        web.join("assets/app-3f9a2c.js"),
        "console.log('chatsync');\n",
    )
    .unwrap();
    for sub in ["tmp", "logs"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let (https, http) = (chatsync_testkit::free_port(), chatsync_testkit::free_port());
    std::fs::write(
        d.join("chatsync.conf"),
        nginx_site(https, http, &gateway, d, &web),
    )
    .unwrap();
    let p = |f: &str| d.join(f).display().to_string();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {pid};\nerror_log {err} info;\n\
             events {{}}\nhttp {{\n  include /etc/nginx/mime.types;\n  access_log off;\n\
             client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n\
             scgi_temp_path {t}/scgi;\n  include {site};\n}}\n",
            pid = p("nginx.pid"),
            err = p("logs/error.log"),
            t = p("tmp"),
            site = p("chatsync.conf"),
        ),
    )
    .unwrap();
    let nginx = |args: &[&str]| {
        let bin = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["-p", &p(""), "-c", &p("nginx.conf")])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let t = nginx(&["-t"])
        .output()
        .expect("nginx is required (scripts/test-deps.sh installs it)");
    assert!(
        t.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let mut server = nginx(&[]).spawn().unwrap();
    chatsync_testkit::eventually(Duration::from_secs(20), || async {
        std::net::TcpStream::connect(("127.0.0.1", https)).ok()
    })
    .await;

    let out = tokio::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/deploy/nginx_flow.mjs"
        ))
        .env("HTTPS", format!("https://127.0.0.1:{https}"))
        .env("HTTP", format!("http://127.0.0.1:{http}"))
        .env("ASSET", "/assets/app-3f9a2c.js")
        .env("REGISTER_LIMIT", REGISTER_LIMIT.to_string())
        .env("NODE_EXTRA_CA_CERTS", p("ca.pem"))
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out)
        .await
        .expect("the nginx flow finished within 3 minutes")
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(d.join("logs/error.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "nginx_flow.mjs failed:\n{stdout}\n{stderr}\nnginx error log (tail):\n{}",
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    for check in [
        "over HTTPS",
        "long-polling",
        "stayed on its node",
        "redirected",
        "/metrics",
        "caching",
        "X-Forwarded-For",
    ] {
        assert!(stdout.contains(check), "missing check {check:?}:\n{stdout}");
    }
}
