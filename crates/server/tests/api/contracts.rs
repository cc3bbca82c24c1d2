//! Every adapter against its port's contract suite: SQLite and PostgreSQL, in-process and
//! RabbitMQ, in-memory and Redis.

use chatsync_core::memory::{MemoryBus, MemoryPresence, MemorySessions, MemoryThrottle};
use chatsync_testkit::contracts::{bus, chat, media, state, users};
use chatsync_testkit::{Db, adapters, init};
use rstest::rstest;
use std::sync::Arc;

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn user_store_keeps_its_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    users::user_store_contract(store.clone().users(), store.outbox()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_store_keeps_its_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    chat::chat_store_contract(store.chat()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn joins_and_leaves_through_another_store_count_at_the_next_append(#[case] db: Db) {
    init();
    let (a, b, _guard) = adapters::two_stores(db).await;
    chat::chat_members_across_stores_contract(a.chat(), b.chat()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn sync_changes_keep_their_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    chat::chat_sync_changes_contract(store.chat()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn link_previews_keep_their_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    chat::chat_preview_contract(store.chat()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn message_search_keeps_its_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    chat::chat_search_contract(store.chat()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn media_records_read_back_as_written(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    media::records_read_back_as_written(store.clone().chat(), store.media()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn who_may_read_a_file_follows_its_conversation(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    media::who_may_read_follows_the_conversation(store.clone().chat(), store.media()).await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn only_old_unattached_private_uploads_are_orphans(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    media::only_old_unattached_private_uploads_are_orphans(store.clone().chat(), store.media())
        .await;
}

#[rstest]
#[case::sqlite(Db::Sqlite)]
#[case::postgres(Db::Postgres)]
#[tokio::test]
async fn an_attachment_whose_file_is_gone_is_not_stored(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    media::an_attachment_whose_file_is_gone_is_not_stored(store.clone().chat(), store.media())
        .await;
}

#[tokio::test]
async fn memory_bus_keeps_the_bus_contract() {
    init();
    bus::bus_contract(Arc::new(MemoryBus::new(2))).await;
}

#[tokio::test]
async fn rabbitmq_bus_keeps_the_bus_contract() {
    init();
    let (b, _guard) = adapters::rabbit(2).await;
    bus::bus_contract(Arc::new(b)).await;
}

#[tokio::test]
async fn memory_sessions_keep_the_session_contract() {
    state::session_store_contract(Arc::new(MemorySessions::new())).await;
}

#[tokio::test]
async fn redis_sessions_keep_the_session_contract() {
    init();
    let (r, _guard) = adapters::redis();
    state::session_store_contract(Arc::new(r)).await;
}

#[tokio::test]
async fn memory_throttle_keeps_the_throttle_contract() {
    state::throttle_contract(Arc::new(MemoryThrottle::new())).await;
}

#[tokio::test]
async fn redis_throttle_keeps_the_throttle_contract() {
    let (r, _guard) = adapters::redis();
    state::throttle_contract(Arc::new(r)).await;
}

#[tokio::test]
async fn memory_presence_keeps_the_presence_contract() {
    state::presence_contract(Arc::new(MemoryPresence::new())).await;
}

#[tokio::test]
async fn redis_presence_keeps_the_presence_contract() {
    let (r, _guard) = adapters::redis();
    state::presence_contract(Arc::new(r)).await;
}

#[tokio::test]
async fn redis_agreement_keeps_the_agreement_contract() {
    let (r, _guard) = adapters::redis();
    state::agreement_contract(Arc::new(r)).await;
}

#[tokio::test]
async fn local_disk_media_storage_keeps_the_storage_contract() {
    let dir = chatsync_testkit::TempDir::new("chatsync-blobs");
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    chatsync_testkit::contracts::blobs::blob_store_contract(Arc::new(store), "").await;
}

#[tokio::test]
async fn s3_media_storage_keeps_the_storage_contract() {
    init();
    let s3 = chatsync_testkit::S3Server::start().await;
    let mut cfg = chatsync_core::config::MediaConfig::default();
    s3.configure(&mut cfg);
    let store = chatsync_media_s3::s3_store(&cfg).unwrap();
    chatsync_testkit::contracts::blobs::blob_store_contract(store, &cfg.s3_prefix).await;
}

/// The PostgreSQL adapter names the rule a write broke from the SQLSTATE and the constraint
/// (the append retries only the races it names), and keeps the driver's error as the cause of
/// anything else, so the log line reaches it.
#[tokio::test]
async fn postgres_errors_name_the_broken_rule_and_keep_their_cause() {
    use chatsync_core::ports::{Conflict, StoreError};
    use chatsync_store_postgres::{PgStore, store_error};
    init();
    let db = chatsync_testkit::PgDatabase::create().await;
    let store = PgStore::connect(&db.url, 2).await.expect("connect");
    store.migrate_user().await.expect("migrate user");
    store.migrate_chat().await.expect("migrate chat");
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");

    let account = "INSERT INTO account (account_id, email, password_hash, display_name,
                                        created_at, updated_at)
                   VALUES ($1, 'ann@example.com', '', '', now(), now())";
    sqlx::query(account)
        .bind(uuid::Uuid::new_v4())
        .execute(&pool)
        .await
        .expect("first account");
    let taken = sqlx::query(account)
        .bind(uuid::Uuid::new_v4())
        .execute(&pool)
        .await
        .expect_err("a second account on the address");
    let taken = store_error(taken);
    assert!(
        matches!(taken, StoreError::Conflict(Conflict::EmailTaken)),
        "{taken:?}"
    );

    let cid = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO conversation (conversation_id, kind, created_by, created_at,
                                   last_activity_at)
         VALUES ($1, 'group', $1, now(), now())",
    )
    .bind(cid)
    .execute(&pool)
    .await
    .expect("conversation");
    let message = "INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id,
                                        body, created_at)
                   VALUES ($1, $2, $3, $2, 'c1', 'hi', now())";
    sqlx::query(message)
        .bind(uuid::Uuid::new_v4())
        .bind(cid)
        .bind(1_i64)
        .execute(&pool)
        .await
        .expect("first message");
    let repeat = sqlx::query(message)
        .bind(uuid::Uuid::new_v4())
        .bind(cid)
        .bind(2_i64)
        .execute(&pool)
        .await
        .expect_err("the same client_id again");
    let repeat = store_error(repeat);
    assert!(
        matches!(repeat, StoreError::Conflict(Conflict::DuplicateClientId)),
        "{repeat:?}"
    );
    let seq = sqlx::query(
        "INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body,
                              created_at)
         VALUES ($1, $2, $3, $2, 'c2', 'hi', now())",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(cid)
    .bind(1_i64)
    .execute(&pool)
    .await
    .expect_err("the same seq again");
    match store_error(seq) {
        StoreError::Conflict(c) => {
            assert_eq!(
                c,
                Conflict::Unique("message_conversation_id_seq_key".into())
            );
            assert!(!c.is_retryable(), "a seq taken twice is a bug, not a race");
        }
        other => panic!("{other:?}"),
    }

    // Two repeatable-read transactions updating one row: the second loses (40001).
    let mut first = pool.begin().await.expect("begin");
    let mut second = pool.begin().await.expect("begin");
    for tx in [&mut first, &mut second] {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut **tx)
            .await
            .expect("isolation");
        sqlx::query("SELECT last_seq FROM conversation WHERE conversation_id = $1")
            .bind(cid)
            .execute(&mut **tx)
            .await
            .expect("snapshot");
    }
    let bump = "UPDATE conversation SET last_seq = last_seq + 1 WHERE conversation_id = $1";
    sqlx::query(bump)
        .bind(cid)
        .execute(&mut *first)
        .await
        .expect("first update");
    first.commit().await.expect("commit");
    let lost = sqlx::query(bump)
        .bind(cid)
        .execute(&mut *second)
        .await
        .expect_err("the second update");
    let lost = store_error(lost);
    assert!(
        matches!(&lost, StoreError::Conflict(c) if *c == Conflict::Serialization && c.is_retryable()),
        "{lost:?}"
    );
    drop(second);

    let broken = sqlx::query("SELECT * FROM no_such_table")
        .execute(&pool)
        .await
        .expect_err("a missing table");
    let broken = store_error(broken);
    assert!(matches!(broken, StoreError::Other { .. }), "{broken:?}");
    let cause = std::error::Error::source(&broken).expect("a source");
    let driver = cause
        .downcast_ref::<sqlx::Error>()
        .expect("the driver's error");
    let sqlx::Error::Database(d) = driver else {
        panic!("{driver:?}")
    };
    assert_eq!(d.code().as_deref(), Some("42P01"));
    assert!(
        chatsync_core::error_chain(&broken)
            .to_string()
            .contains("no_such_table"),
        "the chain reaches the driver's message"
    );
    pool.close().await;
    store.close().await;
}
