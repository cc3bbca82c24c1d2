//! The chat service's store: its copy of profiles, conversations, members, messages,
//! reactions and read positions.

use crate::ids::{ConversationId, MediaId, MessageId, UserId};
use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The chat service's copy of a user's public profile, fed by `user.upserted` events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The user.
    pub id: UserId,
    /// Shown name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// The user service's `updated_at`; an older event never overwrites a newer copy.
    pub updated_at: DateTime<Utc>,
}

/// Direct (exactly two people, one conversation per pair) or group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// One-to-one.
    Direct,
    /// Named, with members added and removed.
    Group,
}

impl ConversationKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "direct" => Ok(Self::Direct),
            "group" => Ok(Self::Group),
            other => Err(StoreError::broken(format!(
                "unknown conversation kind {other}"
            ))),
        }
    }
}

/// A member's role in a group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the group; may add and remove anyone.
    Owner,
    /// Everyone else.
    Member,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "owner" => Ok(Self::Owner),
            "member" => Ok(Self::Member),
            other => Err(StoreError::broken(format!("unknown role {other}"))),
        }
    }
}

/// A member of a conversation, with their profile and positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Member {
    /// The member.
    pub user_id: UserId,
    /// Shown name (from the profile copy).
    pub display_name: String,
    /// Avatar URL (from the profile copy).
    pub avatar_url: Option<String>,
    /// Role.
    pub role: Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// Everything up to this seq reached one of their devices.
    pub delivered_seq: i64,
    /// Everything up to this seq was read.
    pub read_seq: i64,
}

/// A conversation with its members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Conversation {
    /// Id.
    pub id: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// Group name; `None` for direct conversations.
    pub name: Option<String>,
    /// Who created it.
    pub created_by: UserId,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Seq of the newest message; 0 when empty.
    pub last_seq: i64,
    /// Time of the newest message, or creation time when empty: the list's sort key.
    pub last_activity_at: DateTime<Utc>,
    /// Counts the changes (edits, deletes, reactions) to its messages: a `sync` from this
    /// version returns the messages changed since.
    #[serde(default)]
    pub version: i64,
    /// Current members.
    pub members: Vec<Member>,
}

/// A conversation as listed for one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ConversationSummary {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: Conversation,
    /// The newest message.
    pub last_message: Option<Message>,
    /// Messages from others after the member's read position, counted up to
    /// [`UNREAD_COUNT_CAP`] (an app shows "99+" beyond 99).
    pub unread_count: i64,
    /// Messages after the member's read position that mention them.
    pub mention_count: i64,
    /// How the member wants to hear about it.
    pub notifications: Notifications,
}

/// Which new messages of a conversation notify a member.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum NotifyLevel {
    /// Every message.
    All,
    /// Only messages that mention them.
    Mentions,
    /// None.
    None,
}

impl NotifyLevel {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::None => "none",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "all" => Ok(Self::All),
            "mentions" => Ok(Self::Mentions),
            "none" => Ok(Self::None),
            other => Err(StoreError::broken(format!("unknown notify level {other}"))),
        }
    }
}

/// One member's notification settings for one conversation, stored on the server so every
/// device agrees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Notifications {
    /// The level in force: `chosen`, or the conversation's default (mentions only in groups
    /// larger than a setting, all otherwise).
    pub level: NotifyLevel,
    /// What the member chose; `None` follows the default.
    pub chosen: Option<NotifyLevel>,
    /// Nothing notifies until then, whatever the level.
    pub muted_until: Option<DateTime<Utc>>,
}

impl Notifications {
    /// The settings as stored, with the level in force for a conversation of this kind and
    /// size: a group of more than `mentions_only_above` members defaults to mentions only.
    pub fn resolve(
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
        kind: ConversationKind,
        members: usize,
        mentions_only_above: u32,
    ) -> Self {
        let default = if kind == ConversationKind::Group && members > mentions_only_above as usize {
            NotifyLevel::Mentions
        } else {
            NotifyLevel::All
        };
        Self {
            level: chosen.unwrap_or(default),
            chosen,
            muted_until,
        }
    }
}

/// Unread messages are counted up to this many, so a long unread history is not counted row
/// by row on every conversation list.
pub const UNREAD_COUNT_CAP: i64 = 100;

/// Most people one message may mention.
pub const MAX_MENTIONS: usize = 50;

