//! Minting: one RS256 signature per token with the active key (DESIGN.md, Signing keys). Signing is CPU-bound
//! (a fraction of a millisecond for RSA-2048), so callers run `mint` on the blocking pool, never on an async
//! worker (`oidc::token` does the whole exchange in one blocking task). The key set comes from memory
//! (`Keys::current`): no database round trip.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256, Sha512};

use crate::config::Settings;
use crate::db::models::users::User;
use crate::domain::scope::Scopes;
use crate::keys::{Alg, KeyError, KeySet};

use super::authz::{self, AccessGrant};
use super::claims::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, AuthzClaims, Confirmation, ID_TOKEN_TYP,
    IdTokenClaims, ScopedClaims, access_token_audience,
};

/// The signed-in user a grant speaks for.
#[derive(Debug, Clone)]
pub struct UserGrant {
    pub user: User,
    pub auth_time: i64,
    pub sid: Option<String>,
    pub amr: Vec<String>,
    /// Only for tokens minted from a code (OIDC Core 12.2: a refreshed ID token carries no new nonce).
    pub nonce: Option<String>,
}

/// Everything the tokens of one token response are made of; the caller decides `jti` and `now` first, because
/// they are recorded in the database before signing.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub client_id: String,
    pub scopes: Scopes,
    pub jti: String,
    pub now: i64,
    /// `None` for `client_credentials`: the client is the subject.
    pub user: Option<UserGrant>,
    /// Audiences and the `groups`/`roles` claims (`tokens::authz`).
    pub access: AccessGrant,
}

impl TokenRequest {
    /// An ID token goes with every user grant whose scope includes `openid`.
    pub fn wants_id_token(&self) -> bool {
        self.user.is_some() && self.scopes.contains("openid")
    }

    /// The scopes the access token carries: the grant's, or fewer when a `resource` narrowed it.
    pub fn access_scopes(&self) -> &Scopes {
        self.access.narrowed.as_ref().unwrap_or(&self.scopes)
    }

    /// When the access token expires.
    pub fn access_expires_at(&self, settings: &Settings) -> i64 {
        self.now + settings.tokens.access_token_ttl.as_secs() as i64
    }
}

/// The key families a client's tokens are signed with (`id_token_alg`, `access_token_alg`; RS256 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenAlgs {
    pub id_token: Alg,
    pub access_token: Alg,
}

impl Default for TokenAlgs {
    fn default() -> Self {
        TokenAlgs {
            id_token: Alg::Rs256,
            access_token: Alg::Rs256,
        }
    }
}

impl TokenAlgs {
    /// The families a client registered. A stored value Porta does not know (never written by Porta) signs
    /// RS256; a known family that is no longer enabled falls back to RS256 when signing (`KeySet::sign_as`).
    pub fn of(client_id: &str, id_token: &str, access_token: &str) -> TokenAlgs {
        TokenAlgs {
            id_token: client_alg(client_id, id_token),
            access_token: client_alg(client_id, access_token),
        }
    }
}

/// The family of a client's stored algorithm setting; RS256, with a warning, for a value Porta does not know.
pub fn client_alg(client_id: &str, value: &str) -> Alg {
    Alg::parse(value).unwrap_or_else(|| {
        tracing::warn!(
            client_id,
            alg = value,
            "unknown signing algorithm for a client: using RS256"
        );
        Alg::Rs256
    })
}

#[derive(Debug, Clone)]
pub struct Minted {
    pub access_token: String,
    pub id_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("signing failed: {0}")]
    Key(#[from] KeyError),
}

/// `at_hash` (OIDC Core 3.1.3.6): the left half of the hash of the access token's ASCII, base64url, with the hash
/// of the ID token's `alg`: SHA-256 for RS256 and ES256, SHA-512 for EdDSA over Ed25519 (the hash Ed25519 uses,
/// as the OpenID Foundation's EdDSA guidance and relying-party libraries such as `openidconnect` expect).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    match alg {
        Alg::Rs256 | Alg::Es256 => {
            URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
        }
        Alg::EdDsa => URL_SAFE_NO_PAD.encode(&Sha512::digest(access_token.as_bytes())[..32]),
    }
}

/// Signs the access token and, when the grant calls for one, the ID token, each with the family the client chose
/// (`algs`). CPU-bound.
pub fn mint(
    keys: &KeySet,
    settings: &Settings,
    req: &TokenRequest,
    algs: TokenAlgs,
) -> Result<Minted, MintError> {
    mint_bound(keys, settings, req, algs, None)
}

/// As `mint`, the access token bound to the DPoP key `jkt` when given (RFC 9449 6.1: `cnf.jkt`).
pub fn mint_bound(
    keys: &KeySet,
    settings: &Settings,
    req: &TokenRequest,
    algs: TokenAlgs,
    jkt: Option<&str>,
) -> Result<Minted, MintError> {
    let iss = settings.issuer.clone();
    let access_ttl = settings.tokens.access_token_ttl.as_secs() as i64;
    let access_scopes = req.access_scopes();
    let scope = (!access_scopes.is_empty()).then(|| access_scopes.to_string());
    let aud = authz::audiences(&access_token_audience(&iss), &req.access, access_scopes);
    let claims_for = |scopes: &Scopes| AuthzClaims {
        groups: req
            .access
            .groups
            .clone()
            .filter(|_| scopes.contains("groups")),
        roles: req
            .access
            .roles
            .clone()
            .filter(|_| scopes.contains("roles")),
    };
    let access = AccessTokenClaims {
        iss: iss.clone(),
        sub: req
            .user
            .as_ref()
            .map_or_else(|| req.client_id.clone(), |u| u.user.id.clone()),
        aud: Audience(aud),
        client_id: req.client_id.clone(),
        scope,
        jti: req.jti.clone(),
        iat: req.now,
        exp: req.now + access_ttl,
        auth_time: req.user.as_ref().map(|u| u.auth_time),
        authz: claims_for(access_scopes),
        cnf: jkt.map(|j| Confirmation { jkt: j.to_string() }),
    };
    let access_token = keys.sign_as(algs.access_token, ACCESS_TOKEN_TYP, &access)?;
    // The family that will really sign the ID token (RS256 if the client's is no longer enabled): `at_hash`
    // depends on it.
    let id_alg = keys.effective_alg(algs.id_token);
    let id_token = match &req.user {
        Some(u) if req.wants_id_token() => {
            let claims = IdTokenClaims {
                iss,
                sub: u.user.id.clone(),
                aud: req.client_id.clone(),
                exp: req.now + settings.tokens.id_token_ttl.as_secs() as i64,
                iat: req.now,
                auth_time: u.auth_time,
                nonce: u.nonce.clone(),
                at_hash: at_hash(&access_token, id_alg),
                azp: req.client_id.clone(),
                sid: u.sid.clone(),
                amr: u.amr.clone(),
                acr: Some(crate::web::authn::acr_for_amr(&u.amr).to_string()),
                scoped: ScopedClaims::for_user(&u.user, &req.scopes),
                authz: claims_for(&req.scopes),
            };
            Some(keys.sign_as(id_alg, ID_TOKEN_TYP, &claims)?)
        }
        _ => None,
    };
    Ok(Minted {
        access_token,
        id_token,
        expires_in: access_ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: at_hash of this access token.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::Rs256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // ES256 hashes with SHA-256 too; EdDSA takes the left half of SHA-512 (32 bytes, 43 characters).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::Es256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        let ed = at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::EdDsa);
        assert_eq!(ed.len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&ed).unwrap(),
            Sha512::digest(b"jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y")[..32]
        );
    }
}
