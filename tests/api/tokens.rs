//! `/token`, `/userinfo`, `/introspect` and `/revoke` against a real server, with codes inserted as
//! `/authorize` would (the browser flow through `openidconnect` is in `rp_flow.rs`).

use porta::clock::Clock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::token_support::*;

const INVALID_GRANT: &str = "invalid_grant";

both_backends! {
    async fn discovery_lists_the_token_endpoints_and_they_answer(b: Backend) {
        let f = fixture(b).await;
        let doc: Value = f.app.client.get(f.app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["grant_types_supported"], serde_json::json!(["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"]));
        assert_eq!(doc["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "none"]));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(doc["scopes_supported"], serde_json::json!(["openid", "profile", "email", "offline_access", "groups", "roles"]));
        for claim in ["sub", "auth_time", "nonce", "at_hash", "sid", "amr", "preferred_username", "email"] {
            assert!(doc["claims_supported"].as_array().unwrap().iter().any(|c| c == claim), "{claim}");
        }
        // Every advertised endpoint is served: an empty request gets a protocol error, not a 404.
        for (field, expected) in [
            ("token_endpoint", StatusCode::BAD_REQUEST),
            ("userinfo_endpoint", StatusCode::UNAUTHORIZED),
            ("introspection_endpoint", StatusCode::UNAUTHORIZED),
            ("revocation_endpoint", StatusCode::UNAUTHORIZED),
            ("device_authorization_endpoint", StatusCode::UNAUTHORIZED),
        ] {
            let url = doc[field].as_str().unwrap_or_else(|| panic!("{field} advertised"));
            assert!(url.starts_with(&f.app.address), "{url}");
            let res = f.app.client.post(url).form(&[("x", "y")]).send().await.unwrap();
            assert_eq!(res.status(), expected, "{field}");
            assert_eq!(res.headers()["cache-control"], "no-store");
        }
    }

    async fn code_exchange_issues_tokens_verifiable_from_the_jwks(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let got = f
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
                Some(&f.web),
            )
            .await;
        let (status, headers, body) = &got;
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "email openid profile");
        assert!(body["refresh_token"].as_str().unwrap().len() >= 43);

        let iss = f.app.address.clone();
        let jwks = jwks(&f.app).await;
        let access = body["access_token"].as_str().unwrap();
        let (h, at) = verify_with_jwks(&jwks, access, &format!("{iss}/userinfo"), &iss);
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
        assert_eq!(at["sub"], f.user.id.as_str());
        assert_eq!(at["client_id"], f.web.client_id.as_str());
        assert_eq!(at["scope"], "email openid profile");
        assert!(at["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert_eq!(at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(), 600);
        assert!(at["auth_time"].is_i64());

        let (h, id) = verify_with_jwks(&jwks, body["id_token"].as_str().unwrap(), &f.web.client_id, &iss);
        assert_eq!(h.kid, jsonwebtoken::decode_header(access).unwrap().kid);
        assert_eq!(id["sub"], f.user.id.as_str());
        assert_eq!(id["azp"], f.web.client_id.as_str());
        assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(id["sid"], "sid-1");
        assert_eq!(id["amr"], serde_json::json!(["pwd"]));
        assert_eq!(id["auth_time"], at["auth_time"]);
        assert_eq!(id["at_hash"], porta::tokens::mint::at_hash(access, porta::keys::Alg::Rs256).as_str());
        assert_eq!(id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(), 3600);
        assert_eq!(id["preferred_username"], "ada");
        assert_eq!(id["name"], "Ada Lovelace");
        assert_eq!(id["email"], "ada@example.com");
        assert_eq!(id["email_verified"], false);
        assert!(id["updated_at"].is_i64());
    }

    async fn claims_follow_the_scope_and_refresh_needs_the_grant(b: Backend) {
        let f = fixture(b).await;
        let code = f
            .code(CodeSpec { client_id: &f.no_refresh.client_id, scope: "openid", nonce: None, challenge: None })
            .await;
        let (s, _, body) = f
            .token(
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
                Some(&f.no_refresh),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        let id = claims_of(body["id_token"].as_str().unwrap());
        for absent in ["nonce", "email", "name", "preferred_username", "updated_at"] {
            assert!(id.get(absent).is_none(), "{absent} in {id}");
        }
        let (s, _, info) = f.userinfo(body["access_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(info, serde_json::json!({ "sub": f.user.id }));
        let got = f.token(&[("grant_type", "refresh_token"), ("refresh_token", "x")], Some(&f.no_refresh)).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "unauthorized_client");
    }

    async fn client_secret_post_and_public_clients_with_pkce(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let (s, _, body) = f
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                    ("client_id", &f.web.client_id),
                    ("client_secret", Fixture::secret(&f.web)),
                ],
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        let code = f
            .code(CodeSpec {
                client_id: &f.spa.client_id,
                scope: "openid",
                nonce: None,
                challenge: Some(challenge(VERIFIER)),
            })
            .await;
        let without = f
            .token(
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", &f.spa.client_id)],
                None,
            )
            .await;
        assert_error(&without, StatusCode::BAD_REQUEST, "invalid_request");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", f.spa.client_id.as_str()),
            ("code_verifier", VERIFIER),
        ];
        let (s, _, body) = f.token(&form, None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        // A public client's refresh token is bound to it, and it refreshes without a secret.
        let (s, _, refreshed) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", body["refresh_token"].as_str().unwrap()),
                    ("client_id", &f.spa.client_id),
                ],
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{refreshed}");
        // A public client presenting a secret is not authenticated.
        let got = f
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", &f.spa.client_id), ("client_secret", "guess")],
                None,
            )
            .await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");
    }

    async fn wrong_client_credentials_get_401_with_a_challenge(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        for auth in [
            basic_header(&f.web.client_id, "wrong-secret"),
            basic_header("no-such-client", "secret"),
            basic_header(&f.spa.client_id, "anything"),
            "Basic !!!notbase64".to_string(),
            "Bearer abc".to_string(),
        ] {
            let res = f.app.client.post(f.app.url("/token")).form(&form).header("authorization", auth).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
            assert_eq!(res.headers()["cache-control"], "no-store");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
        }
        // A confidential client without its secret, and no client at all.
        let mut no_secret = form.to_vec();
        no_secret.push(("client_id", &f.web.client_id));
        assert_error(&f.token(&no_secret, None).await, StatusCode::UNAUTHORIZED, "invalid_client");
        assert_error(&f.token(&form, None).await, StatusCode::UNAUTHORIZED, "invalid_client");
        // Two methods at once.
        let mut both = form.to_vec();
        both.push(("client_secret", Fixture::secret(&f.web)));
        assert_error(&f.token(&both, Some(&f.web)).await, StatusCode::BAD_REQUEST, "invalid_request");
        // The code was never consumed by any of this.
        let (s, _, body) = f.token(&form, Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    async fn redirect_uri_pkce_and_client_must_match_the_code(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let base = |redirect: &'static str, verifier: &'static str| {
            vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ]
        };
        let wrong_verifier = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for (form, who) in [
            (base("http://127.0.0.1:9/other", VERIFIER), &f.web),
            (base("http://127.0.0.1:9/callback/", VERIFIER), &f.web),
            (base(REDIRECT, wrong_verifier), &f.web),
            (base(REDIRECT, VERIFIER), &f.other),
        ] {
            assert_error(&f.token(&form, Some(who)).await, StatusCode::BAD_REQUEST, INVALID_GRANT);
        }
        let mut no_verifier = base(REDIRECT, VERIFIER);
        no_verifier.pop();
        assert_error(&f.token(&no_verifier, Some(&f.web)).await, StatusCode::BAD_REQUEST, INVALID_GRANT);
        // Refusals roll back: the rightful exchange still succeeds once.
        let (s, _, body) = f.token(&base(REDIRECT, VERIFIER), Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // A verifier for a code issued without a challenge is a downgrade attempt.
        let plain = f.code(CodeSpec { client_id: &f.web.client_id, scope: "openid", nonce: None, challenge: None }).await;
        let form = [("grant_type", "authorization_code"), ("code", plain.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        assert_error(&f.token(&form, Some(&f.web)).await, StatusCode::BAD_REQUEST, INVALID_GRANT);
    }

    async fn a_replayed_code_revokes_what_it_issued(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let (s, _, first) = f.token(&form, Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK);
        let access = first["access_token"].as_str().unwrap();
        let refresh = first["refresh_token"].as_str().unwrap();
        // A refresh before the replay: its tokens belong to the same family and must go too.
        let (s, refreshed) = f.refresh(&f.web, refresh).await;
        assert_eq!(s, StatusCode::OK, "{refreshed}");
        assert_eq!(f.userinfo(access).await.0, StatusCode::OK);

        let replay = f.token(&form, Some(&f.web)).await;
        assert_error(&replay, StatusCode::BAD_REQUEST, INVALID_GRANT);
        assert_eq!(f.token_audit().await, ["token.code_replayed"]);

        let (s, h, body) = f.userinfo(access).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
        assert_eq!(f.userinfo(refreshed["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(f.introspect(&f.web, access).await["active"], false);
        let (s, body) = f.refresh(&f.web, refreshed["refresh_token"].as_str().unwrap()).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
    }

    async fn concurrent_redemptions_of_one_code_succeed_once(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let results = futures_join(&f, &form).await;
        let ok = results.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{results:?}");
        assert!(results.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST), "{results:?}");
    }

    async fn an_expired_refresh_token_is_refused(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        f.app.clock.advance(30 * 86400 + 1);
        let (s, body) = f.refresh(&f.web, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        assert_eq!(f.introspect(&f.web, tokens["refresh_token"].as_str().unwrap()).await["active"], false);
    }

    async fn an_expired_code_is_refused(b: Backend) {
        let f = fixture(b).await;
        let code = f.web_code().await;
        f.app.clock.advance(61);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        assert_error(&f.token(&form, Some(&f.web)).await, StatusCode::BAD_REQUEST, INVALID_GRANT);
        let unknown = [("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", REDIRECT)];
        assert_error(&f.token(&unknown, Some(&f.web)).await, StatusCode::BAD_REQUEST, INVALID_GRANT);
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(b: Backend) {
        let f = fixture(b).await;
        let first = f.web_tokens().await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let (s, second) = f.refresh(&f.web, r1).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        let r2 = second["refresh_token"].as_str().unwrap();
        assert_ne!(r1, r2);
        let id = claims_of(second["id_token"].as_str().unwrap());
        assert!(id.get("nonce").is_none());
        assert_eq!(id["sid"], "sid-1");
        assert_eq!(id["amr"], serde_json::json!(["pwd"]));
        assert_eq!(id["auth_time"], claims_of(first["id_token"].as_str().unwrap())["auth_time"]);
        assert_eq!(f.introspect(&f.web, r1).await["active"], false);
        assert_eq!(f.introspect(&f.web, r2).await["active"], true);

        // r1 again: a leaked copy. The family (r2) and the access token issued with r2 are revoked.
        let (s, body) = f.refresh(&f.web, r1).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        assert_eq!(f.token_audit().await, ["token.refresh_reused"]);
        let (s, body) = f.refresh(&f.web, r2).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        assert_eq!(f.userinfo(second["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn refresh_is_bound_to_its_client_scope_and_user(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let r = tokens["refresh_token"].as_str().unwrap();
        let (s, body) = f.refresh(&f.other, r).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        // Wider scope: refused; nothing rotated.
        let wide = [("grant_type", "refresh_token"), ("refresh_token", r), ("scope", "openid offline_access")];
        assert_error(&f.token(&wide, Some(&f.web)).await, StatusCode::BAD_REQUEST, "invalid_scope");
        let unknown = [("grant_type", "refresh_token"), ("refresh_token", r), ("scope", "openid admin")];
        assert_error(&f.token(&unknown, Some(&f.web)).await, StatusCode::BAD_REQUEST, "invalid_scope");
        // Narrower scope: the access token and ID token narrow, the refresh token keeps the grant.
        let narrow = [("grant_type", "refresh_token"), ("refresh_token", r), ("scope", "openid profile")];
        let (s, _, body) = f.token(&narrow, Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "openid profile");
        let (_, _, info) = f.userinfo(body["access_token"].as_str().unwrap()).await;
        assert_eq!(info["preferred_username"], "ada");
        assert!(info.get("email").is_none(), "{info}");
        let r2 = body["refresh_token"].as_str().unwrap();
        assert_eq!(f.introspect(&f.web, r2).await["scope"], "email openid profile");

        // A disabled user gets no new tokens and no userinfo.
        let access = body["access_token"].as_str().unwrap().to_string();
        let now = f.app.clock.now();
        f.app
            .state
            .db
            .run(move |c| porta::db::models::users::set_disabled(c, "ada", true, now))
            .await
            .unwrap();
        let (s, body) = f.refresh(&f.web, r2).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        assert_eq!(f.userinfo(&access).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(f.introspect(&f.web, &access).await["active"], false);
    }

    async fn client_credentials_for_registered_confidential_clients(b: Backend) {
        let f = fixture(b).await;
        let (s, h, body) = f.token(&[("grant_type", "client_credentials")], Some(&f.service)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(h["cache-control"], "no-store");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
        let iss = f.app.address.clone();
        let (h, at) = verify_with_jwks(&jwks(&f.app).await, body["access_token"].as_str().unwrap(), &format!("{iss}/userinfo"), &iss);
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
        assert_eq!(at["sub"], f.service.client_id.as_str());
        assert_eq!(at["client_id"], f.service.client_id.as_str());
        assert!(at.get("auth_time").is_none());
        let metrics = f.app.client.get(f.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.lines().any(|l| l.starts_with("porta_tokens_issued_total")
                && l.contains("grant=\"client_credentials\"")
                && l.contains("type=\"access_token\"")),
            "{metrics}"
        );
        let introspected = f.introspect(&f.service, body["access_token"].as_str().unwrap()).await;
        assert_eq!(introspected["active"], true);
        assert_eq!(introspected["sub"], f.service.client_id.as_str());
        // No user behind it: userinfo answers insufficient_scope.
        let (s, h, _) = f.userinfo(body["access_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(h["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));

        let scoped = f.token(&[("grant_type", "client_credentials"), ("scope", "openid")], Some(&f.service)).await;
        assert_error(&scoped, StatusCode::BAD_REQUEST, "invalid_scope");
        let other = f.token(&[("grant_type", "client_credentials")], Some(&f.web)).await;
        assert_error(&other, StatusCode::BAD_REQUEST, "unauthorized_client");
        let public = f.token(&[("grant_type", "client_credentials"), ("client_id", &f.spa.client_id)], None).await;
        assert_error(&public, StatusCode::BAD_REQUEST, "unauthorized_client");
        let code = f.token(&[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", REDIRECT)], Some(&f.service)).await;
        assert_error(&code, StatusCode::BAD_REQUEST, "unauthorized_client");
    }

    async fn malformed_token_requests_get_rfc_errors(b: Backend) {
        let f = fixture(b).await;
        let web = Some(&f.web);
        assert_error(&f.token(&[("grant_type", "password"), ("username", "ada")], web).await, StatusCode::BAD_REQUEST, "unsupported_grant_type");
        assert_error(&f.token(&[("code", "x")], web).await, StatusCode::BAD_REQUEST, "invalid_request");
        assert_error(&f.token(&[("grant_type", "authorization_code"), ("redirect_uri", REDIRECT)], web).await, StatusCode::BAD_REQUEST, "invalid_request");
        assert_error(&f.token(&[("grant_type", "authorization_code"), ("code", "x")], web).await, StatusCode::BAD_REQUEST, "invalid_request");
        assert_error(&f.token(&[("grant_type", "refresh_token")], web).await, StatusCode::BAD_REQUEST, "invalid_request");
        assert_error(
            &f.token(&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")], Some(&f.service)).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
        // Not a form; and bytes that are not UTF-8.
        for (ctype, body) in [("application/json", b"{\"grant_type\":\"client_credentials\"}".to_vec()), ("application/x-www-form-urlencoded", vec![b'a', b'=', 0xff, 0xfe])] {
            let res = f.app.client.post(f.app.url("/token")).header("content-type", ctype).body(body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
        }
        let res = f.app.client.get(f.app.url("/token")).send().await.unwrap();
        assert!(res.status().is_client_error());
    }

    async fn userinfo_accepts_header_or_form_and_refuses_bad_tokens(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        let (s, h, info) = f.userinfo(access).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(info["sub"], f.user.id.as_str());
        assert_eq!(info["email"], "ada@example.com");
        assert_eq!(info["email_verified"], false);
        assert_eq!(info["name"], "Ada Lovelace");

        let res = f.app.client.post(f.app.url("/userinfo")).form(&[("access_token", access)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = f.app.client.post(f.app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = f.app.client.post(f.app.url("/userinfo")).bearer_auth(access).form(&[("access_token", access)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        let res = f.app.client.get(f.app.url("/userinfo")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // Both schemes are offered (RFC 9449 7.1), without an error code (RFC 6750 3.1).
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"porta\", DPoP algs=\"ES256 EdDSA RS256\"");
        for bad in ["garbage", "a.b.c", &format!("{access}x"), tokens["id_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap()] {
            let (s, h, _) = f.userinfo(bad).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
            assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
        }
        // Expired by the server's clock.
        f.app.clock.advance(601);
        let (s, h, _) = f.userinfo(access).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
        assert_eq!(f.introspect(&f.web, access).await, serde_json::json!({ "active": false }));
    }

    async fn introspection_is_for_the_token_owner_only(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let got = f.introspect(&f.web, access).await;
        assert_eq!(got["active"], true);
        assert_eq!(got["client_id"], f.web.client_id.as_str());
        assert_eq!(got["username"], "ada");
        assert_eq!(got["token_type"], "Bearer");
        assert_eq!(got["scope"], "email openid profile");
        let got = f.introspect(&f.web, refresh).await;
        assert_eq!((got["active"].as_bool(), got["token_type"].as_str()), (Some(true), Some("refresh_token")));
        // The hint is only a hint.
        let (_, h, got) = post_form(&f.app, "/introspect", &[("token", access), ("token_type_hint", "refresh_token")], Some(&f.web)).await;
        assert_eq!(got["active"], true);
        assert_eq!(h["cache-control"], "no-store");
        let (_, _, got) = post_form(&f.app, "/introspect", &[("token", refresh), ("token_type_hint", "access_token")], Some(&f.web)).await;
        assert_eq!(got["active"], true);

        let inactive = serde_json::json!({ "active": false });
        assert_eq!(f.introspect(&f.other, access).await, inactive);
        assert_eq!(f.introspect(&f.other, refresh).await, inactive);
        assert_eq!(f.introspect(&f.web, "unknown").await, inactive);
        assert_eq!(f.introspect(&f.web, "a.b.c").await, inactive);

        // Public clients and bad credentials may not introspect.
        let public = post_form(&f.app, "/introspect", &[("token", access), ("client_id", &f.spa.client_id)], None).await;
        assert_error(&public, StatusCode::UNAUTHORIZED, "invalid_client");
        let anonymous = post_form(&f.app, "/introspect", &[("token", access)], None).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED, "invalid_client");
        let missing = post_form(&f.app, "/introspect", &[], Some(&f.web)).await;
        assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
    }

    async fn revocation_of_access_and_refresh_tokens(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        // Another client's tokens: 200, untouched.
        assert_eq!(f.revoke(&f.other, access).await, StatusCode::OK);
        assert_eq!(f.revoke(&f.other, refresh).await, StatusCode::OK);
        assert_eq!(f.userinfo(access).await.0, StatusCode::OK);
        assert_eq!(f.introspect(&f.web, refresh).await["active"], true);
        // Unknown tokens: 200.
        assert_eq!(f.revoke(&f.web, "never-issued").await, StatusCode::OK);
        assert_eq!(f.revoke(&f.web, "a.b.c").await, StatusCode::OK);
        // The access token by jti.
        assert_eq!(f.revoke(&f.web, access).await, StatusCode::OK);
        assert_eq!(f.revoke(&f.web, access).await, StatusCode::OK);
        assert_eq!(f.userinfo(access).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(f.introspect(&f.web, access).await["active"], false);
        // The refresh token takes its family and the access tokens issued from it.
        let (s, next) = f.refresh(&f.web, refresh).await;
        assert_eq!(s, StatusCode::OK);
        let r2 = next["refresh_token"].as_str().unwrap();
        assert_eq!(f.revoke(&f.web, r2).await, StatusCode::OK);
        let (s, body) = f.refresh(&f.web, r2).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(INVALID_GRANT)));
        assert_eq!(f.userinfo(next["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
        // A public client revokes its own tokens with its client_id.
        let spa_code = f.code(CodeSpec { client_id: &f.spa.client_id, scope: "openid", nonce: None, challenge: Some(challenge(VERIFIER)) }).await;
        let (s, _, spa) = f
            .token(&[("grant_type", "authorization_code"), ("code", &spa_code), ("redirect_uri", REDIRECT), ("client_id", &f.spa.client_id), ("code_verifier", VERIFIER)], None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = post_form(&f.app, "/revoke", &[("token", spa["refresh_token"].as_str().unwrap()), ("client_id", &f.spa.client_id)], None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = f
            .token(&[("grant_type", "refresh_token"), ("refresh_token", spa["refresh_token"].as_str().unwrap()), ("client_id", &f.spa.client_id)], None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // Wrong credentials are still refused.
        let res = f.app.client.post(f.app.url("/revoke")).form(&[("token", access)]).header("authorization", basic_header(&f.web.client_id, "wrong")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    async fn forged_tokens_are_refused(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let genuine = tokens["access_token"].as_str().unwrap();
        let claims = claims_of(genuine);
        let kid = jsonwebtoken::decode_header(genuine).unwrap().kid.unwrap();
        let jwks = jwks(&f.app).await;
        for forged in forgeries(&jwks, genuine, &kid, &claims) {
            let (s, h, _) = f.userinfo(&forged).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{forged}");
            assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
            assert_eq!(f.introspect(&f.web, &forged).await, serde_json::json!({ "active": false }));
            assert_eq!(f.revoke(&f.web, &forged).await, StatusCode::OK);
        }
        // None of that revoked the genuine token.
        assert_eq!(f.userinfo(genuine).await.0, StatusCode::OK);
    }

    async fn purge_drops_only_what_can_no_longer_matter(b: Backend) {
        let f = fixture(b).await;
        let tokens = f.web_tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(f.revoke(&f.web, access).await, StatusCode::OK);
        let db = f.app.state.db.clone();
        let now = f.app.clock.now();
        // Nothing has expired yet.
        assert_eq!(porta::tokens::purge::purge_expired(&db, now).await.unwrap(), 0);
        assert_eq!(f.introspect(&f.web, refresh).await["active"], true);
        // After the access token's expiry its revocation entry goes; after 30 days the refresh token does.
        assert_eq!(porta::tokens::purge::purge_expired(&db, now + 601).await.unwrap(), 1);
        assert_eq!(porta::tokens::purge::purge_expired(&db, now + 31 * 86400).await.unwrap(), 1);
        let hash = porta::crypto::secrets::hash_secret(refresh);
        let row = db.run(move |c| porta::db::models::refresh_tokens::by_hash(c, &hash)).await.unwrap();
        assert!(row.is_none());
    }

    async fn tokens_minted_before_a_rotation_verify_after_it(b: Backend) {
        // Short JWKS timings so the next key may take over after seconds, not half an hour.
        let f = fixture_with(b, |s| {
            s.keys.jwks_max_age = std::time::Duration::from_secs(10);
            s.keys.key_refresh_interval = std::time::Duration::from_secs(5);
        })
        .await;
        let before = f.web_tokens().await;
        let old_kid = jsonwebtoken::decode_header(before["access_token"].as_str().unwrap()).unwrap().kid;
        f.app.clock.advance(60);
        f.app.state.keys.rotate_now(&f.app.state.db, porta::keys::Alg::Rs256, None).await.expect("rotate");
        let after = f.web_tokens().await;
        let new_kid = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap()).unwrap().kid;
        assert_ne!(old_kid, new_kid);
        let old_access = before["access_token"].as_str().unwrap();
        assert_eq!(f.userinfo(old_access).await.0, StatusCode::OK);
        assert_eq!(f.introspect(&f.web, old_access).await["active"], true);
        let iss = f.app.address.clone();
        let jwks = jwks(&f.app).await;
        verify_with_jwks(&jwks, old_access, &format!("{iss}/userinfo"), &iss);
        verify_with_jwks(&jwks, before["id_token"].as_str().unwrap(), &f.web.client_id, &iss);
        verify_with_jwks(&jwks, after["id_token"].as_str().unwrap(), &f.web.client_id, &iss);
        // And the refresh token from before the rotation still works.
        let (s, _) = f.refresh(&f.web, before["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK);
    }
}

/// Four simultaneous token requests with the same form.
async fn futures_join(f: &Fixture, form: &[(&str, &str)]) -> Vec<StatusCode> {
    let send = || async { f.token(form, Some(&f.web)).await.0 };
    let (a, b, c, d) = tokio::join!(send(), send(), send(), send());
    vec![a, b, c, d]
}

/// `alg: none`, HS256 keyed with the public key (PEM, DER, and the JWK JSON), an unknown kid, a token signed by
/// a stranger's RSA key under Porta's kid, and a genuine header over altered claims.
fn forgeries(
    jwks: &jsonwebtoken::jwk::JwkSet,
    genuine: &str,
    kid: &str,
    claims: &Value,
) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let mut out = Vec::new();
    for typ in ["at+jwt", "JWT"] {
        let header = serde_json::json!({ "alg": "none", "typ": typ, "kid": kid });
        out.push(format!("{}.{}.", b64(&header), b64(claims)));
        let header = serde_json::json!({ "alg": "None", "typ": typ, "kid": kid });
        out.push(format!("{}.{}.", b64(&header), b64(claims)));
    }
    let jwk = jwks.find(kid).unwrap();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = &jwk.algorithm else {
        panic!("RSA JWK")
    };
    let n = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&params.n).unwrap());
    let e = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&params.e).unwrap());
    let public = rsa::RsaPublicKey::new(n, e).unwrap();
    let pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let der = public.to_public_key_der().unwrap();
    let jwk_json = serde_json::to_vec(jwk).unwrap();
    for secret in [pem.as_bytes(), der.as_bytes(), &jwk_json] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.to_string());
        header.typ = Some("at+jwt".into());
        out.push(
            jsonwebtoken::encode(
                &header,
                claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap(),
        );
    }
    // A stranger's RSA key, under Porta's kid and under its own.
    let stranger = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_der(stranger.to_pkcs1_der().unwrap().as_bytes());
    for k in [kid, "someone-else"] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(k.to_string());
        header.typ = Some("at+jwt".into());
        out.push(jsonwebtoken::encode(&header, claims, &key).unwrap());
    }
    // The genuine header and signature over altered claims.
    let mut altered = claims.clone();
    altered["sub"] = Value::String("someone-else".into());
    let parts: Vec<&str> = genuine.split('.').collect();
    out.push(format!("{}.{}.{}", parts[0], b64(&altered), parts[2]));
    out
}
