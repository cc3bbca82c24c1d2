//! The chat service's store.

use chatsync_core::ids::{ConversationId, UserId};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::chat::{
    AppendBatch, Appended, ChatStore, ConversationKind, LinkPreview, Message, NewMessage, Page,
    Profile, Reacted, ReceiptKind, Role, SearchCursor, SearchHit, SearchQuery, SyncFrom,
    search_terms,
};
use chrono::{Duration, Utc};
use std::sync::Arc;

async fn person(store: &Arc<dyn ChatStore>, name: &str) -> UserId {
    let id = UserId::new();
    store
        .upsert_profile(&Profile {
            id,
            display_name: name.into(),
            avatar_url: None,
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    id
}

pub(crate) fn msg(c: ConversationId, from: UserId, client_id: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: c,
        sender_id: from,
        client_id: client_id.into(),
        body: body.into(),
        attachments: Vec::new(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

fn new(a: &Appended) -> &Message {
    match a {
        Appended::New(m) => m,
        other => panic!("expected a new message, got {other:?}"),
    }
}

fn done(r: Reacted) -> Message {
    match r {
        Reacted::Done(m) => m,
        Reacted::TooMany => panic!("reaction refused"),
    }
}

/// The new messages a sync from these seqs (no versions) answers.
async fn sync_new(
    store: &Arc<dyn ChatStore>,
    user: UserId,
    after: &[(ConversationId, i64)],
    limit: u32,
) -> Vec<Message> {
    let from: Vec<SyncFrom> = after
        .iter()
        .map(|&(conversation_id, seq)| SyncFrom {
            conversation_id,
            seq,
            version: None,
        })
        .collect();
    let b = store.sync(user, &from, limit).await.unwrap();
    assert!(b.updated.is_empty(), "no version given, no changes: {b:?}");
    b.messages
}

/// Reactions allowed per person per message in this suite.
const MAX: u32 = 3;

pub(crate) async fn send(
    store: &Arc<dyn ChatStore>,
    c: ConversationId,
    from: UserId,
    id: &str,
) -> Message {
    new(&store
        .append(&[msg(c, from, id, id)])
        .await
        .unwrap()
        .outcomes[0])
    .clone()
}

pub async fn chat_store_contract(store: Arc<dyn ChatStore>) {
    let ann = person(&store, "Ann").await;
    let bob = person(&store, "Bob").await;
    let cat = person(&store, "Cat").await;
    let eve = person(&store, "Eve").await;

    // Profiles: a newer copy replaces, an older one does not.
    let now = Utc::now();
    store
        .upsert_profile(&Profile {
            id: ann,
            display_name: "Ann Lee".into(),
            avatar_url: Some("/a.png".into()),
            updated_at: now + Duration::seconds(10),
        })
        .await
        .unwrap();
    store
        .upsert_profile(&Profile {
            id: ann,
            display_name: "Stale".into(),
            avatar_url: None,
            updated_at: now,
        })
        .await
        .unwrap();
    let p = store.profiles(&[ann, UserId::new()]).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].display_name.as_str(), p[0].avatar_url.as_deref()),
        ("Ann Lee", Some("/a.png"))
    );

    // Direct conversations: one per pair, whoever starts it.
    let (d, created) = store.direct_conversation(ann, bob).await.unwrap();
    assert!(created);
    assert_eq!(d.kind, ConversationKind::Direct);
    assert_eq!(d.members.len(), 2);
    assert!(
        d.members
            .iter()
            .any(|m| m.user_id == ann && m.display_name == "Ann Lee")
    );
    let (d2, created) = store.direct_conversation(bob, ann).await.unwrap();
    assert!(!created);
    assert_eq!(d2.id, d.id);
    assert!(
        matches!(
            store.conversation(d.id, eve).await,
            Err(StoreError::NotFound)
        ),
        "outsiders see nothing"
    );
    assert_eq!(store.conversation(d.id, bob).await.unwrap().id, d.id);

    // Groups.
    let g = store
        .create_group(ann, "Team", &[bob, cat, ann])
        .await
        .unwrap();
    assert_eq!(
        (g.kind, g.name.as_deref()),
        (ConversationKind::Group, Some("Team"))
    );
    assert_eq!(g.members.len(), 3, "the owner is not added twice");
    assert_eq!(
        g.members.iter().find(|m| m.user_id == ann).unwrap().role,
        Role::Owner
    );

    // Appending: gap-free seqs in input order, idempotent on (sender, client_id).
    let b = store
        .append(&[
            msg(d.id, ann, "a1", "hello"),
            msg(g.id, bob, "b1", "hi team"),
            msg(d.id, bob, "b2", "hi ann"),
            msg(d.id, ann, "a1", "hello again?"),
            msg(d.id, eve, "e1", "let me in"),
            msg(d.id, ann, "a2", "how are you"),
        ])
        .await
        .unwrap();
    let seqs: Vec<(i64, &str)> = b
        .outcomes
        .iter()
        .map(|o| match o {
            Appended::New(m) => (m.seq, "new"),
            Appended::Duplicate(m) => (m.seq, "dup"),
            Appended::NotMember => (0, "refused"),
        })
        .collect();
    assert_eq!(
        seqs,
        [
            (1, "new"),
            (1, "new"),
            (2, "new"),
            (1, "dup"),
            (0, "refused"),
            (3, "new")
        ]
    );
    assert_eq!(new(&b.outcomes[0]).body, "hello");
    let mut fanout: Vec<(ConversationId, Vec<UserId>)> = b.members.clone();
    fanout.sort_by_key(|(c, _)| *c);
    assert_eq!(fanout.len(), 2);
    assert!(fanout.iter().any(|(c, ms)| *c == g.id && ms.len() == 3));
    let again = store
        .append(&[msg(d.id, ann, "a2", "how are you")])
        .await
        .unwrap();
    match &again.outcomes[0] {
        Appended::Duplicate(m) => {
            assert_eq!((m.seq, m.body.as_str()), (3, "how are you"));
            assert_eq!(
                m,
                new(&b.outcomes[5]),
                "read back, a message is what the append returned, to the millisecond"
            );
        }
        other => panic!("expected duplicate, got {other:?}"),
    }
    assert!(
        b.outcomes.iter().all(|o| match o {
            Appended::New(m) | Appended::Duplicate(m) =>
                m.created_at.timestamp_subsec_nanos() % 1_000_000 == 0,
            Appended::NotMember => true,
        }),
        "times are whole milliseconds, what every store keeps"
    );
    assert!(again.members.is_empty(), "nothing new, nothing to fan out");
    assert!(matches!(
        store
            .append(&[msg(ConversationId::new(), ann, "x", "void")])
            .await
            .unwrap()
            .outcomes[0],
        Appended::NotMember
    ));

    // History pages, ascending.
    for i in 4..=10 {
        send(
            &store,
            d.id,
            if i % 2 == 0 { bob } else { ann },
            &format!("m{i}"),
        )
        .await;
    }
    let page = |before, after, limit| Page {
        before_seq: before,
        after_seq: after,
        limit,
    };
    let seqs = |v: Vec<Message>| -> Vec<i64> { v.iter().map(|m| m.seq).collect() };
    assert_eq!(
        seqs(
            store
                .messages(d.id, ann, page(None, None, 3))
                .await
                .unwrap()
        ),
        [8, 9, 10]
    );
    assert_eq!(
        seqs(
            store
                .messages(d.id, ann, page(Some(8), None, 3))
                .await
                .unwrap()
        ),
        [5, 6, 7]
    );
    assert_eq!(
        seqs(
            store
                .messages(d.id, ann, page(Some(3), None, 5))
                .await
                .unwrap()
        ),
        [1, 2]
    );
    assert_eq!(
        seqs(
            store
                .messages(d.id, ann, page(None, Some(7), 2))
                .await
                .unwrap()
        ),
        [8, 9]
    );
    assert_eq!(
        seqs(
            store
                .messages(d.id, ann, page(Some(6), Some(2), 10))
                .await
                .unwrap()
        ),
        [3, 4, 5]
    );
    assert!(matches!(
        store.messages(d.id, eve, page(None, None, 5)).await,
        Err(StoreError::NotFound)
    ));
    // One message, one representation: what the append returned (the send ack and
    // `message:new`), history and sync are identical.
    let appended = new(&b.outcomes[0]).clone();
    assert_eq!(
        store
            .messages(d.id, ann, page(None, Some(0), 1))
            .await
            .unwrap(),
        std::slice::from_ref(&appended)
    );
    assert_eq!(
        sync_new(&store, bob, &[(d.id, 0), (g.id, 99)], 1).await,
        [appended]
    );

    // Offline sync: what came after each position, per conversation, bounded.
    let synced = sync_new(&store, bob, &[(d.id, 8)], 100).await;
    let got: Vec<(ConversationId, i64)> =
        synced.iter().map(|m| (m.conversation_id, m.seq)).collect();
    let mut want = vec![(d.id, 9), (d.id, 10), (g.id, 1)];
    want.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted, want,
        "unlisted conversations are read from the start"
    );
    let bounded = sync_new(&store, bob, &[(d.id, 0), (g.id, 1)], 4).await;
    assert_eq!(seqs(bounded), [1, 2, 3, 4]);
    assert!(
        sync_new(&store, eve, &[(d.id, 0)], 10).await.is_empty(),
        "only own conversations"
    );

    // Receipts: forward only, clamped, read implies delivered; unread counts follow.
    assert_eq!(
        store
            .receipt(d.id, bob, ReceiptKind::Delivered, 5)
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .receipt(d.id, bob, ReceiptKind::Delivered, 4)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .receipt(d.id, bob, ReceiptKind::Read, 999)
            .await
            .unwrap(),
        Some(10)
    );
    assert_eq!(
        store
            .receipt(d.id, bob, ReceiptKind::Delivered, 10)
            .await
            .unwrap(),
        None,
        "read implied delivered"
    );
    assert!(matches!(
        store.receipt(d.id, eve, ReceiptKind::Read, 1).await,
        Err(StoreError::NotFound)
    ));
    let bob_view = store.conversation(d.id, bob).await.unwrap();
    let me = bob_view.members.iter().find(|m| m.user_id == bob).unwrap();
    assert_eq!((me.delivered_seq, me.read_seq), (10, 10));

    let list = store.conversations(ann, None, 50).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].conversation.id, d.id, "most recent activity first");
    assert_eq!(list[0].last_message.as_ref().unwrap().seq, 10);
    // Ann read nothing; Bob sent seqs 2, 4, 6, 8, 10 in the direct chat: 5 unread, her own excluded.
    assert_eq!(list[0].unread_count, 5);
    assert_eq!(list[1].unread_count, 1);
    assert_eq!(list[0].conversation.members.len(), 2);
    let older = store
        .conversations(ann, Some(list[0].conversation.last_activity_at), 50)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].conversation.id, g.id);
    assert_eq!(
        store.conversations(bob, None, 50).await.unwrap()[0].unread_count,
        0
    );

    // Edits, deletes and reactions: own messages only, members only.
    let first = store
        .messages(d.id, ann, page(None, Some(0), 1))
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        store.edit_message(first.id, bob, "hijack", true).await,
        Err(StoreError::NotFound)
    ));
    // One message by id: for members only.
    assert_eq!(store.message(first.id, bob).await.unwrap().id, first.id);
    assert!(matches!(
        store.message(first.id, eve).await,
        Err(StoreError::NotFound)
    ));
    let edited = store
        .edit_message(first.id, ann, "hello!", true)
        .await
        .unwrap();
    assert_eq!((edited.body.as_str(), edited.seq), ("hello!", 1));
    assert!(
        edited
            .edited_at
            .is_some_and(|t| t.timestamp_subsec_nanos() % 1_000_000 == 0)
    );
    assert_eq!(
        store
            .messages(d.id, ann, page(None, Some(0), 1))
            .await
            .unwrap(),
        std::slice::from_ref(&edited),
        "an edit reads back as it was returned"
    );
    assert_eq!(
        sync_new(&store, ann, &[(d.id, 0), (g.id, 99)], 1).await,
        [edited]
    );
    let r = done(store.react(first.id, bob, "👍", true, MAX).await.unwrap());
    let r = done(store.react(r.id, ann, "👍", true, MAX).await.unwrap());
    let r = done(store.react(r.id, bob, "🎉", true, MAX).await.unwrap());
    let r = done(store.react(r.id, bob, "🎉", true, MAX).await.unwrap());
    assert_eq!(r.reactions.len(), 2);
    assert_eq!(r.reactions[0].emoji, "👍");
    let mut who = r.reactions[0].user_ids.clone();
    who.sort();
    let mut want = vec![ann, bob];
    want.sort();
    assert_eq!(who, want);
    let r = done(store.react(r.id, bob, "🎉", false, MAX).await.unwrap());
    assert_eq!(r.reactions.len(), 1);
    assert!(matches!(
        store.react(first.id, eve, "👀", true, MAX).await,
        Err(StoreError::NotFound)
    ));
    // At most MAX different emoji per person on one message; the same one again, a removal
    // and other people's reactions are not limited by it.
    for e in ["😀", "😃"] {
        done(store.react(first.id, bob, e, true, MAX).await.unwrap());
    }
    assert_eq!(
        store.react(first.id, bob, "😄", true, MAX).await.unwrap(),
        Reacted::TooMany
    );
    let r = done(store.react(first.id, bob, "😀", true, MAX).await.unwrap());
    assert_eq!(r.reactions.len(), 3, "nothing added by the refusal");
    for e in ["😄", "😁"] {
        done(store.react(first.id, ann, e, true, MAX).await.unwrap());
    }
    assert_eq!(
        store.react(first.id, ann, "😆", true, MAX).await.unwrap(),
        Reacted::TooMany,
        "each person has their own count (Ann: 👍 😄 😁)"
    );
    done(store.react(first.id, bob, "😀", false, MAX).await.unwrap());
    let r = done(store.react(first.id, bob, "😄", true, MAX).await.unwrap());
    let bobs = r
        .reactions
        .iter()
        .filter(|x| x.user_ids.contains(&bob))
        .count();
    assert_eq!(bobs, 3);
    let listed = store
        .messages(d.id, bob, page(None, Some(0), 1))
        .await
        .unwrap();
    assert_eq!(
        listed[0].reactions, r.reactions,
        "history carries reactions"
    );
    let deleted = store.delete_message(first.id, ann).await.unwrap();
    assert!(deleted.deleted && deleted.body.is_empty() && deleted.reactions.is_empty());
    assert_eq!(deleted.seq, 1, "the seq stays");
    assert!(matches!(
        store.edit_message(first.id, ann, "back", true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_message(first.id, bob).await,
        Err(StoreError::NotFound)
    ));

    // Membership changes.
    assert_eq!(store.add_members(g.id, &[eve, bob]).await.unwrap(), [eve]);
    let mut contacts = store.contacts(eve).await.unwrap();
    contacts.sort();
    let mut want = vec![ann, bob, cat];
    want.sort();
    assert_eq!(contacts, want);
    store.remove_member(g.id, ann).await.unwrap();
    let g2 = store.conversation(g.id, bob).await.unwrap();
    assert_eq!(g2.members.len(), 3);
    assert_eq!(
        g2.members.iter().filter(|m| m.role == Role::Owner).count(),
        1,
        "ownership passes on"
    );
    assert!(matches!(
        store.remove_member(g.id, ann).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        matches!(
            store.conversation(g.id, ann).await,
            Err(StoreError::NotFound)
        ),
        "a leaver loses access"
    );
    assert!(matches!(
        store
            .append(&[msg(g.id, ann, "late", "x")])
            .await
            .unwrap()
            .outcomes[0],
        Appended::NotMember
    ));
    let mut ids = store.member_ids(g.id).await.unwrap();
    ids.sort();
    let mut want = vec![bob, cat, eve];
    want.sort();
    assert_eq!(ids, want);

    // Concurrent writers to one conversation: seqs stay unique and gap-free.
    let (c, _) = store.direct_conversation(cat, eve).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..20 {
                let who = if w % 2 == 0 { cat } else { eve };
                let batch = [
                    msg(c.id, who, &format!("w{w}-{i}"), "x"),
                    msg(c.id, who, &format!("w{w}-{i}b"), "y"),
                ];
                for o in store.append(&batch).await.unwrap().outcomes {
                    seqs.push(new(&o).seq);
                }
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=240).collect::<Vec<i64>>());

    // A retry among new sends: the retry gets the stored message, and the new ones are
    // numbered on from the last stored one, without gaps.
    let mixed = store
        .append(&[
            msg(c.id, cat, "after-1", "first new"),
            msg(c.id, cat, "w0-0", "retried"),
            msg(c.id, eve, "after-2", "second new"),
        ])
        .await
        .unwrap();
    match &mixed.outcomes[..] {
        [Appended::New(a), Appended::Duplicate(r), Appended::New(b)] => {
            assert_eq!((a.seq, b.seq), (241, 242));
            assert_eq!((r.client_id.as_str(), r.body.as_str()), ("w0-0", "x"));
        }
        other => panic!("expected new, duplicate, new: {other:?}"),
    }
    assert_eq!(send(&store, c.id, eve, "after-3").await.seq, 243);

    // Someone who has left still gets, on a retry, the message they sent while a member;
    // what they had not sent is refused.
    let sent = send(&store, g.id, eve, "eve-g").await;
    store.remove_member(g.id, eve).await.unwrap();
    let late = store
        .append(&[
            msg(g.id, eve, "eve-g", "eve-g"),
            msg(g.id, eve, "eve-g2", "x"),
        ])
        .await
        .unwrap();
    match &late.outcomes[..] {
        [Appended::Duplicate(m), Appended::NotMember] => assert_eq!(m, &sent),
        other => panic!("expected duplicate, refused: {other:?}"),
    }
    assert!(late.members.is_empty(), "nothing new, nothing to fan out");
}

