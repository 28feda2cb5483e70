//! Who may do what (issue 12): the `groups` and `roles` claims through a standard relying party, unknown scopes
//! ignored, clients that admit only some groups, and users removed without leaving rows behind.

use diesel::prelude::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use porta::clock::Clock;
use porta::db::AnyConnection;
use porta::manage::{Actor, ManageError, apis, clients, groups, roles};
use reqwest::StatusCode;
use serde_json::Value;

use crate::rp_flow::sign_in;
use crate::token_support::*;

pub const API: &str = "https://api.example.com";

/// Runs management calls on the app's database as the CLI would.
pub async fn setup<T: Send + 'static>(
    f: &Fixture,
    work: impl FnOnce(&mut AnyConnection, &Actor, i64) -> Result<T, ManageError> + Send + 'static,
) -> T {
    let now = f.app.clock.now();
    f.app
        .state
        .db
        .run(move |c| work(c, &Actor::cli(), now))
        .await
        .map_err(|e| e.to_string())
        .expect("setup")
}

/// The API `https://api.example.com` with `items:read` and `items:write`.
pub async fn items_api(f: &Fixture) {
    setup(f, |c, a, now| {
        apis::add(
            c,
            API,
            "Items",
            &["items:read=Read your items".into(), "items:write".into()],
            a,
            now,
        )
    })
    .await;
}

fn allow(groups: &[&str], scopes: &[&str]) -> clients::ClientUpdate {
    clients::ClientUpdate {
        allowed_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        allowed_scopes: Some(scopes.iter().map(|g| g.to_string()).collect()),
        ..Default::default()
    }
}

fn count(c: &mut AnyConnection, table: &str, user_id: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE user_id = '{user_id}'");
    diesel::sql_query(sql).get_result::<N>(c).unwrap().n
}

fn authorize_url(f: &Fixture, client_id: &str, scope: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s1&nonce=n1\
         &code_challenge={}&code_challenge_method=S256",
        f.app.address,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
        challenge(VERIFIER),
    )
}

