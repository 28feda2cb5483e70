//! What a client admits and may be granted: its allowed groups (none: everyone may sign in) and the API scopes
//! it may be given. Called inside the client operations' transactions (`manage::clients`), so a bad name refuses
//! the whole change.

use crate::db::AnyConnection;
use crate::db::models::{api_scopes, client_allowed_groups, client_allowed_scopes};

use super::ManageError;

/// Replaces a client's allowed groups by name; unknown groups are refused. Returns whether anything changed.
pub fn set_allowed_groups(
    c: &mut AnyConnection,
    client_id: &str,
    names: &[String],
) -> Result<bool, ManageError> {
    let ids = super::groups::ids_for(c, names)?;
    let mut before = client_allowed_groups::ids(c, client_id)?;
    let mut after = ids.clone();
    before.sort();
    after.sort();
    client_allowed_groups::set(c, client_id, &ids)?;
    Ok(before != after)
}

/// Replaces a client's allowed API scopes; scopes no API defines are refused. Returns whether anything changed.
pub fn set_allowed_scopes(
    c: &mut AnyConnection,
    client_id: &str,
    scopes: &[String],
) -> Result<bool, ManageError> {
    let mut wanted: Vec<String> = scopes
        .iter()
        .flat_map(|s| s.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    wanted.sort();
    wanted.dedup();
    let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let known = api_scopes::find(c, &refs)?;
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !known.iter().any(|k| &k.scope == *w))
    {
        return Err(ManageError::Invalid(format!(
            "no API defines the scope {unknown:?} (see porta api list)"
        )));
    }
    let before = client_allowed_scopes::list(c, client_id)?;
    client_allowed_scopes::set(c, client_id, &wanted)?;
    Ok(before != wanted)
}

/// A client's allowed groups and API scopes, for display.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClientAccess {
    pub allowed_groups: Vec<String>,
    pub allowed_scopes: Vec<String>,
}

pub fn of_client(c: &mut AnyConnection, client_id: &str) -> Result<ClientAccess, ManageError> {
    Ok(ClientAccess {
        allowed_groups: client_allowed_groups::names(c, client_id)?,
        allowed_scopes: client_allowed_scopes::list(c, client_id)?,
    })
}
