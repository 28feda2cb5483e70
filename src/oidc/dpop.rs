//! DPoP proofs (RFC 9449): checking one proof JWT against the request it came with, as a plain function of the
//! proof, what the request expects, and `now`. The replay check (`jti` seen before) is the caller's database step
//! (`dpop_jtis`); `dpop_check` holds the HTTP side. Signatures are verified by `jsonwebtoken` with a key built
//! from the proof's own `jwk` header, which must be a public key of an algorithm listed in `ALGS`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The proof algorithms Porta verifies (discovery's `dpop_signing_alg_values_supported`).
pub const ALGS: &[&str] = &["ES256", "EdDSA", "RS256"];
/// Longer proofs are refused before any parsing.
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// How far ahead of Porta's clock a proof's `iat` may be (the client's clock runs a little fast).
pub const FUTURE_LEEWAY: i64 = 10;
/// The JOSE `typ` of a proof (RFC 9449 4.2).
const TYP: &str = "dpop+jwt";
/// JWK members that only a private or symmetric key has (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;
const MAX_JTI: usize = 256;

/// What the request a proof came with says (RFC 9449 4.3 steps 8 to 12).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The HTTP method, as sent.
    pub method: &'a str,
    /// The endpoint's public URL (issuer + path): what `htu` must name.
    pub url: &'a str,
    /// The access token presented with the proof, at a protected resource: `ath` must be its hash.
    pub access_token: Option<&'a str>,
    /// The server nonces accepted now, when the server demands one.
    pub nonces: Option<&'a [String]>,
    pub now: i64,
    /// `tokens.dpop_max_age` in seconds.
    pub max_age: i64,
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint (SHA-256, base64url) of the proof's key: the `cnf.jkt` of what it binds.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

impl Proof {
    /// What identifies the proof in the replay cache: the SHA-256 of key and `jti` (a `jti` is unique per key).
    pub fn replay_key(&self) -> String {
        crate::crypto::secrets::hash_secret(&format!("{}:{}", self.jkt, self.jti))
    }

    /// Until when the proof must be remembered: after that its `iat` is too old to be accepted anyway.
    pub fn remember_until(&self, max_age: i64) -> i64 {
        self.iat.saturating_add(max_age).saturating_add(1)
    }
}

/// Why a proof was refused. The texts are fixed: nothing from the request is echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("{0}")]
    Invalid(&'static str),
    /// The server demands a nonce and the proof has none or an old one (RFC 9449 8).
    #[error("the DPoP proof must carry the server's current nonce")]
    UseNonce,
}

#[derive(Debug, Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    /// A NumericDate may have a fraction (RFC 7519 2).
    iat: f64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn invalid(d: &'static str) -> DpopError {
    DpopError::Invalid(d)
}

/// Checks a proof (RFC 9449 4.3): its form, `typ`, algorithm, public `jwk`, signature, `htm`, `htu`, `iat`, and
/// `nonce` and `ath` when expected.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, DpopError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err(invalid("the DPoP proof is not a JWT"));
    }
    let header = raw_header(proof)?;
    let typ = header.get("typ").and_then(|t| t.as_str());
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case(TYP)) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = match header.get("alg").and_then(|a| a.as_str()) {
        Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        Some("RS256") => Algorithm::RS256,
        _ => return Err(invalid("the DPoP proof's alg is not supported")),
    };
    let jwk = public_jwk(header.get("jwk"), alg)?;
    let key =
        DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the DPoP proof's jwk is invalid"))?;
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &validation)
        .map_err(|_| invalid("the DPoP proof's signature or claims are invalid"))?
        .claims;
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("the DPoP proof's jwk is invalid"))?;

    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(invalid("the DPoP proof's jti is missing or too long"));
    }
    if claims.htm != expected.method {
        return Err(invalid("the DPoP proof's htm does not match the request"));
    }
    if normalized(&claims.htu).is_none_or(|htu| Some(htu) != normalized(expected.url)) {
        return Err(invalid("the DPoP proof's htu does not match the request"));
    }
    if !claims.iat.is_finite() {
        return Err(invalid("the DPoP proof's iat is invalid"));
    }
    let iat = claims.iat.floor() as i64;
    if iat > expected.now.saturating_add(FUTURE_LEEWAY) {
        return Err(invalid("the DPoP proof was issued in the future"));
    }
    if iat < expected.now.saturating_sub(expected.max_age) {
        return Err(invalid("the DPoP proof is too old"));
    }
    if let Some(nonces) = expected.nonces
        && !claims.nonce.as_ref().is_some_and(|n| nonces.contains(n))
    {
        return Err(DpopError::UseNonce);
    }
    if let Some(token) = expected.access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(invalid(
            "the DPoP proof's ath does not match the access token",
        ));
    }
    Ok(Proof {
        jkt,
        jti: claims.jti,
        iat,
    })
}

/// The JOSE header as JSON, to see members `jsonwebtoken::Header` would drop (a private key's `d`).
fn raw_header(proof: &str) -> Result<serde_json::Map<String, serde_json::Value>, DpopError> {
    let first = proof.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| invalid("the DPoP proof's header is malformed"))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("the DPoP proof's header is malformed"))
}

/// The `jwk` header as a public key of the family `alg` needs (RFC 9449 4.3 steps 5 and 7).
fn public_jwk(value: Option<&serde_json::Value>, alg: Algorithm) -> Result<Jwk, DpopError> {
    let Some(serde_json::Value::Object(members)) = value else {
        return Err(invalid("the DPoP proof has no jwk header"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(members.clone()))
        .map_err(|_| invalid("the DPoP proof's jwk is invalid"))?;
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        (AlgorithmParameters::RSA(p), Algorithm::RS256) => URL_SAFE_NO_PAD
            .decode(&p.n)
            .is_ok_and(|n| n.len() >= MIN_RSA_MODULUS),
        _ => false,
    };
    if !fits {
        return Err(invalid("the DPoP proof's jwk does not fit its alg"));
    }
    Ok(jwk)
}

/// A URL as `htu` comparisons see it (RFC 9449 4.3 step 9): syntax- and scheme-normalized (RFC 3986 6.2.2,
/// 6.2.3: case, default port, dot segments), without query and fragment.
fn normalized(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// `ath` (RFC 9449 4.2): the base64url SHA-256 of the access token's ASCII.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The server nonce of time window `window` (RFC 9449 8): an HMAC of the window under a secret every instance
/// derives from the master key, so any instance issues and accepts the same nonces without talking to the others.
pub fn nonce(secret: &[u8], window: i64) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, format!("porta dpop nonce {window}").as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// The nonces accepted at `now`: the current window's (first: the one to hand out) and the previous one's, so a
/// nonce stays good for at least one whole window of `period` seconds.
pub fn nonces(secret: &[u8], now: i64, period: i64) -> [String; 2] {
    let window = now.div_euclid(period.max(1));
    [nonce(secret, window), nonce(secret, window - 1)]
}

#[cfg(test)]
mod tests;
