//! Pushed authorization requests (RFC 9126). `POST /par`: the client authenticates as at `/token`, its
//! authorization request is validated as `/authorize` would (errors are JSON OAuth errors here, RFC 9126 2.3),
//! stored, and named by a `request_uri` (`urn:ietf:params:oauth:request_uri:<random>`) good for one use within
//! `TTL` seconds. `/authorize` then takes `client_id` and `request_uri` only (`resolve`): the request is taken
//! from the database with a conditional delete and validated again, so a reused, expired or foreign one is an
//! error page, never a redirect. Clients registered with `--require-par` (or all, with `oauth.require_par`) must
//! come this way. A DPoP proof sent to `/par` binds the code like `dpop_jkt` (RFC 9449 10.1).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::config::Settings;
use crate::crypto::secrets;
use crate::db::models::clients::Client;
use crate::db::models::pushed_requests::{self, NewPushedRequest};
use crate::db::write_tx;
use crate::error::{OAuthError, PageError};
use crate::oidc::authorize::request::{self, AuthorizeError};
use crate::oidc::client_auth;
use crate::oidc::dpop_check::{self, Dpop};
use crate::oidc::token::no_store;
use crate::oidc::token::params::Params;
use crate::state::AppState;
use crate::tokens::authz;

pub const PATH: &str = "/par";
/// RFC 9126 2.2: the prefix of the `request_uri` values `/par` issues.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for `/authorize`, in seconds (RFC 9126 2.2: short-lived).
pub const TTL: i64 = 60;
/// Form parameters that authenticate the client rather than belong to the authorization request.
const CLIENT_AUTH: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];
/// The random part of a `request_uri` Porta issued is 43 characters; anything much longer is not one.
const MAX_RANDOM: usize = 128;

#[derive(Debug, Serialize)]
struct Pushed {
    request_uri: String,
    expires_in: i64,
}

/// `POST /par`.
pub async fn par_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(&req, &body)?;
    let dpop = Dpop::at(&state, PATH);
    let proof = match dpop.proof(&req, None) {
        Ok(p) => p,
        Err(e) => return Ok(dpop.token_error(&e)),
    };
    let client = client_auth::authenticate(&state, &req, &params).await?;
    let mut pushed = authorization_params(&params, &client)?;
    if let Some(p) = &proof {
        match params.get("dpop_jkt") {
            Some(jkt) if jkt != p.jkt => {
                return Err(dpop_check::invalid_proof(
                    "dpop_jkt does not name the DPoP proof's key",
                ));
            }
            Some(_) => {}
            None => pushed.push(("dpop_jkt".into(), p.jkt.clone())),
        }
    }
    validate(&state, &pushed, &client).await?;
    if let Some(p) = proof {
        let max_age = dpop.max_age();
        let first = state
            .db
            .run(move |c| dpop_check::first_use(c, &p, max_age))
            .await?;
        if !first {
            return Err(dpop_check::invalid_proof("the DPoP proof was already used"));
        }
    }
    let random = secrets::random_token();
    let now = state.now();
    let row = NewPushedRequest {
        uri_hash: secrets::hash_secret(&random),
        client_id: client.id.clone(),
        params: serde_json::to_string(&pushed).map_err(|_| OAuthError::server_error())?,
        created_at: now,
        expires_at: now + TTL,
    };
    state
        .db
        .run(move |c| write_tx(c, |c| pushed_requests::insert(c, &row)))
        .await?;
    let answer = Pushed {
        request_uri: format!("{URN_PREFIX}{random}"),
        expires_in: TTL,
    };
    Ok(dpop
        .with_nonce(no_store(HttpResponse::build(StatusCode::CREATED)))
        .json(answer))
}

/// The authorization request a client pushed: every parameter but its credentials, with its `client_id`. A
/// `request_uri` cannot be pushed (RFC 9126 2.1).
pub fn authorization_params(
    params: &Params,
    client: &Client,
) -> Result<Vec<(String, String)>, OAuthError> {
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
    }
    let mut out: Vec<(String, String)> = params
        .pairs()
        .iter()
        .filter(|(k, _)| !CLIENT_AUTH.contains(&k.as_str()))
        .cloned()
        .collect();
    if params.get("client_id").is_none() {
        out.retain(|(k, _)| k != "client_id");
        out.push(("client_id".into(), client.id.clone()));
    }
    Ok(out)
}

