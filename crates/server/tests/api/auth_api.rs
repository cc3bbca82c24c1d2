//! The user service's HTTP API (SPEC §2, §6), driven over HTTP against a spawned app, once on
//! the embedded backends and once on PostgreSQL + RabbitMQ + Redis.

use chatsync_core::config::SmtpTls;
use chatsync_testkit::{Backends, Resp, SmtpSink, TestApp, eventually, user_from};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
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
async fn wrong_codes_all_read_alike_and_five_burn_the_code(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| c.auth.otp_resend_cooldown_secs = 0).await;
    app.register("bob@example.com", "password123", "Bob").await;
    let code = app.code_for("bob@example.com", None).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = |otp: &str| {
        app.post(
            "/api/auth/verify",
            json!({"email": "bob@example.com", "otp": otp}),
        )
    };
    let mut answers = Vec::new();
    for _ in 0..5 {
        let r = verify(wrong).await;
        answers.push((
            r.status,
            r.code().to_owned(),
            r.body["error"]["message"].clone(),
        ));
    }
    assert_eq!(answers[0].0, 400);
    assert_eq!(answers[0].1, "otp_invalid");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "no count of attempts left, not even at the last: {answers:?}"
    );
    let r = verify(&code).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "otp_exhausted"),
        "the burnt code no longer works, and its holder is told why"
    );

    // A new code gets fresh tries.
    let r = app
        .post("/api/auth/resend-otp", json!({"email": "bob@example.com"}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let fresh = app.code_for("bob@example.com", Some(&code)).await;
    assert_eq!(verify(&fresh).await.status, 200);
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
    // Re-registering inside the cooldown is a registration of its own, with its own code.
    let r = app.register("cat@example.com", "password456", "Cat").await;
    assert_eq!(r.status, 202);
    assert!(r.body["resend_after"].as_u64().unwrap() <= 60);
    app.code_for("cat@example.com", Some(&first)).await;

    tokio::time::sleep(Duration::from_millis(1500)).await; // the code's 1 s lifetime
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": "cat@example.com", "otp": first}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "otp_expired"));

    // Unknown addresses get the same answers as known ones, cooldown included, and no mail.
    let ghost = || {
        app.post(
            "/api/auth/resend-otp",
            json!({"email": "ghost@example.com"}),
        )
    };
    assert_eq!(ghost().await.status, 202);
    assert_eq!(ghost().await.code(), "otp_cooldown");
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

    // Someone who knows only the session id (it is in every access token) forges a secret:
    // refused, and the session lives on.
    let forged = format!("{}.{}", ann.session_id, "A".repeat(43));
    let r = app
        .post("/api/auth/refresh", json!({"refresh_token": forged}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    assert_eq!(app.get("/api/users/me", &ann.access).await.status, 200);
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
    let r = app
        .get(
            &format!("/api/users?q={}", bob.email.to_uppercase()),
            &ann.access,
        )
        .await;
    assert_eq!(
        r.body["users"][0]["id"],
        bob.id.as_str(),
        "by whole address"
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

/// Verifies `email` with `otp`.
async fn verify(app: &TestApp, email: &str, otp: &str) -> Resp {
    app.post("/api/auth/verify", json!({"email": email, "otp": otp}))
        .await
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn a_later_registration_cannot_change_what_an_earlier_code_verifies(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let email = "victim@example.com";
    let r = app.register(email, "victim password", "Vera").await;
    assert_eq!(r.status, 202);
    let victims_code = app.code_for(email, None).await;

    // Someone else registers the same address, inside the resend cooldown.
    let r = app.register(email, "attacker password", "Mallory").await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // The owner uses the code from their mail: it activates what they submitted with it.
    let r = verify(&app, email, &victims_code).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["display_name"], "Vera");
    let vera = user_from(&r.body, email, "victim password", "Vera");
    let me = app.get("/api/users/me", &vera.access).await;
    assert_eq!(me.body["display_name"], "Vera");
    let r = app.login(email, "victim password").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app.login(email, "attacker password").await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));

    // The second registration's own code (it went to the owner's mailbox) is dead now.
    let attackers_code = app.code_greeting(email, "Mallory", None).await;
    let r = verify(&app, email, &attackers_code).await;
    assert_eq!((r.status, r.code()), (400, "otp_invalid"));
    assert_eq!(app.login(email, "attacker password").await.status, 401);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn with_the_password_at_verify_even_the_newest_mails_code_activates_the_owners_account(
    #[case] b: Backends,
) {
    let app = TestApp::spawn(b).await;
    let email = "newest@example.com";
    assert_eq!(
        app.register(email, "victim password", "Vera").await.status,
        202
    );
    let victims_code = app.code_for(email, None).await;
    assert_eq!(
        app.register(email, "attacker password", "Mallory")
            .await
            .status,
        202
    );
    // The owner opens the newest mail: its code was made for the other registration.
    let newest = app.code_for(email, Some(&victims_code)).await;

    // A wrong password with a valid code activates nothing.
    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": email, "otp": newest, "password": "not it at all"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_credentials"),
        "{:?}",
        r.body
    );

    let r = app
        .post(
            "/api/auth/verify",
            json!({"email": email, "otp": newest, "password": "victim password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["display_name"], "Vera");
    assert_eq!(app.login(email, "victim password").await.status, 200);
    assert_eq!(app.login(email, "attacker password").await.status, 401);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn the_resend_cooldown_cannot_hold_back_the_owners_code(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let email = "owner@example.com";
    // The stranger registers first, which starts the cooldown...
    assert_eq!(
        app.register(email, "attacker password", "Mallory")
            .await
            .status,
        202
    );
    let r = app
        .post("/api/auth/resend-otp", json!({"email": email}))
        .await;
    assert_eq!((r.status, r.code()), (429, "otp_cooldown"));
    // ...yet the owner's registration inside it gets its own code at once.
    assert_eq!(
        app.register(email, "owner password", "Olga").await.status,
        202
    );
    let code = app.code_greeting(email, "Olga", None).await;
    let r = verify(&app, email, &code).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["display_name"], "Olga");
    assert_eq!(app.login(email, "owner password").await.status, 200);
    assert_eq!(app.login(email, "attacker password").await.status, 401);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn a_resend_mails_each_pending_registration_a_code_for_its_own_credentials(
    #[case] b: Backends,
) {
    let app = TestApp::spawn_with(b, |c| c.auth.otp_resend_cooldown_secs = 0).await;
    let email = "both@example.com";
    app.register(email, "first password", "First").await;
    let first_old = app.code_greeting(email, "First", None).await;
    app.register(email, "second password", "Second").await;
    let second_old = app.code_greeting(email, "Second", None).await;

    let r = app
        .post("/api/auth/resend-otp", json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let first_new = app.code_greeting(email, "First", Some(&first_old)).await;
    app.code_greeting(email, "Second", Some(&second_old)).await;
    // The resent code replaced the old one (unless the dice repeated it).
    if first_new != first_old {
        assert_eq!(verify(&app, email, &first_old).await.code(), "otp_invalid");
    }
    let r = verify(&app, email, &first_new).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["display_name"], "First");
    assert_eq!(app.login(email, "first password").await.status, 200);
    assert_eq!(app.login(email, "second password").await.status, 401);
}

/// What each endpoint answers for `email` (`wrong` is a code it was not sent), with the
/// address left out of bodies.
async fn answers(app: &TestApp, email: &str, wrong: &str) -> Vec<(&'static str, u16, Value)> {
    let strip = |r: Resp| {
        let mut body = r.body;
        if let Some(o) = body.as_object_mut() {
            o.remove("email");
        }
        body
    };
    let mut out = Vec::new();
    let r = verify(app, email, wrong).await;
    out.push(("verify", r.status, strip(r)));
    let r = app.login(email, "not the password").await;
    out.push(("login", r.status, strip(r)));
    let r = app
        .post("/api/auth/resend-otp", json!({"email": email}))
        .await;
    out.push(("resend", r.status, strip(r)));
    out
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn pending_addresses_answer_exactly_like_unknown_ones(#[case] b: Backends) {
    // One app without a resend cooldown, one with the default 60 s, so every state is seen
    // both outside and inside it.
    for cooldown in [0, 60] {
        let app = TestApp::spawn_with(b, |c| c.auth.otp_resend_cooldown_secs = cooldown).await;
        let pending = format!("pending-{cooldown}@example.com");
        let r = app.register(&pending, "password123", "Pat").await;
        assert_eq!(r.status, 202);
        let code = app.code_for(&pending, None).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let verified = app.signup("Vic").await;
        let unknown = format!("unknown-{cooldown}@example.com");
        if cooldown > 0 {
            // The pending and verified addresses are inside the cooldown their registration
            // started; put the unknown one there too, as asking once does.
            let r = app
                .post("/api/auth/resend-otp", json!({"email": unknown}))
                .await;
            assert_eq!(r.status, 202);
        }
        let table = [
            ("unknown", answers(&app, &unknown, wrong).await),
            ("pending", answers(&app, &pending, wrong).await),
            ("verified", answers(&app, &verified.email, wrong).await),
        ];
        for (state, rows) in &table[1..] {
            assert_eq!(
                rows, &table[0].1,
                "cooldown {cooldown}: {state} differs from unknown"
            );
        }
        let resend = &table[0].1[2];
        if cooldown > 0 {
            assert_eq!(
                (resend.1, &resend.2["error"]["code"]),
                (429, &json!("otp_cooldown"))
            );
        } else {
            assert_eq!(resend.1, 202);
        }
        assert_eq!(table[0].1[0].2["error"]["code"], "otp_invalid");
        assert_eq!(table[0].1[1].2["error"]["code"], "invalid_credentials");

        // Registering: a pending address (in its cooldown or not) answers as a new one; only a
        // verified address is taken (SPEC §2: 409).
        let fresh = app
            .register(&format!("fresh-{cooldown}@example.com"), "password123", "F")
            .await;
        let again = app.register(&pending, "password456", "P2").await;
        assert_eq!((fresh.status, again.status), (202, 202));
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("email");
            v
        };
        assert_eq!(strip(fresh.body), strip(again.body));
        let taken = app.register(&verified.email, "password123", "V").await;
        assert_eq!((taken.status, taken.code()), (409, "email_taken"));

        // Only someone who knows a password registered for a pending address learns it is
        // pending.
        let r = app.login(&pending, "password123").await;
        assert_eq!((r.status, r.code()), (403, "unverified"));
        let r = app.login(&pending, "password456").await;
        assert_eq!((r.status, r.code()), (403, "unverified"));
    }
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn guesses_are_capped_per_address_across_every_code_it_is_sent(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| {
        c.auth.otp_resend_cooldown_secs = 0;
        c.auth.otp_max_attempts = 3;
        c.auth.verify_per_address.limit = 5;
    })
    .await;
    let email = "guess@example.com";
    app.register(email, "password123", "Gus").await;
    let first = app.code_for(email, None).await;
    let wrong = |code: &str| if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        assert_eq!(
            verify(&app, email, wrong(&first)).await.code(),
            "otp_invalid"
        );
    }
    // The code is burnt; a new one gets fresh tries, but the address does not get fresh
    // guesses.
    app.post("/api/auth/resend-otp", json!({"email": email}))
        .await;
    let second = app.code_for(email, Some(&first)).await;
    assert_eq!(
        verify(&app, email, wrong(&second)).await.code(),
        "otp_invalid"
    );
    let r = verify(&app, email, wrong(&second)).await;
    assert_eq!(r.code(), "otp_invalid", "the fifth check is still answered");
    let r = verify(&app, email, &second).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "rate_limited"),
        "past the cap not even the right code is checked: {:?}",
        r.body
    );
    assert!(r.header("retry-after").is_some());

    // An unknown address is capped the same way.
    for _ in 0..5 {
        assert_eq!(
            verify(&app, "nobody@example.com", "123456").await.code(),
            "otp_invalid"
        );
    }
    assert_eq!(
        verify(&app, "nobody@example.com", "123456").await.code(),
        "rate_limited"
    );
}

/// Logs in as if from `ip` (the app trusts `X-Forwarded-For`).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> u16 {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn a_stranger_failing_on_purpose_cannot_lock_the_owner_out(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| {
        c.http.trust_forwarded_for = true;
        c.auth.login_per_account_ip.limit = 3;
        c.auth.login_per_account.limit = 6;
        c.auth.login_slow_per_ip.limit = 1;
    })
    .await;
    let ann = app.signup("Ann").await;
    let (email, right) = (ann.email.as_str(), ann.password.as_str());
    let stranger = "203.0.113.1";
    for _ in 0..3 {
        assert_eq!(login_from(&app, stranger, email, "guess guess").await, 401);
    }
    assert_eq!(login_from(&app, stranger, email, "guess guess").await, 429);
    assert_eq!(
        login_from(&app, "198.51.100.7", email, right).await,
        200,
        "the owner, elsewhere, still gets in"
    );
    assert_eq!(
        login_from(&app, stranger, email, right).await,
        429,
        "the stranger's address stays refused, whatever it sends"
    );

    // Spread over many addresses, failures slow every address down to one try per window,
    // still without refusing the right password.
    assert_eq!(login_from(&app, "203.0.113.2", email, "guess").await, 401);
    assert_eq!(login_from(&app, "203.0.113.2", email, "guess").await, 401);
    assert_eq!(login_from(&app, "203.0.113.3", email, "guess").await, 401);
    assert_eq!(login_from(&app, "203.0.113.3", email, "guess").await, 429);
    assert_eq!(login_from(&app, "203.0.113.4", email, "guess").await, 401);
    assert_eq!(login_from(&app, "203.0.113.4", email, "guess").await, 429);
    assert_eq!(login_from(&app, "198.51.100.8", email, right).await, 200);
    // Other accounts are not affected at all.
    let bob = app.signup("Bob").await;
    assert_eq!(
        login_from(&app, stranger, &bob.email, &bob.password).await,
        200
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn an_address_cannot_be_spelled_out_through_search(#[case] b: Backends) {
    let app = TestApp::spawn(b).await;
    let me = app.signup("Searcher").await;
    let email = "kq7x.target@example.com";
    app.register(email, "password123", "Zed Quill").await;
    let code = app.code_for(email, None).await;
    assert_eq!(verify(&app, email, &code).await.status, 200);
    let found = |q: String| {
        let app = &app;
        let token = me.access.clone();
        async move {
            let r = app
                .client
                .get(app.url("/api/users"))
                .bearer_auth(token)
                .query(&[("q", q.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["users"].as_array().unwrap().len()
        }
    };
    for n in 1..email.len() {
        assert_eq!(
            found(email[..n].to_owned()).await,
            0,
            "prefix {:?}",
            &email[..n]
        );
    }
    assert_eq!(
        found(email.to_owned()).await,
        1,
        "the whole address finds them"
    );
    assert_eq!(
        found("quill".to_owned()).await,
        1,
        "names match by prefix as before"
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test]
async fn search_is_rate_limited_per_account(#[case] b: Backends) {
    let app = TestApp::spawn_with(b, |c| c.auth.search_per_account.limit = 3).await;
    let ann = app.signup("Ann").await;
    let bob = app.signup("Bob").await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/users?q=bo", &ann.access).await.status, 200);
    }
    let r = app.get("/api/users?q=bo", &ann.access).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Per account, not per session or address: a second login does not reset it.
    let again = app.login(&ann.email, &ann.password).await;
    let token = again.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/users?q=bo", token).await.status, 429);
    assert_eq!(app.get("/api/users?q=an", &bob.access).await.status, 200);
}

#[tokio::test]
async fn display_names_with_direction_controls_or_hidden_characters_are_refused() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    for bad in [
        "Ann\u{202E}txt.exe",
        "An\u{200B}n",
        "\u{2067}Ann\u{2069}",
        "A\u{200D}nn",
    ] {
        let r = app.register("x@example.com", "password123", bad).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{bad:?}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("display_name"),
            "{:?}",
            r.body
        );
    }
    let ann = app.signup("Ann").await;
    let r = app
        .call(
            Method::PATCH,
            "/api/users/me",
            Some(&ann.access),
            Some(json!({"display_name": "Ann\u{202D}"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    // Joiners inside emoji are part of the emoji, and stay.
    let family = "Ann \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    let r = app
        .call(
            Method::PATCH,
            "/api/users/me",
            Some(&ann.access),
            Some(json!({"display_name": family})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["display_name"].as_str()),
        (200, Some(family))
    );
}

/// Everything logged on this thread, at every level, while the guard lives.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Lines where `code` stands as a word of its own (not inside a longer run of digits or
    /// an id, where six given digits turn up by chance).
    fn lines_with(&self, code: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| {
                line.match_indices(code).any(|(i, _)| {
                    let before = line[..i].chars().next_back();
                    let after = line[i + code.len()..].chars().next();
                    !before.is_some_and(|c| c.is_ascii_alphanumeric())
                        && !after.is_some_and(|c| c.is_ascii_alphanumeric())
                })
            })
            .map(str::to_owned)
            .collect()
    }
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test] // one thread: the app's tasks log where the capture is installed
async fn a_code_mailed_over_smtp_leaves_no_trace_in_the_logs(#[case] b: Backends) {
    let (logs, _guard) = CapturedLogs::start();
    let sink = SmtpSink::start(0);
    let app = TestApp::spawn_with(b, |c| {
        c.mail.smtp_host = Some("127.0.0.1".into());
        c.mail.smtp_port = Some(sink.port);
        c.mail.smtp_tls = SmtpTls::None;
    })
    .await;
    assert_eq!(
        app.register("ann@example.com", "password123", "Ann")
            .await
            .status,
        202
    );
    let raw = sink
        .wait_for("ann@example.com", Duration::from_secs(30))
        .await;
    let at = raw.find("code is: ").expect("code in the text part") + "code is: ".len();
    let code = &raw[at..at + 6];
    assert!(raw.contains(&format!("Subject: {code} is your ChatSync code")));
    // Wait for the worker's own log line about this mail, so the check below is not vacuous.
    eventually(Duration::from_secs(10), || async {
        logs.text().contains("mail sent").then_some(())
    })
    .await;
    assert_eq!(verify(&app, "ann@example.com", code).await.status, 200);
    let text = logs.text();
    assert!(
        text.contains("ann@example.com"),
        "the capture works: {text}"
    );
    let leaked = logs.lines_with(code);
    assert!(
        leaked.is_empty(),
        "the code {code} was logged:\n{}",
        leaked.join("\n")
    );
}
