//! `/admin/users`: list and search, create, disable and enable, set a password, grant or take admin, and each
//! user's live sessions (end one, or all after confirmation). Privilege changes (granting or taking admin,
//! creating an admin, setting a password) need a sign-in within the last five minutes, like destructive actions.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{
    Admin, Confirm, Denied, PAGE_SIZE, admin_form, check_csrf, done, find, manage, page, read,
    recent_admin, respond,
};
use crate::clock::format_time;
use crate::db::models::sessions::{self, SessionRow};
use crate::db::models::users::{self, User};
use crate::error::PageError;
use crate::manage::sessions as session_ops;
use crate::manage::users::{self as ops, NewUserInput};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(users_get))
        .route("/users", web::post().to(users_post))
        .route("/users/{username}", web::get().to(user_get))
        .route(
            "/users/{username}/{setting:(status|admin)}",
            web::post().to(toggle_post),
        )
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
            // One extra row tells whether a next page exists.
            let mut found = read(&state, move |c| {
                users::list(c, Some(&s), PAGE_SIZE + 1, (page_no - 1) * PAGE_SIZE)
            })
            .await?;
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
            // Creating an administrator is a privilege grant: it needs a recent sign-in like granting admin.
            let admin = if form.contains_key("is_admin") {
                let a = recent_admin(&req, &state, &session, "/admin/users").await?;
                check_csrf(&session, &form)?;
                a
            } else {
                admin_form(&req, &state, &session, &form).await?
            };
            let field = |k: &str| form.get(k).map(|v| v.trim().to_string());
            let input = NewUserInput {
                username: field("username").unwrap_or_default(),
                email: field("email"),
                name: field("name"),
                password: form.get("password").cloned().unwrap_or_default(),
                is_admin: form.contains_key("is_admin"),
            };
            let policy = state.settings.passwords.clone();
            let user = manage(&state, &admin, move |c, actor, now| {
                ops::add(c, &input, &policy, actor, now)
            })
            .await?;
            Ok(done(&user_path(&user.username), "User created."))
        }
        .await,
    )
}

async fn load(state: &AppState, username: String) -> Result<User, Denied> {
    find(state, "There is no user with this name.", move |c| {
        users::by_username(c, &username)
    })
    .await
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
            let rows = read(&state, move |c| sessions::list_for_user(c, &uid, now)).await?;
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

/// The `true`/`false` value of a toggle form.
fn flag(form: &HashMap<String, String>, key: &str) -> bool {
    form.get(key).map(String::as_str) == Some("true")
}

/// The two on/off settings of a user, each refused where an admin would lock themselves out.
#[derive(Clone, Copy)]
enum Toggle {
    Disabled,
    Admin,
}

/// `POST /admin/users/{username}/status` (disable or enable) and `.../admin` (grant or take admin).
async fn toggle_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    let (username, setting) = path.into_inner();
    let which = if setting == "admin" {
        Toggle::Admin
    } else {
        Toggle::Disabled
    };
    respond(
        async {
            // Granting or taking admin needs a recent sign-in: a stolen or forgotten session must not be enough.
            let admin = match which {
                Toggle::Admin => {
                    let a = recent_admin(&req, &state, &session, &user_path(&username)).await?;
                    check_csrf(&session, &form)?;
                    a
                }
                Toggle::Disabled => admin_form(&req, &state, &session, &form).await?,
            };
            let (field, locks_out_self) = match which {
                Toggle::Disabled => ("disabled", true),
                Toggle::Admin => ("is_admin", false),
            };
            let on = flag(&form, field);
            if on == locks_out_self && username == admin.user.username {
                return Err(Denied::Page(PageError::bad_request(
                    "You cannot lock yourself out: ask another administrator.",
                )));
            }
            let u = username.clone();
            manage(&state, &admin, move |c, actor, now| match which {
                Toggle::Disabled => ops::set_disabled(c, &u, on, actor, now),
                Toggle::Admin => ops::set_admin(c, &u, on, actor, now),
            })
            .await?;
            let notice = match (which, on) {
                (Toggle::Disabled, true) => "User disabled.",
                (Toggle::Disabled, false) => "User enabled.",
                (Toggle::Admin, true) => "Admin granted.",
                (Toggle::Admin, false) => "Admin taken away.",
            };
            Ok(done(&user_path(&username), notice))
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
            let username = username.into_inner();
            // Setting someone's password takes their account over: it needs a recent sign-in.
            let admin = recent_admin(&req, &state, &session, &user_path(&username)).await?;
            check_csrf(&session, &form)?;
            let (username, password) =
                (username, form.get("password").cloned().unwrap_or_default());
            let (u, policy) = (username.clone(), state.settings.passwords.clone());
            manage(&state, &admin, move |c, actor, now| {
                ops::set_password(c, &u, &password, &policy, actor, now)
            })
            .await?;
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
            let admin = admin_form(&req, &state, &session, &form).await?;
            let (username, id) = path.into_inner();
            let user = load(&state, username.clone()).await?;
            manage(&state, &admin, move |c, actor, now| {
                session_ops::end(c, &user.id, &user.username, &id, actor, now)
            })
            .await?;
            Ok(done(&user_path(&username), "Session ended."))
        }
        .await,
    )
}

fn end_all_path(username: &str) -> String {
    format!("/admin/users/{username}/sessions/end-all")
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
            let back = end_all_path(&username);
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let user = load(&state, username.clone()).await?;
            let message = format!(
                "Every sign-in session of {} ends at once, on every instance, and every refresh token they hold (offline ones too) is revoked; applications registered for back-channel logout are told. They must sign in again everywhere.",
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
            let admin = recent_admin(&req, &state, &session, &end_all_path(&username)).await?;
            check_csrf(&session, &form)?;
            let user = load(&state, username.clone()).await?;
            let n = manage(&state, &admin, move |c, actor, now| {
                session_ops::end_all(c, &user.id, &user.username, actor, now)
            })
            .await?;
            Ok(done(&user_path(&username), &format!("{n} sessions ended.")))
        }
        .await,
    )
}
