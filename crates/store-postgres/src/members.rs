//! The members of the conversations appended to, kept between batches (issue 10: reading them
//! was a round trip and a statement per batch).
//!
//! Each entry holds its conversation's `member_version` as it was when the members were read
//! (in the same statement, so the two agree). A trigger moves that count with every join and
//! leave (migration `20261207000002_member_version.sql`), and the append statement compares
//! it with the row it locks before it inserts anything: an entry that no longer holds is
//! caught there, the batch is inserted nowhere, and the entry is read again (`append_once`).
//! So an entry is never trusted, only a guess that saves the read when it is right; and one
//! that does not name a sender of the batch is not used at all, since a message refused as
//! "not a member" is refused without that statement (the sender may have joined since).

use chatsync_core::ids::{ConversationId, UserId};
use chatsync_core::ports::chat::NewMessage;
use chatsync_store_sql::append::{self, Map};

/// One conversation's members and the `member_version` they were read at.
struct Entry {
    version: i64,
    users: Vec<UserId>,
}

/// Members per conversation, bounded by the user ids held.
#[derive(Default)]
pub(crate) struct Members {
    of: Map<ConversationId, Entry>,
    /// User ids in `of`, over all its conversations.
    ids: usize,
}

/// What [`Members::known`] found for a batch's conversations.
pub(crate) struct Known {
    /// The members of each conversation found, as the plan takes them.
    pub members: Map<ConversationId, Vec<UserId>>,
    /// The `member_version` each of `members` was read at.
    pub versions: Map<ConversationId, i64>,
    /// The conversations not found, or whose members kept do not include a sender of the
    /// batch: to read.
    pub unknown: Vec<ConversationId>,
}

impl Members {
    /// User ids kept at most (16 bytes each; groups have no size limit, so the bound is on
    /// ids, not conversations); beyond it the map starts over, as the SQLite appender's does.
    const MAX_IDS: usize = 100_000;

    /// What is kept of `batch`'s conversations, `ids`.
    pub(crate) fn known(&self, batch: &[NewMessage], ids: &[ConversationId]) -> Known {
        let mut k = Known {
            members: append::map(ids.len()),
            versions: append::map(ids.len()),
            unknown: Vec::new(),
        };
        let names_senders = |cid: &ConversationId, e: &Entry| {
            batch
                .iter()
                .filter(|m| m.conversation_id == *cid)
                .all(|m| e.users.contains(&m.sender_id))
        };
        for cid in ids {
            match self.of.get(cid).filter(|e| names_senders(cid, e)) {
                Some(e) => {
                    k.members.insert(*cid, e.users.clone());
                    k.versions.insert(*cid, e.version);
                }
                None => k.unknown.push(*cid),
            }
        }
        k
    }

    /// Keeps `users`, read with the conversation's `member_version` at `version`. A
    /// conversation without members (an unknown id) is not kept: nobody can send to it.
    pub(crate) fn keep(&mut self, cid: ConversationId, version: i64, users: &[UserId]) {
        if users.is_empty() || users.len() > Self::MAX_IDS {
            return;
        }
        self.forget(cid);
        if self.ids + users.len() > Self::MAX_IDS {
            self.of.clear();
            self.ids = 0;
        }
        self.ids += users.len();
        self.of.insert(
            cid,
            Entry {
                version,
                users: users.to_vec(),
            },
        );
    }

    /// Drops what is kept of `cid` (its members moved since).
    pub(crate) fn forget(&mut self, cid: ConversationId) {
        if let Some(e) = self.of.remove(&cid) {
            self.ids -= e.users.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(cid: ConversationId, sender: UserId) -> NewMessage {
        NewMessage {
            conversation_id: cid,
            sender_id: sender,
            client_id: "c".into(),
            body: "hi".into(),
            attachments: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    #[test]
    fn kept_members_are_found_with_their_version_until_forgotten() {
        let (a, b, empty) = (
            ConversationId::new(),
            ConversationId::new(),
            ConversationId::new(),
        );
        let (ann, bob) = (UserId::new(), UserId::new());
        let mut m = Members::default();
        m.keep(a, 2, &[ann, bob]);
        m.keep(empty, 0, &[]);
        let batch = [from(a, ann), from(b, ann), from(empty, ann)];
        let k = m.known(&batch, &[a, b, empty]);
        assert_eq!(k.members[&a], vec![ann, bob]);
        assert_eq!(k.versions[&a], 2);
        assert_eq!(
            k.unknown,
            vec![b, empty],
            "nothing kept of b, nor of a conversation without members"
        );

        m.keep(a, 3, &[ann]);
        assert_eq!(m.ids, 1, "kept again, counted once");
        assert_eq!(m.known(&[from(a, ann)], &[a]).versions[&a], 3);
        let cat = UserId::new();
        assert_eq!(
            m.known(&[from(a, ann), from(a, cat)], &[a]).unknown,
            vec![a],
            "a sender the entry does not name may have joined since: read again"
        );
        m.forget(a);
        assert_eq!(m.known(&[from(a, ann)], &[a]).unknown, vec![a]);
        assert_eq!(m.ids, 0);
    }

    #[test]
    fn past_its_bound_the_map_starts_over() {
        let mut m = Members::default();
        let big: Vec<UserId> = (0..Members::MAX_IDS - 1).map(|_| UserId::new()).collect();
        let (a, b) = (ConversationId::new(), ConversationId::new());
        m.keep(a, 1, &big);
        m.keep(b, 1, &[UserId::new(), UserId::new()]);
        let k = m.known(&[from(a, big[0]), from(b, UserId::new())], &[a, b]);
        assert_eq!(
            k.unknown,
            vec![a, b],
            "a was dropped to make room for b (whose sender is new)"
        );
        assert!(m.of.contains_key(&b) && !m.of.contains_key(&a));
        assert_eq!(m.ids, 2);
    }
}
