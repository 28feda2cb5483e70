//! `GET /account`: who is signed in, since when, and a sign-out button (a CSRF-protected POST to `/logout`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::clock::format_time;
use crate::error::PageError;
use crate::session::{self, TypedSession};
use crate::startup::AppState;
use crate::web::{csrf, render};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    name: Option<&'a str>,
    email: Option<&'a str>,
    since: &'a str,
}

pub async fn account_get(
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let Some((user, sign_in)) = session::current_user(&state, &session).await? else {
        return Ok(crate::web::redirect(StatusCode::FOUND, "/login"));
    };
    let page = AccountPage {
        csrf_token: &csrf::token(&session)?,
        username: &user.username,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
        since: &format_time(sign_in.auth_time),
    };
    Ok(render(StatusCode::OK, &page))
}
