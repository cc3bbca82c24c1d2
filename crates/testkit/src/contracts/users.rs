//! The user service's store.

use chatsync_core::outbox::{OutboxMessage, OutboxStore};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::users::{NewAccount, OtpRecord, ProfilePatch, UserStore};
use chatsync_core::validate::Email;
use chrono::{Duration, Utc};
use std::sync::Arc;

fn new_account(email: &str, name: &str) -> NewAccount {
    NewAccount {
        email: Email::parse(email).unwrap(),
        password_hash: format!("hash-of-{name}"),
        display_name: name.to_owned(),
    }
}

fn msg(topic: &str, n: u32) -> OutboxMessage {
    OutboxMessage {
        topic: topic.to_owned(),
        payload: format!("{{\"n\":{n}}}"),
    }
}

pub async fn user_store_contract(store: Arc<dyn UserStore>, outbox: Arc<dyn OutboxStore>) {
    // Registration is an upsert until the address is verified.
    let a = store
        .upsert_unverified(&new_account("ann@example.com", "Ann"))
        .await
        .unwrap();
    assert!(a.verified_at.is_none());
    let again = store
        .upsert_unverified(&NewAccount {
            password_hash: "second".into(),
            ..new_account("ann@example.com", "Annie")
        })
        .await
        .unwrap();
    assert_eq!(again.id, a.id, "re-registering keeps the account");
    assert_eq!(again.display_name, "Annie");
    assert_eq!(again.password_hash, "second");
    let found = store
        .account_by_email(&Email::parse("ANN@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, a.id);
    assert_eq!(
        store
            .account_by_id(a.id)
            .await
            .unwrap()
            .unwrap()
            .email
            .as_str(),
        "ann@example.com"
    );
    assert!(
        store
            .account_by_id(chatsync_core::UserId::new())
            .await
            .unwrap()
            .is_none()
    );

    // OTPs: one per account, replaced, counted down, burnt.
    let otp = OtpRecord {
        user_id: a.id,
        code_hash: "h1".into(),
        expires_at: Utc::now() + Duration::minutes(10),
        failed_attempts: 0,
    };
    store.put_otp(&otp, &msg("mail.send", 1)).await.unwrap();
    store
        .put_otp(
            &OtpRecord {
                code_hash: "h2".into(),
                ..otp.clone()
            },
            &msg("mail.send", 2),
        )
        .await
        .unwrap();
    let stored = store.otp(a.id).await.unwrap().unwrap();
    assert_eq!(stored.code_hash, "h2");
    assert_eq!(stored.failed_attempts, 0);
    assert!(
        (stored.expires_at - otp.expires_at)
            .num_milliseconds()
            .abs()
            < 1000,
        "expiry round-trips"
    );
    assert_eq!(store.fail_otp(a.id, 3).await.unwrap(), 2);
    assert_eq!(store.otp(a.id).await.unwrap().unwrap().failed_attempts, 1);
    assert_eq!(store.fail_otp(a.id, 3).await.unwrap(), 1);
    assert_eq!(store.fail_otp(a.id, 3).await.unwrap(), 0);
    assert!(
        store.otp(a.id).await.unwrap().is_none(),
        "burnt after the last attempt"
    );
    assert!(
        matches!(
            store.verify(a.id, Utc::now(), &[]).await,
            Err(StoreError::NotFound)
        ),
        "no code, no verification"
    );

    store.put_otp(&otp, &msg("mail.send", 3)).await.unwrap();
    let verified = store
        .verify(a.id, Utc::now(), &[msg("user.upserted", 4)])
        .await
        .unwrap();
    assert!(verified.verified_at.is_some());
    assert!(
        store.otp(a.id).await.unwrap().is_none(),
        "a used code is gone"
    );
    assert!(
        matches!(
            store
                .upsert_unverified(&new_account("ann@example.com", "Mallory"))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a verified address is taken"
    );
    assert_eq!(
        store
            .account_by_id(a.id)
            .await
            .unwrap()
            .unwrap()
            .display_name,
        "Annie"
    );

    // Profile edits.
    let p = store
        .update_profile(
            a.id,
            &ProfilePatch {
                display_name: Some("Ann Lee".into()),
                avatar_url: Some(Some("https://example.com/a.png".into())),
            },
            &|acc| {
                vec![msg(
                    "user.upserted",
                    if acc.display_name == "Ann Lee" { 5 } else { 0 },
                )]
            },
        )
        .await
        .unwrap();
    assert_eq!(p.display_name, "Ann Lee");
    assert_eq!(p.avatar_url.as_deref(), Some("https://example.com/a.png"));
    let p = store
        .update_profile(
            a.id,
            &ProfilePatch {
                display_name: None,
                avatar_url: Some(None),
            },
            &|_| vec![],
        )
        .await
        .unwrap();
    assert_eq!(p.display_name, "Ann Lee", "absent fields stay");
    assert_eq!(p.avatar_url, None, "null removes the avatar");

    // Search: verified accounts only, by name, word of the name, or address prefix.
    for (email, name) in [
        ("bob@example.com", "Bob Stone"),
        ("bea@example.org", "Beatrice"),
        ("odd@example.com", "100%_sure"),
        ("zed@example.com", "Zed"),
    ] {
        let acc = store
            .upsert_unverified(&new_account(email, name))
            .await
            .unwrap();
        if name != "Zed" {
            store
                .put_otp(
                    &OtpRecord {
                        user_id: acc.id,
                        ..otp.clone()
                    },
                    &msg("m", 0),
                )
                .await
                .unwrap();
            store.verify(acc.id, Utc::now(), &[]).await.unwrap();
        }
    }
    let names = |v: Vec<chatsync_core::ports::users::Account>| -> Vec<String> {
        v.into_iter().map(|a| a.display_name).collect()
    };
    assert_eq!(
        names(store.search("b", 10, 0).await.unwrap()),
        ["Beatrice", "Bob Stone"]
    );
    assert_eq!(
        names(store.search("STO", 10, 0).await.unwrap()),
        ["Bob Stone"]
    );
    assert_eq!(
        names(store.search("lee", 10, 0).await.unwrap()),
        ["Ann Lee"]
    );
    assert_eq!(
        names(store.search("bea@example.o", 10, 0).await.unwrap()),
        ["Beatrice"]
    );
    assert!(
        store.search("zed", 10, 0).await.unwrap().is_empty(),
        "unverified are hidden"
    );
    assert_eq!(
        names(store.search("100%", 10, 0).await.unwrap()),
        ["100%_sure"]
    );
    assert!(
        store.search("1%", 10, 0).await.unwrap().is_empty(),
        "% is literal"
    );
    assert!(
        store.search("b_b", 10, 0).await.unwrap().is_empty(),
        "_ is literal"
    );
    assert_eq!(
        names(store.search("b", 1, 1).await.unwrap()),
        ["Bob Stone"],
        "paged"
    );

    // Outbox: every event written with a change, in order, claimed once, then removed.
    let pending = outbox.pending(100).await.unwrap();
    let payloads: Vec<&str> = pending.iter().map(|r| r.message.payload.as_str()).collect();
    assert_eq!(
        &payloads[..5],
        [
            "{\"n\":1}",
            "{\"n\":2}",
            "{\"n\":3}",
            "{\"n\":4}",
            "{\"n\":5}"
        ]
    );
    assert!(
        outbox.pending(100).await.unwrap().is_empty(),
        "claimed rows are not handed out twice"
    );
    let ids: Vec<i64> = pending.iter().map(|r| r.id).collect();
    outbox.remove(&ids).await.unwrap();
    assert!(outbox.pending(100).await.unwrap().is_empty());
}
