use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use jsonwebtoken::{EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};

use super::*;

const URL: &str = "https://id.example.com/token";
const NOW: i64 = 1_700_000_000;

struct Key {
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Value,
}

fn es256() -> Key {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    key(Algorithm::ES256, EncodingKey::from_ec_der(der.as_ref()))
}

fn eddsa() -> Key {
    let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    key(Algorithm::EdDSA, EncodingKey::from_ed_der(der.as_ref()))
}

fn rs256() -> Key {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    let der = DER.get_or_init(|| {
        let k = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        k.to_pkcs1_der().unwrap().as_bytes().to_vec()
    });
    key(Algorithm::RS256, EncodingKey::from_rsa_der(der))
}

fn key(alg: Algorithm, enc: EncodingKey) -> Key {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&enc, alg).unwrap()).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    Key { alg, enc, jwk }
}

impl Key {
    fn proof_with(&self, jwk: Value, typ: &str, claims: Value) -> String {
        let mut h = Header::new(self.alg);
        h.typ = Some(typ.into());
        h.jwk = Some(serde_json::from_value(jwk).unwrap());
        jsonwebtoken::encode(&h, &claims, &self.enc).unwrap()
    }

    fn proof(&self, claims: Value) -> String {
        self.proof_with(self.jwk.clone(), "dpop+jwt", claims)
    }

    fn jkt(&self) -> String {
        serde_json::from_value::<Jwk>(self.jwk.clone())
            .unwrap()
            .thumbprint(ThumbprintHash::SHA256)
            .unwrap()
    }
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW})
}

fn with(mut v: Value, k: &str, val: Value) -> Value {
    v[k] = val;
    v
}

fn expected() -> Expected<'static> {
    Expected {
        method: "POST",
        url: URL,
        access_token: None,
        nonces: None,
        now: NOW,
        max_age: 300,
    }
}

#[test]
fn a_proof_of_each_algorithm_verifies_and_names_its_key() {
    for k in [es256(), eddsa(), rs256()] {
        let p = verify(&k.proof(claims()), &expected()).unwrap();
        assert_eq!(p.jkt, k.jkt(), "{:?}", k.alg);
        assert_eq!((p.jti.as_str(), p.iat), ("j-1", NOW));
        assert_eq!(p.remember_until(300), NOW + 301);
    }
}

#[test]
fn the_thumbprint_is_rfc_7638() {
    // RFC 7638 3.1: the example RSA key and its thumbprint.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn form_type_and_algorithm_are_checked() {
    let k = es256();
    let e = expected();
    assert!(verify("not.a.jwt", &e).is_err());
    assert!(verify(&"a".repeat(MAX_PROOF_LEN + 1), &e).is_err());
    assert!(verify(&k.proof_with(k.jwk.clone(), "JWT", claims()), &e).is_err());
    // A proof whose key is not the one it was signed with.
    let other = es256();
    assert!(verify(&k.proof_with(other.jwk.clone(), "dpop+jwt", claims()), &e).is_err());
    // HS256 with a symmetric "jwk" is refused before any verification.
    let hs = Key {
        alg: Algorithm::HS256,
        enc: EncodingKey::from_secret(b"secret"),
        jwk: json!({"kty": "oct", "k": "c2VjcmV0"}),
    };
    assert_eq!(
        verify(&hs.proof(claims()), &e),
        Err(DpopError::Invalid("the DPoP proof's alg is not supported"))
    );
}

#[test]
fn a_private_key_in_the_header_is_refused() {
    let k = es256();
    let mut jwk = k.jwk.clone();
    jwk["d"] = json!("AAAA");
    // jsonwebtoken's Jwk drops `d`, so build the header by hand.
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    let head = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let proof = format!("{head}.{body}.c2ln");
    assert_eq!(
        verify(&proof, &expected()),
        Err(DpopError::Invalid(
            "the DPoP proof's jwk must be a public key"
        ))
    );
}

#[test]
fn method_url_and_time_must_match_the_request() {
    let k = eddsa();
    let e = expected();
    let bad = |c: Value| verify(&k.proof(c), &e).is_err();
    assert!(bad(with(claims(), "htm", json!("GET"))));
    assert!(bad(with(
        claims(),
        "htu",
        json!("https://id.example.com/userinfo")
    )));
    assert!(bad(with(
        claims(),
        "htu",
        json!("https://evil.example.com/token")
    )));
    assert!(bad(with(claims(), "iat", json!(NOW - 301))));
    assert!(bad(with(claims(), "iat", json!(NOW + FUTURE_LEEWAY + 1))));
    assert!(bad(with(claims(), "jti", json!(""))));
    // Normalized: case, default port, query and fragment do not matter.
    for htu in [
        "HTTPS://ID.example.com:443/token",
        "https://id.example.com/token?x=1#f",
        "https://id.example.com/a/../token",
    ] {
        assert!(
            verify(&k.proof(with(claims(), "htu", json!(htu))), &e).is_ok(),
            "{htu}"
        );
    }
    assert!(verify(&k.proof(with(claims(), "iat", json!(NOW - 300))), &e).is_ok());
    assert!(verify(&k.proof(with(claims(), "iat", json!(NOW as f64 + 0.5))), &e).is_ok());
}

#[test]
fn ath_binds_the_proof_to_the_access_token() {
    let k = es256();
    let e = Expected {
        access_token: Some("the-token"),
        ..expected()
    };
    let ath = access_token_hash("the-token");
    assert!(verify(&k.proof(with(claims(), "ath", json!(ath))), &e).is_ok());
    assert!(verify(&k.proof(claims()), &e).is_err());
    let wrong = access_token_hash("another");
    assert!(verify(&k.proof(with(claims(), "ath", json!(wrong))), &e).is_err());
}

#[test]
fn nonces_come_from_the_secret_and_the_window() {
    let secret = [7u8; 32];
    let [now, before] = nonces(&secret, NOW, 300);
    assert_ne!(now, before);
    assert_eq!(
        nonces(&secret, NOW + 300, 300)[1],
        now,
        "the current nonce stays good one more window"
    );
    assert_ne!(nonces(&[8u8; 32], NOW, 300)[0], now);
    let k = es256();
    let accepted = [now.clone(), before];
    let e = Expected {
        nonces: Some(&accepted),
        ..expected()
    };
    assert_eq!(verify(&k.proof(claims()), &e), Err(DpopError::UseNonce));
    assert_eq!(
        verify(&k.proof(with(claims(), "nonce", json!("stale"))), &e),
        Err(DpopError::UseNonce)
    );
    assert!(verify(&k.proof(with(claims(), "nonce", json!(now))), &e).is_ok());
}

/// The cost of checking one proof, per algorithm (the signature dominates):
/// `cargo test --lib oidc::dpop::tests::verification_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run on demand"]
fn verification_cost() {
    for k in [es256(), eddsa(), rs256()] {
        let proof = k.proof(claims());
        let n = 500u32;
        let started = std::time::Instant::now();
        for _ in 0..n {
            verify(&proof, &expected()).unwrap();
        }
        let each = started.elapsed() / n;
        println!("{:?}: {each:?} per proof", k.alg);
        assert!(each < std::time::Duration::from_millis(20), "{:?}", k.alg);
    }
}
