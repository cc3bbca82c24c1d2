//! The chat service's operations, shared by the REST API and the Socket.IO handlers.
//! Authorization lives here: non-members get `not_found`, members lacking a right `forbidden`.

use crate::directory::UserDirectory;
use crate::error::{ChatError, ChatResult};
use crate::fanout::{Fanout, Payload, emit_message};
use crate::limits::SendLimit;
use crate::previews::Previewer;
use crate::protocol::{self, SendPayload};
use crate::writer::{Sent, Writer};
use chatsync_core::config::ChatConfig;
use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::chat::{
    Conversation, ConversationKind, ConversationSummary, MAX_MENTIONS, Message, NewMessage,
    Notifications, NotifyLevel, Page, Reacted, ReceiptKind, SearchCursor, SearchHit, SearchQuery,
    SyncFrom, search_terms,
};
use chatsync_core::ports::presence::PresenceState;
use chatsync_core::ports::throttle::Decision;
use chatsync_core::ports::{Attachments, ChatStore, Presence, SessionStore, StoreError, Throttle};
use chatsync_core::validate::{ConversationName, Invalid, MessageBody};
use chatsync_link_preview::first_url;
use chatsync_platform::http::Authenticator;
use chrono::{DateTime, Utc};
use socketioxide::socket::Sid;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The answer of `sync`.
pub(crate) struct Synced {
    /// New messages, ascending per conversation.
    pub(crate) messages: Vec<Message>,
    /// Messages the client has that changed, as they are now, oldest change first.
    pub(crate) updated: Vec<Message>,
    /// The version to send next time, per conversation of the user.
    pub(crate) versions: HashMap<ConversationId, i64>,
    /// Call again with the new positions: a page was full.
    pub(crate) has_more: bool,
}

/// Longest message-search query, in characters.
pub(crate) const MAX_SEARCH_CHARS: usize = 200;
/// Most search hits in one page.
pub(crate) const MAX_SEARCH_PAGE: u32 = 50;

/// Most members a group may have.
pub(crate) const MAX_GROUP_MEMBERS: usize = 512;
/// Most attachments on one message.
pub(crate) const MAX_ATTACHMENTS: usize = 10;
/// How long a cached member list is trusted for typing and receipt relays. Sends always check
/// membership in the database.
const MEMBER_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a user's read-receipt setting is trusted by other nodes.
const RECEIPT_SETTING_TTL: Duration = Duration::from_secs(10);
/// Conversations whose member lists are cached at most (least recently used go first).
const MEMBER_CACHE_CAPACITY: u64 = 100_000;

/// The chat service's state and operations.
pub struct Chat {
    pub(crate) cfg: ChatConfig,
    pub(crate) store: Arc<dyn ChatStore>,
    pub(crate) presence: Arc<dyn Presence>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) auth: Authenticator,
    pub(crate) directory: Arc<dyn UserDirectory>,
    pub(crate) attachments: Option<Arc<dyn Attachments>>,
    /// Delivers events to sockets; built from the Socket.IO server before this.
    pub(crate) fanout: Arc<dyn Fanout>,
    pub(crate) writer: Writer,
    /// The per-account send limit, for REST and Socket.IO alike.
    send_limit: SendLimit,
    /// Counters shared by every node (the message-search limit).
    throttle: Arc<dyn Throttle>,
    /// Member ids per conversation, for typing and receipt relays; concurrent misses on one
    /// conversation share one read.
    members: moka::future::Cache<ConversationId, Arc<Vec<UserId>>>,
    /// Whether each user sends read receipts, for a short while (another node's change shows
    /// here within the TTL).
    receipts_on: moka::future::Cache<UserId, bool>,
    /// Fetches link previews for new messages; `None` when they are turned off.
    previews: Option<Previewer>,
}

fn parse_client_id(s: &str) -> ChatResult<String> {
    let n = s.chars().count();
    if n == 0 || n > 64 || s.chars().any(char::is_control) {
        return Err(Invalid::new("client_id", "must be 1 to 64 printable characters").into());
    }
    Ok(s.to_owned())
}

/// A reaction must be one emoji of the Unicode list (skin tones and ZWJ sequences included):
/// a word, markup or a long string is refused, so reactions stay a few bytes each.
pub(crate) fn check_emoji(s: &str) -> ChatResult<()> {
    if s.len() > 64 || emojis::get(s).is_none() {
        return Err(Invalid::new("emoji", "must be one emoji").into());
    }
    Ok(())
}

