//! Prometheus metrics: requests by endpoint and status, latency histograms, and the counters and gauges the
//! protocol code reports (tokens issued, sign-in failures and throttling, signing-key age and next rotation).
//! `/metrics` renders them in the text exposition format.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide recorder, installed on first use (several servers in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("porta_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed by an embedding program; ours still renders its own view.
        let _ = metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often recorded latencies are folded into the histograms' buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps every latency sample until upkeep folds them into buckets, and only a scrape of `/metrics`
/// did that: without a scraper, memory grew by every request (86 MiB after a minute of 68,000 requests/s, and
/// on through a soak). One thread for the process, as the recorder is.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("porta-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot start the metrics upkeep thread; latency samples pile up until scraped");
    }
}

/// Middleware: counts every request by route pattern (not raw path, to bound cardinality) and status.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let endpoint = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    metrics::counter!(
        "porta_http_requests_total",
        "endpoint" => endpoint.clone(),
        "method" => method,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("porta_http_request_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    res
}

/// A token was issued: `kind` is `id_token`, `access_token` or `refresh_token`; `grant` the grant type.
pub fn token_issued(kind: &'static str, grant: &'static str) {
    metrics::counter!("porta_tokens_issued_total", "type" => kind, "grant" => grant).increment(1);
}

/// A sign-in attempt failed (wrong password, unknown or disabled user).
pub fn login_failed() {
    metrics::counter!("porta_login_failures_total").increment(1);
}

/// A sign-in attempt was refused because the account or address is locked out.
pub fn login_throttled() {
    metrics::counter!("porta_login_throttled_total").increment(1);
}

/// A factor enrolled (`method`: totp, webauthn, recovery) or removed.
pub fn mfa_enrolled(method: &'static str) {
    metrics::counter!("porta_mfa_enrollments_total", "method" => method).increment(1);
}

pub fn mfa_removed(method: &'static str) {
    metrics::counter!("porta_mfa_removals_total", "method" => method).increment(1);
}

/// A second step (or passwordless passkey) tried: `outcome` is success, failure or throttled.
pub fn mfa_attempt(method: &'static str, outcome: &'static str) {
    metrics::counter!("porta_mfa_attempts_total", "method" => method, "outcome" => outcome)
        .increment(1);
}

/// Whether a request may read `/metrics`: always when no `metrics.bearer_token` is set, else only with
/// `Authorization: Bearer <token>`, compared in constant time.
pub fn scrape_allowed(expected: Option<&str>, authorization: Option<&[u8]>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(expected) = expected else {
        return true;
    };
    // An empty token is a mistake, not an invitation: nothing matches it.
    if expected.is_empty() {
        return false;
    }
    let Some(presented) = authorization.and_then(|h| {
        let (scheme, rest) = h.split_at_checked(7)?;
        scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
    }) else {
        return false;
    };
    // Hashing first makes the comparison length-independent as well.
    let digest = |b: &[u8]| <sha2::Sha256 as sha2::Digest>::digest(b);
    bool::from(digest(presented).ct_eq(&digest(expected.as_bytes())))
}

/// `GET /metrics`. The signing-key gauges (age of the active key, seconds until the next key takes over) are
/// set from the in-memory key set at each scrape.
pub async fn metrics_get(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let auth = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !scrape_allowed(state.settings.metrics.bearer_token.as_deref(), auth) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"porta metrics\""))
            .insert_header(("Cache-Control", "no-store"))
            .finish();
    }
    let keys = state.keys.current();
    if let Some((age, next)) = keys.rotation_timing(state.now()) {
        metrics::gauge!("porta_signing_key_age_seconds").set(age as f64);
        metrics::gauge!("porta_signing_key_next_rotation_seconds").set(next as f64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(handle().render())
}

/// Middleware: echoes the request id that `TracingLogger` put on every log line of the request as
/// `X-Request-Id`, so a report from a user can be matched with the logs.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = id
        && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id)
    {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::scrape_allowed;

    #[test]
    fn the_bearer_token_guards_the_scrape() {
        assert!(scrape_allowed(None, None));
        assert!(scrape_allowed(Some("s3cret"), Some(b"Bearer s3cret")));
        assert!(scrape_allowed(Some("s3cret"), Some(b"bearer s3cret")));
        assert!(!scrape_allowed(Some("s3cret"), None));
        assert!(!scrape_allowed(Some("s3cret"), Some(b"Bearer s3cre")));
        assert!(!scrape_allowed(Some("s3cret"), Some(b"Basic s3cret")));
        assert!(!scrape_allowed(Some("s3cret"), Some(b"Bear")));
        assert!(!scrape_allowed(Some(""), Some(b"Bearer ")));
    }
}
