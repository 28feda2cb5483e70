//! `/admin/users/{username}/mfa`: a user's second factors (type, name, created, last used) and recovery codes left;
//! remove one factor or reset them all. Both need a recent sign-in and a confirmation, are audited, and end the
//! user's sessions and tokens (`manage::mfa`): whoever lost a factor, or had it stolen, starts again clean.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Admin, Confirm, check_csrf, done, find, manage, page, read, recent_admin, respond};
use crate::clock::format_time;
use crate::db::models::users::{self, User};
use crate::manage::mfa as ops;
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{username}/mfa", web::get().to(mfa_get))
        .route("/users/{username}/mfa/reset", web::get().to(reset_confirm))
        .route("/users/{username}/mfa/reset", web::post().to(reset_post))
        .route(
            "/users/{username}/mfa/{id}/remove",
            web::get().to(remove_confirm),
        )
        .route(
            "/users/{username}/mfa/{id}/remove",
            web::post().to(remove_post),
        );
}

type Form = web::Form<HashMap<String, String>>;

pub struct FactorLine {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "admin/user_mfa.html")]
struct MfaPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    user: User,
    factors: Vec<FactorLine>,
    recovery_left: i64,
}

fn mfa_path(username: &str) -> String {
    format!("/admin/users/{username}/mfa")
}

async fn load(state: &AppState, username: String) -> Result<User, super::Denied> {
    find(state, "No such user.", move |c| {
        users::by_username(c, &username)
    })
    .await
}

async fn mfa_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let user = load(&state, username.into_inner()).await?;
            let uid = user.id.clone();
            let list = read(&state, move |c| ops::list(c, &uid)).await?;
            let notice = web::Query::<HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("notice").cloned());
            Ok(page(&MfaPage {
                admin: &admin,
                notice,
                factors: list
                    .factors
                    .into_iter()
                    .map(|f| FactorLine {
                        kind: ops::describe_kind(&f.kind),
                        created: format_time(f.created_at),
                        last_used: f
                            .last_used_at
                            .map(format_time)
                            .unwrap_or_else(|| "never".into()),
                        id: f.id,
                        name: f.name,
                    })
                    .collect(),
                recovery_left: list.recovery_codes_left,
                user,
            }))
        }
        .await,
    )
}

async fn reset_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let action = format!("{}/reset", mfa_path(&username));
            let admin = recent_admin(&req, &state, &session, &action).await?;
            let user = load(&state, username.clone()).await?;
            let message = format!(
                "Every second factor and recovery code of {} is removed, and every session and token of theirs ends. \
                 They sign in with their password and set up a factor again.",
                user.username
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Reset multi-factor sign-in?",
                message: &message,
                action: &action,
                button: "Remove all factors",
                cancel: &mfa_path(&username),
                reason: false,
            }))
        }
        .await,
    )
}

async fn reset_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let back = format!("{}/reset", mfa_path(&username));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            let name = username.clone();
            let n = manage(&state, &admin, move |c, actor, now| {
                ops::reset(c, &name, actor, now)
            })
            .await?;
            Ok(done(
                &mfa_path(&username),
                &format!("{n} factor(s) removed."),
            ))
        }
        .await,
    )
}

async fn remove_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    respond(
        async {
            let (username, id) = path.into_inner();
            let action = format!("{}/{id}/remove", mfa_path(&username));
            let admin = recent_admin(&req, &state, &session, &action).await?;
            let user = load(&state, username.clone()).await?;
            let uid = user.id.clone();
            let list = read(&state, move |c| ops::list(c, &uid)).await?;
            let Some(f) = list.factors.iter().find(|f| f.id == id) else {
                return Err(super::Denied::Page(crate::error::PageError::not_found("No such factor.")));
            };
            let message = format!(
                "{} \u{201c}{}\u{201d} of {} is removed, and every session and token of theirs ends.",
                ops::describe_kind(&f.kind),
                f.name,
                user.username
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Remove this factor?",
                message: &message,
                action: &action,
                button: "Remove",
                cancel: &mfa_path(&username),
                reason: false,
            }))
        }
        .await,
    )
}

async fn remove_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    path: web::Path<(String, String)>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let (username, id) = path.into_inner();
            let back = format!("{}/{id}/remove", mfa_path(&username));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            let user = load(&state, username.clone()).await?;
            manage(&state, &admin, move |c, actor, now| {
                ops::remove(c, &user, &id, false, true, actor, now)
            })
            .await?;
            Ok(done(&mfa_path(&username), "Factor removed."))
        }
        .await,
    )
}