/// What `send` checks before it touches a store: the client id, the body, the attachments'
/// count. The client id and body come back parsed.
pub(crate) fn check_send(p: &SendPayload) -> ChatResult<(String, MessageBody)> {
    let client_id = parse_client_id(&p.client_id)?;
    let body = MessageBody::parse(&p.body)?;
    if p.attachments.len() > MAX_ATTACHMENTS {
        return Err(Invalid::new(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} per message"),
        )
        .into());
    }
    if p.mentions.len() > MAX_MENTIONS {
        return Err(Invalid::new("mentions", format!("at most {MAX_MENTIONS} per message")).into());
    }
    if body.is_blank() && p.attachments.is_empty() {
        return Err(Invalid::new("body", "a message needs text or an attachment").into());
    }
    Ok((client_id, body))
}

/// What `edit` checks before it touches a store.
pub(crate) fn check_edit(body: &str) -> ChatResult<MessageBody> {
    let body = MessageBody::parse(body)?;
    if body.is_blank() {
        return Err(Invalid::new("body", "must not be empty; delete the message instead").into());
    }
    Ok(body)
}

/// What `receipt` checks before it touches a store.
pub(crate) fn check_seq(seq: i64) -> ChatResult<()> {
    if seq < 0 {
        return Err(Invalid::new("seq", "must not be negative").into());
    }
    Ok(())
}

