//! Registering relying parties and rotating their secrets. A secret is shown once and stored as a SHA-256 hash.

use crate::crypto::secrets;
use crate::db::models::clients;
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::keys::Alg;

pub use super::client_fields::{
    GRANT_TYPES, check_alg_enabled, parse_alg, parse_backchannel_uri, parse_origins, parse_uris,
};
use super::client_fields::{check_name, grant_name};
use super::{Actor, ManageError, refused};

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

/// Settings a client may have beyond the basics (`porta client add --backchannel-logout-uri ... --require-pkce`).
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed; validated like a redirect URI.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// Refuse authorization requests without PKCE even though the client is confidential.
    pub require_pkce: bool,
    /// Groups whose members may sign in (none: everyone); see `manage::access`.
    pub allowed_groups: Vec<String>,
    /// API scopes the client may be granted; see `manage::access`.
    pub allowed_scopes: Vec<String>,
    /// Every sign-in to the client is multi-factor (issue 11).
    pub require_mfa: bool,
    /// Origins of a browser app allowed to call the token, userinfo and revocation endpoints (CORS).
    pub web_origins: Vec<String>,
    /// Authorization requests only through `/par`.
    pub require_par: bool,
    /// Tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// `None` means RS256.
    pub id_token_alg: Option<String>,
    /// `None` means RS256.
    pub access_token_alg: Option<String>,
    /// The enabled key families (`keys.algorithms`): an algorithm outside them is refused. `None` skips the
    /// check (internal callers that know better); the CLI and the console always pass the setting.
    pub enabled_algs: Option<Vec<Alg>>,
}

