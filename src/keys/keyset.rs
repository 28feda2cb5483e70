//! The in-memory key set of one instance at one instant: the parsed signer of the active key, the verification
//! keys of every published key, and the JWKS serialized once with its strong ETag. Requests only ever read it;
//! `Keys::reload` builds a new one from the database.
//! Signing goes through `signer::RsaSigner`, parsed once per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::signature::Signer;
use jsonwebtoken::{Algorithm, DecodingKey, TokenData, Validation};
use sha2::{Digest, Sha256};

use super::KeyError;
use super::lifecycle::{self, Timing};
use super::signer::RsaSigner;
use crate::db::models::signing_keys::SigningKey;

/// A published key as it appears in the JWKS: public members only (RFC 7517 section 4, RFC 7518 section 6.3.1).
#[derive(Debug, serde::Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    kid: &'a str,
    #[serde(rename = "use")]
    use_: &'static str,
    alg: &'a str,
    n: &'a str,
    e: &'a str,
}

#[derive(serde::Serialize)]
struct JwkSet<'a> {
    keys: Vec<Jwk<'a>>,
}

/// The keys of one instant. Cheap to share (`Arc`), never changed after it is built.
pub struct KeySet {
    signer: Option<Arc<RsaSigner>>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: bytes::Bytes,
    etag: String,
    at: i64,
    /// When the active key started signing, and when the next key takes over (for the metrics gauges).
    active_since: Option<i64>,
    next_activation: Option<i64>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.active_kid())
            .field("published", &self.verifiers.keys().collect::<Vec<_>>())
            .field("etag", &self.etag)
            .field("at", &self.at)
            .finish()
    }
}

impl KeySet {
    /// An empty set: nothing signs, nothing verifies, the JWKS is `{"keys":[]}`.
    pub fn empty() -> KeySet {
        Self::assemble(None, Vec::new(), 0).expect("an empty JWKS serializes")
    }

    /// The set at instant `at` from the stored rows. `signers` holds parsed signers by kid; the active key's must
    /// be among them or the set has no signer.
    pub fn build(
        rows: &[SigningKey],
        at: i64,
        t: &Timing,
        signers: &HashMap<String, Arc<RsaSigner>>,
    ) -> Result<KeySet, KeyError> {
        let mut published: Vec<(&SigningKey, lifecycle::KeyState)> = lifecycle::view(rows, at, t)
            .into_iter()
            .filter(|v| v.state.is_published())
            .map(|v| (v.key, v.state))
            .collect();
        // Newest first, so the JWKS bytes (and the ETag) are the same on every instance.
        published.sort_by(|a, b| (b.0.activates_at, &b.0.kid).cmp(&(a.0.activates_at, &a.0.kid)));
        let signer = published
            .iter()
            .find(|(_, s)| *s == lifecycle::KeyState::Active)
            .and_then(|(k, _)| signers.get(&k.kid).cloned());
        let active_since = published
            .iter()
            .find(|(_, s)| *s == lifecycle::KeyState::Active)
            .map(|(k, _)| k.activates_at);
        let next_activation = published
            .iter()
            .filter(|(_, s)| *s == lifecycle::KeyState::Next)
            .map(|(k, _)| k.activates_at)
            .min();
        let mut set = Self::assemble(signer, published.into_iter().map(|(k, _)| k).collect(), at)?;
        set.active_since = active_since;
        set.next_activation = next_activation;
        Ok(set)
    }

    /// The active key's age and the seconds until the next key signs, at `now`.
    pub fn rotation_timing(&self, now: i64) -> Option<(i64, i64)> {
        Some((now - self.active_since?, self.next_activation? - now))
    }

