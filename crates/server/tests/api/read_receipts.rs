//! Who has read it, and keeping one's own reading private (issue 11, item 6): read positions
//! per member drive "delivered / read by"; a user who turns read receipts off keeps their read
//! position to their own devices and sees no one else's. On the embedded backends and on
//! PostgreSQL + RabbitMQ + Redis.

use chatsync_testkit::{Backends, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

/// `viewer`'s view of each member's (delivered_seq, read_seq), by name.
async fn positions(app: &TestApp, viewer: &TestUser, conv: &str) -> Vec<(String, i64, i64)> {
    let r = app
        .get(&format!("/api/conversations/{conv}"), &viewer.access)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut v: Vec<(String, i64, i64)> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["display_name"].as_str().unwrap().to_owned(),
                m["delivered_seq"].as_i64().unwrap(),
                m["read_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn read(app: &TestApp, who: &TestUser, conv: &str, seq: i64) {
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{conv}/receipts"),
            Some(&who.access),
            Some(json!({"kind": "read", "seq": seq})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn set_receipts(app: &TestApp, who: &TestUser, on: bool) -> Value {
    let r = app
        .call(
            Method::PUT,
            "/api/chat-settings",
            Some(&who.access),
            Some(json!({"read_receipts": on})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

fn row(name: &str, delivered: i64, read: i64) -> (String, i64, i64) {
    (name.to_owned(), delivered, read)
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_can_be_kept_private_both_ways(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let cat = app.signup("Cat").await;
    let group = app.group(&ann, "Readers", &[&bob, &cat]).await;
    for i in 0..2 {
        let r = app
            .call(
                Method::POST,
                &format!("/api/conversations/{group}/messages"),
                Some(&ann.access),
                Some(json!({"client_id": format!("m{i}"), "body": "news"})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let mut ann_sock = app.socket(&ann).await;
    let mut cat_laptop = app.socket(&cat).await;

    // By default (sending does not move one's own position): Bob reads, Ann sees it (the read-by of a message is every member whose
    // read_seq has reached it), live and in the conversation.
    let r = app.get("/api/chat-settings", &cat.access).await;
    assert_eq!(r.body, json!({"read_receipts": true}));
    read(&app, &bob, &group, 2).await;
    let ev = ann_sock.event("receipt").await;
    assert_eq!(
        (&ev["user_id"], &ev["kind"], &ev["seq"]),
        (&json!(bob.id), &json!("read"), &json!(2))
    );
    assert_eq!(
        positions(&app, &ann, &group).await,
        [row("Ann", 0, 0), row("Bob", 2, 2), row("Cat", 0, 0)]
    );

    // Cat turns them off and reads: delivered shows, read does not; her own devices know,
    // the setting itself at once.
    assert_eq!(
        set_receipts(&app, &cat, false).await,
        json!({"read_receipts": false})
    );
    assert_eq!(
        cat_laptop.event("chat:settings").await,
        json!({"read_receipts": false})
    );
    assert_eq!(
        app.get("/api/chat-settings", &cat.access).await.body,
        json!({"read_receipts": false})
    );
    cat_laptop.clear();
    read(&app, &cat, &group, 2).await;
    let own = cat_laptop
        .event_where("receipt", |e| e["user_id"] == cat.id.as_str())
        .await;
    assert_eq!(
        (&own["user_id"], &own["kind"]),
        (&json!(cat.id), &json!("read"))
    );
    ann_sock.no_event("receipt", QUIET).await;
    assert_eq!(
        positions(&app, &ann, &group).await,
        [row("Ann", 0, 0), row("Bob", 2, 2), row("Cat", 2, 0)]
    );
    // ...and she sees no one else's reading, only her own.
    assert_eq!(
        positions(&app, &cat, &group).await,
        [row("Ann", 0, 0), row("Bob", 2, 0), row("Cat", 2, 2)]
    );
    let list = app.get("/api/conversations", &cat.access).await;
    let members = &list.body["conversations"][0]["members"];
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["user_id"] == cat.id.as_str() || m["read_seq"] == 0),
        "{members}"
    );
    assert_eq!(
        list.body["conversations"][0]["unread_count"], 0,
        "her own reading still counts"
    );
    // Others' read receipts do not reach her.
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{group}/messages"),
            Some(&cat.access),
            Some(json!({"client_id": "c1", "body": "seen"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    cat_laptop.clear();
    read(&app, &ann, &group, 3).await;
    cat_laptop.no_event("receipt", QUIET).await;

    // Turned back on, her position shows again.
    set_receipts(&app, &cat, true).await;
    assert_eq!(
        positions(&app, &ann, &group).await,
        [row("Ann", 3, 3), row("Bob", 2, 2), row("Cat", 2, 2)]
    );

    // Bad bodies.
    let r = app
        .call(
            Method::PUT,
            "/api/chat-settings",
            Some(&cat.access),
            Some(json!({"read_receipts": "no"})),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_can_be_read_by_id_by_members_only() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let eve = app.signup("Eve").await;
    let conv = app.direct(&ann, &bob).await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{conv}/messages"),
            Some(&ann.access),
            Some(json!({"client_id": "x", "body": "the original"})),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/messages/{id}"), &bob.access).await;
    assert_eq!(
        (r.status, &r.body["body"], &r.body["seq"]),
        (200, &json!("the original"), &json!(1))
    );
    let r = app.get(&format!("/api/messages/{id}"), &eve.access).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
}
