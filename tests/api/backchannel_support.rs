//! Fixtures for the back-channel logout tests: a relying party's back-channel endpoint (a real actix-web server
//! on 127.0.0.1) that verifies each logout token against Porta's JWKS and records it, a client registered with
//! its URI, a signed-in session, and the end of that session.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use porta::backchannel::deliver::{Deliverer, PassReport};
use porta::clock::{Clock, TestClock};
use porta::db::models::logout_outbox::{self, OutboxRow};
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, ClientOptions, NewClientInput};
use porta::tokens::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::sso::{LOGOUT_REDIRECT, REDIRECT, authorize_with_login, code_row};

/// What the receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Verified tokens answered with 200: the claims.
    pub accepted: Vec<Value>,
    /// `jti` of every verified POST, whatever the answer.
    pub attempts: Vec<String>,
    /// Why tokens that did not verify were refused.
    pub rejected: Vec<String>,
    /// The JWS `alg` of every verified token.
    pub algs: Vec<String>,
}

struct ReceiverState {
    /// The status answered to a valid token (200 up, 503 down).
    status: AtomicU16,
    jwks: JwkSet,
    issuer: String,
    /// Judges whether `iat` is recent.
    clock: Arc<dyn Clock>,
    seen: Mutex<Seen>,
}

/// A relying party's back-channel logout endpoint at `/bc`.
pub struct Receiver {
    pub uri: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// Starts on `listener`, verifying against the JWKS `app` serves now.
    pub async fn start_on(app: &TestApp, listener: TcpListener) -> Receiver {
        let clock: TestClock = app.clock.clone();
        Self::serve(
            listener,
            &app.address,
            &app.url("/jwks.json"),
            Arc::new(clock),
        )
        .await
    }

    /// Starts on `listener` for the provider `issuer`, verifying against the JWKS at `jwks_url` now.
    pub async fn serve(
        listener: TcpListener,
        issuer: &str,
        jwks_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Receiver {
        let jwks: JwkSet = reqwest::get(jwks_url).await.unwrap().json().await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ReceiverState {
            status: AtomicU16::new(200),
            jwks,
            issuer: issuer.to_string(),
            clock,
            seen: Mutex::new(Seen::default()),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/bc", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        Receiver {
            uri: format!("http://127.0.0.1:{port}/bc"),
            state,
        }
    }

    pub async fn start(app: &TestApp) -> Receiver {
        Self::start_on(app, TcpListener::bind("127.0.0.1:0").unwrap()).await
    }

    /// Answers valid tokens with `status` from now on.
    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.seen.lock().unwrap())
    }
}

async fn receive(
    state: web::Data<ReceiverState>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let Some(token) = form.get("logout_token") else {
        state
            .seen
            .lock()
            .unwrap()
            .rejected
            .push("no logout_token".into());
        return HttpResponse::BadRequest().finish();
    };
    match verify(&state, token) {
        Ok(claims) => {
            let status = state.status.load(Ordering::SeqCst);
            let mut seen = state.seen.lock().unwrap();
            if let Ok(h) = jsonwebtoken::decode_header(token) {
                seen.algs.push(format!("{:?}", h.alg));
            }
            seen.attempts
                .push(claims["jti"].as_str().unwrap_or("").to_string());
            if status == 200 {
                seen.accepted.push(claims);
            }
            let mut res =
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
            if (300..400).contains(&status) {
                // Back to this endpoint: a sender that followed redirects would POST here again.
                res.insert_header((actix_web::http::header::LOCATION, "/bc"));
            }
            res.finish()
        }
        Err(why) => {
            state.seen.lock().unwrap().rejected.push(why);
            HttpResponse::BadRequest().finish()
        }
    }
}

