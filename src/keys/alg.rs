//! The key families: RS256 (RSA), ES256 (ECDSA P-256) and EdDSA (Ed25519). Each family has its own next, active
//! and retiring keys under the same lifecycle; a key's family is stored in `signing_keys.alg` and pins the
//! algorithm its tokens verify with (RFC 8725 section 3.1: never let the token's header choose).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key family, named by its JWS `alg` (RFC 7518 section 3.1; RFC 8037 section 3.1 for EdDSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Alg {
    /// Every family, in display order.
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JWS `alg` value, as stored in `signing_keys.alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The family of a stored `alg` value.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// jsonwebtoken's name for it.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// The JWK `kty` (RFC 7518 section 6.1, RFC 8037 section 2).
    pub fn kty(self) -> &'static str {
        match self {
            Alg::Rs256 => "RSA",
            Alg::Es256 => "EC",
            Alg::EdDsa => "OKP",
        }
    }

    /// The JWK `crv` of the EC and OKP families.
    pub fn crv(self) -> Option<&'static str> {
        match self {
            Alg::Rs256 => None,
            Alg::Es256 => Some("P-256"),
            Alg::EdDsa => Some("Ed25519"),
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = String;

    fn from_str(s: &str) -> Result<Alg, String> {
        Alg::parse(s).ok_or_else(|| "expected RS256, ES256 or EdDSA".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.as_str()), Some(a));
            assert_eq!(a.as_str().parse::<Alg>(), Ok(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<Alg>(&json).unwrap(), a);
            assert_eq!(format!("{:?}", a.jwt()), a.as_str());
        }
        assert_eq!(Alg::parse("HS256"), None);
        assert_eq!(Alg::parse("rs256"), None);
    }
}
