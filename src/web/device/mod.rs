//! The `/device` page of the device authorization grant (RFC 8628 3.3): the person signs in (the login page and
//! its second step, coming back here), enters or confirms the code the device shows, sees the application and
//! what it asks for, and allows or denies. Every typed code counts against a throttle (per user and per address,
//! decided atomically in the database like sign-in throttling) before it is looked up, and only a code that was
//! found is forgiven. The codes found are kept in the session, and the decision form's code must be one of them,
//! so the decision cannot be used to guess, and each tab decides the request it shows.

pub mod rules;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use crate::db::StoreError;
use crate::db::models::clients::{self, Client};
use crate::db::models::device_codes;
use crate::domain::user_code::UserCode;
use crate::error::PageError;
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::web::authn::Level;
use crate::web::consent::{ScopeLine, scope_lines};
use crate::web::login::throttle::Policy;
use crate::web::{csrf, render};
use rules::{Decided, Lookup, lookup, record_decision, subjects};

/// The session key of the requests being decided.
const PENDING_KEY: &str = "device";
/// At most this many requests wait in one session for Allow or Deny; the oldest goes first.
const MAX_PENDING: usize = 5;

#[derive(Template)]
#[template(path = "device.html")]
struct EnterPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    user_code: &'a str,
    client_name: &'a str,
    scopes: Vec<ScopeLine>,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf_token: Option<String>,
    user_code: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    csrf_token: Option<String>,
    user_code: String,
    decision: Option<String>,
}

/// The requests found for this session's user, waiting for Allow or Deny (user code hashes, oldest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Pending {
    user_id: String,
    user_code_hashes: Vec<String>,
}

impl Pending {
    fn of(session: &TypedSession, user_id: &str) -> Pending {
        session
            .get::<Pending>(PENDING_KEY)
            .filter(|p| p.user_id == user_id)
            .unwrap_or_else(|| Pending {
                user_id: user_id.to_string(),
                user_code_hashes: Vec::new(),
            })
    }

    fn add(&mut self, hash: &str) {
        self.user_code_hashes.retain(|h| h != hash);
        if self.user_code_hashes.len() >= MAX_PENDING {
            self.user_code_hashes.remove(0);
        }
        self.user_code_hashes.push(hash.to_string());
    }

    /// Takes `hash` out; `false` when it was not waiting here.
    fn take(&mut self, hash: &str) -> bool {
        let before = self.user_code_hashes.len();
        self.user_code_hashes.retain(|h| h != hash);
        self.user_code_hashes.len() < before
    }

    fn store(&self, session: &TypedSession) -> Result<(), PageError> {
        if self.user_code_hashes.is_empty() {
            session.remove(PENDING_KEY);
            Ok(())
        } else {
            session.set(PENDING_KEY, self)
        }
    }
}

/// This page again, with the code (for the login and second-step pages to come back to).
fn here(user_code: Option<&str>) -> String {
    match user_code.and_then(UserCode::parse) {
        Some(c) => format!("/device?user_code={}", c.display()),
        None => "/device".into(),
    }
}

fn to_login(status: StatusCode, user_code: Option<&str>) -> HttpResponse {
    let q = serde_urlencoded::to_string([("return_to", here(user_code))]).unwrap_or_default();
    crate::web::redirect(status, &format!("/login?{q}"))
}

/// The second step (or enrolment) for a client that requires MFA, coming back here.
fn to_second_step(user_code: Option<&str>) -> HttpResponse {
    let q = serde_urlencoded::to_string([("return_to", here(user_code))]).unwrap_or_default();
    crate::web::redirect(StatusCode::SEE_OTHER, &format!("/login/second?{q}"))
}

fn needs_step_up(client: &Client, sign_in: &SignIn) -> bool {
    client.require_mfa && sign_in.level() < Level::Mfa
}

