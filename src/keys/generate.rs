//! Key generation: RSA with the `rsa` crate, P-256 and Ed25519 with `aws-lc-rs`; and the kid: the RFC 7638 JWK
//! thumbprint (SHA-256 over the required members in lexicographic order, no whitespace, base64url).
//!
//! RSA generation takes from tens of milliseconds to seconds, so callers run it on the blocking pool and never
//! inside a database transaction; EC and Ed25519 keys take microseconds. Tests that are not about generation use `KeyGenerator::test_pool`, which hands out keys
//! generated once per process.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};

use super::KeyError;
use super::alg::Alg;

/// A freshly generated key: public members (base64url, as in a JWK) and the private key in DER (PKCS#1 for RSA,
/// PKCS#8 for EC and Ed25519). RSA keys fill `n` and `e`, the others `x` (and `y` for EC) and leave `n`, `e`
/// empty. `Debug` never shows the private part.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: Alg,
    pub bits: usize,
    pub n: String,
    pub e: String,
    pub x: Option<String>,
    pub y: Option<String>,
    pub private_der: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl Clone for GeneratedKey {
    fn clone(&self) -> Self {
        GeneratedKey {
            kid: self.kid.clone(),
            alg: self.alg,
            bits: self.bits,
            n: self.n.clone(),
            e: self.e.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            private_der: Zeroizing::new(self.private_der.to_vec()),
        }
    }
}

/// RFC 7638 thumbprint of an RSA public key given as base64url `n` and `e`.
pub fn thumbprint(n: &str, e: &str) -> String {
    // Members in lexicographic order, no whitespace (RFC 7638 section 3.2). n and e are base64url, which needs no
    // JSON escaping.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// RFC 7638 thumbprint of a P-256 public key (`crv`, `kty`, `x`, `y`).
pub fn thumbprint_ec(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// RFC 7638 (and RFC 8037 section 2) thumbprint of an Ed25519 public key (`crv`, `kty`, `x`).
pub fn thumbprint_okp(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Generates a P-256 key; the public key is the uncompressed point `0x04 || X || Y` (SEC 1 section 2.3.3).
pub fn generate_ec() -> Result<GeneratedKey, KeyError> {
    let fail = |_| KeyError::Generate("P-256 key generation failed".into());
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(fail)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let (x, y) = ec_coordinates(pair.public_key().as_ref())
        .ok_or_else(|| KeyError::Generate("unexpected P-256 public key encoding".into()))?;
    Ok(GeneratedKey {
        kid: thumbprint_ec(&x, &y),
        alg: Alg::Es256,
        bits: 256,
        n: String::new(),
        e: String::new(),
        x: Some(x),
        y: Some(y),
        private_der: Zeroizing::new(pkcs8.as_ref().to_vec()),
    })
}

/// The base64url `x` and `y` of an uncompressed P-256 point.
pub fn ec_coordinates(point: &[u8]) -> Option<(String, String)> {
    match point {
        [0x04, rest @ ..] if rest.len() == 64 => Some((
            URL_SAFE_NO_PAD.encode(&rest[..32]),
            URL_SAFE_NO_PAD.encode(&rest[32..]),
        )),
        _ => None,
    }
}

/// Generates an Ed25519 key; the public key is its raw 32 bytes (RFC 8037 section 2).
pub fn generate_ed() -> Result<GeneratedKey, KeyError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyError::Generate("Ed25519 key generation failed".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Ok(GeneratedKey {
        kid: thumbprint_okp(&x),
        alg: Alg::EdDsa,
        bits: 256,
        n: String::new(),
        e: String::new(),
        x: Some(x),
        y: None,
        private_der: Zeroizing::new(pkcs8.as_ref().to_vec()),
    })
}

/// Generates an RSA key of `bits` bits with public exponent 65537.
pub fn generate_rsa(bits: usize) -> Result<GeneratedKey, KeyError> {
    let mut rng = rand::rngs::OsRng;
    let key =
        rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| KeyError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    Ok(GeneratedKey {
        kid: thumbprint(&n, &e),
        alg: Alg::Rs256,
        bits,
        n,
        e,
        x: None,
        y: None,
        private_der: Zeroizing::new(der.as_bytes().to_vec()),
    })
}

/// Where new keys come from. `Rsa` in production; `TestPool` in tests and benchmarks.
#[derive(Clone)]
pub enum KeyGenerator {
    /// Generate a fresh key of the configured size.
    Rsa,
    /// Hand out keys from a process-wide pool, in turn. Each clone shares the cursor, so every key a generator
    /// (and its clones) gives out is distinct. Never use it in production: the same keys serve every caller.
    TestPool(Arc<AtomicUsize>),
}

impl fmt::Debug for KeyGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyGenerator::Rsa => f.write_str("KeyGenerator::Rsa"),
            KeyGenerator::TestPool(_) => f.write_str("KeyGenerator::TestPool"),
        }
    }
}

