//! The authorization endpoint (OIDC Core 3.1.2), `GET` and `POST /authorize`. The protocol rules live in
//! `request` (parsing), `flow` (what happens next) and `response` (how the answer travels); these handlers extract,
//! call and map. A request that needs a sign-in or consent waits in the session (`pending`) and is resumed by the
//! login and consent pages.

pub mod acr;
pub mod flow;
pub mod lookup;
pub mod pending;
pub mod request;
pub mod response;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::models::clients::{self, Client};
use crate::db::models::consents;
use crate::error::PageError;
use crate::session::{self, SignIn, TypedSession};
use crate::state::AppState;
use crate::tokens::authz;

use flow::{Auth, Next};
use lookup::Refusal;
use request::AuthorizeRequest;
use response::Via;

/// Where the endpoint is served (for discovery's `authorization_endpoint`).
pub const PATH: &str = "/authorize";
/// Discovery metadata for what this endpoint supports.
pub const RESPONSE_TYPES: &[&str] = &["code"];
pub const RESPONSE_MODES: &[&str] = &["query", "form_post"];
pub const PROMPT_VALUES: &[&str] = &["none", "login", "consent", "select_account"];
/// Every authorization response carries `iss` (RFC 9207): discovery's `authorization_response_iss_parameter_supported`.
pub const ISS_PARAMETER_SUPPORTED: bool = true;

/// `GET /authorize`: parameters in the query.
pub async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, PageError> {
    let params = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|_| PageError::bad_request("The request's parameters could not be read."))?;
    authorize(&state, &session, params, Via::Get).await
}

/// `POST /authorize`: parameters form-encoded in the body.
pub async fn authorize_post(
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    authorize(&state, &session, form.into_inner(), Via::Post).await
}

async fn authorize(
    state: &AppState,
    session: &TypedSession,
    params: Vec<(String, String)>,
    via: Via,
) -> Result<HttpResponse, PageError> {
    // RFC 9126 4: a pushed request stands in for the parameters sent (one more trip, only for those).
    let (params, pushed) = crate::oidc::par::resolve(state, params).await?;
    let signed_in = session.sign_in_state();
    let uid = signed_in.as_ref().map(|s| s.user_id.clone());
    let userinfo = crate::tokens::claims::access_token_audience(&state.settings.issuer);
    let found = state
        .db
        .run(move |c| lookup::look_up(c, &params, uid.as_deref(), &userinfo))
        .await?;
    let (req, client) = match found.request {
        Ok(r) => r,
        Err(Refusal::Redirect(e)) => return Ok(response::error(&e, &state.settings.issuer, via)),
        Err(Refusal::Page(message)) => return Err(PageError::bad_request(message)),
        Err(Refusal::Internal) => return Err(PageError::internal()),
    };
    if !pushed && crate::oidc::par::required(&client, &state.settings) {
        let e = req.error(
            "invalid_request",
            "this client must push its authorization requests to the PAR endpoint",
        );
        return Ok(response::error(&e, &state.settings.issuer, via));
    }
    // A disabled or removed user's sign-in is forgotten, as `session::current_user` does.
    let signed_in = match found.user_active {
        Some(false) => {
            session.forget_sign_in();
            None
        }
        _ => signed_in,
    };
    let auth = signed_in.as_ref().map_or(Auth::None, Auth::of_session);
    proceed(
        state,
        session,
        &client,
        req,
        signed_in,
        auth,
        found.granted,
        via,
    )
    .await
}

