//! `/admin/groups`: groups and their members (create, remove after confirmation, add and remove members), and
//! on a user's page their groups, profile (email, name, email verified) and removal. A group name may hold `/`,
//! so it travels in the query or the form, never in the path.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Admin, Confirm, admin_form, check_csrf, done, manage, page, recent_admin, respond};
use crate::db::models::users::ProfileChange;
use crate::manage::groups::{self as ops, GroupInfo};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/groups", web::get().to(groups_get))
        .route("/groups", web::post().to(groups_post))
        .route("/group", web::get().to(group_get))
        .route("/group/members", web::post().to(members_post))
        .route("/group/remove", web::get().to(remove_confirm))
        .route("/group/remove", web::post().to(remove_post))
        .route("/users/{username}/profile", web::post().to(profile_post))
        .route(
            "/users/{username}/remove",
            web::get().to(user_remove_confirm),
        )
        .route("/users/{username}/remove", web::post().to(user_remove_post));
}

type Form = web::Form<HashMap<String, String>>;

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    groups: Vec<GroupInfo>,
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    group: GroupInfo,
    query: String,
}

fn group_path(name: &str) -> String {
    format!(
        "/admin/group?{}",
        serde_urlencoded::to_string([("name", name)]).unwrap_or_default()
    )
}

async fn groups_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let groups = manage(&state, &admin, |c, _, _| ops::list(c)).await?;
            Ok(page(&GroupsPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                groups,
            }))
        }
        .await,
    )
}

async fn groups_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let name = form.get("name").cloned().unwrap_or_default();
            let description = form.get("description").cloned();
            let g = manage(&state, &admin, move |c, actor, now| {
                ops::add(c, &name, description.as_deref(), actor, now)
            })
            .await?;
            Ok(done(&group_path(&g.name), "Group created."))
        }
        .await,
    )
}

async fn group_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let name = q.get("name").cloned().unwrap_or_default();
            let group = manage(&state, &admin, move |c, _, _| {
                let g = ops::find(c, &name)?;
                let members = ops::members(c, &g.name)?;
                Ok(GroupInfo {
                    name: g.name,
                    description: g.description,
                    members,
                })
            })
            .await?;
            Ok(page(&GroupPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                query: serde_urlencoded::to_string([("name", &group.name)]).unwrap_or_default(),
                group,
            }))
        }
        .await,
    )
}

/// `POST /admin/group/members`: `name`, `username`, `action=add|remove`. `back=user` returns to the user page.
async fn members_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let field = |k: &str| {
                form.get(k)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            let (name, username, add) =
                (field("name"), field("username"), field("action") == "add");
            let (n, u) = (name.clone(), username.clone());
            let changed = manage(&state, &admin, move |c, actor, now| match add {
                true => ops::add_member(c, &n, &u, actor, now),
                false => ops::remove_member(c, &n, &u, actor, now),
            })
            .await?;
            let notice = match (add, changed) {
                (true, true) => format!("{username} added to {name}."),
                (false, true) => format!("{username} removed from {name}."),
                (true, false) => format!("{username} was already in {name}."),
                (false, false) => format!("{username} was not in {name}."),
            };
            let back = match field("back").as_str() {
                "user" => format!("/admin/users/{username}"),
                _ => group_path(&name),
            };
            Ok(done(&back, &notice))
        }
        .await,
    )
}

async fn remove_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let name = q.get("name").cloned().unwrap_or_default();
            let query = serde_urlencoded::to_string([("name", &name)]).unwrap_or_default();
            let back = format!("/admin/group/remove?{query}");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let message = format!(
                "Group \u{201c}{name}\u{201d} is removed with its memberships, the applications it admitted and \
                 the roles it granted. Its members lose access to applications that admit only this group."
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Remove this group?",
                message: &message,
                action: &back,
                button: "Remove group",
                cancel: &group_path(&name),
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
    q: web::Query<HashMap<String, String>>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let name = q.get("name").cloned().unwrap_or_default();
            let query = serde_urlencoded::to_string([("name", &name)]).unwrap_or_default();
            let admin = recent_admin(
                &req,
                &state,
                &session,
                &format!("/admin/group/remove?{query}"),
            )
            .await?;
            check_csrf(&session, &form)?;
            manage(&state, &admin, move |c, actor, now| {
                ops::remove(c, &name, actor, now)
            })
            .await?;
            Ok(done("/admin/groups", "Group removed."))
        }
        .await,
    )
}

/// `POST /admin/users/{username}/profile`: email, name, email verified, as shown on the form.
async fn profile_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let username = username.into_inner();
            let change = ProfileChange {
                email: Some(form.get("email").cloned()),
                name: Some(form.get("name").cloned()),
                email_verified: Some(form.contains_key("email_verified")),
            };
            let u = username.clone();
            manage(&state, &admin, move |c, actor, now| {
                crate::manage::users::update(c, &u, &change, actor, now)
            })
            .await?;
            Ok(done(&format!("/admin/users/{username}"), "Profile saved."))
        }
        .await,
    )
}

async fn user_remove_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let back = format!("/admin/users/{username}/remove");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let message = format!(
                "User \u{201c}{username}\u{201d} is removed: every session ends (applications registered for \
                 back-channel logout are told), and their refresh tokens, consents and group memberships are \
                 deleted. The audit log keeps the name."
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Remove this user?",
                message: &message,
                action: &back,
                button: "Remove user",
                cancel: &format!("/admin/users/{username}"),
                reason: false,
            }))
        }
        .await,
    )
}

async fn user_remove_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    username: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let username = username.into_inner();
            let back = format!("/admin/users/{username}/remove");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            manage(&state, &admin, move |c, actor, now| {
                crate::manage::users::remove(c, &username, actor, now)
            })
            .await?;
            Ok(done("/admin/users", "User removed."))
        }
        .await,
    )
}
