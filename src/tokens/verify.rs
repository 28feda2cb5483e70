//! Verification of Porta's own access tokens, for `/userinfo`, `/introspect` and `/revoke`: a kid the key set
//! knows, with the algorithm of that key's family (RS256, ES256 or EdDSA), `typ` `at+jwt` (RFC 9068 4), Porta's
//! issuer and audience, and `exp` against Porta's clock (not the system time, so tests can move it). `alg: none`,
//! HS256 signed with a public key and a header naming another family fail in the key set, which pins the
//! algorithm to the kid's family. Revocation (`revoked_jtis`) is the caller's database check.
//!
//! Verifying with a public key costs tens of microseconds, so callers may run it inline.

use jsonwebtoken::{Algorithm, Validation};

use crate::config::Settings;
use crate::keys::KeySet;

use super::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, access_token_audience};

/// Longer strings are not Porta's tokens; refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

/// The validation every access token passes; `exp` is checked by the caller's clock instead. The algorithm is
/// replaced by the kid's family in `KeySet::verify`.
fn validation(settings: &Settings, userinfo_audience: bool) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v.set_issuer(&[settings.issuer.as_str()]);
    if userinfo_audience {
        v.set_audience(&[access_token_audience(&settings.issuer)]);
    } else {
        v.validate_aud = false;
    }
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v
}

/// Whether `typ` names an access token (RFC 9068 4: `at+jwt`, optionally with the `application/` prefix).
fn is_access_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t == ACCESS_TOKEN_TYP || t == format!("application/{ACCESS_TOKEN_TYP}")
    })
}

/// Checks an access token's signature, type, issuer, audience (Porta's userinfo) and expiry at `now`.
pub fn verify_access_token(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
    now: i64,
) -> Result<AccessTokenClaims, VerifyError> {
    verify(keys, settings, token, now, true)
}

/// As `verify_access_token`, for any audience: introspection and revocation concern every token Porta issued,
/// including those addressed only to an API.
pub fn verify_access_token_any_audience(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
    now: i64,
) -> Result<AccessTokenClaims, VerifyError> {
    verify(keys, settings, token, now, false)
}

fn verify(
    keys: &KeySet,
    settings: &Settings,
    token: &str,
    now: i64,
    userinfo_audience: bool,
) -> Result<AccessTokenClaims, VerifyError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(VerifyError::Invalid);
    }
    let data = keys
        .verify::<AccessTokenClaims>(token, &validation(settings, userinfo_audience))
        .map_err(|_| VerifyError::Invalid)?;
    // `KeySet::verify` has pinned the algorithm to the family of the kid's key.
    if !is_access_typ(data.header.typ.as_deref()) {
        return Err(VerifyError::Invalid);
    }
    if data.claims.exp <= now {
        return Err(VerifyError::Expired);
    }
    Ok(data.claims)
}

/// Whether `token` looks like a JWT (three base64url segments) rather than an opaque refresh token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_check_accepts_both_spellings_only() {
        assert!(is_access_typ(Some("at+jwt")));
        assert!(is_access_typ(Some("application/AT+JWT")));
        assert!(!is_access_typ(Some("JWT")));
        assert!(!is_access_typ(None));
    }
}
