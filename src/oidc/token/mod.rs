//! `POST /token` (RFC 6749 3.2): reads the form and the client's credentials, then does the whole exchange in one
//! task on the blocking pool: the client lookup, the grant's transaction (one module per grant), and the
//! signatures, with the database connection handed back before signing. One thread hand-off per request is what
//! keeps the endpoint near the machine's RSA signing rate. Every answer, success or error, carries
//! `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1).

pub mod authorization_code;
pub mod client_credentials;
pub mod params;
pub mod refresh_token;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::config::Settings;
use crate::db::models::clients::{self, Client};
use crate::db::{AnyConnection, Db, StoreError};
use crate::error::OAuthError;
use crate::keys::KeySet;
use crate::oidc::client_auth::{self, Presented};
use crate::state::AppState;
use crate::tokens::mint::{self, TokenRequest};

use params::Params;

/// The grant types discovery advertises (`grant_types_supported`).
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// `POST /token`.
pub async fn token_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(&req, &body)?;
    params.require("grant_type")?;
    let presented = client_auth::presented(&req, &params)?;
    let ctx = Ctx {
        db: state.db.clone(),
        keys: state.keys.current(),
        settings: state.settings.clone(),
        now: state.now(),
    };
    let response = tokio::task::spawn_blocking(move || exchange(&ctx, &presented, &params))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token task failed");
            OAuthError::server_error()
        })??;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// What an exchange needs, moved onto the blocking thread.
pub struct Ctx {
    pub db: Db,
    /// The key set in force when the request arrived (from memory, never the database).
    pub keys: Arc<KeySet>,
    pub settings: Arc<Settings>,
    pub now: i64,
}

/// What a grant decided: the tokens to sign, and the refresh token it stored (already hashed in the database).
pub struct Issue {
    /// The grant type, for the metrics.
    pub grant: &'static str,
    pub req: TokenRequest,
    pub refresh_token: Option<String>,
}

/// Authenticates the client, runs its grant, returns the connection to the pool, then signs. Blocking.
fn exchange(
    ctx: &Ctx,
    presented: &Presented,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let (issue, algs) = {
        let mut conn = ctx.db.conn()?;
        let client =
            client_auth::check(clients::by_id(&mut conn, &presented.client_id)?, presented)?;
        let algs = mint::TokenAlgs::of(&client.id, &client.id_token_alg, &client.access_token_alg);
        (run_grant(&mut conn, ctx, &client, params)?, algs)
    };
    let scope = issue.req.access_scopes().to_string();
    let minted = mint::mint(&ctx.keys, &ctx.settings, &issue.req, algs).map_err(|e| {
        tracing::error!(error = %e, "minting tokens failed");
        OAuthError::server_error()
    })?;
    crate::metrics::token_issued("access_token", issue.grant);
    if minted.id_token.is_some() {
        crate::metrics::token_issued("id_token", issue.grant);
    }
    if issue.refresh_token.is_some() {
        crate::metrics::token_issued("refresh_token", issue.grant);
    }
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: issue.refresh_token,
        id_token: minted.id_token,
        scope: (!scope.is_empty()).then_some(scope),
    })
}

fn run_grant(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<Issue, OAuthError> {
    match params.get("grant_type").unwrap_or_default() {
        "authorization_code" => authorization_code::exchange(conn, ctx, client, params),
        "refresh_token" => refresh_token::exchange(conn, ctx, client, params),
        "client_credentials" => client_credentials::exchange(conn, ctx, client, params),
        _ => Err(OAuthError::unsupported_grant_type(
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )),
    }
}

/// A successful token response (RFC 6749 5.1, OIDC Core 3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Headers every token, introspection and userinfo answer carries.
pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// The scope that asks for a refresh token that outlives the sign-in session (OIDC Core 11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A duration setting in whole seconds.
fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A fresh `jti`: 128 random bits.
fn new_jti() -> String {
    crate::crypto::secrets::random_string(16)
}

/// The error of a grant's write transaction: a protocol refusal (the transaction rolls back) or storage.
#[derive(Debug)]
enum TxError {
    Refused(OAuthError),
    Store(StoreError),
}

impl From<OAuthError> for TxError {
    fn from(e: OAuthError) -> Self {
        TxError::Refused(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Store(e.into())
    }
}

impl From<crate::tokens::authz::GrantError> for TxError {
    fn from(e: crate::tokens::authz::GrantError) -> Self {
        use crate::tokens::authz::GrantError;
        match e {
            GrantError::InvalidScope(d) => TxError::Refused(OAuthError::invalid_scope(d)),
            // RFC 8707 2: a resource the server will not issue a token for.
            GrantError::InvalidTarget(d) => TxError::Refused(OAuthError::invalid_target(d)),
            GrantError::Store(e) => TxError::Store(e),
        }
    }
}

impl From<TxError> for OAuthError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Refused(e) => e,
            TxError::Store(e) => e.into(),
        }
    }
}
