//! Server-rendered pages for people: the shared response helpers (security headers, redirects, form limits), CSRF,
//! and one module per page. `routes` registers the browser side of sign-in.

pub mod account;
pub mod admin;
pub mod authn;
pub mod consent;
pub mod csrf;
pub mod device;
pub mod error_page;
pub mod login;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::PageError;

/// The security headers every page carries: no framing, no inline script, nothing cached, no referrer leaks.
pub const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// The policy of pages that run `/static/webauthn.js` (passkeys): scripts and requests from this origin only,
/// never inline script.
pub const SCRIPT_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                              style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                              form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// The passkey script, served as a static file.
pub async fn webauthn_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("../../static/webauthn.js"))
}

/// An HTML response with the page security headers.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    html_with_csp(status, body, CSP)
}

/// As `html`, with a page-specific Content-Security-Policy (which must keep `frame-ancestors 'none'`).
pub fn html_with_csp(status: StatusCode, body: String, csp: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
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

/// As `render`, for a page that loads `/static/webauthn.js` (`SCRIPT_CSP`).
pub fn render_with_script<T: askama::Template>(status: StatusCode, t: &T) -> HttpResponse {
    match t.render() {
        Ok(body) => html_with_csp(status, body, SCRIPT_CSP),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            error_page::render(&crate::error::PageError::internal())
        }
    }
}

/// A redirect that is never cached and leaks no referrer. `303 See Other` after a form POST, `302 Found` otherwise.
pub fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

/// Form decoding for pages: small bodies, and a page (not plain text) when the body cannot be decoded.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(|err, _req| {
            tracing::debug!(error = %err, "form refused");
            PageError::bad_request("The form could not be read. Go back and try again.").into()
        })
}

/// The client's address: the TCP peer, or, when the peer is one of the configured `trusted_proxies`, the
/// nearest untrusted address in its `X-Forwarded-For`. Anyone can send that header, so it is only believed from
/// a proxy the operator named.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<crate::state::AppState>>()
        .map(|s| s.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve_client_ip(peer, &forwarded, trusted).to_string())
}

/// Walks `X-Forwarded-For` from the right (the hop nearest to us) past trusted proxies; the first address that
/// is not a trusted proxy is the client. Garbage ends the walk at the last trusted hop.
pub fn resolve_client_ip(
    peer: std::net::IpAddr,
    forwarded_for: &str,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return client;
    }
    for hop in forwarded_for
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// The `User-Agent` header, if readable.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The browser side of single sign-on: the authorization and end-session endpoints and the pages they lead to.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::oidc::{authorize, end_session};
    cfg.service(
        web::resource(authorize::PATH)
            .app_data(form_config())
            .route(web::get().to(authorize::authorize_get))
            .route(web::post().to(authorize::authorize_post)),
    )
    .service(
        web::resource("/login")
            .app_data(form_config())
            .route(web::get().to(login::login_get))
            .route(web::post().to(login::login_post)),
    )
    .service(
        web::resource("/login/second")
            .app_data(form_config())
            .route(web::get().to(login::second::second_get))
            .route(web::post().to(login::second::second_post)),
    )
    .route(
        "/login/continue",
        web::get().to(login::second::continue_get),
    )
    .route(
        "/login/passkey/options",
        web::post().to(login::passkey::passwordless_options),
    )
    .route(
        "/login/passkey/finish",
        web::post().to(login::passkey::passwordless_finish),
    )
    .route(
        "/login/passkey/second/options",
        web::post().to(login::passkey::second_options),
    )
    .route(
        "/login/passkey/second/finish",
        web::post().to(login::passkey::second_finish),
    )
    .route("/static/webauthn.js", web::get().to(webauthn_js))
    .service(
        web::resource("/consent")
            .app_data(form_config())
            .route(web::get().to(consent::consent_get))
            .route(web::post().to(consent::consent_post)),
    )
    .service(
        web::resource(crate::oidc::device_authorization::VERIFICATION_PATH)
            .app_data(form_config())
            .route(web::get().to(device::device_get))
            .route(web::post().to(device::device_post)),
    )
    .service(
        web::resource("/device/decision")
            .app_data(form_config())
            .route(web::post().to(device::decision_post)),
    )
    .configure(account::routes)
    .service(
        web::resource(end_session::PATH)
            .app_data(form_config())
            .route(web::get().to(end_session::logout_get))
            .route(web::post().to(end_session::logout_post)),
    );
}

#[cfg(test)]
mod tests {
    use super::resolve_client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let lb = [ip("10.0.0.5"), ip("10.0.0.6")];
        // Direct client: the header is ignored whatever it says.
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), "1.2.3.4", &lb),
            ip("203.0.113.9")
        );
        // Through the load balancer: the address it appended.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.5"), "198.51.100.7", &lb),
            ip("198.51.100.7")
        );
        // A spoofed left part is skipped: the nearest untrusted hop wins.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.5"), "6.6.6.6, 198.51.100.7, 10.0.0.6", &lb),
            ip("198.51.100.7")
        );
        // Garbage or no header: the last trusted hop.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.5"), "junk", &lb),
            ip("10.0.0.5")
        );
        assert_eq!(resolve_client_ip(ip("10.0.0.5"), "", &lb), ip("10.0.0.5"));
        // Nothing trusted: the peer.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.5"), "198.51.100.7", &[]),
            ip("10.0.0.5")
        );
    }
}
