//! Passkey ceremonies for the sign-in pages, as small JSON endpoints that `/static/webauthn.js` calls: the
//! options (a challenge kept in the session), then the browser's answer. `second`: the user's own credentials as
//! the second step (or step-up). `passwordless`: any discoverable credential, no username (the login page's
//! button and conditional mediation on its username field). A verified passkey with user verification is
//! multi-factor (`hwk user mfa`), and phishing-resistant (`phr`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
};

use crate::db::models::{mfa_factors, users};
use crate::error::PageError;
use crate::session::TypedSession;
use crate::state::AppState;
use crate::web::authn::{amr, kind, verify, webauthn};
use crate::web::csrf;

use super::second;
use super::{local_path, valid_authz};

const SECOND_STATE: &str = "webauthn_second";
const PASSWORDLESS_STATE: &str = "webauthn_passwordless";

#[derive(Debug, Deserialize)]
pub struct OptionsRequest {
    csrf_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FinishRequest {
    csrf_token: Option<String>,
    credential: PublicKeyCredential,
    authz: Option<String>,
    return_to: Option<String>,
}

fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "error": message }))
}

fn json_ok(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// Where the page's script goes next: `/login/continue` carries the waiting request or `return_to` on.
fn next_url(authz: Option<&str>, return_to: Option<&str>) -> String {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = authz {
        q.push(("authz", a));
    }
    if let Some(r) = return_to {
        q.push(("return_to", r));
    }
    format!(
        "/login/continue?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

fn unavailable(state: &AppState) -> Option<HttpResponse> {
    webauthn::unavailable(&state.settings.issuer)
        .map(|why| json_error(StatusCode::BAD_REQUEST, why))
}

/// `POST /login/passkey/second/options`.
pub async fn second_options(
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<OptionsRequest>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, body.csrf_token.as_deref())?;
    if let Some(res) = unavailable(&state) {
        return Ok(res);
    }
    let Some(subject) = second::subject(&state, &session).await? else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "Sign in with your password first.",
        ));
    };
    let uid = subject.user().id.clone();
    let factors = state
        .db
        .run(move |c| mfa_factors::for_user(c, &uid))
        .await?;
    let passkeys: Vec<_> = factors
        .iter()
        .filter(|f| f.kind == kind::WEBAUTHN)
        .filter_map(|f| f.credential.as_deref().and_then(webauthn::decode))
        .collect();
    if passkeys.is_empty() {
        return Ok(json_error(StatusCode::BAD_REQUEST, "You have no passkey."));
    }
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let (options, st) = webauthn::start_second_step(&rp, &passkeys).map_err(|e| {
        tracing::error!(error = %e, "passkey challenge failed");
        PageError::internal()
    })?;
    session.set(SECOND_STATE, &(subject.user().id.clone(), st))?;
    Ok(json_ok(serde_json::to_value(options).unwrap_or_default()))
}

/// `POST /login/passkey/second/finish`.
pub async fn second_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<FinishRequest>,
) -> Result<HttpResponse, PageError> {
    let body = body.into_inner();
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some((uid, st)) = session.get::<(String, PasskeyAuthentication)>(SECOND_STATE) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "Start again."));
    };
    session.remove(SECOND_STATE);
    let Some(subject) = second::subject(&state, &session).await? else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "Sign in with your password first.",
        ));
    };
    if subject.user().id != uid {
        return Ok(json_error(StatusCode::BAD_REQUEST, "Start again."));
    }
    let ip = crate::web::client_ip(&req);
    if let Some(wait) = verify::locked(&state, &uid, ip.as_deref()).await? {
        crate::metrics::mfa_attempt(kind::WEBAUTHN, "throttled");
        return Ok(json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many attempts. Try again in {} seconds.", wait.max(1)),
        ));
    }
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let cred_id = webauthn::credential_id_text(body.credential.get_credential_id());
    let result = webauthn::finish_second_step(&rp, &body.credential, &st);
    let ok = record(&state, subject.user(), &cred_id, result, ip.as_deref()).await?;
    if !ok {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "That passkey was not accepted.",
        ));
    }
    let (authz, return_to) = (
        valid_authz(body.authz.as_deref()),
        local_path(body.return_to.as_deref()),
    );
    let ua = crate::web::user_agent(&req);
    second::complete(
        &state,
        &session,
        &subject,
        &[amr::HWK, amr::USER],
        authz,
        ip.as_deref(),
        ua.as_deref(),
    )
    .await?;
    Ok(json_ok(json!({ "next": next_url(authz, return_to) })))
}

