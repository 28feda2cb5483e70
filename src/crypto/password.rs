//! Human passwords: argon2id at the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
//! Call these on the blocking pool: each costs tens of milliseconds by design.
//!
//! Sign-in verifies through `verify_in` with a `Workspace` the caller keeps and reuses (see `crypto::verifier`):
//! argon2's own `verify_password` allocates and frees 19 MiB on every call, and under a burst the allocator's
//! per-thread arenas keep those freed buffers, so memory grew with the peak concurrency and never came back.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid")
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Checks a password against a PHC string. A malformed stored hash never matches. Allocates argon2's memory for
/// this one call: sign-in uses `verify_in`.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// argon2's working memory, kept between verifications so the same pages serve every sign-in.
pub struct Workspace(Vec<Block>);

impl Workspace {
    /// Memory for the current parameters (19 MiB); grows if a stored hash asks for more.
    pub fn new() -> Workspace {
        Workspace(vec![Block::default(); params().block_count()])
    }

    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

/// Stored hashes asking for more memory than this (KiB) never match rather than allocate without bound.
const MAX_M_COST: u32 = 256 * 1024;

/// As `verify`, computing argon2 in `ws` instead of fresh memory.
pub fn verify_in(password: &str, phc: &str, ws: &mut Workspace) -> bool {
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        if params.m_cost() > MAX_M_COST {
            return None;
        }
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        let count = params.block_count();
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, ws.blocks(count))
            .ok()?;
        Some(bool::from(out.ct_eq(expected.as_bytes())))
    };
    check().unwrap_or(false)
}

/// Spends the same time as a real verification, for users that do not exist (no user enumeration by timing).
pub fn verify_dummy(password: &str) {
    let _ = verify(password, dummy());
}

/// As `verify_dummy`, in `ws`.
pub fn verify_dummy_in(password: &str, ws: &mut Workspace) {
    let _ = verify_in(password, dummy(), ws);
}

fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("porta-dummy-password-for-timing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn a_reused_workspace_verifies_like_fresh_memory() {
        let h = hash("correct horse");
        let mut ws = Workspace::new();
        for _ in 0..2 {
            assert!(verify_in("correct horse", &h, &mut ws));
            assert!(!verify_in("wrong", &h, &mut ws));
        }
        assert!(!verify_in("correct horse", "not a hash", &mut ws));
        // Other parameters (an older, smaller cost) still verify.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_in("pw", &small, &mut ws));
        verify_dummy_in("x", &mut ws);
    }
}
