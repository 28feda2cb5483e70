//! The second step of signing in (`/login/second`): after a password, for a user with factors; and step-up, for a
//! signed-in user whom an application (or the admin console) asks for more. A one-time code works without
//! JavaScript; a passkey uses `/static/webauthn.js` (`passkey`). A user with no factor that fits is taken to
//! enrolment (`mfa.enroll_on_demand`), or the application is told `unmet_authentication_requirements`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::models::users::{self, User};
use crate::error::PageError;
use crate::manage::mfa::{self, Factors};
use crate::oidc::authorize::{self, pending, response};
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::web::authn::verify::{self, Checked, CodeKind};
use crate::web::authn::{Level, amr, combine, kind, webauthn};
use crate::web::csrf;

use super::{local_path, too_many, valid_authz};

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStepPage<'a> {
    csrf_token: &'a str,
    authz: Option<&'a str>,
    return_to: Option<&'a str>,
    client_name: Option<&'a str>,
    username: &'a str,
    needed: &'static str,
    totp: bool,
    recovery: bool,
    passkey: bool,
    passkey_unavailable: Option<&'static str>,
    error: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecondQuery {
    authz: Option<String>,
    return_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecondForm {
    csrf_token: Option<String>,
    /// `totp` or `recovery`.
    method: String,
    code: String,
    authz: Option<String>,
    return_to: Option<String>,
}

/// Who the second step is for: a password just checked (not signed in yet), or a signed-in user stepping up.
pub enum Subject {
    Password { user: User, pwd_at: i64 },
    StepUp { user: User, sign_in: SignIn },
}

impl Subject {
    pub fn user(&self) -> &User {
        match self {
            Subject::Password { user, .. } | Subject::StepUp { user, .. } => user,
        }
    }
}

/// The subject of the second step in this session, if any. A password older than `mfa.second_step_timeout`
/// no longer counts.
pub async fn subject(
    state: &AppState,
    session: &TypedSession,
) -> Result<Option<Subject>, PageError> {
    let now = state.now();
    let timeout = i64::try_from(state.settings.mfa.second_step_timeout.as_secs()).unwrap_or(300);
    if let Some(p) = session.second_step() {
        if now.saturating_sub(p.pwd_at) <= timeout && p.pwd_at <= now {
            let id = p.user_id.clone();
            let user = state.db.run(move |c| users::by_id(c, &id)).await?;
            if let Some(user) = user.filter(|u| !u.disabled) {
                return Ok(Some(Subject::Password {
                    user,
                    pwd_at: p.pwd_at,
                }));
            }
        }
        session.clear_second_step();
    }
    Ok(session::current_user(state, session)
        .await?
        .map(|(user, sign_in)| Subject::StepUp { user, sign_in }))
}

/// The level this second step must reach: the waiting request's, else a second factor (the console, a
/// re-authentication).
async fn needed(
    state: &AppState,
    session: &TypedSession,
    authz: Option<&str>,
) -> Result<(Level, Option<String>), PageError> {
    if let Some(a) = authz
        && let Some((req, client)) = authorize::pending_request(state, session, a).await?
    {
        return Ok((req.required_level.max(Level::Mfa), Some(client.name)));
    }
    Ok((Level::Mfa, None))
}

/// Where to go once the sign-in is strong enough: the waiting request, the page asked for, or `/account`.
pub async fn carry_on(
    state: &AppState,
    session: &TypedSession,
    authz: Option<&str>,
    return_to: Option<&str>,
) -> Result<HttpResponse, PageError> {
    if let Some(a) = authz
        && let Some(res) = authorize::resume(state, session, a).await?
    {
        return Ok(res);
    }
    let next = local_path(return_to).unwrap_or("/account");
    Ok(crate::web::redirect(StatusCode::SEE_OTHER, next))
}

/// Records a verified factor: completes a sign-in that waited for it, or raises a signed-in session.
pub async fn complete(
    state: &AppState,
    session: &TypedSession,
    subject: &Subject,
    methods: &[&str],
    authz: Option<&str>,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(), PageError> {
    let now = state.now();
    match subject {
        Subject::Password { user, pwd_at } => {
            super::end_previous_sign_in(state, session, &user.id).await?;
            let amr = combine(&[amr::PWD.to_string()], methods);
            let s = session.sign_in_with(&user.id, *pwd_at, amr, Some(now), ip, user_agent)?;
            if let Some(a) = authz {
                pending::mark_signed_in(session, a, &s.sid, now)?;
            }
        }
        Subject::StepUp { .. } => {
            session.add_factor(methods, now)?;
        }
    }
    Ok(())
}

/// What the page offers, or where a user without a fitting factor goes instead.
enum Offer {
    Page {
        totp: bool,
        recovery: bool,
        passkey: bool,
    },
    Enrol,
    Unmet,
}

/// `for_application`: an application's request waits (without one, it is the console or a re-authentication,
/// where enrolling is the only way on).
fn offer(
    state: &AppState,
    subject: &Subject,
    factors: &Factors,
    needed: Level,
    for_application: bool,
) -> Offer {
    let passkeys =
        factors.has(kind::WEBAUTHN) && webauthn::unavailable(&state.settings.issuer).is_none();
    // After a password, every factor the user has completes the sign-in; a request that needs more steps up
    // from there. A signed-in user stepping up is offered only what reaches the level.
    let codes_do = matches!(subject, Subject::Password { .. }) || needed <= Level::Mfa;
    let totp = codes_do && factors.has(kind::TOTP);
    let recovery = codes_do && factors.has_any() && factors.recovery_codes_left > 0;
    if totp || recovery || passkeys {
        Offer::Page {
            totp,
            recovery,
            passkey: passkeys,
        }
    } else if state.settings.mfa.enroll_on_demand || !for_application {
        Offer::Enrol
    } else {
        Offer::Unmet
    }
}

/// The enrolment page, coming back here afterwards.
fn enrol_url(authz: Option<&str>, return_to: Option<&str>) -> String {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = authz {
        q.push(("authz", a));
    }
    if let Some(r) = return_to {
        q.push(("return_to", r));
    }
    format!(
        "/account/security?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

/// `GET /login/second`.
pub async fn second_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<SecondQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let authz = valid_authz(q.authz.as_deref());
    let return_to = local_path(q.return_to.as_deref());
    show(&state, &session, authz, return_to, None, StatusCode::OK).await
}

async fn show(
    state: &AppState,
    session: &TypedSession,
    authz: Option<&str>,
    return_to: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let Some(subject) = subject(state, session).await? else {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = authz {
            q.push(("authz", a));
        }
        if let Some(r) = return_to {
            q.push(("return_to", r));
        }
        let to = format!(
            "/login?{}",
            serde_urlencoded::to_string(q).unwrap_or_default()
        );
        return Ok(crate::web::redirect(StatusCode::FOUND, &to));
    };
    let (needed, client_name) = needed(state, session, authz).await?;
    if let Subject::StepUp { sign_in, .. } = &subject
        && sign_in.level() >= needed
        && error.is_none()
    {
        return carry_on(state, session, authz, return_to).await;
    }
    let uid = subject.user().id.clone();
    let factors = state.db.run(move |c| mfa::list(c, &uid)).await?;
    let for_application = client_name.is_some();
    let (totp, recovery, passkey) = match offer(state, &subject, &factors, needed, for_application)
    {
        Offer::Page {
            totp,
            recovery,
            passkey,
        } => (totp, recovery, passkey),
        Offer::Enrol => {
            if matches!(subject, Subject::StepUp { .. }) {
                return Ok(crate::web::redirect(
                    StatusCode::FOUND,
                    &enrol_url(authz, return_to),
                ));
            }
            // Not signed in yet: nothing to enrol with. (A password subject always has a factor: it is only
            // made for users with one.)
            return Err(PageError::bad_request(
                "Your account has no second factor that can be used here.",
            ));
        }
        Offer::Unmet => return unmet(state, session, authz).await,
    };
    let page = SecondStepPage {
        csrf_token: &csrf::token(session)?,
        authz,
        return_to,
        client_name: client_name.as_deref(),
        username: &subject.user().username,
        needed: needed.describe(),
        totp,
        recovery,
        passkey,
        passkey_unavailable: if factors.has(kind::WEBAUTHN) {
            webauthn::unavailable(&state.settings.issuer)
        } else {
            None
        },
        error,
    };
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "template rendering failed");
        PageError::internal()
    })?;
    Ok(crate::web::html_with_csp(
        status,
        body,
        crate::web::SCRIPT_CSP,
    ))
}