/// Writes the outcome of a passkey check: the factor's use (and updated counter) or the failure, audited and
/// counted. Returns whether it was right.
async fn record(
    state: &AppState,
    user: &users::User,
    cred_id: &str,
    result: Result<webauthn_rs::prelude::AuthenticationResult, String>,
    ip: Option<&str>,
) -> Result<bool, PageError> {
    let now = state.now();
    let (uid, name, cid) = (user.id.clone(), user.username.clone(), cred_id.to_string());
    let ip = ip.map(str::to_string);
    let ok = state
        .db
        .run(move |c| {
            let factor = mfa_factors::by_credential_id(c, &cid)?.filter(|f| f.user_id == uid);
            match (factor, result) {
                (Some(f), Ok(r)) if r.user_verified() => {
                    let updated = f
                        .credential
                        .as_deref()
                        .and_then(webauthn::decode)
                        .and_then(|p| webauthn::updated(&p, &r));
                    mfa_factors::used(c, &f.id, updated.as_deref(), now)?;
                    let detail = format!("webauthn: {}", f.name);
                    verify::record(c, &name, "mfa.success", ip.as_deref(), &detail, now)?;
                    Ok::<_, crate::db::StoreError>(true)
                }
                (_, r) => {
                    let why = match r {
                        Err(e) => format!("webauthn: {e}"),
                        Ok(_) => "webauthn: not verified".into(),
                    };
                    verify::record(c, &name, "mfa.failure", ip.as_deref(), &why, now)?;
                    Ok(false)
                }
            }
        })
        .await?;
    crate::metrics::mfa_attempt(kind::WEBAUTHN, if ok { "success" } else { "failure" });
    Ok(ok)
}

/// `POST /login/passkey/options`: a challenge for any passkey (no username).
pub async fn passwordless_options(
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<OptionsRequest>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, body.csrf_token.as_deref())?;
    if let Some(res) = unavailable(&state) {
        return Ok(res);
    }
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let (options, st) = webauthn::start_passwordless(&rp).map_err(|e| {
        tracing::error!(error = %e, "passkey challenge failed");
        PageError::internal()
    })?;
    session.set(PASSWORDLESS_STATE, &st)?;
    Ok(json_ok(serde_json::to_value(options).unwrap_or_default()))
}

/// `POST /login/passkey/finish`: signs the passkey's owner in (`hwk user mfa`).
pub async fn passwordless_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<FinishRequest>,
) -> Result<HttpResponse, PageError> {
    let body = body.into_inner();
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some(st) = session.get::<DiscoverableAuthentication>(PASSWORDLESS_STATE) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "Start again."));
    };
    session.remove(PASSWORDLESS_STATE);
    let refused = || {
        Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "That passkey was not accepted.",
        ))
    };
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let Some((handle, cred_id)) = webauthn::identify(&rp, &body.credential) else {
        crate::metrics::mfa_attempt(kind::WEBAUTHN, "failure");
        return refused();
    };
    let cid = cred_id.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(f) = mfa_factors::by_credential_id(c, &cid)? else {
                return Ok::<_, crate::db::StoreError>(None);
            };
            Ok(users::by_id(c, &f.user_id)?.map(|u| (f, u)))
        })
        .await?;
    let Some((factor, user)) =
        found.filter(|(_, u)| !u.disabled && webauthn::user_handle(&u.id) == handle)
    else {
        crate::metrics::mfa_attempt(kind::WEBAUTHN, "failure");
        return refused();
    };
    let ip = crate::web::client_ip(&req);
    if let Some(wait) = verify::locked(&state, &user.id, ip.as_deref()).await? {
        crate::metrics::mfa_attempt(kind::WEBAUTHN, "throttled");
        return Ok(json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many attempts. Try again in {} seconds.", wait.max(1)),
        ));
    }
    let result = match factor.credential.as_deref().and_then(webauthn::decode) {
        Some(p) => webauthn::finish_passwordless(&rp, &body.credential, st, &p),
        None => Err("stored credential unreadable".into()),
    };
    if !record(&state, &user, &cred_id, result, ip.as_deref()).await? {
        return refused();
    }
    let now = state.now();
    let ua = crate::web::user_agent(&req);
    super::end_previous_sign_in(&state, &session, &user.id).await?;
    let methods = crate::web::authn::combine(&[], &[amr::HWK, amr::USER]);
    let s = session.sign_in_with(
        &user.id,
        now,
        methods,
        Some(now),
        ip.as_deref(),
        ua.as_deref(),
    )?;
    let (authz, return_to) = (
        valid_authz(body.authz.as_deref()),
        local_path(body.return_to.as_deref()),
    );
    if let Some(a) = authz {
        crate::oidc::authorize::pending::mark_signed_in(&session, a, &s.sid, now)?;
    }
    Ok(json_ok(json!({ "next": next_url(authz, return_to) })))
}
