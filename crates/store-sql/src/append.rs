//! The decisions of [`ChatStore::append`](chatsync_core::ports::ChatStore::append), as pure
//! code both SQL stores call: plan → the dialect's SQL → finish.
//!
//! A store reads what the decisions need inside its write transaction (messages already
//! stored under the batch's idempotency keys, and the members of the batch's conversations),
//! hands them to [`plan`], reserves [`Plan::reservations`] seqs per conversation, inserts
//! [`Plan::assign`]'s messages, commits, and answers with [`Plan::finish`]. What happens to
//! each message is decided here and nowhere else:
//! - a (sender, `client_id`) seen earlier in the same batch shares that message's fate, as a
//!   duplicate: a client that retries before the first send was acked gets one message;
//! - one stored before is a [`Appended::Duplicate`] of the stored message;
//! - a sender who is not a member gets [`Appended::NotMember`];
//! - the rest are new, numbered per conversation in input order from the conversation's
//!   `last_seq + 1`, without gaps.

use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::chat::{AppendBatch, Appended, Message, NewMessage};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// The maps of an append, keyed by one batch's conversation ids and idempotency keys, with a
/// fast hash (foldhash, seeded per process) instead of the standard library's SipHash: in
/// the SQLite appender, SipHash and the maps' growth from empty were about 5 % of its
/// instructions (issue 10). A batch's keys are a few dozen, so hash flooding has nothing to
/// grow into.
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An empty [`Map`] with room for `n` entries.
pub fn map<K, V>(n: usize) -> Map<K, V> {
    HashMap::with_capacity_and_hasher(n, foldhash::fast::RandomState::default())
}

/// What becomes of one input message.
#[derive(Debug)]
enum Fate {
    /// Stored now: the next seq of its conversation.
    New,
    /// The same (sender, `client_id`) as the input at this earlier index.
    Repeat(usize),
    /// Stored by an earlier append.
    Duplicate(Box<Message>),
    /// The sender is not a member of the conversation.
    NotMember,
}

/// The decisions of one append, before seqs are known.
#[derive(Debug)]
pub struct Plan<'a> {
    batch: &'a [NewMessage],
    fates: Vec<Fate>,
    /// New messages per conversation. Ordered by id: the order a store locks the rows in, so
    /// concurrent batches cannot deadlock.
    reservations: BTreeMap<ConversationId, i64>,
    members: Map<ConversationId, Vec<UserId>>,
}

/// The (sender, `client_id`) keys of `batch`, in input order (repeats included): what a store
/// looks up to find earlier sends.
pub fn keys(batch: &[NewMessage]) -> impl Iterator<Item = (UserId, &str)> {
    batch.iter().map(|m| (m.sender_id, m.client_id.as_str()))
}