    fn assemble(
        signer: Option<Arc<RsaSigner>>,
        published: Vec<&SigningKey>,
        at: i64,
    ) -> Result<KeySet, KeyError> {
        let mut verifiers = HashMap::with_capacity(published.len());
        for k in &published {
            let key = DecodingKey::from_rsa_components(&k.public_n, &k.public_e)
                .map_err(|e| KeyError::InvalidKey(format!("{}: {e}", k.kid)))?;
            verifiers.insert(k.kid.clone(), key);
        }
        let set = JwkSet {
            keys: published
                .iter()
                .map(|k| Jwk {
                    kty: "RSA",
                    kid: &k.kid,
                    use_: "sig",
                    alg: &k.alg,
                    n: &k.public_n,
                    e: &k.public_e,
                })
                .collect(),
        };
        let jwks = serde_json::to_vec(&set).map_err(KeyError::Serialize)?;
        // Strong ETag: a hash of the exact bytes, so equal bodies on different instances share it.
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&Sha256::digest(&jwks)[..18])
        );
        Ok(KeySet {
            signer,
            verifiers,
            jwks: bytes::Bytes::from(jwks),
            etag,
            at,
            active_since: None,
            next_activation: None,
        })
    }

    /// Compact JWS, RS256, header `{alg, kid (active key), typ}`. CPU-bound: callers run it on the blocking pool.
    pub fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let signer = self.signer.as_deref().ok_or(KeyError::NoActiveKey)?;
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

    /// Verifies a JWS signed by any published key (next, active, retiring) chosen by the header kid; RS256 only
    /// (`alg: none`, HS256 and unknown kids are refused). Claims are checked per `validation`, whose `algorithms`
    /// must be `[RS256]` (jsonwebtoken refuses a mix of families).
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<TokenData<T>, KeyError> {
        let header = jsonwebtoken::decode_header(token).map_err(KeyError::Token)?;
        if header.alg != Algorithm::RS256 {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        let kid = header.kid.as_deref().ok_or(KeyError::UnknownKid)?;
        let key = self.verifiers.get(kid).ok_or(KeyError::UnknownKid)?;
        jsonwebtoken::decode(token, key, validation).map_err(KeyError::Token)
    }

    /// The kid of the key that signs, or `""` when there is none (`/readyz` then answers 503).
    pub fn active_kid(&self) -> &str {
        self.signer.as_deref().map(|s| s.kid()).unwrap_or("")
    }

    /// Whether a key is available to sign.
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
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
mod tests {
    use super::*;
    use crate::keys::generate::KeyGenerator;
    use crate::keys::lifecycle::tests::key;
    use jsonwebtoken::Header;

    const T: Timing = Timing {
        rotation_period: 1000,
        prepublication: 100,
        retire_after: 500,
    };

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    /// Two real keys: `a` active, `b` next; both signers parsed.
    fn set() -> (KeySet, Vec<SigningKey>) {
        let g = KeyGenerator::test_pool();
        let (ga, gb) = (g.generate(2048).unwrap(), g.generate(2048).unwrap());
        let mut rows = vec![key(&ga.kid, 0, Some(1000)), key(&gb.kid, 1000, None)];
        for (row, k) in rows.iter_mut().zip([&ga, &gb]) {
            row.public_n = k.n.clone();
            row.public_e = k.e.clone();
        }
        let mut signers = HashMap::new();
        for k in [&ga, &gb] {
            signers.insert(
                k.kid.clone(),
                Arc::new(RsaSigner::from_der(&k.kid, &k.private_der, &k.n).unwrap()),
            );
        }
        (KeySet::build(&rows, 10, &T, &signers).unwrap(), rows)
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v
    }

    #[test]
    fn signs_with_the_active_key_and_verifies() {
        let (set, rows) = set();
        assert_eq!(set.active_kid(), rows[0].kid);
        let claims = Claims {
            sub: "u1".into(),
            exp: 4_000_000_000,
        };
        let token = set.sign("JWT", &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(rows[0].kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        for typ in ["at+jwt", "logout+jwt"] {
            let t = set.sign(typ, &claims).unwrap();
            assert_eq!(
                jsonwebtoken::decode_header(&t).unwrap().typ.as_deref(),
                Some(typ)
            );
            set.verify::<Claims>(&t, &validation()).unwrap();
        }
        assert_eq!(header.alg, Algorithm::RS256);
        let data: TokenData<Claims> = set.verify(&token, &validation()).unwrap();
        assert_eq!(data.claims, claims);
        // jsonwebtoken's own RS256 verification agrees with the hand-built JWS.
        let key = DecodingKey::from_rsa_components(&rows[0].public_n, &rows[0].public_e).unwrap();
        jsonwebtoken::decode::<Claims>(&token, &key, &validation()).unwrap();
    }

    #[test]
    fn refuses_none_hs256_unknown_kid_tampering_and_garbage() {
        let (set, rows) = set();
        let token = set
            .sign(
                "JWT",
                &Claims {
                    sub: "u1".into(),
                    exp: 4_000_000_000,
                },
            )
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        // alg none, no signature.
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "kid": rows[0].kid})),
            parts[1]
        );
        assert!(set.verify::<Claims>(&none, &validation()).is_err());
        // HS256 keyed with the public modulus: the classic key-confusion attack.
        let header = Header {
            kid: Some(rows[0].kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let hs = jsonwebtoken::encode(
            &header,
            &Claims {
                sub: "admin".into(),
                exp: 4_000_000_000,
            },
            &jsonwebtoken::EncodingKey::from_secret(rows[0].public_n.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            set.verify::<Claims>(&hs, &validation()),
            Err(KeyError::UnsupportedAlgorithm)
        ));
        // Unknown kid.
        let unknown = format!(
            "{}.{}.{}",
            b64(&serde_json::json!({"alg": "RS256", "kid": "nope"})),
            parts[1],
            parts[2]
        );
        assert!(matches!(
            set.verify::<Claims>(&unknown, &validation()),
            Err(KeyError::UnknownKid)
        ));
        // Signed by the next key's kid but with the active key's signature.
        let swapped = format!(
            "{}.{}.{}",
            b64(&serde_json::json!({"alg": "RS256", "kid": rows[1].kid})),
            parts[1],
            parts[2]
        );
        assert!(set.verify::<Claims>(&swapped, &validation()).is_err());
        // Tampered payload.
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::json!({"sub": "admin", "exp": 4_000_000_000i64})),
            parts[2]
        );
        assert!(set.verify::<Claims>(&tampered, &validation()).is_err());
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b",
            "\u{0}.\u{1}.\u{2}",
            "eyJ.eyJ.eyJ",
        ] {
            assert!(
                set.verify::<Claims>(garbage, &validation()).is_err(),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn jwks_holds_public_members_only_with_a_stable_strong_etag() {
        let (set, rows) = set();
        let v: serde_json::Value = serde_json::from_slice(set.jwks_bytes()).unwrap();
        let keys = v["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        // Newest first.
        assert_eq!(keys[0]["kid"], rows[1].kid.as_str());
        for k in keys {
            let mut members: Vec<&str> =
                k.as_object().unwrap().keys().map(String::as_str).collect();
            members.sort();
            assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
            assert_eq!(k["use"], "sig");
            assert_eq!(k["alg"], "RS256");
        }
        assert!(set.jwks_etag().starts_with('"') && set.jwks_etag().ends_with('"'));
        let (again, _) = self::set();
        assert_eq!(again.jwks_etag(), set.jwks_etag());
        assert!(!KeySet::empty().can_sign());
        assert!(KeySet::empty().sign("JWT", &1).is_err());
    }

    #[test]
    fn a_signer_refuses_a_private_key_of_another_row() {
        let g = KeyGenerator::test_pool();
        let (a, b) = (g.generate(2048).unwrap(), g.generate(2048).unwrap());
        assert!(RsaSigner::from_der(&a.kid, &a.private_der, &b.n).is_err());
        assert!(RsaSigner::from_der(&a.kid, b"not der", &a.n).is_err());
    }
}
