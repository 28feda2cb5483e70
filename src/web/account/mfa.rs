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
#[template(path = "account_totp.html")]
struct TotpPage<'a> {
    csrf_token: &'a str,
    uri: &'a str,
    secret: &'a str,
    qr_svg: &'a str,
    error: Option<&'a str>,
    authz: Option<&'a str>,
    return_to: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account_codes.html")]
struct CodesPage<'a> {
    codes: &'a [String],
    next: &'a str,
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

/// `POST /account/security/totp`: a new secret, shown with its QR code, waiting for a confirming code.
pub async fn totp_start_post(
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, form.csrf_token.as_deref())?;
    let (authz, return_to) = (
        valid_authz(form.authz.as_deref()),
        local(form.return_to.as_deref()),
    );
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    };
    if !recent(&state, &sign_in) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    }
    let secret = totp::new_secret();
    session.set(
        TOTP_ENROL,
        &TotpEnrol {
            secret: secret.clone(),
            at: state.now(),
        },
    )?;
    totp_page(&state, &session, &user, &secret, authz, return_to, None)
}

fn totp_page(
    state: &AppState,
    session: &TypedSession,
    user: &User,
    secret: &str,
    authz: Option<&str>,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let uri = totp::otpauth_uri(&state.settings.mfa.totp_issuer, &user.username, secret);
    let svg = totp::qr_svg(&uri).unwrap_or_default();
    let page = TotpPage {
        csrf_token: &csrf::token(session)?,
        uri: &uri,
        secret,
        qr_svg: &svg,
        error,
        authz,
        return_to,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(status, &page))
}

/// `POST /account/security/totp/confirm`.
pub async fn totp_confirm_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let (authz, return_to) = (
        valid_authz(form.authz.as_deref()),
        local(form.return_to.as_deref()),
    );
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    };
    let now = state.now();
    let pending = session
        .get::<TotpEnrol>(TOTP_ENROL)
        .filter(|p| now.saturating_sub(p.at) <= TOTP_ENROL_TTL && p.at <= now);
    let Some(pending) = pending else {
        return show(
            &state,
            &session,
            authz,
            return_to,
            None,
            Some("That setup expired. Start again."),
        )
        .await;
    };
    if !recent(&state, &sign_in) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    }
    let Some(step) = totp::verify(&pending.secret, &form.code, now, None) else {
        let msg =
            "That code is not right. Check the time on your device and enter the current code.";
        return totp_page(
            &state,
            &session,
            &user,
            &pending.secret,
            authz,
            return_to,
            Some(msg),
        );
    };
    let sealed = state
        .keys
        .seal_secret(&totp::seal_aad(&user.id), pending.secret.as_bytes())
        .map_err(|e| {
            tracing::error!(error = %e, "sealing a TOTP seed failed");
            PageError::internal()
        })?;
    let (u, secret, name, who) = (user.clone(), sealed, form.name.clone(), actor(&req, &user));
    let result = state
        .db
        .run(move |c| {
            mfa::enroll(
                c,
                &u,
                &name,
                Enrolment::Totp {
                    secret: &secret,
                    step,
                },
                &who,
                now,
            )
        })
        .await;
    let codes = match result {
        Ok(codes) => codes,
        Err(e) => {
            let msg = refused(e)?;
            return totp_page(
                &state,
                &session,
                &user,
                &pending.secret,
                authz,
                return_to,
                Some(&msg),
            );
        }
    };
    session.remove(TOTP_ENROL);
    // The confirming code is a verified second factor: it counts for the request that sent the user here.
    session.add_factor(&[amr::OTP], now)?;
    let next = next_after(&session, codes, authz, return_to)?;
    Ok(crate::web::redirect(StatusCode::SEE_OTHER, &next))
}

/// `GET /account/security/codes`: recovery codes just made, shown once.
pub async fn codes_get(session: TypedSession) -> Result<HttpResponse, PageError> {
    let Some(new) = session.get::<NewCodes>(NEW_CODES) else {
        return Ok(crate::web::redirect(StatusCode::FOUND, "/account/security"));
    };
    session.remove(NEW_CODES);
    Ok(render(
        StatusCode::OK,
        &CodesPage {
            codes: &new.codes,
            next: &new.next,
        },
    ))
}

