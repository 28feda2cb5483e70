//! Who may do what, as tokens say it: which scopes a client can be granted, which audiences (APIs) an access token
//! names, and the `groups` and `roles` claims.
//!
//! - Standard scopes (`openid profile email offline_access groups roles`) are always grantable to user flows.
//! - An API scope is grantable only to a client allowed it (`porta client add --allowed-scope`). Scope names are
//!   unique across APIs, so each granted API scope names exactly one audience: its API's identifier.
//! - Anything else is ignored on `/authorize` (OIDC Core 3.1.2.1: unknown scopes SHOULD be ignored) and refused
//!   with `invalid_scope` on `client_credentials` (the client asked for exactly what it gets).
//! - RFC 8707 `resource`: on `/authorize` it keeps only the API scopes of that resource; on `/token` it must be
//!   one of the grant's audiences and narrows the access token to it.
//!
//! An access token's `aud` is the identifiers of the APIs whose scopes it carries, plus Porta's userinfo URL when
//! `openid` is granted (so `/userinfo` keeps accepting it). A token with neither names the userinfo URL, which
//! answers it with `insufficient_scope`.

use crate::db::models::group_members;
use crate::db::models::users::User;
use crate::db::models::{api_scopes, client_allowed_groups, client_allowed_scopes, client_roles};
use crate::db::{AnyConnection, StoreError};
use crate::domain::scope::Scopes;

/// Scopes Porta itself defines, grantable to every client in user flows.
pub const STANDARD: &[&str] = crate::domain::scope::SUPPORTED;

/// What the access token carries beyond the scope string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessGrant {
    /// API identifiers (RFC 8707 resources) the token is for; the userinfo URL is added by `audiences`.
    pub apis: Vec<String>,
    /// The scopes the access token carries when narrower than the grant (a `resource` on `/token`).
    pub narrowed: Option<Scopes>,
    /// The `groups` claim (scope `groups`).
    pub groups: Option<Vec<String>>,
    /// The `roles` claim (scope `roles`): the user's roles in this client.
    pub roles: Option<Vec<String>>,
}

/// Why a grant's scope or resource was refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The access token's `aud`: the APIs, then the userinfo URL when `openid` is among `scopes`; the userinfo URL
/// alone when there is nothing else.
pub fn audiences(userinfo: &str, grant: &AccessGrant, scopes: &Scopes) -> Vec<String> {
    let mut aud = grant.apis.clone();
    if scopes.contains("openid") || aud.is_empty() {
        aud.push(userinfo.to_string());
    }
    aud
}

/// RFC 8707 2: a resource is an absolute URI without a fragment.
fn check_resource(resource: &str) -> Result<(), GrantError> {
    match url::Url::parse(resource) {
        Ok(u) if u.fragment().is_none() => Ok(()),
        _ => Err(GrantError::InvalidTarget(
            "resource must be an absolute URI without a fragment".into(),
        )),
    }
}

/// `/authorize`: the requested scopes a user flow can grant this client. Unknown scopes and API scopes the
/// client is not allowed are dropped; with a `resource`, API scopes of other APIs are dropped too, and a
/// resource that is no known API (nor Porta's userinfo) is refused.
pub fn grantable_for_user(
    conn: &mut AnyConnection,
    client_id: &str,
    requested: &Scopes,
    resource: Option<&str>,
    userinfo: &str,
) -> Result<Scopes, GrantError> {
    let allowed = client_allowed_scopes::list(conn, client_id)?;
    // Only names the client may be granted are looked up: a request cannot make the query as long as it likes.
    let names: Vec<&str> = requested
        .iter()
        .filter(|s| !STANDARD.contains(s) && allowed.iter().any(|a| a == s))
        .collect();
    let known = api_scopes::find(conn, &names)?;
    if let Some(r) = resource {
        check_resource(r)?;
        let is_api = r == userinfo || crate::db::models::apis::by_identifier(conn, r)?.is_some();
        if !is_api {
            return Err(GrantError::InvalidTarget(
                "the resource is not an API Porta issues tokens for".into(),
            ));
        }
    }
    let kept = requested.iter().filter(|s| {
        STANDARD.contains(s)
            || known.iter().any(|k| {
                k.scope == *s
                    && allowed.iter().any(|a| a == s)
                    && resource.is_none_or(|r| r == k.identifier)
            })
    });
    Ok(Scopes::from_known(kept))
}

