//! The device side of the device authorization grant (RFC 8628), over plain HTTP: discovery, the device
//! authorization request, and polling the token endpoint at the interval the server asks for (5 s more after
//! each `slow_down`) until the person has decided. Shared by `examples/device_login.rs` and the tests, which
//! run it against a real server with a waiting function that moves their test clock.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

/// The device grant's `grant_type` (RFC 8628 3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Who the device is and what it asks for.
#[derive(Debug, Clone)]
pub struct Config {
    pub issuer: String,
    pub client_id: String,
    /// Only for a confidential client; a CLI is usually public.
    pub client_secret: Option<String>,
    pub scope: String,
}

/// The device authorization response (RFC 8628 3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    /// Seconds between polls; 5 when the server does not say (RFC 8628 3.2).
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// The token response, as the token endpoint sent it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Endpoints {
    device_authorization_endpoint: String,
    token_endpoint: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

/// How the flow ended without tokens.
#[derive(Debug)]
pub enum Failure {
    /// The person chose Deny (`access_denied`).
    Denied,
    /// Nobody approved before the code expired (`expired_token`).
    Expired,
    /// Anything else: the server's error code or a transport problem.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Denied => write!(f, "the request was denied"),
            Failure::Expired => write!(f, "the code expired before it was approved"),
            Failure::Other(e) => write!(f, "{e}"),
        }
    }
}

fn other(e: impl std::fmt::Display) -> Failure {
    Failure::Other(e.to_string())
}

/// Discovery, then the device authorization request; `show` tells the person where to go, then the device
/// polls, calling `wait` for each interval, until it has tokens or the flow ends.
pub async fn login<W, F>(
    http: &reqwest::Client,
    config: &Config,
    show: impl FnOnce(&DeviceAuthorization),
    wait: W,
) -> Result<Tokens, Failure>
where
    W: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let endpoints: Endpoints = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            config.issuer
        ))
        .send()
        .await
        .map_err(other)?
        .error_for_status()
        .map_err(other)?
        .json()
        .await
        .map_err(other)?;
    let mut form = vec![("client_id", config.client_id.as_str())];
    if !config.scope.is_empty() {
        form.push(("scope", config.scope.as_str()));
    }
    let res = authenticated(http.post(&endpoints.device_authorization_endpoint), config)
        .form(&form)
        .send()
        .await
        .map_err(other)?;
    if !res.status().is_success() {
        let e: ErrorBody = res.json().await.map_err(other)?;
        return Err(Failure::Other(e.error));
    }
    let auth: DeviceAuthorization = res.json().await.map_err(other)?;
    show(&auth);
    poll(http, config, &endpoints.token_endpoint, &auth, wait).await
}

/// Polls the token endpoint (RFC 8628 3.4, 3.5).
pub async fn poll<W, F>(
    http: &reqwest::Client,
    config: &Config,
    token_endpoint: &str,
    auth: &DeviceAuthorization,
    mut wait: W,
) -> Result<Tokens, Failure>
where
    W: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut interval = auth.interval.max(1);
    loop {
        wait(Duration::from_secs(interval)).await;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("device_code", auth.device_code.as_str()),
            ("client_id", config.client_id.as_str()),
        ];
        let res = authenticated(http.post(token_endpoint), config)
            .form(&form)
            .send()
            .await
            .map_err(other)?;
        if res.status().is_success() {
            return res.json().await.map_err(other);
        }
        let e: ErrorBody = res.json().await.map_err(other)?;
        match e.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            "access_denied" => return Err(Failure::Denied),
            "expired_token" => return Err(Failure::Expired),
            _ => return Err(Failure::Other(e.error)),
        }
    }
}

/// `client_secret_basic` for a confidential client; a public client is named by `client_id` in the form.
fn authenticated(req: reqwest::RequestBuilder, config: &Config) -> reqwest::RequestBuilder {
    match &config.client_secret {
        Some(secret) => req.basic_auth(&config.client_id, Some(secret)),
        None => req,
    }
}
