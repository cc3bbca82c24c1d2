//! Mentions and unread counts (issue 11, items 2 and 3): `mentions` on messages, a mention
//! count per conversation next to the unread count, the list of messages that mention me, and
//! unread counts that stop at 100. On the embedded backends and on PostgreSQL + RabbitMQ +
//! Redis.

use chatsync_testkit::{Backends, Resp, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

async fn post(app: &TestApp, who: &TestUser, conv: &str, body: Value) -> Resp {
    app.call(
        Method::POST,
        &format!("/api/conversations/{conv}/messages"),
        Some(&who.access),
        Some(body),
    )
    .await
}

/// `who`'s (unread_count, mention_count) in `conv`.
async fn counts(app: &TestApp, who: &TestUser, conv: &str) -> (i64, i64) {
    let r = app.get("/api/conversations", &who.access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = r.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conv)
        .unwrap_or_else(|| panic!("{conv} not listed: {:?}", r.body));
    (
        c["unread_count"].as_i64().unwrap(),
        c["mention_count"].as_i64().unwrap(),
    )
}

/// Bodies of the messages that mention `who`, newest first.
async fn mentioning(app: &TestApp, who: &TestUser) -> Vec<String> {
    let r = app.get("/api/mentions", &who.access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_counted_listed_and_forgotten_with_their_message(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let cat = app.signup("Cat").await;
    let eve = app.signup("Eve").await;
    let group = app.group(&ann, "Team", &[&bob, &cat]).await;

    // Over Socket.IO: the ack and everyone's message:new carry the mentions.
    let ann_sock = app.socket(&ann).await;
    let mut bob_sock = app.socket(&bob).await;
    let ack = ann_sock
        .emit(
            "message:send",
            json!({"conversation_id": group, "client_id": "m1", "body": "@Bob can you look?",
                   "mentions": [bob.id, bob.id, ann.id]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        ack["message"]["mentions"],
        json!([bob.id]),
        "each member once, never the sender"
    );
    assert_eq!(
        bob_sock.event("message:new").await["mentions"],
        json!([bob.id])
    );
    let first_seq = ack["message"]["seq"].as_i64().unwrap();
    let r = post(
        &app,
        &cat,
        &group,
        json!({"client_id": "m2", "body": "@Bob @Ann both of you", "mentions": [bob.id, ann.id]}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let second = r.body["id"].as_str().unwrap().to_owned();
    post(
        &app,
        &cat,
        &group,
        json!({"client_id": "m3", "body": "no one"}),
    )
    .await;

    // Counts next to the unread count; the list, newest first.
    assert_eq!(counts(&app, &bob, &group).await, (3, 2));
    assert_eq!(counts(&app, &ann, &group).await, (2, 1));
    assert_eq!(counts(&app, &cat, &group).await, (1, 0));
    assert_eq!(
        mentioning(&app, &bob).await,
        ["@Bob @Ann both of you", "@Bob can you look?"]
    );
    assert!(mentioning(&app, &cat).await.is_empty());
    // Pages, by next_before.
    let r = app.get("/api/mentions?limit=1", &bob.access).await;
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 1);
    let next = r.body["next_before"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!("/api/mentions?limit=1&before={}", next.replace('_', "%5F")),
            &bob.access,
        )
        .await;
    assert_eq!(
        r.body["messages"][0]["body"], "@Bob can you look?",
        "{:?}",
        r.body
    );
    assert!(r.body.get("next_before").is_none(), "{:?}", r.body);
    let r = app.get("/api/mentions?before=garbage", &bob.access).await;
    assert_eq!((r.status, r.code()), (400, "invalid_query"));

    // Reading moves the count, not the list.
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{group}/receipts"),
            Some(&bob.access),
            Some(json!({"kind": "read", "seq": first_seq})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(counts(&app, &bob, &group).await, (2, 1));
    assert_eq!(mentioning(&app, &bob).await.len(), 2);

    // Only members may be mentioned, at most 50.
    for mentions in [json!([eve.id]), json!([uuid::Uuid::now_v7()])] {
        let r = post(
            &app,
            &ann,
            &group,
            json!({"client_id": format!("x-{mentions}"), "body": "hi", "mentions": mentions}),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{:?}",
            r.body
        );
    }
    let many: Vec<String> = (0..51).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let r = post(
        &app,
        &ann,
        &group,
        json!({"client_id": "many", "body": "hi", "mentions": many}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed"),
        "{:?}",
        r.body
    );

    // A deleted message mentions no one any more.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/messages/{second}"),
            Some(&cat.access),
            None,
        )
        .await;
    assert_eq!((r.status, &r.body["mentions"]), (200, &json!([])));
    assert_eq!(mentioning(&app, &bob).await, ["@Bob can you look?"]);
    assert_eq!(counts(&app, &bob, &group).await.1, 0);
    assert_eq!(counts(&app, &ann, &group).await.1, 0);

    // Someone removed from the group no longer finds its mentions.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/conversations/{group}/members/{}", bob.id),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(mentioning(&app, &bob).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_stop_at_a_hundred() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let conv = app.direct(&ann, &bob).await;
    for i in 0..99 {
        post(
            &app,
            &ann,
            &conv,
            json!({"client_id": format!("c{i}"), "body": "x"}),
        )
        .await;
    }
    assert_eq!(counts(&app, &bob, &conv).await.0, 99);
    for i in 99..130 {
        post(
            &app,
            &ann,
            &conv,
            json!({"client_id": format!("c{i}"), "body": "x"}),
        )
        .await;
    }
    assert_eq!(
        counts(&app, &bob, &conv).await.0,
        100,
        "counted up to 100: 99+"
    );
    assert_eq!(
        counts(&app, &ann, &conv).await.0,
        0,
        "one's own messages are read"
    );
}

/// `who`'s notification settings of `conv`, from the conversation list.
async fn notifications(app: &TestApp, who: &TestUser, conv: &str) -> Value {
    let r = app.get("/api/conversations", &who.access).await;
    r.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conv)
        .unwrap()["notifications"]
        .clone()
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_levels_are_kept_per_member_and_reach_every_device(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| c.chat.mentions_only_group_size = 2).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let cat = app.signup("Cat").await;
    let eve = app.signup("Eve").await;
    let direct = app.direct(&ann, &bob).await;
    let big = app.group(&ann, "Three is big here", &[&bob, &cat]).await;

    // Defaults: everything in a direct chat, mentions only in a group over the size setting.
    assert_eq!(
        notifications(&app, &ann, &direct).await,
        json!({"level": "all", "chosen": null, "muted_until": null})
    );
    assert_eq!(notifications(&app, &ann, &big).await["level"], "mentions");

    // A choice on one device reaches the others at once and every later list.
    let mut laptop = app.socket(&ann).await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    let r = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{big}/notifications"),
            Some(&ann.access),
            Some(json!({"level": "all", "muted_until": until})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (&r.body["level"], &r.body["chosen"]),
        (&json!("all"), &json!("all"))
    );
    let muted = r.body["muted_until"].as_str().unwrap().to_owned();
    let ev = laptop.event("conversation:notifications").await;
    assert_eq!(ev["conversation_id"], big.as_str());
    assert_eq!(ev["notifications"], r.body);
    let listed = notifications(&app, &ann, &big).await;
    assert_eq!(listed, r.body);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&muted).unwrap(),
        chrono::DateTime::parse_from_rfc3339(listed["muted_until"].as_str().unwrap()).unwrap()
    );
    // Per member: Bob still has the default.
    assert_eq!(notifications(&app, &bob, &big).await["level"], "mentions");

    // Back to the default; a mute that already ended is no mute.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let r = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{big}/notifications"),
            Some(&ann.access),
            Some(json!({"level": null, "muted_until": past})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"level": "mentions", "chosen": null, "muted_until": null})
    );
    let r = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{direct}/notifications"),
            Some(&bob.access),
            Some(json!({"level": "none"})),
        )
        .await;
    assert_eq!(r.body["level"], "none", "{:?}", r.body);
    assert_eq!(notifications(&app, &ann, &direct).await["level"], "all");

    // Not a member: not found. Not a level: refused.
    let r = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{big}/notifications"),
            Some(&eve.access),
            Some(json!({"level": "none"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
    let r = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{big}/notifications"),
            Some(&ann.access),
            Some(json!({"level": "loud"})),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{:?}", r.body);
}
