//! The `clients` table: registered relying parties. URI lists and grant types are stored as JSON arrays.

use diesel::prelude::*;

use crate::db::schema::clients;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub require_pkce: bool,
    pub require_mfa: bool,
    pub web_origins: String,
    pub require_par: bool,
    pub require_dpop: bool,
    pub id_token_alg: String,
    pub access_token_alg: String,
}

/// A client with its lists decoded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Client {
    #[serde(rename = "client_id")]
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub created_at: i64,
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client needs `sid` in logout tokens (always sent).
    pub backchannel_logout_session_required: bool,
    /// PKCE required even though the client is confidential.
    pub require_pkce: bool,
    /// Every sign-in to this client is multi-factor (`urn:porta:acr:mfa` at least).
    pub require_mfa: bool,
    /// Origins of a browser app that may call `/token`, `/userinfo` and `/revoke` from JavaScript (CORS).
    pub web_origins: Vec<String>,
    /// Authorization requests only through `/par` (RFC 9126).
    pub require_par: bool,
    /// Tokens only with a DPoP proof (RFC 9449).
    pub require_dpop: bool,
    /// The key family (`RS256`, `ES256`, `EdDSA`) that signs the client's ID tokens.
    pub id_token_alg: String,
    /// The key family that signs the client's access tokens.
    pub access_token_alg: String,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Whether a request may use `redirect_uri`: one of the registered URIs, exactly, or on a loopback IP literal
    /// with any port (RFC 8252 7.3; `domain::redirect_uri::matches`). The one check for every place a request's
    /// redirect URI meets the registration.
    pub fn accepts_redirect_uri(&self, redirect_uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| crate::domain::redirect_uri::matches(r, redirect_uri))
    }
}

fn decode_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn encode_list(v: &[String]) -> String {
    serde_json::to_string(v).expect("a list of strings always serializes")
}

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Self {
        Client {
            redirect_uris: decode_list(&r.redirect_uris),
            post_logout_redirect_uris: decode_list(&r.post_logout_redirect_uris),
            grant_types: decode_list(&r.grant_types),
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            is_public: r.is_public,
            first_party: r.first_party,
            created_at: r.created_at,
            backchannel_logout_uri: r.backchannel_logout_uri,
            backchannel_logout_session_required: r.backchannel_logout_session_required,
            require_pkce: r.require_pkce,
            require_mfa: r.require_mfa,
            web_origins: decode_list(&r.web_origins),
            require_par: r.require_par,
            require_dpop: r.require_dpop,
            id_token_alg: r.id_token_alg,
            access_token_alg: r.access_token_alg,
        }
    }
}

/// What it takes to register a client; the secret is already hashed.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub require_pkce: bool,
    pub require_mfa: bool,
    pub web_origins: Vec<String>,
    pub require_par: bool,
    pub require_dpop: bool,
    pub id_token_alg: String,
    pub access_token_alg: String,
}

pub fn insert(conn: &mut AnyConnection, new: &NewClient, now: i64) -> Result<(), StoreError> {
    diesel::insert_into(clients::table)
        .values((
            clients::id.eq(&new.id),
            clients::name.eq(&new.name),
            clients::secret_hash.eq(new.secret_hash.as_deref()),
            clients::is_public.eq(new.is_public),
            clients::first_party.eq(new.first_party),
            clients::redirect_uris.eq(encode_list(&new.redirect_uris)),
            clients::post_logout_redirect_uris.eq(encode_list(&new.post_logout_redirect_uris)),
            clients::grant_types.eq(encode_list(&new.grant_types)),
            clients::backchannel_logout_uri.eq(new.backchannel_logout_uri.as_deref()),
            clients::backchannel_logout_session_required
                .eq(new.backchannel_logout_session_required),
            clients::require_pkce.eq(new.require_pkce),
            clients::require_mfa.eq(new.require_mfa),
            clients::web_origins.eq(encode_list(&new.web_origins)),
            clients::require_par.eq(new.require_par),
            clients::require_dpop.eq(new.require_dpop),
            clients::id_token_alg.eq(&new.id_token_alg),
            clients::access_token_alg.eq(&new.access_token_alg),
            clients::created_at.eq(now),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<Client>, StoreError> {
    let row: Option<ClientRow> = clients::table.find(id).first(conn).optional()?;
    Ok(row.map(Client::from))
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<Client>, StoreError> {
    let rows: Vec<ClientRow> = clients::table.order(clients::name.asc()).load(conn)?;
    Ok(rows.into_iter().map(Client::from).collect())
}

fn found(rows: usize, id: &str) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::Conflict(format!("no client with id {id:?}")));
    }
    Ok(())
}

pub fn remove(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    let n = diesel::delete(clients::table.find(id)).execute(conn)?;
    found(n, id)
}

pub fn set_secret_hash(
    conn: &mut AnyConnection,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = diesel::update(clients::table.find(id))
        .set((clients::secret_hash.eq(hash), clients::updated_at.eq(now)))
        .execute(conn)?;
    found(n, id)
}

pub fn set_uris(
    conn: &mut AnyConnection,
    id: &str,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
    now: i64,
) -> Result<(), StoreError> {
    let n = diesel::update(clients::table.find(id))
        .set((
            clients::redirect_uris.eq(encode_list(redirect_uris)),
            clients::post_logout_redirect_uris.eq(encode_list(post_logout_redirect_uris)),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    found(n, id)
}

/// Writes the changeable settings of a client (`porta client update`, the console): everything but its id,
/// type, secret and grant types.
pub fn update(conn: &mut AnyConnection, c: &Client, now: i64) -> Result<(), StoreError> {
    let n = diesel::update(clients::table.find(&c.id))
        .set((
            clients::name.eq(&c.name),
            clients::redirect_uris.eq(encode_list(&c.redirect_uris)),
            clients::post_logout_redirect_uris.eq(encode_list(&c.post_logout_redirect_uris)),
            clients::backchannel_logout_uri.eq(c.backchannel_logout_uri.as_deref()),
            clients::backchannel_logout_session_required.eq(c.backchannel_logout_session_required),
            clients::require_pkce.eq(c.require_pkce),
            clients::require_mfa.eq(c.require_mfa),
            clients::web_origins.eq(encode_list(&c.web_origins)),
            clients::require_par.eq(c.require_par),
            clients::require_dpop.eq(c.require_dpop),
            clients::id_token_alg.eq(&c.id_token_alg),
            clients::access_token_alg.eq(&c.access_token_alg),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    found(n, &c.id)
}

/// Every web origin any client registered (`--web-origin`), for answering CORS preflights, which name no client.
/// Reads one column, of the clients that have any.
pub fn all_web_origins(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let lists: Vec<String> = clients::table
        .select(clients::web_origins)
        .filter(clients::web_origins.ne("[]"))
        .load(conn)?;
    Ok(lists.iter().flat_map(|l| decode_list(l)).collect())
}
