//! Access tokens (short-lived JWTs naming the user and the session) and refresh tokens (opaque
//! `<session id>.<secret>` strings whose secret's hash the session store keeps).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chatsync_core::config::Config;
use chatsync_core::ids::{SessionId, UserId};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sid: SessionId,
    iat: i64,
    exp: i64,
}

/// Who an access token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user.
    pub user_id: UserId,
    /// The session the token was issued to.
    pub session_id: SessionId,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Expired.
    #[error("token expired")]
    Expired,
    /// Malformed, badly signed, or not ours.
    #[error("invalid token")]
    Invalid,
}

/// Signs and checks access tokens with one HMAC key.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl AccessTokens {
    /// Tokens signed with `secret`, valid for `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    /// Lifetime of issued tokens, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `subject`, issued at `now`.
    pub fn issue(&self, subject: TokenSubject, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: subject.user_id,
            sid: subject.session_id,
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl_secs,
        };
        // HS256 signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature and expiry.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(TokenSubject {
                user_id: data.claims.sub,
                session_id: data.claims.sid,
            }),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

/// A freshly minted refresh token and the hash the session store keeps.
pub struct RefreshToken {
    /// Handed to the client once.
    pub token: String,
    /// Stored; see [`hash_refresh_secret`].
    pub hash: String,
}

/// Mints a refresh token for `session`.
pub fn new_refresh_token(session: SessionId) -> RefreshToken {
    let secret: [u8; 32] = rand::rng().random();
    let secret = URL_SAFE_NO_PAD.encode(secret);
    RefreshToken {
        token: format!("{session}.{secret}"),
        hash: hash_refresh_secret(&secret),
    }
}

/// Splits a presented refresh token into its session and the hash of its secret.
pub fn parse_refresh_token(token: &str) -> Option<(SessionId, String)> {
    let (sid, secret) = token.split_once('.')?;
    if secret.len() != 43 {
        return None;
    }
    Some((sid.parse().ok()?, hash_refresh_secret(secret)))
}

/// SHA-256, hex. Refresh secrets have 256 bits of entropy, so a fast hash suffices.
pub fn hash_refresh_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The install's signing secret: `JWT_SECRET` if configured, else the one generated into
/// `<data_dir>/jwt_secret` on first start. There is never a built-in default (SPEC §2).
pub fn signing_secret(cfg: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &cfg.auth.jwt_secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    let dir = cfg.data_dir.path();
    chatsync_core::files::private_dir(dir)?;
    let path = dir.join("jwt_secret");
    if !path.exists() {
        create_secret_file(&path)?;
    }
    let s = std::fs::read_to_string(&path)?;
    let s = s.trim();
    anyhow::ensure!(
        s.len() >= 32,
        "{} is too short; delete it to regenerate",
        path.display()
    );
    Ok(s.as_bytes().to_vec())
}

/// Writes a random secret to `path` without ever exposing a half-written file: services that
/// start together race here, and the loser reads the winner's file.
fn create_secret_file(path: &Path) -> anyhow::Result<()> {
    let bytes: [u8; 48] = rand::rng().random();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(hex(&bytes).as_bytes())?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let t = AccessTokens::new(b"0123456789abcdef0123456789abcdef", 60);
        let subject = TokenSubject {
            user_id: UserId::new(),
            session_id: SessionId::new(),
        };
        let tok = t.issue(subject, Utc::now());
        assert_eq!(t.verify(&tok), Ok(subject));
        let other = AccessTokens::new(b"another-secret-another-secret-xx", 60);
        assert_eq!(other.verify(&tok), Err(TokenError::Invalid));
        assert_eq!(t.verify("not.a.jwt"), Err(TokenError::Invalid));
        let old = t.issue(subject, Utc::now() - chrono::Duration::seconds(120));
        assert_eq!(t.verify(&old), Err(TokenError::Expired));
    }

    #[test]
    fn refresh_tokens_parse_back_to_their_hash() {
        let sid = SessionId::new();
        let rt = new_refresh_token(sid);
        assert_eq!(parse_refresh_token(&rt.token), Some((sid, rt.hash)));
        assert_eq!(parse_refresh_token("garbage"), None);
        assert_eq!(parse_refresh_token(&format!("{sid}.short")), None);
    }

    #[test]
    fn a_generated_secret_is_kept_across_starts() {
        let dir = std::env::temp_dir().join(format!("chatsync-secret-{}", uuid::Uuid::new_v4()));
        let cfg = Config {
            data_dir: chatsync_core::config::DataDir(dir.clone()),
            ..Config::default()
        };
        let a = signing_secret(&cfg).unwrap();
        let b = signing_secret(&cfg).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 64);
        let _ = std::fs::remove_dir_all(dir);
    }
}
