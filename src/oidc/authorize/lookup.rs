//! Everything `/authorize` reads before deciding, in one trip to the blocking pool: the client, the parsed
//! request with the scopes it can be granted, whether the signed-in person is still active, and what they have
//! already consented to. One hand-off instead of five was most of the endpoint's latency that was not the code
//! itself being written.

use crate::db::models::clients::{self, Client};
use crate::db::models::{consents, users};
use crate::db::{AnyConnection, StoreError};
use crate::domain::scope::Scopes;
use crate::tokens::authz;

use super::request::{self, AuthorizeError, AuthorizeRequest, ErrorRedirect};

/// What the request and the database say, before any decision.
pub struct Lookup {
    pub request: Result<(AuthorizeRequest, Client), Refusal>,
    /// Whether the session's user exists and is not disabled (`None`: nobody is signed in).
    pub user_active: Option<bool>,
    /// The scopes the person has already granted the client.
    pub granted: Option<Scopes>,
}

/// Why the request goes no further.
pub enum Refusal {
    /// The client or its redirect URI cannot be trusted: a page, never a redirect.
    Page(String),
    /// An error sent back to the (validated) redirect URI.
    Redirect(ErrorRedirect),
    /// The request parsed, but its client is gone.
    Internal,
}

/// Reads what `/authorize` needs for `params`, with `user_id` from the session when someone is signed in.
/// `userinfo` is the userinfo audience (an access token's audience when it carries only `openid`).
pub fn look_up(
    c: &mut AnyConnection,
    params: &[(String, String)],
    user_id: Option<&str>,
    userinfo: &str,
) -> Result<Lookup, StoreError> {
    let client = match request::client_id(params) {
        Ok(id) => clients::by_id(c, &id)?,
        Err(_) => None,
    };
    let request = match (request::parse(params, client.as_ref()), client) {
        (Ok(req), Some(client)) => grantable(c, req, userinfo)?.map(|req| (req, client)),
        (Err(AuthorizeError::Redirect(e)), _) => Err(Refusal::Redirect(e)),
        (Err(AuthorizeError::Page(message)), _) => Err(Refusal::Page(message)),
        (Ok(_), None) => Err(Refusal::Internal),
    };
    let user_active = match user_id {
        Some(id) => Some(users::by_id(c, id)?.is_some_and(|u| !u.disabled)),
        None => None,
    };
    let granted = match (&request, user_id, user_active) {
        (Ok((_, client)), Some(uid), Some(true)) => {
            consents::find(c, uid, &client.id)?.map(|g| g.scopes())
        }
        _ => None,
    };
    Ok(Lookup {
        request,
        user_active,
        granted,
    })
}

/// Keeps the scopes this client can be granted: unknown ones are ignored (OIDC Core 3.1.2.1), and a `resource`
/// (RFC 8707) keeps only its API's scopes; an unknown resource goes back as `invalid_target`.
fn grantable(
    c: &mut AnyConnection,
    mut req: AuthorizeRequest,
    userinfo: &str,
) -> Result<Result<AuthorizeRequest, Refusal>, StoreError> {
    match authz::grantable_for_user(
        c,
        &req.client_id,
        &req.scopes,
        req.resource.as_deref(),
        userinfo,
    ) {
        Ok(scopes) => {
            req.scopes = scopes;
            Ok(Ok(req))
        }
        Err(authz::GrantError::Store(e)) => Err(e),
        Err(e) => Ok(Err(Refusal::Redirect(
            req.error("invalid_target", &e.to_string()),
        ))),
    }
}