/// The application asked for more than the user can give and enrolment on demand is off.
async fn unmet(
    state: &AppState,
    session: &TypedSession,
    authz: Option<&str>,
) -> Result<HttpResponse, PageError> {
    if let Some(a) = authz
        && let Some((req, _)) = authorize::pending_request(state, session, a).await?
    {
        pending::remove(session, a, state.now())?;
        let e = req.error(
            "unmet_authentication_requirements",
            "the user has no second factor that meets the request",
        );
        return Ok(response::error(
            &e,
            &state.settings.issuer,
            response::Via::Post,
        ));
    }
    Err(PageError::forbidden(
        "This needs a second factor, and your account has none. Ask an administrator.",
    ))
}

/// `POST /login/second`: a TOTP or recovery code.
pub async fn second_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecondForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let authz = valid_authz(form.authz.as_deref()).map(str::to_string);
    let return_to = local_path(form.return_to.as_deref()).map(str::to_string);
    let Some(subject) = subject(&state, &session).await? else {
        return Ok(crate::web::redirect(StatusCode::SEE_OTHER, "/login"));
    };
    let which = match form.method.as_str() {
        "recovery" => CodeKind::Recovery,
        _ => CodeKind::Totp,
    };
    let ip = crate::web::client_ip(&req);
    let code: String = form.code.chars().take(64).collect();
    match verify::code(&state, subject.user(), which, code, ip.clone()).await? {
        Checked::Locked(wait) => Ok(too_many(wait)),
        Checked::Wrong => {
            let msg = match which {
                CodeKind::Totp => {
                    "That code is not right, or was already used. Wait for the next one."
                }
                CodeKind::Recovery => "That recovery code is not right, or was already used.",
            };
            show(
                &state,
                &session,
                authz.as_deref(),
                return_to.as_deref(),
                Some(msg),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Checked::Right(methods) => {
            let ua = crate::web::user_agent(&req);
            complete(
                &state,
                &session,
                &subject,
                methods,
                authz.as_deref(),
                ip.as_deref(),
                ua.as_deref(),
            )
            .await?;
            carry_on(&state, &session, authz.as_deref(), return_to.as_deref()).await
        }
    }
}

/// `GET /login/continue`: carries a waiting request on after a passkey (the page's script comes here).
pub async fn continue_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<SecondQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    carry_on(
        &state,
        &session,
        valid_authz(q.authz.as_deref()),
        local_path(q.return_to.as_deref()),
    )
    .await
}
