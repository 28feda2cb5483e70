//! Key families end to end (issue 14): clients pinned to ES256 and EdDSA run the code flow with the `openidconnect`
//! relying party and get tokens a `jsonwebtoken` decoder verifies from the JWKS alone; each token kind follows its
//! own setting (`id_token_alg`, `access_token_alg`); tokens forged across families are refused at userinfo,
//! introspection and `/logout`'s `id_token_hint`; a family that is not enabled falls back to RS256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use porta::clock::Clock;
use porta::keys::{Alg, KeyGenerator};
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, ClientUpdate, Registered};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::rp_flow::sign_in;
use crate::token_support::*;

/// Sets a client's token algorithms, as `porta client update --id-token-alg .. --access-token-alg ..` does, checked
/// against `enabled` (the CLI passes `keys.algorithms`; `None` skips the check).
async fn pin_checked(
    f: &Fixture,
    client: &Registered,
    id_token: Alg,
    access_token: Alg,
    enabled: Option<Vec<Alg>>,
) -> Result<(), String> {
    let (id, now) = (client.client_id.clone(), f.app.clock.now());
    f.app
        .state
        .db
        .run(move |c| {
            manage_clients::update(
                c,
                &id,
                &ClientUpdate {
                    id_token_alg: Some(id_token.as_str().into()),
                    access_token_alg: Some(access_token.as_str().into()),
                    enabled_algs: enabled,
                    ..ClientUpdate::default()
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `pin_checked` with every family enabled, as the tests' settings have it.
async fn pin(f: &Fixture, client: &Registered, id_token: Alg, access_token: Alg) {
    pin_checked(f, client, id_token, access_token, Some(Alg::ALL.to_vec()))
        .await
        .expect("client updated");
}

/// Verifies a JWT with nothing but the JWKS, using the algorithm its JWK names; returns its header and claims.
fn verify_from_jwks(
    jwks: &jsonwebtoken::jwk::JwkSet,
    token: &str,
    aud: &str,
    iss: &str,
) -> (Header, Value) {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let alg =
        Algorithm::try_from(jwk.common.key_algorithm.expect("the JWK names its alg")).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &v).expect("token verifies from the JWKS");
    (data.header, data.claims)
}

fn openidconnect_alg(alg: Alg) -> CoreJwsSigningAlgorithm {
    match alg {
        Alg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Alg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        Alg::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// A compact JWS with `header` over `claims`, signed by `sign` (the attacker's choice of key and algorithm).
fn forge(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
    let signing_input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

/// Tokens an attacker holding only the JWKS (and keys of their own) could make for `claims`, each naming one of
/// Porta's published keys with an algorithm of another family, or a non-signature.
fn forgeries(jwks: &Value, claims: &Value, typ: &str) -> Vec<(String, String)> {
    let keys = jwks["keys"].as_array().unwrap();
    let kid_of = |alg: &str| {
        keys.iter().find(|k| k["alg"] == alg).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (rsa_kid, ec_kid, ed_kid) = (kid_of("RS256"), kid_of("ES256"), kid_of("EdDSA"));
    // The attacker's own keys of every family.
    let g = KeyGenerator::test_pool();
    let own_rsa = EncodingKey::from_rsa_der(&g.generate(2048).unwrap().private_der);
    let own_ec = EncodingKey::from_ec_der(&g.generate_for(Alg::Es256, 0).unwrap().private_der);
    let own_ed = EncodingKey::from_ed_der(&g.generate_for(Alg::EdDsa, 0).unwrap().private_der);
    let jws = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let header = Header {
            kid: Some(kid.into()),
            typ: Some(typ.into()),
            ..Header::new(alg)
        };
        jsonwebtoken::encode(&header, claims, key).unwrap()
    };
    let public = |kid: &str, member: &str| {
        keys.iter().find(|k| k["kid"] == kid).unwrap()[member]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut out = vec![
        (
            "RS256 header, EC kid".to_string(),
            jws(Algorithm::RS256, &ec_kid, &own_rsa),
        ),
        (
            "RS256 header, Ed25519 kid".into(),
            jws(Algorithm::RS256, &ed_kid, &own_rsa),
        ),
        (
            "ES256 header, RSA kid".into(),
            jws(Algorithm::ES256, &rsa_kid, &own_ec),
        ),
        (
            "ES256 header, Ed25519 kid".into(),
            jws(Algorithm::ES256, &ed_kid, &own_ec),
        ),
        (
            "EdDSA header, EC kid".into(),
            jws(Algorithm::EdDSA, &ec_kid, &own_ed),
        ),
        (
            "EdDSA header, RSA kid".into(),
            jws(Algorithm::EdDSA, &rsa_kid, &own_ed),
        ),
        // HMAC keyed with what the JWKS publishes.
        (
            "HS256 keyed with EC x".into(),
            jws(
                Algorithm::HS256,
                &ec_kid,
                &EncodingKey::from_secret(public(&ec_kid, "x").as_bytes()),
            ),
        ),
        (
            "HS256 keyed with Ed25519 x".into(),
            jws(
                Algorithm::HS256,
                &ed_kid,
                &EncodingKey::from_secret(public(&ed_kid, "x").as_bytes()),
            ),
        ),
        (
            "HS256 keyed with RSA n".into(),
            jws(
                Algorithm::HS256,
                &rsa_kid,
                &EncodingKey::from_secret(public(&rsa_kid, "n").as_bytes()),
            ),
        ),
    ];
    for kid in [&rsa_kid, &ec_kid, &ed_kid] {
        out.push((
            format!("alg none, kid {kid}"),
            forge(
                json!({"alg": "none", "kid": kid, "typ": typ}),
                claims,
                |_| Vec::new(),
            ),
        ));
    }
    out
}

both_backends! {
    // A relying party registered for ES256, then one for EdDSA, runs the whole code flow with `openidconnect`:
    // the ID token verifies through the JWKS with the algorithm it allows (and only that), `at_hash` matches with
    // the family's hash, userinfo and refresh work, and a `jsonwebtoken` decoder holding only the JWKS verifies
    // every token.
    async fn openidconnect_rp_runs_the_code_flow_with_es256_and_eddsa(b: Backend) {
        let f = fixture(b).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for (client, alg) in [(&f.web, Alg::Es256), (&f.other, Alg::EdDsa)] {
            pin(&f, client, alg, alg).await;
            let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(f.app.address.clone()).unwrap(), &http)
                .await
                .expect("discovery and JWKS");
            assert!(metadata.id_token_signing_alg_values_supported().contains(&openidconnect_alg(alg)));
            let rp = CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(client.client_id.clone()),
                Some(ClientSecret::new(Fixture::secret(client).to_string())),
            )
            .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
            let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
            let (auth_url, _csrf, nonce) = rp
                .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
                .add_scope(Scope::new("email".into()))
                .set_pkce_challenge(pkce_challenge)
                .url();
            let browser = f.app.new_browser();
            let callback = sign_in(&browser, &f.app.address, auth_url.as_str(), "ada", USER_PASSWORD, REDIRECT).await;
            let code = callback.query_pairs().find(|(k, _)| k == "code").expect("a code").1.to_string();
            let tokens = rp
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(pkce_verifier)
                .request_async(&http)
                .await
                .expect("token response");
            let id_token = tokens.id_token().expect("an ID token");
            // The RP allows only the algorithm it registered for.
            let verifier = rp.id_token_verifier().set_allowed_algs([openidconnect_alg(alg)]);
            let claims = id_token.claims(&verifier, &nonce).expect("ID token verifies through the JWKS");
            assert_eq!(claims.subject().as_str(), f.user.id);
            assert_eq!(id_token.signing_alg().unwrap(), &openidconnect_alg(alg));
            let expected_hash = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg().unwrap(),
                id_token.signing_key(&verifier).unwrap(),
            )
            .unwrap();
            assert_eq!(claims.access_token_hash(), Some(&expected_hash), "{alg}: at_hash with the family's hash");
            // An RP that allows RS256 only refuses it: the token really is of the other family.
            let rs256_only = rp.id_token_verifier().set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
            assert!(id_token.claims(&rs256_only, &nonce).is_err());

            let info: CoreUserInfoClaims = rp
                .user_info(tokens.access_token().clone(), None)
                .unwrap()
                .request_async(&http)
                .await
                .expect("userinfo accepts the access token");
            assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

            let jwks = jwks(&f.app).await;
            let id_jwt = id_token.to_string();
            let (header, _) = verify_from_jwks(&jwks, &id_jwt, &client.client_id, &f.app.address);
            assert_eq!(header.alg, alg.jwt());
            let access = tokens.access_token().secret();
            let (header, at) = verify_from_jwks(&jwks, access, &format!("{}/userinfo", f.app.address), &f.app.address);
            assert_eq!((header.alg, header.typ.as_deref()), (alg.jwt(), Some("at+jwt")));
            assert_eq!(at["client_id"], client.client_id.as_str());
            assert_eq!(f.introspect(client, access).await["active"], true);

            let refreshed = rp
                .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
                .unwrap()
                .request_async(&http)
                .await
                .expect("refresh");
            let again = refreshed.id_token().expect("a refreshed ID token");
            assert_eq!(again.signing_alg().unwrap(), &openidconnect_alg(alg));
            again.claims(&verifier, |_: Option<&Nonce>| Ok::<(), String>(())).expect("refreshed ID token verifies");
        }
    }

    // Each token kind follows its own setting: an EdDSA ID token beside an ES256 access token; client_credentials
    // in ES256; a client left at the default stays RS256.
    async fn each_token_kind_follows_its_own_setting(b: Backend) {
        let f = fixture(b).await;
        pin(&f, &f.web, Alg::EdDsa, Alg::Es256).await;
        pin(&f, &f.service, Alg::Rs256, Alg::Es256).await;
        let body = f.web_tokens().await;
        let alg_of = |t: &Value| jsonwebtoken::decode_header(t.as_str().unwrap()).unwrap().alg;
        assert_eq!(alg_of(&body["id_token"]), Algorithm::EdDSA);
        assert_eq!(alg_of(&body["access_token"]), Algorithm::ES256);
        let (s, refreshed) = f.refresh(&f.web, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{refreshed}");
        assert_eq!(alg_of(&refreshed["id_token"]), Algorithm::EdDSA);
        assert_eq!(alg_of(&refreshed["access_token"]), Algorithm::ES256);
        let (s, _, cc) = f
            .token(&[("grant_type", "client_credentials")], Some(&f.service))
            .await;
        assert_eq!(s, StatusCode::OK, "{cc}");
        assert_eq!(alg_of(&cc["access_token"]), Algorithm::ES256);
        assert_eq!(f.introspect(&f.service, cc["access_token"].as_str().unwrap()).await["active"], true);
        // The default.
        let code = f.code(CodeSpec { client_id: &f.other.client_id, scope: "openid", nonce: None, challenge: None }).await;
        let (s, _, other) = f
            .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)], Some(&f.other))
            .await;
        assert_eq!(s, StatusCode::OK, "{other}");
        assert_eq!(alg_of(&other["id_token"]), Algorithm::RS256);
        assert_eq!(alg_of(&other["access_token"]), Algorithm::RS256);
        // A revoked ES256 access token is refused like any other.
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(f.revoke(&f.web, access).await, StatusCode::OK);
        assert_eq!(f.userinfo(access).await.0, StatusCode::UNAUTHORIZED);
    }

    // Forged access tokens naming a key of another family (or none, or HS256 over public key material) are
    // refused at userinfo and introspection, while the genuine token of each family is accepted.
    async fn tokens_forged_across_families_are_refused(b: Backend) {
        let f = fixture(b).await;
        pin(&f, &f.web, Alg::Es256, Alg::Es256).await;
        let genuine = f.web_tokens().await["access_token"].as_str().unwrap().to_string();
        assert_eq!(f.userinfo(&genuine).await.0, StatusCode::OK);
        let claims = claims_of(&genuine);
        let jwks: Value = f.app.client.get(f.app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
        for (what, token) in forgeries(&jwks, &claims, "at+jwt") {
            let (s, _, body) = f.userinfo(&token).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert_eq!(f.introspect(&f.web, &token).await["active"], false, "{what}");
        }
        // The genuine signature under a header switched to another family's alg: refused too.
        let (_, rest) = genuine.split_once('.').unwrap();
        let kid = jsonwebtoken::decode_header(&genuine).unwrap().kid.unwrap();
        for alg in ["RS256", "EdDSA", "ES384"] {
            let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json!({"alg": alg, "kid": kid, "typ": "at+jwt"})).unwrap());
            let switched = format!("{header}.{rest}");
            assert_eq!(f.userinfo(&switched).await.0, StatusCode::UNAUTHORIZED, "{alg}");
            assert_eq!(f.introspect(&f.web, &switched).await["active"], false, "{alg}");
        }
    }

    // `/logout` with an `id_token_hint`: a genuine ES256 or EdDSA hint signs out at once; a hint forged across
    // families is ignored (the person is asked to confirm, and stays signed in).
    async fn end_session_hints_are_pinned_to_their_family(b: Backend) {
        use crate::sso::{LOGOUT_REDIRECT, authorize_url, authorize_with_login, code_row, get, location, query, register};
        let app = crate::helpers::spawn_app(b).await;
        let client_id = register(&app, "Web", true).await;
        let jwks: Value = app.client.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
        let signed_in = |browser: reqwest::Client| {
            let url = authorize_url(&app, &client_id, &[("prompt", "none")]);
            async move { query(&location(&get(&browser, &url).await)).contains_key("code") }
        };
        for alg in [Alg::Es256, Alg::EdDsa] {
            let browser = app.new_browser();
            let code = authorize_with_login(&app, &browser, &client_id).await;
            let row = code_row(&app, &code).await;
            let now = app.clock.now();
            let claims = json!({
                "iss": app.address, "sub": row.user_id, "aud": row.client_id, "azp": row.client_id,
                "iat": now, "exp": now + 3600, "auth_time": row.auth_time, "sid": row.sid,
            });
            let logout = |hint: &str| {
                let q = [
                    ("id_token_hint", hint),
                    ("client_id", client_id.as_str()),
                    ("post_logout_redirect_uri", LOGOUT_REDIRECT),
                ];
                app.url(&format!("/logout?{}", serde_urlencoded::to_string(q).unwrap()))
            };
            for (what, forged) in forgeries(&jwks, &claims, "JWT") {
                let res = get(&browser, &logout(&forged)).await;
                assert_eq!(res.status(), StatusCode::OK, "{what}: the person is asked, not signed out");
                assert!(res.text().await.unwrap().contains("csrf_token"), "{what}: a confirmation form");
            }
            assert!(signed_in(browser.clone()).await, "{alg}: no forged hint signed the person out");
            let keys = app.state.keys.current();
            let genuine = tokio::task::spawn_blocking(move || keys.sign_as(alg, "JWT", &claims)).await.unwrap().unwrap();
            assert_eq!(jsonwebtoken::decode_header(&genuine).unwrap().alg, alg.jwt());
            let res = get(&browser, &logout(&genuine)).await;
            assert_eq!(res.status(), StatusCode::FOUND, "{alg}: a genuine hint signs out at once");
            assert_eq!(location(&res), LOGOUT_REDIRECT);
            assert!(!signed_in(browser).await, "{alg}");
        }
    }

    // A family left out of `keys.algorithms`: discovery does not list it, and a client already pinned to it gets
    // RS256 tokens (with a warning in the log) whose `at_hash` is the RS256 one.
    async fn a_disabled_family_falls_back_to_rs256(b: Backend) {
        let f = fixture_with(b, |s| s.keys.algorithms = vec![Alg::Rs256, Alg::Es256]).await;
        let doc: Value = f.app.client.get(f.app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256", "ES256"]));
        let jwks: Value = f.app.client.get(f.app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["alg"] != "EdDSA"), "no EdDSA key was made");
        // Registration and updates refuse a family that is not enabled, naming the setting.
        let enabled = Some(f.app.state.keys.algorithms().to_vec());
        let e = pin_checked(&f, &f.web, Alg::EdDsa, Alg::Rs256, enabled.clone()).await.unwrap_err();
        assert!(e.contains("EdDSA is not enabled") && e.contains("keys.algorithms"), "{e}");
        pin_checked(&f, &f.web, Alg::Es256, Alg::Es256, enabled).await.expect("ES256 is enabled");
        // A client pinned while EdDSA was enabled (the check is skipped here, as for a row written back then).
        pin_checked(&f, &f.web, Alg::EdDsa, Alg::EdDsa, None).await.unwrap();
        let body = f.web_tokens().await;
        let id_token = body["id_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(id_token).unwrap().alg, Algorithm::RS256);
        assert_eq!(
            claims_of(id_token)["at_hash"],
            porta::tokens::mint::at_hash(body["access_token"].as_str().unwrap(), Alg::Rs256)
        );
        assert_eq!(jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap().alg, Algorithm::RS256);
        assert_eq!(f.userinfo(body["access_token"].as_str().unwrap()).await.0, StatusCode::OK);
    }

    // Logout tokens are signed like the client's ID tokens: a client pinned to EdDSA receives an EdDSA logout
    // token, which its back-channel endpoint verifies from the JWKS; a client left at RS256 gets RS256.
    async fn logout_tokens_follow_the_id_token_alg(b: Backend) {
        use crate::backchannel_support::{Receiver, end_session, pass, register_rp, signed_in, spawn_quiet};
        let app = spawn_quiet(b, |_| {}).await;
        for alg in [Alg::EdDsa, Alg::Rs256] {
            let rp = Receiver::start(&app).await;
            let client_id = register_rp(&app, "Notes", Some(&rp.uri)).await;
            let (cid, now) = (client_id.clone(), app.clock.now());
            app.state
                .db
                .run(move |c| {
                    let change = ClientUpdate { id_token_alg: Some(alg.as_str().into()), ..ClientUpdate::default() };
                    manage_clients::update(c, &cid, &change, &Actor::cli(), now)
                })
                .await
                .map_err(|e| e.to_string())
                .unwrap();
            let (browser, code) = signed_in(&app, &client_id).await;
            end_session(&app, &browser, &code).await;
            assert_eq!(pass(&app).await.delivered, 1);
            rp.seen(|s| {
                assert!(s.rejected.is_empty(), "{:?}", s.rejected);
                assert_eq!(s.accepted.len(), 1);
                assert_eq!(s.algs, [alg.as_str()]);
            });
        }
    }

    // `porta client add|update --id-token-alg/--access-token-alg` refuse a family left out of keys.algorithms with
    // one clear line, and write nothing; a config without RS256 is refused at load.
    async fn cli_refuses_algorithms_that_are_not_enabled(b: Backend) {
        use crate::cli::{assert_one_line_error, porta, stdout_json};
        let db = crate::helpers::TestDb::new(b);
        let rsa_es = |args: &[&str]| porta(&db).env("PORTA_KEYS__ALGORITHMS", "[RS256,ES256]").args(args).output().unwrap();
        let out = rsa_es(&["client", "add", "--name", "A", "--redirect-uri", "https://a.example.com/cb", "--id-token-alg", "EdDSA"]);
        assert_one_line_error(&out, "id_token_alg EdDSA is not enabled: add it to keys.algorithms (enabled: RS256, ES256)");
        let out = rsa_es(&["client", "add", "--name", "A", "--redirect-uri", "https://a.example.com/cb",
            "--id-token-alg", "ES256", "--access-token-alg", "EdDSA", "--json"]);
        assert_one_line_error(&out, "access_token_alg EdDSA is not enabled");
        let out = rsa_es(&["client", "add", "--name", "A", "--redirect-uri", "https://a.example.com/cb", "--id-token-alg", "ES256", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id = stdout_json(&out)["client_id"].as_str().unwrap().to_string();
        let out = rsa_es(&["client", "update", &id, "--access-token-alg", "EdDSA"]);
        assert_one_line_error(&out, "access_token_alg EdDSA is not enabled");
        let list = stdout_json(&rsa_es(&["client", "list", "--json"]));
        let c = list.as_array().unwrap().iter().find(|c| c["client_id"] == id.as_str()).unwrap().clone();
        assert_eq!((c["id_token_alg"].as_str(), c["access_token_alg"].as_str()), (Some("ES256"), Some("RS256")));
        assert_eq!(list.as_array().unwrap().len(), 1, "the refused registrations wrote nothing");
        let out = porta(&db).env("PORTA_KEYS__ALGORITHMS", "[ES256,EdDSA]").args(["client", "list"]).output().unwrap();
        assert_one_line_error(&out, "keys.algorithms: must include \"RS256\"");
    }

    // The console: one timeline per family, a rotate button per family, and rotating ES256 there moves only ES256.
    async fn console_rotates_one_family(b: Backend) {
        use crate::sso::{get, hidden, location, post, sign_in_admin};
        let app = crate::helpers::spawn_app(b).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let page = get(&admin, &app.url("/admin/keys")).await.text().await.unwrap();
        for alg in Alg::ALL {
            assert!(page.contains(&format!("id=\"timeline-{alg}\"")), "{alg}");
            assert!(page.contains(&format!("href=\"/admin/keys/rotate/{alg}\"")), "{alg}");
            assert!(page.contains(&format!("data-alg=\"{alg}\" data-state=\"active\"")), "{alg}");
        }
        // The next keys have been published long enough an hour later.
        app.clock.advance(3600);
        let before = Alg::ALL.map(|a| app.state.keys.current().active_kid_of(a).to_string());
        let confirm = get(&admin, &app.url("/admin/keys/rotate/ES256")).await.text().await.unwrap();
        assert!(confirm.contains("Rotate the ES256 signing key now?"), "{confirm}");
        let token = hidden(&confirm, "csrf_token").unwrap();
        let res = post(&admin, &app.url("/admin/keys/rotate/ES256"), &[("csrf_token", token.as_str())]).await;
        assert!(location(&res).starts_with("/admin/keys?notice=Rotated"), "{}", location(&res));
        let after = Alg::ALL.map(|a| app.state.keys.current().active_kid_of(a).to_string());
        assert_eq!((&after[0], &after[2]), (&before[0], &before[2]), "RS256 and EdDSA untouched");
        assert_ne!(after[1], before[1], "ES256 rotated");
        let res = post(&admin, &app.url("/admin/keys/rotate/HS256"), &[("csrf_token", token.as_str())]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
