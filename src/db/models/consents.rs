//! The `consents` table: which scopes a user has let a client have, so the consent page is shown once.

use diesel::prelude::*;

use crate::db::schema::consents;
use crate::db::{AnyConnection, StoreError};
use crate::domain::scope::Scopes;

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    /// Canonical scope string (sorted, single spaces).
    pub scope: String,
    pub granted_at: i64,
}

impl Consent {
    /// The scopes granted; a stored value that no longer parses grants nothing.
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }
}

pub fn find(
    conn: &mut AnyConnection,
    user_id: &str,
    client_id: &str,
) -> Result<Option<Consent>, StoreError> {
    Ok(consents::table
        .find((user_id, client_id))
        .first(conn)
        .optional()?)
}

/// Records a grant, adding `scopes` to what the user had already granted this client.
pub fn grant(
    conn: &mut AnyConnection,
    user_id: &str,
    client_id: &str,
    scopes: &Scopes,
    now: i64,
) -> Result<(), StoreError> {
    // Delete and insert in one transaction (a savepoint inside the caller's): portable across both backends, where
    // an upsert through the MultiConnection would need a per-backend `match`.
    conn.transaction::<_, StoreError, _>(|c| {
        let previous = find(c, user_id, client_id)?;
        let mut all: Vec<String> = scopes.iter().map(str::to_string).collect();
        if let Some(p) = &previous {
            all.extend(p.scopes().iter().map(str::to_string));
        }
        let merged = Scopes::parse(&all.join(" ")).unwrap_or_else(|_| scopes.clone());
        diesel::delete(consents::table.find((user_id, client_id))).execute(c)?;
        diesel::insert_into(consents::table)
            .values((
                consents::user_id.eq(user_id),
                consents::client_id.eq(client_id),
                consents::scope.eq(merged.to_string()),
                consents::granted_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// Forgets a user's grant to a client; the consent page shows again next time.
pub fn revoke(
    conn: &mut AnyConnection,
    user_id: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)? == 1)
}

/// Every grant a user has made.
pub fn list_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Consent>, StoreError> {
    Ok(consents::table
        .filter(consents::user_id.eq(user_id))
        .order(consents::client_id.asc())
        .load(conn)?)
}
