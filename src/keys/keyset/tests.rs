//! Signing, verification and the JWKS of a key set, across the three families.

use super::*;
use crate::keys::generate::{GeneratedKey, KeyGenerator};
use crate::keys::lifecycle::tests::key_of;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

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

/// The row of a generated key, activating at `activates`.
fn row_of(g: &GeneratedKey, activates: i64, superseded: Option<i64>) -> SigningKey {
    let mut row = key_of(g.alg, &g.kid, activates, superseded);
    row.public_n = g.n.clone();
    row.public_e = g.e.clone();
    row.public_x = g.x.clone();
    row.public_y = g.y.clone();
    row
}

/// Real keys: RSA `a` active and `b` next (rows 0, 1), an active ES256 key (row 2), an active EdDSA key (row 3);
/// every signer parsed. Also returns the generated keys, private parts included, in the same order.
fn family_set() -> (KeySet, Vec<SigningKey>, Vec<GeneratedKey>) {
    let g = KeyGenerator::test_pool();
    let generated = vec![
        g.generate(2048).unwrap(),
        g.generate(2048).unwrap(),
        g.generate_for(Alg::Es256, 2048).unwrap(),
        g.generate_for(Alg::EdDsa, 2048).unwrap(),
    ];
    let rows = vec![
        row_of(&generated[0], 0, Some(1000)),
        row_of(&generated[1], 1000, None),
        row_of(&generated[2], 5, None),
        row_of(&generated[3], 5, None),
    ];
    let mut signers = HashMap::new();
    for (row, k) in rows.iter().zip(&generated) {
        signers.insert(
            k.kid.clone(),
            Arc::new(KeySigner::from_row(row, &k.private_der).unwrap()),
        );
    }
    let set = KeySet::build(&rows, 10, &T, &signers, &Alg::ALL).unwrap();
    (set, rows, generated)
}

/// `family_set` without the private keys.
fn set() -> (KeySet, Vec<SigningKey>) {
    let (set, rows, _) = family_set();
    (set, rows)
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.required_spec_claims.clear();
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
    assert_eq!(keys.len(), 4);
    // Newest first.
    assert_eq!(keys[0]["kid"], rows[1].kid.as_str());
    for k in keys {
        let mut members: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        members.sort();
        assert_eq!(k["use"], "sig");
        let row = rows.iter().find(|r| k["kid"] == r.kid.as_str()).unwrap();
        assert_eq!(k["alg"], row.alg.as_str());
        match row.alg.as_str() {
            "RS256" => {
                assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
                assert_eq!(k["kty"], "RSA");
            }
            "ES256" => {
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
                assert_eq!((&k["kty"], &k["crv"]), (&"EC".into(), &"P-256".into()));
                assert_eq!(k["y"], row.public_y.as_deref().unwrap());
            }
            _ => {
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
                assert_eq!((&k["kty"], &k["crv"]), (&"OKP".into(), &"Ed25519".into()));
            }
        }
        // jsonwebtoken reads every published key back as a JWK.
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone()).unwrap();
        DecodingKey::from_jwk(&parsed).unwrap();
    }
    assert!(set.jwks_etag().starts_with('"') && set.jwks_etag().ends_with('"'));
    // Built again from the same rows (another instance, no signers), the bytes and ETag are the same.
    let again = KeySet::build(&rows, 10, &T, &HashMap::new(), &Alg::ALL).unwrap();
    assert_eq!(again.jwks_bytes(), set.jwks_bytes());
    assert_eq!(again.jwks_etag(), set.jwks_etag());
    assert!(!KeySet::empty().can_sign());
    assert!(KeySet::empty().sign("JWT", &1).is_err());
}

#[test]
fn a_signer_refuses_a_private_key_of_another_row() {
    let g = KeyGenerator::test_pool();
    let (a, b) = (g.generate(2048).unwrap(), g.generate(2048).unwrap());
    assert!(KeySigner::from_der(&a.kid, Alg::Rs256, &a.private_der, &b.n).is_err());
    assert!(KeySigner::from_der(&a.kid, Alg::Rs256, b"not der", &a.n).is_err());
    let (e1, e2) = (
        g.generate_for(Alg::Es256, 0).unwrap(),
        g.generate_for(Alg::Es256, 0).unwrap(),
    );
    let xy = |k: &GeneratedKey| format!("{}{}", k.x.as_ref().unwrap(), k.y.as_ref().unwrap());
    assert!(KeySigner::from_der(&e1.kid, Alg::Es256, &e1.private_der, &xy(&e1)).is_ok());
    assert!(KeySigner::from_der(&e1.kid, Alg::Es256, &e1.private_der, &xy(&e2)).is_err());
    let d = g.generate_for(Alg::EdDsa, 0).unwrap();
    assert!(KeySigner::from_der(&d.kid, Alg::EdDsa, &d.private_der, d.x.as_ref().unwrap()).is_ok());
    // A key of one family never parses as another's.
    assert!(KeySigner::from_der(&d.kid, Alg::Es256, &d.private_der, &xy(&e1)).is_err());
    assert!(
        KeySigner::from_der(&e1.kid, Alg::EdDsa, &e1.private_der, d.x.as_ref().unwrap()).is_err()
    );
}

