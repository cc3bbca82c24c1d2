//! Link previews (issue 11, item 4). After a message with a link is stored, the chat service
//! reads the page of its first `http(s)` link (through `chatsync-link-preview`: 5 s and 1 MiB,
//! redirects re-checked, no private, loopback or link-local address after DNS), copies the
//! page's image into media storage (never hot-linked), stores the preview on the message and
//! sends `message:updated`. An edit that changes the first link drops the preview and queues
//! the message again. Previews are cached per URL on this node. Best effort: a page that
//! cannot be read leaves the message as it is; the send was acknowledged long before.

use crate::fanout::{Fanout, emit_message};
use crate::protocol;
use chatsync_core::ports::chat::{LinkPreview, Message};
use chatsync_core::ports::{Attachments, ChatStore};
use chatsync_link_preview::{Fetcher, first_url};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Messages waiting for a preview; past this, new ones get none (and a warning).
const QUEUE: usize = 1024;
/// Pages read at once.
const PARALLEL: usize = 4;
/// How long a page's preview is reused for other messages with the same link.
const CACHE_TTL: Duration = Duration::from_secs(3600);

/// Hands messages to the preview worker.
pub(crate) struct Previewer {
    jobs: mpsc::Sender<Message>,
}

struct Worker {
    fetcher: Fetcher,
    store: Arc<dyn ChatStore>,
    attachments: Option<Arc<dyn Attachments>>,
    fanout: Arc<dyn Fanout>,
    cache: moka::future::Cache<String, LinkPreview>,
}

impl Previewer {
    /// Starts the worker (on the current Tokio runtime).
    pub(crate) fn start(
        fetcher: Fetcher,
        store: Arc<dyn ChatStore>,
        attachments: Option<Arc<dyn Attachments>>,
        fanout: Arc<dyn Fanout>,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let worker = Arc::new(Worker {
            fetcher,
            store,
            attachments,
            fanout,
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
        });
        tokio::spawn(run(worker, rx));
        Self { jobs }
    }

    /// Queues a newly stored message if its text has a link.
    pub(crate) fn queue(&self, m: &Message) {
        // On the send path: most messages have no link, and a substring test is far cheaper
        // than the link finder.
        if !m.body.contains("http") || first_url(&m.body).is_none() {
            return;
        }
        if self.jobs.try_send(m.clone()).is_err() {
            tracing::warn!(message = %m.id, "link preview queue full; no preview");
        }
    }
}

async fn run(worker: Arc<Worker>, mut rx: mpsc::Receiver<Message>) {
    let slots = Arc::new(Semaphore::new(PARALLEL));
    while let Some(m) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let worker = worker.clone();
        tokio::spawn(async move {
            worker.preview(m).await;
            drop(permit);
        });
    }
}

impl Worker {
    async fn preview(&self, m: Message) {
        let Some(url) = first_url(&m.body) else {
            return;
        };
        let preview = match self.cache.get(url.as_str()).await {
            Some(p) => p,
            None => match self.fetch(&m, &url).await {
                Some(p) => {
                    self.cache.insert(url.to_string(), p.clone()).await;
                    p
                }
                None => return,
            },
        };
        // An edit may have changed the link while the page was read: that edit asked for
        // the new link's preview, and this one would show the wrong page.
        match self.store.message(m.id, m.sender_id).await {
            Ok(now) if first_url(&now.body).as_ref() == Some(&url) => {}
            _ => return,
        }
        match self.store.set_preview(m.id, &preview).await {
            Ok(Some(updated)) => self.announce(&updated).await,
            Ok(None) => {} // deleted, or its sender removed the preview meanwhile
            Err(e) => {
                tracing::warn!(message = %m.id, error = %chatsync_core::error_chain(&e), "storing a link preview failed")
            }
        }
    }

    /// Reads the page and copies its image; `None` if the page cannot be previewed.
    async fn fetch(&self, m: &Message, url: &url::Url) -> Option<LinkPreview> {
        let page = match self.fetcher.preview(url).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(message = %m.id, %url, error = %e, "no link preview");
                return None;
            }
        };
        let mut image = None;
        if let (Some(image_url), Some(store)) = (&page.image_url, &self.attachments) {
            match self.fetcher.image(image_url).await {
                Ok(fetched) => match store.store_image(m.sender_id, fetched.bytes).await {
                    Ok(a) => image = Some(a),
                    Err(e) => tracing::info!(%image_url, error = %e, "preview image refused"),
                },
                Err(e) => tracing::info!(%image_url, error = %e, "preview image not fetched"),
            }
        }
        let preview = LinkPreview {
            url: page.url,
            title: page.title,
            description: page.description,
            site_name: page.site_name,
            image,
        };
        // A page without anything to show is no preview.
        (preview.title.is_some() || preview.description.is_some() || preview.image.is_some())
            .then_some(preview)
    }

    async fn announce(&self, m: &Message) {
        match self.store.member_ids(m.conversation_id).await {
            Ok(members) => {
                emit_message(
                    self.fanout.as_ref(),
                    self.attachments.as_deref(),
                    &members,
                    None,
                    protocol::MESSAGE_UPDATED,
                    m,
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(message = %m.id, error = %chatsync_core::error_chain(&e), "announcing a link preview failed")
            }
        }
    }
}
