//! Cross-origin access for browser apps (the Fetch standard's CORS protocol).
//!
//! - Discovery and `/jwks.json` are public documents: `Access-Control-Allow-Origin: *` for everyone.
//! - `/token`, `/userinfo` and `/revoke` answer a browser only from an origin a client registered with
//!   `--web-origin`, naming that origin (never `*`) with `Vary: Origin`. An actual request is decided by the
//!   registration of the client it is for: the client named in the request (token, revoke) or the client the
//!   access token was issued to (userinfo). A preflight carries no client, so it is decided by "registered by any
//!   client", from an in-memory set (`WebOrigins`) that each instance reloads at most every
//!   `key_refresh_interval`; the actual request that follows is still checked against its own client's row. An
//!   error answered before the client is known (a bad form, an expired token) is decided like a preflight, so the
//!   app can read why it failed.
//! - No `Access-Control-Allow-Credentials`: these endpoints take no cookies, only what the request carries.
//!
//! The decision is the plain function `allowed_origin`; the rest puts it into headers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::db::Db;
use crate::db::models::clients;
use crate::error::OAuthError;
use crate::state::AppState;

/// How long a browser may reuse a preflight answer. Bounded so that removing an origin reaches every browser's
/// preflight cache within ten minutes (Chromium caps it at two hours anyway).
pub const PREFLIGHT_MAX_AGE: u32 = 600;

/// Request headers a browser app may send: `Authorization` (client authentication, bearer tokens) and `DPoP`
/// (RFC 9449 proofs) need a preflight; `Content-Type` does too once it is not a form.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP";

/// Response headers a browser app may read beyond the safelisted ones: the bearer challenge of a 401 (RFC 6750 3)
/// and a DPoP nonce (RFC 9449 8).
const EXPOSE_HEADERS: &str = "WWW-Authenticate, DPoP-Nonce";

/// An origin in its serialized form (`scheme://host[:port]`, lower case, default port left out), or `None` when
/// `s` is not an http(s) origin. Registrations and `Origin` headers are compared in this form.
pub fn serialize_origin(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    let bare = u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    let web = matches!(u.scheme(), "https" | "http") && u.host().is_some();
    (bare && web).then(|| u.origin().ascii_serialization())
}

/// The CORS decision for an actual request: the `Origin` to name in `Access-Control-Allow-Origin`, when the
/// request has one and it is among `registered` (compared in serialized form). `None`: no CORS headers at all.
/// The opaque origin `null` (sandboxed frames, `file:` pages) never matches.
pub fn allowed_origin(origin: Option<&str>, registered: &[String]) -> Option<String> {
    let wanted = serialize_origin(origin?)?;
    registered
        .iter()
        .any(|r| serialize_origin(r).as_deref() == Some(wanted.as_str()))
        .then_some(wanted)
}

/// The request's `Origin` header, when it has a readable one.
pub fn request_origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// Whose registration decides an actual request.
pub enum Party {
    /// The web origins of the client the request is for.
    Registered(Vec<String>),
    /// The client the request is for, its registration not loaded yet.
    ClientId(String),
    /// No client known (the request failed before one was): decided as a preflight.
    Unknown,
}

/// Every client's web origins, in serialized form, as this instance last read them. A preflight is answered from
/// here, so it costs no query; the set is reloaded (one read of the `web_origins` column) when it is older than
/// `refresh`, so every instance sees a registration or a removal within that time.
pub struct WebOrigins {
    refresh: i64,
    set: RwLock<Loaded>,
    reloading: AtomicBool,
}

#[derive(Default)]
struct Loaded {
    origins: Arc<HashSet<String>>,
    /// When the set was read (the clock's `now`); `None` before the first read.
    at: Option<i64>,
}

impl WebOrigins {
    pub fn new(refresh: Duration) -> WebOrigins {
        WebOrigins {
            refresh: i64::try_from(refresh.as_secs()).unwrap_or(i64::MAX).max(1),
            set: RwLock::new(Loaded::default()),
            reloading: AtomicBool::new(false),
        }
    }

    /// Whether any client registered `origin`, reading the registrations again first when the set is stale. One
    /// request at a time reloads; the others meanwhile answer from the previous set. A storage failure keeps the
    /// previous set (or, before the first read, answers no).
    pub async fn any_client_registered(&self, db: &Db, origin: &str, now: i64) -> bool {
        let Some(origin) = serialize_origin(origin) else {
            return false;
        };
        let (origins, at) = {
            let loaded = self.set.read().unwrap_or_else(|e| e.into_inner());
            (loaded.origins.clone(), loaded.at)
        };
        let stale = at.is_none_or(|at| now.saturating_sub(at) >= self.refresh || now < at);
        if stale {
            let turn = Turn::take(&self.reloading);
            // Before the first read there is nothing to answer from, so every such request reads.
            if (turn.is_some() || at.is_none())
                && let Some(fresh) = self.reload(db, now).await
            {
                return fresh.contains(&origin);
            }
        }
        origins.contains(&origin)
    }

