//! Load driver for full authorization-code exchanges against a running Porta (used by `benches/load.sh`).
//! Each of `--concurrency` workers loops for `--seconds`:
//!
//! - `--mode login` (default): a fresh browser each time: `GET /authorize` -> `GET /login` -> `POST /login`
//!   (argon2 password check) -> redirect with the code -> `POST /token` (code + PKCE, two signatures).
//! - `--mode session`: each worker signs in once, then loops `GET /authorize` (the SSO session answers with a
//!   code at once) -> `POST /token`.
//!
//! Prints exchanges per second, the latency of one whole exchange (p50, p99), and that of its `/authorize` step
//! alone (for `--mode session`, the one `GET /authorize` answered with a code). Arguments (or `LOAD_*`
//! environment variables): `--issuer`, `--client-id`, `--client-secret`, `--redirect-uri`, `--username`,
//! `--password`, `--seconds` (10), `--concurrency` (8), `--mode`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Clone)]
struct Config {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    username: String,
    password: String,
    seconds: u64,
    concurrency: usize,
    session_mode: bool,
}

fn config() -> Result<Config, String> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        args.insert(
            name.to_string(),
            it.next().ok_or_else(|| format!("--{name} needs a value"))?,
        );
    }
    let get = |name: &str| {
        args.get(name).cloned().or_else(|| {
            std::env::var(format!("LOAD_{}", name.to_uppercase().replace('-', "_"))).ok()
        })
    };
    let need = |name: &str| get(name).ok_or_else(|| format!("--{name} is required"));
    let number = |name: &str, default: u64| -> Result<u64, String> {
        get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("--{name}: not a number"))
        })
    };
    Ok(Config {
        issuer: get("issuer").unwrap_or_else(|| "http://localhost:8080".into()),
        client_id: need("client-id")?,
        client_secret: need("client-secret")?,
        redirect_uri: need("redirect-uri")?,
        username: need("username")?,
        password: need("password")?,
        seconds: number("seconds", 10)?,
        concurrency: number("concurrency", 8)? as usize,
        session_mode: get("mode").as_deref() == Some("session"),
    })
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn random() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn field(html: &str, name: &str) -> Option<String> {
    let rest = &html[html.find(&format!("name=\"{name}\""))?..];
    let v = rest.find("value=\"")? + 7;
    Some(rest[v..v + rest[v..].find('"')?].to_string())
}

/// Drives the browser from `/authorize` to the redirect with a code, signing in when the login form appears.
async fn get_code(
    c: &Config,
    browser: &reqwest::Client,
    challenge: &str,
) -> Result<String, String> {
    let base = url::Url::parse(&c.issuer).map_err(|e| e.to_string())?;
    let mut next = base.join("/authorize").map_err(|e| e.to_string())?;
    next.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &c.client_id)
        .append_pair("redirect_uri", &c.redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &random()[..16])
        .append_pair("nonce", &random()[..16])
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..8 {
        let res = match form.take() {
            Some(f) => browser.post(next.clone()).form(&f).send().await,
            None => browser.get(next.clone()).send().await,
        }
        .map_err(|e| e.to_string())?;
        if res.status().is_redirection() {
            let loc = res
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .ok_or("no location")?;
            next = base.join(loc).map_err(|e| e.to_string())?;
            if next.as_str().starts_with(&c.redirect_uri) {
                return next
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| format!("no code in {next}"));
            }
            continue;
        }
        let status = res.status();
        let html = res.text().await.map_err(|e| e.to_string())?;
        let csrf =
            field(&html, "csrf_token").ok_or_else(|| format!("unexpected page ({status})"))?;
        let mut f = vec![
            ("csrf_token", csrf),
            ("username", c.username.clone()),
            ("password", c.password.clone()),
        ];
        if let Some(a) = field(&html, "authz") {
            f.push(("authz", a));
        }
        next = base.join("/login").map_err(|e| e.to_string())?;
        form = Some(f);
    }
    Err("too many redirects".into())
}

/// One exchange; returns how long getting the code took.
async fn exchange(
    c: &Config,
    browser: &reqwest::Client,
    http: &reqwest::Client,
) -> Result<Duration, String> {
    let verifier = random();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let started = Instant::now();
    let code = get_code(c, browser, &challenge).await?;
    let authorize = started.elapsed();
    let res = http
        .post(format!("{}/token", c.issuer))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("token endpoint answered {}", res.status()));
    }
    let body: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
    if body.get("id_token").is_none() {
        return Err("no id_token".into());
    }
    Ok(authorize)
}

/// A worker's exchange times, its `/authorize` times, and its errors.
type Results = (Vec<Duration>, Vec<Duration>, usize);

async fn worker(c: Config, until: Instant) -> Results {
    let http = reqwest::Client::new();
    let mut browser = self::browser();
    let mut times = Vec::new();
    let mut authorize_times = Vec::new();
    let mut errors = 0;
    while Instant::now() < until {
        if !c.session_mode {
            browser = self::browser();
        }
        let started = Instant::now();
        match exchange(&c, &browser, &http).await {
            Ok(authorize) => {
                times.push(started.elapsed());
                authorize_times.push(authorize);
            }
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("exchange failed: {e}");
                }
            }
        }
    }
    (times, authorize_times, errors)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let c = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let until = started + Duration::from_secs(c.seconds);
    let local = tokio::task::LocalSet::new();
    let results = local
        .run_until(async {
            let handles: Vec<_> = (0..c.concurrency)
                .map(|_| tokio::task::spawn_local(worker(c.clone(), until)))
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.push(h.await.expect("worker"));
            }
            all
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let errors: usize = results.iter().map(|(_, _, e)| e).sum();
    let mut times: Vec<Duration> = results.iter().flat_map(|(t, _, _)| t.clone()).collect();
    let mut authorize: Vec<Duration> = results.into_iter().flat_map(|(_, a, _)| a).collect();
    times.sort();
    authorize.sort();
    let pct = |times: &[Duration], p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "mode={} concurrency={} seconds={:.1} exchanges={} errors={} rate={:.1}/s p50={:.2}ms p99={:.2}ms \
         authorize_p50={:.2}ms authorize_p99={:.2}ms",
        if c.session_mode { "session" } else { "login" },
        c.concurrency,
        elapsed,
        times.len(),
        errors,
        times.len() as f64 / elapsed,
        pct(&times, 0.50),
        pct(&times, 0.99),
        pct(&authorize, 0.50),
        pct(&authorize, 0.99),
    );
}
