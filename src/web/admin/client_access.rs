//! On a client's console page: who may sign in (allowed groups), which API scopes it may be granted, and its app
//! roles (`POST /admin/clients/{id}/access` and `/admin/clients/{id}/roles`).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use super::{admin_form, done, manage, respond};
use crate::manage::clients::{self as ops, ClientUpdate};
use crate::manage::roles;
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/clients/{id}/access", web::post().to(access_post))
        .route("/clients/{id}/roles", web::post().to(roles_post));
}

type Form = web::Form<HashMap<String, String>>;

fn words(form: &HashMap<String, String>, key: &str) -> Vec<String> {
    form.get(key)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Replaces the allowed groups and API scopes as submitted (blank groups: everyone may sign in).
async fn access_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let id = id.into_inner();
            let change = ClientUpdate {
                allowed_groups: Some(words(&form, "allowed_groups")),
                allowed_scopes: Some(words(&form, "allowed_scopes")),
                ..ClientUpdate::default()
            };
            let cid = id.clone();
            manage(&state, &admin, move |c, actor, now| {
                ops::update(c, &cid, &change, actor, now)
            })
            .await?;
            Ok(done(&format!("/admin/clients/{id}"), "Access saved."))
        }
        .await,
    )
}

/// `role`, `groups` (space-separated) and `action=add|remove`.
async fn roles_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let id = id.into_inner();
            let role = form
                .get("role")
                .map(|r| r.trim().to_string())
                .unwrap_or_default();
            let groups = words(&form, "groups");
            let add = form.get("action").map(String::as_str) == Some("add");
            let (cid, r) = (id.clone(), role.clone());
            manage(&state, &admin, move |c, actor, now| match add {
                true => roles::add(c, &cid, &r, &groups, actor, now).map(|_| ()),
                false => roles::remove(c, &cid, &r, actor, now),
            })
            .await?;
            let notice = if add { "Role saved." } else { "Role removed." };
            Ok(done(&format!("/admin/clients/{id}"), notice))
        }
        .await,
    )
}
