//! The account page's forms. Each checks the CSRF token and the sign-in, calls `manage::account`, and goes back
//! to the page with a fixed notice (303), or shows the page again with the reason when the input was refused.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::crypto::verifier::Verifier;
use crate::db::models::users::User;
use crate::error::PageError;
use crate::manage::{Actor, ManageError, account};
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::web::csrf;
use crate::web::login::attempt::{Attempt, Outcome, authenticate};

/// Longest password looked at; longer ones are refused by the policy anyway.
const MAX_PASSWORD: usize = 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf_token: Option<String>,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionForm {
    csrf_token: Option<String>,
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppForm {
    csrf_token: Option<String>,
    client_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlainForm {
    csrf_token: Option<String>,
}

/// The CSRF check and the signed-in person, or the redirect to sign in.
async fn signed_in(
    state: &AppState,
    session: &TypedSession,
    csrf_token: Option<&str>,
) -> Result<Option<(User, SignIn)>, PageError> {
    csrf::check(session, csrf_token)?;
    session::current_user(state, session).await
}

fn actor(req: &HttpRequest, user: &User) -> Actor {
    Actor {
        name: Some(user.username.clone()),
        ip: crate::web::client_ip(req),
    }
}

fn back(done: &str) -> HttpResponse {
    crate::web::redirect(StatusCode::SEE_OTHER, &format!("/account?done={done}"))
}

fn to_login() -> HttpResponse {
    crate::web::redirect(StatusCode::SEE_OTHER, "/login")
}

/// A refusal the person can fix is shown on the page; anything else is an error page.
async fn refused(
    state: &AppState,
    session: &TypedSession,
    e: ManageError,
) -> Result<HttpResponse, PageError> {
    match e {
        ManageError::Invalid(message) => {
            super::render_page(
                state,
                session,
                None,
                Some(&message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        ManageError::Store(e) => Err(e.into()),
    }
}

/// `POST /account/password`: the current password, the new one twice.
pub async fn password_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    verifier: web::Data<Verifier>,
    session: TypedSession,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((user, sign_in)) = signed_in(&state, &session, form.csrf_token.as_deref()).await?
    else {
        return Ok(to_login());
    };
    if form.new_password != form.confirm_password {
        let e = ManageError::Invalid("The two new passwords differ.".into());
        return refused(&state, &session, e).await;
    }
    if form.current_password.len() > MAX_PASSWORD || form.new_password.len() > MAX_PASSWORD {
        let e = ManageError::Invalid("That password is too long.".into());
        return refused(&state, &session, e).await;
    }
    if form.current_password == form.new_password {
        let e = ManageError::Invalid("The new password must differ from the current one.".into());
        return refused(&state, &session, e).await;
    }
    // The current password is checked like a sign-in: throttled, and bounded with every other argon2 check, so a
    // stolen session cannot guess it at leisure.
    let attempt = Attempt {
        username: user.username.clone(),
        password: form.current_password,
        ip: crate::web::client_ip(&req),
    };
    match authenticate(&state, &verifier, attempt).await? {
        Outcome::Succeeded(u) if u.id == user.id => {}
        Outcome::Locked(_) => {
            let e = ManageError::Invalid(
                "Too many wrong passwords: wait a few minutes before trying again.".into(),
            );
            return refused(&state, &session, e).await;
        }
        _ => {
            let e = ManageError::Invalid("Your current password is not correct.".into());
            return refused(&state, &session, e).await;
        }
    }
    let (uid, sid, actor, now) = (
        user.id.clone(),
        sign_in.sid.clone(),
        actor(&req, &user),
        state.now(),
    );
    let new = form.new_password;
    let policy = state.settings.passwords.clone();
    let result = state
        .db
        .run(move |c| account::change_own_password(c, &uid, &new, &sid, &policy, &actor, now))
        .await;
    match result {
        Ok(()) => {
            // The session that made the change stays signed in, under a new key.
            session.renew();
            Ok(back("password"))
        }
        Err(e) => refused(&state, &session, e).await,
    }
}

/// `POST /account/sessions/end`: signs out one of the person's sessions.
pub async fn session_end_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SessionForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((user, _)) = signed_in(&state, &session, form.csrf_token.as_deref()).await? else {
        return Ok(to_login());
    };
    let (uid, id, actor, now) = (user.id.clone(), form.id, actor(&req, &user), state.now());
    let result = state
        .db
        .run(move |c| account::end_own_session(c, &uid, &id, &actor, now))
        .await;
    match result {
        Ok(()) => Ok(back("session")),
        Err(e) => refused(&state, &session, e).await,
    }
}

/// `POST /account/sessions/end-others`: signs out every session but this one.
pub async fn sessions_end_others_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((user, sign_in)) = signed_in(&state, &session, form.csrf_token.as_deref()).await?
    else {
        return Ok(to_login());
    };
    let (uid, sid, actor, now) = (
        user.id.clone(),
        sign_in.sid,
        actor(&req, &user),
        state.now(),
    );
    let result = state
        .db
        .run(move |c| account::end_other_sessions(c, &uid, &sid, &actor, now))
        .await;
    match result {
        Ok(_) => Ok(back("others")),
        Err(e) => refused(&state, &session, e).await,
    }
}

/// `POST /account/apps/revoke`: withdraws an application's consent and refresh tokens.
pub async fn app_revoke_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<AppForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((user, _)) = signed_in(&state, &session, form.csrf_token.as_deref()).await? else {
        return Ok(to_login());
    };
    let (uid, cid, actor, now) = (
        user.id.clone(),
        form.client_id,
        actor(&req, &user),
        state.now(),
    );
    let result = state
        .db
        .run(move |c| account::revoke_app(c, &uid, &cid, &actor, now))
        .await;
    match result {
        Ok(()) => Ok(back("revoked")),
        Err(e) => refused(&state, &session, e).await,
    }
}
