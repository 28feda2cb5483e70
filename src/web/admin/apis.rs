//! `/admin/apis`: APIs (resource servers) with their scopes: list, register, replace scopes, remove after
//! confirmation. An identifier is a URI, so it travels in the query or the form, never in the path.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Admin, Confirm, admin_form, check_csrf, done, manage, page, recent_admin, respond};
use crate::manage::apis::{self as ops, ApiInfo};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(apis_get))
        .route("/apis", web::post().to(apis_post))
        .route("/api/scopes", web::post().to(scopes_post))
        .route("/api/remove", web::get().to(remove_confirm))
        .route("/api/remove", web::post().to(remove_post));
}

type Form = web::Form<HashMap<String, String>>;

/// An API as the page shows it, with its scopes one `scope=description` per line for editing.
struct ApiLine {
    api: ApiInfo,
    scope_lines: String,
    query: String,
}

#[derive(Template)]
#[template(path = "admin/apis.html")]
struct ApisPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    apis: Vec<ApiLine>,
}

fn scope_specs(form: &HashMap<String, String>) -> Vec<String> {
    form.get("scopes")
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

fn query(identifier: &str) -> String {
    serde_urlencoded::to_string([("identifier", identifier)]).unwrap_or_default()
}

async fn apis_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let list = manage(&state, &admin, |c, _, _| ops::list(c)).await?;
            let apis = list
                .into_iter()
                .map(|api| ApiLine {
                    scope_lines: api
                        .scopes
                        .iter()
                        .map(|s| match &s.description {
                            Some(d) => format!("{}={d}", s.scope),
                            None => s.scope.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    query: query(&api.identifier),
                    api,
                })
                .collect();
            Ok(page(&ApisPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                apis,
            }))
        }
        .await,
    )
}

async fn apis_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let identifier = form.get("identifier").cloned().unwrap_or_default();
            let name = form.get("name").cloned().unwrap_or_default();
            let scopes = scope_specs(&form);
            manage(&state, &admin, move |c, actor, now| {
                ops::add(c, &identifier, &name, &scopes, actor, now)
            })
            .await?;
            Ok(done("/admin/apis", "API registered."))
        }
        .await,
    )
}

/// Replaces an API's scopes (`identifier`, `scopes` one per line).
async fn scopes_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let identifier = form.get("identifier").cloned().unwrap_or_default();
            let scopes = scope_specs(&form);
            manage(&state, &admin, move |c, actor, now| {
                ops::update(c, &identifier, None, Some(&scopes), actor, now)
            })
            .await?;
            Ok(done("/admin/apis", "Scopes saved."))
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
            let identifier = q.get("identifier").cloned().unwrap_or_default();
            let back = format!("/admin/api/remove?{}", query(&identifier));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let message = format!(
                "API \u{201c}{identifier}\u{201d} is removed with its scopes; clients lose them. Access tokens \
                 already issued for it stay valid until they expire."
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Remove this API?",
                message: &message,
                action: &back,
                button: "Remove API",
                cancel: "/admin/apis",
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
            let identifier = q.get("identifier").cloned().unwrap_or_default();
            let back = format!("/admin/api/remove?{}", query(&identifier));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            manage(&state, &admin, move |c, actor, now| {
                ops::remove(c, &identifier, actor, now)
            })
            .await?;
            Ok(done("/admin/apis", "API removed."))
        }
        .await,
    )
}
