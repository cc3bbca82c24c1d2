//! Offline changes through `sync` (issue 11, item 5): edits, deletes and reactions made while
//! a device was away reach it through `sync`'s change cursor, exactly once and in order, over
//! Socket.IO on the embedded backends and on PostgreSQL + RabbitMQ + Redis.

use chatsync_testkit::{Backends, TestApp};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

fn ids_and_bodies(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_a_device_was_away_arrive_through_sync(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let conv = app.direct(&ann, &bob).await;
    let mut sent = Vec::new();
    for i in 1..=3 {
        let r = app
            .call(
                Method::POST,
                &format!("/api/conversations/{conv}/messages"),
                Some(&ann.access),
                Some(json!({"client_id": format!("m{i}"), "body": format!("message {i}")})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        sent.push(r.body["id"].as_str().unwrap().to_owned());
    }

    // Bob's phone catches up, learns the conversation's version, goes away.
    let phone = app.socket(&bob).await;
    let ack = phone
        .emit("sync", json!({"after": {conv.as_str(): 0}, "versions": {}}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["messages"].as_array().unwrap().len(), 3);
    assert_eq!(ack["updated"], json!([]));
    let version = ack["versions"][conv.as_str()].as_i64().unwrap();
    assert_eq!(version, 0);
    phone.close();

    // Meanwhile: an edit, a delete, a reaction, another edit of the first.
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let token = ann.access.clone();
        async move {
            let r = app.call(method, &path, Some(&token), body).await;
            assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        }
    };
    call(
        Method::PATCH,
        format!("/api/messages/{}", sent[0]),
        Some(json!({"body": "message 1, edited"})),
    )
    .await;
    call(Method::DELETE, format!("/api/messages/{}", sent[1]), None).await;
    call(
        Method::PUT,
        format!("/api/messages/{}/reactions/%F0%9F%91%8D", sent[2]),
        None,
    )
    .await;
    call(
        Method::PATCH,
        format!("/api/messages/{}", sent[0]),
        Some(json!({"body": "message 1, edited twice"})),
    )
    .await;

    // Back: each changed message once, as it is now, in the order of its last change.
    let phone = app.socket(&bob).await;
    let ack = phone
        .emit(
            "sync",
            json!({"after": {conv.as_str(): 3}, "versions": {conv.as_str(): version}}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["messages"], json!([]));
    assert_eq!(
        ids_and_bodies(&ack["updated"]),
        [
            (sent[1].clone(), String::new()),
            (sent[2].clone(), "message 3".to_owned()),
            (sent[0].clone(), "message 1, edited twice".to_owned()),
        ]
    );
    assert_eq!(ack["updated"][0]["deleted"], true);
    assert_eq!(ack["updated"][1]["reactions"][0]["emoji"], "👍");
    let version = ack["versions"][conv.as_str()].as_i64().unwrap();
    assert_eq!(version, 4);
    assert_eq!(ack["has_more"], false);

    // Exactly once: from the new position there is nothing.
    let ack = phone
        .emit(
            "sync",
            json!({"after": {conv.as_str(): 3}, "versions": {conv.as_str(): version}}),
        )
        .await;
    assert_eq!(
        (&ack["messages"], &ack["updated"]),
        (&json!([]), &json!([]))
    );

    // Pages of changes: one at a time, each answer's version the next call's.
    let mut at = 0;
    let mut seen = Vec::new();
    loop {
        let ack = phone
            .emit(
                "sync",
                json!({"after": {conv.as_str(): 3}, "versions": {conv.as_str(): at}, "limit": 1}),
            )
            .await;
        seen.extend(
            ids_and_bodies(&ack["updated"])
                .into_iter()
                .map(|(id, _)| id),
        );
        at = ack["versions"][conv.as_str()].as_i64().unwrap();
        if ack["has_more"] == false {
            break;
        }
    }
    assert_eq!(seen, [sent[1].clone(), sent[2].clone(), sent[0].clone()]);
    assert_eq!(at, 4);

    // A client that sends no versions gets none of this, only where to start.
    let ack = phone
        .emit("sync", json!({"after": {conv.as_str(): 3}}))
        .await;
    assert_eq!(ack["updated"], json!([]));
    assert_eq!(ack["versions"][conv.as_str()], 4);
}