/// A file attached to a message; the media service fills it from its own records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Attachment {
    /// The media id.
    pub media_id: MediaId,
    /// Detected type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// File name as uploaded (sanitised).
    pub name: String,
    /// Pixel width, for images and video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub width: Option<u32>,
    /// Pixel height, for images and video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub height: Option<u32>,
    /// Whether a thumbnail exists.
    #[serde(default)]
    pub has_thumbnail: bool,
    /// Short-lived signed URL of the file, added when the message is handed to a member;
    /// never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub url: Option<String>,
    /// Short-lived signed URL of the thumbnail, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)] // the web app builds attachments from uploads' `MediaView` too
    pub thumbnail_url: Option<String>,
}

/// A preview of a link: the page's title, description and site name from its meta tags, and
/// its image copied into media storage (never linked to where it came from).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct LinkPreview {
    /// The link as it appears in the message.
    pub url: String,
    /// Page title.
    pub title: Option<String>,
    /// Page description.
    pub description: Option<String>,
    /// Site name (or host).
    pub site_name: Option<String>,
    /// The page's image, stored as a file of the conversation.
    pub image: Option<Attachment>,
}

/// One emoji and who reacted with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Who reacted, in order of reacting.
    pub user_ids: Vec<UserId>,
}

/// A stored message (SPEC §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Position in the conversation: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// Author.
    pub sender_id: UserId,
    /// The sender's idempotency key.
    pub client_id: String,
    /// Text; empty once deleted.
    pub body: String,
    /// Files; empty once deleted.
    pub attachments: Vec<Attachment>,
    /// The message of the same conversation this one answers, if any. It stays when the
    /// original is deleted (which then reads as deleted).
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// Members the message mentions (`@name`), chosen by the sender; kept when the message
    /// is edited.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// A preview of the first link in the text, added by the chat service after the message
    /// is stored (it arrives with `message:updated`).
    #[serde(default)]
    pub preview: Option<LinkPreview>,
    /// Commit time.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last edit.
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub edited_at: Option<DateTime<Utc>>,
    /// Deleted by its author.
    pub deleted: bool,
    /// Reactions, by emoji.
    pub reactions: Vec<Reaction>,
}

impl Message {
    /// The message as JSON: the same text as `serde_json::to_string(self)` (a property test
    /// holds the two together), written field by field. This is the text every member gets
    /// in the send's ack and in `message:new`, made once per message; through serde_json it
    /// cost about 7,300 instructions, two thirds of them escaping the fifteen field names and
    /// the ids, none of which can hold a character JSON escapes (issue 10, twenty-third pass).
    /// Only the text fields go through serde_json's escaping, and the nested values
    /// (attachments, preview, reactions) through serde_json itself when there are any.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(400 + self.body.len() + self.client_id.len());
        self.write_json(&mut out);
        // Everything written is UTF-8: ASCII, or serde_json's escaping of a `str`.
        String::from_utf8(out).unwrap_or_else(|_| unreachable!("JSON text is UTF-8"))
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        fn uuid(out: &mut Vec<u8>, id: uuid::Uuid) {
            out.push(b'"');
            let mut buf = uuid::Uuid::encode_buffer();
            out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
            out.push(b'"');
        }
        // serde_json's own text for what a field name or an id never needs (quotes, escapes).
        fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
            // Writing to a `Vec` fails only for a `Serialize` impl that fails, and none of
            // these (`str`, `Vec`s and `Option`s of derived types) does.
            serde_json::to_writer(&mut *out, v)
                .unwrap_or_else(|e| unreachable!("serializing a message field: {e}"));
        }
        fn time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
            out.push(b'"');
            out.extend_from_slice(rfc3339::text(t).as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"{\"id\":");
        uuid(out, self.id.0);
        out.extend_from_slice(b",\"conversation_id\":");
        uuid(out, self.conversation_id.0);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.seq).as_bytes());
        out.extend_from_slice(b",\"sender_id\":");
        uuid(out, self.sender_id.0);
        out.extend_from_slice(b",\"client_id\":");
        value(out, self.client_id.as_str());
        out.extend_from_slice(b",\"body\":");
        value(out, self.body.as_str());
        out.extend_from_slice(b",\"attachments\":");
        if self.attachments.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            value(out, &self.attachments);
        }
        out.extend_from_slice(b",\"reply_to\":");
        match self.reply_to {
            Some(r) => uuid(out, r.0),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"mentions\":[");
        for (i, u) in self.mentions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            uuid(out, u.0);
        }
        out.extend_from_slice(b"],\"preview\":");
        match &self.preview {
            Some(p) => value(out, p),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"created_at\":");
        time(out, &self.created_at);
        out.extend_from_slice(b",\"edited_at\":");
        match &self.edited_at {
            Some(t) => time(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(if self.deleted {
            b",\"deleted\":true,\"reactions\":"
        } else {
            b",\"deleted\":false,\"reactions\":"
        });
        if self.reactions.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            value(out, &self.reactions);
        }
        out.push(b'}');
    }
}

