//! The chat service's REST API (SPEC §3): conversations, members, history, and the message
//! operations that also exist as Socket.IO events.

use crate::error::ChatError;
use crate::protocol::{ChatSettings, ReceiptAck, SendPayload};
use crate::service::Chat;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::chat::{
    Conversation, ConversationSummary, Message, Notifications, NotifyLevel, Page, ReceiptKind,
    SearchCursor,
};
use chatsync_core::ports::presence::PresenceState;
use chatsync_platform::http::{ApiError, ApiResult, AuthUser, Authenticator, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone)]
pub(crate) struct RestState(pub(crate) Arc<Chat>);

impl FromRef<RestState> for Authenticator {
    fn from_ref(s: &RestState) -> Self {
        s.0.auth.clone()
    }
}

/// The authenticated caller and their token (forwarded to the user service when the chat
/// service must look up a profile it has no copy of).
pub(crate) struct Caller {
    user: AuthUser,
    token: String,
}

impl FromRequestParts<RestState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .map(|(_, t)| t.trim().to_owned())
            .unwrap_or_default();
        Ok(Self { user, token })
    }
}

/// The REST routes with their OpenAPI description (utoipa-axum keeps the two together).
pub(crate) fn routes() -> OpenApiRouter<RestState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, rename))
        .routes(routes!(add_members))
        .routes(routes!(remove_member))
        .routes(routes!(leave))
        .routes(routes!(history, send))
        .routes(routes!(receipt))
        .routes(routes!(set_notifications))
        .routes(routes!(show_message, edit, remove_message))
        .routes(routes!(remove_preview))
        .routes(routes!(react_on, react_off))
        .routes(routes!(presence))
        .routes(routes!(search_messages))
        .routes(routes!(mentions))
        .routes(routes!(chat_settings, set_chat_settings))
}

/// The TypeScript types of the REST bodies (see [`crate::ChatService::export_types`]).
pub(crate) fn export_types(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
    use ts_rs::TS;
    CreateConversation::export_all(cfg)?;
    ConversationList::export_all(cfg)?;
    Rename::export_all(cfg)?;
    AddMembers::export_all(cfg)?;
    MessagePage::export_all(cfg)?;
    SendBody::export_all(cfg)?;
    ReceiptBody::export_all(cfg)?;
    ReceiptAck::export_all(cfg)?;
    EditBody::export_all(cfg)?;
    PresenceList::export_all(cfg)?;
    MessageSearchPage::export_all(cfg)?;
    MentionsPage::export_all(cfg)?;
    NotificationsBody::export_all(cfg)?;
    Ok(())
}

pub(crate) fn router(chat: Arc<Chat>) -> Router {
    routes().with_state(RestState(chat)).into()
}

fn id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

/// `POST /api/conversations`.
#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum CreateConversation {
    /// `{kind: "direct", user_id}`: idempotent per pair.
    Direct {
        /// The other person.
        user_id: UserId,
    },
    /// `{kind: "group", name, member_ids}`.
    Group {
        /// 1–100 characters.
        name: String,
        /// Members besides the creator.
        #[serde(default)]
        #[ts(as = "Option<Vec<UserId>>", optional)]
        member_ids: Vec<UserId>,
    },
}

/// Starts a direct conversation (idempotent per pair) or a group.
#[utoipa::path(post, path = "/api/conversations", tag = "conversations",
    request_body = CreateConversation,
    responses(
        (status = 201, description = "Created.", body = Conversation),
        (status = 200, description = "The direct conversation with that person already existed.", body = Conversation),
    ))]
async fn create(
    State(s): State<RestState>,
    c: Caller,
    Json(req): Json<CreateConversation>,
) -> ApiResult<(StatusCode, Json<Conversation>)> {
    let me = c.user.user_id;
    match req {
        CreateConversation::Direct { user_id } => {
            let (conv, created) = s.0.direct(me, user_id, &c.token).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(conv)))
        }
        CreateConversation::Group { name, member_ids } => {
            let conv = s.0.group(me, &name, &member_ids, &c.token).await?;
            Ok((StatusCode::CREATED, Json(conv)))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    before: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema, ts_rs::TS)]
struct ConversationList {
    conversations: Vec<ConversationSummary>,
}

/// My conversations, most recently active first.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = ConversationList)))]
async fn list(
    State(s): State<RestState>,
    user: AuthUser,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConversationList>> {
    let q = query(q)?;
    let conversations =
        s.0.list(user.user_id, q.before, q.limit.unwrap_or(50))
            .await?;
    Ok(Json(ConversationList { conversations }))
}

/// One of my conversations, with its members and their read positions.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path, description = "The conversation.")),
    responses((status = 200, body = Conversation)))]