impl Chat {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: ChatConfig,
        store: Arc<dyn ChatStore>,
        presence: Arc<dyn Presence>,
        sessions: Arc<dyn SessionStore>,
        auth: Authenticator,
        directory: Arc<dyn UserDirectory>,
        attachments: Option<Arc<dyn Attachments>>,
        throttle: Arc<dyn Throttle>,
        fanout: Arc<dyn Fanout>,
    ) -> Self {
        let send_limit = SendLimit::new(throttle.clone(), cfg.send_per_account);
        let writer = Writer::start(
            store.clone(),
            fanout.clone(),
            attachments.clone(),
            cfg.max_batch,
            std::time::Duration::from_micros(cfg.commit_window_us),
        );
        let previews = if cfg.link_previews {
            let limits = chatsync_link_preview::Limits {
                allow: cfg.link_preview_allow.clone(),
                ..Default::default()
            };
            match chatsync_link_preview::Fetcher::new(limits) {
                Ok(f) => Some(Previewer::start(
                    f,
                    store.clone(),
                    attachments.clone(),
                    fanout.clone(),
                )),
                Err(e) => {
                    tracing::error!(error = %e, "link previews are off: no HTTP client");
                    None
                }
            }
        } else {
            None
        };
        Self {
            cfg,
            store,
            presence,
            sessions,
            auth,
            directory,
            attachments,
            fanout,
            writer,
            send_limit,
            throttle,
            members: moka::future::Cache::builder()
                .max_capacity(MEMBER_CACHE_CAPACITY)
                .time_to_live(MEMBER_CACHE_TTL)
                .build(),
            receipts_on: moka::future::Cache::builder()
                .max_capacity(MEMBER_CACHE_CAPACITY)
                .time_to_live(RECEIPT_SETTING_TTL)
                .build(),
            previews,
        }
    }

    /// Adds fresh signed URLs for `viewer` to the messages' attachments before they leave.
    pub(crate) fn present(&self, viewer: UserId, messages: &mut [Message]) {
        if let Some(a) = &self.attachments {
            a.present(viewer, messages);
        }
    }

    /// Emits to `users`' sockets, except the socket `except`.
    pub(crate) async fn emit(
        &self,
        users: &[UserId],
        except: Option<Sid>,
        event: &'static str,
        data: Payload<'_>,
    ) {
        self.fanout.to_users(users, except, event, data).await;
    }

    async fn emit_conversation(&self, event: &'static str, users: &[UserId], c: &Conversation) {
        let mut ids: Vec<UserId> = c.members.iter().map(|m| m.user_id).collect();
        ids.extend_from_slice(users);
        // Without the settings, show no read positions at all rather than private ones.
        let off: HashSet<UserId> = match self.receipts_off(&ids).await {
            Ok(off) => off,
            Err(e) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), "read-receipt settings unavailable; hiding read positions");
                ids.iter().copied().collect()
            }
        };
        // One payload for everyone who shares receipts; each who does not sees only their own.
        let (private, shared): (Vec<UserId>, Vec<UserId>) =
            users.iter().partition(|u| off.contains(u));
        if !shared.is_empty() {
            let mut common = c.clone();
            for m in &mut common.members {
                if off.contains(&m.user_id) {
                    m.read_seq = 0;
                }
            }
            self.emit(&shared, None, event, Payload::Conversation(&common))
                .await;
        }
        for u in private {
            let seen = Self::as_seen_by(u, c.clone(), &off);
            self.emit(&[u], None, event, Payload::Conversation(&seen))
                .await;
        }
    }

    /// Member ids, from a short-lived cache (relays only: typing, receipts).
    async fn cached_members(&self, cid: ConversationId) -> ChatResult<Arc<Vec<UserId>>> {
        self.members
            .try_get_with(cid, async {
                self.store.member_ids(cid).await.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<StoreError>| {
                // The one read's error, shared by every caller that waited on it.
                ChatError::from(match &*e {
                    StoreError::NotFound => StoreError::NotFound,
                    StoreError::Conflict(c) => StoreError::Conflict(c.clone()),
                    StoreError::Unavailable { .. } => {
                        StoreError::unavailable("reading members", e.clone())
                    }
                    StoreError::Other { .. } => StoreError::other("reading members", e.clone()),
                })
            })
    }

    async fn forget_members(&self, cid: ConversationId) {
        self.members.invalidate(&cid).await;
    }

    /// Those of `users` who turned read receipts off.
    async fn receipts_off(&self, users: &[UserId]) -> ChatResult<HashSet<UserId>> {
        let mut off = HashSet::new();
        let mut unknown = Vec::new();
        for u in users {
            match self.receipts_on.get(u).await {
                Some(true) => {}
                Some(false) => {
                    off.insert(*u);
                }
                None => unknown.push(*u),
            }
        }
        if !unknown.is_empty() {
            let found: HashSet<UserId> = self
                .store
                .read_receipts_off(&unknown)
                .await?
                .into_iter()
                .collect();
            for u in unknown {
                let on = !found.contains(&u);
                self.receipts_on.insert(u, on).await;
                if !on {
                    off.insert(u);
                }
            }
        }
        Ok(off)
    }

    /// `c` as `viewer` may see it: the read position of a member who keeps theirs private
    /// reads as 0, and so does everyone else's to a viewer who keeps theirs private.
    fn as_seen_by(viewer: UserId, mut c: Conversation, off: &HashSet<UserId>) -> Conversation {
        let viewer_off = off.contains(&viewer);
        for m in &mut c.members {
            if m.user_id != viewer && (viewer_off || off.contains(&m.user_id)) {
                m.read_seq = 0;
            }
        }
        c
    }

    /// [`Self::as_seen_by`], looking the settings up.
    async fn seen_by(&self, viewer: UserId, c: Conversation) -> ChatResult<Conversation> {
        let mut ids: Vec<UserId> = c.members.iter().map(|m| m.user_id).collect();
        ids.push(viewer);
        let off = self.receipts_off(&ids).await?;
        Ok(Self::as_seen_by(viewer, c, &off))
    }

    /// Turns `me`'s read receipts on or off.
    pub(crate) async fn set_read_receipts(&self, me: UserId, on: bool) -> ChatResult<()> {
        self.store.set_read_receipts(me, on).await?;
        self.receipts_on.insert(me, on).await;
        // Every device of mine shows (or hides) read positions from now on.
        self.emit(
            &[me],
            None,
            protocol::SETTINGS_CHANGED,
            Payload::Settings(&protocol::ChatSettings { read_receipts: on }),
        )
        .await;
        Ok(())
    }

    /// One message of a conversation `me` is in, as history shows it.
    pub(crate) async fn message(&self, me: UserId, mid: MessageId) -> ChatResult<Message> {
        let mut m = self
            .store
            .message(mid, me)
            .await
            .map_err(not_found("message"))?;
        self.present(me, std::slice::from_mut(&mut m));
        Ok(m)
    }

    /// Whether `me` sends read receipts.
    pub(crate) async fn read_receipts(&self, me: UserId) -> ChatResult<bool> {
        Ok(!self.receipts_off(&[me]).await?.contains(&me))
    }

    /// Makes sure the chat service has a profile copy of each user, asking the user service
    /// for missing ones. `NotFound` if a user does not exist.
    async fn ensure_profiles(&self, ids: &[UserId], token: &str) -> ChatResult<()> {
        let known: HashSet<UserId> = self
            .store
            .profiles(ids)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        for id in ids.iter().filter(|i| !known.contains(i)) {
            match self.directory.profile(*id, token).await {
                Ok(Some(p)) => self.store.upsert_profile(&p).await?,
                Ok(None) => return Err(ChatError::NotFound("user")),
                Err(e) => return Err(ChatError::Unavailable(format!("user service: {e}"))),
            }
        }
        Ok(())
    }

    // ---- conversations --------------------------------------------------------------------

    /// Opens (or finds) the direct conversation with `other`. True if created now.
    pub(crate) async fn direct(
        &self,
        me: UserId,
        other: UserId,
        token: &str,
    ) -> ChatResult<(Conversation, bool)> {
        if me == other {
            return Err(Invalid::new("user_id", "must be someone else").into());
        }
        self.ensure_profiles(&[me, other], token).await?;
        let (c, created) = self.store.direct_conversation(me, other).await?;
        if created {
            self.emit_conversation(protocol::CONVERSATION_NEW, &[me, other], &c)
                .await;
        }
        Ok((self.seen_by(me, c).await?, created))
    }

    /// Creates a group owned by `me`.
    pub(crate) async fn group(
        &self,
        me: UserId,
        name: &str,
        members: &[UserId],
        token: &str,
    ) -> ChatResult<Conversation> {
        let name = ConversationName::parse(name)?;
        let mut ids: Vec<UserId> = members.to_vec();
        ids.push(me);
        ids.sort();
        ids.dedup();
        if ids.len() > MAX_GROUP_MEMBERS {
            return Err(Invalid::new(
                "member_ids",
                format!("a group has at most {MAX_GROUP_MEMBERS} members"),
            )
            .into());
        }
        self.ensure_profiles(&ids, token).await?;
        let c = self.store.create_group(me, name.as_str(), &ids).await?;
        self.emit_conversation(protocol::CONVERSATION_NEW, &ids, &c)
            .await;
        Ok(c)
    }

    pub(crate) async fn list(
        &self,
        me: UserId,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> ChatResult<Vec<ConversationSummary>> {
        let mut list = self
            .store
            .conversations(me, before, limit.clamp(1, 100))
            .await?;
        let mut ids: Vec<UserId> = list
            .iter()
            .flat_map(|c| c.conversation.members.iter().map(|m| m.user_id))
            .collect();
        ids.push(me);
        ids.sort_unstable();
        ids.dedup();
        let off = self.receipts_off(&ids).await?;
        for c in &mut list {
            c.conversation = Self::as_seen_by(me, c.conversation.clone(), &off);
            if let Some(m) = c.last_message.as_mut() {
                self.present(me, std::slice::from_mut(m));
            }
            c.notifications = self.notifications_for(
                &c.conversation,
                c.notifications.chosen,
                c.notifications.muted_until,
            );
        }
        Ok(list)
    }

    fn notifications_for(
        &self,
        c: &Conversation,
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
    ) -> Notifications {
        Notifications::resolve(
            chosen,
            muted_until,
            c.kind,
            c.members.len(),
            self.cfg.mentions_only_group_size,
        )
    }

    /// Sets `me`'s notification level and mute for a conversation, and tells their other
    /// devices, so every device agrees.
    pub(crate) async fn set_notifications(
        &self,
        me: UserId,
        cid: ConversationId,
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
    ) -> ChatResult<Notifications> {
        let c = self
            .store
            .conversation(cid, me)
            .await
            .map_err(not_found("conversation"))?;
        // A mute that has already ended is no mute. Whole milliseconds, as every store keeps
        // them, so the answer equals what later lists say.
        let muted_until = muted_until
            .filter(|t| *t > Utc::now())
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()));
        self.store
            .set_notifications(cid, me, chosen, muted_until)
            .await
            .map_err(not_found("conversation"))?;
        let changed = protocol::NotificationsChanged {
            conversation_id: cid,
            notifications: self.notifications_for(&c, chosen, muted_until),
        };
        self.emit(
            &[me],
            None,
            protocol::NOTIFICATIONS_CHANGED,
            Payload::Notifications(&changed),
        )
        .await;
        Ok(changed.notifications)
    }

    pub(crate) async fn get(&self, me: UserId, cid: ConversationId) -> ChatResult<Conversation> {
        let c = self
            .store
            .conversation(cid, me)
            .await
            .map_err(not_found("conversation"))?;
        self.seen_by(me, c).await
    }

    /// The group, unmasked (for decisions and events, never returned as is).
    async fn group_of(&self, me: UserId, cid: ConversationId) -> ChatResult<Conversation> {
        let c = self
            .store
            .conversation(cid, me)
            .await
            .map_err(not_found("conversation"))?;
        if c.kind != ConversationKind::Group {
            return Err(ChatError::Forbidden(
                "direct conversations have exactly two members",
            ));
        }
        Ok(c)
    }

    /// Adds members to a group; any member may.
    pub(crate) async fn add_members(
        &self,
        me: UserId,
        cid: ConversationId,
        users: &[UserId],
        token: &str,
    ) -> ChatResult<Conversation> {
        let c = self.group_of(me, cid).await?;
        if c.members.len() + users.len() > MAX_GROUP_MEMBERS {
            return Err(Invalid::new(
                "user_ids",
                format!("a group has at most {MAX_GROUP_MEMBERS} members"),
            )
            .into());
        }
        self.ensure_profiles(users, token).await?;
        let added = self.store.add_members(cid, users).await?;
        self.forget_members(cid).await;
        let c = self.group_of(me, cid).await?;
        if !added.is_empty() {
            let existing: Vec<UserId> = c
                .members
                .iter()
                .map(|m| m.user_id)
                .filter(|u| !added.contains(u))
                .collect();
            self.emit_conversation(protocol::CONVERSATION_NEW, &added, &c)
                .await;
            self.emit_conversation(protocol::CONVERSATION_UPDATED, &existing, &c)
                .await;
        }
        self.seen_by(me, c).await
    }

    /// Removes `target` from a group: themselves (leave), or anyone by the owner.
    pub(crate) async fn remove_member(
        &self,
        me: UserId,
        cid: ConversationId,
        target: UserId,
    ) -> ChatResult<()> {
        let c = self.group_of(me, cid).await?;
        if target != me {
            let my_role = c.members.iter().find(|m| m.user_id == me).map(|m| m.role);
            if my_role != Some(chatsync_core::ports::chat::Role::Owner) {
                return Err(ChatError::Forbidden(
                    "only the group's owner can remove other members",
                ));
            }
        }
        self.store
            .remove_member(cid, target)
            .await
            .map_err(not_found("member"))?;
        self.forget_members(cid).await;
        let gone = protocol::ConversationRemoved {
            conversation_id: cid,
        };
        self.emit(
            &[target],
            None,
            protocol::CONVERSATION_REMOVED,
            Payload::Removed(&gone),
        )
        .await;
        let remaining: Vec<UserId> = c
            .members
            .iter()
            .map(|m| m.user_id)
            .filter(|u| *u != target)
            .collect();
        if let Some(first) = remaining.first()
            && let Ok(updated) = self.store.conversation(cid, *first).await
        {
            self.emit_conversation(protocol::CONVERSATION_UPDATED, &remaining, &updated)
                .await;
        }
        Ok(())
    }

    /// Renames a group; any member may.
    pub(crate) async fn rename(
        &self,
        me: UserId,
        cid: ConversationId,
        name: &str,
    ) -> ChatResult<Conversation> {
        let _ = self.group_of(me, cid).await?;
        let name = ConversationName::parse(name)?;
        let c = self.store.rename(cid, name.as_str()).await?;
        let ids: Vec<UserId> = c.members.iter().map(|m| m.user_id).collect();
        self.emit_conversation(protocol::CONVERSATION_UPDATED, &ids, &c)
            .await;
        self.seen_by(me, c).await
    }

    // ---- messages -------------------------------------------------------------------------

    /// Validates and stores a message, then delivers it to the other members' sockets.
    pub(crate) async fn send(
        &self,
        me: UserId,
        origin: Option<Sid>,
        p: SendPayload,
    ) -> ChatResult<Sent> {
        let (client_id, body) = check_send(&p)?;
        self.send_limit.admit(me).await?;
        let attachments = if p.attachments.is_empty() {
            Vec::new()
        } else {
            match &self.attachments {
                Some(r) => r
                    .resolve(me, p.conversation_id, &p.attachments)
                    .await
                    .map_err(not_found("media"))?,
                None => return Err(ChatError::NotFound("media")),
            }
        };
        // Each member once; mentioning oneself is not a mention.
        let mut mentions = p.mentions.clone();
        mentions.sort_unstable();
        mentions.dedup();
        mentions.retain(|u| *u != me);
        if !mentions.is_empty() {
            let members = self
                .store
                .member_ids(p.conversation_id)
                .await
                .map_err(not_found("conversation"))?;
            if !mentions.iter().all(|u| members.contains(u)) {
                return Err(Invalid::new("mentions", "must be members of the conversation").into());
            }
        }
        if let Some(original) = p.reply_to {
            // Read as the sender: a message of a conversation they are not in is as unknown
            // as one that does not exist.
            let same_conversation = matches!(
                self.store.message(original, me).await,
                Ok(m) if m.conversation_id == p.conversation_id
            );
            if !same_conversation {
                return Err(
                    Invalid::new("reply_to", "must be a message of this conversation").into(),
                );
            }
        }
        let sent = self
            .writer
            .send(
                NewMessage {
                    conversation_id: p.conversation_id,
                    sender_id: me,
                    client_id,
                    body: body.into_inner(),
                    attachments,
                    reply_to: p.reply_to,
                    mentions,
                },
                origin,
            )
            .await?;
        if sent.new
            && let Some(previews) = &self.previews
        {
            previews.queue(&sent.message);
        }
        Ok(sent)
    }

    /// Removes the link preview of `me`'s own message for good.
    pub(crate) async fn remove_preview(
        &self,
        me: UserId,
        origin: Option<Sid>,
        mid: MessageId,
    ) -> ChatResult<Message> {
        match self.store.remove_preview(mid, me).await {
            Ok(m) => Ok(self.updated(me, m, origin).await),
            Err(StoreError::NotFound) => Err(self.not_yours(me, mid).await),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn history(
        &self,
        me: UserId,
        cid: ConversationId,
        page: Page,
    ) -> ChatResult<(Vec<Message>, bool)> {
        let limit = page.limit.clamp(1, self.cfg.max_page);
        // One more than asked tells whether there is more in the paging direction.
        let mut msgs = self
            .store
            .messages(
                cid,
                me,
                Page {
                    limit: limit + 1,
                    ..page
                },
            )
            .await
            .map_err(not_found("conversation"))?;
        let more = msgs.len() > limit as usize;
        if more {
            if page.after_seq.is_some() {
                msgs.pop();
            } else {
                msgs.remove(0);
            }
        }
        self.present(me, &mut msgs);
        Ok((msgs, more))
    }

    /// Tells the members about a changed message; returns it as `me` sees it.
    /// A page of history centred on `around` (the message at that seq and up to `limit` in
    /// all, older ones first), for opening a conversation at a search hit. Returns the
    /// messages ascending, whether older ones exist, and whether newer ones exist.
    pub(crate) async fn history_around(
        &self,
        me: UserId,
        cid: ConversationId,
        around: i64,
        limit: u32,
    ) -> ChatResult<(Vec<Message>, bool, bool)> {
        check_seq(around)?;
        let limit = limit.clamp(1, self.cfg.max_page);
        let newer_wanted = limit / 2;
        let older_wanted = limit - newer_wanted; // the message itself included
        let (mut older, has_older) = self
            .history(
                me,
                cid,
                Page {
                    before_seq: Some(around.saturating_add(1)),
                    after_seq: None,
                    limit: older_wanted,
                },
            )
            .await?;
        let (newer, has_newer) = if newer_wanted == 0 {
            // Only whether there is anything after it.
            let (probe, _) = self
                .history(
                    me,
                    cid,
                    Page {
                        before_seq: None,
                        after_seq: Some(around),
                        limit: 1,
                    },
                )
                .await?;
            (Vec::new(), !probe.is_empty())
        } else {
            self.history(
                me,
                cid,
                Page {
                    before_seq: None,
                    after_seq: Some(around),
                    limit: newer_wanted,
                },
            )
            .await?
        };
        older.extend(newer);
        Ok((older, has_older, has_newer))
    }

    /// Messages that mention `me`, newest first, and where the next page starts.
    pub(crate) async fn mentions(
        &self,
        me: UserId,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> ChatResult<(Vec<Message>, Option<SearchCursor>)> {
        let limit = limit.clamp(1, self.cfg.max_page);
        let mut msgs = self.store.mentioning(me, before, limit + 1).await?;
        let next = if msgs.len() > limit as usize {
            msgs.truncate(limit as usize);
            msgs.last().map(|m| SearchCursor {
                created_at: m.created_at,
                message_id: m.id,
            })
        } else {
            None
        };
        self.present(me, &mut msgs);
        Ok((msgs, next))
    }

    /// Full-text search over the messages of `me`'s conversations (or one of them), newest
    /// first. Returns the hits and, when there may be more, where the next page starts.
    pub(crate) async fn search(
        &self,
        me: UserId,
        text: &str,
        conversation_id: Option<ConversationId>,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> ChatResult<(Vec<SearchHit>, Option<SearchCursor>)> {
        let rule = self.cfg.search_per_account;
        if let Decision::Limited { retry_after } = self
            .throttle
            .hit(
                &format!("search:messages:{me}"),
                rule.limit,
                Duration::from_secs(rule.window_secs),
            )
            .await?
        {
            return Err(ChatError::RateLimited(retry_after));
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(Invalid::new("q", "is required").into());
        }
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(Invalid::new("q", "is longer than 200 characters").into());
        }
        let limit = limit.clamp(1, MAX_SEARCH_PAGE);
        // One more than asked tells whether there is a next page.
        let mut hits = self
            .store
            .search(
                me,
                &SearchQuery {
                    terms: search_terms(text),
                    conversation_id,
                    before,
                    limit: limit + 1,
                },
            )
            .await
            .map_err(not_found("conversation"))?;
        let next = if hits.len() > limit as usize {
            hits.truncate(limit as usize);
            hits.last().map(|h| SearchCursor {
                created_at: h.message.created_at,
                message_id: h.message.id,
            })
        } else {
            None
        };
        for h in &mut hits {
            self.present(me, std::slice::from_mut(&mut h.message));
        }
        Ok((hits, next))
    }

    async fn updated(&self, me: UserId, mut m: Message, origin: Option<Sid>) -> Message {
        if let Ok(members) = self.cached_members(m.conversation_id).await {
            emit_message(
                self.fanout.as_ref(),
                self.attachments.as_deref(),
                &members,
                origin,
                protocol::MESSAGE_UPDATED,
                &m,
            )
            .await;
        }
        self.present(me, std::slice::from_mut(&mut m));
        m
    }

    pub(crate) async fn edit(
        &self,
        me: UserId,
        origin: Option<Sid>,
        mid: MessageId,
        body: &str,
    ) -> ChatResult<Message> {
        let body = check_edit(body)?;
        // The preview shows the message's first link: an edit that changes that link drops
        // it, and the new link's preview follows with `message:updated`.
        let same_link = match self.store.message(mid, me).await {
            Ok(before) => first_url(&before.body) == first_url(body.as_str()),
            Err(_) => true, // not theirs or gone: the edit below says so
        };
        let m = match self
            .store
            .edit_message(mid, me, body.as_str(), same_link)
            .await
        {
            Err(StoreError::NotFound) => return Err(self.not_yours(me, mid).await),
            other => other?,
        };
        if !same_link && let Some(previews) = &self.previews {
            previews.queue(&m);
        }
        Ok(self.updated(me, m, origin).await)
    }

    pub(crate) async fn delete(
        &self,
        me: UserId,
        origin: Option<Sid>,
        mid: MessageId,
    ) -> ChatResult<Message> {
        let m = match self.store.delete_message(mid, me).await {
            Err(StoreError::NotFound) => return Err(self.not_yours(me, mid).await),
            other => other?,
        };
        Ok(self.updated(me, m, origin).await)
    }

    /// Why `me` could not change message `mid`: a member who is not its sender is told so
    /// (they can see it anyway); to anyone else it does not exist.
    async fn not_yours(&self, me: UserId, mid: MessageId) -> ChatError {
        match self.store.message(mid, me).await {
            Ok(m) if m.sender_id != me => {
                ChatError::Forbidden("only the sender can edit or delete a message")
            }
            Ok(_) | Err(StoreError::NotFound) => ChatError::NotFound("message"),
            Err(e) => e.into(),
        }
    }

    pub(crate) async fn react(
        &self,
        me: UserId,
        origin: Option<Sid>,
        mid: MessageId,
        emoji: &str,
        on: bool,
    ) -> ChatResult<Message> {
        check_emoji(emoji)?;
        let max = self.cfg.max_reactions_per_user;
        match self
            .store
            .react(mid, me, emoji, on, max)
            .await
            .map_err(not_found("message"))?
        {
            Reacted::Done(m) => Ok(self.updated(me, m, origin).await),
            Reacted::TooMany => Err(Invalid::new(
                "emoji",
                format!("at most {max} different reactions per person on one message"),
            )
            .into()),
        }
    }

    /// Records a delivered/read position and tells the other members (and the user's other
    /// devices). Returns the position now stored.
    pub(crate) async fn receipt(
        &self,
        me: UserId,
        origin: Option<Sid>,
        cid: ConversationId,
        kind: ReceiptKind,
        seq: i64,
    ) -> ChatResult<Option<i64>> {
        check_seq(seq)?;
        let moved = self
            .store
            .receipt(cid, me, kind, seq)
            .await
            .map_err(not_found("conversation"))?;
        if let Some(seq) = moved {
            let mut members = (*self.cached_members(cid).await?).clone();
            if kind == ReceiptKind::Read {
                // A private read position goes to one's own devices only, and nobody's to
                // someone who keeps theirs private.
                let off = self.receipts_off(&members).await?;
                if off.contains(&me) {
                    members = vec![me];
                } else {
                    members.retain(|u| *u == me || !off.contains(u));
                }
            }
            let data = protocol::ReceiptEvent {
                conversation_id: cid,
                user_id: me,
                kind,
                seq,
            };
            self.emit(
                &members,
                origin,
                protocol::RECEIPT_EVENT,
                Payload::Receipt(&data),
            )
            .await;
        }
        Ok(moved)
    }

    /// Relays typing to the other members. Membership is checked.
    pub(crate) async fn typing(
        &self,
        me: UserId,
        cid: ConversationId,
        typing: bool,
    ) -> ChatResult<()> {
        let members = self.cached_members(cid).await?;
        if !members.contains(&me) {
            return Err(ChatError::NotFound("conversation"));
        }
        let others: Vec<UserId> = members.iter().copied().filter(|u| *u != me).collect();
        let data = protocol::TypingEvent {
            conversation_id: cid,
            user_id: me,
            typing,
        };
        self.emit(
            &others,
            None,
            protocol::TYPING_EVENT,
            Payload::Typing(&data),
        )
        .await;
        Ok(())
    }

    /// Messages after the given positions; `has_more` when a conversation filled its page.
    /// What `me` missed: new messages after each seq, messages they have that changed after
    /// each version, the version to continue from per conversation, and whether there is more.
    pub(crate) async fn sync(
        &self,
        me: UserId,
        after: &HashMap<ConversationId, i64>,
        versions: &HashMap<ConversationId, i64>,
        limit: Option<u32>,
    ) -> ChatResult<Synced> {
        let limit = limit
            .unwrap_or(self.cfg.max_page)
            .clamp(1, self.cfg.max_page);
        let mut ids: Vec<ConversationId> = after.keys().chain(versions.keys()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let from: Vec<SyncFrom> = ids
            .into_iter()
            .map(|c| SyncFrom {
                conversation_id: c,
                seq: after.get(&c).copied().unwrap_or(0).max(0),
                version: versions.get(&c).map(|v| (*v).max(0)),
            })
            .collect();
        let batch = self.store.sync(me, &from, limit).await?;
        let mut messages = batch.messages;
        self.present(me, &mut messages);
        let mut new_per: HashMap<ConversationId, u32> = HashMap::new();
        for m in &messages {
            *new_per.entry(m.conversation_id).or_default() += 1;
        }
        // Where each conversation's changes stop: its version, or, when this page of changes
        // is full, the last change on it (the rest come with the next call).
        let mut changed_per: HashMap<ConversationId, (u32, i64)> = HashMap::new();
        let mut updated = Vec::with_capacity(batch.updated.len());
        for (mut m, v) in batch.updated {
            let e = changed_per.entry(m.conversation_id).or_default();
            *e = (e.0 + 1, v);
            self.present(me, std::slice::from_mut(&mut m));
            updated.push(m);
        }
        let versions = batch
            .versions
            .into_iter()
            .map(|(c, v)| match changed_per.get(&c) {
                Some((n, last)) if *n >= limit => (c, *last),
                _ => (c, v),
            })
            .collect();
        let has_more =
            new_per.values().any(|n| *n >= limit) || changed_per.values().any(|(n, _)| *n >= limit);
        Ok(Synced {
            messages,
            updated,
            versions,
            has_more,
        })
    }

    // ---- presence -------------------------------------------------------------------------

    /// A socket of `me` went away; tells contacts if it was the last one.
    pub(crate) async fn disconnected(&self, me: UserId, sid: &str) -> ChatResult<()> {
        if let Some(at) = self.presence.disconnect(me, sid).await? {
            self.announce(me, false, Some(at)).await;
        }
        Ok(())
    }

    /// Tells `me`'s contacts that `me` came online or went offline.
    pub(crate) async fn announce(
        &self,
        me: UserId,
        online: bool,
        last_seen: Option<DateTime<Utc>>,
    ) {
        match self.store.contacts(me).await {
            Ok(contacts) => {
                let data = PresenceState {
                    user_id: me,
                    online,
                    last_seen,
                };
                self.emit(
                    &contacts,
                    None,
                    protocol::PRESENCE,
                    Payload::Presence(&data),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), "presence not announced")
            }
        }
    }

    /// Presence of `users`, limited to people who share a conversation with `me`.
    pub(crate) async fn presence_of(
        &self,
        me: UserId,
        users: &[UserId],
    ) -> ChatResult<Vec<PresenceState>> {
        let contacts: HashSet<UserId> = self.store.contacts(me).await?.into_iter().collect();
        let visible: Vec<UserId> = users
            .iter()
            .copied()
            .filter(|u| contacts.contains(u) || *u == me)
            .collect();
        Ok(self.presence.states(&visible).await?)
    }
}

/// Maps a store's `NotFound` to "`what` not found".
fn not_found(what: &'static str) -> impl Fn(chatsync_core::ports::StoreError) -> ChatError {
    move |e| match e {
        chatsync_core::ports::StoreError::NotFound => ChatError::NotFound(what),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::check_emoji;

    #[test]
    fn reactions_are_single_emoji() {
        for ok in ["👍", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🇫🇷", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "1️⃣"]
        {
            assert!(check_emoji(ok).is_ok(), "{ok} is an emoji");
        }
        for bad in [
            "",
            "a",
            "ok",
            "not an emoji",
            "<b>",
            "👍👍",
            "👍 ",
            "\u{200d}",
        ] {
            assert!(check_emoji(bad).is_err(), "{bad:?} is not one emoji");
        }
    }
}