both_backends! {
    async fn a_standard_rp_gets_groups_roles_and_the_api_audience(b: Backend) {
        let f = fixture(b).await;
        items_api(&f).await;
        let web = f.web.client_id.clone();
        setup(&f, move |c, a, now| {
            groups::add(c, "staff", Some("Everyone at work"), a, now)?;
            groups::add(c, "editors", None, a, now)?;
            groups::add(c, "outsiders", None, a, now)?;
            groups::add_member(c, "staff", "ada", a, now)?;
            groups::add_member(c, "editors", "ada", a, now)?;
            roles::add(c, &web, "editor", &["editors".into()], a, now)?;
            roles::add(c, &web, "viewer", &["staff".into(), "editors".into()], a, now)?;
            roles::add(c, &web, "owner", &["outsiders".into()], a, now)?;
            clients::update(c, &web, &allow(&["staff"], &["items:read"]), a, now)
        })
        .await;
        // The same roles in another client are not this client's.
        let other = f.other.client_id.clone();
        setup(&f, move |c, a, now| roles::add(c, &other, "admin", &["staff".into()], a, now)).await;

        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(f.app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery");
        let supported: Vec<String> =
            metadata.scopes_supported().unwrap().iter().map(|s| s.to_string()).collect();
        assert!(supported.contains(&"groups".into()) && supported.contains(&"roles".into()));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(f.web.client_id.clone()),
            Some(ClientSecret::new(Fixture::secret(&f.web).to_string())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, _, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("groups".into()))
            .add_scope(Scope::new("roles".into()))
            .add_scope(Scope::new("items:read".into()))
            // Not allowed to this client, and unknown: both ignored, the sign-in goes on.
            .add_scope(Scope::new("items:write".into()))
            .add_scope(Scope::new("no-such-scope".into()))
            .set_pkce_challenge(pkce_challenge)
            .url();
        let browser = f.app.new_browser();
        let callback = sign_in(&browser, &f.app.address, auth_url.as_str(), "ada", USER_PASSWORD, REDIRECT).await;
        let code = callback.query_pairs().find(|(k, _)| k == "code").expect("a code").1.to_string();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(pkce_verifier)
            .request_async(&http)
            .await
            .expect("token response");
        let granted: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(granted, ["groups", "items:read", "openid", "profile", "roles"]);
        let id_token = tokens.id_token().expect("an ID token");
        id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies");
        let id = claims_of(&id_token.to_string());
        assert_eq!(id["groups"], serde_json::json!(["editors", "staff"]));
        assert_eq!(id["roles"], serde_json::json!(["editor", "viewer"]));

        // The access token: for the API and for userinfo, with the same claims.
        let jwks = jwks(&f.app).await;
        let at = tokens.access_token().secret();
        let (_, claims) = verify_with_jwks(&jwks, at, API, &f.app.address);
        let userinfo_aud = f.app.url("/userinfo");
        assert_eq!(claims["aud"], serde_json::json!([API, userinfo_aud]));
        assert_eq!(claims["scope"], "groups items:read openid profile roles");
        assert_eq!(claims["groups"], serde_json::json!(["editors", "staff"]));
        assert_eq!(claims["roles"], serde_json::json!(["editor", "viewer"]));
        let (s, _, info) = f.userinfo(at).await;
        assert_eq!(s, StatusCode::OK, "{info}");
        assert_eq!(info["groups"], serde_json::json!(["editors", "staff"]));
        assert_eq!(info["roles"], serde_json::json!(["editor", "viewer"]));
        let intro = f.introspect(&f.web, at).await;
        assert_eq!(intro["active"], true);
        assert_eq!(intro["aud"], serde_json::json!([API, userinfo_aud]));

        // RFC 8707 on the token endpoint: a refresh narrowed to the API.
        let (s, body) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens.refresh_token().unwrap().secret()),
                    ("resource", API),
                ],
                Some(&f.web),
            )
            .await
            .into_parts();
        assert_eq!(s, StatusCode::OK, "{body}");
        let narrowed = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(narrowed["aud"], API);
        assert_eq!(narrowed["scope"], "items:read");
        assert_eq!(body["scope"], "items:read");
        assert!(body["id_token"].is_string());
        let (s, _, b) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", body["refresh_token"].as_str().unwrap()),
                    ("resource", "https://elsewhere.example.com"),
                ],
                Some(&f.web),
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));
    }

    async fn an_unknown_scope_is_ignored_not_refused(b: Backend) {
        let f = fixture(b).await;
        let browser = f.app.new_browser();
        let url = authorize_url(&f, &f.web.client_id, "openid email admin:everything");
        let callback = sign_in(&browser, &f.app.address, &url, "ada", USER_PASSWORD, REDIRECT).await;
        let code = callback.query_pairs().find(|(k, _)| k == "code").expect("a code, not an error").1.to_string();
        let (s, _, body) = f
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
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "email openid");
        let at = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(at["aud"], f.app.url("/userinfo"));
        assert!(at.get("groups").is_none());
    }

    async fn a_user_outside_the_allowed_groups_gets_access_denied_and_no_code(b: Backend) {
        let f = fixture(b).await;
        let before = f.web_tokens().await;
        let web = f.web.client_id.clone();
        setup(&f, move |c, a, now| {
            groups::add(c, "admins", None, a, now)?;
            clients::update(c, &web, &allow(&["admins"], &[]), a, now)
        })
        .await;
        let browser = f.app.new_browser();
        let url = authorize_url(&f, &f.web.client_id, "openid");
        let callback = sign_in(&browser, &f.app.address, &url, "ada", USER_PASSWORD, REDIRECT).await;
        let params: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
        assert_eq!(params.get("error").map(String::as_str), Some("access_denied"));
        assert_eq!(params.get("state").map(String::as_str), Some("s1"));
        assert!(!params.contains_key("code"));
        let uid = f.user.id.clone();
        let (codes, audit) = f
            .app
            .state
            .db
            .run(move |c| {
                let codes = count(c, "auth_codes", &uid);
                let filter = porta::db::models::audit::Filter {
                    action_prefix: Some("authorize.".into()),
                    ..Default::default()
                };
                let rows = porta::db::models::audit::list(c, &filter, 10, 0)?;
                Ok::<_, porta::db::StoreError>((codes, rows))
            })
            .await
            .unwrap();
        assert_eq!(codes, 1, "no code was issued beyond the one exchanged before the restriction");
        // Tokens from before the restriction refresh no more.
        let (s, b) = f.refresh(&f.web, before["refresh_token"].as_str().unwrap()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].action, "authorize.access_denied");
        assert_eq!(audit[0].actor.as_deref(), Some("ada"));
        assert_eq!(audit[0].target.as_deref(), Some(f.web.client_id.as_str()));

        // Once in the group, the same browser gets a code at once.
        setup(&f, move |c, a, now| groups::add_member(c, "admins", "ada", a, now)).await;
        let res = browser.get(authorize_url(&f, &f.web.client_id, "openid")).send().await.unwrap();
        let loc = res.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.contains("code="), "{loc}");
    }

    async fn updating_and_removing_a_user_leaves_no_orphan_rows(b: Backend) {
        let f = fixture(b).await;
        setup(&f, |c, a, now| {
            groups::add(c, "staff", None, a, now)?;
            groups::add_member(c, "staff", "ada", a, now)
        })
        .await;
        let tokens = f.web_tokens().await;
        let (uid, web) = (f.user.id.clone(), f.web.client_id.clone());
        f.app
            .state
            .db
            .run(move |c| {
                porta::db::models::consents::grant(c, &uid, &web, &porta::domain::scope::Scopes::parse("openid").unwrap(), 1)?;
                porta::db::models::session_clients::record(c, SID, &web, &uid, 1)
            })
            .await
            .unwrap();
        let _ = f.code(CodeSpec { client_id: &f.web.client_id, scope: "openid", nonce: None, challenge: None }).await;

        // Update: a new address is unverified until an admin says otherwise; blank clears the name.
        let u = setup(&f, |c, a, now| {
            let change = porta::db::models::users::ProfileChange {
                email: Some(Some("ada@new.example.com".into())),
                name: Some(Some(" ".into())),
                email_verified: Some(true),
            };
            porta::manage::users::update(c, "ada", &change, a, now)
        })
        .await;
        assert_eq!(u.email.as_deref(), Some("ada@new.example.com"));
        assert!(u.email_verified);
        assert_eq!(u.name, None);
        let u = setup(&f, |c, a, now| {
            let change = porta::db::models::users::ProfileChange {
                email: Some(Some("ada@other.example.com".into())),
                ..Default::default()
            };
            porta::manage::users::update(c, "ada", &change, a, now)
        })
        .await;
        assert!(!u.email_verified);
        let bad = f
            .app
            .state
            .db
            .run(|c| {
                let change = porta::db::models::users::ProfileChange {
                    email: Some(Some("not-an-address".into())),
                    ..Default::default()
                };
                porta::manage::users::update(c, "ada", &change, &Actor::cli(), 1)
            })
            .await;
        assert!(bad.is_err());

        let shown = setup(&f, |c, _, _| porta::manage::users::show(c, "ada")).await;
        assert_eq!(shown.groups, ["staff"]);
        assert_eq!(shown.sessions, 1);

        setup(&f, |c, a, now| porta::manage::users::remove(c, "ada", a, now)).await;
        let uid = f.user.id.clone();
        let left = f
            .app
            .state
            .db
            .run(move |c| {
                let tables = ["sessions", "auth_codes", "refresh_tokens", "consents", "group_members", "session_clients"];
                let counts: Vec<(&str, i64)> = tables.iter().map(|t| (*t, count(c, t, &uid))).collect();
                let filter = porta::db::models::audit::Filter {
                    action_prefix: Some("user.remove".into()),
                    ..Default::default()
                };
                let audit = porta::db::models::audit::list(c, &filter, 10, 0)?;
                Ok::<_, porta::db::StoreError>((counts, audit))
            })
            .await
            .unwrap();
        for (table, n) in left.0 {
            assert_eq!(n, 0, "{table} still names the removed user");
        }
        assert_eq!(left.1.len(), 1);
        assert_eq!(left.1[0].target.as_deref(), Some("ada"));
        // Tokens already issued speak for nobody now.
        let at = tokens["access_token"].as_str().unwrap();
        assert_eq!(f.userinfo(at).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(f.introspect(&f.web, at).await["active"], false);
        let (s, _) = f.refresh(&f.web, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let again = f.app.state.db.run(|c| porta::manage::users::remove(c, "ada", &Actor::cli(), 1)).await;
        assert!(again.is_err(), "removing twice is refused");
    }
}

/// `(status, body)` of a token response.
trait IntoParts {
    fn into_parts(self) -> (StatusCode, Value);
}

impl IntoParts for (StatusCode, reqwest::header::HeaderMap, Value) {
    fn into_parts(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}