/// The current time as every chat store keeps it: whole milliseconds (SQLite keeps
/// milliseconds, PostgreSQL microseconds). Stores stamp messages (`created_at`, `edited_at`)
/// with it, so a message handed out at once (the send ack, `message:new`) is identical to the
/// same message read back later (history, `sync`).
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// A message's times in JSON, the same text as chrono's own `Serialize` (RFC 3339, `Z`, as
/// many fraction digits as the time has), made in one go: chrono's impl hands serde_json its
/// `Display`, which arrives in a dozen small pieces, each escaped on its own (about 2,500
/// instructions per time against 700; every sent message is serialized for its ack and
/// `message:new`, issue 10).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};

    /// The text, without quotes (digits, `-`, `+` before a year past 9999, `:`, `.`, `T`
    /// and `Z`: nothing JSON escapes, so `Message::to_json` writes it as it is).
    pub(super) fn text(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub(super) fn serialize<S: serde::Serializer>(
        t: &DateTime<Utc>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(t))
    }

    pub(super) fn serialize_option<S: serde::Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// The outcome of adding or removing a reaction.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per reaction, moved once: a box would buy nothing
pub enum Reacted {
    /// Done (or already so): the message as it is now.
    Done(Message),
    /// Refused: the user already has the most different emoji allowed on this message.
    TooMany,
}

/// A message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Author.
    pub sender_id: UserId,
    /// Idempotency key, unique per sender.
    pub client_id: String,
    /// Validated text.
    pub body: String,
    /// Validated attachments.
    pub attachments: Vec<Attachment>,
    /// A message of the same conversation this one answers (checked by the service).
    pub reply_to: Option<MessageId>,
    /// Members mentioned (checked by the service: members, not the sender, no repeats).
    pub mentions: Vec<UserId>,
}

/// The outcome of appending one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Appended {
    /// Stored now, with this seq.
    New(Message),
    /// The sender used this `client_id` before: the message stored then.
    Duplicate(Message),
    /// The sender is not a member (or the conversation does not exist).
    NotMember,
}

/// A committed batch: outcomes in input order plus, for fan-out, each touched conversation's
/// members.
#[derive(Clone, Debug, Default)]
pub struct AppendBatch {
    /// One per input message.
    pub outcomes: Vec<Appended>,
    /// Members of every conversation that received a new message.
    pub members: Vec<(ConversationId, Vec<UserId>)>,
}

/// Which page of history.
#[derive(Clone, Copy, Debug, Default)]
pub struct Page {
    /// Messages with a smaller seq (older), newest of them first taken.
    pub before_seq: Option<i64>,
    /// Messages with a greater seq (newer).
    pub after_seq: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Where a page of search hits ends: hits are ordered newest first by (`created_at`,
/// message id), and the next page starts below this pair. Written into the API as an opaque
/// string (`next_before`), read back from `before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchCursor {
    /// The last hit's creation time.
    pub created_at: DateTime<Utc>,
    /// The last hit's id.
    pub message_id: MessageId,
}

impl std::fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.message_id
        )
    }
}

impl std::str::FromStr for SearchCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (micros, id) = s.split_once('_').ok_or(())?;
        Ok(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().map_err(|_| ())?)
                .ok_or(())?,
            message_id: id.parse().map_err(|_| ())?,
        })
    }
}

/// Most words a search query is cut to.
pub const MAX_SEARCH_TERMS: usize = 12;

/// The words of a search query as both stores index them: runs of letters and digits,
/// lower-cased, at most [`MAX_SEARCH_TERMS`], each at most 64 characters. Punctuation and
/// query syntax are dropped, so what the stores receive can never be an operator.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).flat_map(char::to_lowercase).collect())
        .take(MAX_SEARCH_TERMS)
        .collect()
}

