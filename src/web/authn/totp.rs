//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way. A code is accepted once: the caller stores the step it was accepted for and passes it
//! back as `last_step`, and no code of that step or an earlier one is accepted again.

use aws_lc_rs::hmac;
use qrcode::QrCode;
use qrcode::render::svg;

/// Seconds per step (RFC 6238 4.1 `X`).
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either way.
pub const SKEW: i64 = 1;
/// Secret length in bytes (160 bits, RFC 4226 4 recommends it for SHA-1).
pub const SECRET_BYTES: usize = 20;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u64, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (case-insensitive, padding and spaces ignored); `None` on any other character.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The associated data a user's sealed TOTP seed is bound to (`Keys::seal_secret`): a seed copied to another
/// user's row does not open.
pub fn seal_aad(user_id: &str) -> String {
    format!("mfa-totp:{user_id}")
}

/// A new random secret, base32.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base32_encode(&b)
}

/// The time step of `now`.
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// The code for one step (RFC 4226 5.3 dynamic truncation).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step a submitted code is right for, within the skew and after `last_step`; `None` when it is wrong, a
/// replay, or malformed. Compared in constant time.
pub fn verify(secret_b32: &str, code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = base32_decode(secret_b32)?;
    let current = step_of(now);
    let mut found = None;
    for step in (current - SKEW)..=(current + SKEW) {
        if crate::crypto::secrets::ct_eq(&code_at_step(&secret, step), &code)
            && last_step.is_none_or(|l| step > l)
        {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps read (the Key Uri Format): label `Issuer:username`.
pub fn otpauth_uri(issuer: &str, username: &str, secret_b32: &str) -> String {
    let label = format!("{issuer}:{username}");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(&label).replace('+', "%20"),
        enc(issuer).replace('+', "%20"),
    )
}

/// The URI as a QR code, an SVG document rendered on the server (no script, no external image).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA-1 secret "12345678901234567890", last six digits.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at_step(secret, step_of(t)), code, "t={t}");
        }
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_decode(&s).unwrap().len(), SECRET_BYTES);
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn skew_and_replay() {
        let s = new_secret();
        let raw = base32_decode(&s).unwrap();
        let now = 1_000_000_000;
        let code = code_at_step(&raw, step_of(now));
        assert_eq!(verify(&s, &code, now, None), Some(step_of(now)));
        assert_eq!(verify(&s, &code, now + STEP, None), Some(step_of(now)));
        assert_eq!(verify(&s, &code, now - STEP, None), Some(step_of(now)));
        assert_eq!(verify(&s, &code, now + 3 * STEP, None), None);
        assert_eq!(verify(&s, &code, now, Some(step_of(now))), None, "replay");
        assert_eq!(verify(&s, "12345", now, None), None);
        assert_eq!(verify(&s, "abcdef", now, None), None);
    }

    #[test]
    fn uri_and_qr() {
        let u = otpauth_uri("Porta", "ada lovelace", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            u,
            "otpauth://totp/Porta%3Aada%20lovelace?secret=JBSWY3DPEHPK3PXP&issuer=Porta&algorithm=SHA1&digits=6&period=30"
        );
        assert!(qr_svg(&u).unwrap().contains("<svg"));
    }
}
