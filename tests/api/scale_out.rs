//! Several instances on one PostgreSQL database: two real `porta serve` processes sharing the database and
//! `PORTA_MASTER_KEY`, with one browser (one cookie jar, as behind a load balancer) alternating between them.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestDb, browser};

const PASSWORD: &str = "Scale-Out-Lantern-Quarry-7";
const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub struct Instance {
    pub base: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every instance of one deployment shares.
pub struct Deployment {
    pub db: TestDb,
    pub master_key: String,
    pub issuer_port: u16,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Deployment {
    pub fn new(db: TestDb) -> Deployment {
        let key: [u8; 32] = rand_bytes();
        Deployment {
            db,
            master_key: base64::engine::general_purpose::STANDARD.encode(key),
            issuer_port: free_port(),
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_porta"));
        cmd.current_dir(self.db.dir.path())
            .env("PORTA_DATABASE_URL", &self.db.url)
            .env("PORTA_MASTER_KEY", &self.master_key)
            .env(
                "PORTA_ISSUER",
                format!("http://127.0.0.1:{}", self.issuer_port),
            )
            .env("PORTA_KEYS__KEY_REFRESH_INTERVAL", "1s")
            // Pre-publication is 2 x jwks_max_age + key_refresh_interval: 3 s here, so the test can rotate.
            .env("PORTA_KEYS__JWKS_MAX_AGE", "1s")
            .env("PORTA_ADMIN_PASSWORD", PASSWORD)
            .env_remove("PORTA_CONFIG")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `porta serve` on `port` and waits until it answers.
    pub async fn start(&self, port: u16) -> Instance {
        let child = self
            .command()
            .arg("serve")
            .env("PORTA_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let inst = Instance {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = reqwest::get(inst.url("/readyz")).await
                && r.status() == StatusCode::OK
            {
                return inst;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                inst.base
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = self.command().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Where an authorization ended up.
pub enum Outcome {
    /// At the redirect URI with these parameters.
    Redirected(HashMap<String, String>),
    /// On the login form (its HTML).
    LoginForm(String),
}

/// Follows Porta's redirects from `url` until the redirect URI or a login form.
pub async fn follow(b: &reqwest::Client, inst: &Instance, mut res: reqwest::Response) -> Outcome {
    for _ in 0..10 {
        if res.status().is_redirection() {
            let loc = res.headers()["location"].to_str().unwrap().to_string();
            if loc.starts_with(REDIRECT) {
                return Outcome::Redirected(query_of(&loc));
            }
            let next = if loc.starts_with('/') {
                inst.url(&loc)
            } else {
                loc
            };
            res = b.get(next).send().await.unwrap();
            continue;
        }
        let html = res.text().await.unwrap();
        assert!(
            html.contains("name=\"password\""),
            "expected the login form, got: {html:.400}"
        );
        return Outcome::LoginForm(html);
    }
    panic!("too many redirects")
}

pub fn authorize_url(inst: &Instance, client_id: &str, state: &str, extra: &str) -> String {
    inst.url(&format!(
        "/authorize?response_type=code&client_id={client_id}&scope=openid%20profile&state={state}&nonce=n-{state}&redirect_uri={}{extra}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    ))
}

/// Submits the login form on `inst` and follows on.
pub async fn login(b: &reqwest::Client, inst: &Instance, html: &str) -> Outcome {
    let mut form = vec![
        ("csrf_token", hidden(html, "csrf_token").unwrap()),
        ("username", "admin".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    if let Some(a) = hidden(html, "authz") {
        form.push(("authz", a));
    }
    let res = b.post(inst.url("/login")).form(&form).send().await.unwrap();
    follow(b, inst, res).await
}

fn code_of(o: Outcome) -> String {
    match o {
        Outcome::Redirected(q) => q
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {q:?}")),
        Outcome::LoginForm(_) => panic!("unexpected login form"),
    }
}

async fn token(
    inst: &Instance,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(inst.url("/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "token on {}", inst.base);
    r.json().await.unwrap()
}

async fn jwks_kids(inst: &Instance) -> (Vec<String>, serde_json::Value) {
    let v: serde_json::Value = reqwest::get(inst.url("/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    (kids, v)
}

fn verifies_with(token: &str, jwks: &serde_json::Value) -> bool {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let Some(jwk) = set.find(&kid) else {
        return false;
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).is_ok()
}

#[actix_rt::test]
async fn two_instances_share_sessions_codes_tokens_and_keys() {
    let Some(b) = Backend::postgres() else { return };
    let dep = Deployment::new(TestDb::new(b));
    let (pa, pb) = (dep.issuer_port, free_port());
    // Both start at once: they race to bootstrap the first keys and must agree.
    let (a, bb) = tokio::join!(dep.start(pa), dep.start(pb));
    let reg = dep.cli(&[
        "client",
        "add",
        "--name",
        "Wiki",
        "--first-party",
        "--redirect-uri",
        REDIRECT,
    ]);
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );

    let browser = browser();
    // Sign in on A.
    let res = browser
        .get(authorize_url(&a, id, "s1", ""))
        .send()
        .await
        .unwrap();
    let Outcome::LoginForm(html) = follow(&browser, &a, res).await else {
        panic!("A shows the form first")
    };
    let code_a = code_of(login(&browser, &a, &html).await);

    // Authorize on B: no form, the session lives in the database.
    let res = browser
        .get(authorize_url(&bb, id, "s2", ""))
        .send()
        .await
        .unwrap();
    let code_b = code_of(follow(&browser, &bb, res).await);

    // Exchange on B the code A issued, and B's own code on A.
    let from_b = token(
        &bb,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_a),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let from_a = token(
        &a,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_b),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;

    // Refresh on A the refresh token B issued.
    let refreshed = token(
        &a,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", from_b["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert!(refreshed["access_token"].is_string());

    // Tokens from either instance verify with either JWKS.
    let (_, jwks_a) = jwks_kids(&a).await;
    let (_, jwks_b) = jwks_kids(&bb).await;
    for t in [
        &from_a["id_token"],
        &from_a["access_token"],
        &from_b["id_token"],
        &refreshed["access_token"],
    ] {
        let t = t.as_str().unwrap();
        assert!(verifies_with(t, &jwks_a) && verifies_with(t, &jwks_b));
    }

    // `porta keys rotate` shows in both JWKS within key_refresh_interval (1 s here).
    let (before, _) = jwks_kids(&a).await;
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    dep.cli(&["keys", "rotate"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ka, _) = jwks_kids(&a).await;
        let (kb, _) = jwks_kids(&bb).await;
        let new_a: Vec<_> = ka.iter().filter(|k| !before.contains(k)).collect();
        if !new_a.is_empty() && ka == kb {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rotation not visible on both: {before:?} {ka:?} {kb:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    // A token minted before the rotation still verifies with the JWKS after it.
    let (_, jwks_after) = jwks_kids(&bb).await;
    assert!(verifies_with(
        from_a["id_token"].as_str().unwrap(),
        &jwks_after
    ));

    // Log out on B; the session is gone on A too.
    let res = browser
        .get(bb.url(&format!(
            "/logout?id_token_hint={}",
            from_b["id_token"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "logout: {}",
        res.status()
    );
    let res = browser
        .get(authorize_url(&a, id, "s3", "&prompt=none"))
        .send()
        .await
        .unwrap();
    match follow(&browser, &a, res).await {
        Outcome::Redirected(q) => assert_eq!(
            q.get("error").map(String::as_str),
            Some("login_required"),
            "{q:?}"
        ),
        Outcome::LoginForm(_) => panic!("prompt=none must not show a form"),
    }
}
