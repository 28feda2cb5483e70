//! `POST /token` (RFC 6749 3.2): reads the form, authenticates the client, and hands over to one module per
//! grant. Every answer, success or error, carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1).

pub mod authorization_code;
pub mod client_credentials;
pub mod params;
pub mod refresh_token;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::db::StoreError;
use crate::error::OAuthError;
use crate::oidc::client_auth;
use crate::startup::AppState;
use crate::tokens::mint::{self, Minted, TokenRequest};

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
    let grant = params.require("grant_type")?.to_string();
    let client = client_auth::authenticate(&state, &req, &params).await?;
    let response = match grant.as_str() {
        "authorization_code" => authorization_code::exchange(&state, &client, &params).await?,
        "refresh_token" => refresh_token::exchange(&state, &client, &params).await?,
        "client_credentials" => client_credentials::exchange(&state, &client, &params).await?,
        _ => {
            return Err(OAuthError::unsupported_grant_type(
                "grant_type must be authorization_code, refresh_token or client_credentials",
            ));
        }
    };
    Ok(no_store(HttpResponse::Ok()).json(response))
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

impl TokenResponse {
    fn new(minted: Minted, refresh_token: Option<String>, scope: String) -> TokenResponse {
        TokenResponse {
            access_token: minted.access_token,
            token_type: "Bearer",
            expires_in: minted.expires_in,
            refresh_token,
            id_token: minted.id_token,
            scope: (!scope.is_empty()).then_some(scope),
        }
    }
}

/// Headers every token, introspection and userinfo answer carries.
pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// Signs the tokens of `req` on the blocking pool with the in-memory key set.
async fn sign(state: &AppState, req: TokenRequest) -> Result<Minted, OAuthError> {
    mint::mint_blocking(state.keys.current(), state.settings.clone(), req)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "minting tokens failed");
            OAuthError::server_error()
        })
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

impl From<TxError> for OAuthError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Refused(e) => e,
            TxError::Store(e) => e.into(),
        }
    }
}
