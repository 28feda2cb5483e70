//! RSA key generation with the `rsa` crate, and the kid: the RFC 7638 JWK thumbprint (SHA-256 over the required
//! members `e`, `kty`, `n` in lexicographic order, no whitespace, base64url).
//!
//! Generation takes from tens of milliseconds to seconds, so callers run it on the blocking pool and never inside a
//! database transaction. Tests that are not about generation use `KeyGenerator::test_pool`, which hands out keys
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

use super::KeyError;

/// A freshly generated key: public members (base64url, as in a JWK) and the PKCS#1 private key in DER.
/// `Debug` never shows the private part.
pub struct GeneratedKey {
    pub kid: String,
    pub bits: usize,
    pub n: String,
    pub e: String,
    pub private_der: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl Clone for GeneratedKey {
    fn clone(&self) -> Self {
        GeneratedKey {
            kid: self.kid.clone(),
            bits: self.bits,
            n: self.n.clone(),
            e: self.e.clone(),
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
        bits,
        n,
        e,
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

    /// A key of `bits` bits. Blocking: call it from the blocking pool.
    pub fn generate(&self, bits: usize) -> Result<GeneratedKey, KeyError> {
        match self {
            KeyGenerator::Rsa => generate_rsa(bits),
            KeyGenerator::TestPool(cursor) => {
                test_pool_key(bits, cursor.fetch_add(1, Ordering::SeqCst))
            }
        }
    }
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
}
