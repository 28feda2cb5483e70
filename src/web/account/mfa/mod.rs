//! `/account/security`: the person's own second factors. Enrol an authenticator app (TOTP: the `otpauth://` URI as
//! text and as a QR code drawn on the server, confirmed by a code), a passkey or security key (named; through
//! `/static/webauthn.js`), regenerate recovery codes, remove a factor after confirming. Every change needs a
//! recent sign-in step (`mfa.recent_auth`). Reached on demand too: an application or the console that needs a
//! second factor sends a user without one here (`authz` / `return_to`), and enrolling counts as that step.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

use crate::clock::format_time;
use crate::db::models::mfa_factors;
use crate::db::models::users::User;
use crate::error::PageError;
use crate::manage::mfa::{self, Enrolment};
use crate::manage::{Actor, ManageError};
use crate::oidc::authorize::pending;
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::web::authn::{amr, kind, totp, webauthn};
use crate::web::{csrf, render, render_with_script};

mod enrol_passkey;
mod enrol_totp;

pub use enrol_passkey::{passkey_finish, passkey_options};
pub use enrol_totp::{codes_get, recovery_post, totp_confirm_post, totp_start_post};

const TOTP_ENROL: &str = "totp_enrol";
const PASSKEY_ENROL: &str = "passkey_enrol";
const NEW_CODES: &str = "new_recovery_codes";
/// How long a TOTP secret shown for enrolment waits for its confirming code.
const TOTP_ENROL_TTL: i64 = 15 * 60;

struct FactorLine {
    id: String,
    kind: &'static str,
    name: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    factors: Vec<FactorLine>,
    recovery_left: i64,
    notice: Option<&'static str>,
    error: Option<&'a str>,
    /// Why the user is here on demand (an application or the console asks for a second factor).
    asked_by: Option<String>,
    authz: Option<&'a str>,
    return_to: Option<&'a str>,
    passkeys: bool,
    passkey_unavailable: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "account_remove_factor.html")]
struct RemovePage<'a> {
    csrf_token: &'a str,
    id: &'a str,
    kind: &'static str,
    name: &'a str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecurityQuery {
    authz: Option<String>,
    return_to: Option<String>,
    done: Option<String>,
    id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecurityForm {
    csrf_token: Option<String>,
    code: String,
    name: String,
    id: String,
    authz: Option<String>,
    return_to: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TotpEnrol {
    secret: String,
    at: i64,
}

#[derive(Serialize, Deserialize)]
struct NewCodes {
    codes: Vec<String>,
    next: String,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "enrolled" => "Your second factor is set up.",
        "removed" => "The factor is removed.",
        _ => return None,
    })
}

fn valid_authz(a: Option<&str>) -> Option<&str> {
    a.filter(|a| pending::is_id(a))
}

fn local(p: Option<&str>) -> Option<&str> {
    p.filter(|p| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.contains('\\')
            && p.len() <= 2048
            && !p.chars().any(char::is_control)
    })
}

fn query(authz: Option<&str>, return_to: Option<&str>) -> String {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = authz {
        q.push(("authz", a));
    }
    if let Some(r) = return_to {
        q.push(("return_to", r));
    }
    serde_urlencoded::to_string(q).unwrap_or_default()
}

/// This page's address with the same destination.
fn here(authz: Option<&str>, return_to: Option<&str>) -> String {
    let q = query(authz, return_to);
    if q.is_empty() {
        "/account/security".into()
    } else {
        format!("/account/security?{q}")
    }
}

/// Sign in again (password, then a factor if any), coming back here.
fn reauth(authz: Option<&str>, return_to: Option<&str>) -> String {
    let back = here(authz, return_to);
    format!(
        "/login?{}",
        serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default()
    )
}

/// The signed-in person, only when their last sign-in step is recent enough to change factors (otherwise they
/// sign in again first).
async fn recently_signed_in(
    state: &AppState,
    session: &TypedSession,
) -> Result<Option<(User, SignIn)>, PageError> {
    Ok(signed_in(state, session)
        .await?
        .filter(|(_, sign_in)| recent(state, sign_in)))
}

/// Whether the last sign-in step is recent enough to change factors.
fn recent(state: &AppState, sign_in: &SignIn) -> bool {
    let window = i64::try_from(state.settings.mfa.recent_auth.as_secs()).unwrap_or(300);
    state.now().saturating_sub(sign_in.last_auth()) <= window
}

/// Whether the user must keep a factor: an administrator while `mfa.required_for_admins`.
pub fn policy_requires(state: &AppState, user: &User) -> bool {
    user.is_admin && state.settings.mfa.required_for_admins
}