/// A full-text search over the messages of one user's conversations.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// Words from [`search_terms`]; every one must match, the last also as a prefix (the
    /// person may still be typing it). Never empty.
    pub terms: Vec<String>,
    /// Only this conversation (`NotFound` if the user is not a member).
    pub conversation_id: Option<ConversationId>,
    /// Only hits older than this.
    pub before: Option<SearchCursor>,
    /// At most this many.
    pub limit: u32,
}

/// One message found.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct SearchHit {
    /// The message as history shows it.
    pub message: Message,
    /// A short excerpt of the body, plain text, with each matched word between `<mark>` and
    /// `</mark>`.
    pub snippet: String,
}

/// Where a client's copy of one conversation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncFrom {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The newest seq the client has.
    pub seq: i64,
    /// The conversation version its copy reflects; `None`: send no changes.
    pub version: Option<i64>,
}

/// The answer of [`ChatStore::sync`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncBatch {
    /// New messages, ascending by seq per conversation.
    pub messages: Vec<Message>,
    /// Changed messages the client had, ascending by the version of their last change per
    /// conversation, each with that version.
    pub updated: Vec<(Message, i64)>,
    /// The version of each of the user's conversations, as of the same snapshot.
    pub versions: Vec<(ConversationId, i64)>,
}

/// Delivered or read.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptKind {
    /// Reached a device.
    Delivered,
    /// Seen by the person.
    Read,
}

/// A changed message, returned by edits, deletes and reactions.
pub type Updated = Message;

