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
async fn sync_changes_keep_their_contract(#[case] db: Db) {
    init();
    let (store, _guard) = adapters::store(db).await;
    chat::chat_sync_changes_contract(store.chat()).await;
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
