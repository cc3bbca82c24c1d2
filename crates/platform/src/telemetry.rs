//! Logs, metrics and the operational endpoints every service exposes.

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chatsync_core::config::{HttpConfig, LogConfig, LogFormat};
use chatsync_core::ports::HealthCheck;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global tracing subscriber. Later calls (tests start many apps) are ignored.
pub fn init_logging(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match cfg.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
}

/// Tests: logs only when `TEST_LOG` is set, written through the test harness's capture.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(filter))
            .with(tracing_subscriber::fmt::layer().with_test_writer())
            .try_init();
    }
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        // Histograms with buckets (not per-process summaries), so Prometheus can add them up
        // across nodes and take quantiles of the sum.
        let seconds = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let batch = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("chat_commit_batch_size".into()), &batch)
            });
        let recorder = match builder {
            Ok(b) => b.build_recorder(),
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; metrics then go there.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Middleware counting requests and timing them by method, route and status. Every label comes
/// from a closed set, so no request can add a time series: the standard methods or `other`,
/// a route template of this app or `other`, and the status code (three digits).
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

/// The metric label of a request method: one of the methods the API uses, or `other`.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `/healthz` (the process answers), `/readyz` (every backend answers), and `/metrics` unless
/// `http.metrics_addr` moves it to a listener of its own ([`metrics_router`]).
pub fn ops_router(checks: Vec<Arc<dyn HealthCheck>>, http: &HttpConfig) -> Router {
    let checks = Arc::new(checks);
    let router = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let checks = checks.clone();
                async move { readiness(&checks).await }
            }),
        );
    if http.metrics_addr.is_some() {
        router
    } else {
        router.merge(metrics_router())
    }
}

/// `/metrics` in the Prometheus text format.
pub fn metrics_router() -> Router {
    metrics_handle();
    Router::new().route(
        "/metrics",
        get(|| async {
            let h = metrics_handle();
            h.run_upkeep();
            ([("content-type", "text/plain; version=0.0.4")], h.render())
        }),
    )
}

async fn readiness(checks: &[Arc<dyn HealthCheck>]) -> Response {
    let results = futures::future::join_all(checks.iter().map(|c| async move {
        let r = tokio::time::timeout(Duration::from_secs(3), c.check())
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        (c.name(), r)
    }))
    .await;
    let ready = results
        .iter()
        .zip(checks)
        .all(|((_, r), c)| r.is_ok() || !c.required());
    let detail: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => "ok".to_owned(),
                Err(e) => {
                    tracing::warn!(backend = name, error = %e, "readiness check failed");
                    "unavailable".to_owned()
                }
            };
            (name.to_owned(), serde_json::Value::String(v))
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({"status": if ready {"ready"} else {"unavailable"}, "checks": detail})),
    )
        .into_response()
}
