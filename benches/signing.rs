//! The signing path sets Porta's ceiling: one signature per token. Measures signing of a typical ID token in each
//! key family (RS256 with RSA 2048, ES256 with P-256, EdDSA with Ed25519) through the in-memory key set (a parsed
//! aws-lc-rs key pair), the raw aws-lc-rs signature over the same bytes (the floor), jsonwebtoken's own `encode`
//! for comparison (it re-parses the key on every call), and serving `/jwks.json` from its pre-serialized bytes.
//!
//! `cargo bench --bench signing`; compare with `openssl speed -seconds 5 rsa2048 ecdsap256 ed25519` on the same
//! machine (`benches/signing-vs-openssl.sh` runs both and prints the ratios).

use std::sync::Arc;

use actix_web::{App, test, web};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use porta::clock::TestClock;
use porta::config::Settings;
use porta::db::models::signing_keys::SigningKey;
use porta::keys::{Alg, KeyGenerator, Keys, MasterKey, seal};
use porta::state::AppState;

/// The claims of a typical ID token (OIDC Core 2, with profile and email scope claims).
#[derive(serde::Serialize)]
struct IdToken<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    nonce: &'a str,
    at_hash: &'a str,
    azp: &'a str,
    sid: &'a str,
    amr: [&'a str; 1],
    name: &'a str,
    preferred_username: &'a str,
    email: &'a str,
    email_verified: bool,
}

const NOW: i64 = 1_800_000_000;

fn claims() -> IdToken<'static> {
    IdToken {
        iss: "https://id.example.com",
        sub: "5f0c7a0e-3b7e-4c1e-9d1a-2f6a1c9b8e47",
        aud: "my-relying-party",
        exp: NOW + 3600,
        iat: NOW,
        auth_time: NOW - 120,
        nonce: "n-0S6_WzA2Mj",
        at_hash: "77QmUPtjPfzWtF2AnpK9RQ",
        azp: "my-relying-party",
        sid: "08a5019c-17e1-4977-8f42-65a12843ea02",
        amr: ["pwd"],
        name: "Alice Liddell",
        preferred_username: "alice",
        email: "alice@example.com",
        email_verified: true,
    }
}

/// Keys with an active and a next key of every family (RSA of `bits`), loaded in memory; also each family's
/// active private key DER, for the comparisons.
fn keys(bits: usize) -> (Keys, Vec<(Alg, Vec<u8>)>) {
    let settings = Settings::default();
    let master = MasterKey::generate().expect("random master key");
    let generator = KeyGenerator::test_pool();
    let mut table = Vec::new();
    let mut ders = Vec::new();
    for alg in Alg::ALL {
        for i in 0..2 {
            let k = generator.generate_for(alg, bits).expect("key generation");
            if i == 0 {
                ders.push((alg, k.private_der.to_vec()));
            }
            table.push(SigningKey {
                sealed_private: Some(seal::seal(&master, &k.kid, &k.private_der).expect("seal")),
                kid: k.kid,
                alg: alg.as_str().into(),
                bits: k.bits as i32,
                public_n: k.n,
                public_e: k.e,
                public_x: k.x,
                public_y: k.y,
                master_key_id: master.id().into(),
                created_at: NOW - 100,
                published_at: NOW - 100,
                activates_at: NOW - 100 + i * 30 * 86_400,
                superseded_at: (i == 0).then_some(NOW - 100 + 30 * 86_400),
                revoked_at: None,
                revoke_reason: None,
            });
        }
    }
    let keys = Keys::new(master, Arc::new(TestClock::new(NOW)), generator, &settings);
    keys.load_rows(&table, NOW).expect("load keys");
    (keys, ders)
}

/// One raw aws-lc-rs signature over `message` with a key parsed once: the floor under `keyset_sign`.
type RawSign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

fn raw_signer(alg: Alg, der: &[u8]) -> RawSign {
    use aws_lc_rs::signature as sig;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    match alg {
        Alg::Rs256 => {
            let pair = sig::RsaKeyPair::from_der(der).expect("parse");
            Box::new(move |m| {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&sig::RSA_PKCS1_SHA256, &rng, m, &mut out)
                    .expect("sign");
                out
            })
        }
        Alg::Es256 => {
            let pair = sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .expect("parse");
            Box::new(move |m| pair.sign(&rng, m).expect("sign").as_ref().to_vec())
        }
        Alg::EdDsa => {
            let pair = sig::Ed25519KeyPair::from_pkcs8(der).expect("parse");
            Box::new(move |m| pair.sign(m).as_ref().to_vec())
        }
    }
}

fn signing(c: &mut Criterion) {
    let (keys, ders) = keys(2048);
    let claims = claims();
    for (alg, der) in ders {
        let name = match alg {
            Alg::Rs256 => "rs256_id_token_2048",
            Alg::Es256 => "es256_id_token_p256",
            Alg::EdDsa => "eddsa_id_token_ed25519",
        };
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("keyset_sign", |b| {
            b.iter(|| keys.current().sign_as(alg, "JWT", &claims).expect("sign"))
        });
        let token = keys.current().sign_as(alg, "JWT", &claims).expect("sign");
        let message = token
            .rsplit_once('.')
            .expect("three parts")
            .0
            .as_bytes()
            .to_vec();
        let raw = raw_signer(alg, &der);
        group.bench_function("aws_lc_raw_sign", |b| b.iter(|| raw(&message)));
        let encoding_key = match alg {
            Alg::Rs256 => jsonwebtoken::EncodingKey::from_rsa_der(&der),
            Alg::Es256 => jsonwebtoken::EncodingKey::from_ec_der(&der),
            Alg::EdDsa => jsonwebtoken::EncodingKey::from_ed_der(&der),
        };
        let mut header = jsonwebtoken::Header::new(alg.jwt());
        header.kid = Some(keys.current().active_kid_of(alg).to_string());
        group.bench_function("jsonwebtoken_encode", |b| {
            b.iter(|| jsonwebtoken::encode(&header, &claims, &encoding_key).expect("encode"))
        });
        group.finish();
    }
}

fn jwks(c: &mut Criterion) {
    let (keys, _) = keys(2048);
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        ..Settings::default()
    };
    // The pool connects lazily: serving the JWKS never opens a connection, which is part of what is measured.
    let db = porta::db::Db::connect(&settings.database_url, 1).expect("pool");
    let state = web::Data::new(AppState {
        settings: Arc::new(settings),
        db,
        clock: Arc::new(TestClock::new(NOW)),
        keys: Arc::new(keys),
    });
    let rt = actix_rt::Runtime::new().expect("runtime");
    let app = rt.block_on(test::init_service(
        App::new()
            .app_data(state.clone())
            .configure(porta::oidc::routes),
    ));
    let etag = state.keys.current().jwks_etag().to_string();
    let mut group = c.benchmark_group("jwks");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_200", |b| {
        b.iter(|| {
            let res = rt.block_on(test::call_service(
                &app,
                test::TestRequest::get().uri("/jwks.json").to_request(),
            ));
            assert!(res.status().is_success());
        })
    });
    group.bench_function("get_304", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/jwks.json")
                .insert_header(("If-None-Match", etag.as_str()))
                .to_request();
            let res = rt.block_on(test::call_service(&app, req));
            assert_eq!(res.status(), 304);
        })
    });
    group.bench_function("bytes_only", |b| {
        b.iter(|| state.keys.current().jwks_bytes().clone())
    });
    group.finish();
}

criterion_group!(benches, signing, jwks);
criterion_main!(benches);