/// `GET /device[?user_code=...]`: the code form, filled in when the device's link carried the code (the person
/// still confirms it matches what the device shows, RFC 8628 5.4).
pub async fn device_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<DeviceQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let Some((user, _)) = session::current_user(&state, &session).await? else {
        return Ok(to_login(StatusCode::FOUND, q.user_code.as_deref()));
    };
    let shown = q.user_code.as_deref().and_then(UserCode::parse);
    let page = EnterPage {
        csrf_token: &csrf::token(&session)?,
        username: &user.username,
        user_code: &shown.map(|c| c.display()).unwrap_or_default(),
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /device`: looks the typed code up (throttled) and shows what the application asks for.
pub async fn device_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let Some((user, sign_in)) = session::current_user(&state, &session).await? else {
        return Ok(to_login(StatusCode::SEE_OTHER, Some(&form.user_code)));
    };
    let csrf_token = csrf::token(&session)?;
    let retry = |message: &str| {
        let page = EnterPage {
            csrf_token: &csrf_token,
            username: &user.username,
            user_code: "",
            error: Some(message),
        };
        render(StatusCode::BAD_REQUEST, &page)
    };
    let Some(code) = UserCode::parse(&form.user_code) else {
        return Ok(retry(
            "That is not a code Porta gives out: it has eight letters, like BCDF-GHJK.",
        ));
    };
    let policy = Policy::from_settings(&state.settings.login);
    let subjects = subjects(&user.id, crate::web::client_ip(&req).as_deref());
    let (now, hash) = (state.now(), code.hash());
    let found = state
        .db
        .run(move |c| lookup(c, &policy, &subjects, &hash, now))
        .await?;
    let (row, client) = match found {
        Lookup::Locked(until) => return Ok(too_many(until - now)),
        Lookup::Unknown => {
            return Ok(retry(
                "That code is not recognised or has expired. Check the code on your device, or start again there.",
            ));
        }
        Lookup::Found(found) => *found,
    };
    if needs_step_up(&client, &sign_in) {
        return Ok(to_second_step(Some(&code.display())));
    }
    let mut pending = Pending::of(&session, &user.id);
    pending.add(&row.user_code_hash);
    pending.store(&session)?;
    let page = ConfirmPage {
        csrf_token: &csrf_token,
        username: &user.username,
        user_code: &code.display(),
        client_name: &client.name,
        scopes: scope_lines(&state, &row.scope).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /device/decision`: `decision=allow` or `decision=deny` for the request found by `POST /device`.
pub async fn decision_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let allow = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(PageError::bad_request("Choose Allow or Deny.")),
    };
    let Some((user, sign_in)) = session::current_user(&state, &session).await? else {
        return Ok(to_login(StatusCode::SEE_OTHER, None));
    };
    // Only a code this session looked up (throttled) can be decided: the form's code is no way to guess.
    let hash = UserCode::parse(&form.user_code)
        .map(|c| c.hash())
        .ok_or_else(expired)?;
    let mut pending = Pending::of(&session, &user.id);
    if !pending.take(&hash) {
        return Err(expired());
    }
    let now = state.now();
    let found = state
        .db
        .run(move |c| {
            let Some(row) = device_codes::pending_by_user_code(c, &hash, now)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(clients::by_id(c, &row.client_id)?.map(|client| (row, client)))
        })
        .await?;
    let Some((row, client)) = found else {
        pending.store(&session)?;
        return Err(expired());
    };
    if needs_step_up(&client, &sign_in) {
        return Ok(to_second_step(Some(&form.user_code)));
    }
    pending.store(&session)?;
    let ip = crate::web::client_ip(&req);
    let client_name = client.name.clone();
    let decided = state
        .db
        .run(move |c| record_decision(c, &row, &user, &sign_in, allow, ip.as_deref(), now))
        .await?;
    let (title, message) = match decided {
        Decided::Approved => (
            "Device connected",
            format!("{client_name} can now continue on your device. You can close this page."),
        ),
        Decided::Denied => (
            "Request denied",
            format!("{client_name} was not given access. You can close this page."),
        ),
        Decided::NotAllowed => (
            "Not allowed",
            format!("Your account is not in a group allowed to use {client_name}."),
        ),
        Decided::Gone => return Err(expired()),
    };
    Ok(render(
        StatusCode::OK,
        &DonePage {
            title,
            message: &message,
        },
    ))
}

fn expired() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Request expired",
        "This device request has expired or was already answered. Start again on your device.",
    )
}

/// HTTP 429 with `Retry-After`, for too many wrong codes.
fn too_many(wait: i64) -> HttpResponse {
    let wait = wait.max(1);
    let e = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        format!(
            "Too many codes that did not match. Try again in about {} minutes.",
            (wait + 59) / 60
        ),
    );
    let mut res = crate::web::error_page::render(&e);
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}
