//! Real-browser plumbing shared by the Chromium tests: chromedriver and a headless Chromium session (Debian's
//! `chromium` and `chromium-driver`), started only when `PORTA_TEST_BROWSER` is set.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// The chromedriver process; killed when the test ends.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver and a headless Chromium session, or says why it cannot.
/// `what` names the test in the skip message.
pub async fn browser(what: &str) -> Option<(Driver, Client, tempfile::TempDir)> {
    if std::env::var_os("PORTA_TEST_BROWSER").is_none() {
        eprintln!(
            "skipped: PORTA_TEST_BROWSER is not set, so the Chromium {what} test did not run"
        );
        return None;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("PORTA_TEST_BROWSER is set but chromedriver is not installed (apt-get install chromium-driver)");
    let driver = Driver(driver);
    let profile = tempfile::tempdir().unwrap();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let caps: fantoccini::wd::Capabilities = caps.as_object().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match attempt {
            Ok(c) => return Some((driver, c, profile)),
            Err(e) if Instant::now() > deadline => {
                panic!("chromedriver did not start a session: {e}")
            }
            Err(_) => actix_rt::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Types `text` into the input `css` selects.
pub async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}
