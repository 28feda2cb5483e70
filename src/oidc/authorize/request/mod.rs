//! Parsing an authorization request (OIDC Core 3.1.2.1, RFC 6749 4.1.1, RFC 7636 4.3) into an `AuthorizeRequest`.
//!
//! The order matters (OIDC Core 3.1.2.6, RFC 6749 4.1.2.1): until `client_id` and `redirect_uri` are known to
//! belong together, an error is shown as a page and never redirected; after that, errors go back to the client
//! with `error`, `error_description` and `state`. Parameters without a value count as absent and repeated ones are
//! refused (RFC 6749 3.1); unknown parameters are ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::db::models::clients::Client;
use crate::domain::pkce::PkceChallenge;
use crate::domain::scope::Scopes;

/// Longest accepted values; longer ones are refused rather than stored in the session or a code.
pub const MAX_CLIENT_ID: usize = 128;
pub const MAX_STATE: usize = 2048;
pub const MAX_NONCE: usize = 512;
pub const MAX_LOGIN_HINT: usize = 256;

/// How the response reaches the client (OAuth 2.0 Multiple Response Types, Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// The `prompt` values Porta acts on (OIDC Core 3.1.2.1). `select_account` is treated as `login`: signing in
/// again is how a person picks another account here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    /// Exactly as registered and as sent.
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    #[serde(with = "scopes_as_string")]
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when sent (always, for public clients).
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds; `Some(0)` forces a fresh sign-in.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// RFC 8707 `resource`: the API the tokens are for (checked against the APIs by `tokens::authz`).
    #[serde(default)]
    pub resource: Option<String>,
    /// The authentication level the sign-in must reach (`acr_values`, an essential `acr` claim, the client's
    /// `require_mfa`); `acr::required`.
    #[serde(default = "lowest_level")]
    pub required_level: crate::web::authn::Level,
    /// RFC 9449 10: the thumbprint of the DPoP key the code will be bound to.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

fn lowest_level() -> crate::web::authn::Level {
    crate::web::authn::Level::Pwd
}

/// An error that goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// The OAuth 2.0 / OIDC error code.
    pub error: &'static str,
    pub error_description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect_uri cannot be trusted: tell the person, never redirect.
    Page(String),
    /// Redirect to the client's redirect_uri with the error.
    Redirect(ErrorRedirect),
}

/// Request parameters after RFC 6749 3.1: empty values dropped, the names that were repeated set aside.
struct Collected {
    values: BTreeMap<String, String>,
    repeated: BTreeSet<String>,
}

fn collect(params: &[(String, String)]) -> Collected {
    let mut values = BTreeMap::new();
    let mut repeated = BTreeSet::new();
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        if values.insert(k.clone(), v.clone()).is_some() {
            repeated.insert(k.clone());
        }
    }
    Collected { values, repeated }
}

impl Collected {
    fn single(&self, name: &str) -> Result<Option<&str>, String> {
        if self.repeated.contains(name) {
            return Err(format!("{name} must not be repeated"));
        }
        Ok(self.values.get(name).map(String::as_str))
    }
}

/// The `client_id` to look up, or the page to show when there is none to trust.
pub fn client_id(params: &[(String, String)]) -> Result<String, AuthorizeError> {
    let p = collect(params);
    match p.single("client_id").map_err(AuthorizeError::Page)? {
        None => Err(AuthorizeError::Page(
            "The request names no client (client_id is missing).".into(),
        )),
        Some(id) if id.len() > MAX_CLIENT_ID => {
            Err(AuthorizeError::Page("The client_id is not valid.".into()))
        }
        Some(id) => Ok(id.to_string()),
    }
}

