//! High-entropy random values (client secrets, codes, refresh tokens, session ids) and their stored form: a
//! SHA-256 hash, compared in constant time. A slow password hash on these would cap the token endpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits, base64url without padding (43 characters).
pub fn random_token() -> String {
    random_string(32)
}

/// `n` random bytes as base64url.
pub fn random_string(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a secret: hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// Constant-time equality of two strings (CSRF tokens and the like).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_verify_by_hash() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        let h = hash_secret(&a);
        assert_eq!(h.len(), 64);
        assert!(verify_secret(&a, &h));
        assert!(!verify_secret("other", &h));
    }
}
