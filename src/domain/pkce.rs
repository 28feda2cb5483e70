//! PKCE (RFC 7636). Only `S256` is accepted; `plain` is refused because it protects nothing against an attacker
//! who can read the authorization request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::crypto::secrets::ct_eq;

/// A code challenge as sent to `/authorize`: 43 base64url characters (a SHA-256 digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// `method` defaults to `plain` in RFC 7636 4.3 when absent, which Porta refuses.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<PkceChallenge, String> {
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err("code_challenge_method must be S256".into());
            }
            Some(other) => return Err(format!("unsupported code_challenge_method {other:?}")),
        }
        let ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err("code_challenge must be the base64url SHA-256 of the verifier".into());
        }
        Ok(PkceChallenge(challenge.to_string()))
    }

    /// Rebuilds a challenge read back from storage.
    pub fn from_stored(s: String) -> PkceChallenge {
        PkceChallenge(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 4.6: BASE64URL(SHA256(verifier)) == challenge, with the verifier's own syntax checked (4.1).
    pub fn verify(&self, verifier: &str) -> bool {
        let syntax = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        syntax
            && ct_eq(
                &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                &self.0,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_example_verifies() {
        let c = PkceChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!c.verify("short"));
    }

    #[test]
    fn plain_and_malformed_are_refused() {
        assert!(PkceChallenge::parse(CHALLENGE, Some("plain")).is_err());
        assert!(PkceChallenge::parse(CHALLENGE, None).is_err());
        assert!(PkceChallenge::parse("abc", Some("S256")).is_err());
        assert!(PkceChallenge::parse(&format!("{}!", &CHALLENGE[..42]), Some("S256")).is_err());
    }

    proptest! {
        #[test]
        fn any_verifier_matches_its_own_challenge(v in "[A-Za-z0-9._~-]{43,128}") {
            let c = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
            let parsed = PkceChallenge::parse(&c, Some("S256")).unwrap();
            prop_assert!(parsed.verify(&v));
        }
    }
}
