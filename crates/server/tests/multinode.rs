//! Several chat nodes behind one Redis (SPEC §1, issue #3): users on different nodes chat,
//! type, see each other online, get receipts, and a logout closes sockets on every node.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure with its message

use chatsync_server::Services;
use chatsync_testkit::{Backends, Resources, Sock, TestApp, TestUser};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

/// A user-and-mail process plus two chat-only nodes sharing PostgreSQL, RabbitMQ and Redis.
async fn cluster() -> (TestApp, TestApp, TestApp) {
    let (resources, mut cfg) = Resources::create(Backends::PRODUCTION).await;
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
