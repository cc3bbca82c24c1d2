//! The user service's HTTP API (SPEC §2, §6), driven over HTTP against a spawned app, once on
//! the embedded backends and once on PostgreSQL + RabbitMQ + Redis.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure with its message

use chatsync_testkit::{Backends, TestApp, user_from};
use reqwest::Method;
use rstest::rstest;
use serde_json::json;
use std::time::Duration;

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn register_verify_login_and_me(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let r = app
        .register("Ann@Example.com", "hunter2hunter2", "Ann")
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["email"], "ann@example.com");
    assert_eq!(r.body["otp_expires_in"], 600);

    // Cannot log in before verifying.
    let r = app.login("ann@example.com", "hunter2hunter2").await;
    assert_eq!((r.status, r.code()), (403, "unverified"));

    let code = app.code_for("ann@example.com", None).await;
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "ann@example.com", "otp": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["user"]["display_name"], "Ann");
    let ann = user_from(&r.body, "ann@example.com", "hunter2hunter2", "Ann");

    let me = app.get("/api/users/me", &ann.access).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "ann@example.com");
    assert_eq!(me.body["id"], ann.id.as_str());

    // The code is single-use.
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "ann@example.com", "otp": code}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "otp_invalid"));

    let r = app.login("ANN@example.com", "hunter2hunter2").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_ne!(
        r.body["session_id"],
        ann.session_id.as_str(),
        "a login is a new session"
    );
    let r = app.login("ann@example.com", "wrong password").await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    let r = app.login("nobody@example.com", "hunter2hunter2").await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_credentials"),
        "unknown and wrong look alike"
    );

    // A verified address cannot be registered again.
    let r = app
        .register("ann@example.com", "another password", "Mallory")
        .await;
    assert_eq!((r.status, r.code()), (409, "email_taken"));
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn bad_input_gets_clear_errors_with_the_right_status(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let reg = "/api/auth/register";
    let r = app
        .post_raw(reg, "application/json", b"{\"email\": ".to_vec())
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"));
    let r = app
        .post(
            reg,
            json!({"email": "a@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_body"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("display_name"),
        "{:?}",
        r.body
    );
    let r = app
        .post(
            reg,
            json!({"email": 5, "password": "12345678", "display_name": "A"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_body"));
    let r = app.register("not-an-email", "12345678", "A").await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("email")
    );
    let r = app.register("a@example.com", "short", "A").await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 8")
    );
    let r = app
        .register("a@example.com", "12345678", &"n".repeat(65))
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = app.register("a@example.com", "12345678", "   ").await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let huge =
        json!({"email": "a@example.com", "password": "x".repeat(70 * 1024), "display_name": "A"});
    let r = app.post(reg, huge).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = app.post_raw(reg, "text/plain", b"hello".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "a@example.com", "otp": "12ab56"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));

    // Unknown routes and methods answer JSON too.
    let r = app.post("/api/nope", json!({})).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = app
        .call(Method::DELETE, "/api/auth/login", None, None)
        .await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));

    // Authentication.
    let r = app.call(Method::GET, "/api/users/me", None, None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = app.get("/api/users/me", "not.a.token").await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    for path in [
        "/api/sessions",
        "/api/users?q=a",
        "/api/users/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            app.call(Method::GET, path, None, None).await.status,
            401,
            "{path}"
        );
    }
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn wrong_codes_count_down_and_five_burn_the_code(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    app.register("bob@example.com", "password123", "Bob").await;
    let code = app.code_for("bob@example.com", None).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..5).rev() {
        let r = app
            .post(
                "/api/auth/verify",
                json!({"email": "bob@example.com", "otp": wrong}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "otp_invalid"));
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempt")),
            "{:?}",
            r.body
        );
    }
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "bob@example.com", "otp": wrong}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "otp_exhausted"));
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "bob@example.com", "otp": code}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "otp_invalid"),
        "the burnt code no longer works"
    );
}

