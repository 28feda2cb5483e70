//! `POST /device_authorization` (RFC 8628 3.1, 3.2): a device that cannot show a browser (a CLI, a TV) asks for a
//! device code and a user code. The person enters the user code on `/device` (`web::device`) while the device
//! polls `/token` with the device code (`oidc::token::device_code`). The client authenticates as at the token
//! endpoint (public clients send only `client_id`) and must be registered for the device grant.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::crypto::secrets;
use crate::db::models::clients::{self, Client};
use crate::db::models::device_codes::{self, NewDeviceCode, PENDING};
use crate::db::{AnyConnection, StoreError};
use crate::domain::scope::Scopes;
use crate::domain::user_code::UserCode;
use crate::error::OAuthError;
use crate::oidc::client_auth;
use crate::oidc::token::params::Params;
use crate::oidc::token::{DEVICE_CODE_GRANT, no_store};
use crate::state::AppState;
use crate::tokens::authz;

/// Where the endpoint is served (discovery's `device_authorization_endpoint`).
pub const PATH: &str = "/device_authorization";
/// The page where the person enters the code (`verification_uri`).
pub const VERIFICATION_PATH: &str = "/device";

/// The successful response (RFC 8628 3.2).
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What `start` needs besides the connection.
pub struct Start<'a> {
    pub issuer: &'a str,
    pub ttl: i64,
    pub interval: i64,
    pub now: i64,
}

/// `POST /device_authorization`.
pub async fn device_authorization_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(&req, &body)?;
    let presented = client_auth::presented(&req, &params)?;
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let issuer = state.settings.issuer.clone();
    let ttl = secs(state.settings.tokens.device_code_ttl);
    let interval = secs(state.settings.tokens.device_poll_interval);
    let now = state.now();
    let response = state
        .db
        .run(move |c| {
            let client = client_auth::check(clients::by_id(c, &presented.client_id)?, &presented)?;
            let start = Start {
                issuer: &issuer,
                ttl,
                interval,
                now,
            };
            start_flow(c, &client, params.get("scope"), &start)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// Checks the client and scope, stores a new request and returns what the device shows. Blocking.
pub fn start_flow(
    conn: &mut AnyConnection,
    client: &Client,
    scope: Option<&str>,
    start: &Start<'_>,
) -> Result<DeviceAuthorization, OAuthError> {
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the device authorization grant",
        ));
    }
    let scopes = grantable(conn, client, scope, start.issuer)?;
    let device_code = secrets::random_token();
    let mut row = NewDeviceCode {
        device_code_hash: secrets::hash_secret(&device_code),
        user_code_hash: String::new(),
        client_id: client.id.clone(),
        scope: scopes.to_string(),
        status: PENDING,
        created_at: start.now,
        expires_at: start.now.saturating_add(start.ttl),
        poll_interval: start.interval,
    };
    // A user code already waiting elsewhere (2^-34 per pending request) is drawn again.
    let mut tries = 0;
    let user_code = loop {
        let code = UserCode::generate();
        row.user_code_hash = code.hash();
        match crate::db::write_tx(conn, |c| device_codes::insert(c, &row)) {
            Ok(()) => break code,
            Err(StoreError::Conflict(_)) if tries < 5 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let shown = user_code.display();
    let verification_uri = format!("{}{VERIFICATION_PATH}", start.issuer);
    Ok(DeviceAuthorization {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
        verification_uri,
        user_code: shown,
        expires_in: start.ttl,
        interval: start.interval,
    })
}

/// The requested scopes this client can be granted, as on `/authorize`: unknown ones are dropped, and
/// `offline_access` only stays for a client that may hold refresh tokens.
fn grantable(
    conn: &mut AnyConnection,
    client: &Client,
    scope: Option<&str>,
    issuer: &str,
) -> Result<Scopes, OAuthError> {
    let requested = Scopes::parse(scope.unwrap_or_default())
        .map_err(|_| OAuthError::invalid_scope("the scope is malformed"))?;
    let userinfo = crate::tokens::claims::access_token_audience(issuer);
    let mut scopes = authz::grantable_for_user(conn, &client.id, &requested, None, &userinfo)
        .map_err(|e| match e {
            authz::GrantError::Store(e) => OAuthError::from(e),
            _ => OAuthError::invalid_scope("the scope cannot be granted to this client"),
        })?;
    if scopes.contains(crate::oidc::token::OFFLINE_ACCESS) && !client.allows_grant("refresh_token")
    {
        scopes = scopes.without(crate::oidc::token::OFFLINE_ACCESS);
    }
    Ok(scopes)
}