/// Validates the request against the registered `client` (`None` when no client has that id).
pub fn parse(
    params: &[(String, String)],
    client: Option<&Client>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let p = collect(params);
    let page = AuthorizeError::Page;
    client_id(params)?;
    let Some(client) = client else {
        return Err(page(
            "The application that sent you here is not registered with Porta.".into(),
        ));
    };
    let redirect_uri = match p.single("redirect_uri").map_err(page)? {
        None => return Err(page("The request has no redirect_uri.".into())),
        Some(u) if client.accepts_redirect_uri(u) => u.to_string(),
        Some(_) => {
            return Err(page(
                "The redirect_uri is not registered for this application, so Porta will not send you there."
                    .into(),
            ));
        }
    };

    // From here on, errors go back to the client. First what the error response itself needs.
    let state = match p.single("state") {
        Ok(s) if s.is_none_or(|s| s.len() <= MAX_STATE) => s.map(str::to_string),
        _ => None,
    };
    let mut fail = ErrorRedirect {
        redirect_uri,
        response_mode: ResponseMode::Query,
        state,
        error: "invalid_request",
        error_description: String::new(),
    };
    let response_mode = match p.single("response_mode") {
        Ok(None | Some("query")) => ResponseMode::Query,
        Ok(Some("form_post")) => ResponseMode::FormPost,
        Ok(Some(_)) => {
            return Err(redirect(
                fail,
                "invalid_request",
                "unsupported response_mode",
            ));
        }
        Err(_) => {
            return Err(redirect(fail, "invalid_request", "a parameter is repeated"));
        }
    };
    fail.response_mode = response_mode;
    let err = |code: &'static str, d: &str| Err(redirect(fail.clone(), code, d));

    // RFC 6749 4.1.2.1: error_description is fixed text, never request values (a parameter name is one).
    if !p.repeated.is_empty() {
        return err("invalid_request", "a parameter is repeated");
    }
    if p.values.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return err("invalid_request", "state is too long");
    }
    // OIDC Core 6: request objects are not supported.
    if p.values.contains_key("request") {
        return err("request_not_supported", "request objects are not supported");
    }
    if p.values.contains_key("request_uri") {
        return err("request_uri_not_supported", "request_uri is not supported");
    }
    if p.values.contains_key("registration") {
        return err(
            "registration_not_supported",
            "registration is not supported",
        );
    }

    match p.values.get("response_type").map(String::as_str) {
        None => return err("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return err(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    if !client.allows_grant("authorization_code") {
        return err(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }

    let Some(scope) = p.values.get("scope") else {
        return err("invalid_request", "scope is required");
    };
    let mut scopes = match Scopes::parse(scope) {
        Ok(s) => s,
        Err(_) => {
            return err(
                "invalid_scope",
                "the scope is malformed or names an unknown scope",
            );
        }
    };
    if !scopes.contains("openid") {
        return err("invalid_scope", "the openid scope is required");
    }
    // offline_access asks for a refresh token; a client without that grant simply does not get one.
    if scopes.contains("offline_access") && !client.allows_grant("refresh_token") {
        scopes = scopes.without("offline_access");
    }

    let nonce = p.values.get("nonce").cloned();
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return err("invalid_request", "nonce is too long");
    }

    let prompt = match parse_prompt(p.values.get("prompt").map(String::as_str)) {
        Ok(pr) => pr,
        Err(e) => return err("invalid_request", &e),
    };

    let max_age = match p.values.get("max_age") {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(v) if v >= 0 && m.bytes().all(|b| b.is_ascii_digit()) => Some(v),
            _ => {
                return err(
                    "invalid_request",
                    "max_age must be a non-negative number of seconds",
                );
            }
        },
    };

    let method = p.values.get("code_challenge_method").map(String::as_str);
    let code_challenge = match (p.values.get("code_challenge"), method) {
        (None, Some(_)) => {
            return err(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (None, None) if client.is_public => {
            return err(
                "invalid_request",
                "public clients must use PKCE (code_challenge with S256)",
            );
        }
        // Registered with --require-pkce: a confidential client that asked for PKCE on every request.
        (None, None) if client.require_pkce => {
            return err(
                "invalid_request",
                "this client must use PKCE (code_challenge with S256)",
            );
        }
        (None, None) => None,
        (Some(c), m) => match PkceChallenge::parse(c, m) {
            Ok(c) => Some(c.as_str().to_string()),
            Err(_) => {
                return err(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 with code_challenge_method=S256",
                );
            }
        },
    };

    // A hint only: one too long to be a username is dropped rather than refused.
    let login_hint = p
        .values
        .get("login_hint")
        .filter(|h| h.len() <= MAX_LOGIN_HINT)
        .cloned();

    // A thumbprint is a base64url SHA-256: 43 characters.
    let dpop_jkt = p.values.get("dpop_jkt").cloned();
    if dpop_jkt.as_ref().is_some_and(|j| {
        j.len() != 43
            || !j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return err(
            "invalid_request",
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        );
    }

    let asked = match super::acr::parse(
        p.values.get("acr_values").map(String::as_str),
        p.values.get("claims").map(String::as_str),
    ) {
        Ok(a) => a,
        Err((code, d)) => return err(code, d),
    };

    Ok(AuthorizeRequest {
        required_level: super::acr::required(asked, client.require_mfa),
        client_id: client.id.clone(),
        redirect_uri: fail.redirect_uri,
        response_mode,
        scopes,
        state: fail.state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        resource: p.values.get("resource").cloned(),
        dpop_jkt,
    })
}

fn redirect(mut base: ErrorRedirect, code: &'static str, description: &str) -> AuthorizeError {
    base.error = code;
    base.error_description = description.to_string();
    AuthorizeError::Redirect(base)
}

/// `prompt` is a space-separated list; `none` must stand alone (OIDC Core 3.1.2.1). Values Porta does not know are
/// ignored, like unknown parameters.
fn parse_prompt(s: Option<&str>) -> Result<Prompt, String> {
    let mut p = Prompt::default();
    let Some(s) = s else { return Ok(p) };
    let mut count = 0;
    for v in s.split(' ').filter(|v| !v.is_empty()) {
        count += 1;
        match v {
            "none" => p.none = true,
            "login" | "select_account" => p.login = true,
            "consent" => p.consent = true,
            _ => {}
        }
    }
    if p.none && count > 1 {
        return Err("prompt=none cannot be combined with other values".into());
    }
    Ok(p)
}

impl AuthorizeRequest {
    /// The error response for this request.
    pub fn error(&self, code: &'static str, description: &str) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
            error: code,
            error_description: description.to_string(),
        }
    }
}

mod scopes_as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::scope::Scopes;

    pub fn serialize<S: Serializer>(s: &Scopes, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&s.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Scopes, D::Error> {
        let s = String::deserialize(de)?;
        Scopes::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
