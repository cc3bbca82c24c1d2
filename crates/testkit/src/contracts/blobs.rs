//! Media storage: what the media service does with an `ObjectStore`, on local disk and on an
//! S3-compatible server alike.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::sync::Arc;

pub async fn blob_store_contract(store: Arc<dyn ObjectStore>, prefix: &str) {
    let small = Path::from(format!("{prefix}media/small"));
    store
        .put(&small, PutPayload::from_static(b"0123456789"))
        .await
        .unwrap();
    assert_eq!(store.head(&small).await.unwrap().size, 10);
    let got = store.get(&small).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"0123456789");
    let part = store
        .get_opts(
            &small,
            GetOptions {
                range: Some(GetRange::Bounded(2..5)),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(part.range, 2..5);
    assert_eq!(&part.bytes().await.unwrap()[..], b"234");

    // A streamed upload in several parts (the S3 minimum part is 5 MiB).
    let big = Path::from(format!("{prefix}media/big"));
    let mut w = WriteMultipart::new_with_chunk_size(
        store.put_multipart(&big).await.unwrap(),
        5 * 1024 * 1024,
    );
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..12 {
        w.wait_for_capacity(2).await.unwrap();
        w.put(Bytes::from(chunk.clone()));
    }
    w.finish().await.unwrap();
    assert_eq!(store.head(&big).await.unwrap().size, 12 * 1024 * 1024);
    let tail = store
        .get_opts(
            &big,
            GetOptions {
                range: Some(GetRange::Bounded(11 * 1024 * 1024..11 * 1024 * 1024 + 4)),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&tail[..], &chunk[..4]);

    // An aborted upload leaves nothing behind.
    let aborted = Path::from(format!("{prefix}media/aborted"));
    let mut w = WriteMultipart::new(store.put_multipart(&aborted).await.unwrap());
    w.put(Bytes::from_static(b"partial"));
    w.abort().await.unwrap();
    assert!(matches!(
        store.head(&aborted).await,
        Err(object_store::Error::NotFound { .. })
    ));

    store.delete(&small).await.unwrap();
    assert!(matches!(
        store.get(&small).await,
        Err(object_store::Error::NotFound { .. })
    ));
    store.delete(&big).await.unwrap();
}
