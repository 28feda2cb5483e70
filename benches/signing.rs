//! The signing path sets Porta's ceiling: one RSA signature per token. Measures RS256 signing of a typical ID
//! token through the in-memory key set (a parsed aws-lc-rs key pair), jsonwebtoken's own `encode` for
//! comparison (it re-parses the DER key on every call), and serving `/jwks.json` from its pre-serialized bytes.
//!
//! `cargo bench --bench signing`; compare with `openssl speed -seconds 3 rsa2048` on the same machine.

use std::sync::Arc;

use actix_web::{App, test, web};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use porta::clock::TestClock;
use porta::config::Settings;
use porta::db::models::signing_keys::SigningKey;
use porta::keys::{KeyGenerator, Keys, MasterKey, seal};
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

/// Keys with an active and a next key of `bits`, loaded in memory; also the active key's DER for the comparison.
fn keys(bits: usize) -> (Keys, Vec<u8>) {
    let settings = Settings::default();
    let master = MasterKey::generate().expect("random master key");
    let generator = KeyGenerator::test_pool();
    let rows: Vec<(SigningKey, Vec<u8>)> = (0..2)
        .map(|i| {
            let k = generator.generate(bits).expect("key generation");
            let row = SigningKey {
                sealed_private: Some(seal::seal(&master, &k.kid, &k.private_der).expect("seal")),
                kid: k.kid,
                alg: "RS256".into(),
                bits: bits as i32,
                public_n: k.n,
                public_e: k.e,
                master_key_id: master.id().into(),
                created_at: NOW - 100,
                published_at: NOW - 100,
                activates_at: NOW - 100 + i * 30 * 86_400,
                superseded_at: (i == 0).then_some(NOW - 100 + 30 * 86_400),
                revoked_at: None,
                revoke_reason: None,
            };
            (row, k.private_der.to_vec())
        })
        .collect();
    let der = rows[0].1.clone();
    let table: Vec<SigningKey> = rows.into_iter().map(|(r, _)| r).collect();
    let keys = Keys::new(master, Arc::new(TestClock::new(NOW)), generator, &settings);
    keys.load_rows(&table, NOW).expect("load keys");
    (keys, der)
}

fn signing(c: &mut Criterion) {
    let (keys, der) = keys(2048);
    let claims = claims();
    let mut group = c.benchmark_group("rs256_id_token_2048");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keyset_sign", |b| {
        b.iter(|| keys.current().sign("JWT", &claims).expect("sign"))
    });
    // The floor: one raw RS256 signature over a token-sized message with the parsed key, no JWT work.
    let pair = aws_lc_rs::signature::RsaKeyPair::from_der(&der).expect("parse");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let message = keys.current().sign("JWT", &claims).expect("sign");
    let message = message
        .rsplit_once('.')
        .expect("three parts")
        .0
        .as_bytes()
        .to_vec();
    group.bench_function("aws_lc_raw_sign", |b| {
        b.iter(|| {
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                &message,
                &mut sig,
            )
            .expect("sign");
            sig
        })
    });
    let encoding_key = jsonwebtoken::EncodingKey::from_rsa_der(&der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(keys.current().active_kid().to_string());
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(&header, &claims, &encoding_key).expect("encode"))
    });
    group.finish();
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
