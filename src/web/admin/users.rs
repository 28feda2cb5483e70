//! `/admin/users`: list and search, create, disable and enable, set a password, grant or take admin, and each
//! user's live sessions (end one, or all after confirmation).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{
    Admin, Confirm, Denied, PAGE_SIZE, check_csrf, done, manage_error, page, recent_admin, respond,
};
use crate::clock::format_time;
use crate::db::models::sessions::{self, SessionRow};
use crate::db::models::users::{self, User};
use crate::error::PageError;
use crate::manage::users::NewUserInput;
use crate::session::TypedSession;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(users_get))
        .route("/users", web::post().to(users_post))
        .route("/users/{username}", web::get().to(user_get))
        .route("/users/{username}/status", web::post().to(status_post))
        .route("/users/{username}/admin", web::post().to(admin_post))
        .route("/users/{username}/password", web::post().to(password_post))
        .route(
            "/users/{username}/sessions/{id}/end",
            web::post().to(end_session_post),
        )
        .route(
            "/users/{username}/sessions/end-all",
            web::get().to(end_all_confirm),
        )
        .route(
            "/users/{username}/sessions/end-all",
            web::post().to(end_all_post),
        );
}

type Form = web::Form<HashMap<String, String>>;

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    users: Vec<User>,
    q: String,
    prev: Option<String>,
    next: Option<String>,
}

pub struct SessionLine {
    pub row: SessionRow,
    pub signed_in: String,
    pub last_seen: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    user: User,
    created: String,
    sessions: Vec<SessionLine>,
}

fn page_link(q: &str, page: i64) -> String {
    format!(
        "/admin/users?{}",
        serde_urlencoded::to_string([("q", q.to_string()), ("page", page.to_string())])
            .unwrap_or_default()
    )
}

async fn users_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let search = q.get("q").cloned().unwrap_or_default();
            let page_no = q
                .get("page")
                .and_then(|p| p.parse::<i64>().ok())
                .unwrap_or(1)
                .clamp(1, 10_000);
            let s = search.clone();
            let mut found = state
                .db
                .run(move |c| users::list(c, Some(&s), PAGE_SIZE + 1, (page_no - 1) * PAGE_SIZE))
                .await
                .map_err(PageError::from)?;
            let has_next = found.len() as i64 > PAGE_SIZE;
            found.truncate(PAGE_SIZE as usize);
            Ok(page(&UsersPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                users: found,
                prev: (page_no > 1).then(|| page_link(&search, page_no - 1)),
                next: has_next.then(|| page_link(&search, page_no + 1)),
                q: search,
            }))
        }
        .await,
    )
}

async fn users_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            check_csrf(&session, &form)?;
            let input = NewUserInput {
                username: form
                    .get("username")
                    .map(|u| u.trim().to_string())
                    .unwrap_or_default(),
                email: form.get("email").map(|e| e.trim().to_string()),
                name: form.get("name").map(|n| n.trim().to_string()),
                password: form.get("password").cloned().unwrap_or_default(),
                is_admin: form.contains_key("is_admin"),
            };
            let (actor, now) = (admin.actor(), state.now());
            let user = state
                .db
                .run(move |c| crate::manage::users::add(c, &input, &actor, now))
                .await
                .map_err(manage_error)?;
            Ok(done(
                &format!("/admin/users/{}", user.username),
                "User created.",
            ))
        }
        .await,
    )
}

async fn load(state: &AppState, username: String) -> Result<User, Denied> {
    state
        .db
        .run(move |c| users::by_username(c, &username))
        .await
        .map_err(PageError::from)?
        .ok_or_else(|| Denied::Page(PageError::not_found("There is no user with this name.")))
}

async fn user_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let user = load(&state, username.into_inner()).await?;
            let (uid, now) = (user.id.clone(), state.now());
            let rows = state
                .db
                .run(move |c| sessions::list_for_user(c, &uid, now))
                .await
                .map_err(PageError::from)?;
            Ok(page(&UserPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                created: format_time(user.created_at),
                user,
                sessions: rows
                    .into_iter()
                    .map(|row| SessionLine {
                        signed_in: row.auth_time.map(format_time).unwrap_or_else(|| "-".into()),
                        last_seen: format_time(row.last_seen_at),
                        row,
                    })
                    .collect(),
            }))
        }
        .await,
    )
}

fn user_path(username: &str) -> String {
    format!("/admin/users/{username}")
}

async fn status_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            check_csrf(&session, &form)?;
            let username = username.into_inner();
            if username == admin.user.username {
                return Err(Denied::Page(PageError::bad_request(
                    "You cannot disable your own account.",
                )));
            }
            let disable = form.get("disabled").map(String::as_str) == Some("true");
            let (actor, now, u) = (admin.actor(), state.now(), username.clone());
            state
                .db
                .run(move |c| crate::manage::users::set_disabled(c, &u, disable, &actor, now))
                .await
                .map_err(manage_error)?;
            Ok(done(
                &user_path(&username),
                if disable {
                    "User disabled."
                } else {
                    "User enabled."
                },
            ))
        }
        .await,
    )
}

async fn admin_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            check_csrf(&session, &form)?;
            let username = username.into_inner();
            let grant = form.get("is_admin").map(String::as_str) == Some("true");
            if !grant && username == admin.user.username {
                return Err(Denied::Page(PageError::bad_request(
                    "You cannot take admin away from yourself; ask another administrator.",
                )));
            }
            let (actor, now, u) = (admin.actor(), state.now(), username.clone());
            state
                .db
                .run(move |c| crate::manage::users::set_admin(c, &u, grant, &actor, now))
                .await
                .map_err(manage_error)?;
            Ok(done(
                &user_path(&username),
                if grant {
                    "Admin granted."
                } else {
                    "Admin taken away."
                },
            ))
        }
        .await,
    )
}

async fn password_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            check_csrf(&session, &form)?;
            let username = username.into_inner();
            let password = form.get("password").cloned().unwrap_or_default();
            let (actor, now, u) = (admin.actor(), state.now(), username.clone());
            state
                .db
                .run(move |c| crate::manage::users::set_password(c, &u, &password, &actor, now))
                .await
                .map_err(manage_error)?;
            Ok(done(&user_path(&username), "Password set."))
        }
        .await,
    )
}

async fn end_session_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            check_csrf(&session, &form)?;
            let (username, id) = path.into_inner();
            let user = load(&state, username.clone()).await?;
            let (actor, now) = (admin.actor(), state.now());
            state
                .db
                .run(move |c| {
                    crate::manage::sessions::end(c, &user.id, &user.username, &id, &actor, now)
                })
                .await
                .map_err(manage_error)?;
            Ok(done(&user_path(&username), "Session ended."))
        }
        .await,
    )
}

async fn end_all_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let back = format!("/admin/users/{username}/sessions/end-all");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let user = load(&state, username.clone()).await?;
            let message = format!(
                "Every sign-in session of {} ends at once, on every instance. They must sign in again everywhere.",
                user.username
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "End all sessions?",
                message: &message,
                action: &back,
                button: "End all sessions",
                cancel: &user_path(&username),
                reason: false,
            }))
        }
        .await,
    )
}

async fn end_all_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let back = format!("/admin/users/{username}/sessions/end-all");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            let user = load(&state, username.clone()).await?;
            let (actor, now) = (admin.actor(), state.now());
            let n = state
                .db
                .run(move |c| {
                    crate::manage::sessions::end_all(c, &user.id, &user.username, &actor, now)
                })
                .await
                .map_err(manage_error)?;
            Ok(done(&user_path(&username), &format!("{n} sessions ended.")))
        }
        .await,
    )
}