impl KeyGenerator {
    /// A generator over the process-wide pool of test keys, starting at its first key.
    pub fn test_pool() -> KeyGenerator {
        KeyGenerator::TestPool(Arc::new(AtomicUsize::new(0)))
    }

    /// A key of family `alg`; `bits` is the RSA size. Blocking: call it from the blocking pool. EC and Ed25519
    /// keys are always fresh (generating them is cheaper than pooling).
    pub fn generate_for(&self, alg: Alg, bits: usize) -> Result<GeneratedKey, KeyError> {
        let key = match alg {
            Alg::Rs256 => return self.generate(bits),
            Alg::Es256 => generate_ec()?,
            Alg::EdDsa => generate_ed()?,
        };
        if let KeyGenerator::TestPool(_) = self {
            test_issued()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(key.clone());
        }
        Ok(key)
    }

    /// Every EC and Ed25519 key a test generator has handed out in this process (RSA test keys can be had again
    /// from the pool): tests that look for leaked private key material need them.
    pub fn test_issued() -> Vec<GeneratedKey> {
        test_issued()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// An RSA key of `bits` bits. Blocking: call it from the blocking pool.
    pub fn generate(&self, bits: usize) -> Result<GeneratedKey, KeyError> {
        match self {
            KeyGenerator::Rsa => generate_rsa(bits),
            KeyGenerator::TestPool(cursor) => {
                test_pool_key(bits, cursor.fetch_add(1, Ordering::SeqCst))
            }
        }
    }
}

fn test_issued() -> &'static Mutex<Vec<GeneratedKey>> {
    static ISSUED: OnceLock<Mutex<Vec<GeneratedKey>>> = OnceLock::new();
    ISSUED.get_or_init(|| Mutex::new(Vec::new()))
}

/// The `index`th pooled test key; the pool grows on demand, one generation per new index per process.
fn test_pool_key(bits: usize, index: usize) -> Result<GeneratedKey, KeyError> {
    type Pool = Mutex<Vec<(usize, Vec<GeneratedKey>)>>;
    static POOL: OnceLock<Pool> = OnceLock::new();
    let pool = POOL.get_or_init(|| Mutex::new(Vec::new()));
    // A poisoned lock only means another test panicked while generating; the keys present are still whole.
    let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
    let slot = match pool.iter().position(|(b, _)| *b == bits) {
        Some(i) => i,
        None => {
            pool.push((bits, Vec::new()));
            pool.len() - 1
        }
    };
    let keys = &mut pool[slot].1;
    while keys.len() <= index {
        keys.push(generate_rsa(bits)?);
    }
    Ok(keys[index].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn pool_keys_are_distinct_per_generator_and_shared_across_generators() {
        let g = KeyGenerator::test_pool();
        let a = g.generate(2048).unwrap();
        let b = g.clone().generate(2048).unwrap();
        assert_ne!(a.kid, b.kid);
        assert_eq!(KeyGenerator::test_pool().generate(2048).unwrap().kid, a.kid);
        assert_eq!(a.kid, thumbprint(&a.n, &a.e));
        assert!(!format!("{a:?}").contains(&a.n));
    }

    #[test]
    fn ec_and_ed_keys_carry_their_public_members_and_thumbprints() {
        let g = KeyGenerator::test_pool();
        let ec = g.generate_for(Alg::Es256, 2048).unwrap();
        let (x, y) = (ec.x.clone().unwrap(), ec.y.clone().unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(&x).unwrap().len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(&y).unwrap().len(), 32);
        assert_eq!(ec.kid, thumbprint_ec(&x, &y));
        assert!(ec.n.is_empty());
        let ed = g.generate_for(Alg::EdDsa, 2048).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(ed.x.as_ref().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(ed.kid, thumbprint_okp(ed.x.as_ref().unwrap()));
        assert!(ed.y.is_none());
        assert_ne!(g.generate_for(Alg::EdDsa, 2048).unwrap().kid, ed.kid);
        // Where the secret sits in the PKCS#8 DER (`04 20` then 32 bytes: the P-256 scalar at 36, the Ed25519
        // seed at 16); tests/key_material.rs looks for leaks of exactly these bytes.
        assert_eq!(ec.private_der[34..36], [0x04, 0x20]);
        assert_eq!(ed.private_der[14..16], [0x04, 0x20]);
        assert!(KeyGenerator::test_issued().iter().any(|k| k.kid == ed.kid));
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        assert_eq!(
            thumbprint_okp("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
