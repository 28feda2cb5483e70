//! The consent page, `GET` and `POST /consent`: the person allows or denies an application the scopes it asked for.
//! An allowance is remembered (`consents`), so the page shows only for scopes not granted before or on
//! `prompt=consent`; a denial sends `access_denied` back to the application.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::models::{audit, consents};
use crate::error::PageError;
use crate::oidc::authorize::request::AuthorizeRequest;
use crate::oidc::authorize::{self, flow, pending, response};
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::web::{csrf, render};

/// A requested scope as the page shows it.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    csrf_token: &'a str,
    authz: &'a str,
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<ScopeLine>,
}

/// What each scope lets the application see, in words for the page.
fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (a stable identifier for your account)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "offline_access" => {
            "Keep access after you sign out of Porta (offline access), until you revoke it on your account page"
        }
        "groups" => "See the groups you belong to",
        "roles" => "See the roles your groups give you in this application",
        _ => "",
    }
}

/// The lines of a consent page for a space-separated scope. API scopes carry the description their API
/// registered (`porta api add --scope NAME=description`).
pub async fn scope_lines(state: &AppState, scope: &str) -> Result<Vec<ScopeLine>, PageError> {
    let names: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
    let lookup = names.clone();
    let api_scopes = state
        .db
        .run(move |c| {
            let refs: Vec<&str> = lookup.iter().map(String::as_str).collect();
            crate::db::models::api_scopes::find(c, &refs)
        })
        .await?;
    Ok(names
        .into_iter()
        .map(|s| ScopeLine {
            description: api_scopes
                .iter()
                .find(|a| a.scope == s)
                .map(|a| a.description.clone().unwrap_or_default())
                .unwrap_or_else(|| describe(&s).to_string()),
            name: s,
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConsentQuery {
    authz: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConsentForm {
    csrf_token: Option<String>,
    authz: Option<String>,
    decision: Option<String>,
}

fn expired() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Request expired",
        "This sign-in request has expired or was already answered. Go back to the application and try again.",
    )
}

fn valid_authz(a: Option<String>) -> Result<String, PageError> {
    a.filter(|a| pending::is_id(a)).ok_or_else(expired)
}

/// Whether the request still needs the person to enter their password before a code may be issued.
fn needs_fresh_login(
    session: &TypedSession,
    authz: &str,
    request: &AuthorizeRequest,
    sign_in: &SignIn,
    now: i64,
) -> bool {
    let auth = authorize::auth_for_pending(session, authz, sign_in, now);
    flow::needs_login(request, auth, now) || flow::needs_step_up(request, auth)
}

/// `GET /consent?authz=...`.
pub async fn consent_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let q = web::Query::<ConsentQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let authz = valid_authz(q.authz)?;
    let Some((user, sign_in)) = session::current_user(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::FOUND,
            &format!("/login?authz={authz}"),
        ));
    };
    let (request, client) = authorize::pending_request(&state, &session, &authz)
        .await?
        .ok_or_else(expired)?;
    if needs_fresh_login(&session, &authz, &request, &sign_in, state.now()) {
        return Ok(crate::web::redirect(
            StatusCode::FOUND,
            &format!("/login?authz={authz}"),
        ));
    }
    let page = ConsentPage {
        csrf_token: &csrf::token(&session)?,
        authz: &authz,
        client_name: &client.name,
        username: &user.username,
        scopes: scope_lines(&state, &request.scopes.to_string()).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /consent`: `decision=allow` or `decision=deny`.
pub async fn consent_post(
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<ConsentForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let authz = valid_authz(form.authz)?;
    let allow = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(PageError::bad_request("Choose Allow or Deny.")),
    };
    let Some((user, sign_in)) = session::current_user(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &format!("/login?authz={authz}"),
        ));
    };
    let (request, client) = authorize::pending_request(&state, &session, &authz)
        .await?
        .ok_or_else(expired)?;
    let now = state.now();
    // prompt=login and max_age hold here too: only a sign-in made for this request, or recent enough, counts.
    if needs_fresh_login(&session, &authz, &request, &sign_in, now) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &format!("/login?authz={authz}"),
        ));
    }
    pending::remove(&session, &authz, now)?;
    let (uid, cid, name, scopes) = (
        user.id.clone(),
        client.id.clone(),
        user.username.clone(),
        request.scopes.clone(),
    );
    let action = if allow {
        "consent.grant"
    } else {
        "consent.deny"
    };
    state
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                if allow {
                    consents::grant(c, &uid, &cid, &scopes, now)?;
                }
                let detail = scopes.to_string();
                audit::record(
                    c,
                    &audit::Event {
                        actor: Some(&name),
                        action,
                        target: Some(&cid),
                        ip: None,
                        detail: Some(&detail),
                    },
                    now,
                )
            })
        })
        .await?;
    if !allow {
        let e = request.error("access_denied", "the user denied the request");
        return Ok(response::error(
            &e,
            &state.settings.issuer,
            response::Via::Post,
        ));
    }
    authorize::issue(&state, &request, &sign_in, response::Via::Post).await
}
