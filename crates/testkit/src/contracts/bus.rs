//! The event bus. `bus` must dead-letter after 2 attempts.

use bytes::Bytes;
use chatsync_core::ports::EventBus;
use chatsync_core::ports::bus::{Delivery, Subscription, topology};
use std::sync::Arc;
use std::time::Duration;

async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(15), sub.next())
        .await
        .expect("a delivery within 15 s")
        .expect("subscription open")
}

async fn nothing(sub: &mut Box<dyn Subscription>, wait: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(wait, sub.next()).await {
        panic!("unexpected delivery {:?}", d.payload);
    }
}

pub async fn bus_contract(bus: Arc<dyn EventBus>) {
    bus.ping().await.unwrap();
    // Published before anyone consumes: waits in the durable queue.
    bus.publish("mail.send", Bytes::from_static(b"first"))
        .await
        .unwrap();
    let mut broadcast = bus.subscribe("session.#").await.unwrap();
    let mut other_broadcast = bus.subscribe("session.#").await.unwrap();
    assert_eq!(bus.queue_depth(topology::MAIL).await.unwrap(), 1, "waiting");
    assert_eq!(bus.queue_depth(topology::CHAT_USERS).await.unwrap(), 0);
    assert!(bus.queue_depth("nope").await.is_err());
    let mut mail = bus.consume(topology::MAIL).await.unwrap();
    let d = next(&mut mail).await;
    assert_eq!(
        (d.topic.as_str(), &d.payload[..], d.attempt),
        ("mail.send", &b"first"[..], 1)
    );
    d.ack().await.unwrap();
    crate::eventually(Duration::from_secs(10), || async {
        (bus.queue_depth(topology::MAIL).await.unwrap() == 0).then_some(())
    })
    .await;

    // Only matching queues receive; broadcasts reach every subscriber.
    tokio::time::sleep(Duration::from_millis(300)).await; // broadcast queues bind asynchronously
    bus.publish("session.revoked", Bytes::from_static(b"s1"))
        .await
        .unwrap();
    for sub in [&mut broadcast, &mut other_broadcast] {
        let d = next(sub).await;
        assert_eq!(
            (d.topic.as_str(), &d.payload[..]),
            ("session.revoked", &b"s1"[..])
        );
        d.ack().await.unwrap();
    }
    nothing(&mut mail, Duration::from_millis(300)).await;

    // A failed delivery comes back with the next attempt number, then goes to the DLQ.
    bus.publish("mail.send", Bytes::from_static(b"flaky"))
        .await
        .unwrap();
    let d = next(&mut mail).await;
    assert_eq!(d.attempt, 1);
    d.retry("boom").await.unwrap();
    let d = next(&mut mail).await;
    assert_eq!(
        (&d.payload[..], d.attempt, d.topic.as_str()),
        (&b"flaky"[..], 2, "mail.send")
    );
    d.retry("boom again").await.unwrap();
    let dead = crate::eventually(Duration::from_secs(10), || async {
        let v = bus.dead_letters(topology::MAIL, 10).await.unwrap();
        (!v.is_empty()).then_some(v)
    })
    .await;
    assert_eq!(dead, [Bytes::from_static(b"flaky")]);
    nothing(&mut mail, Duration::from_millis(1500)).await;

    // Unacknowledged deliveries of a consumer that goes away are redelivered.
    bus.publish("mail.send", Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    let d = next(&mut mail).await;
    assert_eq!(&d.payload[..], b"orphan");
    drop(d);
    drop(mail);
    let mut mail = bus.consume(topology::MAIL).await.unwrap();
    let d = next(&mut mail).await;
    assert_eq!(&d.payload[..], b"orphan");
    d.ack().await.unwrap();

    // Competing consumers share a queue: each event is handled once.
    let mut second = bus.consume(topology::MAIL).await.unwrap();
    for i in 0..10u8 {
        bus.publish("mail.send", Bytes::from(vec![i]))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let d = tokio::select! {
            d = next(&mut mail) => d,
            d = next(&mut second) => d,
        };
        seen.push(d.payload[0]);
        d.ack().await.unwrap();
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    nothing(&mut mail, Duration::from_millis(300)).await;

    // Unknown queues are refused.
    assert!(bus.consume("nope").await.is_err());
}