/// Takes the request to its next step: the login page, the consent page, an error, or a code. `granted` is what
/// the signed-in person has already consented to.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the values come from the lookup"
)]
async fn proceed(
    state: &AppState,
    session: &TypedSession,
    client: &Client,
    req: AuthorizeRequest,
    signed_in: Option<SignIn>,
    auth: Auth,
    granted: Option<crate::domain::scope::Scopes>,
    via: Via,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let status = match via {
        Via::Get => StatusCode::FOUND,
        Via::Post => StatusCode::SEE_OTHER,
    };
    match (
        flow::decide(&req, client, auth, granted.as_ref(), now),
        signed_in,
    ) {
        (Next::Fail(code, description), _) => Ok(response::error(
            &req.error(code, description),
            &state.settings.issuer,
            via,
        )),
        (Next::Login, _) => {
            let id = pending::add(session, req, now)?;
            Ok(crate::web::redirect(status, &format!("/login?authz={id}")))
        }
        (Next::SecondStep, _) => {
            let id = pending::add(session, req, now)?;
            Ok(crate::web::redirect(status, &second_step_url(&id)))
        }
        (Next::Consent, _) => {
            let id = pending::add(session, req, now)?;
            Ok(crate::web::redirect(
                status,
                &format!("/consent?authz={id}"),
            ))
        }
        (Next::Issue, Some(sign_in)) => issue(state, &req, &sign_in, via).await,
        (Next::Issue, None) => Err(PageError::internal()),
    }
}

/// Issues a code and sends it to the client. The client and its redirect URI are checked again in the same
/// transaction: a request that waited for sign-in or consent may have outlived the URI's registration.
pub async fn issue(
    state: &AppState,
    req: &AuthorizeRequest,
    sign_in: &SignIn,
    via: Via,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let ttl = i64::try_from(state.settings.tokens.code_ttl.as_secs()).unwrap_or(60);
    let (r, s) = (req.clone(), sign_in.clone());
    let code = state
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                let registered = clients::by_id(c, &r.client_id)?
                    .is_some_and(|client| client.accepts_redirect_uri(&r.redirect_uri));
                if !registered {
                    return Ok::<_, crate::db::StoreError>(None);
                }
                // A client that names allowed groups admits only their members (checked before any code).
                if !authz::may_use_client(c, &r.client_id, &s.user_id)? {
                    access_denied_audit(c, &r.client_id, &s.user_id, now)?;
                    return Ok(Some(Err(())));
                }
                flow::issue_code(c, &r, &s, now, ttl).map(|code| Some(Ok(code)))
            })
        })
        .await?;
    let code = match code {
        Some(Err(())) => {
            let e = req.error(
                "access_denied",
                "the user is not in a group allowed to use this application",
            );
            return Ok(response::error(&e, &state.settings.issuer, via));
        }
        Some(Ok(code)) => Some(code),
        None => None,
    };
    let Some(code) = code else {
        return Err(PageError::bad_request(
            "The application's return address is no longer registered with Porta, so Porta will not send \
             you there. Go back to the application and try again.",
        ));
    };
    Ok(response::success(req, &code, &state.settings.issuer, via))
}

/// Records that a signed-in user was refused a client they are not allowed to use.
fn access_denied_audit(
    c: &mut crate::db::AnyConnection,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), crate::db::StoreError> {
    let username = crate::db::models::users::by_id(c, user_id)?.map(|u| u.username);
    let detail = format!("client {client_id}: not in an allowed group");
    crate::db::models::audit::record(
        c,
        &crate::db::models::audit::Event {
            actor: username.as_deref(),
            action: "authorize.access_denied",
            target: Some(client_id),
            ip: None,
            detail: Some(&detail),
        },
        now,
    )
}

/// How the request can rely on the current sign-in: fresh when the person signed in for this very request.
pub fn auth_for_pending(session: &TypedSession, authz: &str, sign_in: &SignIn, now: i64) -> Auth {
    if pending::signed_in_for(session, authz, &sign_in.sid, now) {
        Auth::Fresh {
            level: sign_in.level(),
        }
    } else {
        Auth::of_session(sign_in)
    }
}

/// The second step (or enrolment) page for a waiting request.
pub fn second_step_url(authz: &str) -> String {
    format!("/login/second?authz={authz}")
}