/// Searches as `user` and returns the hits' bodies, newest first.
/// Joins and leaves made through one store take effect at once in appends through another on
/// the same database, as on two nodes (a store may keep the members it read between appends,
/// issue 10): a newcomer may send at once and receives the next message, a leaver may not send
/// and receives nothing more.
pub async fn chat_members_across_stores_contract(a: Arc<dyn ChatStore>, b: Arc<dyn ChatStore>) {
    let (ann, bob, cat) = (
        person(&a, "Ann").await,
        person(&a, "Bob").await,
        person(&a, "Cat").await,
    );
    let g = a.create_group(ann, "Team", &[bob]).await.unwrap();
    let receivers = |r: &AppendBatch| {
        let mut users: Vec<UserId> = r
            .members
            .iter()
            .flat_map(|(_, users)| users.iter().copied())
            .collect();
        users.sort();
        users
    };
    let sorted = |mut users: Vec<UserId>| {
        users.sort();
        users
    };

    let first = a.append(&[msg(g.id, ann, "a1", "hello")]).await.unwrap();
    assert_eq!(new(&first.outcomes[0]).seq, 1);
    assert_eq!(receivers(&first), sorted(vec![ann, bob]));

    b.add_members(g.id, &[cat]).await.unwrap();
    let to_cat = a.append(&[msg(g.id, ann, "a2", "welcome")]).await.unwrap();
    assert_eq!(new(&to_cat.outcomes[0]).seq, 2);
    assert_eq!(
        receivers(&to_cat),
        sorted(vec![ann, bob, cat]),
        "a member who joined through the other store receives the next message"
    );
    let from_cat = a.append(&[msg(g.id, cat, "c1", "thanks")]).await.unwrap();
    assert_eq!(new(&from_cat.outcomes[0]).seq, 3, "and may send at once");

    b.remove_member(g.id, bob).await.unwrap();
    let from_bob = a.append(&[msg(g.id, bob, "b1", "bye")]).await.unwrap();
    assert!(
        matches!(from_bob.outcomes[0], Appended::NotMember),
        "a member who left through the other store may not send: {:?}",
        from_bob.outcomes[0]
    );
    let after = a.append(&[msg(g.id, ann, "a3", "bye bob")]).await.unwrap();
    assert_eq!(new(&after.outcomes[0]).seq, 4, "seqs stay gap-free");
    assert_eq!(
        receivers(&after),
        sorted(vec![ann, cat]),
        "nor receives the next message"
    );
}

