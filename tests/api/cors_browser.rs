//! CORS in a real browser (issue 13): a single-page app served by a small static server on another port does the
//! code exchange and a userinfo call with `fetch()`, and writes what it got into the page. Served as
//! `http://127.0.0.1:<port>` (the registered origin) it succeeds; the same page as `http://localhost:<port>` (a
//! different origin, not registered) is stopped by Chromium: `fetch` rejects with a `TypeError`. Runs when
//! `PORTA_TEST_BROWSER` is set; otherwise prints why it skipped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::browser;
use crate::cors::register_spa;
use crate::helpers::{TestApp, spawn_app};
use crate::security_events::sign_in_for;
use crate::sso::REDIRECT;
use crate::token_support::{VERIFIER, claims_of, post_form};

/// The app: exchanges `code` (unless given an `access_token`), then calls userinfo with the bearer token, and
/// writes the outcome, or the name of the error `fetch` threw, into `#out`.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body><pre id="out"></pre>
<script>
(async () => {
  const p = new URLSearchParams(location.search);
  const out = document.getElementById('out');
  try {
    const result = {};
    let at = p.get('access_token');
    if (!at) {
      const body = new URLSearchParams({
        grant_type: 'authorization_code', code: p.get('code'), redirect_uri: p.get('redirect_uri'),
        code_verifier: p.get('verifier'), client_id: p.get('client_id'),
      });
      const r = await fetch(p.get('issuer') + '/token', { method: 'POST', body });
      result.token_status = r.status;
      const t = await r.json();
      at = t.access_token;
      result.refresh_token = typeof t.refresh_token === 'string';
    }
    const u = await fetch(p.get('issuer') + '/userinfo', { headers: { Authorization: 'Bearer ' + at } });
    result.userinfo_status = u.status;
    result.userinfo = await u.json();
    out.textContent = JSON.stringify(result);
  } catch (e) {
    out.textContent = 'error: ' + e.name;
  }
})();
</script></body></html>"#;

/// A static server answering every request with `PAGE`, on its own thread; stopped on drop.
struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl StaticSite {
    fn start() -> StaticSite {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream);
                }
            }
        });
        StaticSite { port, stop }
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut stream: TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 8192];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let (status, body) = if got.starts_with(b"GET / ") || got.starts_with(b"GET /?") {
        ("200 OK", PAGE)
    } else {
        ("404 Not Found", "")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Opens the page at `origin` with `params` and returns what it wrote into `#out`.
async fn run_page(c: &Client, origin: &str, params: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(params).unwrap();
    c.goto(&format!("{origin}/?{q}")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = c
            .find(Locator::Id("out"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !text.is_empty() {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the page never finished at {origin}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code_params<'a>(app: &'a TestApp, client_id: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("issuer", app.address.as_str()),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("verifier", VERIFIER),
    ]
}

both_backends! {
    async fn a_browser_app_on_its_registered_origin_reads_tokens_and_userinfo(backend: Backend) {
        let Some((_driver, c, _profile)) = browser("CORS").await else { return };
        let app = spawn_app(backend).await;
        let site = StaticSite::start();
        let registered = format!("http://127.0.0.1:{}", site.port);
        let unregistered = format!("http://localhost:{}", site.port);
        let spa = register_spa(&app, "SPA", REDIRECT, &[&registered]).await;

        // The code comes from a sign-in over HTTP; the page does the rest with fetch().
        let code = sign_in_for(&app, &app.new_browser(), &spa, &[]).await;
        let out = run_page(&c, &registered, &code_params(&app, &spa.client_id, &code)).await;
        let result: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("the page failed: {out}"));
        assert_eq!(result["token_status"], 200, "{result}");
        assert_eq!(result["refresh_token"], true, "{result}");
        assert_eq!(result["userinfo_status"], 200, "{result}");
        assert_eq!(result["userinfo"]["sub"].as_str().map(str::len).map(|n| n > 0), Some(true), "{result}");

        // The same page from an origin no client registered: the browser keeps the answer from it.
        let code = sign_in_for(&app, &app.new_browser(), &spa, &[]).await;
        let out = run_page(&c, &unregistered, &code_params(&app, &spa.client_id, &code)).await;
        assert_eq!(out, "error: TypeError");
        // The exchange did reach Porta (the code is spent): only reading the answer was refused, by the browser.
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", spa.client_id.as_str()),
        ];
        let (_, _, replay) = post_form(&app, "/token", &form, None).await;
        assert_eq!(replay["error"], "invalid_grant", "{replay}");
        // A valid access token does not help: the userinfo preflight is refused.
        let code = sign_in_for(&app, &app.new_browser(), &spa, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", spa.client_id.as_str()),
        ];
        let (_, _, tokens) = post_form(&app, "/token", &form, None).await;
        let at = tokens["access_token"].as_str().expect("an access token");
        assert!(claims_of(at)["client_id"] == spa.client_id.as_str());
        let params = [("issuer", app.address.as_str()), ("access_token", at)];
        assert_eq!(run_page(&c, &unregistered, &params).await, "error: TypeError");
        // And from the registered origin the same token reads userinfo.
        let out = run_page(&c, &registered, &params).await;
        assert!(out.contains("\"userinfo_status\":200"), "{out}");
        c.close().await.unwrap();
    }
}
