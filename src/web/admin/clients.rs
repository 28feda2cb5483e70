//! `/admin/clients`: list, register (secret shown once), edit URIs and options (back-channel logout, PKCE),
//! see recent back-channel logout deliveries, rotate the secret, remove.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{
    Admin, Confirm, Denied, admin_form, check_csrf, done, find, manage, page, read, recent_admin,
    respond,
};
use crate::db::models::clients::{self, Client};
use crate::db::models::logout_outbox::{self, OutboxRow};
use crate::manage::clients::{
    self as ops, ClientOptions, ClientUpdate, NewClientInput, Registered,
};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/clients", web::get().to(clients_get))
        .route("/clients", web::post().to(clients_post))
        .route("/clients/{id}", web::get().to(client_get))
        .route("/clients/{id}", web::post().to(client_post))
        .route(
            "/clients/{id}/rotate-secret",
            web::post().to(rotate_secret_post),
        )
        .route("/clients/{id}/remove", web::get().to(remove_confirm))
        .route("/clients/{id}/remove", web::post().to(remove_post));
}

type Form = web::Form<HashMap<String, String>>;

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    clients: Vec<Client>,
    /// The signing algorithms offered: the enabled key families (and, on a client's page, its current ones).
    algs: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct ClientPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    client: Client,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    deliveries: Vec<Delivery>,
    /// Allowed groups and API scopes (issue 12).
    access: crate::manage::access::ClientAccess,
    roles: Vec<crate::db::models::client_roles::Role>,
    /// The signing algorithms offered: the enabled key families (and, on a client's page, its current ones).
    algs: Vec<&'static str>,
}

/// Back-channel logout messages shown on a client's page.
const RECENT_DELIVERIES: i64 = 20;

/// One logout token as the console shows it.
struct Delivery {
    created_at: String,
    status: &'static str,
    attempts: i32,
    /// When it was delivered, failed, or will be tried next.
    when: String,
    last_error: String,
}

impl Delivery {
    fn from_row(r: &OutboxRow) -> Delivery {
        let t = crate::clock::format_time;
        let (status, when) = match (r.delivered_at, r.failed_at) {
            (Some(at), _) => ("delivered", t(at)),
            (None, Some(at)) => ("failed", t(at)),
            (None, None) if r.attempts == 0 => ("queued", t(r.next_attempt_at)),
            (None, None) => ("retrying", t(r.next_attempt_at)),
        };
        Delivery {
            created_at: t(r.created_at),
            status,
            attempts: r.attempts,
            when,
            last_error: r.last_error.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/secret.html")]
struct SecretPage<'a> {
    admin: &'a Admin,
    name: &'a str,
    registered: Registered,
}

/// One URI per line (or separated by spaces).
fn lines(s: Option<&String>) -> Vec<String> {
    s.map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

async fn clients_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let clients = read(&state, clients::list).await?;
            Ok(page(&ClientsPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                clients,
                algs: offered_algs(&state, &[]),
            }))
        }
        .await,
    )
}

async fn clients_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let mut grant_types: Vec<String> = ops::GRANT_TYPES
                .iter()
                .filter(|g| form.contains_key(&format!("grant_{g}")))
                .map(|g| g.to_string())
                .collect();
            if grant_types.is_empty() {
                grant_types = vec!["authorization_code".into(), "refresh_token".into()];
            }
            let input = NewClientInput {
                name: form.get("name").cloned().unwrap_or_default(),
                redirect_uris: lines(form.get("redirect_uris")),
                post_logout_redirect_uris: lines(form.get("post_logout_redirect_uris")),
                is_public: form.contains_key("public"),
                grant_types,
                first_party: form.contains_key("first_party"),
            };
            let options = ClientOptions {
                backchannel_logout_uri: form.get("backchannel_logout_uri").cloned(),
                backchannel_logout_session_required: form
                    .contains_key("backchannel_logout_session_required"),
                require_pkce: form.contains_key("require_pkce"),
                allowed_groups: words(form.get("allowed_groups")),
                allowed_scopes: words(form.get("allowed_scopes")),
                require_mfa: form.contains_key("require_mfa"),
                web_origins: words(form.get("web_origins")),
                require_par: form.contains_key("require_par"),
                require_dpop: form.contains_key("require_dpop"),
                id_token_alg: form.get("id_token_alg").cloned(),
                access_token_alg: form.get("access_token_alg").cloned(),
                enabled_algs: Some(state.keys.algorithms().to_vec()),
            };
            let name = input.name.clone();
            let registered = manage(&state, &admin, move |c, actor, now| {
                ops::add_with(c, &input, &options, actor, now)
            })
            .await?;
            Ok(page(&SecretPage {
                admin: &admin,
                name: &name,
                registered,
            }))
        }
        .await,
    )
}

