//! The authorization matrix (issue 9): every REST route and every client Socket.IO event, tried
//! as each [`Role`], from one table ([`rows`]), once on the embedded backends and once on
//! PostgreSQL + RabbitMQ + Redis.
//!
//! Anonymous callers and revoked sessions get 401 (and no socket); people outside a
//! conversation, including former members, get `404 not_found` with a body that names nothing
//! of the resource; members get their answer, or `403 forbidden` where docs/API.md says only the
//! owner (of the group, the message, the session) may. Every mismatch is collected, so one run
//! names them all.
//!
//! `every_route_and_event_has_a_row` reads the services' sources and fails on a route or client
//! event without a row, or a row whose route no longer exists: a new route cannot be added
//! without deciding who may call it.

use chatsync_testkit::{Backends, Sock, TestApp, TestUser};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Role {
    /// Owns the resource: created the group, sent the message, uploaded the file, holds the
    /// session.
    Owner,
    /// A member of the group (and the owner's partner in the direct conversation).
    Member,
    /// Was a member of the group and was removed by its owner.
    Removed,
    /// A signed-in user who shares nothing with the owner.
    Stranger,
    /// No token at all.
    Anonymous,
    /// The access token of a session that logged out.
    Revoked,
}

const ROLES: [Role; 6] = [
    Role::Owner,
    Role::Member,
    Role::Removed,
    Role::Stranger,
    Role::Anonymous,
    Role::Revoked,
];

