//! The admin console under `/admin`: signing keys first, then clients, users with their sessions, and the audit
//! log. Only signed-in admins get in; anonymous visitors are sent to the login form, other users get a 403 page.
//! Every POST carries the CSRF token; destructive actions (revoke a key, remove a client, end all of a user's
//! sessions) need a confirmation step and a sign-in within the last five minutes, and so do privilege changes
//! (grant or take admin, create an admin, set a password).

mod apis;
mod audit;
mod client_access;
mod clients;
mod groups;
mod keys;
mod timeline;
mod user_mfa;
mod users;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::models::users::User;
use crate::db::{AnyConnection, StoreError};
use crate::error::PageError;
use crate::manage::{Actor, ManageError};
use crate::session::TypedSession;
use crate::state::AppState;
use crate::web::csrf;

/// How recent a sign-in must be for a destructive action.
pub const RECENT_AUTH_SECS: i64 = 5 * 60;

/// Rows per page in listings.
pub const PAGE_SIZE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("", web::get().to(index))
            .route("/", web::get().to(index))
            .configure(keys::routes)
            .configure(client_access::routes)
            .configure(clients::routes)
            .configure(groups::routes)
            .configure(apis::routes)
            .configure(users::routes)
            .configure(user_mfa::routes)
            .configure(audit::routes),
    );
}

async fn index() -> HttpResponse {
    see_other("/admin/keys")
}

/// A signed-in admin, as every admin handler receives them.
pub struct Admin {
    pub user: User,
    pub auth_time: i64,
    pub csrf: String,
    pub ip: Option<String>,
}

impl Admin {
    pub fn actor(&self) -> Actor {
        Actor {
            name: Some(self.user.username.clone()),
            ip: self.ip.clone(),
        }
    }

    /// Whether the admin entered their password recently enough for a destructive action.
    pub fn recently_authenticated(&self, now: i64) -> bool {
        now - self.auth_time <= RECENT_AUTH_SECS
    }
}

/// Why a request did not reach an admin handler: a redirect to the login form, or an error page.
pub enum Denied {
    Login(HttpResponse),
    Page(PageError),
}

impl From<PageError> for Denied {
    fn from(e: PageError) -> Self {
        Denied::Page(e)
    }
}

impl From<Denied> for HttpResponse {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Login(r) => r,
            Denied::Page(e) => crate::web::error_page::render(&e),
        }
    }
}

/// A local path to come back to after signing in: the request's own path and query.
fn here(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/admin".into())
}

