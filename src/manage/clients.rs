//! Registering relying parties and rotating their secrets. A secret is shown once and stored as a SHA-256 hash.

use crate::crypto::secrets;
use crate::db::models::{audit, clients};
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::domain::redirect_uri::RedirectUri;

use super::{Actor, ManageError, refused};

pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

#[derive(Debug, Clone, Default)]
pub struct NewClientInput {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub is_public: bool,
    /// Empty means `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    pub first_party: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Validates a list of URIs, refusing duplicates.
pub fn parse_uris(uris: &[String]) -> Result<Vec<String>, ManageError> {
    let mut out: Vec<String> = Vec::new();
    for u in uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let parsed = RedirectUri::parse(u).map_err(ManageError::Invalid)?;
        if !out.iter().any(|o| o == parsed.as_str()) {
            out.push(parsed.into_string());
        }
    }
    Ok(out)
}

fn check(input: &NewClientInput) -> Result<clients::NewClient, ManageError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ManageError::Invalid(
            "client name must be 1 to 200 characters".into(),
        ));
    }
    let mut grants: Vec<String> = Vec::new();
    for g in &input.grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(ManageError::Invalid(format!(
                "unknown grant type {g:?}: use {}",
                GRANT_TYPES.join(", ")
            )));
        }
        if !grants.contains(g) {
            grants.push(g.clone());
        }
    }
    if grants.is_empty() {
        grants = vec!["authorization_code".into(), "refresh_token".into()];
    }
    if input.is_public && grants.iter().any(|g| g == "client_credentials") {
        return Err(ManageError::Invalid(
            "a public client cannot use client_credentials".into(),
        ));
    }
    let redirect_uris = parse_uris(&input.redirect_uris)?;
    if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(ManageError::Invalid(
            "an authorization_code client needs at least one --redirect-uri".into(),
        ));
    }
    Ok(clients::NewClient {
        id: secrets::random_string(16),
        name: name.to_string(),
        secret_hash: None,
        is_public: input.is_public,
        first_party: input.first_party,
        redirect_uris,
        post_logout_redirect_uris: parse_uris(&input.post_logout_redirect_uris)?,
        grant_types: grants,
    })
}

fn audit_client(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    client_id: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    audit::record(
        c,
        &audit::Event {
            actor: actor.name.as_deref(),
            action,
            target: Some(client_id),
            ip: actor.ip.as_deref(),
            detail,
        },
        now,
    )
}

pub fn add(
    conn: &mut AnyConnection,
    input: &NewClientInput,
    actor: &Actor,
    now: i64,
) -> Result<Registered, ManageError> {
    let mut new = check(input)?;
    let secret = (!new.is_public).then(secrets::random_token);
    new.secret_hash = secret.as_deref().map(secrets::hash_secret);
    write_tx(conn, |c| {
        clients::insert(c, &new, now)?;
        audit_client(c, actor, "client.add", &new.id, Some(&new.name), now)?;
        Ok::<_, ManageError>(())
    })?;
    Ok(Registered {
        client_id: new.id,
        client_secret: secret,
    })
}

pub fn remove(
    conn: &mut AnyConnection,
    client_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        clients::remove(c, client_id).map_err(refused)?;
        Ok(audit_client(
            c,
            actor,
            "client.remove",
            client_id,
            None,
            now,
        )?)
    })
}

pub fn rotate_secret(
    conn: &mut AnyConnection,
    client_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<Registered, ManageError> {
    let secret = secrets::random_token();
    write_tx(conn, |c| {
        let client = clients::by_id(c, client_id)?
            .ok_or_else(|| ManageError::Invalid(format!("no client with id {client_id:?}")))?;
        if client.is_public {
            return Err(ManageError::Invalid(format!(
                "client {client_id:?} is public and has no secret"
            )));
        }
        clients::set_secret_hash(c, client_id, &secrets::hash_secret(&secret), now)?;
        Ok(audit_client(
            c,
            actor,
            "client.rotate_secret",
            client_id,
            None,
            now,
        )?)
    })?;
    Ok(Registered {
        client_id: client_id.to_string(),
        client_secret: Some(secret),
    })
}

pub fn set_uris(
    conn: &mut AnyConnection,
    client_id: &str,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    let redirect = parse_uris(redirect_uris)?;
    let post_logout = parse_uris(post_logout_redirect_uris)?;
    write_tx(conn, |c| {
        let client = clients::by_id(c, client_id)?
            .ok_or_else(|| ManageError::Invalid(format!("no client with id {client_id:?}")))?;
        if client.allows_grant("authorization_code") && redirect.is_empty() {
            return Err(ManageError::Invalid(
                "an authorization_code client needs at least one redirect URI".into(),
            ));
        }
        clients::set_uris(c, client_id, &redirect, &post_logout, now)?;
        Ok(audit_client(
            c,
            actor,
            "client.update",
            client_id,
            None,
            now,
        )?)
    })
}