/// The distinct conversations of `batch`, sorted: whose members a store reads.
pub fn conversations(batch: &[NewMessage]) -> Vec<ConversationId> {
    let mut ids: Vec<ConversationId> = batch.iter().map(|m| m.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether a store reads the messages stored earlier under the batch's keys (what [`plan`]
/// takes as `existing`) before it writes.
///
/// A retried send is rare, so a store's first try of a batch need not: the keys' unique index
/// makes the insert of a repeat fail, and the store tries again, looking first. Looking every
/// time cost the SQLite appender about 3 µs per message at 2,000 msgs/s, and PostgreSQL a
/// statement per batch (issue 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// Always: a try after an insert failed on a key.
    First,
    /// Only when a sender is not a member: a member's repeat fails its insert, but a former
    /// member's repeat must be answered with the stored message, not as "not a member".
    IfNeeded,
}

impl Look {
    /// Whether to read earlier sends for `batch`, given its conversations' `members`.
    pub fn needed(self, batch: &[NewMessage], members: &Map<ConversationId, Vec<UserId>>) -> bool {
        self == Look::First || !batch.iter().all(|m| is_member(m, members))
    }
}

fn is_member(m: &NewMessage, members: &Map<ConversationId, Vec<UserId>>) -> bool {
    members
        .get(&m.conversation_id)
        .is_some_and(|ms| ms.contains(&m.sender_id))
}

/// Decides each message's fate. `existing` holds the messages already stored under any of
/// the batch's keys; `members` the current members of the batch's conversations.
pub fn plan<'a>(
    batch: &'a [NewMessage],
    existing: Vec<Message>,
    members: Map<ConversationId, Vec<UserId>>,
) -> Plan<'a> {
    // `collect` sizes the map from the iterator.
    let mut existing: Map<(UserId, String), Message> = existing
        .into_iter()
        .map(|m| ((m.sender_id, m.client_id.clone()), m))
        .collect();
    let mut first_of: Map<(UserId, &str), usize> = map(batch.len());
    let mut reservations: BTreeMap<ConversationId, i64> = BTreeMap::new();
    let fates = batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let key = (m.sender_id, m.client_id.as_str());
            if let Some(&first) = first_of.get(&key) {
                return Fate::Repeat(first);
            }
            first_of.insert(key, i);
            // The map's key is owned: look only when there is something to find.
            if !existing.is_empty()
                && let Some(found) = existing.remove(&(m.sender_id, m.client_id.clone()))
            {
                Fate::Duplicate(Box::new(found))
            } else if is_member(m, &members) {
                *reservations.entry(m.conversation_id).or_default() += 1;
                Fate::New
            } else {
                Fate::NotMember
            }
        })
        .collect();
    Plan {
        batch,
        fates,
        reservations,
        members,
    }
}

impl Plan<'_> {
    /// How many seqs each conversation needs, in lock order. Empty when nothing is new: the
    /// store then writes nothing.
    pub fn reservations(&self) -> &BTreeMap<ConversationId, i64> {
        &self.reservations
    }

    /// The new messages, in input order, given each reserved conversation's `last_seq` after
    /// the reservation (`last_seq` grew by the reserved count). Ids are minted here; every
    /// message of the batch carries `now`.
    pub fn assign(
        &self,
        last_seq: &Map<ConversationId, i64>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Message>, StoreError> {
        let mut next: Map<ConversationId, i64> = map(self.reservations.len());
        for (cid, n) in &self.reservations {
            let last = last_seq.get(cid).ok_or_else(|| {
                StoreError::broken(format!("conversation {cid} vanished during an append"))
            })?;
            next.insert(*cid, last - n + 1);
        }
        let mut out = Vec::with_capacity(self.reservations.values().sum::<i64>() as usize);
        for (m, fate) in self.batch.iter().zip(&self.fates) {
            if !matches!(fate, Fate::New) {
                continue;
            }
            let seq = next
                .get_mut(&m.conversation_id)
                .expect("every new message's conversation was reserved");
            out.push(Message {
                id: MessageId::new(),
                conversation_id: m.conversation_id,
                seq: *seq,
                sender_id: m.sender_id,
                client_id: m.client_id.clone(),
                body: m.body.clone(),
                attachments: m.attachments.clone(),
                reply_to: m.reply_to,
                mentions: m.mentions.clone(),
                preview: None,
                created_at: now,
                edited_at: None,
                deleted: false,
                reactions: Vec::new(),
            });
            *seq += 1;
        }
        Ok(out)
    }

    /// The new messages as [`Plan::assign`] makes them, numbered from 1 in each conversation
    /// (`seq` is the message's place among its conversation's new messages), for a store that
    /// reserves seqs and inserts in one statement: its SQL adds each conversation's `last_seq`
    /// before the reservation, and [`renumber`] does the same here once it is known.
    pub fn draft(&self, now: DateTime<Utc>) -> Result<Vec<Message>, StoreError> {
        let counts: Map<_, _> = self.reservations.iter().map(|(c, n)| (*c, *n)).collect();
        self.assign(&counts, now)
    }

    /// The append's answer once `stored` (what [`Plan::assign`] returned) is committed: one
    /// outcome per input, in input order, and the members of each conversation that received
    /// a new message (for fan-out).
    pub fn finish(self, stored: Vec<Message>) -> AppendBatch {
        let mut stored = stored.into_iter();
        let mut outcomes: Vec<Appended> = Vec::with_capacity(self.fates.len());
        for fate in self.fates {
            let outcome = match fate {
                Fate::New => match stored.next() {
                    Some(m) => Appended::New(m),
                    // `assign` made one message per `New`; a store that inserted fewer
                    // would have failed before committing.
                    None => Appended::NotMember,
                },
                Fate::Repeat(first) => match &outcomes[first] {
                    Appended::New(m) | Appended::Duplicate(m) => Appended::Duplicate(m.clone()),
                    Appended::NotMember => Appended::NotMember,
                },
                Fate::Duplicate(m) => Appended::Duplicate(*m),
                Fate::NotMember => Appended::NotMember,
            };
            outcomes.push(outcome);
        }
        let reservations = self.reservations;
        AppendBatch {
            outcomes,
            members: self
                .members
                .into_iter()
                .filter(|(c, _)| reservations.contains_key(c))
                .collect(),
        }
    }
}

