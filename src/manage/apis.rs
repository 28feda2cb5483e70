//! APIs (resource servers, `porta api ...`): an identifier (an absolute URI: the tokens' `aud` and the RFC 8707
//! `resource`), a name, and scopes with the descriptions the consent page shows. Scope names are unique across
//! APIs and may not be one of Porta's own.

use crate::db::models::{api_scopes, apis};
use crate::db::{AnyConnection, write_tx};

use super::{Actor, ManageError};

/// An API with its scopes, for listings and `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiInfo {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ScopeInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ScopeInfo {
    pub scope: String,
    pub description: Option<String>,
}

/// Parses `SCOPE` or `SCOPE=description`, refusing malformed, reserved and repeated names.
pub fn parse_scopes(specs: &[String]) -> Result<Vec<(String, Option<String>)>, ManageError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (name, description) = match spec.split_once('=') {
            Some((n, d)) => (n.trim(), Some(d.trim()).filter(|d| !d.is_empty())),
            None => (spec, None),
        };
        let ok = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:/".contains(&b));
        if !ok {
            return Err(ManageError::Invalid(format!(
                "scope {name:?} must be 1 to 128 characters from letters, digits and . _ - : /"
            )));
        }
        if crate::domain::scope::SUPPORTED.contains(&name) {
            return Err(ManageError::Invalid(format!(
                "{name:?} is one of Porta's own scopes"
            )));
        }
        if description.is_some_and(|d| d.chars().count() > 200) {
            return Err(ManageError::Invalid(
                "a scope description is at most 200 characters".into(),
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(ManageError::Invalid(format!(
                "scope {name:?} is named twice"
            )));
        }
        out.push((name.to_string(), description.map(str::to_string)));
    }
    Ok(out)
}

/// An API identifier: an absolute http(s) URI without a fragment (RFC 8707 2).
fn check_identifier(identifier: &str) -> Result<String, ManageError> {
    let identifier = identifier.trim();
    match url::Url::parse(identifier) {
        Ok(u) if u.fragment().is_none() && identifier.len() <= 512 => Ok(identifier.to_string()),
        _ => Err(ManageError::Invalid(format!(
            "API identifier {identifier:?} must be an absolute URI without a fragment"
        ))),
    }
}

fn check_name(name: &str) -> Result<String, ManageError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ManageError::Invalid(
            "API name must be 1 to 200 characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn audit_api(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    identifier: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<(), ManageError> {
    Ok(actor.record(c, action, Some(identifier), detail, now)?)
}

fn find(c: &mut AnyConnection, identifier: &str) -> Result<apis::Api, ManageError> {
    apis::by_identifier(c, identifier)?
        .ok_or_else(|| ManageError::Invalid(format!("no API with identifier {identifier:?}")))
}

fn write_scopes(
    c: &mut AnyConnection,
    api_id: &str,
    scopes: &[(String, Option<String>)],
) -> Result<(), ManageError> {
    let names: Vec<&str> = scopes.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(taken) = api_scopes::taken(c, &names, api_id)?.first() {
        return Err(ManageError::Invalid(format!(
            "scope {taken:?} belongs to another API: scope names are unique across APIs"
        )));
    }
    api_scopes::set(c, api_id, scopes)?;
    Ok(())
}

pub fn add(
    conn: &mut AnyConnection,
    identifier: &str,
    name: &str,
    scopes: &[String],
    actor: &Actor,
    now: i64,
) -> Result<ApiInfo, ManageError> {
    let identifier = check_identifier(identifier)?;
    let name = check_name(name)?;
    let scopes = parse_scopes(scopes)?;
    let api = apis::Api {
        id: uuid::Uuid::new_v4().to_string(),
        identifier,
        name,
        created_at: now,
        updated_at: now,
    };
    write_tx(conn, |c| {
        apis::insert(c, &api).map_err(super::refused)?;
        write_scopes(c, &api.id, &scopes)?;
        audit_api(c, actor, "api.add", &api.identifier, Some(&api.name), now)?;
        info(c, api.clone())
    })
}

/// Changes an API's name and, when `scopes` is given, replaces its scopes (clients keep the permissions for
/// the scopes that stay).
pub fn update(
    conn: &mut AnyConnection,
    identifier: &str,
    name: Option<&str>,
    scopes: Option<&[String]>,
    actor: &Actor,
    now: i64,
) -> Result<ApiInfo, ManageError> {
    let name = name.map(check_name).transpose()?;
    let scopes = scopes.map(parse_scopes).transpose()?;
    write_tx(conn, |c| {
        let mut api = find(c, identifier)?;
        let mut changed = Vec::new();
        if let Some(n) = name {
            apis::set_name(c, &api.id, &n, now)?;
            changed.push("name");
            api.name = n;
        }
        if let Some(s) = &scopes {
            write_scopes(c, &api.id, s)?;
            changed.push("scopes");
        }
        let detail = if changed.is_empty() {
            "no change".to_string()
        } else {
            changed.join(", ")
        };
        audit_api(c, actor, "api.update", identifier, Some(&detail), now)?;
        info(c, api)
    })
}

/// Removes an API: its scopes go, and so do clients' permissions for them. Tokens already issued stay valid
/// until they expire (they are JWTs the API checks by itself).
pub fn remove(
    conn: &mut AnyConnection,
    identifier: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        let api = find(c, identifier)?;
        apis::delete(c, &api.id)?;
        audit_api(c, actor, "api.remove", identifier, None, now)
    })
}

fn info(c: &mut AnyConnection, api: apis::Api) -> Result<ApiInfo, ManageError> {
    let scopes = api_scopes::for_api(c, &api.id)?
        .into_iter()
        .map(|s| ScopeInfo {
            scope: s.scope,
            description: s.description,
        })
        .collect();
    Ok(ApiInfo {
        identifier: api.identifier,
        name: api.name,
        scopes,
    })
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<ApiInfo>, ManageError> {
    apis::list(conn)?
        .into_iter()
        .map(|a| info(conn, a))
        .collect()
}