async fn find(
    store: &Arc<dyn ChatStore>,
    user: UserId,
    q: &str,
    conversation_id: Option<ConversationId>,
) -> Vec<String> {
    let hits = store
        .search(
            user,
            &SearchQuery {
                terms: search_terms(q),
                conversation_id,
                before: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    hits.into_iter().map(|h| h.message.body).collect()
}

/// Sends one message, a little after the previous one so that creation times differ.
async fn say(store: &Arc<dyn ChatStore>, c: ConversationId, from: UserId, body: &str) -> Message {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    new(&store
        .append(&[msg(c, from, &uuid_like(), body)])
        .await
        .unwrap()
        .outcomes[0])
    .clone()
}

fn uuid_like() -> String {
    chatsync_core::ids::MessageId::new().to_string()
}

/// Message search: members only, every word, the last as a prefix, stemming, newest first,
/// edits and deletes seen at once, paging by cursor.
pub async fn chat_search_contract(store: Arc<dyn ChatStore>) {
    let ann = person(&store, "Ann").await;
    let bob = person(&store, "Bob").await;
    let cat = person(&store, "Cat").await;
    let eve = person(&store, "Eve").await;
    let g = store
        .create_group(ann, "Ops", &[bob, cat])
        .await
        .unwrap()
        .id;
    let (d, _) = store.direct_conversation(ann, bob).await.unwrap();
    let (elsewhere, _) = store.direct_conversation(eve, cat).await.unwrap();

    say(&store, g, ann, "Deploying the release on Friday").await;
    let lunch = say(&store, g, ann, "lunch at noon?").await;
    let went = say(&store, g, bob, "the deploy went fine").await;
    say(&store, d.id, bob, "deploy notes for you").await;
    say(&store, elsewhere.id, eve, "secret deploy plans").await;
    let long = format!(
        "{} the zebra crossing {}",
        "word ".repeat(60).trim(),
        "more ".repeat(60).trim()
    );
    say(&store, g, cat, &long).await;

    // Every conversation of mine, newest first; stemming finds "Deploying"; never others'.
    assert_eq!(
        find(&store, ann, "deploy", None).await,
        [
            "deploy notes for you",
            "the deploy went fine",
            "Deploying the release on Friday"
        ]
    );
    assert_eq!(
        find(&store, eve, "deploy", None).await,
        ["secret deploy plans"]
    );
    // Every word must match; the last one also as a prefix, case aside.
    assert_eq!(
        find(&store, ann, "DEPLOY fri", None).await,
        ["Deploying the release on Friday"]
    );
    assert_eq!(
        find(&store, ann, "the rel", None).await,
        ["Deploying the release on Friday"]
    );
    assert!(find(&store, ann, "deploy zzzz", None).await.is_empty());
    // Query syntax is only words.
    assert_eq!(
        find(&store, ann, "\"deploy\" -(notes*", None).await,
        ["deploy notes for you"]
    );
    assert!(find(&store, ann, "*\"()", None).await.is_empty());
    // One conversation; someone else's conversation is not found at all.
    assert_eq!(
        find(&store, ann, "deploy", Some(d.id)).await,
        ["deploy notes for you"]
    );
    let outsider = store
        .search(
            ann,
            &SearchQuery {
                terms: search_terms("deploy"),
                conversation_id: Some(elsewhere.id),
                before: None,
                limit: 10,
            },
        )
        .await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound)),
        "{outsider:?}"
    );

    // The snippet marks the matched words and is an excerpt of a long body.
    let hit: SearchHit = store
        .search(
            bob,
            &SearchQuery {
                terms: search_terms("zebra"),
                conversation_id: None,
                before: None,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(hit.message.body, long);
    assert!(
        hit.snippet.contains("<mark>zebra</mark>"),
        "{}",
        hit.snippet
    );
    assert!(hit.snippet.len() < long.len() / 2, "{}", hit.snippet);

    // Edits are found by their new words only; deletes are not found.
    store
        .edit_message(lunch.id, ann, "dinner at eight?", true)
        .await
        .unwrap();
    assert!(find(&store, bob, "lunch", None).await.is_empty());
    assert_eq!(
        find(&store, bob, "dinner", None).await,
        ["dinner at eight?"]
    );
    store.delete_message(went.id, bob).await.unwrap();
    assert_eq!(
        find(&store, ann, "deploy", None).await,
        ["deploy notes for you", "Deploying the release on Friday"]
    );

    // A member who leaves stops finding the group's messages.
    assert_eq!(find(&store, cat, "friday", None).await.len(), 1);
    store.remove_member(g, cat).await.unwrap();
    assert!(find(&store, cat, "friday", None).await.is_empty());
    assert!(find(&store, cat, "zebra", None).await.is_empty());

    // Paging: a cursor after each hit walks the same hits, one at a time, newest first.
    for i in 0..5 {
        say(&store, d.id, ann, &format!("page test {i}")).await;
    }
    let mut walked = Vec::new();
    let mut before: Option<SearchCursor> = None;
    loop {
        let page = store
            .search(
                ann,
                &SearchQuery {
                    terms: search_terms("page test"),
                    conversation_id: None,
                    before,
                    limit: 2,
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(SearchCursor {
            created_at: last.message.created_at,
            message_id: last.message.id,
        });
        walked.extend(page.into_iter().map(|h| h.message.body));
    }
    assert_eq!(
        walked,
        (0..5)
            .rev()
            .map(|i| format!("page test {i}"))
            .collect::<Vec<_>>()
    );
}

/// Sync's change cursor: each change (edit, delete, reaction) counts in its conversation's
/// version; a client at version v gets exactly the messages it has that changed after v, once,
/// in the order of their last change, and the version to continue from.
pub async fn chat_sync_changes_contract(store: Arc<dyn ChatStore>) {
    let ann = person(&store, "Ann").await;
    let bob = person(&store, "Bob").await;
    let eve = person(&store, "Eve").await;
    let (d, _) = store.direct_conversation(ann, bob).await.unwrap();
    assert_eq!(d.version, 0);
    let m: Vec<Message> = {
        let mut v = Vec::new();
        for i in 1..=5 {
            v.push(send(&store, d.id, ann, &format!("m{i}")).await);
        }
        v
    };
    let at = |seq, version| SyncFrom {
        conversation_id: d.id,
        seq,
        version: Some(version),
    };
    // Nothing changed yet.
    let b = store.sync(bob, &[at(5, 0)], 10).await.unwrap();
    assert!(b.messages.is_empty() && b.updated.is_empty(), "{b:?}");
    assert_eq!(b.versions, [(d.id, 0)]);

    // Bob has seqs 1..=3 at version 0; then m2 is edited, m1 reacted to, m2 reacted to,
    // m3 deleted, m5 (which Bob does not have yet) edited.
    store
        .edit_message(m[1].id, ann, "m2 edited", true)
        .await
        .unwrap();
    done(store.react(m[0].id, bob, "👍", true, MAX).await.unwrap());
    done(store.react(m[1].id, bob, "🎉", true, MAX).await.unwrap());
    store.delete_message(m[2].id, ann).await.unwrap();
    store
        .edit_message(m[4].id, ann, "m5 edited", true)
        .await
        .unwrap();
    // A refused change counts nothing.
    assert!(
        store
            .edit_message(m[0].id, bob, "not mine", true)
            .await
            .is_err()
    );

    let b = store.sync(bob, &[at(3, 0)], 10).await.unwrap();
    let new: Vec<(i64, &str)> = b
        .messages
        .iter()
        .map(|m| (m.seq, m.body.as_str()))
        .collect();
    assert_eq!(
        new,
        [(4, "m4"), (5, "m5 edited")],
        "new ones as they are now"
    );
    let changed: Vec<(i64, i64)> = b.updated.iter().map(|(m, v)| (m.seq, *v)).collect();
    assert_eq!(
        changed,
        [(1, 2), (2, 3), (3, 4)],
        "each changed message once, by its last change; seqs past the client's are new, not changed"
    );
    assert_eq!(b.updated[1].0.body, "m2 edited");
    assert_eq!(b.updated[1].0.reactions[0].emoji, "🎉");
    assert!(b.updated[2].0.deleted);
    assert_eq!(b.versions, [(d.id, 5)]);

    // From the answer's position, nothing again; a later change, exactly it.
    let b = store.sync(bob, &[at(5, 5)], 10).await.unwrap();
    assert!(b.messages.is_empty() && b.updated.is_empty(), "{b:?}");
    done(store.react(m[3].id, ann, "👍", true, MAX).await.unwrap());
    let b = store.sync(bob, &[at(5, 5)], 10).await.unwrap();
    let changed: Vec<(i64, i64)> = b.updated.iter().map(|(m, v)| (m.seq, *v)).collect();
    assert_eq!(changed, [(4, 6)]);
    assert_eq!(b.versions, [(d.id, 6)]);
    // Bounded: the first `limit` changes, oldest change first.
    let b = store.sync(bob, &[at(5, 0)], 2).await.unwrap();
    let changed: Vec<(i64, i64)> = b.updated.iter().map(|(m, v)| (m.seq, *v)).collect();
    assert_eq!(changed, [(1, 2), (2, 3)]);
    // Not a member: nothing, and no version.
    let b = store
        .sync(
            eve,
            &[SyncFrom {
                conversation_id: d.id,
                seq: 0,
                version: Some(0),
            }],
            10,
        )
        .await
        .unwrap();
    assert_eq!(b, Default::default());
    // The conversation carries its version.
    assert_eq!(store.conversation(d.id, ann).await.unwrap().version, 6);
}

/// Link previews: set after the message is stored, kept by an edit that keeps the link,
/// dropped by one that changes it (the chat service then asks for the new link's), and never
/// set again once the sender removed it.
pub async fn chat_preview_contract(store: Arc<dyn ChatStore>) {
    let ann = person(&store, "Ann").await;
    let bob = person(&store, "Bob").await;
    let (d, _) = store.direct_conversation(ann, bob).await.unwrap();
    let m = say(&store, d.id, ann, "see https://example.com/a").await;
    assert_eq!(m.preview, None);
    let page = |title: &str| LinkPreview {
        url: "https://example.com/a".into(),
        title: Some(title.into()),
        description: None,
        site_name: None,
        image: None,
    };
    let set = store.set_preview(m.id, &page("A")).await.unwrap().unwrap();
    assert_eq!(set.preview, Some(page("A")));

    let kept = store
        .edit_message(m.id, ann, "see https://example.com/a (typo fixed)", true)
        .await
        .unwrap();
    assert_eq!(kept.preview, Some(page("A")), "same link, same preview");
    let dropped = store
        .edit_message(m.id, ann, "see https://example.com/b instead", false)
        .await
        .unwrap();
    assert_eq!(dropped.preview, None, "another link: the old preview goes");
    assert_eq!(
        store.message(m.id, bob).await.unwrap().preview,
        None,
        "and reads back gone"
    );
    let again = store.set_preview(m.id, &page("B")).await.unwrap().unwrap();
    assert_eq!(again.preview, Some(page("B")));

    // Removed by the sender: gone for good, whatever an edit or a late fetch does.
    let removed = store.remove_preview(m.id, ann).await.unwrap();
    assert_eq!(removed.preview, None);
    store
        .edit_message(m.id, ann, "see https://example.com/c", false)
        .await
        .unwrap();
    assert_eq!(store.set_preview(m.id, &page("C")).await.unwrap(), None);
}
