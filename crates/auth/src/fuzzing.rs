//! For fuzzing only (the `fuzz/` crate and the replay of its corpus in `cargo test`), built
//! with the `fuzzing` feature: the decoding and checking the user service's JSON bodies go
//! through before any store is touched. Not an API.

use crate::accounts::{RegisterRequest, ResendRequest, VerifyRequest};
use crate::profiles::{UpdateMe, check_avatar};
use crate::sessions::{LoginRequest, RefreshRequest};
use chatsync_core::validate::{DisplayName, Email, Password};
use chatsync_platform::fuzzing::json_body;
use chatsync_platform::http::ApiError;
use chatsync_platform::tokens::parse_refresh_token;

/// The user service's routes that take a JSON body, chosen by the first byte; the rest is the
/// body. Decoded by the services' JSON extractor, then each field checked as the handler
/// checks it. Must neither panic nor end in a server error.
pub fn rest_body(data: &[u8]) {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => json_body(body, |r: RegisterRequest| {
            Email::parse(&r.email)?;
            Password::parse(&r.password)?;
            DisplayName::parse(&r.display_name)?;
            Ok(())
        }),
        1 => json_body(body, |r: VerifyRequest| {
            Ok(Email::parse(&r.email).map(drop)?)
        }),
        2 => json_body(body, |r: ResendRequest| {
            Ok(Email::parse(&r.email).map(drop)?)
        }),
        // Login answers a malformed address as wrong credentials, after parsing it.
        3 => json_body(body, |r: LoginRequest| {
            let _ = Email::parse(&r.email);
            Ok(())
        }),
        4 => json_body(body, |r: RefreshRequest| {
            parse_refresh_token(r.refresh_token.trim())
                .map(drop)
                .ok_or_else(|| ApiError::unauthorized("invalid_token", "invalid refresh token"))
        }),
        _ => json_body(body, |r: UpdateMe| {
            if let Some(name) = r.display_name {
                DisplayName::parse(&name)?;
            }
            if let Some(Some(url)) = r.avatar_url {
                check_avatar(&url)?;
            }
            Ok(())
        }),
    }
}
