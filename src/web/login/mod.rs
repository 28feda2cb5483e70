//! The sign-in page, `GET` and `POST /login`. One generic failure message (no user enumeration), a throttle slot
//! reserved before argon2 runs, argon2 bounded and on the blocking pool with the same cost for unknown users
//! (`attempt`), throttling per account-and-address and per address (`throttle`), a new session key on success,
//! and then the waiting authorization request (if any) carries on.

pub mod attempt;
pub mod passkey;
pub mod second;
pub mod throttle;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::crypto::verifier::Verifier;
use crate::error::PageError;
use crate::oidc::authorize::{self, pending};
use crate::session::TypedSession;
use crate::state::AppState;
use crate::web::{csrf, render};
use attempt::Outcome;

/// The one message for every failed sign-in.
const FAILED: &str = "The username or password is not correct.";
/// Longest username looked at; longer ones simply fail.
const MAX_USERNAME: usize = 256;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    authz: Option<&'a str>,
    /// A local page to return to afterwards (the admin console).
    return_to: Option<&'a str>,
    client_name: Option<&'a str>,
    error: Option<&'a str>,
    /// "Sign in with a passkey" (and conditional mediation) is offered; the script is loaded.
    passkeys: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    authz: Option<String>,
    return_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    csrf_token: Option<String>,
    username: String,
    password: String,
    authz: Option<String>,
    return_to: Option<String>,
}

fn valid_authz(a: Option<&str>) -> Option<&str> {
    a.filter(|a| pending::is_id(a))
}

/// A path on this server to go to after signing in; anything else (another host, `//host`, `/\host`) is dropped
/// so the login page cannot be used as an open redirect.
fn local_path(p: Option<&str>) -> Option<&str> {
    p.filter(|p| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.contains('\\')
            && p.len() <= 2048
            && !p.chars().any(char::is_control)
    })
}

/// `GET /login`: the form, with the username from `login_hint` when an application sent one.
pub async fn login_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<LoginQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let authz = valid_authz(q.authz.as_deref());
    let waiting = match authz {
        Some(a) => authorize::pending_request(&state, &session, a).await?,
        None => None,
    };
    let hint = waiting.as_ref().and_then(|(r, _)| r.login_hint.clone());
    let page = LoginPage {
        csrf_token: &csrf::token(&session)?,
        username: hint.as_deref().unwrap_or(""),
        authz: waiting.as_ref().and(authz),
        return_to: local_path(q.return_to.as_deref()),
        client_name: waiting.as_ref().map(|(_, c)| c.name.as_str()),
        error: None,
        passkeys: passkeys_available(&state),
    };
    Ok(login_page(StatusCode::OK, &page))
}

/// `POST /login`.
pub async fn login_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    verifier: web::Data<Verifier>,
    session: TypedSession,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let authz = valid_authz(form.authz.as_deref()).map(str::to_string);
    let ip = crate::web::client_ip(&req);
    let attempt = attempt::Attempt {
        username: form.username.trim().chars().take(MAX_USERNAME).collect(),
        password: form.password,
        ip: ip.clone(),
    };
    let username = attempt.username.clone();
    let user = match attempt::authenticate(&state, &verifier, attempt).await? {
        Outcome::Locked(wait) => {
            crate::metrics::login_throttled();
            return Ok(too_many(wait));
        }
        Outcome::Failed => {
            crate::metrics::login_failed();
            let waiting = match authz.as_deref() {
                Some(a) => authorize::pending_request(&state, &session, a).await?,
                None => None,
            };
            let page = LoginPage {
                csrf_token: &csrf::token(&session)?,
                username: &username,
                authz: waiting.as_ref().and(authz.as_deref()),
                return_to: local_path(form.return_to.as_deref()),
                client_name: waiting.as_ref().map(|(_, c)| c.name.as_str()),
                error: Some(FAILED),
                passkeys: passkeys_available(&state),
            };
            return Ok(login_page(StatusCode::UNAUTHORIZED, &page));
        }
        Outcome::Succeeded(user) => user,
    };
    // A user with factors is not signed in until the second step.
    let uid = user.id.clone();
    let factors = state
        .db
        .run(move |c| crate::manage::mfa::list(c, &uid))
        .await?;
    if factors.has_any() {
        session.set_second_step(&crate::session::SecondStepPending {
            user_id: user.id.clone(),
            pwd_at: state.now(),
        })?;
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = authz.as_deref() {
            q.push(("authz", a));
        }
        if let Some(r) = local_path(form.return_to.as_deref()) {
            q.push(("return_to", r));
        }
        let to = format!(
            "/login/second?{}",
            serde_urlencoded::to_string(q).unwrap_or_default()
        );
        return Ok(crate::web::redirect(StatusCode::SEE_OTHER, &to));
    }
    let user_agent = crate::web::user_agent(&req);
    end_previous_sign_in(&state, &session, &user.id).await?;
    let sign_in = session.sign_in(&user.id, state.now(), ip.as_deref(), user_agent.as_deref())?;
    if let Some(a) = authz
        && let Some(res) = authorize::resume_after_login(&state, &session, &a, sign_in).await?
    {
        return Ok(res);
    }
    let next = local_path(form.return_to.as_deref()).unwrap_or("/account");
    Ok(crate::web::redirect(StatusCode::SEE_OTHER, next))
}

/// Whether passkeys work with this issuer (a host name, not an IP address).
fn passkeys_available(state: &AppState) -> bool {
    crate::web::authn::webauthn::unavailable(&state.settings.issuer).is_none()
}

/// The login page, allowed to load `/static/webauthn.js` when it offers passkeys.
fn login_page(status: StatusCode, page: &LoginPage<'_>) -> HttpResponse {
    if !page.passkeys {
        return render(status, page);
    }
    match page.render() {
        Ok(body) => crate::web::html_with_csp(status, body, crate::web::SCRIPT_CSP),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            crate::web::error_page::render(&PageError::internal())
        }
    }
}

/// Someone else signing in on this browser ends the SSO session that was there, with everything bound to it
/// (the same person re-authenticating keeps it: `TypedSession::sign_in`).
async fn end_previous_sign_in(
    state: &AppState,
    session: &TypedSession,
    user_id: &str,
) -> Result<(), PageError> {
    let Some(previous) = session.sign_in_state().filter(|p| p.user_id != user_id) else {
        return Ok(());
    };
    let now = state.now();
    state
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                crate::manage::security::end_session_by_sid(
                    c,
                    &previous.user_id,
                    &previous.sid,
                    now,
                )
            })
        })
        .await?;
    Ok(())
}

/// HTTP 429 with `Retry-After`.
fn too_many(wait: i64) -> HttpResponse {
    let wait = wait.max(1);
    let when = if wait < 120 {
        format!("{wait} seconds")
    } else {
        format!("{} minutes", (wait + 59) / 60)
    };
    let e = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        format!("There have been too many failed sign-ins. Try again later, in about {when}."),
    );
    let mut res = crate::web::error_page::render(&e);
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}
