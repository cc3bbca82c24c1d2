//! The chat service's tables: `chat_user`, `conversation`, `member`, `message`, `reaction`.
//! Set operations take arrays (`= ANY($1)`, `UNNEST`), so a batch costs a fixed number of
//! round trips whatever its size.

use crate::members::Members;
use crate::{DbResult, Pg, PgStore};
use async_trait::async_trait;
use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::chat::{
    AppendBatch, ChatStore, Conversation, ConversationSummary, LinkPreview, Member, Message,
    NewMessage, Notifications, NotifyLevel, Page, Profile, Reacted, ReceiptKind, Role,
    SearchCursor, SearchHit, SearchQuery, SyncBatch, SyncFrom, UNREAD_COUNT_CAP, now_millis,
};
use chatsync_core::ports::{Conflict, StoreError};
use chatsync_store_sql::append::{self, Look};
use chatsync_store_sql::rows::{self as read, Dialect};
use chatsync_store_sql::{conversation_columns, message_columns, search};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use uuid::Uuid;

type Db<'a> = &'a mut PgConnection;

fn uuids<T: Copy + Into<Uuid>>(ids: &[T]) -> Vec<Uuid> {
    ids.iter().map(|i| (*i).into()).collect()
}

async fn members_of(
    db: Db<'_>,
    ids: &[ConversationId],
) -> Result<HashMap<ConversationId, Vec<Member>>, StoreError> {
    let rows = sqlx::query(
        "SELECT m.conversation_id, m.user_id, m.role, m.joined_at, m.delivered_seq, m.read_seq,
                COALESCE(u.display_name, '') AS display_name, u.avatar_url
         FROM member m LEFT JOIN chat_user u ON u.chat_user_id = m.user_id
         WHERE m.conversation_id = ANY($1)
         ORDER BY m.joined_at, m.user_id",
    )
    .bind(uuids(ids))
    .fetch_all(&mut *db)
    .await
    .db()?;
    read::group_members::<Pg>(&rows).db()
}

async fn with_reactions(db: Db<'_>, messages: &mut [Message]) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id.0).collect();
    let rows = sqlx::query(
        "SELECT message_id, user_id, emoji FROM reaction WHERE message_id = ANY($1)
         ORDER BY created_at, user_id",
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await
    .db()?;
    read::attach_reactions::<Pg>(&rows, messages).db()
}

async fn is_member(db: Db<'_>, cid: ConversationId, user: UserId) -> Result<bool, StoreError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM member WHERE conversation_id = $1 AND user_id = $2")
            .bind(cid.0)
            .bind(user.0)
            .fetch_optional(&mut *db)
            .await
            .db()?;
    Ok(found.is_some())
}

/// Messages from rows selected with `message_columns!()`, with their reactions.
async fn with_reactions_read(
    db: Db<'_>,
    rows: &[sqlx::postgres::PgRow],
) -> Result<Vec<Message>, StoreError> {
    let mut msgs: Vec<Message> = rows
        .iter()
        .map(read::message::<Pg>)
        .collect::<Result<_, _>>()
        .db()?;
    with_reactions(db, &mut msgs).await?;
    Ok(msgs)
}

/// Counts a change to message `mid` (edit, delete, reaction) in its conversation's version and
/// stamps the message with the new version, for `sync`'s change cursor. Called first in the
/// change's transaction, so the conversation's row is locked before the message's, as appends
/// lock it; if the change is then refused, the transaction rolls back and nothing counted.
async fn count_change(db: Db<'_>, mid: MessageId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversation SET version = version + 1
         WHERE conversation_id = (SELECT conversation_id FROM message WHERE message_id = $1)",
    )
    .bind(mid.0)
    .execute(&mut *db)
    .await
    .db()?;
    sqlx::query(
        "UPDATE message SET version =
             (SELECT c.version FROM conversation c WHERE c.conversation_id = message.conversation_id)
         WHERE message_id = $1",
    )
    .bind(mid.0)
    .execute(&mut *db)
    .await
    .db()?;
    Ok(())
}

async fn load_conversation(db: Db<'_>, cid: ConversationId) -> Result<Conversation, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversation c WHERE c.conversation_id = $1"
    ))
    .bind(cid.0)
    .fetch_optional(&mut *db)
    .await
    .db()?
    .ok_or(StoreError::NotFound)?;
    let mut c = read::conversation::<Pg>(&row).db()?;
    c.members = members_of(db, &[cid])
        .await?
        .remove(&cid)
        .unwrap_or_default();
    Ok(c)
}