async fn show(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<Conversation>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    Ok(Json(s.0.get(user.user_id, cid).await?))
}

#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rename {
    pub(crate) name: String,
}

/// Renames a group (its members only).
#[utoipa::path(patch, path = "/api/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path, description = "The conversation.")),
    request_body = Rename, responses((status = 200, body = Conversation)))]
async fn rename(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    Json(req): Json<Rename>,
) -> ApiResult<Json<Conversation>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    Ok(Json(s.0.rename(user.user_id, cid, &req.name).await?))
}

#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMembers {
    pub(crate) user_ids: Vec<UserId>,
}

/// Adds people to a group.
#[utoipa::path(post, path = "/api/conversations/{id}/members", tag = "conversations",
    params(("id" = ConversationId, Path, description = "The conversation.")), request_body = AddMembers, responses((status = 200, body = Conversation)))]
async fn add_members(
    State(s): State<RestState>,
    c: Caller,
    Path(raw): Path<String>,
    Json(req): Json<AddMembers>,
) -> ApiResult<Json<Conversation>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    Ok(Json(
        s.0.add_members(c.user.user_id, cid, &req.user_ids, &c.token)
            .await?,
    ))
}

/// Removes a member from a group (its owner only).
#[utoipa::path(delete, path = "/api/conversations/{id}/members/{user_id}", tag = "conversations",
    params(("id" = ConversationId, Path, description = "The conversation."), ("user_id" = UserId, Path, description = "The member to remove.")),
    responses((status = 204, description = "Removed.")))]
async fn remove_member(
    State(s): State<RestState>,
    user: AuthUser,
    Path((raw, target)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let cid: ConversationId = id(&raw, "conversation")?;
    let target: UserId = id(&target, "member")?;
    s.0.remove_member(user.user_id, cid, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves a group.
#[utoipa::path(post, path = "/api/conversations/{id}/leave", tag = "conversations", params(("id" = ConversationId, Path, description = "The conversation.")),
    responses((status = 204, description = "Left.")))]
async fn leave(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let cid: ConversationId = id(&raw, "conversation")?;
    s.0.remove_member(user.user_id, cid, user.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    /// The page around this seq (a search hit), instead of `before_seq` / `after_seq`.
    around_seq: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema, ts_rs::TS)]
struct MessagePage {
    messages: Vec<Message>,
    /// More in the paging direction (older without `after_seq`, newer with it; older around
    /// a seq).
    has_more: bool,
    /// Around a seq only: whether newer messages follow the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    has_newer: Option<bool>,
}

/// A page of history: the newest, before or after a seq, or around one (`around_seq`).
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "messages",
    params(("id" = ConversationId, Path, description = "The conversation."), HistoryQuery), responses((status = 200, body = MessagePage)))]
async fn history(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MessagePage>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    let q = query(q)?;
    if let Some(around) = q.around_seq {
        if q.before_seq.is_some() || q.after_seq.is_some() {
            return Err(ChatError::Payload(
                "around_seq cannot be combined with before_seq or after_seq".into(),
            )
            .into());
        }
        let (messages, has_more, has_newer) =
            s.0.history_around(user.user_id, cid, around, q.limit.unwrap_or(50))
                .await?;
        return Ok(Json(MessagePage {
            messages,
            has_more,
            has_newer: Some(has_newer),
        }));
    }
    let page = Page {
        before_seq: q.before_seq,
        after_seq: q.after_seq,
        limit: q.limit.unwrap_or(50),
    };
    let (messages, has_more) = s.0.history(user.user_id, cid, page).await?;
    Ok(Json(MessagePage {
        messages,
        has_more,
        has_newer: None,
    }))
}

#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    pub(crate) client_id: String,
    #[serde(default)]
    #[ts(as = "Option<String>", optional)]
    pub(crate) body: String,
    #[serde(default)]
    #[ts(as = "Option<Vec<chatsync_core::MediaId>>", optional)]
    pub(crate) attachments: Vec<chatsync_core::MediaId>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub(crate) reply_to: Option<MessageId>,
    #[serde(default)]
    #[ts(as = "Option<Vec<UserId>>", optional)]
    pub(crate) mentions: Vec<UserId>,
}

/// Sends a message (the REST form of `message:send`; `client_id` makes it idempotent).
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "messages",
    params(("id" = ConversationId, Path, description = "The conversation.")), request_body = SendBody,
    responses(
        (status = 201, description = "Stored.", body = Message),
        (status = 200, description = "Already stored under this `client_id`: the same message.", body = Message),
    ))]
