//! The sign-in page, `GET` and `POST /login`. One generic failure message (no user enumeration), argon2 on the
//! blocking pool with the same cost for unknown users, throttling per account and per address (`throttle`), a new
//! session key on success, and then the waiting authorization request (if any) carries on.

pub mod throttle;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::crypto::password;
use crate::db::models::{audit, login_failures, users};
use crate::error::PageError;
use crate::oidc::authorize::{self, pending};
use crate::session::TypedSession;
use crate::startup::AppState;
use crate::web::{csrf, render};

/// The one message for every failed sign-in.
const FAILED: &str = "The username or password is not correct.";
/// Longest inputs looked at; longer ones simply fail.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    authz: Option<&'a str>,
    client_name: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    authz: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    csrf_token: Option<String>,
    username: String,
    password: String,
    authz: Option<String>,
}

fn valid_authz(a: Option<&str>) -> Option<&str> {
    a.filter(|a| pending::is_id(a))
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
        client_name: waiting.as_ref().map(|(_, c)| c.name.as_str()),
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

/// What the database said before the password was checked.
enum Gate {
    Locked(i64),
    Open(Option<users::User>),
}

/// `POST /login`.
pub async fn login_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let authz = valid_authz(form.authz.as_deref()).map(str::to_string);
    let username: String = form.username.trim().chars().take(MAX_USERNAME).collect();
    let ip = crate::web::client_ip(&req);
    let mut subjects = vec![login_failures::user_subject(&username)];
    if let Some(ip) = &ip {
        subjects.push(login_failures::ip_subject(ip));
    }
    let policy = throttle::Policy::from_settings(&state.settings.login);
    let now = state.now();

    let gate = {
        let (subjects, username) = (subjects.clone(), username.clone());
        state
            .db
            .run(
                move |c| match throttle::check(c, &policy, &subjects, now)? {
                    Some(until) => Ok::<_, crate::db::StoreError>(Gate::Locked(until)),
                    None => Ok(Gate::Open(users::by_username(c, &username)?)),
                },
            )
            .await?
    };
    let user = match gate {
        Gate::Locked(until) => {
            audit_login(
                &state,
                "login.failure",
                &username,
                ip.clone(),
                Some("throttled"),
                now,
            )
            .await?;
            return Ok(too_many(until - now));
        }
        Gate::Open(user) => user,
    };

    let password = form.password;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = web::block(move || match hash {
        Some(h) if password.len() <= MAX_PASSWORD => password::verify(&password, &h),
        _ => {
            password::verify_dummy(&password);
            false
        }
    })
    .await
    .map_err(|_| PageError::internal())?;

    let user = match user {
        Some(u) if verified && !u.disabled => u,
        other => {
            let detail = match other {
                Some(u) if verified && u.disabled => "disabled",
                Some(_) => "wrong password",
                None => "unknown user",
            };
            let (s, name, ip2) = (subjects.clone(), username.clone(), ip.clone());
            state
                .db
                .run(move |c| {
                    crate::db::write_tx(c, |c| {
                        throttle::record_failure(c, &s, now)?;
                        audit::record(
                            c,
                            &event("login.failure", &name, ip2.as_deref(), Some(detail)),
                            now,
                        )
                    })
                })
                .await?;
            let page = LoginPage {
                csrf_token: &csrf::token(&session)?,
                username: &username,
                authz: authz.as_deref(),
                client_name: None,
                error: Some(FAILED),
            };
            return Ok(render(StatusCode::UNAUTHORIZED, &page));
        }
    };

    {
        let (subject, name, ip2) = (subjects[0].clone(), user.username.clone(), ip.clone());
        state
            .db
            .run(move |c| {
                crate::db::write_tx(c, |c| {
                    login_failures::clear(c, &subject)?;
                    audit::record(c, &event("login.success", &name, ip2.as_deref(), None), now)
                })
            })
            .await?;
    }
    let sign_in = session.sign_in(
        &user.id,
        now,
        ip.as_deref(),
        crate::web::user_agent(&req).as_deref(),
    )?;
    if let Some(a) = authz
        && let Some(res) = authorize::resume_after_login(&state, &session, &a, sign_in).await?
    {
        return Ok(res);
    }
    Ok(crate::web::redirect(StatusCode::SEE_OTHER, "/account"))
}

fn event<'a>(
    action: &'a str,
    username: &'a str,
    ip: Option<&'a str>,
    detail: Option<&'a str>,
) -> audit::Event<'a> {
    audit::Event {
        actor: Some(username),
        action,
        target: Some(username),
        ip,
        detail,
    }
}

async fn audit_login(
    state: &AppState,
    action: &'static str,
    username: &str,
    ip: Option<String>,
    detail: Option<&'static str>,
    now: i64,
) -> Result<(), PageError> {
    let name = username.to_string();
    state
        .db
        .run(move |c| audit::record(c, &event(action, &name, ip.as_deref(), detail), now))
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
