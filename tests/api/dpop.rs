//! DPoP (RFC 9449) over real HTTP, with proofs built here from freshly generated keys: bound access tokens of each
//! algorithm, replay, `htu`/`htm`/`iat`, `/userinfo` with the DPoP scheme and `ath`, public clients' refresh
//! tokens bound to the key, codes bound by `dpop_jkt`, `--require-dpop`, and the server nonce.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use porta::clock::Clock;
use porta::manage::clients::Registered;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::token_support::*;

/// A client's DPoP key pair.
pub struct DpopKey {
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Jwk,
}

impl DpopKey {
    pub fn es256() -> DpopKey {
        let der =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Self::new(Algorithm::ES256, EncodingKey::from_ec_der(der.as_ref()))
    }

    pub fn eddsa() -> DpopKey {
        let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        Self::new(Algorithm::EdDSA, EncodingKey::from_ed_der(der.as_ref()))
    }

    /// One RSA key per test binary: generating one takes a while.
    pub fn rs256() -> DpopKey {
        static DER: OnceLock<Vec<u8>> = OnceLock::new();
        let der = DER.get_or_init(|| {
            let k = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
            k.to_pkcs1_der().unwrap().as_bytes().to_vec()
        });
        Self::new(Algorithm::RS256, EncodingKey::from_rsa_der(der))
    }

    fn new(alg: Algorithm, enc: EncodingKey) -> DpopKey {
        let mut jwk = Jwk::from_encoding_key(&enc, alg).unwrap();
        jwk.common.key_algorithm = None;
        DpopKey { alg, enc, jwk }
    }

    /// The RFC 7638 thumbprint: what `cnf.jkt` must say.
    pub fn jkt(&self) -> String {
        self.jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
    }

    /// A proof with these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }

    /// A fresh proof for `method` on the server's `path`, now; with `ath` for `access_token`.
    pub fn proof(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        access_token: Option<&str>,
    ) -> String {
        self.sign(&claims(app, method, path, access_token))
    }
}

pub fn claims(app: &TestApp, method: &str, path: &str, access_token: Option<&str>) -> Value {
    let mut c = json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "htm": method,
        "htu": app.url(path),
        "iat": app.clock.now(),
    });
    if let Some(t) = access_token {
        c["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())));
    }
    c
}

/// `POST /token` with an optional `DPoP` header.
pub async fn token_with(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<&Registered>,
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.client.post(app.url("/token")).form(form);
    if let Some(r) = basic {
        req = req.header(
            reqwest::header::AUTHORIZATION,
            basic_header(&r.client_id, Fixture::secret(r)),
        );
    }
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let res = req.send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.json().await.unwrap_or(Value::Null))
}

/// Exchanges a fresh `web` code with `proof`.
async fn web_exchange(f: &Fixture, proof: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let code = f.web_code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    token_with(&f.app, &form, Some(&f.web), proof).await
}

