//! Helpers for the multi-factor tests: TOTP codes computed here from an enrolled secret (RFC 6238, written
//! independently of Porta's), enrolment over HTTP, and reading pages.

use porta::clock::Clock;
use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::sso::{get, hidden, location, post};

/// RFC 4648 base32 (no padding) to bytes.
pub fn base32(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = alphabet.iter().position(|a| *a == c).expect("base32") as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// The TOTP code (SHA-1, 6 digits, 30 s) for `secret` (base32) at unix time `t`.
pub fn totp(secret: &str, t: i64) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &base32(secret));
    let mac = hmac::sign(&key, &((t / 30) as u64).to_be_bytes());
    let h = mac.as_ref();
    let o = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", n % 1_000_000)
}

/// The text between `start` and the next `end` after it.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let s = html.find(start)? + start.len();
    let e = html[s..].find(end)?;
    Some(&html[s..s + e])
}

/// The `secret` of the `otpauth://` URI the enrolment page shows.
pub fn secret_from_uri(html: &str) -> String {
    let uri = between(html, "id=\"otpauth-uri\">", "<").expect("the otpauth URI on the page");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let uri = uri.replace("&amp;", "&");
    let parsed = url::Url::parse(&uri).unwrap();
    parsed
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
        .expect("secret in the URI")
}

/// The recovery codes on the page shown after a first enrolment.
pub fn recovery_codes(html: &str) -> Vec<String> {
    let list = between(html, "id=\"recovery-codes\"", "</ul>").expect("the codes");
    list.split("<li>")
        .skip(1)
        .map(|s| s.split("</li>").next().unwrap().trim().to_string())
        .collect()
}

/// Enrols TOTP for the browser's signed-in user at `/account/security` (optionally on demand, `query`), returns
/// the secret, the recovery codes shown, and where the codes page continues to.
pub async fn enrol_totp(
    app: &TestApp,
    browser: &reqwest::Client,
    query: &str,
) -> (String, Vec<String>, String) {
    let res = get(browser, &app.url(&format!("/account/security{query}"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token").unwrap();
    let authz = hidden(&html, "authz").unwrap_or_default();
    let return_to = hidden(&html, "return_to").unwrap_or_default();
    let mut form = vec![("csrf_token", csrf.as_str())];
    if !authz.is_empty() {
        form.push(("authz", &authz));
    }
    if !return_to.is_empty() {
        form.push(("return_to", &return_to));
    }
    let res = post(browser, &app.url("/account/security/totp"), &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let secret = secret_from_uri(&html);
    assert!(html.contains("<svg"), "a QR code drawn on the server");
    // A wrong code is refused and the same secret offered again.
    let mut confirm = form.clone();
    confirm.push(("code", "000000"));
    confirm.push(("name", "Phone"));
    let wrong = post(
        browser,
        &app.url("/account/security/totp/confirm"),
        &confirm,
    )
    .await;
    if totp(&secret, app.clock.now()) != "000000" {
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    }
    let code = totp(&secret, app.clock.now());
    let mut confirm = form.clone();
    confirm.push(("code", &code));
    confirm.push(("name", "Phone"));
    let res = post(
        browser,
        &app.url("/account/security/totp/confirm"),
        &confirm,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account/security/codes");
    let page = get(browser, &app.url("/account/security/codes")).await;
    let html = page.text().await.unwrap();
    let codes = recovery_codes(&html);
    assert_eq!(codes.len(), 10);
    let next = between(&html, "class=\"button\" href=\"", "\"")
        .unwrap()
        .replace("&amp;", "&");
    // Shown once.
    let again = get(browser, &app.url("/account/security/codes")).await;
    assert_eq!(again.status(), StatusCode::FOUND);
    (secret, codes, next)
}

/// Submits the second-step form (`method`: totp or recovery) found at `page_url`.
pub async fn second_step(
    app: &TestApp,
    browser: &reqwest::Client,
    page_url: &str,
    method: &str,
    code: &str,
) -> reqwest::Response {
    let res = get(browser, &app.url(page_url)).await;
    assert_eq!(res.status(), StatusCode::OK, "{page_url}");
    let html = res.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token").unwrap();
    let authz = hidden(&html, "authz").unwrap_or_default();
    let return_to = hidden(&html, "return_to").unwrap_or_default();
    post(
        browser,
        &app.url("/login/second"),
        &[
            ("csrf_token", &csrf),
            ("method", method),
            ("code", code),
            ("authz", &authz),
            ("return_to", &return_to),
        ],
    )
    .await
}
