//! Short-lived signed URLs: `/api/media/{id}/{variant}?u=<viewer>&exp=<unix>&sig=<HMAC>`.
//! They work in `<img src>` without an `Authorization` header, and only until `exp`. Each names
//! the user it was made for, so the file route can check that this user may still read the
//! file: a URL stops working when its viewer leaves the conversation or the message is
//! deleted, not only when it expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chatsync_core::{MediaId, UserId};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks media URLs with a key derived from the install secret.
pub(crate) struct Signer {
    key: Vec<u8>,
    ttl_secs: i64,
}

/// Why a signed URL was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Past its expiry.
    Expired,
    /// Not signed by us, or for another file or variant.
    BadSignature,
}

impl Signer {
    pub(crate) fn new(install_secret: &[u8], ttl_secs: u64) -> Self {
        let mut mac =
            HmacSha256::new_from_slice(install_secret).expect("HMAC takes any key length");
        mac.update(b"chatsync media url v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(3600),
        }
    }

    fn sig(&self, id: MediaId, variant: &str, viewer: UserId, exp: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{id}:{variant}:{viewer}:{exp}").as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A URL for `variant` (`content` or `thumbnail`) for `viewer`, valid from `now` for the
    /// TTL.
    pub(crate) fn url(&self, id: MediaId, variant: &str, viewer: UserId, now: i64) -> String {
        let exp = now + self.ttl_secs;
        format!(
            "/api/media/{id}/{variant}?u={viewer}&exp={exp}&sig={}",
            self.sig(id, variant, viewer, exp)
        )
    }

    /// Checks a presented `u`, `exp` and `sig` at `now`.
    pub(crate) fn check(
        &self,
        id: MediaId,
        variant: &str,
        viewer: UserId,
        exp: i64,
        sig: &str,
        now: i64,
    ) -> Result<(), Refusal> {
        let good = self.sig(id, variant, viewer, exp);
        if !bool::from(good.as_bytes().ct_eq(sig.as_bytes())) {
            return Err(Refusal::BadSignature);
        }
        if exp < now {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (i64, String) {
        let q = url.split_once('?').unwrap().1;
        let mut exp = 0;
        let mut sig = String::new();
        for kv in q.split('&') {
            match kv.split_once('=').unwrap() {
                ("exp", v) => exp = v.parse().unwrap(),
                ("sig", v) => sig = v.to_owned(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn urls_verify_until_they_expire_and_only_for_their_file_and_viewer() {
        let s = Signer::new(b"install-secret-install-secret-xx", 60);
        let (id, ann) = (MediaId::new(), UserId::new());
        let url = s.url(id, "content", ann, 1000);
        assert!(url.contains(&format!("u={ann}")));
        let (exp, sig) = parts(&url);
        assert_eq!(exp, 1060);
        assert_eq!(s.check(id, "content", ann, exp, &sig, 1059), Ok(()));
        assert_eq!(
            s.check(id, "content", ann, exp, &sig, 1061),
            Err(Refusal::Expired)
        );
        assert_eq!(
            s.check(id, "thumbnail", ann, exp, &sig, 1000),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            s.check(MediaId::new(), "content", ann, exp, &sig, 1000),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            s.check(id, "content", UserId::new(), exp, &sig, 1000),
            Err(Refusal::BadSignature),
            "the viewer is signed"
        );
        assert_eq!(
            s.check(id, "content", ann, exp + 100, &sig, 1000),
            Err(Refusal::BadSignature),
            "exp is signed"
        );
    }
}