#[tokio::test]
async fn codes_expire_and_resend_has_a_cooldown() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| c.auth.otp_ttl_secs = 1).await;
    app.register("cat@example.com", "password123", "Cat").await;
    let first = app.code_for("cat@example.com", None).await;

    // Within the cooldown: no second mail, and a clear 429.
    let r = app
        .post("/api/auth/resend-otp", json!({"email": "cat@example.com"}))
        .await;
    assert_eq!((r.status, r.code()), (429, "otp_cooldown"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Re-registering inside the cooldown keeps the code already sent.
    let r = app.register("cat@example.com", "password456", "Cat").await;
    assert_eq!(r.status, 202);
    assert!(r.body["resend_after"].as_u64().unwrap() <= 60);

    tokio::time::sleep(Duration::from_millis(1500)).await; // the code's 1 s lifetime
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "cat@example.com", "otp": first}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "otp_expired"));

    // Unknown addresses get the same answer as known ones, and no mail.
    let r = app
        .post(
            "/api/auth/resend-otp",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(r.status, 202);
}

#[tokio::test]
async fn resend_sends_a_new_code_after_the_cooldown() {
    let app =
        TestApp::spawn_with(Backends::EMBEDDED, |c| c.auth.otp_resend_cooldown_secs = 1).await;
    app.register("dan@example.com", "password123", "Dan").await;
    let first = app.code_for("dan@example.com", None).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the 1 s cooldown
    let r = app
        .post("/api/auth/resend-otp", json!({"email": "dan@example.com"}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let second = app.code_for("dan@example.com", Some(&first)).await;
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "dan@example.com", "otp": first}),
        )
        .await;
    assert_eq!(r.status, 400, "the old code was replaced");
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "dan@example.com", "otp": second}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": ann.refresh}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let new_access = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, ann.refresh);
    assert_eq!(
        r.body["session_id"],
        ann.session_id.as_str(),
        "same session"
    );
    assert_eq!(app.get("/api/users/me", &new_access).await.status, 200);

    // Replaying the old refresh token: someone copied it. The session ends.
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": ann.refresh}))
        .await;
    assert_eq!((r.status, r.code()), (401, "refresh_token_reused"));
    let r = app.get("/api/users/me", &new_access).await;
    assert_eq!((r.status, r.code()), (401, "session_revoked"));
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": new_refresh}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": "garbage"}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn logout_and_session_revocation_take_effect_at_once(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann").await;
    let laptop = app.login(&ann.email, &ann.password).await;
    let laptop_access = laptop.body["access_token"].as_str().unwrap().to_owned();
    let laptop_session = laptop.body["session_id"].as_str().unwrap().to_owned();

    let r = app.get("/api/sessions", &ann.access).await;
    assert_eq!(r.status, 200);
    let sessions = r.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["id"], laptop_session.as_str(), "newest first");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[0]["user_agent"], "chatsync-testkit");

    // Someone else's session id is "not found", not "forbidden".
    let bob = app.signup("Bob").await;
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{laptop_session}"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = app
        .call(
            Method::DELETE,
            "/api/sessions/not-a-uuid",
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(r.status, 404);

    let r = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{laptop_session}"),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app.get("/api/users/me", &laptop_access).await;
    assert_eq!((r.status, r.code()), (401, "session_revoked"));

    let r = app
        .call(Method::POST, "/api/auth/logout", Some(&ann.access), None)
        .await;
    assert_eq!(r.status, 204);
    let r = app.get("/api/users/me", &ann.access).await;
    assert_eq!((r.status, r.code()), (401, "session_revoked"));
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": ann.refresh}))
        .await;
    assert_eq!(r.status, 401, "a logged-out session cannot be refreshed");
    assert_eq!(
        app.get("/api/users/me", &bob.access).await.status,
        200,
        "others are unaffected"
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn profiles_can_be_edited_and_searched(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let ann = app.signup("Ann Lee").await;
    let bob = app.signup("Bob Stone").await;
    let patch = |body| {
        app.call(
            Method::PATCH,
            "/api/users/me",
            Some(&ann.access),
            Some(body),
        )
    };
    let r =
        patch(json!({"display_name": "  Annie Lee ", "avatar_url": "https://example.com/a.png"}))
            .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["display_name"].as_str(),
            r.body["avatar_url"].as_str()
        ),
        (Some("Annie Lee"), Some("https://example.com/a.png"))
    );
    let r = patch(json!({"avatar_url": null})).await;
    assert_eq!(
        (
            r.body["display_name"].as_str(),
            r.body["avatar_url"].is_null()
        ),
        (Some("Annie Lee"), true)
    );
    let r = patch(json!({"display_name": ""})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = patch(json!({"avatar_url": "javascript:alert(1)"})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = patch(json!({"email": "x@example.com"})).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_body"),
        "unknown fields are refused"
    );

    let r = app.get("/api/users?q=sto", &ann.access).await;
    assert_eq!(r.status, 200);
    let users = r.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], bob.id.as_str());
    assert!(
        users[0].get("email").is_none(),
        "search does not reveal addresses"
    );
    let prefix = &bob.email[..6];
    let r = app
        .get(&format!("/api/users?q={prefix}"), &ann.access)
        .await;
    assert_eq!(
        r.body["users"][0]["id"],
        bob.id.as_str(),
        "by address prefix"
    );
    let r = app.get("/api/users?q=", &ann.access).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = app.get("/api/users?q=a&limit=abc", &ann.access).await;
    assert_eq!((r.status, r.code()), (400, "invalid_query"));

    let r = app
        .get(&format!("/api/users/{}", bob.id), &ann.access)
        .await;
    assert_eq!(
        (r.status, r.body["display_name"].as_str()),
        (200, Some("Bob Stone"))
    );
    assert_eq!(
        app.get(&format!("/api/users/{}", uuid::Uuid::new_v4()), &ann.access)
            .await
            .status,
        404
    );
    assert_eq!(app.get("/api/users/xyz", &ann.access).await.status, 404);
}

