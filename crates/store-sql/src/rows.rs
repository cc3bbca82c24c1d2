//! Rows to domain types, written once for both SQL stores. The dialects differ only in how
//! a few column types are spelled (SQLite keeps ids as TEXT and times as integer
//! milliseconds; PostgreSQL has `uuid`, `timestamptz` and `jsonb`): a store names those in
//! its [`Dialect`], and every mapper here reads through it.

use chatsync_core::ids::{ConversationId, MessageId, RegistrationId, UserId};
use chatsync_core::ports::chat::{
    Attachment, Conversation, ConversationKind, LinkPreview, Member, Message, Profile, Reaction,
    Role,
};
use chatsync_core::ports::media::MediaRecord;
use chatsync_core::ports::users::{Account, Registration};
use chatsync_core::validate::Email;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// How one database spells the column types SQL has no common form for. Every method reads
/// column `col` of `row`.
pub trait Dialect {
    /// The driver's row type (`'r`: rusqlite's rows borrow their statement).
    type Row<'r>;
    /// A UUID.
    fn uuid(row: &Self::Row<'_>, col: &str) -> Result<Uuid, sqlx::Error>;
    /// A UUID, or NULL.
    fn opt_uuid(row: &Self::Row<'_>, col: &str) -> Result<Option<Uuid>, sqlx::Error>;
    /// A list of UUIDs.
    fn uuids(row: &Self::Row<'_>, col: &str) -> Result<Vec<Uuid>, sqlx::Error>;
    /// A point in time.
    fn time(row: &Self::Row<'_>, col: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    /// A point in time, or NULL.
    fn opt_time(row: &Self::Row<'_>, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// Text.
    fn text(row: &Self::Row<'_>, col: &str) -> Result<String, sqlx::Error>;
    /// Text, or NULL.
    fn opt_text(row: &Self::Row<'_>, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A 64-bit integer.
    fn int(row: &Self::Row<'_>, col: &str) -> Result<i64, sqlx::Error>;
    /// A small non-negative integer (pixel sizes, wrong-code counts), or NULL.
    fn opt_u32(row: &Self::Row<'_>, col: &str) -> Result<Option<u32>, sqlx::Error>;
    /// A boolean.
    fn flag(row: &Self::Row<'_>, col: &str) -> Result<bool, sqlx::Error>;
    /// A message's link preview, stored as JSON, or NULL.
    fn preview(row: &Self::Row<'_>, col: &str) -> Result<Option<LinkPreview>, sqlx::Error>;
    /// A message's attachments, stored as a JSON array.
    fn attachments(row: &Self::Row<'_>, col: &str) -> Result<Vec<Attachment>, sqlx::Error>;
}

fn decode_error(col: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: Box::new(e),
    }
}

/// Columns [`message`] reads, for `SELECT` lists (table alias `msg`).
#[macro_export]
macro_rules! message_columns {
    () => {
        "msg.message_id, msg.conversation_id, msg.seq, msg.sender_id, msg.client_id, msg.body, \
         msg.attachments, msg.reply_to, msg.mentions, msg.preview, msg.created_at, msg.edited_at, msg.deleted_at"
    };
}

/// Columns [`conversation`] reads (table alias `c`).
#[macro_export]
macro_rules! conversation_columns {
    () => {
        "c.conversation_id, c.kind, c.name, c.created_by, c.created_at, c.last_seq, \
         c.last_activity_at, c.version"
    };
}

/// Columns [`account`] reads.
#[macro_export]
macro_rules! account_columns {
    () => {
        "account_id, email, password_hash, display_name, avatar_url, verified_at, created_at, \
         updated_at"
    };
}

/// Columns [`registration`] reads (table alias `r`).
#[macro_export]
macro_rules! registration_columns {
    () => {
        "r.registration_id, r.account_id, r.password_hash, r.display_name, r.code_hash, \
         r.code_expires_at, r.failed_attempts, r.created_at, r.expires_at"
    };
}

/// Columns [`media`] reads.
#[macro_export]
macro_rules! media_columns {
    () => {
        "media_id, uploader_id, content_type, size, name, width, height, thumbnail_type, \
         public, created_at"
    };
}

/// A message without its reactions (see [`attach_reactions`]).
pub fn message<D: Dialect>(row: &D::Row<'_>) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: MessageId(D::uuid(row, "message_id")?),
        conversation_id: ConversationId(D::uuid(row, "conversation_id")?),
        seq: D::int(row, "seq")?,
        sender_id: UserId(D::uuid(row, "sender_id")?),
        client_id: D::text(row, "client_id")?,
        body: D::text(row, "body")?,
        attachments: D::attachments(row, "attachments")?,
        reply_to: D::opt_uuid(row, "reply_to")?.map(MessageId),
        mentions: D::uuids(row, "mentions")?.into_iter().map(UserId).collect(),
        preview: D::preview(row, "preview")?,
        created_at: D::time(row, "created_at")?,
        edited_at: D::opt_time(row, "edited_at")?,
        deleted: D::opt_time(row, "deleted_at")?.is_some(),
        reactions: Vec::new(),
    })
}

/// A member with the profile fields joined in (`display_name`, `avatar_url`).
pub fn member<D: Dialect>(row: &D::Row<'_>) -> Result<Member, sqlx::Error> {
    Ok(Member {
        user_id: UserId(D::uuid(row, "user_id")?),
        display_name: D::text(row, "display_name")?,
        avatar_url: D::opt_text(row, "avatar_url")?,
        role: Role::parse(&D::text(row, "role")?).map_err(|e| decode_error("role", e))?,
        joined_at: D::time(row, "joined_at")?,
        delivered_seq: D::int(row, "delivered_seq")?,
        read_seq: D::int(row, "read_seq")?,
    })
}

/// A conversation without its members (see [`group_members`]).
pub fn conversation<D: Dialect>(row: &D::Row<'_>) -> Result<Conversation, sqlx::Error> {
    Ok(Conversation {
        id: ConversationId(D::uuid(row, "conversation_id")?),
        kind: ConversationKind::parse(&D::text(row, "kind")?)
            .map_err(|e| decode_error("kind", e))?,
        name: D::opt_text(row, "name")?,
        created_by: UserId(D::uuid(row, "created_by")?),
        created_at: D::time(row, "created_at")?,
        last_seq: D::int(row, "last_seq")?,
        last_activity_at: D::time(row, "last_activity_at")?,
        version: D::int(row, "version")?,
        members: Vec::new(),
    })
}

/// The chat service's copy of a profile (`chat_user`).
pub fn profile<D: Dialect>(row: &D::Row<'_>) -> Result<Profile, sqlx::Error> {
    Ok(Profile {
        id: UserId(D::uuid(row, "chat_user_id")?),
        display_name: D::text(row, "display_name")?,
        avatar_url: D::opt_text(row, "avatar_url")?,
        updated_at: D::time(row, "updated_at")?,
    })
}

/// An account (the user service's `account`).
pub fn account<D: Dialect>(row: &D::Row<'_>) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: UserId(D::uuid(row, "account_id")?),
        email: Email::from_trusted(D::text(row, "email")?),
        password_hash: D::text(row, "password_hash")?,
        display_name: D::text(row, "display_name")?,
        avatar_url: D::opt_text(row, "avatar_url")?,
        verified_at: D::opt_time(row, "verified_at")?,
        created_at: D::time(row, "created_at")?,
        updated_at: D::time(row, "updated_at")?,
    })
}

/// A pending registration (the user service's `registration`).
pub fn registration<D: Dialect>(row: &D::Row<'_>) -> Result<Registration, sqlx::Error> {
    Ok(Registration {
        id: RegistrationId(D::uuid(row, "registration_id")?),
        account_id: UserId(D::uuid(row, "account_id")?),
        password_hash: D::text(row, "password_hash")?,
        display_name: D::text(row, "display_name")?,
        code_hash: D::text(row, "code_hash")?,
        code_expires_at: D::time(row, "code_expires_at")?,
        // NOT NULL in both schemas; were it ever missing, the code reads as burnt.
        failed_attempts: D::opt_u32(row, "failed_attempts")?.unwrap_or(u32::MAX),
        created_at: D::time(row, "created_at")?,
        expires_at: D::time(row, "expires_at")?,
    })
}

/// A media record.
pub fn media<D: Dialect>(row: &D::Row<'_>) -> Result<MediaRecord, sqlx::Error> {
    Ok(MediaRecord {
        id: D::uuid(row, "media_id")?.into(),
        uploader_id: UserId(D::uuid(row, "uploader_id")?),
        content_type: D::text(row, "content_type")?,
        size: D::int(row, "size")?,
        name: D::text(row, "name")?,
        width: D::opt_u32(row, "width")?,
        height: D::opt_u32(row, "height")?,
        thumbnail_type: D::opt_text(row, "thumbnail_type")?,
        public: D::flag(row, "public")?,
        created_at: D::time(row, "created_at")?,
    })
}

/// Groups member rows (with a `conversation_id` column) by conversation, in row order.
pub fn group_members<D: Dialect>(
    rows: &[D::Row<'_>],
) -> Result<HashMap<ConversationId, Vec<Member>>, sqlx::Error> {
    let mut out: HashMap<ConversationId, Vec<Member>> = HashMap::new();
    for r in rows {
        out.entry(ConversationId(D::uuid(r, "conversation_id")?))
            .or_default()
            .push(member::<D>(r)?);
    }
    Ok(out)
}

/// Fills each message's reactions from `(message_id, user_id, emoji)` rows, which come in
/// the order people reacted: emoji in order of their first reaction, people in order of theirs.
pub fn attach_reactions<D: Dialect>(
    rows: &[D::Row<'_>],
    messages: &mut [Message],
) -> Result<(), sqlx::Error> {
    let reactions = rows
        .iter()
        .map(|r| {
            Ok((
                MessageId(D::uuid(r, "message_id")?),
                UserId(D::uuid(r, "user_id")?),
                D::text(r, "emoji")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    group_reactions(reactions, messages);
    Ok(())
}

/// [`attach_reactions`] for a driver whose rows cannot be kept (rusqlite's borrow their
/// statement): the rows already read as `(message, user, emoji)`, in the order people reacted.
pub fn group_reactions(
    reactions: impl IntoIterator<Item = (MessageId, UserId, String)>,
    messages: &mut [Message],
) {
    let mut by_message: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    for (message, user, emoji) in reactions {
        let list = by_message.entry(message).or_default();
        match list.iter_mut().find(|x| x.emoji == emoji) {
            Some(x) => x.user_ids.push(user),
            None => list.push(Reaction {
                emoji,
                user_ids: vec![user],
            }),
        }
    }
    for m in messages {
        m.reactions = by_message.remove(&m.id).unwrap_or_default();
    }
}
