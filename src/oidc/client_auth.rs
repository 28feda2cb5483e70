//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 2.3, OIDC Core 9):
//! `client_secret_basic` (id and secret form-urlencoded inside HTTP Basic, RFC 6749 2.3.1),
//! `client_secret_post` (in the body), and `none` for public clients, which identify themselves by
//! `client_id` and prove possession through PKCE. Secrets are compared as SHA-256 hashes in constant time.
//! Every failure is the same 401 `invalid_client` with a `WWW-Authenticate` challenge.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::crypto::secrets;
use crate::db::models::clients::{self, Client};
use crate::error::OAuthError;
use crate::oidc::token::params::Params;
use crate::state::AppState;

/// The methods discovery advertises (`token_endpoint_auth_methods_supported`).
pub const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

/// What the request presented, before it is checked against the registration.
#[derive(Clone)]
pub struct Presented {
    pub client_id: String,
    secret: Option<String>,
    pub method: AuthMethod,
}

impl std::fmt::Debug for Presented {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

const LONGEST: usize = 512;

fn failed() -> OAuthError {
    OAuthError::invalid_client("client authentication failed")
}

/// Reads the client's credentials from the `Authorization` header or the body. Using two methods at once is
/// refused (RFC 6749 2.3).
pub fn presented(req: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| failed())?;
        let (scheme, rest) = value.split_once(' ').ok_or_else(failed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(failed());
        }
        let (id, secret) = parse_basic(rest.trim()).ok_or_else(failed)?;
        if params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id = params.get("client_id").ok_or_else(failed)?;
    if client_id.len() > LONGEST {
        return Err(failed());
    }
    let secret = params.get("client_secret").map(str::to_string);
    Ok(Presented {
        client_id: client_id.to_string(),
        method: if secret.is_some() {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        },
        secret,
    })
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
fn parse_basic(encoded: &str) -> Option<(String, String)> {
    if encoded.len() > 4 * LONGEST {
        return None;
    }
    let raw = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Checks presented credentials against the registration: public clients use `none`, confidential clients a
/// secret that hashes to the stored one.
pub fn check(client: Option<Client>, presented: &Presented) -> Result<Client, OAuthError> {
    let client = client.ok_or_else(failed)?;
    let ok = match (client.is_public, &presented.secret, &client.secret_hash) {
        (true, None, _) => true,
        (false, Some(secret), Some(hash)) => secrets::verify_secret(secret, hash),
        _ => false,
    };
    if ok { Ok(client) } else { Err(failed()) }
}

/// Authenticates the calling client (one database read).
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<Client, OAuthError> {
    let presented = presented(req, params)?;
    let id = presented.client_id.clone();
    let client = state
        .db
        .run(move |c| clients::by_id(c, &id))
        .await
        .map_err(OAuthError::from)?;
    check(client, &presented)
}

/// As `authenticate`, for endpoints only confidential clients may call (introspection).
pub async fn authenticate_confidential(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<Client, OAuthError> {
    let client = authenticate(state, req, params).await?;
    if client.is_public {
        return Err(OAuthError::invalid_client(
            "this endpoint is for confidential clients",
        ));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(
            parse_basic(&STANDARD.encode("my%3Aclient:s%2Bcr+t")),
            Some(("my:client".into(), "s+cr t".into()))
        );
        assert_eq!(parse_basic("!!!"), None);
        assert_eq!(parse_basic(&STANDARD.encode("nocolon")), None);
        assert_eq!(parse_basic(&STANDARD.encode("id:%zz")), None);
    }

    #[test]
    fn one_method_only() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, basic("a", "b")))
            .to_http_request();
        let none = Params::default();
        assert_eq!(
            presented(&req, &none).unwrap().method,
            AuthMethod::ClientSecretBasic
        );
        let both = Params::from_pairs(vec![("client_secret".into(), "b".into())]);
        assert!(presented(&req, &both).is_err());
        let other_id = Params::from_pairs(vec![("client_id".into(), "z".into())]);
        assert!(presented(&req, &other_id).is_err());
        let plain = TestRequest::default().to_http_request();
        let public = Params::from_pairs(vec![("client_id".into(), "a".into())]);
        assert_eq!(presented(&plain, &public).unwrap().method, AuthMethod::None);
        assert!(presented(&plain, &none).is_err());
    }
}