/// A waiting request and its client, or `None` when the request is unknown or expired.
pub async fn pending_request(
    state: &AppState,
    session: &TypedSession,
    authz: &str,
) -> Result<Option<(AuthorizeRequest, Client)>, PageError> {
    let Some(req) = pending::get(session, authz, state.now()) else {
        return Ok(None);
    };
    let cid = req.client_id.clone();
    let client = state.db.run(move |c| clients::by_id(c, &cid)).await?;
    match client {
        Some(client) => Ok(Some((req, client))),
        None => {
            pending::remove(session, authz, state.now())?;
            Err(PageError::bad_request(
                "The application that sent you here is no longer registered with Porta.",
            ))
        }
    }
}

/// Continues a waiting request right after the person signed in. `None` when there is no such request.
pub async fn resume_after_login(
    state: &AppState,
    session: &TypedSession,
    authz: &str,
    sign_in: SignIn,
) -> Result<Option<HttpResponse>, PageError> {
    let Some((req, client)) = pending_request(state, session, authz).await? else {
        return Ok(None);
    };
    let now = state.now();
    let (uid, cid) = (sign_in.user_id.clone(), client.id.clone());
    let granted = state
        .db
        .run(move |c| consents::find(c, &uid, &cid))
        .await?
        .map(|c| c.scopes());
    let fresh = Auth::Fresh {
        level: sign_in.level(),
    };
    let next = flow::decide(&req, &client, fresh, granted.as_ref(), now);
    if next == Next::SecondStep {
        pending::mark_signed_in(session, authz, &sign_in.sid, now)?;
        return Ok(Some(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &second_step_url(authz),
        )));
    }
    if next == Next::Consent {
        pending::mark_signed_in(session, authz, &sign_in.sid, now)?;
        return Ok(Some(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &format!("/consent?authz={authz}"),
        )));
    }
    pending::remove(session, authz, now)?;
    let res = match next {
        Next::Fail(code, d) => {
            response::error(&req.error(code, d), &state.settings.issuer, Via::Post)
        }
        _ => issue(state, &req, &sign_in, Via::Post).await?,
    };
    Ok(Some(res))
}

/// Carries a waiting request on with the session as it is now (after a second step, a passkey or an enrolment):
/// the request's rules are applied again, so it goes wherever it still needs to (sign-in, second step, consent,
/// keeping its id and whether a sign-in was made for it) or gets its code. `None` when there is no such request.
pub async fn resume(
    state: &AppState,
    session: &TypedSession,
    authz: &str,
) -> Result<Option<HttpResponse>, PageError> {
    let Some((req, client)) = pending_request(state, session, authz).await? else {
        return Ok(None);
    };
    let now = state.now();
    let signed_in = session::current_user(state, session).await?.map(|(_, s)| s);
    let auth = signed_in
        .as_ref()
        .map_or(Auth::None, |s| auth_for_pending(session, authz, s, now));
    let granted = match &signed_in {
        Some(s) => {
            let (uid, cid) = (s.user_id.clone(), client.id.clone());
            state
                .db
                .run(move |c| consents::find(c, &uid, &cid))
                .await?
                .map(|c| c.scopes())
        }
        None => None,
    };
    let go = |path: String| Ok(Some(crate::web::redirect(StatusCode::SEE_OTHER, &path)));
    match (
        flow::decide(&req, &client, auth, granted.as_ref(), now),
        signed_in,
    ) {
        (Next::Login, _) => go(format!("/login?authz={authz}")),
        (Next::SecondStep, _) => go(second_step_url(authz)),
        (Next::Consent, _) => go(format!("/consent?authz={authz}")),
        (Next::Fail(code, d), _) => {
            pending::remove(session, authz, now)?;
            Ok(Some(response::error(
                &req.error(code, d),
                &state.settings.issuer,
                Via::Post,
            )))
        }
        (Next::Issue, Some(sign_in)) => {
            pending::remove(session, authz, now)?;
            issue(state, &req, &sign_in, Via::Post).await.map(Some)
        }
        (Next::Issue, None) => Err(PageError::internal()),
    }
}