/// Gives [`Plan::draft`]'s messages their seqs: `base` is each conversation's `last_seq`
/// before the reservation. Fails if a conversation has none (it vanished during the append).
pub fn renumber(draft: &mut [Message], base: &Map<ConversationId, i64>) -> Result<(), StoreError> {
    for m in draft {
        let b = base.get(&m.conversation_id).ok_or_else(|| {
            StoreError::broken(format!(
                "conversation {} vanished during an append",
                m.conversation_id
            ))
        })?;
        m.seq += b;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(cid: ConversationId, sender: UserId, client_id: &str) -> NewMessage {
        NewMessage {
            conversation_id: cid,
            sender_id: sender,
            client_id: client_id.into(),
            body: format!("body of {client_id}"),
            attachments: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    /// Runs the plan as a store would, with the conversations' `last_seq` before the append.
    fn run(
        batch: &[NewMessage],
        existing: Vec<Message>,
        members: Map<ConversationId, Vec<UserId>>,
        last_before: &Map<ConversationId, i64>,
    ) -> AppendBatch {
        let p = plan(batch, existing, members);
        let after: Map<ConversationId, i64> = p
            .reservations()
            .iter()
            .map(|(c, n)| (*c, last_before.get(c).copied().unwrap_or(0) + n))
            .collect();
        let stored = p.assign(&after, Utc::now()).unwrap();
        p.finish(stored)
    }

    fn seq_of(o: &Appended) -> Option<i64> {
        match o {
            Appended::New(m) | Appended::Duplicate(m) => Some(m.seq),
            Appended::NotMember => None,
        }
    }

    #[test]
    fn new_messages_are_numbered_per_conversation_in_input_order() {
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let u = UserId::new();
        let batch = [
            msg(a, u, "1"),
            msg(b, u, "2"),
            msg(a, u, "3"),
            msg(b, u, "4"),
        ];
        let members = Map::from_iter([(a, vec![u]), (b, vec![u])]);
        let out = run(&batch, vec![], members, &Map::from_iter([(a, 10), (b, 0)]));
        let seqs: Vec<_> = out.outcomes.iter().map(seq_of).collect();
        assert_eq!(seqs, [Some(11), Some(1), Some(12), Some(2)]);
        assert!(out.outcomes.iter().all(|o| matches!(o, Appended::New(_))));
        assert_eq!(out.members.len(), 2);
    }

    #[test]
    fn a_repeat_within_the_batch_is_a_duplicate_of_the_first() {
        let c = ConversationId::new();
        let u = UserId::new();
        let batch = [msg(c, u, "x"), msg(c, u, "x"), msg(c, u, "y")];
        let out = run(
            &batch,
            vec![],
            Map::from_iter([(c, vec![u])]),
            &Map::default(),
        );
        let Appended::New(first) = &out.outcomes[0] else {
            panic!("first is new: {:?}", out.outcomes[0]);
        };
        assert_eq!(out.outcomes[1], Appended::Duplicate(first.clone()));
        assert_eq!(
            seq_of(&out.outcomes[2]),
            Some(2),
            "no seq is spent on the repeat"
        );
    }

    #[test]
    fn an_earlier_send_is_answered_with_the_stored_message() {
        let c = ConversationId::new();
        let u = UserId::new();
        let first = [msg(c, u, "x")];
        let p = plan(&first, vec![], Map::from_iter([(c, vec![u])]));
        let stored = p.assign(&Map::from_iter([(c, 1)]), Utc::now()).unwrap();
        let earlier = stored[0].clone();

        let batch = [msg(c, u, "x"), msg(c, u, "x")];
        let out = run(
            &batch,
            vec![earlier.clone()],
            Map::from_iter([(c, vec![u])]),
            &Map::from_iter([(c, 1)]),
        );
        assert_eq!(
            out.outcomes,
            [
                Appended::Duplicate(earlier.clone()),
                Appended::Duplicate(earlier)
            ]
        );
        assert!(out.members.is_empty(), "nothing new: no fan-out");
    }

    #[test]
    fn non_members_and_unknown_conversations_are_refused_without_spending_seqs() {
        let c = ConversationId::new();
        let (member, stranger) = (UserId::new(), UserId::new());
        let unknown = ConversationId::new();
        let batch = [
            msg(c, stranger, "s"),
            msg(unknown, member, "u"),
            msg(c, member, "m"),
            msg(c, stranger, "s"),
        ];
        let out = run(
            &batch,
            vec![],
            Map::from_iter([(c, vec![member])]),
            &Map::from_iter([(c, 4)]),
        );
        assert_eq!(out.outcomes[0], Appended::NotMember);
        assert_eq!(out.outcomes[1], Appended::NotMember);
        assert_eq!(seq_of(&out.outcomes[2]), Some(5));
        assert_eq!(out.outcomes[3], Appended::NotMember);
        assert_eq!(out.members, vec![(c, vec![member])]);
    }

    #[test]
    fn reservations_come_in_lock_order_and_count_only_new_messages() {
        let mut ids = [
            ConversationId::new(),
            ConversationId::new(),
            ConversationId::new(),
        ];
        let u = UserId::new();
        let batch = [
            msg(ids[2], u, "a"),
            msg(ids[0], u, "b"),
            msg(ids[2], u, "c"),
            msg(ids[2], u, "a"),
            msg(ids[1], UserId::new(), "d"),
        ];
        let members = Map::from_iter([(ids[0], vec![u]), (ids[1], vec![u]), (ids[2], vec![u])]);
        let p = plan(&batch, vec![], members);
        ids.sort();
        let r: Vec<(ConversationId, i64)> =
            p.reservations().iter().map(|(c, n)| (*c, *n)).collect();
        let mut want = vec![(batch[1].conversation_id, 1), (batch[0].conversation_id, 2)];
        want.sort();
        assert_eq!(r, want);
        assert_eq!(conversations(&batch), ids.to_vec());
    }

    /// A draft renumbered with the seqs before the reservation is what `assign` makes with the
    /// seqs after it.
    #[test]
    fn a_renumbered_draft_is_the_assigned_batch() {
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let u = UserId::new();
        let batch = [
            msg(a, u, "1"),
            msg(b, u, "2"),
            msg(a, u, "3"),
            msg(a, u, "1"),
        ];
        let p = plan(&batch, vec![], Map::from_iter([(a, vec![u]), (b, vec![u])]));
        let mut draft = p.draft(Utc::now()).unwrap();
        let offsets: Vec<i64> = draft.iter().map(|m| m.seq).collect();
        assert_eq!(offsets, [1, 1, 2]);
        renumber(&mut draft, &Map::from_iter([(a, 7), (b, 0)])).unwrap();
        let seqs: Vec<i64> = draft.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [8, 1, 9]);
        assert!(renumber(&mut draft, &Map::from_iter([(a, 7)])).is_err());
    }

    #[test]
    fn a_conversation_missing_at_reservation_fails_the_append() {
        let c = ConversationId::new();
        let u = UserId::new();
        let batch = [msg(c, u, "x")];
        let p = plan(&batch, vec![], Map::from_iter([(c, vec![u])]));
        assert!(matches!(
            p.assign(&Map::default(), Utc::now()),
            Err(StoreError::Other { .. })
        ));
    }
}