    async fn reload(&self, db: &Db, now: i64) -> Option<Arc<HashSet<String>>> {
        match db.run(clients::all_web_origins).await {
            Ok(list) => {
                let fresh: Arc<HashSet<String>> =
                    Arc::new(list.iter().filter_map(|o| serialize_origin(o)).collect());
                let mut loaded = self.set.write().unwrap_or_else(|e| e.into_inner());
                *loaded = Loaded {
                    origins: fresh.clone(),
                    at: Some(now),
                };
                Some(fresh)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the registered web origins failed; the previous set stays");
                None
            }
        }
    }
}

/// The right to reload, held by one request at a time; given back on drop, so a request that is cancelled while
/// it reads does not leave the set never reloaded again.
struct Turn<'a>(&'a AtomicBool);

impl<'a> Turn<'a> {
    fn take(flag: &'a AtomicBool) -> Option<Turn<'a>> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(Turn(flag))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Finishes an actual request to `/token`, `/userinfo` or `/revoke`: the handler's answer (success or
/// `OAuthError`) with `Vary: Origin`, and the CORS headers when `party` registered the request's origin.
pub async fn answer(
    state: &AppState,
    origins: &WebOrigins,
    req: &HttpRequest,
    party: Party,
    result: Result<HttpResponse, OAuthError>,
) -> HttpResponse {
    let mut res = result.unwrap_or_else(|e| e.error_response());
    let allowed = match request_origin(req) {
        None => None,
        Some(origin) => decide(state, origins, origin, party).await,
    };
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    res
}

async fn decide(
    state: &AppState,
    origins: &WebOrigins,
    origin: &str,
    party: Party,
) -> Option<String> {
    let registered = match party {
        Party::Registered(list) => list,
        Party::ClientId(id) => state
            .db
            .run(move |c| clients::by_id(c, &id))
            .await
            .ok()
            .flatten()
            .map(|c| c.web_origins)
            .unwrap_or_default(),
        Party::Unknown => {
            return origins
                .any_client_registered(&state.db, origin, state.now())
                .await
                .then(|| serialize_origin(origin))
                .flatten();
        }
    };
    allowed_origin(Some(origin), &registered)
}

/// A preflight (`OPTIONS` with `Origin`) to a client endpoint: 204, with the CORS answer only when some client
/// registered the origin.
async fn preflight(
    state: &AppState,
    origins: &WebOrigins,
    req: &HttpRequest,
    methods: &'static str,
) -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    res.insert_header((header::ALLOW, methods))
        .insert_header((header::VARY, "Origin"));
    if let Some(origin) = request_origin(req)
        && origins
            .any_client_registered(&state.db, origin, state.now())
            .await
        && let Some(origin) = serialize_origin(origin)
    {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
    }
    res.finish()
}

/// `OPTIONS /token` and `OPTIONS /revoke`.
pub async fn post_options(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
) -> HttpResponse {
    preflight(&state, &origins, &req, "POST, OPTIONS").await
}

/// `OPTIONS /userinfo`.
pub async fn userinfo_options(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
) -> HttpResponse {
    preflight(&state, &origins, &req, "GET, POST, OPTIONS").await
}

/// Marks a public document (discovery, JWKS) readable from any origin.
pub fn public(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
}

/// `OPTIONS` on a public document: any origin may `GET` it, with `If-None-Match` for revalidation.
pub async fn public_options() -> HttpResponse {
    public(&mut HttpResponse::NoContent())
        .insert_header((header::ALLOW, "GET, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "If-None-Match"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reg(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_a_registered_origin_is_named() {
        let registered = reg(&["https://app.example.com", "http://127.0.0.1:5173/"]);
        for (origin, expected) in [
            (
                Some("https://app.example.com"),
                Some("https://app.example.com"),
            ),
            (
                Some("https://APP.example.com:443"),
                Some("https://app.example.com"),
            ),
            (Some("http://127.0.0.1:5173"), Some("http://127.0.0.1:5173")),
            (Some("http://localhost:5173"), None),
            (Some("http://127.0.0.1:5174"), None),
            (Some("http://app.example.com"), None),
            (Some("https://app.example.com.evil.example"), None),
            (Some("https://evil.example"), None),
            (Some("null"), None),
            (Some(""), None),
            (None, None),
        ] {
            assert_eq!(
                allowed_origin(origin, &registered).as_deref(),
                expected,
                "{origin:?}"
            );
        }
        assert_eq!(allowed_origin(Some("https://app.example.com"), &[]), None);
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            serialize_origin("https://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            serialize_origin("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        for bad in [
            "https://app.example.com/path",
            "https://app.example.com/?q",
            "https://u@app.example.com",
            "file:///tmp",
            "com.example.app:/cb",
            "null",
            "*",
        ] {
            assert_eq!(serialize_origin(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_names_an_origin_that_was_not_registered(origin in "\\PC{0,40}", r in "\\PC{0,40}") {
            if let Some(named) = allowed_origin(Some(&origin), std::slice::from_ref(&r)) {
                prop_assert_eq!(Some(named), serialize_origin(&r));
            }
        }
    }
}
