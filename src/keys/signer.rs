//! The signer of one key of any family: an `aws_lc_rs` key pair (RSA, ECDSA P-256 or Ed25519) parsed once, usable
//! as jsonwebtoken's `JwtSigner`. jsonwebtoken's own `encode` re-parses the DER key on every call, which costs
//! more than half the time of an RSA signature (issue 3, item 8); the JOSE headers are encoded once per key too.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::signature::Signer;
use jsonwebtoken::{Algorithm, Header};

use super::KeyError;
use super::alg::Alg;
use super::generate::ec_coordinates;
use crate::db::models::signing_keys::SigningKey;

/// The parsed private key of one family.
enum Pair {
    Rsa(RsaKeyPair),
    /// ES256 with the fixed-width `r || s` signature JWS uses (RFC 7518 section 3.4), not ASN.1.
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A signer over a parsed key pair, usable as jsonwebtoken's `JwtSigner`.
pub struct KeySigner {
    kid: String,
    alg: Alg,
    pair: Pair,
    rng: SystemRandom,
    /// The encoded JOSE headers of the token types Porta mints (ID tokens `JWT`, access tokens `at+jwt`,
    /// RFC 9068; logout tokens), built once per key rather than per token.
    headers: [(&'static str, String); 3],
}

/// The base64url JOSE header `{alg, kid, typ}`.
fn encoded_header(alg: Alg, kid: &str, typ: &str) -> Result<String, KeyError> {
    let mut header = Header::new(alg.jwt());
    header.kid = Some(kid.to_string());
    header.typ = Some(typ.to_string());
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(KeyError::Serialize)?))
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    /// Parses the private key of a stored row (PKCS#1 DER for RSA, PKCS#8 DER otherwise), checking that it is
    /// the key the row describes (its public members are the row's).
    pub fn from_row(row: &SigningKey, der: &[u8]) -> Result<KeySigner, KeyError> {
        let alg = Alg::parse(&row.alg)
            .ok_or_else(|| KeyError::InvalidKey(format!("{}: unknown alg {}", row.kid, row.alg)))?;
        let public = match alg {
            Alg::Rs256 => row.public_n.clone(),
            _ => {
                let x = row.public_x.as_deref().unwrap_or_default();
                format!("{x}{}", row.public_y.as_deref().unwrap_or_default())
            }
        };
        KeySigner::from_der(&row.kid, alg, der, &public)
    }

    /// Parses a private key of family `alg`. `public` is what the row stores of the public key, base64url: `n`
    /// for RSA, `x` followed by `y` for EC, `x` for Ed25519; a key pair with another public key is refused.
    pub fn from_der(kid: &str, alg: Alg, der: &[u8], public: &str) -> Result<KeySigner, KeyError> {
        let invalid = |e: &dyn fmt::Display| KeyError::InvalidKey(format!("{kid}: {e}"));
        let (pair, actual) = match alg {
            Alg::Rs256 => {
                let pair = RsaKeyPair::from_der(der).map_err(|e| invalid(&e))?;
                let n = URL_SAFE_NO_PAD.encode(
                    pair.public_key()
                        .modulus()
                        .big_endian_without_leading_zero(),
                );
                (Pair::Rsa(pair), n)
            }
            Alg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| invalid(&e))?;
                let (x, y) = ec_coordinates(pair.public_key().as_ref())
                    .ok_or_else(|| invalid(&"not a P-256 point"))?;
                (Pair::Ec(pair), format!("{x}{y}"))
            }
            Alg::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| invalid(&e))?;
                let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
                (Pair::Ed(pair), x)
            }
        };
        if actual != public {
            return Err(invalid(
                &"the private key does not match the stored public key",
            ));
        }
        Ok(KeySigner {
            kid: kid.to_string(),
            alg,
            pair,
            rng: SystemRandom::new(),
            headers: [
                ("JWT", encoded_header(alg, kid, "JWT")?),
                ("at+jwt", encoded_header(alg, kid, "at+jwt")?),
                ("logout+jwt", encoded_header(alg, kid, "logout+jwt")?),
            ],
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's family.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The encoded JOSE header of a token of type `typ`: precomputed for the types Porta mints.
    pub fn header(&self, typ: &str) -> Result<std::borrow::Cow<'_, str>, KeyError> {
        match self.headers.iter().find(|(t, _)| *t == typ) {
            Some((_, encoded)) => Ok(std::borrow::Cow::Borrowed(encoded)),
            None => encoded_header(self.alg, &self.kid, typ).map(std::borrow::Cow::Owned),
        }
    }
}

impl Signer<Vec<u8>> for KeySigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, jsonwebtoken::signature::Error> {
        let err = jsonwebtoken::signature::Error::from_source;
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut signature)
                    .map_err(err)?;
                Ok(signature)
            }
            Pair::Ec(pair) => Ok(pair.sign(&self.rng, msg).map_err(err)?.as_ref().to_vec()),
            Pair::Ed(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for KeySigner {
    fn algorithm(&self) -> Algorithm {
        self.alg.jwt()
    }
}
