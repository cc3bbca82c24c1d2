//! Settings every node of a deployment must share, checked where the nodes meet (Redis). Chat
//! nodes use it for media storage: a file uploaded through one node must be readable through
//! every other, so two nodes with different local directories is a configuration error.

use crate::ports::StateError;
use async_trait::async_trait;
use std::time::Duration;

/// A value every live node must hold the same for one topic.
#[async_trait]
pub trait Agreement: Send + Sync + 'static {
    /// Records that this node uses `value` for `topic`, for `ttl`; a node renews it by calling
    /// again before `ttl` ends. When a live node recorded a different value, nothing changes
    /// and that value is returned.
    async fn agree(
        &self,
        topic: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StateError>;
}