/// A space- or line-separated list from a form field.
fn words(v: Option<&String>) -> Vec<String> {
    v.map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

async fn load(state: &AppState, id: String) -> Result<Client, Denied> {
    find(state, "There is no client with this id.", move |c| {
        clients::by_id(c, &id)
    })
    .await
}

async fn client_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    id: web::Path<String>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let client = load(&state, id.into_inner()).await?;
            let cid = client.id.clone();
            let deliveries = read(&state, move |c| {
                logout_outbox::recent_for_client(c, &cid, RECENT_DELIVERIES)
            })
            .await?;
            let cid = client.id.clone();
            let (access, roles) = manage(&state, &admin, move |c, _, _| {
                let access = crate::manage::access::of_client(c, &cid)?;
                Ok((access, crate::db::models::client_roles::list(c, &cid)?))
            })
            .await?;
            Ok(page(&ClientPage {
                access,
                roles,
                algs: offered_algs(&state, &[&client.id_token_alg, &client.access_token_alg]),
                admin: &admin,
                notice: q.get("notice").cloned(),
                redirect_uris: client.redirect_uris.join("\n"),
                post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
                deliveries: deliveries.iter().map(Delivery::from_row).collect(),
                client,
            }))
        }
        .await,
    )
}

async fn client_post(
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
            let cid = id.clone();
            // The form shows every setting, so each is written as submitted (an unchecked box is `false`, a
            // blank back-channel URI removes it).
            let change = ClientUpdate {
                redirect_uris: Some(lines(form.get("redirect_uris"))),
                post_logout_redirect_uris: Some(lines(form.get("post_logout_redirect_uris"))),
                backchannel_logout_uri: Some(
                    form.get("backchannel_logout_uri")
                        .map(|u| u.trim().to_string())
                        .filter(|u| !u.is_empty()),
                ),
                backchannel_logout_session_required: Some(
                    form.contains_key("backchannel_logout_session_required"),
                ),
                require_pkce: Some(form.contains_key("require_pkce")),
                require_mfa: Some(form.contains_key("require_mfa")),
                web_origins: Some(words(form.get("web_origins"))),
                require_par: Some(form.contains_key("require_par")),
                require_dpop: Some(form.contains_key("require_dpop")),
                id_token_alg: form.get("id_token_alg").cloned(),
                access_token_alg: form.get("access_token_alg").cloned(),
                enabled_algs: Some(state.keys.algorithms().to_vec()),
                ..ClientUpdate::default()
            };
            manage(&state, &admin, move |c, actor, now| {
                ops::update(c, &cid, &change, actor, now)
            })
            .await?;
            Ok(done(&format!("/admin/clients/{id}"), "Saved."))
        }
        .await,
    )
}

async fn rotate_secret_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let admin = admin_form(&req, &state, &session, &form).await?;
            let client = load(&state, id.into_inner()).await?;
            let cid = client.id.clone();
            let registered = manage(&state, &admin, move |c, actor, now| {
                ops::rotate_secret(c, &cid, actor, now)
            })
            .await?;
            Ok(page(&SecretPage {
                admin: &admin,
                name: &client.name,
                registered,
            }))
        }
        .await,
    )
}

async fn remove_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    id: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let id = id.into_inner();
            let back = format!("/admin/clients/{id}/remove");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let client = load(&state, id.clone()).await?;
            let message = format!(
                "Client \u{201c}{}\u{201d} ({}) is removed with its codes, refresh tokens and consents. \
                 The application can no longer sign anyone in.",
                client.name, client.id
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Remove this client?",
                message: &message,
                action: &back,
                button: "Remove client",
                cancel: &format!("/admin/clients/{id}"),
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
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    respond(
        async {
            let id = id.into_inner();
            let back = format!("/admin/clients/{id}/remove");
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            manage(&state, &admin, move |c, actor, now| {
                ops::remove(c, &id, actor, now)
            })
            .await?;
            Ok(done("/admin/clients", "Client removed."))
        }
        .await,
    )
}

/// The enabled key families, plus `current` (a client's settings from before a family was disabled, so the form
/// shows them as they are; saving another family is checked by `manage::clients`).
fn offered_algs(state: &AppState, current: &[&str]) -> Vec<&'static str> {
    crate::keys::Alg::ALL
        .into_iter()
        .filter(|a| state.keys.algorithms().contains(a) || current.contains(&a.as_str()))
        .map(crate::keys::Alg::as_str)
        .collect()
}