#[test]
fn each_family_signs_with_its_active_key_and_jsonwebtoken_verifies_from_the_jwks() {
    let (set, rows) = set();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(set.jwks_bytes()).unwrap();
    let claims = Claims {
        sub: "u1".into(),
        exp: 4_000_000_000,
    };
    for (alg, row) in [
        (Alg::Rs256, &rows[0]),
        (Alg::Es256, &rows[2]),
        (Alg::EdDsa, &rows[3]),
    ] {
        assert_eq!(set.active_kid_of(alg), row.kid);
        let token = set.sign_as(alg, "JWT", &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (alg.jwt(), Some(row.kid.as_str()))
        );
        assert_eq!(
            set.verify::<Claims>(&token, &validation()).unwrap().claims,
            claims
        );
        // A relying party holding only the JWKS.
        let jwk = jwks.find(&row.kid).unwrap();
        let mut v = Validation::new(alg.jwt());
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap();
        assert_eq!(data.claims, claims);
    }
    assert!(set.can_sign());
}

#[test]
fn a_family_without_a_signer_falls_back_to_rs256() {
    let (full, rows, generated) = family_set();
    let mut signers = HashMap::new();
    signers.insert(
        rows[0].kid.clone(),
        Arc::new(KeySigner::from_row(&rows[0], &generated[0].private_der).unwrap()),
    );
    // ES256 disabled: its key still verifies, but RS256 signs in its place.
    let set = KeySet::build(&rows, 10, &T, &signers, &[Alg::Rs256]).unwrap();
    assert!(set.can_sign());
    let token = set.sign_as(Alg::Es256, "JWT", &1).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        Algorithm::RS256
    );
    let es = full
        .sign_as(
            Alg::Es256,
            "JWT",
            &Claims {
                sub: "u".into(),
                exp: 1,
            },
        )
        .unwrap();
    assert!(set.verify::<Claims>(&es, &validation()).is_ok());
    // An enabled family without a signer leaves the set not ready.
    let set = KeySet::build(&rows, 10, &T, &signers, &Alg::ALL).unwrap();
    assert!(!set.can_sign());
}

#[test]
fn the_key_family_pins_the_algorithm() {
    let (set, rows, generated) = family_set();
    let claims = Claims {
        sub: "admin".into(),
        exp: 4_000_000_000,
    };
    let (rsa, ec, ed) = (&generated[0], &generated[2], &generated[3]);
    let forge = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let header = Header {
            kid: Some(kid.to_string()),
            ..Header::new(alg)
        };
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    let rsa_key = EncodingKey::from_rsa_der(&rsa.private_der);
    let ec_key = EncodingKey::from_ec_der(&ec.private_der);
    let ed_key = EncodingKey::from_ed_der(&ed.private_der);
    // Each signature is genuine for its key; only the header's kid names another family's key.
    let forged = [
        forge(Algorithm::RS256, &rows[2].kid, &rsa_key),
        forge(Algorithm::RS256, &rows[3].kid, &rsa_key),
        forge(Algorithm::ES256, &rows[0].kid, &ec_key),
        forge(Algorithm::ES256, &rows[3].kid, &ec_key),
        forge(Algorithm::EdDSA, &rows[0].kid, &ed_key),
        forge(Algorithm::EdDSA, &rows[2].kid, &ed_key),
        // HS256 keyed with each family's public key bytes.
        forge(
            Algorithm::HS256,
            &rows[2].kid,
            &EncodingKey::from_secret(rows[2].public_x.as_deref().unwrap().as_bytes()),
        ),
        forge(
            Algorithm::HS256,
            &rows[3].kid,
            &EncodingKey::from_secret(rows[3].public_x.as_deref().unwrap().as_bytes()),
        ),
        forge(
            Algorithm::HS256,
            &rows[0].kid,
            &EncodingKey::from_secret(rows[0].public_n.as_bytes()),
        ),
    ];
    for token in &forged {
        assert!(
            matches!(
                set.verify::<Claims>(token, &validation()),
                Err(KeyError::UnsupportedAlgorithm)
            ),
            "{:?}",
            jsonwebtoken::decode_header(token).unwrap()
        );
    }
    // The same keys with their own kids verify: the refusals above are the pinning, not bad signatures.
    for (alg, kid, key) in [
        (Algorithm::RS256, &rows[0].kid, &rsa_key),
        (Algorithm::ES256, &rows[2].kid, &ec_key),
        (Algorithm::EdDSA, &rows[3].kid, &ed_key),
    ] {
        set.verify::<Claims>(&forge(alg, kid, key), &validation())
            .unwrap();
    }
    // alg none with an EC kid; a caller's validation listing other algorithms changes nothing.
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "kid": rows[2].kid})),
        b64(&serde_json::json!({"sub": "admin", "exp": 4_000_000_000i64}))
    );
    assert!(set.verify::<Claims>(&none, &validation()).is_err());
    let mut lax = validation();
    lax.algorithms = vec![
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ];
    assert!(set.verify::<Claims>(&forged[0], &lax).is_err());
    assert!(set.verify::<Claims>(&forged[6], &lax).is_err());
}
