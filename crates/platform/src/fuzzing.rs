//! For fuzzing only (the `fuzz/` crate and the replay of its corpus in `cargo test`), built
//! with the `fuzzing` feature: what the services' fuzzing hooks share. Not an API.

use crate::http::{ApiError, Json};
use axum::extract::FromRequest;
use serde::de::DeserializeOwned;

/// Decodes `body` as a JSON request body with the services' [`Json`] extractor, then runs
/// `check` (the handler's validation) on the value. A refusal, from either, must be a client
/// error that renders; anything else panics, which is what a fuzzer looks for.
pub fn json_body<T: DeserializeOwned>(body: &[u8], check: impl FnOnce(T) -> Result<(), ApiError>) {
    let req = axum::http::Request::post("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_vec()))
        .expect("a request built from constants is valid");
    let error = match ready(Json::<T>::from_request(req, &())) {
        Ok(Json(v)) => match check(v) {
            Ok(()) => return,
            Err(e) => e,
        },
        Err(e) => e,
    };
    assert!(
        error.status().is_client_error(),
        "a bad body gave {} {}",
        error.status(),
        error.code()
    );
    let _ = axum::response::IntoResponse::into_response(error);
}

/// Runs a future that never waits, such as extracting from a body already in memory.
pub fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a future that should not wait did"),
    }
}