/// A change to a registered client: each `None` leaves that setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    /// Replaces the whole list.
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the whole list.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some(None)` stops back-channel logout for the client.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
    pub require_pkce: Option<bool>,
    /// Replaces the allowed groups (empty: everyone may sign in).
    pub allowed_groups: Option<Vec<String>>,
    /// Replaces the allowed API scopes.
    pub allowed_scopes: Option<Vec<String>>,
    pub require_mfa: Option<bool>,
    /// Replaces the web origins.
    pub web_origins: Option<Vec<String>>,
    pub require_par: Option<bool>,
    pub require_dpop: Option<bool>,
    pub id_token_alg: Option<String>,
    pub access_token_alg: Option<String>,
    /// As `ClientOptions::enabled_algs`; only an algorithm that changes is checked, so other settings of a client
    /// left on a family since disabled can still be edited (its tokens fall back to RS256 meanwhile).
    pub enabled_algs: Option<Vec<Alg>>,
}

fn check(
    input: &NewClientInput,
    options: &ClientOptions,
) -> Result<clients::NewClient, ManageError> {
    let name = check_name(&input.name)?;
    let mut grants: Vec<String> = Vec::new();
    for g in &input.grant_types {
        let g = &grant_name(g.trim()).to_string();
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
    let redirect_uris = parse_uris(&input.redirect_uris, input.is_public)?;
    if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(ManageError::Invalid(
            "an authorization_code client needs at least one --redirect-uri".into(),
        ));
    }
    let new = clients::NewClient {
        id: secrets::random_string(16),
        name,
        secret_hash: None,
        is_public: input.is_public,
        first_party: input.first_party,
        redirect_uris,
        post_logout_redirect_uris: parse_uris(&input.post_logout_redirect_uris, input.is_public)?,
        grant_types: grants,
        backchannel_logout_uri: match &options.backchannel_logout_uri {
            Some(u) => parse_backchannel_uri(u)?,
            None => None,
        },
        backchannel_logout_session_required: options.backchannel_logout_session_required,
        require_pkce: options.require_pkce,
        require_mfa: options.require_mfa,
        web_origins: parse_origins(&options.web_origins)?,
        require_par: options.require_par,
        require_dpop: options.require_dpop,
        id_token_alg: parse_alg(options.id_token_alg.as_deref().unwrap_or_default())?,
        access_token_alg: parse_alg(options.access_token_alg.as_deref().unwrap_or_default())?,
    };
    let enabled = options.enabled_algs.as_deref();
    check_alg_enabled("id_token_alg", &new.id_token_alg, enabled)?;
    check_alg_enabled("access_token_alg", &new.access_token_alg, enabled)?;
    Ok(new)
}

fn audit_client(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    client_id: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    actor.record(c, action, Some(client_id), detail, now)
}

pub fn add(
    conn: &mut AnyConnection,
    input: &NewClientInput,
    actor: &Actor,
    now: i64,
) -> Result<Registered, ManageError> {
    add_with(conn, input, &ClientOptions::default(), actor, now)
}

/// Registers a client with `options` set.
pub fn add_with(
    conn: &mut AnyConnection,
    input: &NewClientInput,
    options: &ClientOptions,
    actor: &Actor,
    now: i64,
) -> Result<Registered, ManageError> {
    let mut new = check(input, options)?;
    let secret = (!new.is_public).then(secrets::random_token);
    new.secret_hash = secret.as_deref().map(secrets::hash_secret);
    write_tx(conn, |c| {
        clients::insert(c, &new, now)?;
        super::access::set_allowed_groups(c, &new.id, &options.allowed_groups)?;
        super::access::set_allowed_scopes(c, &new.id, &options.allowed_scopes)?;
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

/// Replaces the redirect and post-logout redirect URIs.
pub fn set_uris(
    conn: &mut AnyConnection,
    client_id: &str,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    let change = ClientUpdate {
        redirect_uris: Some(redirect_uris.to_vec()),
        post_logout_redirect_uris: Some(post_logout_redirect_uris.to_vec()),
        ..ClientUpdate::default()
    };
    update(conn, client_id, &change, actor, now).map(|_| ())
}

/// Applies `change` to a client: everything is validated before anything is written, and the audit row names
/// the settings that changed. Returns the client as saved.
pub fn update(
    conn: &mut AnyConnection,
    client_id: &str,
    change: &ClientUpdate,
    actor: &Actor,
    now: i64,
) -> Result<clients::Client, ManageError> {
    let name = change.name.as_deref().map(check_name).transpose()?;
    let backchannel = match &change.backchannel_logout_uri {
        Some(Some(u)) => Some(parse_backchannel_uri(u)?),
        Some(None) => Some(None),
        None => None,
    };
    let web_origins = change
        .web_origins
        .as_deref()
        .map(parse_origins)
        .transpose()?;
    let id_token_alg = change.id_token_alg.as_deref().map(parse_alg).transpose()?;
    let access_token_alg = change
        .access_token_alg
        .as_deref()
        .map(parse_alg)
        .transpose()?;
    write_tx(conn, |c| {
        let mut client = clients::by_id(c, client_id)?
            .ok_or_else(|| ManageError::Invalid(format!("no client with id {client_id:?}")))?;
        // What a URI may be depends on the client's type, so the lists are checked once it is loaded.
        let uris = |v: &Option<Vec<String>>| {
            v.as_deref()
                .map(|v| parse_uris(v, client.is_public))
                .transpose()
        };
        let redirect = uris(&change.redirect_uris)?;
        let post_logout = uris(&change.post_logout_redirect_uris)?;
        let mut changed: Vec<&str> = Vec::new();
        let mut set = |field: &'static str, differs: bool| {
            if differs {
                changed.push(field);
            }
        };
        if let Some(v) = name {
            set("name", v != client.name);
            client.name = v;
        }
        if let Some(v) = redirect {
            set("redirect_uris", v != client.redirect_uris);
            client.redirect_uris = v;
        }
        if let Some(v) = post_logout {
            set(
                "post_logout_redirect_uris",
                v != client.post_logout_redirect_uris,
            );
            client.post_logout_redirect_uris = v;
        }
        if let Some(v) = backchannel {
            set("backchannel_logout_uri", v != client.backchannel_logout_uri);
            client.backchannel_logout_uri = v;
        }
        if let Some(v) = change.backchannel_logout_session_required {
            set(
                "backchannel_logout_session_required",
                v != client.backchannel_logout_session_required,
            );
            client.backchannel_logout_session_required = v;
        }
        if let Some(v) = change.require_pkce {
            set("require_pkce", v != client.require_pkce);
            client.require_pkce = v;
        }
        if let Some(v) = change.require_mfa {
            set("require_mfa", v != client.require_mfa);
            client.require_mfa = v;
        }
        if let Some(v) = web_origins {
            set("web_origins", v != client.web_origins);
            client.web_origins = v;
        }
        if let Some(v) = change.require_par {
            set("require_par", v != client.require_par);
            client.require_par = v;
        }
        if let Some(v) = change.require_dpop {
            set("require_dpop", v != client.require_dpop);
            client.require_dpop = v;
        }
        if let Some(v) = id_token_alg {
            if v != client.id_token_alg {
                check_alg_enabled("id_token_alg", &v, change.enabled_algs.as_deref())?;
            }
            set("id_token_alg", v != client.id_token_alg);
            client.id_token_alg = v;
        }
        if let Some(v) = access_token_alg {
            if v != client.access_token_alg {
                check_alg_enabled("access_token_alg", &v, change.enabled_algs.as_deref())?;
            }
            set("access_token_alg", v != client.access_token_alg);
            client.access_token_alg = v;
        }
        if let Some(v) = &change.allowed_groups
            && super::access::set_allowed_groups(c, client_id, v)?
        {
            changed.push("allowed_groups");
        }
        if let Some(v) = &change.allowed_scopes
            && super::access::set_allowed_scopes(c, client_id, v)?
        {
            changed.push("allowed_scopes");
        }
        if client.allows_grant("authorization_code") && client.redirect_uris.is_empty() {
            return Err(ManageError::Invalid(
                "an authorization_code client needs at least one redirect URI".into(),
            ));
        }
        clients::update(c, &client, now)?;
        let detail = if changed.is_empty() {
            "no change".to_string()
        } else {
            changed.join(", ")
        };
        audit_client(c, actor, "client.update", client_id, Some(&detail), now)?;
        Ok(client)
    })
}
