//! The SQLite appender's work per message, for callgrind (issue 10): appends `BATCHES`
//! batches of `SIZE` messages, each message in another of 100 direct conversations, as the
//! benchmark's 100 pairs do at 2,000 msgs/s (about six messages per commit), to a new
//! database file under the temporary directory.
//!
//! ```text
//! cargo build --release --locked -p chatsync-store-sqlite --example append_cost
//! valgrind --tool=callgrind --toggle-collect='*appender::append_batch*' \
//!     target/release/examples/append_cost 1000 6
//! ```
//!
//! With `--toggle-collect`, callgrind counts only the instructions the appender spends on the
//! batches (statements, commit, log writes, not the `fdatasync` itself, which is the
//! kernel's): divide its total by the messages appended. The count is the same from run to
//! run, whatever else the machine does, so two builds can be compared on a noisy machine.
//!
//! With a third argument, `EVERY` microseconds, it appends one batch every `EVERY` µs instead
//! of back to back, and prints how long each batch took from its due time (so a batch that
//! waited behind a slow one counts the wait, as a message in the server would): the stalls an
//! append sees at a steady rate, for example at 1,000 msgs/s, as the checkpoints come round.
//!
//! ```text
//! target/release/examples/append_cost 30000 2 2000
//! ```

use chatsync_core::ids::UserId;
use chatsync_core::ports::ChatStore;
use chatsync_core::ports::chat::{Appended, NewMessage, Profile};
use chatsync_store_sqlite::SqliteStore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().map_or(1000, |a| a.parse().expect("batches"));
    let size: usize = args.next().map_or(6, |a| a.parse().expect("batch size"));
    let every: Option<u64> = args
        .next()
        .map(|a| a.parse().expect("microseconds per batch"));
    let dir = std::env::temp_dir().join(format!("chatsync-append-cost-{}", std::process::id()));
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("chat.db").display()))
        .await
        .expect("open");
    store.migrate_chat().await.expect("migrate");

    let mut pairs = Vec::new();
    for i in 0..100 {
        let person = async |name: String| {
            let id = UserId::new();
            store
                .upsert_profile(&Profile {
                    id,
                    display_name: name,
                    avatar_url: None,
                    updated_at: chrono::Utc::now(),
                })
                .await
                .expect("profile");
            id
        };
        let (a, b) = (person(format!("a{i}")).await, person(format!("b{i}")).await);
        let (c, _) = store.direct_conversation(a, b).await.expect("conversation");
        pairs.push((c.id, a));
    }

    let mut n = 0;
    let mut took = Vec::with_capacity(batches);
    let mut tick = every.map(|us| {
        let mut t = tokio::time::interval(std::time::Duration::from_micros(us));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    for _ in 0..batches {
        let due = match &mut tick {
            Some(t) => t.tick().await,
            None => tokio::time::Instant::now(),
        };
        let batch: Vec<NewMessage> = (0..size)
            .map(|_| {
                let (conversation_id, sender_id) = pairs[n % pairs.len()];
                n += 1;
                NewMessage {
                    conversation_id,
                    sender_id,
                    client_id: format!("m{n}"),
                    body: "x".repeat(64),
                    attachments: Vec::new(),
                    reply_to: None,
                    mentions: Vec::new(),
                }
            })
            .collect();
        let done = store.append(&batch).await.expect("append");
        assert!(
            done.outcomes.iter().all(|o| matches!(o, Appended::New(_))),
            "every message is new"
        );
        took.push(due.elapsed());
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{n} messages in {batches} batches of {size}");
    if let Some(us) = every {
        took.sort_unstable();
        let at = |q: f64| {
            // The nearest rank.
            let i = ((q * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1;
            took[i].as_secs_f64() * 1e3
        };
        let slow = took.iter().filter(|d| d.as_millis() >= 10).count();
        println!(
            "one batch every {us} µs; from due time to done, ms: p50 {:.2}, p99 {:.2}, \
             p99.9 {:.2}, max {:.2}; {slow} batches took 10 ms or more",
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
    }
}
