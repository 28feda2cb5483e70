//! Server-rendered pages for people: the shared response helpers (security headers) and one module per page.

pub mod error_page;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;

/// The security headers every page carries: no framing, no inline script, nothing cached, no referrer leaks.
pub const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// An HTML response with the page security headers.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Renders an askama template into a page response; a template error becomes the generic error page.
pub fn render<T: askama::Template>(status: StatusCode, t: &T) -> HttpResponse {
    match t.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            error_page::render(&crate::error::PageError::internal())
        }
    }
}