/// What one role must get.
#[derive(Clone, Copy, Debug)]
enum Exp {
    /// This success status (an `ok: true` ack, a connected socket: 200).
    Success(u16),
    /// 401 with one of the token codes (a refused socket connection).
    Unauthorized,
    /// 403 `forbidden`.
    Forbidden,
    /// 404 `not_found`, the error and nothing else.
    NotFound,
    /// Exactly this status and code (public routes' answers that are the same for everyone).
    Status(u16, &'static str),
}

use Exp::{Forbidden, NotFound, Status, Success, Unauthorized};

/// Members of the conversation may; everyone else learns nothing.
const fn members(ok: u16) -> [Exp; 6] {
    [
        Success(ok),
        Success(ok),
        NotFound,
        NotFound,
        Unauthorized,
        Unauthorized,
    ]
}

/// Only the owner may; a member may see the thing, so is told no; others learn nothing.
const fn owner_only(ok: u16) -> [Exp; 6] {
    [
        Success(ok),
        Forbidden,
        NotFound,
        NotFound,
        Unauthorized,
        Unauthorized,
    ]
}

/// Only the owner even knows it exists (sessions).
const fn own(ok: u16) -> [Exp; 6] {
    [
        Success(ok),
        NotFound,
        NotFound,
        NotFound,
        Unauthorized,
        Unauthorized,
    ]
}

/// Any signed-in user; each sees only their own data (checked by the leak check).
const fn signed_in(ok: u16) -> [Exp; 6] {
    [
        Success(ok),
        Success(ok),
        Success(ok),
        Success(ok),
        Unauthorized,
        Unauthorized,
    ]
}

/// No token needed: the same answer whoever asks, whatever token they send.
const fn anyone(e: Exp) -> [Exp; 6] {
    [e; 6]
}

/// A concrete call, built for one role.
enum Req {
    /// An HTTP request with the row's method (GET for `ANY` routes).
    Http {
        path: String,
        body: Body,
        /// The call ends the caller's session: use a fresh one, not the role's shared token.
        fresh_session: bool,
    },
    /// A Socket.IO event with an ack.
    Emit { event: &'static str, data: Value },
    /// A Socket.IO handshake.
    Connect,
}

enum Body {
    None,
    Json(Value),
    /// A `multipart/form-data` body with [`BOUNDARY`].
    Multipart(Vec<u8>),
}

fn http(path: impl Into<String>, body: Body) -> Req {
    Req::Http {
        path: path.into(),
        body,
        fresh_session: false,
    }
}

fn get(path: impl Into<String>) -> Req {
    http(path, Body::None)
}

fn emit(event: &'static str, data: Value) -> Req {
    Req::Emit { event, data }
}

type Fut<'a> = Pin<Box<dyn Future<Output = Req> + 'a>>;
type Build = for<'a> fn(&'a Fx, Role) -> Fut<'a>;

/// One row of the matrix.
struct Row {
    /// As the router declares it: `GET`, `POST`, ..., `ANY`; `EVENT` for a client event.
    method: &'static str,
    /// The route exactly as written in `.route("...")`, or the event name.
    route: &'static str,
    /// Per role, in [`ROLES`] order.
    expect: [Exp; 6],
    /// Makes the call (it may first create a fresh target, for calls that use theirs up).
    build: Build,
    /// A 200 body must not mention the owner's or the member's user id to outsiders either.
    strict: bool,
}

macro_rules! row {
    ($method:literal $route:literal, $expect:expr, |$fx:ident, $role:ident| $body:expr) => {
        row!($method $route, $expect, false, |$fx, $role| $body)
    };
    ($method:literal $route:literal, $expect:expr, strict, |$fx:ident, $role:ident| $body:expr) => {
        row!($method $route, $expect, true, |$fx, $role| $body)
    };
    ($method:literal $route:literal, $expect:expr, $strict:expr, |$fx:ident, $role:ident| $body:expr) => {
        Row {
            method: $method,
            route: $route,
            expect: $expect,
            strict: $strict,
            build: |$fx, $role| {
                Box::pin(async move {
                    let _ = (&$fx, $role);
                    $body
                })
            },
        }
    };
}

const THUMBS_UP: &str = "%F0%9F%91%8D";

/// The table. Every route in the services' sources and every client event needs a row here
/// (`every_route_and_event_has_a_row`); a route may have several (group and direct).
fn rows() -> Vec<Row> {
    vec![
        // ---- accounts: public, the caller's token is ignored --------------------------------
        row!("POST" "/api/auth/register", anyone(Success(202)), |fx, r| http(
            "/api/auth/register",
            Body::Json(json!({"email": fresh_email(), "password": "correct horse battery", "display_name": "Newcomer"}))
        )),
        row!("POST" "/api/auth/verify", anyone(Status(400, "otp_invalid")), |fx, r| http(
            "/api/auth/verify",
            Body::Json(json!({"email": fresh_email(), "otp": "123456"}))
        )),
        row!("POST" "/api/auth/resend-otp", anyone(Success(202)), |fx, r| http(
            "/api/auth/resend-otp",
            Body::Json(json!({"email": fresh_email()}))
        )),
        row!("POST" "/api/auth/login", anyone(Success(200)), |fx, r| http(
            "/api/auth/login",
            Body::Json(json!({"email": fx.owner.email, "password": fx.owner.password}))
        )),
        row!("POST" "/api/auth/refresh", anyone(Success(200)), |fx, r| {
            let s = fx.login(&fx.owner).await;
            http("/api/auth/refresh", Body::Json(json!({"refresh_token": s.refresh})))
        }),
        // ---- sessions and profiles ----------------------------------------------------------
        row!("POST" "/api/auth/logout", signed_in(204), |fx, r| Req::Http {
            path: "/api/auth/logout".into(),
            body: Body::None,
            fresh_session: true,
        }),
        row!("GET" "/api/sessions", signed_in(200), |fx, r| get("/api/sessions")),
        row!("DELETE" "/api/sessions/{id}", own(204), |fx, r| {
            let s = fx.login(&fx.owner).await;
            http(format!("/api/sessions/{}", s.session_id), Body::None)
        }),
        row!("GET" "/api/users/me", signed_in(200), |fx, r| get("/api/users/me")),
        row!("PATCH" "/api/users/me", signed_in(200), |fx, r| {
            // Their own name again: nothing changes for the other rows.
            let name = fx.user(r).map_or("Nobody", |u| u.name.as_str()).to_owned();
            http("/api/users/me", Body::Json(json!({"display_name": name})))
        }),
        row!("GET" "/api/users", signed_in(200), |fx, r| get("/api/users?q=Owner")),
        row!("GET" "/api/users/{id}", signed_in(200), |fx, r| get(format!(
            "/api/users/{}",
            fx.owner.id
        ))),
        row!("GET" "/api/dev/outbox", anyone(Success(200)), |fx, r| get(
            "/api/dev/outbox?email=nobody@example.com"
        )),
        // ---- operations and fallbacks -------------------------------------------------------
        row!("GET" "/healthz", anyone(Success(200)), |fx, r| get("/healthz")),
        row!("GET" "/readyz", anyone(Success(200)), |fx, r| get("/readyz")),
        row!("GET" "/metrics", anyone(Success(200)), |fx, r| get("/metrics")),
        row!("ANY" "/api/{*rest}", anyone(Status(404, "not_found")), |fx, r| get(
            "/api/no/such/endpoint"
        )),
        row!("ANY" "/socket.io/", signed_in(200), |fx, r| Req::Connect),
        // ---- conversations ------------------------------------------------------------------
        row!("POST" "/api/conversations", signed_in(201), |fx, r| http(
            "/api/conversations",
            Body::Json(json!({"kind": "group", "name": "a group of one", "member_ids": []}))
        )),
        row!("GET" "/api/conversations", signed_in(200), |fx, r| get(
            "/api/conversations"
        )),
        row!("GET" "/api/conversations/{id}", members(200), |fx, r| get(format!(
            "/api/conversations/{}",
            fx.group
        ))),
        row!("GET" "/api/conversations/{id}", members(200), |fx, r| get(format!(
            "/api/conversations/{}",
            fx.direct
        ))),
        row!("PATCH" "/api/conversations/{id}", members(200), |fx, r| http(
            format!("/api/conversations/{}", fx.group),
            Body::Json(json!({"name": fx.group_name}))
        )),
        row!("POST" "/api/conversations/{id}/members", members(200), |fx, r| http(
            format!("/api/conversations/{}/members", fx.group),
            Body::Json(json!({"user_ids": [fx.member.id]}))
        )),
        row!("DELETE" "/api/conversations/{id}/members/{user_id}", owner_only(204), |fx, r| {
            let g = fx.fresh_group().await;
            http(
                format!("/api/conversations/{g}/members/{}", fx.extra.id),
                Body::None,
            )
        }),
        row!("POST" "/api/conversations/{id}/leave", members(204), |fx, r| {
            let g = fx.fresh_group().await;
            http(format!("/api/conversations/{g}/leave"), Body::None)
        }),
        row!("GET" "/api/conversations/{id}/messages", members(200), |fx, r| get(
            format!("/api/conversations/{}/messages", fx.group)
        )),
        row!("GET" "/api/conversations/{id}/messages", members(200), |fx, r| get(
            format!("/api/conversations/{}/messages", fx.direct)
        )),
        row!("POST" "/api/conversations/{id}/messages", members(201), |fx, r| http(
            format!("/api/conversations/{}/messages", fx.group),
            Body::Json(json!({"client_id": fresh_id(), "body": "hello"}))
        )),
        row!("POST" "/api/conversations/{id}/messages", members(201), |fx, r| http(
            format!("/api/conversations/{}/messages", fx.direct),
            Body::Json(json!({"client_id": fresh_id(), "body": "hello"}))
        )),
        row!("PUT" "/api/conversations/{id}/notifications", members(200), |fx, r| http(
            format!("/api/conversations/{}/notifications", fx.group),
            Body::Json(json!({"level": "mentions"}))
        )),
        row!("POST" "/api/conversations/{id}/receipts", members(200), |fx, r| http(
            format!("/api/conversations/{}/receipts", fx.group),
            Body::Json(json!({"kind": "read", "seq": 1}))
        )),
        // ---- messages and reactions ---------------------------------------------------------
        row!("GET" "/api/messages/{id}", members(200), |fx, r| get(format!(
            "/api/messages/{}",
            fx.message
        ))),
        row!("PATCH" "/api/messages/{id}", owner_only(200), |fx, r| http(
            format!("/api/messages/{}", fx.message),
            Body::Json(json!({"body": fx.message_body}))
        )),
        row!("DELETE" "/api/messages/{id}", owner_only(200), |fx, r| {
            let m = fx.fresh_message().await;
            http(format!("/api/messages/{m}"), Body::None)
        }),
        row!("DELETE" "/api/messages/{id}/preview", owner_only(200), |fx, r| http(
            format!("/api/messages/{}/preview", fx.message),
            Body::None
        )),
        row!("PUT" "/api/messages/{id}/reactions/{emoji}", members(200), |fx, r| http(
            format!("/api/messages/{}/reactions/{THUMBS_UP}", fx.message),
            Body::None
        )),
        row!("DELETE" "/api/messages/{id}/reactions/{emoji}", members(200), |fx, r| http(
            format!("/api/messages/{}/reactions/{THUMBS_UP}", fx.message),
            Body::None
        )),
        row!("GET" "/api/presence", signed_in(200), strict, |fx, r| get(format!(
            "/api/presence?user_ids={},{}",
            fx.owner.id, fx.member.id
        ))),
        row!("GET" "/api/mentions", signed_in(200), |fx, r| get("/api/mentions")),
        row!("GET" "/api/chat-settings", signed_in(200), strict, |fx, r| get(
            "/api/chat-settings"
        )),
        row!("PUT" "/api/chat-settings", signed_in(200), strict, |fx, r| http(
            "/api/chat-settings",
            Body::Json(json!({"read_receipts": true}))
        )),
        // ---- search: members find the group's message; others get no hits (the leak check)
        row!("GET" "/api/search/messages", signed_in(200), |fx, r| get(
            "/api/search/messages?q=secret%20plans"
        )),
        row!("GET" "/api/search/messages", members(200), |fx, r| get(format!(
            "/api/search/messages?q=secret&conversation_id={}",
            fx.group
        ))),
        // ---- media --------------------------------------------------------------------------
        row!("POST" "/api/media", signed_in(201), |fx, r| http(
            "/api/media",
            Body::Multipart(multipart("note.txt", b"just a note"))
        )),
        row!("GET" "/api/media/{id}", members(200), |fx, r| get(format!(
            "/api/media/{}",
            fx.media
        ))),
        // Signed URLs are capabilities: whoever holds one may fetch, until it expires...
        row!("GET" "/api/media/{id}/content", anyone(Success(200)), |fx, r| get(
            fx.content_url.clone()
        )),
        row!("GET" "/api/media/{id}/thumbnail", anyone(Success(200)), |fx, r| get(
            fx.thumbnail_url.clone()
        )),
        // ... and without one, nobody (the same answer for files that do not exist).
        row!("GET" "/api/media/{id}/content", anyone(Status(403, "invalid_signature")), |fx, r| get(
            format!("/api/media/{}/content", fx.media)
        )),
        row!("GET" "/api/media/{id}/thumbnail", anyone(Status(403, "invalid_signature")), |fx, r| get(
            format!("/api/media/{}/thumbnail", fx.media)
        )),
        // Only avatars are public.
        row!("GET" "/api/media/{id}/public", anyone(Status(404, "not_found")), |fx, r| get(
            format!("/api/media/{}/public", fx.media)
        )),
        // ---- Socket.IO client events --------------------------------------------------------
        row!("EVENT" "message:send", members(200), |fx, r| emit(
            "message:send",
            json!({"conversation_id": fx.group, "client_id": fresh_id(), "body": "hello"})
        )),
        row!("EVENT" "typing", members(200), |fx, r| emit(
            "typing",
            json!({"conversation_id": fx.group, "typing": true})
        )),
        row!("EVENT" "receipt", members(200), |fx, r| emit(
            "receipt",
            json!({"conversation_id": fx.group, "kind": "delivered", "seq": 1})
        )),
        // Everyone may sync; outsiders get nothing of the group (the leak check).
        row!("EVENT" "sync", signed_in(200), |fx, r| emit("sync", json!({"after": {}}))),
        row!("EVENT" "sync", signed_in(200), |fx, r| emit(
            "sync",
            json!({"after": {fx.group.as_str(): 0, fx.direct.as_str(): 0}})
        )),
        row!("EVENT" "message:edit", owner_only(200), |fx, r| emit(
            "message:edit",
            json!({"message_id": fx.message, "body": fx.message_body})
        )),
        row!("EVENT" "message:delete", owner_only(200), |fx, r| {
            let m = fx.fresh_message().await;
            emit("message:delete", json!({"message_id": m}))
        }),
        row!("EVENT" "message:react", members(200), |fx, r| emit(
            "message:react",
            json!({"message_id": fx.message, "emoji": "👍"})
        )),
    ]
}

fn fresh_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn fresh_email() -> String {
    format!("nobody-{}@example.com", &fresh_id()[..12])
}

const BOUNDARY: &str = "authz-matrix-boundary";

fn multipart(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(bytes);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The people and things every row is tried on.
struct Fx {
    app: TestApp,
    owner: TestUser,
    member: TestUser,
    removed: TestUser,
    stranger: TestUser,
    /// A third member of the fresh groups, for the owner to remove.
    extra: TestUser,
    /// The owner's access token, after that session logged out.
    revoked: String,
    /// Owner, member, and (formerly) removed.
    group: String,
    group_name: String,
    /// Owner and member.
    direct: String,
    /// The owner's message in the group, with an image attached and a reaction.
    message: String,
    message_body: String,
    /// The owner's upload, attached to `message`.
    media: String,
    media_name: String,
    content_url: String,
    thumbnail_url: String,
    sockets: HashMap<Role, Sock>,
}

/// What came back, in one shape for HTTP answers and socket acks.
struct Got {
    status: u16,
    code: String,
    body: Value,
    text: String,
}

impl Fx {
    async fn new(b: Backends) -> Self {
        let app = TestApp::spawn(b).await;
        let owner = app.signup("Owner").await;
        let member = app.signup("Member").await;
        let removed = app.signup("Removed").await;
        let stranger = app.signup("Stranger").await;
        let extra = app.signup("Extra").await;

        let group_name = format!("group-{}", fresh_id());
        let group = app.group(&owner, &group_name, &[&member, &removed]).await;
        let r = app
            .call(
                Method::DELETE,
                &format!("/api/conversations/{group}/members/{}", removed.id),
                Some(&owner.access),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "removing a member: {:?}", r.body);
        let direct = app.direct(&owner, &member).await;

        let media_name = format!("picture-{}.png", fresh_id());
        let res = app
            .client
            .post(app.url("/api/media"))
            .bearer_auth(&owner.access)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(&media_name, &png()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let up: Value = res.json().await.unwrap();
        let media = up["id"].as_str().unwrap().to_owned();

        let message_body = format!("the group's secret plans {}", fresh_id());
        let r = app
            .call(
                Method::POST,
                &format!("/api/conversations/{group}/messages"),
                Some(&owner.access),
                Some(
                    json!({"client_id": fresh_id(), "body": message_body, "attachments": [media]}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "sending: {:?}", r.body);
        let message = r.body["id"].as_str().unwrap().to_owned();
        let r = app
            .call(
                Method::PUT,
                &format!("/api/messages/{message}/reactions/{THUMBS_UP}"),
                Some(&owner.access),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "reacting: {:?}", r.body);

        let r = app.get(&format!("/api/media/{media}"), &owner.access).await;
        assert_eq!(r.status, 200, "describing media: {:?}", r.body);
        let content_url = r.body["url"].as_str().unwrap().to_owned();
        let thumbnail_url = r.body["thumbnail_url"].as_str().unwrap().to_owned();

        let r = app.login(&owner.email, &owner.password).await;
        let revoked = r.body["access_token"].as_str().unwrap().to_owned();
        let r = app
            .call(Method::POST, "/api/auth/logout", Some(&revoked), None)
            .await;
        assert_eq!(r.status, 204, "logging out: {:?}", r.body);

        let mut sockets = HashMap::new();
        for (role, user) in [
            (Role::Owner, &owner),
            (Role::Member, &member),
            (Role::Removed, &removed),
            (Role::Stranger, &stranger),
        ] {
            sockets.insert(role, app.socket(user).await);
        }
        Self {
            app,
            owner,
            member,
            removed,
            stranger,
            extra,
            revoked,
            group,
            group_name,
            direct,
            message,
            message_body,
            media,
            media_name,
            content_url,
            thumbnail_url,
            sockets,
        }
    }

    fn user(&self, role: Role) -> Option<&TestUser> {
        match role {
            Role::Owner => Some(&self.owner),
            Role::Member => Some(&self.member),
            Role::Removed => Some(&self.removed),
            Role::Stranger => Some(&self.stranger),
            Role::Anonymous | Role::Revoked => None,
        }
    }

    fn token(&self, role: Role) -> Option<String> {
        match role {
            Role::Anonymous => None,
            Role::Revoked => Some(self.revoked.clone()),
            r => self.user(r).map(|u| u.access.clone()),
        }
    }

    /// A new session of `user`.
    async fn login(&self, user: &TestUser) -> TestUser {
        let r = self.app.login(&user.email, &user.password).await;
        assert_eq!(r.status, 200, "login: {:?}", r.body);
        chatsync_testkit::user_from(&r.body, &user.email, &user.password, &user.name)
    }

    /// A group like `group` (owner, member, extra; removed was removed), for calls that use
    /// their target up.
    async fn fresh_group(&self) -> String {
        let g = self
            .app
            .group(
                &self.owner,
                "fresh group",
                &[&self.member, &self.extra, &self.removed],
            )
            .await;
        let r = self
            .app
            .call(
                Method::DELETE,
                &format!("/api/conversations/{g}/members/{}", self.removed.id),
                Some(&self.owner.access),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "removing a member: {:?}", r.body);
        g
    }

    /// A new message of the owner's in `group`.
    async fn fresh_message(&self) -> String {
        let r = self
            .app
            .call(
                Method::POST,
                &format!("/api/conversations/{}/messages", self.group),
                Some(&self.owner.access),
                Some(json!({"client_id": fresh_id(), "body": "to be deleted"})),
            )
            .await;
        assert_eq!(r.status, 201, "sending: {:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// What outsiders must never see.
    fn secrets(&self, strict: bool) -> Vec<&str> {
        let mut s = vec![
            self.group.as_str(),
            self.group_name.as_str(),
            self.direct.as_str(),
            self.message.as_str(),
            self.message_body.as_str(),
            self.media.as_str(),
            self.media_name.as_str(),
        ];
        if strict {
            s.extend([self.owner.id.as_str(), self.member.id.as_str()]);
        }
        s
    }

    async fn perform(&self, row: &Row, role: Role, req: Req) -> Got {
        match req {
            Req::Http {
                path,
                body,
                fresh_session,
            } => {
                let token = match self.user(role) {
                    Some(u) if fresh_session => Some(self.login(u).await.access),
                    _ => self.token(role),
                };
                let method = match row.method {
                    "ANY" => Method::GET,
                    m => Method::from_bytes(m.as_bytes()).unwrap(),
                };
                let mut req = self.app.client.request(method, self.app.url(&path));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req = match body {
                    Body::None => req,
                    Body::Json(v) => req.json(&v),
                    Body::Multipart(b) => req
                        .header(
                            "content-type",
                            format!("multipart/form-data; boundary={BOUNDARY}"),
                        )
                        .body(b),
                };
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let bytes = res.bytes().await.unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
                Got {
                    status,
                    code,
                    body,
                    text,
                }
            }
            Req::Emit { event, data } => match self.sockets.get(&role) {
                Some(s) => ack(s.emit(event, data).await),
                None => self.connect(role).await,
            },
            Req::Connect => match self.sockets.get(&role) {
                Some(_) => {
                    let s = Sock::connect(self.app.addr, &self.token(role).unwrap()).await;
                    connected(s)
                }
                None => self.connect(role).await,
            },
        }
    }

    /// A handshake with the role's token (none for anonymous).
    async fn connect(&self, role: Role) -> Got {
        let auth = match self.token(role) {
            Some(t) => json!({"token": t}),
            None => json!({}),
        };
        connected(Sock::connect_with(self.app.addr, auth).await)
    }
}

fn connected(s: Result<Sock, String>) -> Got {
    match s {
        Ok(s) => {
            s.close();
            Got {
                status: 200,
                code: String::new(),
                body: Value::Null,
                text: String::new(),
            }
        }
        Err(message) => Got {
            status: if message.starts_with("unauthorized") {
                401
            } else {
                500
            },
            code: message.split(':').next().unwrap_or("").to_owned(),
            text: message,
            body: Value::Null,
        },
    }
}

/// An ack in the shape of an HTTP answer: `ok: true` is 200, errors get their REST status.
fn ack(a: Value) -> Got {
    let code = a["error"]["code"].as_str().unwrap_or("").to_owned();
    let status = if a["ok"] == true {
        200
    } else {
        match code.as_str() {
            "not_found" => 404,
            "forbidden" => 403,
            "validation_failed" | "invalid_payload" => 422,
            "rate_limited" => 429,
            "unavailable" => 503,
            _ => 500,
        }
    };
    Got {
        status,
        code,
        text: a.to_string(),
        body: if status == 200 {
            a
        } else {
            json!({"error": a["error"]})
        },
    }
}

const TOKEN_CODES: [&str; 4] = [
    "unauthorized",
    "invalid_token",
    "token_expired",
    "session_revoked",
];

/// Why `got` does not meet `exp` (and the leak check), if it does not.
fn check(exp: Exp, got: &Got, secrets: &[&str]) -> Option<String> {
    let summary = || {
        let mut t = got.text.clone();
        if t.len() > 300 {
            t.truncate(t.floor_char_boundary(300));
            t.push('…');
        }
        format!("got {} {t}", got.status)
    };
    let wrong = match exp {
        Success(s) => got.status != s,
        Unauthorized => got.status != 401 || !TOKEN_CODES.contains(&got.code.as_str()),
        Forbidden => got.status != 403 || got.code != "forbidden",
        NotFound => {
            let only_the_error = got.body.as_object().is_some_and(|o| o.len() == 1)
                && got.body["error"]
                    .as_object()
                    // `request_id` (socket events) is the caller's own, about no resource.
                    .is_some_and(|e| {
                        e.keys()
                            .all(|k| k == "code" || k == "message" || k == "request_id")
                    });
            got.status != 404 || got.code != "not_found" || !only_the_error
        }
        Status(s, code) => got.status != s || got.code != code,
    };
    if wrong {
        return Some(format!("expected {exp:?}, {}", summary()));
    }
    let leaked: Vec<&&str> = secrets.iter().filter(|s| got.text.contains(**s)).collect();
    if !leaked.is_empty() {
        return Some(format!("leaks {leaked:?}: {}", summary()));
    }
    None
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_event_answers_each_role_as_the_table_says(#[case] b: Backends) {
    let fx = Fx::new(b).await;
    let rows = rows();
    let mut failures = Vec::new();
    let mut checks = 0;
    for row in &rows {
        for (role, exp) in ROLES.iter().zip(row.expect) {
            let req = (row.build)(&fx, *role).await;
            let got = fx.perform(row, *role, req).await;
            let outsider = !matches!(role, Role::Owner | Role::Member);
            let secrets = if outsider {
                fx.secrets(row.strict)
            } else {
                Vec::new()
            };
            checks += 1;
            if let Some(why) = check(exp, &got, &secrets) {
                failures.push(format!("{} {} as {role:?}: {why}", row.method, row.route));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---- the table covers the sources ------------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Skips a string literal starting at `i` (at its opening quote); returns the index after it.
fn skip_string(s: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < s.len() && s[i] != b'"' {
        i += if s[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Skips a balanced `(...)` starting at `i` (at the `(`); returns the index after it.
fn skip_parens(s: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i = skip_string(s, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

const METHODS: [&str; 9] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace", "any",
];

/// Every `.route("path", method(..).method(..))` and `.route_service("path", ..)` outside
/// `#[cfg(test)]` code, as (METHOD, path). Whitespace and line breaks anywhere are fine.
fn routes_in(src: &str, file: &Path, out: &mut BTreeSet<(String, String)>) {
    let src = src.split("#[cfg(test)]").next().unwrap_or_default();
    let s = src.as_bytes();
    for (start, call) in src
        .match_indices(".route(")
        .chain(src.match_indices(".route_service("))
    {
        let service = call == ".route_service(";
        let mut i = start + call.len();
        while s[i].is_ascii_whitespace() {
            i += 1;
        }
        assert_eq!(
            s[i],
            b'"',
            "{}: a route whose path is not a string literal",
            file.display()
        );
        let end = skip_string(s, i);
        let path = src[i + 1..end - 1].to_owned();
        if service {
            out.insert(("ANY".into(), path));
            continue;
        }
        // The method router: `a::b::get(..).post(..).layer(..)`, up to the call's `)`.
        let mut i = end;
        let mut ident = String::new();
        let mut found = Vec::new();
        while i < s.len() && s[i] != b')' {
            match s[i] {
                b'(' => {
                    if METHODS.contains(&ident.as_str()) {
                        found.push(ident.to_uppercase());
                    }
                    i = skip_parens(s, i);
                    ident.clear();
                    continue;
                }
                b'"' => i = skip_string(s, i) - 1,
                c if c.is_ascii_alphanumeric() || c == b'_' => ident.push(c as char),
                _ => ident.clear(),
            }
            i += 1;
        }
        assert!(
            !found.is_empty(),
            "{}: cannot tell the methods of route {path}",
            file.display()
        );
        for m in found {
            out.insert((m, path.clone()));
        }
    }
}

/// Every operation of the served OpenAPI document, as (METHOD, path).
fn described_routes() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(chatsync_server::api_docs::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The values of the constants in protocol.rs documented as "Client → server".
fn client_events(src: &str) -> BTreeSet<String> {
    let mut docs = String::new();
    let mut out = BTreeSet::new();
    for line in src.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("///") {
            docs.push_str(d);
        } else if line.starts_with("pub const ") && line.contains(": &str") {
            if docs.contains("Client → server") {
                let value = line.split('"').nth(1).expect("a string constant");
                out.insert(value.to_owned());
            }
            docs.clear();
        } else {
            docs.clear();
        }
    }
    out
}

#[test]
fn every_route_and_event_has_a_row() {
    let mut files = Vec::new();
    for c in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = c.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut routes = BTreeSet::new();
    for f in &files {
        routes_in(&std::fs::read_to_string(f).unwrap(), f, &mut routes);
    }
    // Routes declared with `#[utoipa::path]` (mounted by `routes!`) are in the OpenAPI
    // document; a handler cannot be mounted that way without one.
    routes.extend(described_routes());
    let protocol = workspace().join("crates/chat/src/protocol.rs");
    let events = client_events(&std::fs::read_to_string(protocol).unwrap());
    // The parsers themselves: they must see what is plainly there.
    assert!(routes.contains(&("PATCH".into(), "/api/messages/{id}".into())));
    assert!(routes.contains(&("GET".into(), "/api/dev/outbox".into())));
    assert!(routes.contains(&("ANY".into(), "/socket.io/".into())));
    assert!(events.contains("message:send") && events.contains("sync"));

    let rows = rows();
    let in_table: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r.method != "EVENT")
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    let events_in_table: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.method == "EVENT")
        .map(|r| r.route.to_owned())
        .collect();
    let mut problems = Vec::new();
    for (m, p) in routes.difference(&in_table) {
        problems.push(format!("route {m} {p} has no row in tests/api/authz.rs"));
    }
    for (m, p) in in_table.difference(&routes) {
        problems.push(format!("row {m} {p} names a route that no longer exists"));
    }
    for e in events.difference(&events_in_table) {
        problems.push(format!("client event {e} has no row in tests/api/authz.rs"));
    }
    for e in events_in_table.difference(&events) {
        problems.push(format!(
            "row EVENT {e} names an event protocol.rs does not have"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_route_reader_copes_with_rustfmt_and_nested_calls() {
    let src = r#"
        Router::new()
            .route("/a", get(a).post(b))
            .route(
                "/b/{id}",
                axum::routing::patch(edit).delete(remove),
            )
            .route("/c", post(upload).layer(DefaultBodyLimit::max(limit(")"))))
            .route("/d", get(|| async { Json(json!({"status": "ok"})) }))
            .route_service("/e/", svc);
        #[cfg(test)]
        mod tests { fn t() { Router::new().route("/test-only", get(x)); } }
    "#;
    let mut out = BTreeSet::new();
    routes_in(src, Path::new("x.rs"), &mut out);
    let got: Vec<String> = out.iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(
        got,
        [
            "ANY /e/",
            "DELETE /b/{id}",
            "GET /a",
            "GET /d",
            "PATCH /b/{id}",
            "POST /a",
            "POST /c"
        ]
    );
    let events = client_events(
        "/// Client → server: a.\npub const A: &str = \"a\";\n\
         /// Server → client: b.\npub const B: &str = \"b\";\n",
    );
    assert_eq!(events.into_iter().collect::<Vec<_>>(), ["a"]);
}
