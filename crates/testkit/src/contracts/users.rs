//! The user service's store.

use chatsync_core::RegistrationId;
use chatsync_core::ports::outbox::{OutboxMessage, OutboxStore};
use chatsync_core::ports::users::{NewCode, NewRegistration, ProfilePatch, UserStore};
use chatsync_core::ports::{Conflict, StoreError};
use chatsync_core::validate::Email;
use chrono::{Duration, Utc};
use std::sync::Arc;

fn registration(email: &str, name: &str, code: &str) -> NewRegistration {
    let now = Utc::now();
    NewRegistration {
        id: RegistrationId::new(),
        email: Email::parse(email).unwrap(),
        password_hash: format!("hash-of-{name}"),
        display_name: name.to_owned(),
        code_hash: code.to_owned(),
        code_expires_at: now + Duration::minutes(10),
        expires_at: now + Duration::days(1),
    }
}

fn msg(topic: &str, n: u32) -> OutboxMessage {
    OutboxMessage {
        topic: topic.to_owned(),
        payload: format!("{{\"n\":{n}}}"),
    }
}

pub async fn user_store_contract(store: Arc<dyn UserStore>, outbox: Arc<dyn OutboxStore>) {
    let ann_email = Email::parse("ann@example.com").unwrap();
    let now = Utc::now;
    assert!(
        store
            .registrations(&ann_email, now())
            .await
            .unwrap()
            .is_empty(),
        "an unknown address has no registrations"
    );

    // Each registration is kept apart with its own credentials and code; the account itself
    // holds none until one is activated.
    let first = registration("ann@example.com", "Ann", "c1");
    let a = store
        .register(&first, 3, &msg("mail.send", 1))
        .await
        .unwrap();
    let second = registration("ANN@example.com", "Mallory", "c2");
    assert_eq!(
        store
            .register(&second, 3, &msg("mail.send", 2))
            .await
            .unwrap(),
        a,
        "one address, one account"
    );
    let acc = store.account_by_email(&ann_email).await.unwrap().unwrap();
    assert_eq!(acc.id, a);
    assert!(acc.verified_at.is_none());
    assert_eq!(
        (acc.password_hash.as_str(), acc.display_name.as_str()),
        ("", ""),
        "a registration never writes credentials onto the account"
    );
    assert_eq!(
        store
            .account_by_id(a)
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
    let regs = store.registrations(&ann_email, now()).await.unwrap();
    let summary: Vec<(RegistrationId, &str, &str, &str, u32)> = regs
        .iter()
        .map(|r| {
            (
                r.id,
                r.password_hash.as_str(),
                r.display_name.as_str(),
                r.code_hash.as_str(),
                r.failed_attempts,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (first.id, "hash-of-Ann", "Ann", "c1", 0),
            (second.id, "hash-of-Mallory", "Mallory", "c2", 0)
        ],
        "oldest first, each with what was submitted with it"
    );
    assert!(regs.iter().all(|r| r.account_id == a));
    assert!(
        (regs[0].code_expires_at - first.code_expires_at)
            .num_milliseconds()
            .abs()
            < 1000
            && (regs[0].expires_at - first.expires_at)
                .num_milliseconds()
                .abs()
                < 1000,
        "times round-trip"
    );

    // Wrong codes count against every code of the address; a code at the limit is burnt and
    // stays so.
    store.fail_codes(a, 2).await.unwrap();
    store.fail_codes(a, 2).await.unwrap();
    store.fail_codes(a, 2).await.unwrap();
    let tries: Vec<u32> = store
        .registrations(&ann_email, now())
        .await
        .unwrap()
        .iter()
        .map(|r| r.failed_attempts)
        .collect();
    assert_eq!(tries, [2, 2]);

    // A new code replaces the old one and starts from zero tries; its mail is written only
    // for a registration that still exists.
    let later = now() + Duration::minutes(10);
    store
        .replace_codes(
            &[
                NewCode {
                    registration: first.id,
                    code_hash: "c1b".into(),
                    code_expires_at: later,
                    mail: msg("mail.send", 3),
                },
                NewCode {
                    registration: RegistrationId::new(),
                    code_hash: "nobody".into(),
                    code_expires_at: later,
                    mail: msg("mail.send", 99),
                },
            ],
            now(),
        )
        .await
        .unwrap();
    let regs = store.registrations(&ann_email, now()).await.unwrap();
    assert_eq!(
        (regs[0].code_hash.as_str(), regs[0].failed_attempts),
        ("c1b", 0)
    );
    assert_eq!(
        (regs[1].code_hash.as_str(), regs[1].failed_attempts),
        ("c2", 2),
        "others keep theirs"
    );

    // At most `keep` live registrations per address: a newer one pushes out the oldest.
    let third = registration("ann@example.com", "Third", "c3");
    store
        .register(&third, 2, &msg("mail.send", 4))
        .await
        .unwrap();
    let ids: Vec<RegistrationId> = store
        .registrations(&ann_email, now())
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [second.id, third.id], "the oldest went");

    // An expired registration is not listed, and cannot be activated.
    let stale = NewRegistration {
        expires_at: now() - Duration::seconds(1),
        ..registration("old@example.com", "Old", "c4")
    };
    store
        .register(&stale, 3, &msg("mail.send", 5))
        .await
        .unwrap();
    let old_email = Email::parse("old@example.com").unwrap();
    assert!(
        store
            .registrations(&old_email, now())
            .await
            .unwrap()
            .is_empty()
    );

    // Activation copies exactly the chosen registration onto the account, whatever was
    // registered before or after it, and ends every registration of the address.
    let verified = store
        .activate(third.id, now(), &|acc| {
            vec![msg(
                "user.upserted",
                if acc.display_name == "Third" { 6 } else { 0 },
            )]
        })
        .await
        .unwrap();
    assert_eq!(verified.id, a);
    assert!(verified.verified_at.is_some());
    assert_eq!(
        (
            verified.password_hash.as_str(),
            verified.display_name.as_str()
        ),
        ("hash-of-Third", "Third")
    );
    assert!(
        store
            .registrations(&ann_email, now())
            .await
            .unwrap()
            .is_empty(),
        "a verified address has no registrations"
    );
    assert!(
        matches!(
            store.activate(second.id, now(), &|_| vec![]).await,
            Err(StoreError::NotFound)
        ),
        "another registration cannot take over a verified account"
    );
    assert!(
        matches!(
            store.activate(third.id, now(), &|_| vec![]).await,
            Err(StoreError::NotFound)
        ),
        "a code is used once"
    );
    assert!(
        matches!(
            store
                .register(
                    &registration("ann@example.com", "Eve", "c5"),
                    3,
                    &msg("m", 0)
                )
                .await,
            Err(StoreError::Conflict(Conflict::EmailTaken))
        ),
        "a verified address is taken"
    );
    assert_eq!(
        store.account_by_id(a).await.unwrap().unwrap().display_name,
        "Third"
    );

    // Profile edits.
    let p = store
        .update_profile(
            a,
            &ProfilePatch {
                display_name: Some("Ann Lee".into()),
                avatar_url: Some(Some("https://example.com/a.png".into())),
            },
            &|acc| {
                vec![msg(
                    "user.upserted",
                    if acc.display_name == "Ann Lee" { 7 } else { 0 },
                )]
            },
        )
        .await
        .unwrap();
    assert_eq!(p.display_name, "Ann Lee");
    assert_eq!(p.avatar_url.as_deref(), Some("https://example.com/a.png"));
    let p = store
        .update_profile(
            a,
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

    // Search: verified accounts only, by name, word of the name, or whole address.
    for (email, name) in [
        ("bob@example.com", "Bob Stone"),
        ("bea@example.org", "Beatrice"),
        ("odd@example.com", "100%_sure"),
        ("zed@example.com", "Zed"),
    ] {
        let reg = registration(email, name, "x");
        store.register(&reg, 3, &msg("m", 0)).await.unwrap();
        if name != "Zed" {
            store.activate(reg.id, now(), &|_| vec![]).await.unwrap();
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
        names(store.search(" BEA@example.org ", 10, 0).await.unwrap()),
        ["Beatrice"],
        "a whole address matches"
    );
    for part in ["bea@example.o", "bea@", "odd@example.co", "ann@example"] {
        assert!(
            store.search(part, 10, 0).await.unwrap().is_empty(),
            "{part:?}: addresses never match by prefix"
        );
    }
    assert!(
        store.search("zed", 10, 0).await.unwrap().is_empty()
            && store
                .search("zed@example.com", 10, 0)
                .await
                .unwrap()
                .is_empty(),
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
        &payloads[..7],
        [
            "{\"n\":1}",
            "{\"n\":2}",
            "{\"n\":3}",
            "{\"n\":4}",
            "{\"n\":5}",
            "{\"n\":6}",
            "{\"n\":7}"
        ],
        "in order, and no mail for a code that replaced nothing"
    );
    assert!(
        outbox.pending(100).await.unwrap().is_empty(),
        "claimed rows are not handed out twice"
    );
    let ids: Vec<i64> = pending.iter().map(|r| r.id).collect();
    outbox.remove(&ids).await.unwrap();
    assert!(outbox.pending(100).await.unwrap().is_empty());
}
