//! Password hashing (argon2id) and one-time codes (six digits, stored as an HMAC).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chatsync_core::RegistrationId;
use chatsync_platform::http::ApiError;
use chatsync_platform::tokens::hex;
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;
use std::sync::{Arc, OnceLock};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// At most this many argon2 computations at once: each takes 19 MiB and a core for tens of
/// milliseconds, so a burst of logins must queue rather than exhaust memory.
const HASHING_SLOTS: usize = 4;

pub(crate) struct Secrets {
    otp_key: Vec<u8>,
    slots: Arc<Semaphore>,
    /// A real hash of a random password, verified when the account does not exist so that a
    /// login for an unknown address takes as long as one for a known address.
    dummy_hash: OnceLock<String>,
}

type HmacSha256 = Hmac<Sha256>;

impl Secrets {
    pub(crate) fn new(signing_secret: &[u8]) -> Self {
        // A key of its own, derived from the install secret, so OTP hashes and tokens never
        // share a key.
        let mut mac =
            HmacSha256::new_from_slice(signing_secret).expect("HMAC takes any key length");
        mac.update(b"chatsync otp key v1");
        Self {
            otp_key: mac.finalize().into_bytes().to_vec(),
            slots: Arc::new(Semaphore::new(HASHING_SLOTS)),
            dummy_hash: OnceLock::new(),
        }
    }

    pub(crate) async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        self.blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| ApiError::internal(format!("hashing: {e}")))
        })
        .await?
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is no account.
    pub(crate) async fn verify_password(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, ApiError> {
        self.verify_password_any(password, hash.into_iter().collect())
            .await
    }

    /// True when `password` matches one of `hashes` (the pending registrations of an
    /// address). With no hashes it is checked against the dummy hash, so the answer takes as
    /// long as for an address with one.
    pub(crate) async fn verify_password_any(
        &self,
        password: String,
        hashes: Vec<String>,
    ) -> Result<bool, ApiError> {
        let (hashes, dummy) = if hashes.is_empty() {
            (vec![self.dummy_hash().await?], true)
        } else {
            (hashes, false)
        };
        let matched = self
            .blocking(move || {
                hashes.iter().any(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), h.as_str())
                        .is_ok()
                })
            })
            .await?;
        Ok(matched && !dummy)
    }

    async fn dummy_hash(&self) -> Result<String, ApiError> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h.clone());
        }
        let random: [u8; 16] = rand::rng().random();
        let h = self.hash_password(hex(&random)).await?;
        Ok(self.dummy_hash.get_or_init(|| h).clone())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal(format!("hashing task: {e}")))
    }

    /// A new six-digit code.
    pub(crate) fn new_code() -> String {
        format!("{:06}", rand::rng().random_range(0..1_000_000u32))
    }

    /// What is stored for `code`: an HMAC bound to the registration it was mailed for, so a
    /// leaked table cannot be brute-forced without the install secret, and a code never
    /// matches another registration's hash.
    pub(crate) fn code_hash(&self, registration: RegistrationId, code: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.otp_key).expect("HMAC takes any key length");
        mac.update(registration.0.as_bytes());
        mac.update(code.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    pub(crate) fn code_matches(
        &self,
        registration: RegistrationId,
        code: &str,
        stored: &str,
    ) -> bool {
        self.code_hash(registration, code)
            .as_bytes()
            .ct_eq(stored.as_bytes())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = Secrets::new_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|ch| ch.is_ascii_digit()));
        }
    }

    #[test]
    fn code_hashes_are_bound_to_registration_and_key() {
        let s = Secrets::new(b"secret-one-secret-one-secret-one");
        let u = RegistrationId::new();
        let h = s.code_hash(u, "123456");
        assert!(s.code_matches(u, "123456", &h));
        assert!(!s.code_matches(u, "123457", &h));
        assert!(!s.code_matches(RegistrationId::new(), "123456", &h));
        let other = Secrets::new(b"secret-two-secret-two-secret-two");
        assert!(!other.code_matches(u, "123456", &h));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let s = Secrets::new(b"k");
        let h = s.hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            s.verify_password("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !s.verify_password("wrong horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!s.verify_password("anything".into(), None).await.unwrap());
        let other = s.hash_password("battery staple".into()).await.unwrap();
        assert!(
            s.verify_password_any("battery staple".into(), vec![h.clone(), other])
                .await
                .unwrap()
        );
        assert!(
            !s.verify_password_any("neither one".into(), vec![h])
                .await
                .unwrap()
        );
        assert!(
            !s.verify_password_any("anything".into(), Vec::new())
                .await
                .unwrap(),
            "no hashes: the dummy is checked, and never matches"
        );
    }
}