async fn load_message(db: Db<'_>, mid: MessageId) -> Result<Message, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        message_columns!(),
        " FROM message msg WHERE msg.message_id = $1"
    ))
    .bind(mid.0)
    .fetch_optional(&mut *db)
    .await
    .db()?
    .ok_or(StoreError::NotFound)?;
    let mut m = [read::message::<Pg>(&row).db()?];
    with_reactions(db, &mut m).await?;
    let [m] = m;
    Ok(m)
}

/// Adds members; returns those who were not members before.
async fn insert_members(
    db: Db<'_>,
    cid: ConversationId,
    users: &[UserId],
    role: Role,
) -> Result<Vec<UserId>, StoreError> {
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO member (conversation_id, user_id, role, joined_at)
         SELECT $1, u, $3, now() FROM UNNEST($2::uuid[]) AS u
         ON CONFLICT DO NOTHING
         RETURNING user_id",
    )
    .bind(cid.0)
    .bind(uuids(users))
    .bind(role.as_str())
    .fetch_all(&mut *db)
    .await
    .db()?;
    Ok(rows.into_iter().map(UserId).collect())
}

/// The append statement (see [`PgStore::append_once`]) for a batch without attachments or
/// mentions, nearly every batch. The other shape's three further statements (set up by the
/// executor for every batch, whether they write or not), its per-message subquery for the
/// mentions and its two JSON parameters per message were 13 % of PostgreSQL's CPU for the
/// statement (issue 10, twenty-sixth pass: `bench/pg-append-cost.py`, 71.6 → 62.2 µs per
/// message).
const APPEND_PLAIN: &str = concat!(
    include_str!("append/locked.sql"),
    include_str!("append/plain.sql")
);

/// The append statement for a batch with attachments or mentions.
const APPEND_FULL: &str = concat!(
    include_str!("append/locked.sql"),
    include_str!("append/full.sql")
);