#[tokio::test]
async fn paging_through_search_results() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let me = app.signup("Searcher").await;
    for i in 0..5 {
        app.signup(&format!("Zoe {i}")).await;
    }
    let r = app.get("/api/users?q=zoe&limit=2", &me.access).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["next_offset"], 2);
    let r = app
        .get("/api/users?q=zoe&limit=2&offset=4", &me.access)
        .await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    assert!(r.body.get("next_offset").is_none());
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn rate_limits_answer_429_with_retry_after(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| {
        c.auth.login_per_ip.limit = 3;
        c.auth.register_per_ip.limit = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.login("x@example.com", "whatever1").await.status, 401);
    }
    let r = app.login("x@example.com", "whatever1").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    app.register("r1@example.com", "password123", "R").await;
    app.register("r2@example.com", "password123", "R").await;
    let r = app.register("r3@example.com", "password123", "R").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
}

#[tokio::test]
async fn login_is_limited_per_account_across_addresses() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| c.auth.login_per_account.limit = 2).await;
    let ann = app.signup("Ann").await;
    for _ in 0..2 {
        assert_eq!(app.login(&ann.email, "wrong password").await.status, 401);
    }
    let r = app.login(&ann.email, &ann.password).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "rate_limited"),
        "even the right password waits"
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn operational_endpoints_and_security_headers(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["checks"]["database"], "ok");
    if b == Backends::PRODUCTION {
        assert_eq!(r.body["checks"]["redis"], "ok");
        assert_eq!(r.body["checks"]["rabbitmq"], "ok");
    }
    app.login("nobody@example.com", "password1").await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/auth/login\""));

    let r = app.call(Method::GET, "/", None, None).await;
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "no CORS unless configured"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(Backends::EMBEDDED, |c| {
        c.http.cors_origins = "https://chat.example.com".into()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://chat.example.com").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://chat.example.com"
    );
    let bad = preflight("https://evil.example.com").await.unwrap();
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}
