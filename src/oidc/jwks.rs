//! `GET /jwks.json`: the published keys (RFC 7517), served from the bytes the current key set serialized once,
//! with a strong ETag and `Cache-Control: public, max-age=<jwks_max_age>`, readable from any origin (CORS `*`).
//! Never touches the database.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::state::AppState;

pub async fn jwks_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let set = state.keys.current();
    let cache_control = format!(
        "public, max-age={}",
        state.settings.keys.jwks_max_age.as_secs()
    );
    if etag_matches(&req, set.jwks_etag()) {
        return crate::oidc::cors::public(&mut HttpResponse::NotModified())
            .insert_header((header::ETAG, set.jwks_etag()))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish();
    }
    crate::oidc::cors::public(&mut HttpResponse::Ok())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::ETAG, set.jwks_etag()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(set.jwks_bytes().clone())
}

/// `If-None-Match` (RFC 9110 section 13.1.2): `*` or a list of entity tags; weak comparison, so `W/"x"` matches.
fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}