/// `GET /userinfo` with `Authorization: <scheme> <token>` and an optional proof.
async fn userinfo_with(
    app: &TestApp,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app
        .client
        .get(app.url("/userinfo"))
        .header(reqwest::header::AUTHORIZATION, format!("{scheme} {token}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let res = req.send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.json().await.unwrap_or(Value::Null))
}

fn www_authenticate(h: &HeaderMap) -> String {
    h.get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// `porta client update <id> --require-dpop true`, through the same management call.
async fn set_require_dpop(app: &TestApp, client_id: &str) {
    let (id, now) = (client_id.to_string(), app.clock.now());
    let change = porta::manage::clients::ClientUpdate {
        require_dpop: Some(true),
        ..Default::default()
    };
    app.state
        .db
        .run(move |c| {
            porta::manage::clients::update(c, &id, &change, &porta::manage::Actor::cli(), now)
        })
        .await
        .map_err(|e| e.to_string())
        .unwrap();
}

both_backends! {
    async fn each_algorithm_gets_a_token_bound_to_its_key(b: Backend) {
        let f = fixture(b).await;
        for key in [DpopKey::es256(), DpopKey::eddsa(), DpopKey::rs256()] {
            let proof = key.proof(&f.app, "POST", "/token", None);
            let (s, _, body) = web_exchange(&f, Some(&proof)).await;
            assert_eq!(s, StatusCode::OK, "{:?}: {body}", key.alg);
            assert_eq!(body["token_type"], "DPoP");
            let access = body["access_token"].as_str().unwrap();
            assert_eq!(claims_of(access)["cnf"]["jkt"], key.jkt(), "{:?}", key.alg);
            let seen = f.introspect(&f.web, access).await;
            assert_eq!((seen["active"].clone(), seen["token_type"].clone()), (json!(true), json!("DPoP")));
            assert_eq!(seen["cnf"]["jkt"], key.jkt());
        }
        // Without a proof nothing changes: a bearer token with no cnf.
        let (s, _, body) = web_exchange(&f, None).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("Bearer")));
        assert!(claims_of(body["access_token"].as_str().unwrap()).get("cnf").is_none());
    }

    async fn replayed_or_mismatched_proofs_are_refused(b: Backend) {
        let f = fixture(b).await;
        let key = DpopKey::es256();
        let proof = key.proof(&f.app, "POST", "/token", None);
        assert_eq!(web_exchange(&f, Some(&proof)).await.0, StatusCode::OK);
        let replay = web_exchange(&f, Some(&proof)).await;
        assert_error(&replay, StatusCode::BAD_REQUEST, "invalid_dpop_proof");

        let now = f.app.clock.now();
        let bad_claims = [
            ("htu", json!(f.app.url("/userinfo"))),
            ("htu", json!("http://evil.example.com/token")),
            ("htm", json!("GET")),
            ("iat", json!(now - 301)),
            ("iat", json!(now + 60)),
        ];
        for (name, value) in bad_claims {
            let mut c = claims(&f.app, "POST", "/token", None);
            c[name] = value.clone();
            let got = web_exchange(&f, Some(&key.sign(&c))).await;
            assert_error(&got, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
            assert!(!got.2["error_description"].as_str().unwrap().contains("evil"), "{name}: {value}");
        }
        // Query and fragment are not part of htu; a proof just inside the age window passes.
        let mut c = claims(&f.app, "POST", "/token", None);
        c["htu"] = json!(format!("{}?x=1#y", f.app.url("/token")));
        c["iat"] = json!(now - 299);
        assert_eq!(web_exchange(&f, Some(&key.sign(&c))).await.0, StatusCode::OK);
        // A malformed header is a protocol error, not a 500.
        assert_error(&web_exchange(&f, Some("x.y.z")).await, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    }

    async fn userinfo_takes_a_bound_token_only_with_a_proof_of_its_key(b: Backend) {
        let f = fixture(b).await;
        let key = DpopKey::eddsa();
        let (s, _, body) = web_exchange(&f, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let access = body["access_token"].as_str().unwrap();

        // A stolen bound token used as a bearer token.
        let (s, h, body) = userinfo_with(&f.app, "Bearer", access, None).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
        let ch = www_authenticate(&h);
        assert!(ch.starts_with("DPoP ") && ch.contains("error=\"invalid_token\""), "{ch}");

        let ok = key.proof(&f.app, "GET", "/userinfo", Some(access));
        let (s, _, body) = userinfo_with(&f.app, "DPoP", access, Some(&ok)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["sub"], f.user.id.as_str());
        // The same proof again is a replay.
        let (s, h, _) = userinfo_with(&f.app, "DPoP", access, Some(&ok)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(www_authenticate(&h).contains("invalid_dpop_proof"), "{}", www_authenticate(&h));

        let no_ath = key.proof(&f.app, "GET", "/userinfo", None);
        let wrong_ath = key.proof(&f.app, "GET", "/userinfo", Some("another token"));
        let other_key = DpopKey::eddsa().proof(&f.app, "GET", "/userinfo", Some(access));
        for (what, proof) in [("no ath", Some(no_ath)), ("wrong ath", Some(wrong_ath)), ("other key", Some(other_key)), ("no proof", None)] {
            let (s, h, body) = userinfo_with(&f.app, "DPoP", access, proof.as_deref()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert!(www_authenticate(&h).starts_with("DPoP "), "{what}: {}", www_authenticate(&h));
        }

        // An unbound token is not accepted under the DPoP scheme, and still is as a bearer token.
        let (_, _, plain) = web_exchange(&f, None).await;
        let plain = plain["access_token"].as_str().unwrap();
        let proof = key.proof(&f.app, "GET", "/userinfo", Some(plain));
        assert_eq!(userinfo_with(&f.app, "DPoP", plain, Some(&proof)).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(userinfo_with(&f.app, "Bearer", plain, None).await.0, StatusCode::OK);
    }

    async fn a_public_clients_refresh_token_is_bound_to_its_key(b: Backend) {
        let f = fixture(b).await;
        let key = DpopKey::es256();
        let code = f.code(CodeSpec { client_id: &f.spa.client_id, scope: "openid", nonce: None, challenge: Some(challenge(VERIFIER)) }).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", f.spa.client_id.as_str()),
        ];
        let (s, _, body) = token_with(&f.app, &form, None, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", f.spa.client_id.as_str()),
        ];
        let thief = DpopKey::es256().proof(&f.app, "POST", "/token", None);
        assert_error(&token_with(&f.app, &form, None, Some(&thief)).await, StatusCode::BAD_REQUEST, "invalid_grant");
        assert_error(&token_with(&f.app, &form, None, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
        // The refusals rolled back: the rightful holder's refresh still works, and stays bound.
        let (s, _, body) = token_with(&f.app, &form, None, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
        let next = body["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", next), ("client_id", f.spa.client_id.as_str())];
        assert_error(&token_with(&f.app, &form, None, None).await, StatusCode::BAD_REQUEST, "invalid_grant");

        // A confidential client's refresh token is not bound (RFC 9449 5): a refresh without a proof gets a
        // bearer token, one with a proof a bound token.
        let (_, _, body) = web_exchange(&f, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        let (s, body) = f.refresh(&f.web, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("Bearer")), "{body}");
        let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
        let other = DpopKey::eddsa();
        let (s, _, body) = token_with(&f.app, &form, Some(&f.web), Some(&other.proof(&f.app, "POST", "/token", None))).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");
        assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], other.jkt());
    }

    async fn a_code_requested_with_dpop_jkt_needs_a_proof_by_that_key(b: Backend) {
        use crate::sso;
        let app = crate::helpers::spawn_app(b).await;
        let spa = sso::register_with(&app, "SPA", true, true).await;
        let browser = app.new_browser();
        sso::sign_in_admin(&app, &browser).await;
        let res = sso::get(&browser, &sso::authorize_url(&app, &spa, &[("dpop_jkt", "not-a-thumbprint")])).await;
        assert_eq!(sso::error_from(&res), "invalid_request");

        let key = DpopKey::es256();
        let jkt = key.jkt();
        let res = sso::get(&browser, &sso::authorize_url(&app, &spa, &[("dpop_jkt", &jkt)])).await;
        let code = sso::code_from(&app, &res);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", sso::REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", spa.as_str()),
        ];
        let other = DpopKey::es256().proof(&app, "POST", "/token", None);
        assert_error(&token_with(&app, &form, None, Some(&other)).await, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        assert_error(&token_with(&app, &form, None, None).await, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        // The refusals rolled back: the code still works with the right key.
        let (s, _, body) = token_with(&app, &form, None, Some(&key.proof(&app, "POST", "/token", None))).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");
        assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);
    }

    async fn a_proof_sent_to_par_binds_the_code(b: Backend) {
        use crate::sso;
        let app = crate::helpers::spawn_app(b).await;
        let spa = sso::register_with(&app, "SPA", true, true).await;
        let key = DpopKey::eddsa();
        let form = [
            ("client_id", spa.as_str()),
            ("redirect_uri", sso::REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st-123"),
            ("code_challenge", sso::CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        let push = |proof: String| app.client.post(app.url("/par")).header("DPoP", proof).form(&form).send();
        let res = push(DpopKey::eddsa().proof(&app, "POST", "/token", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a proof for another endpoint");
        let res = push(key.proof(&app, "POST", "/par", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let uri = res.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();

        let browser = app.new_browser();
        sso::sign_in_admin(&app, &browser).await;
        let q = serde_urlencoded::to_string([("client_id", spa.as_str()), ("request_uri", uri.as_str())]).unwrap();
        let code = sso::code_from(&app, &sso::get(&browser, &app.url(&format!("/authorize?{q}"))).await);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", sso::REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", spa.as_str()),
        ];
        let other = DpopKey::eddsa().proof(&app, "POST", "/token", None);
        assert_error(&token_with(&app, &form, None, Some(&other)).await, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        let (s, _, body) = token_with(&app, &form, None, Some(&key.proof(&app, "POST", "/token", None))).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");
    }

    async fn require_dpop_is_enforced(b: Backend) {
        let f = fixture(b).await;
        set_require_dpop(&f.app, &f.web.client_id).await;
        let got = web_exchange(&f, None).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        let key = DpopKey::rs256();
        let (s, _, body) = web_exchange(&f, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        assert_eq!((s, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");
        // Other clients are not affected.
        let form = [("grant_type", "client_credentials")];
        assert_eq!(token_with(&f.app, &form, Some(&f.service), None).await.0, StatusCode::OK);
    }

    async fn a_server_nonce_is_demanded_when_configured(b: Backend) {
        let f = fixture_with(b, |s| s.tokens.dpop_nonce = true).await;
        let key = DpopKey::es256();
        let got = web_exchange(&f, Some(&key.proof(&f.app, "POST", "/token", None))).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "use_dpop_nonce");
        let nonce = got.1.get("dpop-nonce").expect("DPoP-Nonce header").to_str().unwrap().to_string();
        let mut c = claims(&f.app, "POST", "/token", None);
        c["nonce"] = json!(nonce);
        let (s, h, body) = web_exchange(&f, Some(&key.sign(&c))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(h.get("dpop-nonce").is_some());
        // A nonce from two windows ago is stale.
        f.app.clock.advance(601);
        let mut c = claims(&f.app, "POST", "/token", None);
        c["nonce"] = json!(nonce);
        assert_error(&web_exchange(&f, Some(&key.sign(&c))).await, StatusCode::BAD_REQUEST, "use_dpop_nonce");
        // Proofs are not asked of clients that do not use DPoP.
        assert_eq!(web_exchange(&f, None).await.0, StatusCode::OK);
    }
}