/// The checks of `/authorize` (`request::parse`, then the grantable scopes), answered as JSON (RFC 9126 2.3).
async fn validate(
    state: &AppState,
    pushed: &[(String, String)],
    client: &Client,
) -> Result<(), OAuthError> {
    let req = request::parse(pushed, Some(client)).map_err(|e| match e {
        // Fixed texts about the client or its redirect_uri (never request values).
        AuthorizeError::Page(message) => OAuthError::invalid_request(message),
        AuthorizeError::Redirect(r) => OAuthError {
            code: r.error,
            description: r.error_description,
            status: StatusCode::BAD_REQUEST,
            challenge: None,
        },
    })?;
    let userinfo = crate::tokens::claims::access_token_audience(&state.settings.issuer);
    let kept = state
        .db
        .run(move |c| {
            authz::grantable_for_user(
                c,
                &req.client_id,
                &req.scopes,
                req.resource.as_deref(),
                &userinfo,
            )
        })
        .await;
    match kept {
        Ok(_) => Ok(()),
        Err(authz::GrantError::Store(e)) => Err(e.into()),
        Err(e) => Err(OAuthError::invalid_target(e.to_string())),
    }
}

/// The `client_id` and the random part of the `request_uri` of an authorization request that names one;
/// `None` when it names none. Errors are fixed texts for the error page.
pub fn request_uri_of(params: &[(String, String)]) -> Result<Option<(String, String)>, String> {
    let mut uris = params
        .iter()
        .filter(|(k, v)| k == "request_uri" && !v.is_empty())
        .map(|(_, v)| v.as_str());
    let (Some(uri), None) = (uris.next(), uris.next()) else {
        return match params
            .iter()
            .any(|(k, v)| k == "request_uri" && !v.is_empty())
        {
            true => Err("The request_uri must not be repeated.".into()),
            false => Ok(None),
        };
    };
    let client_id = match request::client_id(params) {
        Ok(id) => id,
        Err(AuthorizeError::Page(m)) => return Err(m),
        Err(AuthorizeError::Redirect(_)) => return Err("The request is not valid.".into()),
    };
    match uri.strip_prefix(URN_PREFIX) {
        Some(random) if !random.is_empty() && random.len() <= MAX_RANDOM => {
            Ok(Some((client_id, random.to_string())))
        }
        _ => Err(invalid_request_uri()),
    }
}

fn invalid_request_uri() -> String {
    "The application's sign-in request has expired or was already used (invalid_request_uri). Go back to the \
     application and try again."
        .into()
}

/// The parameters `/authorize` works from, and whether they were pushed: the pushed request (taken, so never
/// used twice) when the request names a `request_uri`, else the parameters as sent. Parameters sent beside a
/// `request_uri` are ignored but `client_id`, which must be the pushing client's (RFC 9126 4).
pub async fn resolve(
    state: &AppState,
    params: Vec<(String, String)>,
) -> Result<(Vec<(String, String)>, bool), PageError> {
    let Some((client_id, random)) = request_uri_of(&params).map_err(PageError::bad_request)? else {
        return Ok((params, false));
    };
    let (hash, now) = (secrets::hash_secret(&random), state.now());
    let taken = state
        .db
        .run(move |c| write_tx(c, |c| pushed_requests::take(c, &hash, &client_id, now)))
        .await?
        .ok_or_else(|| PageError::bad_request(invalid_request_uri()))?;
    let pushed = serde_json::from_str(&taken).map_err(|_| PageError::internal())?;
    Ok((pushed, true))
}

/// Whether `client` may only send pushed requests.
pub fn required(client: &Client, settings: &Settings) -> bool {
    client.require_par || settings.oauth.require_par
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn request_uris_are_ours_named_once_and_come_with_a_client() {
        assert_eq!(request_uri_of(&pairs(&[("client_id", "c")])), Ok(None));
        assert_eq!(
            request_uri_of(&pairs(&[("request_uri", ""), ("client_id", "c")])),
            Ok(None)
        );
        let ok = pairs(&[
            ("client_id", "c"),
            ("request_uri", &format!("{URN_PREFIX}abc")),
        ]);
        assert_eq!(request_uri_of(&ok), Ok(Some(("c".into(), "abc".into()))));
        for bad in [
            pairs(&[("request_uri", &format!("{URN_PREFIX}abc"))]),
            pairs(&[
                ("client_id", "c"),
                ("request_uri", "https://evil.example.com/r"),
            ]),
            pairs(&[("client_id", "c"), ("request_uri", URN_PREFIX)]),
            pairs(&[
                ("client_id", "c"),
                ("request_uri", &format!("{URN_PREFIX}a")),
                ("request_uri", &format!("{URN_PREFIX}b")),
            ]),
        ] {
            assert!(request_uri_of(&bad).is_err(), "{bad:?}");
        }
    }
}