impl PgStore {
    /// The members kept between appends (see [`Members`]).
    fn kept(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt at [`ChatStore::append`]; fails with `Conflict` if one of the batch's
    /// (sender, client_id) pairs is stored already and was not read first (sent before and
    /// `look` did not ask for the read, or sent concurrently on another node), and with
    /// `Conflict::Serialization` if a conversation's members moved since they were kept.
    ///
    /// One round trip when the batch's conversations' members are kept (issue 10: there were
    /// eight, and PostgreSQL's CPU per message at ordinary load is mostly per statement and per
    /// transaction): one statement that locks the conversations, checks that their
    /// `member_version` is still the one their members were kept at, reserves their seqs and
    /// inserts the messages with their mentions and attachments, or inserts nothing when a
    /// `member_version` moved. Before it, the members of conversations not kept are read (with
    /// their `member_version`, in one statement, so the two agree), and earlier sends when
    /// `look` says so. One statement is one transaction, so it needs no `BEGIN` or `COMMIT`.
    /// The reads need none either: a repeated key, sent now or before, makes the insert fail on
    /// the unique key (and the retry, looking first, finds the message), and a join or leave
    /// after the read moves `member_version`, which the statement checks under the
    /// conversation's row lock (a join or leave takes it too, through the trigger that moves
    /// the count), so none commits between the check and the insert.
    async fn append_once(
        &self,
        batch: &[NewMessage],
        look: Look,
    ) -> Result<AppendBatch, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let now = now_millis();

        let known = self.kept().known(batch, &append::conversations(batch));
        let (mut members, mut versions) = (known.members, known.versions);
        if !known.unknown.is_empty() {
            let rows = sqlx::query(
                "SELECT m.conversation_id, m.user_id, c.member_version
                 FROM member m JOIN conversation c ON c.conversation_id = m.conversation_id
                 WHERE m.conversation_id = ANY($1)",
            )
            .bind(uuids(&known.unknown))
            .fetch_all(&mut *db)
            .await
            .db()?;
            for r in &rows {
                let cid = ConversationId(Pg::uuid(r, "conversation_id").db()?);
                members
                    .entry(cid)
                    .or_default()
                    .push(UserId(Pg::uuid(r, "user_id").db()?));
                versions.insert(cid, Pg::int(r, "member_version").db()?);
            }
            let mut kept = self.kept();
            for cid in &known.unknown {
                if let (Some(users), Some(v)) = (members.get(cid), versions.get(cid)) {
                    kept.keep(*cid, *v, users);
                }
            }
        }

        let existing = if look.needed(batch, &members) {
            let (senders, client_ids): (Vec<Uuid>, Vec<&str>) =
                append::keys(batch).map(|(s, c)| (s.0, c)).unzip();
            // One index probe per key, whatever the planner knows of the table: as a join, a
            // young table (no statistics yet) got a generic plan that read all of `message` for
            // every batch (issue 10: 14,000 rows per append in the bench, growing with the table).
            // `LIMIT 1` (the key is unique) keeps the planner from flattening the subquery back
            // into that join.
            let found = sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM UNNEST($1::uuid[], $2::text[]) AS k(sender_id, client_id)
                 CROSS JOIN LATERAL (
                     SELECT * FROM message m
                     WHERE m.sender_id = k.sender_id AND m.client_id = k.client_id
                     LIMIT 1
                 ) AS msg"
            ))
            .bind(&senders)
            .bind(&client_ids)
            .fetch_all(&mut *db)
            .await
            .db()?;
            let mut existing: Vec<Message> = found
                .iter()
                .map(read::message::<Pg>)
                .collect::<Result<_, _>>()
                .db()?;
            with_reactions(&mut db, &mut existing).await?;
            existing
        } else {
            Vec::new()
        };

        let plan = append::plan(batch, existing, members);
        if plan.reservations().is_empty() {
            return Ok(plan.finish(Vec::new()));
        }
        // Seqs numbered from 1 per conversation; the statement adds the conversation's
        // `last_seq` before the reservation (`base`), and so does `renumber` below.
        let mut stored = plan.draft(now)?;
        let (conversations, counts): (Vec<Uuid>, Vec<i64>) =
            plan.reservations().iter().map(|(c, n)| (c.0, *n)).unzip();
        // Every reserved conversation has members (the plan reserves seqs for members' messages
        // only), so a version was kept or read with them.
        let member_versions: Vec<i64> = plan
            .reservations()
            .keys()
            .map(|c| versions.get(c).copied().unwrap_or(-1))
            .collect();
        let ids: Vec<Uuid> = stored.iter().map(|m| m.id.0).collect();
        let cids: Vec<Uuid> = stored.iter().map(|m| m.conversation_id.0).collect();
        let offsets: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        let senders: Vec<Uuid> = stored.iter().map(|m| m.sender_id.0).collect();
        let client_ids: Vec<&str> = stored.iter().map(|m| m.client_id.as_str()).collect();
        let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
        let replies: Vec<Option<Uuid>> = stored.iter().map(|m| m.reply_to.map(|r| r.0)).collect();
        let plain = stored
            .iter()
            .all(|m| m.attachments.is_empty() && m.mentions.is_empty());
        let mut statement = sqlx::query(if plain { APPEND_PLAIN } else { APPEND_FULL })
            .bind(&conversations)
            .bind(&counts)
            .bind(now)
            .bind(&member_versions)
            .bind(&ids)
            .bind(&cids)
            .bind(&offsets)
            .bind(&senders)
            .bind(&client_ids)
            .bind(&bodies)
            .bind(&replies);
        if !plain {
            let attachments: Vec<serde_json::Value> = stored
                .iter()
                .map(|m| serde_json::to_value(&m.attachments).unwrap_or_default())
                .collect();
            let mentions: Vec<serde_json::Value> = stored
                .iter()
                .map(|m| serde_json::to_value(&m.mentions).unwrap_or_default())
                .collect();
            let mut attached: (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) = Default::default();
            for m in &stored {
                for a in &m.attachments {
                    attached.0.push(a.media_id.0);
                    attached.1.push(m.conversation_id.0);
                    attached.2.push(m.id.0);
                }
            }
            statement = statement
                .bind(attachments)
                .bind(mentions)
                .bind(attached.0)
                .bind(attached.1)
                .bind(attached.2);
        }
        let locked = statement.fetch_all(&mut *db).await.db()?;
        let mut base = append::map(locked.len());
        let mut moved = false;
        for r in &locked {
            let cid = ConversationId(Pg::uuid(r, "conversation_id").db()?);
            let version = Pg::int(r, "member_version").db()?;
            if versions.get(&cid) != Some(&version) {
                // Somebody joined or left since the members were read: nothing was inserted.
                self.kept().forget(cid);
                moved = true;
            }
            if r.try_get::<bool, _>("ok").db()? {
                base.insert(cid, Pg::int(r, "last_seq").db()?);
            }
        }
        if moved {
            return Err(StoreError::Conflict(Conflict::Serialization));
        }
        // Conversations are never deleted, so none can vanish between the plan and the
        // statement; if one did, `current` was false, nothing was inserted, and the batch's
        // senders get an error (a retry with the same client_id is answered as any other).
        append::renumber(&mut stored, &base)?;
        Ok(plan.finish(stored))
    }
}

