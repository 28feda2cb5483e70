//! The in-memory key set of one instance at one instant: the parsed signer of each family's active key, the
//! verification keys of every published key with the family that pins their algorithm, and the JWKS serialized
//! once with its strong ETag. Requests only ever read it; `Keys::reload` builds a new one from the database.
//! Signing goes through `signer::KeySigner`, parsed once per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::signature::Signer;
use jsonwebtoken::{DecodingKey, TokenData, Validation};
use sha2::{Digest, Sha256};

use super::KeyError;
use super::alg::Alg;
use super::lifecycle::{self, Timing};
use super::signer::KeySigner;
use crate::db::models::signing_keys::SigningKey;

/// A published key as it appears in the JWKS: public members only (RFC 7517 section 4; RFC 7518 sections 6.2.1
/// and 6.3.1; RFC 8037 section 2).
#[derive(Debug, serde::Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    kid: &'a str,
    #[serde(rename = "use")]
    use_: &'static str,
    alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct JwkSet<'a> {
    keys: Vec<Jwk<'a>>,
}

/// The keys of one instant. Cheap to share (`Arc`), never changed after it is built.
pub struct KeySet {
    /// The enabled families, RS256 first.
    algorithms: Vec<Alg>,
    /// The active key's signer of each family that has one.
    signers: Vec<Arc<KeySigner>>,
    /// Every published key by kid, with its family: the only algorithm its tokens verify with.
    verifiers: HashMap<String, (Alg, DecodingKey)>,
    jwks: bytes::Bytes,
    etag: String,
    at: i64,
    /// When the RS256 active key started signing, and when the next RS256 key takes over (metrics gauges).
    active_since: Option<i64>,
    next_activation: Option<i64>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "active",
                &self.signers.iter().map(|s| s.kid()).collect::<Vec<_>>(),
            )
            .field("published", &self.verifiers.keys().collect::<Vec<_>>())
            .field("etag", &self.etag)
            .field("at", &self.at)
            .finish()
    }
}

/// The verification key of a stored row, with its family.
fn decoding_key(k: &SigningKey) -> Result<(Alg, DecodingKey), KeyError> {
    let invalid = |e: &dyn fmt::Display| KeyError::InvalidKey(format!("{}: {e}", k.kid));
    let alg = Alg::parse(&k.alg).ok_or_else(|| invalid(&format!("unknown alg {}", k.alg)))?;
    let x = k.public_x.as_deref().unwrap_or_default();
    let key = match alg {
        Alg::Rs256 => DecodingKey::from_rsa_components(&k.public_n, &k.public_e),
        Alg::Es256 => DecodingKey::from_ec_components(x, k.public_y.as_deref().unwrap_or_default()),
        Alg::EdDsa => DecodingKey::from_ed_components(x),
    }
    .map_err(|e| invalid(&e))?;
    Ok((alg, key))
}

/// The JWK of a stored row (whose alg `decoding_key` has checked).
fn jwk(k: &SigningKey) -> Jwk<'_> {
    let alg = Alg::parse(&k.alg).unwrap_or(Alg::Rs256);
    let rsa = alg == Alg::Rs256;
    Jwk {
        kty: alg.kty(),
        kid: &k.kid,
        use_: "sig",
        alg: &k.alg,
        n: rsa.then_some(k.public_n.as_str()),
        e: rsa.then_some(k.public_e.as_str()),
        crv: alg.crv(),
        x: k.public_x.as_deref().filter(|_| !rsa),
        y: k.public_y.as_deref().filter(|_| alg == Alg::Es256),
    }
}

impl KeySet {
    /// An empty set: nothing signs, nothing verifies, the JWKS is `{"keys":[]}`.
    pub fn empty() -> KeySet {
        Self::assemble(&[], Vec::new(), Vec::new(), 0).expect("an empty JWKS serializes")
    }

    /// The set at instant `at` from the stored rows. `signers` holds parsed signers by kid; each enabled family's
    /// active key must be among them or that family has no signer. Every published key verifies, whatever its
    /// family; only the families in `algorithms` sign.
    pub fn build(
        rows: &[SigningKey],
        at: i64,
        t: &Timing,
        signers: &HashMap<String, Arc<KeySigner>>,
        algorithms: &[Alg],
    ) -> Result<KeySet, KeyError> {
        let mut published: Vec<(&SigningKey, lifecycle::KeyState)> = lifecycle::view(rows, at, t)
            .into_iter()
            .filter(|v| v.state.is_published())
            .map(|v| (v.key, v.state))
            .collect();
        // Newest first, so the JWKS bytes (and the ETag) are the same on every instance.
        published.sort_by(|a, b| (b.0.activates_at, &b.0.kid).cmp(&(a.0.activates_at, &a.0.kid)));
        let active = |alg: Alg| {
            published
                .iter()
                .find(|(k, s)| *s == lifecycle::KeyState::Active && k.alg == alg.as_str())
                .map(|(k, _)| *k)
        };
        let family_signers = algorithms
            .iter()
            .filter_map(|&a| active(a).and_then(|k| signers.get(&k.kid).cloned()))
            .collect();
        let active_since = active(Alg::Rs256).map(|k| k.activates_at);
        let next_activation = published
            .iter()
            .filter(|(k, s)| *s == lifecycle::KeyState::Next && k.alg == Alg::Rs256.as_str())
            .map(|(k, _)| k.activates_at)
            .min();
        let mut set = Self::assemble(
            algorithms,
            family_signers,
            published.into_iter().map(|(k, _)| k).collect(),
            at,
        )?;
        set.active_since = active_since;
        set.next_activation = next_activation;
        Ok(set)
    }