async fn send(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    Json(req): Json<SendBody>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let cid: ConversationId = id(&raw, "conversation")?;
    let sent =
        s.0.send(
            user.user_id,
            None,
            SendPayload {
                conversation_id: cid,
                client_id: req.client_id,
                body: req.body,
                attachments: req.attachments,
                reply_to: req.reply_to,
                mentions: req.mentions,
            },
        )
        .await?;
    let status = if sent.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent.message)))
}

#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptBody {
    pub(crate) kind: ReceiptKind,
    pub(crate) seq: i64,
}

/// Moves my delivered or read position forward.
#[utoipa::path(post, path = "/api/conversations/{id}/receipts", tag = "messages",
    params(("id" = ConversationId, Path, description = "The conversation.")), request_body = ReceiptBody, responses((status = 200, body = ReceiptAck)))]
async fn receipt(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    Json(req): Json<ReceiptBody>,
) -> ApiResult<Json<ReceiptAck>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    let moved =
        s.0.receipt(user.user_id, None, cid, req.kind, req.seq)
            .await?;
    Ok(Json(ReceiptAck::from(moved)))
}

#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditBody {
    pub(crate) body: String,
}

/// Edits my message; an edit that changes its first link changes its preview.
#[utoipa::path(patch, path = "/api/messages/{id}", tag = "messages", params(("id" = MessageId, Path, description = "The message.")),
    request_body = EditBody, responses((status = 200, body = Message)))]
async fn edit(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    Json(req): Json<EditBody>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(s.0.edit(user.user_id, None, mid, &req.body).await?))
}

/// Deletes my message (its seq stays; body and attachments go).
#[utoipa::path(delete, path = "/api/messages/{id}", tag = "messages", params(("id" = MessageId, Path, description = "The message.")),
    responses((status = 200, description = "The message, now deleted.", body = Message)))]
async fn remove_message(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(s.0.delete(user.user_id, None, mid).await?))
}

/// Adds my reaction.
#[utoipa::path(put, path = "/api/messages/{id}/reactions/{emoji}", tag = "messages",
    params(("id" = MessageId, Path, description = "The message."), ("emoji" = String, Path, description = "One emoji (at most 16 characters).")), responses((status = 200, body = Message)))]
async fn react_on(
    State(s): State<RestState>,
    user: AuthUser,
    Path((raw, emoji)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(
        s.0.react(user.user_id, None, mid, &emoji, true).await?,
    ))
}

/// Removes my reaction.
#[utoipa::path(delete, path = "/api/messages/{id}/reactions/{emoji}", tag = "messages",
    params(("id" = MessageId, Path, description = "The message."), ("emoji" = String, Path, description = "One emoji (at most 16 characters).")), responses((status = 200, body = Message)))]
async fn react_off(
    State(s): State<RestState>,
    user: AuthUser,
    Path((raw, emoji)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(
        s.0.react(user.user_id, None, mid, &emoji, false).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PresenceQuery {
    /// Comma-separated user ids.
    user_ids: String,
}

#[derive(Serialize, ToSchema, ts_rs::TS)]
struct PresenceList {
    presence: Vec<PresenceState>,
}

/// Who of the given people is online (contacts only).
#[utoipa::path(get, path = "/api/presence", tag = "presence", params(PresenceQuery),
    responses((status = 200, body = PresenceList)))]
async fn presence(
    State(s): State<RestState>,
    user: AuthUser,
    q: Result<Query<PresenceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PresenceList>> {
    let q = query(q)?;
    let ids: Vec<UserId> = q
        .user_ids
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::from(ChatError::Payload(
                "user_ids must be comma-separated ids".into(),
            ))
        })?;
    if ids.len() > 500 {
        return Err(ChatError::Payload("at most 500 user_ids".into()).into());
    }
    Ok(Json(PresenceList {
        presence: s.0.presence_of(user.user_id, &ids).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    q: String,
    conversation_id: Option<String>,
    /// `next_before` of the previous page.
    before: Option<String>,
    limit: Option<u32>,
}

/// One hit of `GET /api/search/messages`.
#[derive(Serialize, ToSchema, ts_rs::TS)]
struct MessageHit {
    message: Message,
    conversation_id: ConversationId,
    seq: i64,
    /// Plain text; matched words between `<mark>` and `</mark>`.
    snippet: String,
}

#[derive(Serialize, ToSchema, ts_rs::TS)]
struct MessageSearchPage {
    hits: Vec<MessageHit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    next_before: Option<String>,
}

/// Full-text search over the messages of my conversations, newest first.
#[utoipa::path(get, path = "/api/search/messages", tag = "messages", params(SearchParams),
    responses((status = 200, body = MessageSearchPage)))]
async fn search_messages(
    State(s): State<RestState>,
    user: AuthUser,
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MessageSearchPage>> {
    let q = query(q)?;
    let conversation_id = match q.conversation_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(id::<ConversationId>(raw, "conversation")?),
    };
    let before = cursor(q.before.as_deref())?;
    let (hits, next) =
        s.0.search(
            user.user_id,
            &q.q,
            conversation_id,
            before,
            q.limit.unwrap_or(20),
        )
        .await?;
    Ok(Json(MessageSearchPage {
        hits: hits
            .into_iter()
            .map(|h| MessageHit {
                conversation_id: h.message.conversation_id,
                seq: h.message.seq,
                message: h.message,
                snippet: h.snippet,
            })
            .collect(),
        next_before: next.map(|c| c.to_string()),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MentionsQuery {
    /// `next_before` of the previous page.
    before: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema, ts_rs::TS)]
struct MentionsPage {
    messages: Vec<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    next_before: Option<String>,
}

/// `GET /api/mentions`: messages that mention me, newest first.
#[utoipa::path(get, path = "/api/mentions", tag = "messages", params(MentionsQuery),
    responses((status = 200, body = MentionsPage)))]
async fn mentions(
    State(s): State<RestState>,
    user: AuthUser,
    q: Result<Query<MentionsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MentionsPage>> {
    let q = query(q)?;
    let before = cursor(q.before.as_deref())?;
    let (messages, next) =
        s.0.mentions(user.user_id, before, q.limit.unwrap_or(50))
            .await?;
    Ok(Json(MentionsPage {
        messages,
        next_before: next.map(|c| c.to_string()),
    }))
}

/// A `before` parameter: the `next_before` of a previous page.
fn cursor(raw: Option<&str>) -> Result<Option<SearchCursor>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|()| {
            ApiError::bad_request("invalid_query", "before must be a next_before value")
        }),
    }
}

