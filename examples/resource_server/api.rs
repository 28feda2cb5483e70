//! The reusable part of the resource-server example: verifying Porta's access tokens with nothing but the JWKS,
//! and an actix-web API whose routes each need a scope. Used by `examples/resource_server.rs` and by the
//! integration tests, which run it over real HTTP.
//!
//! A token is accepted when (RFC 9068 4, RFC 6750):
//! - its header says `typ: at+jwt`, with a `kid` found in Porta's JWKS (fetched once and cached;
//!   an unknown kid fetches the JWKS again, at most once every `JWKS_REFETCH_SECS`, so a flood of made-up kids
//!   cannot turn into a flood of requests to Porta), and its `alg` is the one that JWK names (RS256, ES256 or
//!   EdDSA): the key decides the algorithm, never the token;
//! - the signature verifies with that key, `iss` is Porta's issuer, `aud` contains this API's identifier, and
//!   `exp` is in the future;
//! - its `scope` holds the route's scope.
//!
//! Answers: no token, 401 with `WWW-Authenticate: Bearer realm="..."`; a bad token, 401 with
//! `error="invalid_token"`; a missing scope, 403 with `error="insufficient_scope", scope="..."`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The shortest time between two JWKS fetches caused by unknown kids.
pub const JWKS_REFETCH_SECS: i64 = 30;
/// Allowance for clocks that disagree a little.
pub const LEEWAY_SECS: i64 = 5;

/// What the API needs to know.
#[derive(Clone)]
pub struct Config {
    /// Porta's issuer, e.g. `http://127.0.0.1:8080`.
    pub issuer: String,
    /// Porta's JWKS URL (discovery's `jwks_uri`).
    pub jwks_uri: String,
    /// This API's identifier, registered with `porta api add --identifier`: the `aud` it accepts.
    pub audience: String,
    /// The scope `GET /items` needs.
    pub read_scope: String,
    /// The scope `POST /items` needs.
    pub write_scope: String,
    /// The current time in unix seconds (a real clock in the example, a test clock in tests).
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// The claims this API looks at (RFC 9068 2.2).
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub client_id: String,
    pub exp: i64,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    NoToken,
    InvalidToken(&'static str),
    InsufficientScope(String),
}

/// Verifies tokens with keys from the JWKS, cached by kid.
pub struct Verifier {
    config: Config,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, (Algorithm, DecodingKey)>>,
    /// When the JWKS was last fetched (by `config.now`).
    fetched_at: Mutex<Option<i64>>,
}

impl Verifier {
    pub fn new(config: Config) -> Verifier {
        Verifier {
            config,
            http: reqwest::Client::new(),
            keys: RwLock::new(HashMap::new()),
            fetched_at: Mutex::new(None),
        }
    }

    /// Fetches the JWKS unless it was fetched less than `JWKS_REFETCH_SECS` ago. Returns whether it fetched.
    async fn refresh_keys(&self) -> bool {
        let now = (self.config.now)();
        {
            let mut last = self.fetched_at.lock().expect("lock");
            if last.is_some_and(|t| now - t < JWKS_REFETCH_SECS) {
                return false;
            }
            *last = Some(now);
        }
        let Ok(resp) = self.http.get(&self.config.jwks_uri).send().await else {
            return false;
        };
        let Ok(set) = resp.json::<JwkSet>().await else {
            return false;
        };
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Only keys that name their algorithm, one Porta signs with.
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::try_from(a).ok())
                .filter(|a| matches!(a, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA));
            if let (Some(kid), Some(alg), Ok(key)) =
                (jwk.common.key_id.clone(), alg, DecodingKey::from_jwk(jwk))
            {
                keys.insert(kid, (alg, key));
            }
        }
        *self.keys.write().expect("lock") = keys;
        true
    }

    fn key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        self.keys.read().expect("lock").get(kid).cloned()
    }

    /// Checks a bearer token and the scope a route needs.
    pub async fn check(&self, token: &str, scope: &str) -> Result<Claims, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::InvalidToken("the token is malformed"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(Refusal::InvalidToken("not an access token (typ at+jwt)"));
        }
        let kid = header
            .kid
            .ok_or(Refusal::InvalidToken("the token has no kid"))?;
        let (alg, key) = match self.key(&kid) {
            Some(k) => k,
            // A new key Porta started signing with, or a made-up kid: look again, at most so often.
            None => {
                self.refresh_keys().await;
                self.key(&kid)
                    .ok_or(Refusal::InvalidToken("unknown signing key"))?
            }
        };
        if header.alg != alg {
            return Err(Refusal::InvalidToken(
                "the token's alg is not its key's algorithm",
            ));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below with the configured clock.
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            Refusal::InvalidToken(match e.kind() {
                ErrorKind::InvalidAudience => "the token is not for this API",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::InvalidSignature => "the signature does not verify",
                _ => "the token is invalid",
            })
        })?;
        if data.claims.exp + LEEWAY_SECS <= (self.config.now)() {
            return Err(Refusal::InvalidToken("the token has expired"));
        }
        let has_scope = data
            .claims
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == scope));
        if !has_scope {
            return Err(Refusal::InsufficientScope(scope.to_string()));
        }
        Ok(data.claims)
    }
}

/// RFC 6750 2.1: `Authorization: Bearer <token>`.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// RFC 6750 3: the status and `WWW-Authenticate` challenge for a refusal.
pub fn refuse(r: &Refusal) -> HttpResponse {
    let realm = "realm=\"example-api\"";
    let (status, challenge) = match r {
        Refusal::NoToken => (StatusCode::UNAUTHORIZED, format!("Bearer {realm}")),
        Refusal::InvalidToken(d) => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer {realm}, error=\"invalid_token\", error_description=\"{d}\""),
        ),
        Refusal::InsufficientScope(s) => (
            StatusCode::FORBIDDEN,
            format!("Bearer {realm}, error=\"insufficient_scope\", scope=\"{s}\""),
        ),
    };
    HttpResponse::build(status)
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .finish()
}

async fn authorize(req: &HttpRequest, v: &Verifier, scope: &str) -> Result<Claims, HttpResponse> {
    let token = bearer(req).ok_or_else(|| refuse(&Refusal::NoToken))?;
    v.check(token, scope).await.map_err(|r| refuse(&r))
}

/// `GET /items`: needs the read scope.
async fn items_get(req: HttpRequest, v: web::Data<Verifier>) -> HttpResponse {
    let scope = v.config.read_scope.clone();
    match authorize(&req, &v, &scope).await {
        Ok(c) => HttpResponse::Ok().json(serde_json::json!({
            "items": ["apple", "pear"],
            "sub": c.sub,
            "client_id": c.client_id,
        })),
        Err(res) => res,
    }
}

/// `POST /items`: needs the write scope.
async fn items_post(req: HttpRequest, v: web::Data<Verifier>) -> HttpResponse {
    let scope = v.config.write_scope.clone();
    match authorize(&req, &v, &scope).await {
        Ok(c) => HttpResponse::Created().json(serde_json::json!({ "created_by": c.sub })),
        Err(res) => res,
    }
}

/// The API's HTTP server on `listener`; the caller runs (awaits or spawns) it.
pub fn server(
    config: Config,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let verifier = web::Data::new(Verifier::new(config));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/items", web::get().to(items_get))
            .route("/items", web::post().to(items_post))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
