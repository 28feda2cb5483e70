//! The `api_scopes` table: the scopes each API defines. Scope names are unique across APIs, so a granted scope
//! names exactly one audience.

use diesel::prelude::*;

use crate::db::schema::{api_scopes, apis};
use crate::db::{AnyConnection, StoreError};

/// A scope, the identifier of its API, and the description shown on the consent page.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, serde::Serialize)]
pub struct ApiScope {
    pub scope: String,
    pub identifier: String,
    pub description: Option<String>,
}

/// Every API scope named in `scopes` (unknown names are left out).
pub fn find(conn: &mut AnyConnection, scopes: &[&str]) -> Result<Vec<ApiScope>, StoreError> {
    if scopes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(api_scopes::table
        .inner_join(apis::table)
        .filter(api_scopes::scope.eq_any(scopes))
        .select((api_scopes::scope, apis::identifier, api_scopes::description))
        .order(api_scopes::scope.asc())
        .load(conn)?)
}

/// The scopes of one API, sorted.
pub fn for_api(conn: &mut AnyConnection, api_id: &str) -> Result<Vec<ApiScope>, StoreError> {
    Ok(api_scopes::table
        .inner_join(apis::table)
        .filter(api_scopes::api_id.eq(api_id))
        .select((api_scopes::scope, apis::identifier, api_scopes::description))
        .order(api_scopes::scope.asc())
        .load(conn)?)
}

/// The names among `scopes` that already exist for an API other than `except_api`.
pub fn taken(
    conn: &mut AnyConnection,
    scopes: &[&str],
    except_api: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(api_scopes::table
        .filter(api_scopes::scope.eq_any(scopes))
        .filter(api_scopes::api_id.ne(except_api))
        .select(api_scopes::scope)
        .load(conn)?)
}

/// Replaces an API's scopes, keeping clients' permissions for the scopes that stay.
pub fn set(
    conn: &mut AnyConnection,
    api_id: &str,
    scopes: &[(String, Option<String>)],
) -> Result<(), StoreError> {
    let keep: Vec<&str> = scopes.iter().map(|(s, _)| s.as_str()).collect();
    diesel::delete(
        api_scopes::table
            .filter(api_scopes::api_id.eq(api_id))
            .filter(api_scopes::scope.ne_all(&keep)),
    )
    .execute(conn)?;
    for (scope, description) in scopes {
        let n = diesel::update(
            api_scopes::table
                .filter(api_scopes::scope.eq(scope))
                .filter(api_scopes::api_id.eq(api_id)),
        )
        .set(api_scopes::description.eq(description.as_deref()))
        .execute(conn)?;
        if n == 0 {
            diesel::insert_into(api_scopes::table)
                .values((
                    api_scopes::scope.eq(scope),
                    api_scopes::api_id.eq(api_id),
                    api_scopes::description.eq(description.as_deref()),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
