//! What an operator watches (issue 13, item 10): every metric the Grafana dashboard in
//! `deploy/grafana/chatsync.json` plots is one the server exports (after ordinary traffic),
//! histograms have buckets so nodes can be added up, and every response carries a request id,
//! as does every Socket.IO event (numbered after its handshake's).

use chatsync_testkit::{Backends, TestApp};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

/// Metrics that only move when something fails; the dashboard plots them, a healthy test run
/// never exports them. They must still be defined in the code.
const FAILURES_ONLY: &[&str] = &[
    "mail_failed_total",
    "bus_publish_failed_total",
    "http_connections_refused_total",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// The metric names in the dashboard's queries (without `_bucket`).
fn dashboard_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/chatsync.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    let mut names = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let ours = ["chat_", "chatsync_", "http_", "bus_", "mail_", "db_"]
                    .iter()
                    .any(|p| word.starts_with(p));
                if ours {
                    names.insert(word.trim_end_matches("_bucket").to_owned());
                }
            }
        }
    }
    names
}

fn defined_in_code(name: &str) -> bool {
    fn walk(dir: &Path, needle: &str) -> bool {
        std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p, needle)
            } else {
                p.extension().is_some_and(|x| x == "rs")
                    && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle))
            }
        })
    }
    walk(&root().join("crates"), &format!("\"{name}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_plots_metrics_the_server_exports() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    // Ordinary traffic: sign-ups (mail over the bus), a conversation, a message by socket.
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let conv = app.direct(&ann, &bob).await;
    let sock = app.socket(&ann).await;
    let ack = sock
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "m1", "body": "hi"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(
        r.headers().contains_key("x-request-id"),
        "every response has a request id"
    );
    let text = r.text().await.unwrap();
    let names = dashboard_metrics();
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let exported = text.lines().any(|l| {
            l.starts_with(&format!("{name}{{"))
                || l.starts_with(&format!("{name}_bucket{{"))
                || l.starts_with(&format!("{name} "))
        });
        if FAILURES_ONLY.contains(&name.as_str()) {
            assert!(
                defined_in_code(name),
                "{name} is plotted but never recorded"
            );
        } else {
            assert!(exported, "{name} is plotted but not exported:\n{text}");
        }
    }
    // Latencies are histograms with buckets, not per-process summaries.
    assert!(text.contains("chat_ack_seconds_bucket{le="), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(!text.contains("quantile=\""), "{text}");
}

/// Each Socket.IO event runs under a request id: the handshake's `x-request-id` (or one the
/// server gave the handshake) and the event's number on that socket. A refused event's ack
/// names it, so a user's report leads to the server's log lines.
#[tokio::test]
async fn socket_events_carry_request_ids_numbered_after_the_handshake() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let alice = app.signup("Alice").await;
    let sock = chatsync_testkit::Sock::connect_with_headers(
        app.addr,
        json!({ "token": alice.access }),
        &[("x-request-id", "sock-req-7")],
    )
    .await
    .unwrap();
    let bad = json!({ "conversation_id": "not an id", "client_id": "c1", "body": "hi" });
    let first = sock.emit("message:send", bad.clone()).await;
    assert_eq!(first["ok"], false, "{first}");
    assert_eq!(first["error"]["request_id"], "sock-req-7-1", "{first}");
    let second = sock
        .emit("message:edit", json!({ "message_id": "nope" }))
        .await;
    assert_eq!(second["error"]["request_id"], "sock-req-7-2", "{second}");

    // Without one, the server's own id for the handshake is used.
    let plain = app.socket(&alice).await;
    let refused = plain.emit("message:send", bad).await;
    let id = refused["error"]["request_id"].as_str().unwrap();
    assert!(id.ends_with("-1") && id.len() > 4, "{refused}");
}