/// `client_credentials`: exactly the allowed API scopes asked for (all allowed ones, or those of `resource`,
/// when none are named); anything else is `invalid_scope`.
pub fn for_client(
    conn: &mut AnyConnection,
    client_id: &str,
    requested: Option<&Scopes>,
    resource: Option<&str>,
) -> Result<(Scopes, AccessGrant), GrantError> {
    if let Some(r) = resource {
        check_resource(r)?;
    }
    let allowed = client_allowed_scopes::list(conn, client_id)?;
    let allowed_refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let known = api_scopes::find(conn, &allowed_refs)?;
    let of_resource = |k: &&api_scopes::ApiScope| resource.is_none_or(|r| r == k.identifier);
    let chosen: Vec<&api_scopes::ApiScope> = match requested.filter(|r| !r.is_empty()) {
        Some(req) => {
            let mut out = Vec::new();
            for s in req.iter() {
                match known.iter().find(|k| k.scope == s).filter(of_resource) {
                    Some(k) => out.push(k),
                    None => {
                        return Err(GrantError::InvalidScope(
                            "the scope is not one this client may be granted".into(),
                        ));
                    }
                }
            }
            out
        }
        None => known.iter().filter(of_resource).collect(),
    };
    if let Some(r) = resource
        && !chosen.iter().any(|k| k.identifier == r)
    {
        return Err(GrantError::InvalidTarget(
            "the resource is not an API this client may get tokens for".into(),
        ));
    }
    let scopes = Scopes::from_known(chosen.iter().map(|k| k.scope.as_str()));
    let grant = AccessGrant {
        apis: identifiers(chosen.iter().copied()),
        ..AccessGrant::default()
    };
    Ok((scopes, grant))
}

fn identifiers<'a>(scopes: impl Iterator<Item = &'a api_scopes::ApiScope>) -> Vec<String> {
    let mut ids: Vec<String> = scopes.map(|k| k.identifier.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A user grant (code or refresh): the audiences of its API scopes (narrowed to `resource` when given, which
/// must be one of them or Porta's userinfo), and the `groups` and `roles` claims as they are now.
pub fn for_user(
    conn: &mut AnyConnection,
    client_id: &str,
    user: &User,
    scopes: &Scopes,
    resource: Option<&str>,
    userinfo: &str,
) -> Result<AccessGrant, GrantError> {
    let names: Vec<&str> = scopes.iter().filter(|s| !STANDARD.contains(s)).collect();
    let known = api_scopes::find(conn, &names)?;
    let mut grant = AccessGrant {
        apis: identifiers(known.iter()),
        ..AccessGrant::default()
    };
    if let Some(r) = resource {
        check_resource(r)?;
        if r == userinfo && scopes.contains("openid") {
            grant.apis.clear();
            grant.narrowed = Some(Scopes::from_known(
                scopes.iter().filter(|s| STANDARD.contains(s)),
            ));
        } else if grant.apis.iter().any(|a| a == r) {
            grant.apis = vec![r.to_string()];
            grant.narrowed = Some(Scopes::from_known(
                known
                    .iter()
                    .filter(|k| k.identifier == r)
                    .map(|k| k.scope.as_str()),
            ));
        } else {
            return Err(GrantError::InvalidTarget(
                "the resource is not an audience of this grant".into(),
            ));
        }
    }
    if scopes.contains("groups") {
        grant.groups = Some(group_members::group_names(conn, &user.id)?);
    }
    if scopes.contains("roles") {
        grant.roles = Some(client_roles::for_user(conn, client_id, &user.id)?);
    }
    Ok(grant)
}

/// Whether `user` may sign in to the client: it names no allowed groups, or the user is in one of them.
pub fn may_use_client(
    conn: &mut AnyConnection,
    client_id: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let allowed = client_allowed_groups::ids(conn, client_id)?;
    if allowed.is_empty() {
        return Ok(true);
    }
    let mine = group_members::group_ids(conn, user_id)?;
    Ok(mine.iter().any(|g| allowed.contains(g)))
}

/// The `groups` and `roles` claims as they are now (for `/userinfo`), released by `scopes`.
pub fn claims_now(
    conn: &mut AnyConnection,
    client_id: &str,
    user_id: &str,
    scopes: &Scopes,
) -> Result<crate::tokens::claims::AuthzClaims, StoreError> {
    Ok(crate::tokens::claims::AuthzClaims {
        groups: match scopes.contains("groups") {
            true => Some(group_members::group_names(conn, user_id)?),
            false => None,
        },
        roles: match scopes.contains("roles") {
            true => Some(client_roles::for_user(conn, client_id, user_id)?),
            false => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERINFO: &str = "https://id.example.com/userinfo";

    #[test]
    fn audiences_name_the_apis_and_userinfo_when_openid_is_granted() {
        let grant = AccessGrant {
            apis: vec!["https://api.example.com".into()],
            ..AccessGrant::default()
        };
        let with_openid = Scopes::parse("openid items:read").unwrap();
        assert_eq!(
            audiences(USERINFO, &grant, &with_openid),
            ["https://api.example.com", USERINFO]
        );
        let api_only = Scopes::parse("items:read").unwrap();
        assert_eq!(
            audiences(USERINFO, &grant, &api_only),
            ["https://api.example.com"]
        );
        // Nothing to address: Porta's userinfo, which answers insufficient_scope.
        assert_eq!(
            audiences(USERINFO, &AccessGrant::default(), &Scopes::default()),
            [USERINFO]
        );
    }

    #[test]
    fn a_resource_is_an_absolute_uri_without_a_fragment() {
        assert!(check_resource("https://api.example.com/v1").is_ok());
        for bad in ["api", "/relative", "https://api.example.com/#frag", ""] {
            assert!(
                matches!(check_resource(bad), Err(GrantError::InvalidTarget(_))),
                "{bad}"
            );
        }
    }
}
