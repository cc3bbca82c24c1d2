//! S3-compatible object storage for media, through `object_store`'s S3 client. Everything
//! else about media (what is stored, who may read it) is in `chatsync-media`, which sees only
//! an `ObjectStore`, the same as for local disk.
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

use anyhow::Context;
use chatsync_core::config::MediaConfig;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use std::sync::Arc;

/// The bucket `cfg.s3_bucket` on `cfg.s3_endpoint` (AWS when unset), path-style unless
/// configured otherwise, with static credentials when given (else the usual AWS environment
/// and instance credentials).
pub fn s3_store(cfg: &MediaConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let bucket = cfg.s3_bucket.as_deref().context("S3_BUCKET is not set")?;
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&cfg.s3_region)
        .with_virtual_hosted_style_request(!cfg.s3_path_style);
    if let Some(endpoint) = &cfg.s3_endpoint {
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let (Some(key), Some(secret)) = (&cfg.s3_access_key_id, &cfg.s3_secret_access_key) {
        b = b
            .with_access_key_id(key)
            .with_secret_access_key(secret.expose());
    }
    Ok(Arc::new(b.build().context("configuring S3 media storage")?))
}