fn actor(req: &HttpRequest, user: &User) -> Actor {
    Actor {
        name: Some(user.username.clone()),
        ip: crate::web::client_ip(req),
    }
}

/// Where to go after an enrolment: the waiting request or page, else back here.
fn after_enrolment(authz: Option<&str>, return_to: Option<&str>) -> String {
    if authz.is_some() || return_to.is_some() {
        format!("/login/continue?{}", query(authz, return_to))
    } else {
        "/account/security?done=enrolled".into()
    }
}

/// The next address after an enrolment, by way of the recovery codes page when codes were just made.
fn next_after(
    session: &TypedSession,
    codes: Option<Vec<String>>,
    authz: Option<&str>,
    return_to: Option<&str>,
) -> Result<String, PageError> {
    let next = after_enrolment(authz, return_to);
    match codes {
        Some(codes) => {
            session.set(NEW_CODES, &NewCodes { codes, next })?;
            Ok("/account/security/codes".into())
        }
        None => Ok(next),
    }
}

fn refused(e: ManageError) -> Result<String, PageError> {
    match e {
        ManageError::Invalid(m) => Ok(m),
        ManageError::Store(s) => Err(s.into()),
    }
}

async fn signed_in(
    state: &AppState,
    session: &TypedSession,
) -> Result<Option<(User, SignIn)>, PageError> {
    session::current_user(state, session).await
}

/// `GET /account/security`.
pub async fn security_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<SecurityQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let (authz, return_to) = (
        valid_authz(q.authz.as_deref()),
        local(q.return_to.as_deref()),
    );
    show(
        &state,
        &session,
        authz,
        return_to,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

async fn show(
    state: &AppState,
    session: &TypedSession,
    authz: Option<&str>,
    return_to: Option<&str>,
    notice: Option<&'static str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let Some((user, _)) = signed_in(state, session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::FOUND,
            &reauth(authz, return_to),
        ));
    };
    let uid = user.id.clone();
    let all = state.db.run(move |c| mfa::list(c, &uid)).await?;
    let asked_by = match authz {
        Some(a) => crate::oidc::authorize::pending_request(state, session, a)
            .await?
            .map(|(req, c)| format!("{} asks for {}.", c.name, req.required_level.describe())),
        None if return_to.is_some_and(|r| r.starts_with("/admin")) => {
            Some("The admin console asks for a second factor.".into())
        }
        None => None,
    };
    let unavailable = webauthn::unavailable(&state.settings.issuer);
    let page = SecurityPage {
        csrf_token: &csrf::token(session)?,
        username: &user.username,
        factors: all
            .factors
            .iter()
            .map(|f| FactorLine {
                id: f.id.clone(),
                kind: mfa::describe_kind(&f.kind),
                name: f.name.clone(),
                created: format_time(f.created_at),
                last_used: f
                    .last_used_at
                    .map(format_time)
                    .unwrap_or_else(|| "never".into()),
            })
            .collect(),
        recovery_left: all.recovery_codes_left,
        notice,
        error,
        asked_by,
        authz,
        return_to,
        passkeys: unavailable.is_none(),
        passkey_unavailable: unavailable,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(if page.passkeys {
        render_with_script(status, &page)
    } else {
        render(status, &page)
    })
}

/// `GET /account/security/remove?id=...`: the confirmation.
pub async fn remove_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<SecurityQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let Some((user, _)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(StatusCode::FOUND, &reauth(None, None)));
    };
    let id = q.id.unwrap_or_default();
    let fid = id.clone();
    let factor = state
        .db
        .run(move |c| mfa_factors::by_id(c, &fid))
        .await?
        .filter(|f| f.user_id == user.id)
        .ok_or_else(|| PageError::bad_request("No such factor."))?;
    Ok(render(
        StatusCode::OK,
        &RemovePage {
            csrf_token: &csrf::token(&session)?,
            id: &id,
            kind: mfa::describe_kind(&factor.kind),
            name: &factor.name,
        },
    ))
}

/// `POST /account/security/remove`.
pub async fn remove_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, form.csrf_token.as_deref())?;
    let Some((user, _)) = recently_signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    };
    let requires = policy_requires(&state, &user);
    let (u, id, who, now) = (
        user.clone(),
        form.id.clone(),
        actor(&req, &user),
        state.now(),
    );
    match state
        .db
        .run(move |c| mfa::remove(c, &u, &id, requires, false, &who, now))
        .await
    {
        Ok(()) => Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            "/account/security?done=removed",
        )),
        Err(e) => {
            let msg = refused(e)?;
            show(&state, &session, None, None, None, Some(&msg)).await
        }
    }
}
