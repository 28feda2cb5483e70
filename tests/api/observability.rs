//! Observability: Prometheus metrics and request ids a person operating Porta relies on.

use crate::helpers::{Backend, spawn_app};

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[actix_rt::test]
async fn metrics_count_requests_failures_and_report_key_age() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = app.new_browser();
    for _ in 0..3 {
        browser.get(app.url("/jwks.json")).send().await.unwrap();
    }
    // A failed sign-in.
    let page = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf),
            ("username", "admin"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    app.clock.advance(120);
    let r = browser.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["x-request-id"].to_str().unwrap().len() >= 16,
        "every response names its request"
    );
    let text = r.text().await.unwrap();
    let jwks = metric(
        &text,
        "porta_http_requests_total{endpoint=\"/jwks.json\",method=\"GET\",status=\"200\"}",
    );
    assert!(jwks.is_some_and(|n| n >= 3.0), "{text}");
    assert!(text.contains("porta_http_request_duration_seconds_bucket{endpoint=\"/jwks.json\""));
    assert!(
        metric(&text, "porta_login_failures_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let age = metric(&text, "porta_signing_key_age_seconds").unwrap();
    assert!(age >= 120.0, "key age follows the clock: {age}");
    let next = metric(&text, "porta_signing_key_next_rotation_seconds").unwrap();
    assert!(next > 0.0 && next <= (30 * 86400) as f64, "{next}");
}
