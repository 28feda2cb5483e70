//! The end-session endpoint, `GET` and `POST /logout` (OpenID Connect RP-Initiated Logout 1.0).
//!
//! - `id_token_hint` counts when it verifies with any published key, a retiring one included; its expiry does not
//!   matter (a hint is often old). It names the client through `aud` (or `azp`), which must agree with `client_id`.
//! - `post_logout_redirect_uri` is followed only when registered for that client, with `state` echoed; otherwise
//!   the person gets a page, never a redirect.
//! - Without a hint for the signed-in user's session, the person is asked to confirm (a CSRF-protected form), so a
//!   link on another site cannot sign anyone out.
//! - Ending the session deletes its row (every instance sees that), revokes the online refresh tokens bound to it
//!   and queues back-channel logout tokens, in one transaction with the audit entry; then clears the cookie.

mod request;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::db::models::clients::{self, Client};
use crate::db::models::{audit, users};
use crate::error::PageError;
use crate::manage::security;
use crate::oidc::authorize::response::redirect_url;
use crate::session::{SignIn, TypedSession};
use crate::state::AppState;
use crate::web::{csrf, render};

pub use request::{Decision, HintClaims, LogoutRequest, check_redirect, decide, parse};

/// Where the endpoint is served (for discovery's `end_session_endpoint`).
pub const PATH: &str = "/logout";

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    client_name: Option<&'a str>,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage;

/// `GET /logout`.
pub async fn logout_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let params = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|_| PageError::bad_request("The request's parameters could not be read."))?;
    logout(&state, &session, params, false).await
}

/// `POST /logout`: from a relying party (form-serialized) or from Porta's own confirmation and account pages.
pub async fn logout_post(
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    logout(&state, &session, form.into_inner(), true).await
}

async fn logout(
    state: &AppState,
    session: &TypedSession,
    params: Vec<(String, String)>,
    is_post: bool,
) -> Result<HttpResponse, PageError> {
    let issuer = state.settings.issuer.clone();
    let keys = state.keys.current();
    let mut req = parse(&params, |token| verify_hint(&keys, &issuer, token))
        .map_err(PageError::bad_request)?;
    // Only a POST of Porta's own form can confirm; a confirmation must carry the session's CSRF token.
    req.confirmed &= is_post;
    if req.confirmed {
        csrf::check(session, req.csrf_token.as_deref())?;
    }
    let client = match req.client_id.clone() {
        Some(id) => state.db.run(move |c| clients::by_id(c, &id)).await?,
        None => None,
    };
    if req.client_id.is_some() && client.is_none() {
        return Err(PageError::bad_request(
            "The application that sent you here is not registered with Porta.",
        ));
    }
    check_redirect(&req, client.as_ref()).map_err(PageError::bad_request)?;

    let signed_in = session.sign_in_state();
    match (decide(&req, signed_in.as_ref()), signed_in) {
        (Decision::Confirm, Some(s)) => {
            confirm_page(state, session, &req, client.as_ref(), &s).await
        }
        (_, signed_in) => {
            if let Some(s) = signed_in {
                end_signed_in_session(state, &s, req.client_id.clone()).await?;
            }
            session.sign_out();
            Ok(finish(&req, is_post))
        }
    }
}

/// Asks the person whether to sign out, carrying the validated request in the form.
async fn confirm_page(
    state: &AppState,
    session: &TypedSession,
    req: &LogoutRequest,
    client: Option<&Client>,
    signed_in: &SignIn,
) -> Result<HttpResponse, PageError> {
    let id = signed_in.user_id.clone();
    let username = state
        .db
        .run(move |c| users::by_id(c, &id))
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    let page = ConfirmPage {
        csrf_token: &csrf::token(session)?,
        username: &username,
        client_name: client.map(|c| c.name.as_str()),
        client_id: client.map(|c| c.id.as_str()),
        post_logout_redirect_uri: req.post_logout_redirect_uri.as_deref(),
        state: req.state.as_deref(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Ends the SSO session and everything bound to it, with its audit entry, in one transaction.
async fn end_signed_in_session(
    state: &AppState,
    s: &SignIn,
    client_id: Option<String>,
) -> Result<(), PageError> {
    let (uid, sid, now) = (s.user_id.clone(), s.sid.clone(), state.now());
    state
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                security::end_session_by_sid(c, &uid, &sid, now)?;
                let name = users::by_id(c, &uid)?.map(|u| u.username);
                let event = audit::Event {
                    actor: name.as_deref(),
                    action: "logout",
                    target: name.as_deref(),
                    ip: None,
                    detail: client_id.as_deref(),
                };
                audit::record(c, &event, now)
            })
        })
        .await?;
    Ok(())
}

/// After signing out: back to the client when it asked and may, else the signed-out page.
fn finish(req: &LogoutRequest, is_post: bool) -> HttpResponse {
    if let Some(uri) = &req.post_logout_redirect_uri {
        let fields: Vec<(&str, String)> = req.state.iter().map(|s| ("state", s.clone())).collect();
        if let Some(location) = redirect_url(uri, &fields) {
            let status = if is_post {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::FOUND
            };
            return crate::web::redirect(status, &location);
        }
    }
    render(StatusCode::OK, &LoggedOutPage)
}

/// Verifies a hint: a published key with its family's algorithm (pinned by `KeySet::verify`), this issuer, `sub` and `aud` present; expiry ignored.
fn verify_hint(keys: &crate::keys::KeySet, issuer: &str, token: &str) -> Option<HintClaims> {
    use jsonwebtoken::{Algorithm, Validation};
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["iss", "sub", "aud"]);
    match keys.verify::<HintClaims>(token, &v) {
        Ok(data) => Some(data.claims),
        Err(e) => {
            tracing::debug!(error = %e, "id_token_hint refused");
            None
        }
    }
}
