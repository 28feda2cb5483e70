//! Fixtures for the token tests: a user, clients of each kind, codes inserted directly (as `/authorize` would),
//! token requests, and a JWKS-only verifier.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use porta::clock::Clock;
use porta::crypto::secrets;
use porta::db::models::auth_codes::{self, NewAuthCode};
use porta::db::models::users::User;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, NewClientInput, Registered};
use porta::manage::users::{self as manage_users, NewUserInput};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const USER_PASSWORD: &str = "correct horse battery staple";
/// The SSO session of the fixture's codes.
pub const SID: &str = "sid-1";

pub struct Fixture {
    pub app: TestApp,
    pub user: User,
    /// Confidential: authorization_code + refresh_token.
    pub web: Registered,
    /// Another confidential client with the same grants.
    pub other: Registered,
    /// Public: authorization_code + refresh_token, PKCE.
    pub spa: Registered,
    /// Confidential: client_credentials only.
    pub service: Registered,
    /// Confidential: authorization_code only (no refresh tokens).
    pub no_refresh: Registered,
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub async fn fixture(backend: Backend) -> Fixture {
    setup(spawn_app(backend).await).await
}

pub async fn fixture_with(
    backend: Backend,
    adjust: impl FnOnce(&mut porta::config::Settings),
) -> Fixture {
    setup(spawn_app_with(backend, adjust).await).await
}

async fn setup(app: TestApp) -> Fixture {
    let now = app.clock.now();
    let db = app.state.db.clone();
    let (user, web, other, spa, service, no_refresh) = db
        .run(move |c| {
            let actor = Actor::cli();
            let user = manage_users::add(
                c,
                &NewUserInput {
                    username: "ada".into(),
                    email: Some("ada@example.com".into()),
                    name: Some("Ada Lovelace".into()),
                    password: USER_PASSWORD.into(),
                    is_admin: false,
                },
                &actor,
                now,
            )?;
            let client =
                |c: &mut porta::db::AnyConnection, name: &str, public: bool, grants: &[&str]| {
                    manage_clients::add(
                        c,
                        &NewClientInput {
                            name: name.into(),
                            redirect_uris: if grants.contains(&"authorization_code") {
                                vec![REDIRECT.into()]
                            } else {
                                vec![]
                            },
                            post_logout_redirect_uris: vec![],
                            is_public: public,
                            grant_types: grants.iter().map(|g| g.to_string()).collect(),
                            first_party: true,
                        },
                        &actor,
                        now,
                    )
                };
            // The SSO session the inserted codes name (`sid-1`), as a sign-in would have left it: online refresh
            // tokens live as long as it does.
            porta::db::models::sessions::insert(
                c,
                &porta::db::models::sessions::NewSession {
                    id: "session-row-1",
                    user_id: Some(&user.id),
                    state: "{}",
                    created_at: now,
                    auth_time: Some(now),
                    last_seen_at: now,
                    expires_at: now + 3600,
                    ip: None,
                    user_agent: None,
                    sid: Some(SID),
                },
            )?;
            let code_grants = ["authorization_code", "refresh_token"];
            Ok::<_, porta::manage::ManageError>((
                user,
                client(c, "web", false, &code_grants)?,
                client(c, "other", false, &code_grants)?,
                client(c, "spa", true, &code_grants)?,
                client(c, "service", false, &["client_credentials"])?,
                client(c, "no-refresh", false, &["authorization_code"])?,
            ))
        })
        .await
        .map_err(|e| e.to_string())
        .expect("fixture rows");
    Fixture {
        app,
        user,
        web,
        other,
        spa,
        service,
        no_refresh,
    }
}

/// Options of a code inserted the way `/authorize` would.
pub struct CodeSpec<'a> {
    pub client_id: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub challenge: Option<String>,
}

impl Fixture {
    pub fn secret(r: &Registered) -> &str {
        r.client_secret.as_deref().expect("confidential client")
    }

