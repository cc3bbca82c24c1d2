//! Spreading clients over several chat nodes (`CHAT_SERVICE_URL=http://a:3002,http://b:3002`).
//!
//! New Engine.IO sessions and REST requests go to the healthy nodes in turn (round robin). A
//! node is healthy while its `/readyz` answers 200; a draining node answers 503, so it gets
//! nothing new while its clients finish.
//!
//! Long-polling needs every request of a session on the node that created it. Instead of a
//! table (which would live in one gateway only), the gateway writes the node into the session
//! id the client is given: the handshake's `sid` `X` from node 2 reaches the client as `2.X`,
//! and a request carrying `sid=2.X` goes to node 2 as `sid=X`. Any gateway with the same list
//! routes it the same way, and a session id the gateway cannot place is answered as Engine.IO
//! answers an unknown session, so the client starts a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How often each node's `/readyz` is asked.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// One chat node.
pub(crate) struct Node {
    /// `http://host:port`, no trailing slash.
    pub(crate) base: String,
    healthy: AtomicBool,
}

/// The chat nodes behind this gateway.
pub(crate) struct ChatNodes {
    nodes: Vec<Node>,
    turn: AtomicUsize,
}

impl ChatNodes {
    /// Nodes at these base URLs, all taken as healthy until probed.
    pub(crate) fn new(bases: &[String]) -> Arc<Self> {
        Arc::new(Self {
            nodes: bases
                .iter()
                .map(|b| Node {
                    base: b.trim_end_matches('/').to_owned(),
                    healthy: AtomicBool::new(true),
                })
                .collect(),
            turn: AtomicUsize::new(0),
        })
    }

    pub(crate) fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node for something new: the next healthy one in turn. With no healthy node, the next
    /// one anyway (its answer, probably a 502 or 503, tells the client to come back).
    pub(crate) fn pick(&self) -> Option<usize> {
        let n = self.nodes.len();
        if n == 0 {
            return None;
        }
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.nodes[i].healthy.load(Ordering::Relaxed))
            .or(Some(start))
    }

    /// Asks every node's `/readyz` every [`PROBE_EVERY`] for as long as the nodes are in use.
    pub(crate) fn probe_in_background(self: &Arc<Self>) {
        if self.nodes.len() < 2 {
            return; // one node gets everything anyway
        }
        let weak = Arc::downgrade(self);
        let client = reqwest_like_client();
        tokio::spawn(async move {
            loop {
                let Some(nodes) = weak.upgrade() else { return };
                for node in &nodes.nodes {
                    let ok = probe(&client, &node.base).await;
                    if node.healthy.swap(ok, Ordering::Relaxed) != ok {
                        tracing::warn!(node = %node.base, healthy = ok, "chat node health changed");
                    }
                }
                drop(nodes);
                tokio::time::sleep(PROBE_EVERY).await;
            }
        });
    }
}

type ProbeClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    axum::body::Body,
>;

fn reqwest_like_client() -> ProbeClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// `GET {base}/readyz` answered 200 within a second.
pub(crate) async fn probe(client: &ProbeClient, base: &str) -> bool {
    let Ok(uri) = format!("{base}/readyz").parse::<axum::http::Uri>() else {
        return false;
    };
    let req = axum::http::Request::get(uri).body(axum::body::Body::empty());
    let Ok(req) = req else { return false };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), client.request(req)).await,
        Ok(Ok(res)) if res.status().is_success()
    )
}

/// The client's session id for node `node`'s session `sid`.
pub(crate) fn tag(node: usize, sid: &str) -> String {
    format!("{node}.{sid}")
}

/// The node and the node's own session id in a client's `sid`.
pub(crate) fn untag(sid: &str) -> Option<(usize, &str)> {
    let (node, sid) = sid.split_once('.')?;
    Some((node.parse().ok()?, sid))
}

/// Puts the node into the `sid` of an Engine.IO v4 handshake answer (`0{"sid":"X",...}`).
/// `None` if the body is not one.
pub(crate) fn tag_handshake(body: &[u8], node: usize) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let json = text.strip_prefix('0')?;
    let mut open: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    let sid = open.get("sid")?.as_str()?.to_owned();
    open.insert("sid".into(), tag(node, &sid).into());
    let mut out = b"0".to_vec();
    out.extend(serde_json::to_vec(&open).ok()?);
    Some(out)
}

/// `/readyz` of a gateway in front of remote services: each upstream's own `/readyz`.
pub(crate) fn upstream_checks(
    remote: &crate::Remote,
) -> Vec<Arc<dyn chatsync_core::ports::HealthCheck>> {
    let client = reqwest_like_client();
    let one =
        |name: String, base: &str, required: bool| -> Arc<dyn chatsync_core::ports::HealthCheck> {
            Arc::new(UpstreamCheck {
                // A handful of names per process, made once at start: leaked, not rebuilt.
                name: Box::leak(name.into_boxed_str()),
                bases: vec![base.trim_end_matches('/').to_owned()],
                required,
                client: client.clone(),
            })
        };
    let mut checks = vec![one("user service".into(), &remote.user, true)];
    if let Some(mail) = &remote.mail {
        checks.push(one("mail service".into(), mail, true));
    }
    if !remote.chat.is_empty() {
        // Ready while any chat node is; each node is listed on its own too.
        checks.push(Arc::new(UpstreamCheck {
            name: "chat service (any node)",
            bases: remote
                .chat
                .iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .collect(),
            required: true,
            client: client.clone(),
        }));
        for (i, base) in remote.chat.iter().enumerate() {
            checks.push(one(format!("chat node {i} ({base})"), base, false));
        }
    }
    checks
}

struct UpstreamCheck {
    name: &'static str,
    /// Healthy when any of these answers.
    bases: Vec<String>,
    required: bool,
    client: ProbeClient,
}

#[async_trait::async_trait]
impl chatsync_core::ports::HealthCheck for UpstreamCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn check(&self) -> Result<(), String> {
        for base in &self.bases {
            if probe(&self.client, base).await {
                return Ok(());
            }
        }
        Err("its /readyz does not answer 200".into())
    }

    fn required(&self) -> bool {
        self.required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_carry_their_node() {
        let body = br#"0{"sid":"AbC-d_9","upgrades":["websocket"],"pingInterval":25000}"#;
        let tagged = tag_handshake(body, 3).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&tagged[1..]).unwrap();
        assert_eq!(v["sid"], "3.AbC-d_9");
        assert_eq!(v["pingInterval"], 25000);
        assert_eq!(untag("3.AbC-d_9"), Some((3, "AbC-d_9")));
        assert_eq!(untag("AbC-d_9"), None);
        assert_eq!(untag("x.AbC"), None);
        assert!(tag_handshake(b"40{}", 0).is_none());
    }

    #[test]
    fn new_work_goes_to_the_healthy_nodes_in_turn() {
        let nodes = ChatNodes::new(&["http://a".into(), "http://b".into(), "http://c".into()]);
        let picks: Vec<_> = (0..6).map(|_| nodes.pick().unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        nodes.nodes[1].healthy.store(false, Ordering::Relaxed);
        let picks: Vec<_> = (0..6).map(|_| nodes.pick().unwrap()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        assert!(picks.contains(&0) && picks.contains(&2), "{picks:?}");
        for n in &nodes.nodes {
            n.healthy.store(false, Ordering::Relaxed);
        }
        assert!(
            nodes.pick().is_some(),
            "none healthy: still somewhere to try"
        );
    }
}