/// `PUT /api/conversations/{id}/notifications`.
#[derive(Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationsBody {
    /// `all`, `mentions`, `none`, or `null` for the conversation's default.
    pub(crate) level: Option<NotifyLevel>,
    /// Silent until then; `null` or absent: not muted.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub(crate) muted_until: Option<DateTime<Utc>>,
}

/// Sets how this conversation notifies me (level, mute); my other devices get
/// `conversation:notifications`.
#[utoipa::path(put, path = "/api/conversations/{id}/notifications", tag = "conversations",
    params(("id" = ConversationId, Path, description = "The conversation.")), request_body = NotificationsBody, responses((status = 200, body = Notifications)))]
async fn set_notifications(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
    Json(req): Json<NotificationsBody>,
) -> ApiResult<Json<Notifications>> {
    let cid: ConversationId = id(&raw, "conversation")?;
    Ok(Json(
        s.0.set_notifications(user.user_id, cid, req.level, req.muted_until)
            .await?,
    ))
}

/// `GET /api/messages/{id}`: one message of a conversation of mine (a reply's original).
#[utoipa::path(get, path = "/api/messages/{id}", tag = "messages", params(("id" = MessageId, Path, description = "The message.")),
    responses((status = 200, body = Message)))]
async fn show_message(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(s.0.message(user.user_id, mid).await?))
}

/// My chat settings.
#[utoipa::path(get, path = "/api/chat-settings", tag = "settings",
    responses((status = 200, body = ChatSettings)))]
async fn chat_settings(
    State(s): State<RestState>,
    user: AuthUser,
) -> ApiResult<Json<ChatSettings>> {
    Ok(Json(ChatSettings {
        read_receipts: s.0.read_receipts(user.user_id).await?,
    }))
}

/// Changes my chat settings; my other devices get `chat:settings`.
#[utoipa::path(put, path = "/api/chat-settings", tag = "settings", request_body = ChatSettings,
    responses((status = 200, body = ChatSettings)))]
async fn set_chat_settings(
    State(s): State<RestState>,
    user: AuthUser,
    Json(req): Json<ChatSettings>,
) -> ApiResult<Json<ChatSettings>> {
    s.0.set_read_receipts(user.user_id, req.read_receipts)
        .await?;
    Ok(Json(req))
}

/// `DELETE /api/messages/{id}/preview`: the sender takes a link preview away.
#[utoipa::path(delete, path = "/api/messages/{id}/preview", tag = "messages", params(("id" = MessageId, Path, description = "The message.")),
    responses((status = 200, body = Message)))]
async fn remove_preview(
    State(s): State<RestState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<Message>> {
    let mid: MessageId = id(&raw, "message")?;
    Ok(Json(s.0.remove_preview(user.user_id, None, mid).await?))
}
