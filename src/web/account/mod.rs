//! `/account`: the signed-in person's own page. Who they are, their sessions (browser, address, since, last seen)
//! with "sign out this one" and "sign out all others", the applications they consented to with "revoke", and a
//! password change that needs the current password. The pages extract and render; the rules live in
//! `manage::account`, and `actions` holds the form handlers.

mod actions;
pub mod mfa;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::format_time;
use crate::db::models::{clients, consents, sessions};
use crate::error::PageError;
use crate::session::{self, TypedSession};
use crate::state::AppState;
use crate::web::{csrf, render};

pub use actions::{app_revoke_post, password_post, session_end_post, sessions_end_others_post};

struct SessionLine {
    id: String,
    current: bool,
    browser: String,
    ip: String,
    since: String,
    last_seen: String,
}

struct AppLine {
    client_id: String,
    name: String,
    scope: String,
    granted: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf_token: &'a str,
    username: &'a str,
    name: Option<&'a str>,
    email: Option<&'a str>,
    since: &'a str,
    notice: Option<&'static str>,
    error: Option<&'a str>,
    min_length: usize,
    sessions: Vec<SessionLine>,
    apps: Vec<AppLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccountQuery {
    done: Option<String>,
}

/// The message for a finished action; the query names it, the text is ours (nothing from the request is echoed).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "password" => {
            "Your password is changed. Every other session and every application's refresh token has ended."
        }
        "session" => "That session is signed out.",
        "others" => "Every other session is signed out.",
        "revoked" => "The application's access is revoked.",
        _ => return None,
    })
}

pub async fn account_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<AccountQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    render_page(
        &state,
        &session,
        notice(q.done.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
}

/// Renders the page for the signed-in person (or sends them to sign in).
async fn render_page(
    state: &AppState,
    session: &TypedSession,
    notice: Option<&'static str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let Some((user, sign_in)) = session::current_user(state, session).await? else {
        return Ok(crate::web::redirect(StatusCode::FOUND, "/login"));
    };
    let (uid, now) = (user.id.clone(), state.now());
    let (rows, grants) = state
        .db
        .run(move |c| {
            let rows = sessions::list_for_user(c, &uid, now)?;
            let mut grants = Vec::new();
            for g in consents::list_for_user(c, &uid)? {
                let name = clients::by_id(c, &g.client_id)?.map(|cl| cl.name);
                grants.push((g, name));
            }
            Ok::<_, crate::db::StoreError>((rows, grants))
        })
        .await?;
    let sessions = rows
        .into_iter()
        .map(|r| SessionLine {
            current: r.sid.as_deref() == Some(sign_in.sid.as_str()),
            browser: r.user_agent.unwrap_or_else(|| "unknown browser".into()),
            ip: r.ip.unwrap_or_default(),
            since: format_time(r.auth_time.unwrap_or(r.created_at)),
            last_seen: format_time(r.last_seen_at),
            id: r.id,
        })
        .collect();
    let apps = grants
        .into_iter()
        .map(|(g, name)| AppLine {
            name: name.unwrap_or_else(|| g.client_id.clone()),
            scope: g.scope.clone(),
            granted: format_time(g.granted_at),
            client_id: g.client_id,
        })
        .collect();
    let page = AccountPage {
        csrf_token: &csrf::token(session)?,
        username: &user.username,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
        since: &format_time(sign_in.auth_time),
        notice,
        error,
        min_length: state.settings.passwords.min_length,
        sessions,
        apps,
    };
    Ok(render(status, &page))
}

/// Registers the account page and its forms.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/account")
            .app_data(crate::web::form_config())
            .route("", web::get().to(account_get))
            .route("/password", web::post().to(password_post))
            .route("/sessions/end", web::post().to(session_end_post))
            .route(
                "/sessions/end-others",
                web::post().to(sessions_end_others_post),
            )
            .route("/apps/revoke", web::post().to(app_revoke_post))
            .route("/security", web::get().to(mfa::security_get))
            .route("/security/totp", web::post().to(mfa::totp_start_post))
            .route(
                "/security/totp/confirm",
                web::post().to(mfa::totp_confirm_post),
            )
            .route("/security/codes", web::get().to(mfa::codes_get))
            .route("/security/recovery", web::post().to(mfa::recovery_post))
            .route("/security/remove", web::get().to(mfa::remove_get))
            .route("/security/remove", web::post().to(mfa::remove_post))
            .route(
                "/security/passkey/options",
                web::post().to(mfa::passkey_options),
            )
            .route(
                "/security/passkey/finish",
                web::post().to(mfa::passkey_finish),
            ),
    );
}
