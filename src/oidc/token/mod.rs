//! `POST /token` (RFC 6749 3.2): reads the form and the client's credentials, then does the whole exchange in one
//! task on the blocking pool: the client lookup, the grant's transaction (one module per grant), and the
//! signatures, with the database connection handed back before signing. One thread hand-off per request is what
//! keeps the endpoint near the machine's RSA signing rate. Every answer, success or error, carries
//! `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1).
//!
//! DPoP (RFC 9449 5): a request with a `DPoP` proof gets an access token bound to the proof's key (`cnf.jkt`,
//! `token_type: DPoP`); the proof is checked before the exchange and recorded in the replay cache inside it.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
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
use crate::oidc::cors;
use crate::oidc::dpop::Proof;
use crate::oidc::dpop_check::{self, Dpop};
use crate::state::AppState;
use crate::tokens::mint::{self, TokenRequest};

use params::Params;

/// The device authorization grant's type (RFC 8628 3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The grant types discovery advertises (`grant_types_supported`).
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    DEVICE_CODE_GRANT,
];

/// `POST /token`. A browser app reads the answer when its client registered the request's origin (`cors`).
pub async fn token_post(
    state: web::Data<AppState>,
    origins: web::Data<cors::WebOrigins>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut party = cors::Party::Unknown;
    let result = token(&state, &req, &body, &mut party).await;
    cors::answer(&state, &origins, &req, party, result).await
}

/// The exchange; sets `party` to the registration of the client the request names, once it is found.
async fn token(
    state: &AppState,
    req: &HttpRequest,
    body: &web::Bytes,
    party: &mut cors::Party,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(req, body)?;
    params.require("grant_type")?;
    let presented = client_auth::presented(req, &params)?;
    let dpop = Dpop::at(state, "/token");
    let proof = match dpop.proof(req, None) {
        Ok(p) => p,
        Err(e) => return Ok(dpop.token_error(&e)),
    };
    let ctx = Ctx {
        db: state.db.clone(),
        keys: state.keys.current(),
        settings: state.settings.clone(),
        now: state.now(),
        dpop: proof,
        dpop_max_age: dpop.max_age(),
    };
    let (web_origins, response) = tokio::task::spawn_blocking(move || {
        let mut web_origins = None;
        let response = exchange(&ctx, &presented, &params, &mut web_origins);
        (web_origins, response)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "token task failed");
        OAuthError::server_error()
    })?;
    if let Some(list) = web_origins {
        *party = cors::Party::Registered(list);
    }
    Ok(dpop
        .with_nonce(no_store(HttpResponse::Ok()))
        .json(response?))
}

/// What an exchange needs, moved onto the blocking thread.
pub struct Ctx {
    pub db: Db,
    /// The key set in force when the request arrived (from memory, never the database).
    pub keys: Arc<KeySet>,
    pub settings: Arc<Settings>,
    pub now: i64,
    /// The request's DPoP proof, checked but for replay (`exchange` records it).
    pub dpop: Option<Proof>,
    pub dpop_max_age: i64,
}

impl Ctx {
    /// The key the tokens are bound to: the DPoP proof's.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop.as_ref().map(|p| p.jkt.as_str())
    }
}

/// What a grant decided: the tokens to sign, and the refresh token it stored (already hashed in the database).
pub struct Issue {
    /// The grant type, for the metrics.
    pub grant: &'static str,
    pub req: TokenRequest,
    pub refresh_token: Option<String>,
}

/// Authenticates the client, runs its grant, returns the connection to the pool, then signs. Blocking.
/// `web_origins` receives the registered web origins of the client the request names, when it exists.
fn exchange(
    ctx: &Ctx,
    presented: &Presented,
    params: &Params,
    web_origins: &mut Option<Vec<String>>,
) -> Result<TokenResponse, OAuthError> {
    let (issue, algs) = {
        let mut conn = ctx.db.conn()?;
        let found = clients::by_id(&mut conn, &presented.client_id)?;
        *web_origins = found.as_ref().map(|c| c.web_origins.clone());
        let client = client_auth::check(found, presented)?;
        check_dpop(&mut conn, ctx, &client)?;
        let algs = mint::TokenAlgs::of(&client.id, &client.id_token_alg, &client.access_token_alg);
        (run_grant(&mut conn, ctx, &client, params)?, algs)
    };
    let scope = issue.req.access_scopes().to_string();
    let jkt = ctx.dpop_jkt();
    let minted =
        mint::mint_bound(&ctx.keys, &ctx.settings, &issue.req, algs, jkt).map_err(|e| {
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
        token_type: if jkt.is_some() { "DPoP" } else { "Bearer" },
        expires_in: minted.expires_in,
        refresh_token: issue.refresh_token,
        id_token: minted.id_token,
        scope: (!scope.is_empty()).then_some(scope),
    })
}

/// A client registered with `--require-dpop` must send a proof; a proof is accepted once (RFC 9449 11.1).
fn check_dpop(conn: &mut AnyConnection, ctx: &Ctx, client: &Client) -> Result<(), OAuthError> {
    let Some(proof) = &ctx.dpop else {
        return match client.require_dpop {
            true => Err(dpop_check::invalid_proof(
                "this client must send a DPoP proof",
            )),
            false => Ok(()),
        };
    };
    if !dpop_check::first_use(conn, proof, ctx.dpop_max_age)? {
        return Err(dpop_check::invalid_proof("the DPoP proof was already used"));
    }
    Ok(())
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
        DEVICE_CODE_GRANT => device_code::exchange(conn, ctx, client, params),
        _ => Err(OAuthError::unsupported_grant_type(
            "grant_type must be authorization_code, refresh_token, client_credentials or \
             urn:ietf:params:oauth:grant-type:device_code",
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
