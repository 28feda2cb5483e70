//! The RS256 signer of one key: an `aws_lc_rs` `RsaKeyPair` parsed once, usable as jsonwebtoken's `JwtSigner`.
//! jsonwebtoken's own `encode` re-parses the DER key on every call, which costs more than half the time of a
//! signature (issue 3, item 8); the JOSE headers are encoded once per key too.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::signature::Signer;
use jsonwebtoken::{Algorithm, Header};

use super::KeyError;

/// An RS256 signer over a parsed RSA key pair, usable as jsonwebtoken's `JwtSigner`.
pub struct RsaSigner {
    kid: String,
    pair: RsaKeyPair,
    rng: SystemRandom,
    /// The encoded JOSE headers of the two token types Porta mints (ID tokens `JWT`, access tokens `at+jwt`,
    /// RFC 9068), built once per key rather than per token.
    headers: [(&'static str, String); 2],
}

/// The base64url JOSE header `{alg: RS256, kid, typ}`.
fn encoded_header(kid: &str, typ: &str) -> Result<String, KeyError> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    header.typ = Some(typ.to_string());
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(KeyError::Serialize)?))
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// Parses a PKCS#1 DER private key, checking that it is the key the row describes (its modulus is `n`).
    pub fn from_der(kid: &str, der: &[u8], n: &str) -> Result<RsaSigner, KeyError> {
        let pair =
            RsaKeyPair::from_der(der).map_err(|e| KeyError::InvalidKey(format!("{kid}: {e}")))?;
        let expected = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| KeyError::InvalidKey(format!("{kid}: stored modulus is not base64url")))?;
        if pair
            .public_key()
            .modulus()
            .big_endian_without_leading_zero()
            != expected.as_slice()
        {
            return Err(KeyError::InvalidKey(format!(
                "{kid}: the private key does not match the stored public key"
            )));
        }
        Ok(RsaSigner {
            kid: kid.to_string(),
            pair,
            rng: SystemRandom::new(),
            headers: [
                ("JWT", encoded_header(kid, "JWT")?),
                ("at+jwt", encoded_header(kid, "at+jwt")?),
            ],
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The encoded JOSE header of a token of type `typ`: precomputed for the types Porta mints most.
    pub fn header(&self, typ: &str) -> Result<std::borrow::Cow<'_, str>, KeyError> {
        match self.headers.iter().find(|(t, _)| *t == typ) {
            Some((_, encoded)) => Ok(std::borrow::Cow::Borrowed(encoded)),
            None => encoded_header(&self.kid, typ).map(std::borrow::Cow::Owned),
        }
    }
}

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, jsonwebtoken::signature::Error> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut signature)
            .map_err(jsonwebtoken::signature::Error::from_source)?;
        Ok(signature)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}
