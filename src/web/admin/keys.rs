//! `/admin/keys`: every signing key with its state and dates, grouped by family (RS256, ES256, EdDSA), a timeline
//! of publication and signing windows per family, the JWKS exactly as published, and the Rotate now (per family)
//! / Revoke actions.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Admin, Confirm, Denied, check_csrf, done, page, recent_admin, respond};
use crate::clock::format_time;
use crate::db::models::signing_keys;
use crate::error::PageError;
use crate::keys::{Alg, lifecycle};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(keys_get))
        .route("/keys/rotate", web::get().to(rotate_confirm))
        .route("/keys/rotate", web::post().to(rotate_post))
        .route("/keys/rotate/{alg}", web::get().to(rotate_confirm))
        .route("/keys/rotate/{alg}", web::post().to(rotate_post))
        .route("/keys/{kid}/revoke", web::get().to(revoke_confirm))
        .route("/keys/{kid}/revoke", web::post().to(revoke_post));
}

/// One row of the keys table.
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: &'static str,
    pub bits: i32,
    pub created: String,
    pub published: String,
    pub activates: String,
    pub superseded: String,
    pub removal_due: String,
    pub revoke_reason: String,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    admin: &'a Admin,
    notice: Option<String>,
    rows: Vec<KeyRow>,
    /// One timeline per family, RS256 first; the flag says whether the family is enabled (can be rotated).
    timelines: Vec<(String, bool, super::timeline::Timeline)>,
    jwks: String,
    etag: String,
    max_age: u64,
    now: String,
}

fn dash(t: Option<i64>) -> String {
    t.map(format_time).unwrap_or_else(|| "-".into())
}

async fn keys_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let now = state.now();
            let stored = super::read(&state, signing_keys::all).await?;
            let timing = state.keys.timing();
            let mut views = lifecycle::view(&stored, now, &timing);
            let family = |alg: &str| Alg::parse(alg).map_or(usize::MAX, |a| a as usize);
            views.sort_by_key(|v| (family(&v.key.alg), std::cmp::Reverse(v.key.activates_at)));
            let rows = views
                .iter()
                .map(|v| KeyRow {
                    kid: v.key.kid.clone(),
                    alg: v.key.alg.clone(),
                    state: v.state.as_str(),
                    bits: v.key.bits,
                    created: format_time(v.key.created_at),
                    published: format_time(v.key.published_at),
                    activates: format_time(v.key.activates_at),
                    superseded: dash(v.key.superseded_at),
                    removal_due: dash(v.removal_due),
                    revoke_reason: v.key.revoke_reason.clone().unwrap_or_default(),
                    revocable: v.state.is_published(),
                })
                .collect();
            let enabled = state.keys.algorithms();
            let timelines = Alg::ALL
                .into_iter()
                .filter(|a| enabled.contains(a) || stored.iter().any(|k| k.alg == a.as_str()))
                .map(|a| {
                    let family: Vec<_> = views
                        .iter()
                        .filter(|v| v.key.alg == a.as_str())
                        .cloned()
                        .collect();
                    let timeline = super::timeline::build(&family, now, &timing);
                    (a.as_str().to_string(), enabled.contains(&a), timeline)
                })
                .collect();
            let keyset = state.keys.current();
            let jwks: serde_json::Value =
                serde_json::from_slice(keyset.jwks_bytes()).unwrap_or(serde_json::Value::Null);
            Ok(page(&KeysPage {
                admin: &admin,
                notice: q.get("notice").cloned(),
                rows,
                timelines,
                jwks: serde_json::to_string_pretty(&jwks).unwrap_or_default(),
                etag: keyset.jwks_etag().to_string(),
                max_age: state.settings.keys.jwks_max_age.as_secs(),
                now: format_time(now),
            }))
        }
        .await,
    )
}

/// The family of a rotate URL: `/admin/keys/rotate` is RS256, `/admin/keys/rotate/{alg}` names one.
fn family_of(req: &HttpRequest) -> Result<Alg, Denied> {
    match req.match_info().get("alg") {
        None => Ok(Alg::Rs256),
        Some(a) => {
            Alg::parse(a).ok_or_else(|| Denied::Page(PageError::bad_request("Unknown key family.")))
        }
    }
}

async fn rotate_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let alg = family_of(&req)?;
            let title = format!("Rotate the {alg} signing key now?");
            let action = format!("/admin/keys/rotate/{alg}");
            Ok(page(&Confirm {
                admin: &admin,
                title: &title,
                message: "The next key of this family, already published in the JWKS, starts signing at once; the \
                          current key keeps verifying until its hold ends; a new next key is created and published. \
                          Other families are not affected.",
                action: &action,
                button: "Rotate now",
                cancel: "/admin/keys",
                reason: false,
            }))
        }
        .await,
    )
}

async fn rotate_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin_form(&req, &state, &session, &form).await?;
            let alg = family_of(&req)?;
            state
                .keys
                .rotate_now(&state.db, alg, Some(admin.user.username.clone()))
                .await
                .map_err(key_error)?;
            Ok(done(
                "/admin/keys",
                &format!("Rotated: the next {alg} key signs now."),
            ))
        }
        .await,
    )
}

async fn revoke_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    kid: web::Path<String>,
) -> HttpResponse {
    respond(
        async {
            let back = format!("/admin/keys/{}/revoke", urlencode(&kid));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            let message = format!(
                "Key {kid} leaves the JWKS at once: every token it signed stops verifying. If it is the active key, \
                 the next key of its family takes over immediately; other families are not affected. This cannot \
                 be undone."
            );
            Ok(page(&Confirm {
                admin: &admin,
                title: "Revoke this signing key?",
                message: &message,
                action: &back,
                button: "Revoke key",
                cancel: "/admin/keys",
                reason: true,
            }))
        }
        .await,
    )
}

async fn revoke_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    kid: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let back = format!("/admin/keys/{}/revoke", urlencode(&kid));
            let admin = recent_admin(&req, &state, &session, &back).await?;
            check_csrf(&session, &form)?;
            let reason = form.get("reason").map(|r| r.trim()).unwrap_or_default();
            if reason.is_empty() {
                return Err(Denied::Page(PageError::bad_request(
                    "Give a reason for the revocation.",
                )));
            }
            state
                .keys
                .revoke(
                    &state.db,
                    kid.into_inner(),
                    reason.to_string(),
                    Some(admin.user.username.clone()),
                )
                .await
                .map_err(key_error)?;
            Ok(done(
                "/admin/keys",
                "Revoked: the key is no longer published.",
            ))
        }
        .await,
    )
}

fn key_error(e: crate::keys::KeyError) -> Denied {
    Denied::Page(match e {
        crate::keys::KeyError::Store(s) => s.into(),
        other => PageError::bad_request(other.to_string()),
    })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