#[async_trait]
impl ChatStore for PgStore {
    async fn upsert_profile(&self, p: &Profile) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_user (chat_user_id, display_name, avatar_url, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (chat_user_id) DO UPDATE SET
                 display_name = excluded.display_name,
                 avatar_url = excluded.avatar_url,
                 updated_at = excluded.updated_at
             WHERE excluded.updated_at >= chat_user.updated_at",
        )
        .bind(p.id.0)
        .bind(&p.display_name)
        .bind(&p.avatar_url)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError> {
        let rows = sqlx::query(
            "SELECT chat_user_id, display_name, avatar_url, updated_at FROM chat_user
             WHERE chat_user_id = ANY($1)",
        )
        .bind(uuids(ids))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::profile::<Pg>)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError> {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let mut tx = self.pool.begin().await.db()?;
        let created: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO conversation (conversation_id, kind, created_by, created_at,
                                       last_activity_at, direct_low, direct_high)
             VALUES ($1, 'direct', $2, now(), now(), $3, $4)
             ON CONFLICT (direct_low, direct_high) DO NOTHING
             RETURNING conversation_id",
        )
        .bind(ConversationId::new().0)
        .bind(a.0)
        .bind(low.0)
        .bind(high.0)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let cid = match created {
            Some(id) => {
                let cid = ConversationId(id);
                insert_members(&mut tx, cid, &[low, high], Role::Member).await?;
                cid
            }
            None => ConversationId(
                sqlx::query_scalar(
                    "SELECT conversation_id FROM conversation
                     WHERE direct_low = $1 AND direct_high = $2",
                )
                .bind(low.0)
                .bind(high.0)
                .fetch_one(&mut *tx)
                .await
                .db()?,
            ),
        };
        let c = load_conversation(&mut tx, cid).await?;
        tx.commit().await.db()?;
        Ok((c, created.is_some()))
    }

    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
    ) -> Result<Conversation, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        let cid = ConversationId::new();
        sqlx::query(
            "INSERT INTO conversation (conversation_id, kind, name, created_by, created_at,
                                       last_activity_at)
             VALUES ($1, 'group', $2, $3, now(), now())",
        )
        .bind(cid.0)
        .bind(name)
        .bind(owner.0)
        .execute(&mut *tx)
        .await
        .db()?;
        insert_members(&mut tx, cid, &[owner], Role::Owner).await?;
        let others: Vec<UserId> = members.iter().copied().filter(|m| *m != owner).collect();
        insert_members(&mut tx, cid, &others, Role::Member).await?;
        let c = load_conversation(&mut tx, cid).await?;
        tx.commit().await.db()?;
        Ok(c)
    }

    async fn conversation(
        &self,
        cid: ConversationId,
        user: UserId,
    ) -> Result<Conversation, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if !is_member(&mut db, cid, user).await? {
            return Err(StoreError::NotFound);
        }
        load_conversation(&mut db, cid).await
    }

    async fn conversations(
        &self,
        user: UserId,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            ",
                (SELECT count(*) FROM (
                    SELECT 1 FROM message x
                    WHERE x.conversation_id = c.conversation_id AND x.seq > m.read_seq
                      AND x.sender_id <> m.user_id AND x.deleted_at IS NULL
                    LIMIT $4) unread) AS unread_count,
                (SELECT count(*) FROM mention mn
                 WHERE mn.user_id = m.user_id AND mn.conversation_id = c.conversation_id
                   AND mn.seq > m.read_seq) AS mention_count,
                m.notify_level, m.muted_until
             FROM member m JOIN conversation c ON c.conversation_id = m.conversation_id
             WHERE m.user_id = $1 AND ($2::timestamptz IS NULL OR c.last_activity_at < $2)
             ORDER BY c.last_activity_at DESC, c.conversation_id DESC
             LIMIT $3"
        ))
        .bind(user.0)
        .bind(before)
        .bind(i64::from(limit))
        .bind(UNREAD_COUNT_CAP)
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(ConversationSummary {
                conversation: read::conversation::<Pg>(r).db()?,
                last_message: None,
                unread_count: r.try_get("unread_count").db()?,
                mention_count: r.try_get("mention_count").db()?,
                // The default level needs the members (read below): the service resolves it.
                notifications: Notifications {
                    level: NotifyLevel::All,
                    chosen: Pg::opt_text(r, "notify_level")
                        .db()?
                        .map(|l| NotifyLevel::parse(&l))
                        .transpose()?,
                    muted_until: Pg::opt_time(r, "muted_until").db()?,
                },
            });
        }
        let ids: Vec<ConversationId> = out.iter().map(|s| s.conversation.id).collect();
        let mut members = members_of(&mut db, &ids).await?;
        let with_msgs: Vec<&ConversationSummary> =
            out.iter().filter(|s| s.conversation.last_seq > 0).collect();
        let cids: Vec<Uuid> = with_msgs.iter().map(|s| s.conversation.id.0).collect();
        let seqs: Vec<i64> = with_msgs.iter().map(|s| s.conversation.last_seq).collect();
        let last_rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM UNNEST($1::uuid[], $2::bigint[]) AS k(cid, seq)
             CROSS JOIN LATERAL (
                 SELECT * FROM message m WHERE m.conversation_id = k.cid AND m.seq = k.seq
                 LIMIT 1
             ) AS msg"
        ))
        .bind(&cids)
        .bind(&seqs)
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut last: Vec<Message> = last_rows
            .iter()
            .map(read::message::<Pg>)
            .collect::<Result<_, _>>()
            .db()?;
        with_reactions(&mut db, &mut last).await?;
        let mut last: HashMap<ConversationId, Message> =
            last.into_iter().map(|m| (m.conversation_id, m)).collect();
        for s in &mut out {
            s.conversation.members = members.remove(&s.conversation.id).unwrap_or_default();
            s.last_message = last.remove(&s.conversation.id);
        }
        Ok(out)
    }

    async fn add_members(
        &self,
        cid: ConversationId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        insert_members(&mut db, cid, users, Role::Member).await
    }

    async fn remove_member(&self, cid: ConversationId, user: UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        let role: Option<String> = sqlx::query_scalar(
            "DELETE FROM member WHERE conversation_id = $1 AND user_id = $2 RETURNING role",
        )
        .bind(cid.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        match role.as_deref() {
            None => return Err(StoreError::NotFound),
            Some("owner") => {
                sqlx::query(
                    "UPDATE member SET role = 'owner'
                     WHERE conversation_id = $1 AND user_id = (
                         SELECT user_id FROM member WHERE conversation_id = $1
                         ORDER BY joined_at, user_id LIMIT 1)",
                )
                .bind(cid.0)
                .execute(&mut *tx)
                .await
                .db()?;
            }
            Some(_) => {}
        }
        tx.commit().await.db()
    }

    async fn rename(&self, cid: ConversationId, name: &str) -> Result<Conversation, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let changed = sqlx::query(
            "UPDATE conversation SET name = $1 WHERE conversation_id = $2 AND kind = 'group'",
        )
        .bind(name)
        .bind(cid.0)
        .execute(&mut *db)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        load_conversation(&mut db, cid).await
    }

    async fn member_ids(&self, cid: ConversationId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> =
            sqlx::query_scalar("SELECT user_id FROM member WHERE conversation_id = $1")
                .bind(cid.0)
                .fetch_all(&self.pool)
                .await
                .db()?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn contacts(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT b.user_id FROM member a
             JOIN member b ON b.conversation_id = a.conversation_id
             WHERE a.user_id = $1 AND b.user_id <> $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    /// One batch at a time, as on SQLite: while it commits, the next fills up with every
    /// conversation's messages. Four overlapping shards (until issue 10) split the load into
    /// four times as many small transactions, and a transaction costs PostgreSQL about as
    /// much CPU as the messages in it (bench, 2,000 msgs/s with PostgreSQL on the server's
    /// core: 398 µs of PostgreSQL CPU per message with four, 286 with one).
    fn parallel_appends(&self) -> usize {
        1
    }

    async fn append(&self, batch: &[NewMessage]) -> Result<AppendBatch, StoreError> {
        // A repeated idempotency key makes the whole statement fail, whether it was sent
        // before (the first try does not look for earlier sends unless it must, see `Look`)
        // or concurrently on another node; the retries look first, find that message and
        // answer it as a duplicate. A serialization failure or deadlock is retried too, and so
        // is a batch whose conversations' members moved since they were kept (the statement
        // inserted nothing, and the retry reads them). Any other conflict (a seq taken twice
        // would mean the lock order in `append_once` was broken) is a bug, and retrying would
        // hide it.
        let mut attempt = 0;
        loop {
            let look = if attempt == 0 {
                Look::IfNeeded
            } else {
                Look::First
            };
            match self.append_once(batch, look).await {
                Err(StoreError::Conflict(c)) if c.is_retryable() && attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    }

    async fn messages(
        &self,
        cid: ConversationId,
        user: UserId,
        page: Page,
    ) -> Result<Vec<Message>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if !is_member(&mut db, cid, user).await? {
            return Err(StoreError::NotFound);
        }
        let newest_first = page.after_seq.is_none();
        let rows = sqlx::query(if newest_first {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM message msg WHERE msg.conversation_id = $1
                  AND msg.seq < COALESCE($2, 9223372036854775807) AND msg.seq > COALESCE($3, 0)
                ORDER BY msg.seq DESC LIMIT $4"
            )
        } else {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM message msg WHERE msg.conversation_id = $1
                  AND msg.seq < COALESCE($2, 9223372036854775807) AND msg.seq > COALESCE($3, 0)
                ORDER BY msg.seq ASC LIMIT $4"
            )
        })
        .bind(cid.0)
        .bind(page.before_seq)
        .bind(page.after_seq)
        .bind(i64::from(page.limit))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut msgs: Vec<Message> = rows
            .iter()
            .map(read::message::<Pg>)
            .collect::<Result<_, _>>()
            .db()?;
        if newest_first {
            msgs.reverse();
        }
        with_reactions(&mut db, &mut msgs).await?;
        Ok(msgs)
    }

    async fn sync(
        &self,
        user: UserId,
        from: &[SyncFrom],
        limit: u32,
    ) -> Result<SyncBatch, StoreError> {
        // One snapshot for the three reads, so the versions answered are exactly those the
        // messages reflect.
        let mut tx = self.pool.begin().await.db()?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .db()?;
        let cids: Vec<Uuid> = from.iter().map(|f| f.conversation_id.0).collect();
        let seqs: Vec<i64> = from.iter().map(|f| f.seq).collect();
        let since: Vec<Option<i64>> = from.iter().map(|f| f.version).collect();
        let rows = sqlx::query(concat!(
            "SELECT * FROM (
                SELECT ",
            message_columns!(),
            ", row_number() OVER (PARTITION BY msg.conversation_id ORDER BY msg.seq) AS rn
                FROM member m
                JOIN message msg ON msg.conversation_id = m.conversation_id
                LEFT JOIN UNNEST($2::uuid[], $3::bigint[]) AS p(cid, after_seq)
                  ON p.cid = m.conversation_id
                WHERE m.user_id = $1 AND msg.seq > COALESCE(p.after_seq, 0)
             ) t WHERE rn <= $4
             ORDER BY conversation_id, seq"
        ))
        .bind(user.0)
        .bind(&cids)
        .bind(&seqs)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let messages = with_reactions_read(&mut tx, &rows).await?;

        let rows = sqlx::query(concat!(
            "SELECT * FROM (
                SELECT ",
            message_columns!(),
            ", msg.version AS changed_in,
                  row_number() OVER (PARTITION BY msg.conversation_id ORDER BY msg.version) AS rn
                FROM UNNEST($2::uuid[], $3::bigint[], $4::bigint[]) AS p(cid, upto_seq, since)
                JOIN member m ON m.conversation_id = p.cid AND m.user_id = $1
                JOIN message msg ON msg.conversation_id = p.cid
                WHERE p.since IS NOT NULL AND msg.version > 0
                  AND msg.version > p.since AND msg.seq <= p.upto_seq
             ) t WHERE rn <= $5
             ORDER BY conversation_id, changed_in"
        ))
        .bind(user.0)
        .bind(&cids)
        .bind(&seqs)
        .bind(&since)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let changed = with_reactions_read(&mut tx, &rows).await?;
        let updated = changed
            .into_iter()
            .zip(&rows)
            .map(|(m, r)| Ok((m, Pg::int(r, "changed_in")?)))
            .collect::<Result<_, sqlx::Error>>()
            .db()?;

        let versions = sqlx::query(
            "SELECT c.conversation_id, c.version FROM member m
             JOIN conversation c ON c.conversation_id = m.conversation_id
             WHERE m.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&mut *tx)
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok((
                ConversationId(Pg::uuid(r, "conversation_id")?),
                Pg::int(r, "version")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .db()?;
        tx.commit().await.db()?;
        Ok(SyncBatch {
            messages,
            updated,
            versions,
        })
    }

    async fn search(&self, user: UserId, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if let Some(cid) = q.conversation_id
            && !is_member(&mut db, cid, user).await?
        {
            return Err(StoreError::NotFound);
        }
        if q.terms.is_empty() {
            return Ok(Vec::new());
        }
        // The page is chosen first; only its rows pay for a headline. The query is planned
        // for its actual words each time (an unnamed statement, not a cached generic plan):
        // for a common word PostgreSQL walks the asker's conversations and tests each
        // message's stored tsvector, for a rare one it reads the word's GIN posting list;
        // a generic plan cannot know which, and the wrong one costs 20 times more at a
        // million messages (bench/RESULTS.md).
        let rows = sqlx::query(concat!(
            "SELECT msg.*,
                    ts_headline('english', msg.body, to_tsquery('english', $1), $7) AS snippet
             FROM (SELECT ",
            message_columns!(),
            "     FROM message msg
                  JOIN member mb ON mb.conversation_id = msg.conversation_id AND mb.user_id = $2
                  WHERE msg.search @@ to_tsquery('english', $1) AND msg.deleted_at IS NULL
                    AND ($3::uuid IS NULL OR msg.conversation_id = $3)
                    AND ($4::timestamptz IS NULL OR (msg.created_at, msg.message_id) < ($4, $5))
                  ORDER BY msg.created_at DESC, msg.message_id DESC
                  LIMIT $6) msg
             ORDER BY msg.created_at DESC, msg.message_id DESC"
        ))
        .persistent(false)
        .bind(search::tsquery(&q.terms))
        .bind(user.0)
        .bind(q.conversation_id.map(|c| c.0))
        .bind(q.before.map(|c| c.created_at))
        .bind(q.before.map(|c| c.message_id.0))
        .bind(i64::from(q.limit))
        .bind(format!(
            "StartSel=\"{}\", StopSel=\"{}\", MaxWords=24, MinWords=10, ShortWord=2",
            search::MARK_START,
            search::MARK_END
        ))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let msgs = with_reactions_read(&mut db, &rows).await?;
        msgs.into_iter()
            .zip(&rows)
            .map(|(message, row)| {
                Ok(SearchHit {
                    message,
                    snippet: Pg::text(row, "snippet")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .db()
    }

    async fn set_notifications(
        &self,
        cid: ConversationId,
        user: UserId,
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE member SET notify_level = $1, muted_until = $2
             WHERE conversation_id = $3 AND user_id = $4",
        )
        .bind(chosen.map(NotifyLevel::as_str))
        .bind(muted_until)
        .bind(cid.0)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_preview(
        &self,
        mid: MessageId,
        preview: &LinkPreview,
    ) -> Result<Option<Message>, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET preview = $1
             WHERE message_id = $2 AND NOT preview_removed AND deleted_at IS NULL",
        )
        .bind(
            serde_json::to_value(preview)
                .map_err(|e| StoreError::other("encoding a link preview", e))?,
        )
        .bind(mid.0)
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(image) = &preview.image {
            // Readable by whoever may read the message, like an attachment.
            sqlx::query(
                "INSERT INTO media_attachment (media_id, conversation_id, message_id)
                 SELECT $1, conversation_id, message_id FROM message WHERE message_id = $2
                 ON CONFLICT DO NOTHING",
            )
            .bind(image.media_id.0)
            .bind(mid.0)
            .execute(&mut *tx)
            .await
            .db()?;
            sqlx::query(
                "UPDATE media SET attached_at = COALESCE(attached_at, now()) WHERE media_id = $1",
            )
            .bind(image.media_id.0)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(Some(m))
    }

    async fn remove_preview(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET preview = NULL, preview_removed = true
             WHERE message_id = $1 AND sender_id = $2
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = $2)",
        )
        .bind(mid.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_setting (user_id, read_receipts) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET read_receipts = excluded.read_receipts",
        )
        .bind(user.0)
        .bind(on)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn read_receipts_off(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let off: Vec<Uuid> = sqlx::query_scalar(
            "SELECT user_id FROM chat_setting WHERE NOT read_receipts AND user_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(off.into_iter().map(UserId).collect())
    }

    async fn mentioning(
        &self,
        user: UserId,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM mention mn
             JOIN member mb ON mb.conversation_id = mn.conversation_id AND mb.user_id = mn.user_id
             JOIN message msg ON msg.message_id = mn.message_id
             WHERE mn.user_id = $1 AND msg.deleted_at IS NULL
               AND ($2::timestamptz IS NULL OR (msg.created_at, msg.message_id) < ($2, $3))
             ORDER BY msg.created_at DESC, msg.message_id DESC
             LIMIT $4"
        ))
        .bind(user.0)
        .bind(before.map(|c| c.created_at))
        .bind(before.map(|c| c.message_id.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let msgs = with_reactions_read(&mut db, &rows).await?;
        Ok(msgs)
    }

    async fn message(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let visible: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM message msg JOIN member m ON m.conversation_id = msg.conversation_id
             WHERE msg.message_id = $1 AND m.user_id = $2",
        )
        .bind(mid.0)
        .bind(user.0)
        .fetch_optional(&mut *db)
        .await
        .db()?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        load_message(&mut db, mid).await
    }

    async fn edit_message(
        &self,
        mid: MessageId,
        user: UserId,
        body: &str,
        keep_preview: bool,
    ) -> Result<Message, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET body = $1, edited_at = $4,
                                preview = CASE WHEN $5 THEN preview ELSE NULL END
             WHERE message_id = $2 AND sender_id = $3 AND deleted_at IS NULL
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = $3)",
        )
        .bind(body)
        .bind(mid.0)
        .bind(user.0)
        .bind(now_millis())
        .bind(keep_preview)
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn delete_message(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET body = '', attachments = '[]', mentions = '{}',
                                deleted_at = COALESCE(deleted_at, now())
             WHERE message_id = $1 AND sender_id = $2
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = $2)",
        )
        .bind(mid.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // A deleted message no longer grants access to its files, nor counts as a mention.
        for table in ["reaction", "media_attachment", "mention"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE message_id = $1"
            )))
            .bind(mid.0)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn react(
        &self,
        mid: MessageId,
        user: UserId,
        emoji: &str,
        on: bool,
        max_per_user: u32,
    ) -> Result<Reacted, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        count_change(&mut tx, mid).await?;
        // The message row stays locked until commit, so two reactions to one message (from
        // any node) are counted one after the other and cannot both pass the limit.
        let visible: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM message msg JOIN member m
               ON m.conversation_id = msg.conversation_id AND m.user_id = $2
             WHERE msg.message_id = $1 AND msg.deleted_at IS NULL
             FOR UPDATE OF msg",
        )
        .bind(mid.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        if on {
            let others: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM reaction
                 WHERE message_id = $1 AND user_id = $2 AND emoji <> $3",
            )
            .bind(mid.0)
            .bind(user.0)
            .bind(emoji)
            .fetch_one(&mut *tx)
            .await
            .db()?;
            if others >= i64::from(max_per_user) {
                return Ok(Reacted::TooMany);
            }
            sqlx::query(
                "INSERT INTO reaction (message_id, user_id, emoji, created_at)
                 VALUES ($1, $2, $3, now()) ON CONFLICT DO NOTHING",
            )
            .bind(mid.0)
            .bind(user.0)
            .bind(emoji)
            .execute(&mut *tx)
            .await
            .db()?;
        } else {
            sqlx::query(
                "DELETE FROM reaction WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
            )
            .bind(mid.0)
            .bind(user.0)
            .bind(emoji)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(Reacted::Done(m))
    }

    async fn receipt(
        &self,
        cid: ConversationId,
        user: UserId,
        kind: ReceiptKind,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        // One statement: clamp to the last seq, move forward only, report whether it moved.
        let row = sqlx::query(
            "WITH cur AS (
                 SELECT m.delivered_seq, m.read_seq, LEAST(GREATEST($4, 0), c.last_seq) AS target
                 FROM member m JOIN conversation c ON c.conversation_id = m.conversation_id
                 WHERE m.conversation_id = $1 AND m.user_id = $2
                 FOR UPDATE OF m)
             UPDATE member SET
                 delivered_seq = GREATEST(cur.delivered_seq, cur.target),
                 read_seq = CASE WHEN $3 THEN GREATEST(cur.read_seq, cur.target) ELSE cur.read_seq END
             FROM cur
             WHERE member.conversation_id = $1 AND member.user_id = $2
             RETURNING cur.target,
                       CASE WHEN $3 THEN cur.target > cur.read_seq
                            ELSE cur.target > cur.delivered_seq END AS moved",
        )
        .bind(cid.0)
        .bind(user.0)
        .bind(kind == ReceiptKind::Read)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .db()?
        .ok_or(StoreError::NotFound)?;
        let target: i64 = row.try_get("target").db()?;
        let moved: bool = row.try_get("moved").db()?;
        Ok(moved.then_some(target))
    }
}
