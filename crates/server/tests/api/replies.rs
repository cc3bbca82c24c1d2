//! Replies (issue 11, item 2): a message may answer another of the same conversation, over
//! Socket.IO and REST, on the embedded backends and on PostgreSQL + RabbitMQ + Redis.

use chatsync_testkit::{Backends, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

async fn post(app: &TestApp, who: &TestUser, conv: &str, body: Value) -> chatsync_testkit::Resp {
    app.call(
        Method::POST,
        &format!("/api/conversations/{conv}/messages"),
        Some(&who.access),
        Some(body),
    )
    .await
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_names_its_original_everywhere_the_message_appears(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let conv = app.direct(&ann, &bob).await;
    let other = app.group(&ann, "Elsewhere", &[&bob]).await;

    let r = post(
        &app,
        &ann,
        &conv,
        json!({"client_id": "q1", "body": "Lunch at noon?"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["reply_to"],
        Value::Null,
        "a plain message replies to nothing"
    );
    let original = r.body["id"].as_str().unwrap().to_owned();

    // Over Socket.IO: the ack and the other side's message:new carry reply_to.
    let mut ann_sock = app.socket(&ann).await;
    let bob_sock = app.socket(&bob).await;
    let ack = bob_sock
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "a1", "body": "Yes!", "reply_to": original}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let reply = ack["message"].clone();
    assert_eq!(reply["reply_to"], original.as_str());
    // Ann's socket may also hear "Lunch at noon?", sent over REST just before it connected:
    // messages are fanned out after the ack (the writer's fan-out task), so that one can
    // still be on its way. Wait for the reply itself.
    let seen = ann_sock
        .event_where("message:new", |m| m["client_id"] == "a1")
        .await;
    assert_eq!(seen, reply, "the recipient sees the same message");

    // History and sync keep it.
    let h = app
        .get(&format!("/api/conversations/{conv}/messages"), &ann.access)
        .await;
    assert_eq!(h.body["messages"][1], reply, "{:?}", h.body);
    let synced = ann_sock
        .emit("sync", json!({"after": {conv.as_str(): 1}}))
        .await;
    assert_eq!(synced["ok"], true, "{synced}");
    let listed = serde_json::to_string(&synced).unwrap();
    assert!(
        listed.contains(&format!("\"reply_to\":\"{original}\"")),
        "{synced}"
    );

    // Over REST too; a retry with the same client_id is the same message.
    let r = post(
        &app,
        &bob,
        &conv,
        json!({"client_id": "a2", "body": "Or one?", "reply_to": original}),
    )
    .await;
    assert_eq!((r.status, &r.body["reply_to"]), (201, &json!(original)));

    // Only a message of the same conversation, one the sender can see.
    let elsewhere = post(&app, &ann, &other, json!({"client_id": "e1", "body": "hi"})).await;
    let elsewhere = elsewhere.body["id"].as_str().unwrap().to_owned();
    for bad in [elsewhere.clone(), uuid::Uuid::now_v7().to_string()] {
        let r = post(
            &app,
            &bob,
            &conv,
            json!({"client_id": format!("bad-{bad}"), "body": "?", "reply_to": bad}),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{:?}",
            r.body
        );
        let ack = bob_sock
            .emit(
                "message:send",
                json!({"conversation_id": conv, "client_id": format!("s-{bad}"), "body": "?", "reply_to": bad}),
            )
            .await;
        assert_eq!(ack["error"]["code"], "validation_failed", "{ack}");
    }
    let r = post(
        &app,
        &bob,
        &conv,
        json!({"client_id": "junk", "body": "?", "reply_to": "not-an-id"}),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);

    // Deleting the original keeps the reply pointing at it; the original reads as deleted.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/messages/{original}"),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let h = app
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    let msgs = h.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["deleted"], true);
    assert_eq!(msgs[1]["reply_to"], original.as_str());
    assert_eq!(msgs.len(), 3, "{msgs:?}");
}
