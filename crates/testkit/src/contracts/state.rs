//! Sessions, throttles and presence.

use chatsync_core::UserId;
use chatsync_core::ids::SessionId;
use chatsync_core::ports::presence::{Connected, Presence};
use chatsync_core::ports::sessions::{Rotation, Session, SessionStore};
use chatsync_core::ports::throttle::{Decision, Throttle};
use chrono::{Duration, Utc};
use std::sync::Arc;

fn session(user: UserId, hash: &str, ttl: Duration) -> Session {
    let now = Utc::now();
    Session {
        id: SessionId::new(),
        user_id: user,
        refresh_hash: hash.to_owned(),
        created_at: now,
        last_used_at: now,
        expires_at: now + ttl,
        user_agent: Some("test-agent".into()),
        ip: Some("127.0.0.1".into()),
    }
}

pub async fn session_store_contract(store: Arc<dyn SessionStore>) {
    let user = UserId::new();
    let s1 = session(user, "h1", Duration::days(1));
    store.create(&s1).await.unwrap();
    let got = store.get(s1.id).await.unwrap().unwrap();
    assert_eq!(got.user_id, user);
    assert_eq!(got.refresh_hash, "h1");
    assert_eq!(got.user_agent.as_deref(), Some("test-agent"));
    assert!(store.get(SessionId::new()).await.unwrap().is_none());

    // Rotation swaps the hash. A secret never issued for the session changes nothing; only
    // one really issued and rotated away counts as a replay, and revokes the session.
    let later = Utc::now() + Duration::days(2);
    assert_eq!(
        store
            .rotate(s1.id, "forged", "h2", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Unrecognized
    );
    assert_eq!(
        store.get(s1.id).await.unwrap().unwrap().refresh_hash,
        "h1",
        "a forged secret leaves the session alone"
    );
    match store
        .rotate(s1.id, "h1", "h2", Utc::now(), later)
        .await
        .unwrap()
    {
        Rotation::Rotated(s) => {
            assert_eq!(s.refresh_hash, "h2");
            assert!((s.expires_at - later).num_milliseconds().abs() < 1000);
        }
        other => panic!("expected rotation, got {other:?}"),
    }
    assert_eq!(store.get(s1.id).await.unwrap().unwrap().refresh_hash, "h2");
    assert_eq!(
        store
            .rotate(s1.id, "h9", "h3", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Unrecognized
    );
    assert!(matches!(
        store
            .rotate(s1.id, "h1", "h3", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Reused(_)
    ));
    assert!(store.get(s1.id).await.unwrap().is_none(), "reuse revokes");
    assert_eq!(
        store
            .rotate(s1.id, "h2", "h3", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Missing
    );

    // The retired secrets kept are bounded: past them, an old secret is only unrecognised.
    let s4 = session(user, "r0", Duration::days(1));
    store.create(&s4).await.unwrap();
    let kept = chatsync_core::ports::sessions::RETIRED_SECRETS_KEPT;
    for i in 0..=kept {
        let rotated = store
            .rotate(
                s4.id,
                &format!("r{i}"),
                &format!("r{}", i + 1),
                Utc::now(),
                later,
            )
            .await
            .unwrap();
        assert!(matches!(rotated, Rotation::Rotated(_)), "{i}: {rotated:?}");
    }
    assert_eq!(
        store
            .rotate(s4.id, "r0", "x", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Unrecognized,
        "older than the kept ones"
    );
    assert!(store.get(s4.id).await.unwrap().is_some());
    assert!(matches!(
        store
            .rotate(s4.id, "r1", "x", Utc::now(), later)
            .await
            .unwrap(),
        Rotation::Reused(_)
    ));
    assert!(store.get(s4.id).await.unwrap().is_none());

    // Listing and revoking.
    let s2 = session(user, "a", Duration::days(1));
    store.create(&s2).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let s3 = session(user, "b", Duration::days(1));
    store.create(&s3).await.unwrap();
    store
        .create(&session(UserId::new(), "c", Duration::days(1)))
        .await
        .unwrap();
    let listed: Vec<SessionId> = store
        .list(user)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [s3.id, s2.id], "own sessions, newest first");
    assert_eq!(
        store.revoke(s2.id).await.unwrap().map(|s| s.id),
        Some(s2.id)
    );
    assert!(store.revoke(s2.id).await.unwrap().is_none());
    assert!(store.get(s2.id).await.unwrap().is_none());
    assert_eq!(store.list(user).await.unwrap().len(), 1);

    // An expired session does not exist.
    let gone = session(user, "x", Duration::seconds(-1));
    store.create(&gone).await.unwrap();
    assert!(store.get(gone.id).await.unwrap().is_none());
    assert_eq!(store.list(user).await.unwrap().len(), 1);
    store.ping().await.unwrap();
}

pub async fn throttle_contract(t: Arc<dyn Throttle>) {
    let window = std::time::Duration::from_secs(60);
    for _ in 0..3 {
        assert_eq!(t.hit("k1", 3, window).await.unwrap(), Decision::Allowed);
    }
    match t.hit("k1", 3, window).await.unwrap() {
        Decision::Limited { retry_after } => {
            assert!(retry_after <= window && retry_after > std::time::Duration::from_secs(50));
        }
        Decision::Allowed => panic!("fourth hit must be limited"),
    }
    assert_eq!(
        t.hit("k2", 3, window).await.unwrap(),
        Decision::Allowed,
        "keys are independent"
    );
    t.clear("k1").await.unwrap();
    assert_eq!(
        t.hit("k1", 3, window).await.unwrap(),
        Decision::Allowed,
        "cleared"
    );

    // A window ends.
    let short = std::time::Duration::from_millis(300);
    assert_eq!(t.hit("k3", 1, short).await.unwrap(), Decision::Allowed);
    assert!(matches!(
        t.hit("k3", 1, short).await.unwrap(),
        Decision::Limited { .. }
    ));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        t.hit("k3", 1, short).await.unwrap(),
        Decision::Allowed,
        "new window"
    );

    // Shares of a budget: as many as are left, never more; nothing once it is spent.
    let g = t.take("b1", 4, 10, window).await.unwrap();
    assert_eq!(g.granted, 4);
    assert!(g.resets_in <= window && g.resets_in > std::time::Duration::from_secs(50));
    assert_eq!(t.take("b1", 4, 10, window).await.unwrap().granted, 4);
    assert_eq!(
        t.take("b1", 4, 10, window).await.unwrap().granted,
        2,
        "what is left"
    );
    let spent = t.take("b1", 1, 10, window).await.unwrap();
    assert_eq!(spent.granted, 0);
    assert!(spent.resets_in <= window && spent.resets_in > std::time::Duration::from_secs(50));
    assert_eq!(
        t.take("b2", 3, 10, window).await.unwrap().granted,
        3,
        "keys are independent"
    );
    assert_eq!(
        t.take("b3", 1, 0, window).await.unwrap().granted,
        0,
        "a zero budget"
    );
    assert_eq!(t.take("b4", 1, 1, short).await.unwrap().granted, 1);
    assert_eq!(t.take("b4", 1, 1, short).await.unwrap().granted, 0);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        t.take("b4", 1, 1, short).await.unwrap().granted,
        1,
        "a new window, a whole budget"
    );

    // Claims.
    assert_eq!(t.claim("c1", window).await.unwrap(), Decision::Allowed);
    assert!(
        matches!(t.claim("c1", window).await.unwrap(), Decision::Limited { retry_after } if retry_after <= window)
    );
    t.clear("c1").await.unwrap();
    assert_eq!(t.claim("c1", window).await.unwrap(), Decision::Allowed);
}

pub async fn presence_contract(p: Arc<dyn Presence>) {
    let (ann, bob) = (UserId::new(), UserId::new());
    let state = |v: Vec<chatsync_core::ports::presence::PresenceState>| -> Vec<bool> {
        v.iter().map(|s| s.online).collect()
    };
    assert_eq!(state(p.states(&[ann, bob]).await.unwrap()), [false, false]);
    assert!(
        p.states(&[ann]).await.unwrap()[0].last_seen.is_none(),
        "never seen"
    );
    assert_eq!(
        p.connect(ann, "s1", 2).await.unwrap(),
        Connected::CameOnline,
        "first socket brings the user online"
    );
    assert_eq!(
        p.connect(ann, "s2", 2).await.unwrap(),
        Connected::AlreadyOnline,
        "second socket does not"
    );
    assert_eq!(
        p.connect(ann, "s3", 2).await.unwrap(),
        Connected::Full,
        "a third is one too many"
    );
    assert_eq!(
        p.connect(bob, "b1", 2).await.unwrap(),
        Connected::CameOnline,
        "the cap is per user"
    );
    assert!(p.disconnect(bob, "b1").await.unwrap().is_some());
    p.renew(&[(ann, "s1".into()), (ann, "s2".into())])
        .await
        .unwrap();
    assert_eq!(state(p.states(&[ann, bob]).await.unwrap()), [true, false]);
    assert!(
        p.disconnect(ann, "s1").await.unwrap().is_none(),
        "still one socket"
    );
    assert!(
        p.disconnect(ann, "nope").await.unwrap().is_none(),
        "unknown socket"
    );
    assert_eq!(
        p.connect(ann, "s4", 2).await.unwrap(),
        Connected::AlreadyOnline,
        "room again once one closed (the refused one was never counted)"
    );
    assert!(p.disconnect(ann, "s4").await.unwrap().is_none());
    let before = Utc::now() - Duration::seconds(1);
    let seen = p.disconnect(ann, "s2").await.unwrap().expect("last socket");
    assert!(seen >= before);
    let s = &p.states(&[ann]).await.unwrap()[0];
    assert!(!s.online);
    assert!(
        s.last_seen
            .is_some_and(|t| (t - seen).num_milliseconds().abs() < 1000)
    );
    assert!(p.states(&[]).await.unwrap().is_empty());
}

/// Nodes agree on a value per topic; a different value is refused while a node renews its own,
/// and accepted once it has lapsed. (Margins of seconds: the machine may be slow.)
pub async fn agreement_contract(a: Arc<dyn chatsync_core::ports::Agreement>) {
    use std::time::Duration;
    let ttl = Duration::from_secs(4);
    assert_eq!(a.agree("media", "dir:one", ttl).await.unwrap(), None);
    assert_eq!(a.agree("media", "dir:one", ttl).await.unwrap(), None);
    assert_eq!(
        a.agree("media", "dir:two", ttl).await.unwrap().as_deref(),
        Some("dir:one")
    );
    assert_eq!(a.agree("other", "dir:two", ttl).await.unwrap(), None);
    // Renewing keeps it past its first lifetime; letting it lapse frees the topic.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(a.agree("media", "dir:one", ttl).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        a.agree("media", "dir:two", ttl).await.unwrap().as_deref(),
        Some("dir:one"),
        "renewed 2.5 s ago, so still held"
    );
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(a.agree("media", "dir:two", ttl).await.unwrap(), None);
}