/// The checks of Back-Channel Logout 1.0, section 2.6, as an RP makes them, with nothing but the JWKS.
fn verify(state: &ReceiverState, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("logout+jwt") {
        return Err(format!("typ {:?}", header.typ));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = state.jwks.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    // The algorithm is the one the JWK names (the key's family), never the header's choice.
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| Algorithm::try_from(a).ok())
        .ok_or("the JWK names no algorithm")?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[&state.issuer]);
    // The audience is checked by the test against the client it registered.
    v.validate_aud = false;
    v.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    let claims: Value = jsonwebtoken::decode(token, &key, &v)
        .map_err(|e| e.to_string())?
        .claims;
    if claims["events"][BACKCHANNEL_LOGOUT_EVENT] != json!({}) {
        return Err("no back-channel logout event".into());
    }
    if claims.get("nonce").is_some() {
        return Err("a nonce".into());
    }
    if !claims["sid"].is_string() || !claims["jti"].is_string() {
        return Err("no sid or jti".into());
    }
    let now = state.clock.now();
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    if iat > now + 5 || iat < now - 300 {
        return Err(format!("iat {iat} is not recent (now {now})"));
    }
    Ok(claims)
}

/// A test app whose own delivery loop never runs: the test drives every pass with the test clock.
pub async fn spawn_quiet(
    backend: Backend,
    adjust: impl FnOnce(&mut porta::config::Settings),
) -> TestApp {
    spawn_app_with(backend, |s| {
        s.backchannel.poll_interval = std::time::Duration::from_secs(86_400);
        adjust(s);
    })
    .await
}

/// Registers a first-party confidential client whose back-channel logout URI is `uri`; returns its id.
pub async fn register_rp(app: &TestApp, name: &str, uri: Option<&str>) -> String {
    let now = app.clock.now();
    let (name, uri) = (name.to_string(), uri.map(str::to_string));
    app.state
        .db
        .run(move |c| {
            manage_clients::add_with(
                c,
                &NewClientInput {
                    name,
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec![LOGOUT_REDIRECT.into()],
                    is_public: false,
                    grant_types: vec![],
                    first_party: true,
                },
                &ClientOptions {
                    backchannel_logout_uri: uri,
                    backchannel_logout_session_required: true,
                    require_pkce: false,
                    ..ClientOptions::default()
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .expect("register client")
        .client_id
}

/// The session behind a code: (user id, sid).
pub async fn session_of(app: &TestApp, code: &str) -> (String, String) {
    let row = code_row(app, code).await;
    (row.user_id, row.sid)
}

/// Signs `admin` in through `client_id` in a fresh browser; returns the browser and the code.
pub async fn signed_in(app: &TestApp, client_id: &str) -> (reqwest::Client, String) {
    let browser = app.new_browser();
    let code = authorize_with_login(app, &browser, client_id).await;
    (browser, code)
}

/// Ends the SSO session that issued `code` the way a relying party does: RP-initiated logout (`POST /logout`)
/// with an ID token of that session as `id_token_hint`.
pub async fn end_session(app: &TestApp, browser: &reqwest::Client, code: &str) {
    let row = code_row(app, code).await;
    let now = app.clock.now();
    let claims = json!({
        "iss": app.address, "sub": row.user_id, "aud": row.client_id, "azp": row.client_id,
        "iat": now, "exp": now + 3600, "auth_time": row.auth_time, "sid": row.sid,
    });
    let keys = app.state.keys.current();
    let hint = tokio::task::spawn_blocking(move || keys.sign("JWT", &claims))
        .await
        .unwrap()
        .expect("sign the hint");
    let res = browser
        .post(app.url("/logout"))
        .form(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(crate::sso::location(&res), LOGOUT_REDIRECT);
}

/// One delivery pass of `app` at its clock's now.
pub async fn pass(app: &TestApp) -> PassReport {
    let d = Deliverer::new(&app.state.settings.backchannel).unwrap();
    d.run_pass(&app.state, app.clock.now())
        .await
        .expect("delivery pass")
}

pub async fn outbox(app: &TestApp) -> Vec<OutboxRow> {
    app.state.db.run(logout_outbox::all).await.unwrap()
}

/// Audit rows with `action`, as (target, detail).
pub async fn audit_rows(app: &TestApp, action: &str) -> Vec<(Option<String>, Option<String>)> {
    let action = action.to_string();
    app.state
        .db
        .run(move |c| {
            use diesel::prelude::*;
            use porta::db::schema::audit_log::dsl;
            dsl::audit_log
                .filter(dsl::action.eq(action))
                .select((dsl::target, dsl::detail))
                .load(c)
                .map_err(porta::db::StoreError::from)
        })
        .await
        .unwrap()
}