    /// Inserts a code for `self.user` and returns it.
    pub async fn code(&self, spec: CodeSpec<'_>) -> String {
        let code = secrets::random_token();
        let now = self.app.clock.now();
        let row = NewAuthCode {
            code_hash: secrets::hash_secret(&code),
            client_id: spec.client_id.to_string(),
            user_id: self.user.id.clone(),
            sid: SID.into(),
            redirect_uri: REDIRECT.into(),
            scope: spec.scope.into(),
            nonce: spec.nonce.map(str::to_string),
            code_challenge: spec.challenge,
            auth_time: now - 5,
            amr: "pwd".into(),
            created_at: now,
            expires_at: now + 60,
        };
        self.app
            .state
            .db
            .run(move |c| auth_codes::insert(c, &row))
            .await
            .expect("insert code");
        code
    }

    /// A code for the `web` client with PKCE, full scope and a nonce.
    pub async fn web_code(&self) -> String {
        self.code(CodeSpec {
            client_id: &self.web.client_id,
            scope: "openid profile email",
            nonce: Some("n-0S6_WzA2Mj"),
            challenge: Some(challenge(VERIFIER)),
        })
        .await
    }

    /// Exchanges a `web` code with client_secret_basic; returns the token response.
    pub async fn web_tokens(&self) -> Value {
        let code = self.web_code().await;
        let (status, _, body) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
                Some(&self.web),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// `POST /token`, with client_secret_basic when `basic` is given.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<&Registered>,
    ) -> (StatusCode, HeaderMap, Value) {
        post_form(&self.app, "/token", form, basic).await
    }

    pub async fn refresh(&self, client: &Registered, refresh_token: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
                Some(client),
            )
            .await;
        (s, b)
    }

    pub async fn userinfo(&self, access_token: &str) -> (StatusCode, HeaderMap, Value) {
        let res = self
            .app
            .client
            .get(self.app.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let (s, h) = (res.status(), res.headers().clone());
        (s, h, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn introspect(&self, client: &Registered, token: &str) -> Value {
        let (s, _, b) =
            post_form(&self.app, "/introspect", &[("token", token)], Some(client)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// The `token.*` audit actions recorded so far, newest first.
    pub async fn token_audit(&self) -> Vec<String> {
        let filter = porta::db::models::audit::Filter {
            action_prefix: Some("token.".into()),
            ..Default::default()
        };
        self.app
            .state
            .db
            .run(move |c| porta::db::models::audit::list(c, &filter, 100, 0))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    pub async fn revoke(&self, client: &Registered, token: &str) -> StatusCode {
        post_form(&self.app, "/revoke", &[("token", token)], Some(client))
            .await
            .0
    }
}

/// `client_secret_basic` as RFC 6749 2.3.1 has it: each part form-urlencoded, then base64.
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<&Registered>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.client.post(app.url(path)).form(form);
    if let Some(r) = basic {
        req = req.header(
            reqwest::header::AUTHORIZATION,
            basic_header(&r.client_id, Fixture::secret(r)),
        );
    }
    let res = req.send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    (
        s,
        h,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts an RFC 6749 5.2 error with its status and the no-store headers.
pub fn assert_error(got: &(StatusCode, HeaderMap, Value), status: StatusCode, code: &str) {
    let (s, h, b) = got;
    assert_eq!((*s, b["error"].as_str()), (status, Some(code)), "{b}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
}

/// The JWKS as served, and a verifier holding nothing else.
pub async fn jwks(app: &TestApp) -> jsonwebtoken::jwk::JwkSet {
    app.client
        .get(app.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("JWKS JSON")
}

/// Verifies an RS256 JWT with nothing but the JWKS: returns its header and claims.
pub fn verify_with_jwks(
    jwks: &jsonwebtoken::jwk::JwkSet,
    token: &str,
    aud: &str,
    iss: &str,
) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &v).expect("token verifies from the JWKS");
    (data.header, data.claims)
}

/// The claims of a JWT, unverified (for building forgeries and reading test data).
pub fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