/// `POST /account/security/recovery`: a new set of recovery codes (the old ones stop working).
pub async fn recovery_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, form.csrf_token.as_deref())?;
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    };
    if !recent(&state, &sign_in) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    }
    let (u, who, now) = (user.clone(), actor(&req, &user), state.now());
    match state
        .db
        .run(move |c| mfa::regenerate_recovery(c, &u, &who, now))
        .await
    {
        Ok(codes) => {
            session.set(
                NEW_CODES,
                &NewCodes {
                    codes,
                    next: "/account/security".into(),
                },
            )?;
            Ok(crate::web::redirect(
                StatusCode::SEE_OTHER,
                "/account/security/codes",
            ))
        }
        Err(e) => {
            let msg = refused(e)?;
            show(&state, &session, None, None, None, Some(&msg)).await
        }
    }
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
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    };
    if !recent(&state, &sign_in) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    }
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

#[derive(Debug, Deserialize)]
pub struct PasskeyOptions {
    csrf_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasskeyFinish {
    csrf_token: Option<String>,
    credential: RegisterPublicKeyCredential,
    #[serde(default)]
    name: String,
    authz: Option<String>,
    return_to: Option<String>,
}

fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "error": message }))
}

/// `POST /account/security/passkey/options`: a registration challenge (JSON).
pub async fn passkey_options(
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<PasskeyOptions>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        let why =
            webauthn::unavailable(&state.settings.issuer).unwrap_or("Passkeys are unavailable.");
        return Ok(json_error(StatusCode::BAD_REQUEST, why));
    };
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in first."));
    };
    if !recent(&state, &sign_in) {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "Sign in again first: changing how you sign in needs a recent sign-in.",
        ));
    }
    let uid = user.id.clone();
    let existing: Vec<_> = state
        .db
        .run(move |c| mfa_factors::for_user(c, &uid))
        .await?
        .iter()
        .filter(|f| f.kind == kind::WEBAUTHN)
        .filter_map(|f| f.credential.as_deref().and_then(webauthn::decode))
        .collect();
    let display = user
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| user.username.clone());
    let (options, st) =
        webauthn::start_registration(&rp, &user.id, &user.username, &display, &existing).map_err(
            |e| {
                tracing::error!(error = %e, "passkey registration challenge failed");
                PageError::internal()
            },
        )?;
    session.set(PASSKEY_ENROL, &(user.id.clone(), st))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(options))
}

/// `POST /account/security/passkey/finish`: stores the new passkey (JSON answer: where to go next).
pub async fn passkey_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<PasskeyFinish>,
) -> Result<HttpResponse, PageError> {
    let body = body.into_inner();
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some((uid, st)) = session.get::<(String, PasskeyRegistration)>(PASSKEY_ENROL) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "Start again."));
    };
    session.remove(PASSKEY_ENROL);
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in first."));
    };
    if user.id != uid || !recent(&state, &sign_in) {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in again first."));
    }
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let passkey = match webauthn::finish_registration(&rp, &body.credential, &st) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            return Ok(json_error(
                StatusCode::BAD_REQUEST,
                "The passkey could not be registered.",
            ));
        }
    };
    let cred_id = webauthn::credential_id_text(passkey.cred_id());
    let stored = webauthn::encode(&passkey);
    let (u, name, who, now) = (
        user.clone(),
        body.name.clone(),
        actor(&req, &user),
        state.now(),
    );
    let result = state
        .db
        .run(move |c| {
            let what = Enrolment::Passkey {
                credential_id: &cred_id,
                credential: &stored,
            };
            mfa::enroll(c, &u, &name, what, &who, now)
        })
        .await;
    let codes = match result {
        Ok(codes) => codes,
        Err(e) => return Ok(json_error(StatusCode::BAD_REQUEST, &refused(e)?)),
    };
    // Registering with user verification proves the authenticator: it counts as the step asked for.
    session.add_factor(&[amr::HWK, amr::USER], now)?;
    let (authz, return_to) = (
        valid_authz(body.authz.as_deref()),
        local(body.return_to.as_deref()),
    );
    let next = next_after(&session, codes, authz, return_to)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "next": next })))
}
