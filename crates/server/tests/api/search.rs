//! Message search and opening history at a hit (issue 11, item 1), through the REST API of a
//! running server, on the embedded backends and on PostgreSQL + RabbitMQ + Redis.

use chatsync_testkit::{Backends, Resp, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

/// Sends `body` to `conv` as `who` over REST; returns the stored message.
async fn say(app: &TestApp, who: &TestUser, conv: &str, body: &str) -> Value {
    // Distinct creation times keep "newest first" unambiguous.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/conversations/{conv}/messages"),
            Some(&who.access),
            Some(json!({"client_id": uuid::Uuid::now_v7().to_string(), "body": body})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

async fn search(app: &TestApp, who: &TestUser, query: &str) -> Resp {
    app.get(&format!("/api/search/messages?{query}"), &who.access)
        .await
}

/// The bodies of the hits of a successful search.
async fn found(app: &TestApp, who: &TestUser, query: &str) -> Vec<String> {
    let r = search(app, who, query).await;
    assert_eq!(r.status, 200, "{query}: {:?}", r.body);
    r.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"]["body"].as_str().unwrap().to_owned())
        .collect()
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_messages_newest_first_and_nobody_else_does(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let cat = app.signup("Cat").await;
    let eve = app.signup("Eve").await;
    let group = app.group(&ann, "Ops", &[&bob, &cat]).await;
    let direct = app.direct(&ann, &bob).await;
    let theirs = app.direct(&eve, &cat).await;

    let friday = say(&app, &ann, &group, "Deploying the release on Friday").await;
    let lunch = say(&app, &ann, &group, "lunch at noon?").await;
    let went = say(&app, &bob, &group, "the deploy went fine").await;
    say(&app, &bob, &direct, "deploy notes for you").await;
    say(&app, &eve, &theirs, "secret deploy plans").await;

    // A hit: the message as history shows it, its conversation and seq, a marked snippet.
    let r = search(&app, &ann, "q=deploy").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let hits = r.body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert_eq!(hits[0]["message"]["body"], "deploy notes for you");
    assert_eq!(hits[0]["conversation_id"], direct.as_str());
    assert_eq!(hits[0]["seq"], 1);
    assert_eq!(hits[0]["snippet"], "<mark>deploy</mark> notes for you");
    assert_eq!(hits[2]["message"]["id"], friday["id"]);
    assert_eq!(hits[2]["conversation_id"], group.as_str());
    assert_eq!(hits[2]["seq"], friday["seq"]);
    assert!(
        hits[2]["snippet"]
            .as_str()
            .unwrap()
            .starts_with("<mark>Deploying</mark> the release"),
        "{hits:?}"
    );
    assert!(r.body.get("next_before").is_none(), "{:?}", r.body);

    // Every word, the last as a prefix (people search as they type); case does not matter.
    assert_eq!(
        found(&app, &bob, "q=DEPLOY%20fri").await,
        ["Deploying the release on Friday"]
    );
    assert_eq!(
        found(&app, &bob, "q=relea").await,
        ["Deploying the release on Friday"]
    );
    // Only my conversations: Cat is in the group, not in Ann and Bob's direct chat; Eve in
    // none of them.
    assert_eq!(
        found(&app, &cat, "q=deploy").await,
        [
            "secret deploy plans",
            "the deploy went fine",
            "Deploying the release on Friday"
        ]
    );
    assert_eq!(found(&app, &eve, "q=deploy").await, ["secret deploy plans"]);
    assert!(found(&app, &eve, "q=friday").await.is_empty());
    // One conversation; one that is not mine is not found (the same answer as a made-up id).
    assert_eq!(
        found(&app, &ann, &format!("q=deploy&conversation_id={direct}")).await,
        ["deploy notes for you"]
    );
    for conv in [group.clone(), uuid::Uuid::now_v7().to_string()] {
        let r = search(&app, &eve, &format!("q=deploy&conversation_id={conv}")).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
    }

    // An edit is found by its new words at once, a deleted message not at all.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/messages/{}", lunch["id"].as_str().unwrap()),
            Some(&ann.access),
            Some(json!({"body": "dinner at eight?"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(found(&app, &bob, "q=lunch").await.is_empty());
    assert_eq!(found(&app, &bob, "q=dinner").await, ["dinner at eight?"]);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/messages/{}", went["id"].as_str().unwrap()),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        found(&app, &cat, "q=deploy").await,
        ["secret deploy plans", "Deploying the release on Friday"]
    );

    // A member removed from the group stops finding its messages.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/conversations/{group}/members/{}", cat.id),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(found(&app, &cat, "q=deploy").await, ["secret deploy plans"]);
    let r = search(&app, &cat, &format!("q=friday&conversation_id={group}")).await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_page_by_next_before_and_history_opens_around_one(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    let conv = app.direct(&ann, &bob).await;
    for i in 1..=30 {
        let body = if i % 3 == 0 {
            format!("invoice number {i}")
        } else {
            format!("chatter {i}")
        };
        say(&app, &ann, &conv, &body).await;
    }

    // Ten invoices, four pages of three, newest first; `next_before` is passed back verbatim.
    let mut seqs = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = "q=invoice&limit=3".to_owned();
        if let Some(b) = &before {
            q += &format!("&before={}", urlencode(b));
        }
        let r = search(&app, &bob, &q).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        pages += 1;
        seqs.extend(
            r.body["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["seq"].as_i64().unwrap()),
        );
        match r.body["next_before"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => break,
        }
    }
    assert_eq!(seqs, [30, 27, 24, 21, 18, 15, 12, 9, 6, 3]);
    assert_eq!(pages, 4);

    // History around a hit: the hit and its neighbours, older first.
    let r = app
        .get(
            &format!("/api/conversations/{conv}/messages?around_seq=15&limit=10"),
            &bob.access,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let around: Vec<i64> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(around, (11..=20).collect::<Vec<_>>());
    assert_eq!(
        (r.body["has_more"].as_bool(), r.body["has_newer"].as_bool()),
        (Some(true), Some(true))
    );
    // At the ends of the conversation.
    let r = app
        .get(
            &format!("/api/conversations/{conv}/messages?around_seq=30&limit=4"),
            &bob.access,
        )
        .await;
    let around: Vec<i64> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(around, [29, 30]);
    assert_eq!(r.body["has_newer"], false);
    let r = app
        .get(
            &format!("/api/conversations/{conv}/messages?around_seq=1&limit=1"),
            &bob.access,
        )
        .await;
    assert_eq!(r.body["messages"][0]["seq"], 1);
    assert_eq!(
        (r.body["has_more"].as_bool(), r.body["has_newer"].as_bool()),
        (Some(false), Some(true))
    );
    // Not with before/after; not for outsiders.
    let r = app
        .get(
            &format!("/api/conversations/{conv}/messages?around_seq=15&before_seq=20"),
            &bob.access,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_payload"),
        "{:?}",
        r.body
    );
    let eve = app.signup("Eve").await;
    let r = app
        .get(
            &format!("/api/conversations/{conv}/messages?around_seq=15"),
            &eve.access,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_get_clear_errors_and_searching_is_rate_limited() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.chat.search_per_account = chatsync_core::config::RateLimit::new(5, 3600);
    })
    .await;
    let ann = app.signup("Ann").await;
    let cases = [
        ("", 400, "invalid_query"),
        ("q=", 422, "validation_failed"),
        ("q=%20%20", 422, "validation_failed"),
        (&*format!("q={}", "a".repeat(201)), 422, "validation_failed"),
        ("q=x&before=yesterday", 400, "invalid_query"),
        ("q=x&conversation_id=nope", 404, "not_found"),
    ];
    for (query, status, code) in cases {
        let r = search(&app, &ann, query).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{query}: {:?}",
            r.body
        );
    }
    // Only punctuation: nothing to look for, nothing found.
    assert!(found(&app, &ann, "q=%22*()").await.is_empty());
    // Without a token: 401.
    let r = app
        .call(Method::GET, "/api/search/messages?q=x", None, None)
        .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    // Per account: the 6th search within the window is refused with a time to wait.
    let r = search(&app, &ann, "q=x").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = search(&app, &ann, "q=x").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    let bob = app.signup("Bob").await;
    assert_eq!(
        search(&app, &bob, "q=x").await.status,
        200,
        "others are not limited"
    );
}