    /// The RS256 active key's age and the seconds until the next RS256 key signs, at `now`.
    pub fn rotation_timing(&self, now: i64) -> Option<(i64, i64)> {
        Some((now - self.active_since?, self.next_activation? - now))
    }

    fn assemble(
        algorithms: &[Alg],
        signers: Vec<Arc<KeySigner>>,
        published: Vec<&SigningKey>,
        at: i64,
    ) -> Result<KeySet, KeyError> {
        let mut verifiers = HashMap::with_capacity(published.len());
        for k in &published {
            verifiers.insert(k.kid.clone(), decoding_key(k)?);
        }
        let set = JwkSet {
            keys: published.iter().map(|k| jwk(k)).collect(),
        };
        let jwks = serde_json::to_vec(&set).map_err(KeyError::Serialize)?;
        // Strong ETag: a hash of the exact bytes, so equal bodies on different instances share it.
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&Sha256::digest(&jwks)[..18])
        );
        Ok(KeySet {
            algorithms: algorithms.to_vec(),
            signers,
            verifiers,
            jwks: bytes::Bytes::from(jwks),
            etag,
            at,
            active_since: None,
            next_activation: None,
        })
    }

    /// The signer of family `alg`, if it is enabled and has an active key.
    fn signer(&self, alg: Alg) -> Option<&KeySigner> {
        self.signers
            .iter()
            .find(|s| s.alg() == alg)
            .map(|s| s.as_ref())
    }

    /// The family `sign_as(alg, ..)` really signs with: `alg` when it has an active key, RS256 otherwise.
    pub fn effective_alg(&self, alg: Alg) -> Alg {
        if self.signer(alg).is_some() {
            alg
        } else {
            Alg::Rs256
        }
    }

    /// Compact JWS signed by the RS256 active key; see `sign_as`.
    pub fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        self.sign_as(Alg::Rs256, typ, claims)
    }

    /// Compact JWS signed by the active key of family `alg`, header `{alg, kid, typ}`. A family that is not
    /// enabled (`keys.algorithms` changed after a client chose it) falls back to RS256, which every relying party
    /// supports (OIDC Core section 15.1), with a warning. CPU-bound: callers run it on the blocking pool.
    pub fn sign_as<T: serde::Serialize>(
        &self,
        alg: Alg,
        typ: &str,
        claims: &T,
    ) -> Result<String, KeyError> {
        let signer = match self.signer(alg) {
            Some(s) => s,
            None => {
                let fallback = self.signer(Alg::Rs256).ok_or(KeyError::NoActiveKey)?;
                tracing::warn!(
                    alg = alg.as_str(),
                    "no active {alg} key (not in keys.algorithms?): signing with RS256 instead"
                );
                fallback
            }
        };
        let mut out = String::with_capacity(1024);
        out.push_str(&signer.header(typ)?);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(
            serde_json::to_vec(claims).map_err(KeyError::Serialize)?,
            &mut out,
        );
        let signature = signer
            .try_sign(out.as_bytes())
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }

    /// Verifies a JWS signed by any published key (next, active, retiring) chosen by the header kid. The key's
    /// family pins the algorithm: a header `alg` other than the family's is refused before any signature check,
    /// and `validation.algorithms` is replaced by that one algorithm, so `alg: none`, HS256 keyed with a public
    /// key, and a header naming another family (RS256 with an EC kid, ES256 with an RSA kid) all fail. Claims
    /// are checked per `validation`.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<TokenData<T>, KeyError> {
        let header = jsonwebtoken::decode_header(token).map_err(KeyError::Token)?;
        let kid = header.kid.as_deref().ok_or(KeyError::UnknownKid)?;
        let (alg, key) = self.verifiers.get(kid).ok_or(KeyError::UnknownKid)?;
        if header.alg != alg.jwt() {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        let mut pinned = validation.clone();
        pinned.algorithms = vec![alg.jwt()];
        jsonwebtoken::decode(token, key, &pinned).map_err(KeyError::Token)
    }

    /// The kid of the RS256 key that signs, or `""` when there is none.
    pub fn active_kid(&self) -> &str {
        self.active_kid_of(Alg::Rs256)
    }

    /// The kid of family `alg`'s key that signs, or `""` when there is none.
    pub fn active_kid_of(&self, alg: Alg) -> &str {
        self.signer(alg).map(|s| s.kid()).unwrap_or("")
    }

    /// The family of a published key.
    pub fn alg_of(&self, kid: &str) -> Option<Alg> {
        self.verifiers.get(kid).map(|(a, _)| *a)
    }

    /// Whether every enabled family (RS256 at least) has a key to sign with (`/readyz` answers 503 otherwise).
    pub fn can_sign(&self) -> bool {
        self.signer(Alg::Rs256).is_some()
            && self.algorithms.iter().all(|&a| self.signer(a).is_some())
    }

    /// The enabled families, RS256 first (discovery lists them).
    pub fn algorithms(&self) -> &[Alg] {
        &self.algorithms
    }

    /// The kids in the JWKS.
    pub fn published_kids(&self) -> impl Iterator<Item = &str> {
        self.verifiers.keys().map(String::as_str)
    }

    /// The JWKS document, serialized once; cloning the `Bytes` shares them.
    pub fn jwks_bytes(&self) -> &bytes::Bytes {
        &self.jwks
    }

    /// The strong ETag of `jwks_bytes`, quotes included.
    pub fn jwks_etag(&self) -> &str {
        &self.etag
    }

    /// The instant this set describes.
    pub fn at(&self) -> i64 {
        self.at
    }
}

#[cfg(test)]
mod tests;