/// Everything the chat service stores. Membership is checked inside each call that takes a
/// `user` as the actor: a non-member gets `NotFound`, never a hint that the conversation exists.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores or refreshes a profile copy unless the stored one is newer.
    async fn upsert_profile(&self, p: &Profile) -> Result<(), StoreError>;

    /// Profile copies of these users (unknown ids are left out).
    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError>;

    /// The direct conversation of `a` and `b`, created if missing; true if created now.
    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError>;

    /// Creates a group owned by `owner` with `members` (owner included automatically).
    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
    ) -> Result<Conversation, StoreError>;

    /// The conversation, if `user` is a member.
    async fn conversation(
        &self,
        id: ConversationId,
        user: UserId,
    ) -> Result<Conversation, StoreError>;

    /// `user`'s conversations, most recent activity first; `before` pages by activity time.
    async fn conversations(
        &self,
        user: UserId,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// Adds members (the service has checked who may); returns the users actually added.
    async fn add_members(
        &self,
        id: ConversationId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;

    /// Removes a member (the service has checked who may). If the owner goes, the longest
    /// standing member becomes owner. `NotFound` if `user` was not a member.
    async fn remove_member(&self, id: ConversationId, user: UserId) -> Result<(), StoreError>;

    /// Renames a group; `NotFound` for a direct conversation.
    async fn rename(&self, id: ConversationId, name: &str) -> Result<Conversation, StoreError>;

    /// Current member ids of a conversation (no membership check: internal use).
    async fn member_ids(&self, id: ConversationId) -> Result<Vec<UserId>, StoreError>;

    /// Everyone who shares at least one conversation with `user`.
    async fn contacts(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;

    /// Appends messages in one transaction, assigning each conversation's next seqs in input
    /// order. Idempotent on (sender, client_id), including within the batch.
    async fn append(&self, batch: &[NewMessage]) -> Result<AppendBatch, StoreError>;

    /// How many `append` transactions may usefully run at once (on distinct conversations).
    /// One for a database with a single writer.
    fn parallel_appends(&self) -> usize {
        1
    }

    /// A page of history, in ascending seq order.
    async fn messages(
        &self,
        id: ConversationId,
        user: UserId,
        page: Page,
    ) -> Result<Vec<Message>, StoreError>;

    /// What changed in `user`'s conversations since where a client stands, read in one
    /// snapshot: messages after each given seq (conversations not listed from seq 0), and
    /// messages at or below it changed after the given version. At most `limit` of each per
    /// conversation.
    async fn sync(
        &self,
        user: UserId,
        from: &[SyncFrom],
        limit: u32,
    ) -> Result<SyncBatch, StoreError>;

    /// Messages of `user`'s current conversations whose text matches every term, newest
    /// first; deleted messages never match. Edits are searchable at once.
    async fn search(&self, user: UserId, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError>;

    /// Sets `user`'s notification level (`None`: the default) and mute for a conversation
    /// they are a member of (`NotFound` otherwise).
    async fn set_notifications(
        &self,
        id: ConversationId,
        user: UserId,
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Sets a message's link preview, found after it was stored: unless the message was
    /// deleted or its sender removed its preview. Its image becomes readable by the
    /// conversation's members. `None` when nothing changed.
    async fn set_preview(
        &self,
        id: MessageId,
        preview: &LinkPreview,
    ) -> Result<Option<Message>, StoreError>;

    /// Removes the preview of `user`'s own message for good (`NotFound` if not theirs).
    async fn remove_preview(&self, id: MessageId, user: UserId) -> Result<Message, StoreError>;

    /// Whether `user` sends (and sees) read receipts; `false` keeps their read position to
    /// themselves and hides everyone else's from them.
    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError>;

    /// Those of `users` who turned read receipts off.
    async fn read_receipts_off(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError>;

    /// Messages that mention `user` in the conversations they are a member of now, newest
    /// first; deleted messages are left out.
    async fn mentioning(
        &self,
        user: UserId,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// One message, if `user` is a member of its conversation (`NotFound` otherwise).
    async fn message(&self, id: MessageId, user: UserId) -> Result<Message, StoreError>;

    /// Replaces the body of `user`'s own message. Its link preview stays if `keep_preview`,
    /// and goes otherwise (the edit changed the link it showed).
    async fn edit_message(
        &self,
        id: MessageId,
        user: UserId,
        body: &str,
        keep_preview: bool,
    ) -> Result<Updated, StoreError>;

    /// Deletes `user`'s own message (body and attachments are cleared; the seq stays).
    async fn delete_message(&self, id: MessageId, user: UserId) -> Result<Updated, StoreError>;

    /// Adds or removes `user`'s reaction on a message in one of their conversations. Adding a
    /// new emoji when `user` already has `max_per_user` different ones on the message is
    /// refused ([`Reacted::TooMany`]); the count is checked in the same transaction as the
    /// insert, so concurrent reactions cannot pass it.
    async fn react(
        &self,
        id: MessageId,
        user: UserId,
        emoji: &str,
        on: bool,
        max_per_user: u32,
    ) -> Result<Reacted, StoreError>;

    /// Moves `user`'s delivered or read position forward to `seq` (clamped to the last seq;
    /// read implies delivered). Returns the new position if it moved.
    async fn receipt(
        &self,
        id: ConversationId,
        user: UserId,
        kind: ReceiptKind,
        seq: i64,
    ) -> Result<Option<i64>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_lowercase_words_without_syntax() {
        assert_eq!(
            search_terms(r#"  Café "NEAR" deploy-plan* OR x:y  "#),
            ["café", "near", "deploy", "plan", "or", "x", "y"]
        );
        assert!(search_terms(" *-\"() ").is_empty());
        assert_eq!(search_terms(&"w ".repeat(50)).len(), MAX_SEARCH_TERMS);
        assert_eq!(search_terms(&"a".repeat(500))[0].len(), 64);
    }

    #[test]
    fn big_groups_default_to_mentions_only_and_a_choice_wins() {
        let r =
            |chosen, kind, members| Notifications::resolve(chosen, None, kind, members, 20).level;
        assert_eq!(r(None, ConversationKind::Direct, 2), NotifyLevel::All);
        assert_eq!(r(None, ConversationKind::Group, 20), NotifyLevel::All);
        assert_eq!(r(None, ConversationKind::Group, 21), NotifyLevel::Mentions);
        assert_eq!(
            r(Some(NotifyLevel::All), ConversationKind::Group, 500),
            NotifyLevel::All
        );
        assert_eq!(
            r(Some(NotifyLevel::None), ConversationKind::Direct, 2),
            NotifyLevel::None
        );
    }

    fn message_at(created_at: DateTime<Utc>, edited_at: Option<DateTime<Utc>>) -> Message {
        Message {
            id: MessageId::new(),
            conversation_id: ConversationId::new(),
            seq: 1,
            sender_id: UserId::new(),
            client_id: "c1".into(),
            body: "hi".into(),
            attachments: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
            preview: None,
            created_at,
            edited_at,
            deleted: false,
            reactions: Vec::new(),
        }
    }

    proptest::proptest! {
        /// A message's times read as chrono writes them, whatever their fraction of a second
        /// (none, milli-, micro-, nanoseconds), and read back to the same message.
        #[test]
        fn message_times_are_written_as_chrono_writes_them(
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            unit in 0usize..4,
        ) {
            let step = [1_000_000_000, 1_000_000, 1_000, 1][unit];
            let t = DateTime::from_timestamp(secs, nanos / step * step).unwrap();
            for edited in [None, Some(t)] {
                let m = message_at(t, edited);
                let json = serde_json::to_value(&m).unwrap();
                let chrono = |t| serde_json::to_value(t).unwrap();
                proptest::prop_assert_eq!(&json["created_at"], &chrono(Some(t)));
                proptest::prop_assert_eq!(&json["edited_at"], &chrono(edited));
                proptest::prop_assert_eq!(serde_json::from_value::<Message>(json).unwrap(), m);
            }
        }
    }

    /// Any text, including quotes, backslashes, control characters and non-ASCII.
    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("(?s).{0,24}").unwrap()
    }

    fn id() -> impl proptest::strategy::Strategy<Value = uuid::Uuid> {
        use proptest::prelude::*;
        any::<u128>().prop_map(uuid::Uuid::from_u128)
    }

    fn attachment() -> impl proptest::strategy::Strategy<Value = Attachment> {
        use proptest::prelude::*;
        (
            id(),
            text(),
            any::<i64>(),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
            proptest::option::of(text()),
        )
            .prop_map(
                |(media, name, size, width, has_thumbnail, url)| Attachment {
                    media_id: MediaId(media),
                    content_type: "image/png".into(),
                    size,
                    name,
                    width,
                    height: width,
                    has_thumbnail,
                    url,
                    thumbnail_url: None,
                },
            )
    }

    fn message() -> impl proptest::strategy::Strategy<Value = Message> {
        use proptest::prelude::*;
        use proptest::{collection::vec, option::of};
        let preview = (text(), of(text()), of(text()), of(attachment())).prop_map(
            |(url, title, description, image)| LinkPreview {
                url,
                title,
                site_name: description.clone(),
                description,
                image,
            },
        );
        let reaction = (text(), vec(id(), 1..3)).prop_map(|(emoji, users)| Reaction {
            emoji,
            user_ids: users.into_iter().map(UserId).collect(),
        });
        let time = (-62_135_596_800i64..253_402_300_799, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap());
        (
            (id(), id(), any::<i64>(), id(), text(), text()),
            (
                vec(attachment(), 0..2),
                of(id()),
                vec(id(), 0..3),
                of(preview),
            ),
            (time.clone(), of(time), any::<bool>(), vec(reaction, 0..2)),
        )
            .prop_map(
                |(
                    (id, conversation, seq, sender, client_id, body),
                    (attachments, reply_to, mentions, preview),
                    (created_at, edited_at, deleted, reactions),
                )| Message {
                    id: MessageId(id),
                    conversation_id: ConversationId(conversation),
                    seq,
                    sender_id: UserId(sender),
                    client_id,
                    body,
                    attachments,
                    reply_to: reply_to.map(MessageId),
                    mentions: mentions.into_iter().map(UserId).collect(),
                    preview,
                    created_at,
                    edited_at,
                    deleted,
                    reactions,
                },
            )
    }

    proptest::proptest! {
        /// `Message::to_json` writes exactly what serde_json writes for the message, byte for
        /// byte, whatever its text holds and whichever of its optional parts it has. (A field
        /// added to `Message` and not to `to_json` fails this at once.)
        #[test]
        fn a_message_s_json_is_serde_json_s_text(m in message()) {
            proptest::prop_assert_eq!(m.to_json(), serde_json::to_string(&m).unwrap());
        }
    }

    #[test]
    fn a_search_cursor_reads_back_as_written() {
        let c = SearchCursor {
            created_at: DateTime::from_timestamp_micros(1_764_800_000_123_456).unwrap(),
            message_id: MessageId::new(),
        };
        assert_eq!(c.to_string().parse::<SearchCursor>(), Ok(c));
        for bad in ["", "12", "x_y", "12_not-an-id", "_"] {
            assert!(bad.parse::<SearchCursor>().is_err(), "{bad}");
        }
    }
}
