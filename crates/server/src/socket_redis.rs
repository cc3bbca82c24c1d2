//! The pub/sub driver of the Socket.IO Redis adapter, on a [`ConnectionManager`].
//!
//! socketioxide-redis's own `RedisDriver` holds one `MultiplexedConnection`, which is never
//! re-opened: after a Redis restart every publish fails, and because the adapter publishes
//! before it delivers to its own sockets, a chat node then stopped delivering `message:new`
//! live to anyone, on every node, until it was restarted itself (found by `scripts/chaos.sh`:
//! after the Redis restart every message reached its receivers only through `sync`). A
//! connection manager re-opens the connection, at once after a disconnection push (RESP3) and
//! else on the next command, and subscribes again to every channel it had. What is published
//! while Redis is down is not delivered live; clients catch up with `sync`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A [`Driver`] that survives Redis restarts; clones share the connection and the handlers.
#[derive(Clone)]
pub(crate) struct ManagedDriver {
    conn: ConnectionManager,
    handlers: Handlers,
}

impl ManagedDriver {
    /// Connects to `client` (which must speak RESP3: pushes carry the messages).
    pub(crate) async fn new(client: redis::Client) -> redis::RedisResult<Self> {
        let handlers: Handlers = Arc::default();
        let h = handlers.clone();
        let cfg = ConnectionManagerConfig::new()
            .set_push_sender(move |msg: PushInfo| {
                deliver(msg, &h);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            // About 30 s of attempts, a second apart at most, after each disconnection; a
            // command after that starts another round.
            .set_number_of_retries(30)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, cfg).await?;
        Ok(Self { conn, handlers })
    }
}

fn deliver(msg: PushInfo, handlers: &Handlers) {
    if !matches!(msg.kind, PushKind::Message) || msg.data.len() < 2 {
        return;
    }
    let mut it = msg.data.into_iter();
    let (Some(chan), Some(payload)) = (it.next(), it.next()) else {
        return;
    };
    let (Ok(chan), Ok(payload)) = (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable Socket.IO adapter message from Redis");
        return;
    };
    let guard = handlers.read().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = guard.get(&chan)
        && let Err(e) = tx.try_send((chan, payload))
    {
        tracing::warn!(error = %e, "Socket.IO adapter channel full; message dropped");
    }
}

impl Driver for ManagedDriver {
    type Error = redis::RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let mut c = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(chan)
            .arg(val)
            .query_async::<redis::Value>(&mut c)
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        // The handler first, so that nothing published right after the SUBSCRIBE is missed.
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.conn.clone().subscribe(chan.as_str()).await {
            self.handlers
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&chan);
            return Err(e);
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan.as_str()).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut c = self.conn.clone();
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut c)
            .await?;
        Ok(count)
    }
}