/// The login form, coming back to `return_to` afterwards; `reauth` asks for the password even with a live session
/// (the admin equivalent of `max_age`).
pub fn login_url(return_to: &str, reauth: bool) -> String {
    let mut q = vec![("return_to", return_to)];
    if reauth {
        q.push(("reauth", "1"));
    }
    format!(
        "/login?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

/// Resolves the admin behind a request or says where to send them.
pub async fn admin(
    req: &HttpRequest,
    state: &AppState,
    session: &TypedSession,
) -> Result<Admin, Denied> {
    let Some((user, sign_in)) = crate::session::current_user(state, session).await? else {
        return Err(Denied::Login(see_other(&login_url(&here(req), false))));
    };
    if !user.is_admin {
        return Err(Denied::Page(PageError::forbidden(
            "The admin console is for administrators. Ask an administrator to grant you access.",
        )));
    }
    if let Some(to) = second_factor_needed(state, &sign_in, &here(req)) {
        return Err(Denied::Login(see_other(&to)));
    }
    Ok(Admin {
        csrf: session.csrf_token()?,
        auth_time: sign_in.auth_time,
        ip: crate::web::client_ip(req),
        user,
    })
}

/// Where an admin signed in with less than a second factor goes while `mfa.required_for_admins`: the second
/// step, which sends someone without a factor to enrol one first, and then back to `return_to`.
fn second_factor_needed(
    state: &AppState,
    sign_in: &crate::session::SignIn,
    return_to: &str,
) -> Option<String> {
    if !state.settings.mfa.required_for_admins || sign_in.level() >= crate::web::authn::Level::Mfa {
        return None;
    }
    Some(format!(
        "/login/second?{}",
        serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default()
    ))
}

/// For destructive actions: the admin, after checking the sign-in is recent. A stale sign-in is sent through
/// the login form again (password required) and brought back to `return_to`, the confirmation page.
pub async fn recent_admin(
    req: &HttpRequest,
    state: &AppState,
    session: &TypedSession,
    return_to: &str,
) -> Result<Admin, Denied> {
    let admin = admin(req, state, session).await?;
    if !admin.recently_authenticated(state.now()) {
        return Err(Denied::Login(see_other(&login_url(return_to, true))));
    }
    Ok(admin)
}

/// An admin form submission: the admin behind it, after the CSRF check.
pub async fn admin_form(
    req: &HttpRequest,
    state: &AppState,
    session: &TypedSession,
    form: &std::collections::HashMap<String, String>,
) -> Result<Admin, Denied> {
    let admin = admin(req, state, session).await?;
    check_csrf(session, form)?;
    Ok(admin)
}

/// Runs a management operation as `admin` on the blocking pool; refused input becomes a 400 page.
pub async fn manage<T, F>(state: &AppState, admin: &Admin, op: F) -> Result<T, Denied>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection, &Actor, i64) -> Result<T, ManageError> + Send + 'static,
{
    let (actor, now) = (admin.actor(), state.now());
    state
        .db
        .run(move |c| op(c, &actor, now))
        .await
        .map_err(manage_error)
}

/// Reads one row for a page; a missing row is a 404 page saying `missing`.
pub async fn find<T, F>(state: &AppState, missing: &'static str, read: F) -> Result<T, Denied>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<Option<T>, StoreError> + Send + 'static,
{
    state
        .db
        .run(read)
        .await
        .map_err(PageError::from)?
        .ok_or_else(|| Denied::Page(PageError::not_found(missing)))
}

/// Reads rows for a page.
pub async fn read<T, F>(state: &AppState, read: F) -> Result<T, Denied>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
{
    Ok(state.db.run(read).await.map_err(PageError::from)?)
}

/// Checks the CSRF token of a submitted admin form.
pub fn check_csrf(
    session: &TypedSession,
    form: &std::collections::HashMap<String, String>,
) -> Result<(), Denied> {
    csrf::check(session, form.get(csrf::FIELD).map(String::as_str)).map_err(Denied::Page)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Redirects to `path` with a one-line notice for the page to show.
pub fn done(path: &str, notice: &str) -> HttpResponse {
    let sep = if path.contains('?') { '&' } else { '?' };
    let q = serde_urlencoded::to_string([("notice", notice)]).unwrap_or_default();
    see_other(&format!("{path}{sep}{q}"))
}

/// Bad input on an admin form becomes a 400 page saying what was wrong; storage trouble the usual error page.
pub fn manage_error(e: ManageError) -> Denied {
    match e {
        ManageError::Invalid(m) => {
            Denied::Page(PageError::new(StatusCode::BAD_REQUEST, "Not saved", m))
        }
        ManageError::Store(s) => Denied::Page(s.into()),
    }
}

/// The generic confirmation page of destructive actions.
#[derive(askama::Template)]
#[template(path = "admin/confirm.html")]
pub struct Confirm<'a> {
    pub admin: &'a Admin,
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub cancel: &'a str,
    /// Ask for a reason (key revocation).
    pub reason: bool,
}

/// Renders an admin page.
pub fn page<T: askama::Template>(t: &T) -> HttpResponse {
    crate::web::render(StatusCode::OK, t)
}

/// Runs an admin handler body, turning `Denied` into its response.
pub fn respond(r: Result<HttpResponse, Denied>) -> HttpResponse {
    r.unwrap_or_else(HttpResponse::from)
}
