//! Authentication methods beside the login pages: the password (`web::login::attempt`), TOTP (`totp`), recovery
//! codes (`recovery`) and passkeys or security keys (`webauthn`), and how a sign-in's methods add up to an
//! authentication level (`Level`, the ID token's `acr`) and RFC 8176 method references (`amr`).
//!
//! The rules are plain functions over typed inputs and `now`; the pages that use them are `web::login::second`
//! (the second step, step-up, passwordless) and `web::account::mfa` (enrolment). `verify` runs one guess at a
//! factor end to end: throttling, the check, the record.

pub mod recovery;
pub mod totp;
pub mod verify;
pub mod webauthn;

use serde::{Deserialize, Serialize};

/// RFC 8176 method references Porta records.
pub mod amr {
    /// A password.
    pub const PWD: &str = "pwd";
    /// A one-time code: TOTP or a recovery code.
    pub const OTP: &str = "otp";
    /// Proof of possession of a hardware-secured key: a WebAuthn authenticator.
    pub const HWK: &str = "hwk";
    /// User presence and verification by the authenticator (PIN or biometric).
    pub const USER: &str = "user";
    /// More than one factor.
    pub const MFA: &str = "mfa";
}

/// How strongly a sign-in proved who the user is: the ID token's `acr`. Ordered: each level satisfies those
/// below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// A password only.
    Pwd,
    /// A second factor, or a passkey with user verification.
    Mfa,
    /// A passkey or security key (phishing-resistant, OpenID EAP ACR `phr`).
    Phr,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Pwd, Level::Mfa, Level::Phr];

    /// The `acr` value (discovery's `acr_values_supported`).
    pub fn acr(self) -> &'static str {
        match self {
            Level::Pwd => "urn:porta:acr:pwd",
            Level::Mfa => "urn:porta:acr:mfa",
            Level::Phr => "phr",
        }
    }

    pub fn from_acr(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.acr() == s)
    }

    /// The level a set of methods reaches: a WebAuthn key is phishing-resistant; `mfa` means two factors.
    pub fn of_amr<S: AsRef<str>>(methods: &[S]) -> Level {
        let has = |m: &str| methods.iter().any(|x| x.as_ref() == m);
        if has(amr::HWK) && has(amr::MFA) {
            Level::Phr
        } else if has(amr::MFA) {
            Level::Mfa
        } else {
            Level::Pwd
        }
    }

    /// A short phrase for pages.
    pub fn describe(self) -> &'static str {
        match self {
            Level::Pwd => "a password",
            Level::Mfa => "a second factor",
            Level::Phr => "a passkey or security key",
        }
    }
}

/// The `acr` of a set of methods (what `Level::of_amr` reaches).
pub fn acr_for_amr<S: AsRef<str>>(methods: &[S]) -> &'static str {
    Level::of_amr(methods).acr()
}

/// Adds `more` to `methods` without repeating one, and `mfa` once two kinds of factor (or a verifying
/// authenticator) are present. The order is stable: pwd, otp, hwk, user, mfa.
pub fn combine(methods: &[String], more: &[&str]) -> Vec<String> {
    let has = |m: &str| methods.iter().any(|x| x == m) || more.contains(&m);
    let factors = [amr::PWD, amr::OTP, amr::HWK]
        .iter()
        .filter(|m| has(m))
        .count();
    let multi = has(amr::MFA) || factors >= 2 || (has(amr::HWK) && has(amr::USER));
    [amr::PWD, amr::OTP, amr::HWK, amr::USER]
        .into_iter()
        .filter(|m| has(m))
        .chain(multi.then_some(amr::MFA))
        .map(str::to_string)
        .collect()
}

/// The kinds of enrolled factor.
pub mod kind {
    pub const TOTP: &str = "totp";
    pub const WEBAUTHN: &str = "webauthn";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_methods() {
        let pwd = combine(&[], &[amr::PWD]);
        assert_eq!(pwd, ["pwd"]);
        assert_eq!(Level::of_amr(&pwd), Level::Pwd);
        let totp = combine(&pwd, &[amr::OTP]);
        assert_eq!(totp, ["pwd", "otp", "mfa"]);
        assert_eq!(acr_for_amr(&totp), "urn:porta:acr:mfa");
        let passkey = combine(&[], &[amr::HWK, amr::USER]);
        assert_eq!(passkey, ["hwk", "user", "mfa"]);
        assert_eq!(Level::of_amr(&passkey), Level::Phr);
        let key_after_pwd = combine(&pwd, &[amr::HWK]);
        assert_eq!(key_after_pwd, ["pwd", "hwk", "mfa"]);
        assert_eq!(Level::of_amr(&key_after_pwd), Level::Phr);
        assert!(Level::Pwd < Level::Mfa && Level::Mfa < Level::Phr);
        assert_eq!(Level::from_acr("phr"), Some(Level::Phr));
        assert_eq!(Level::from_acr("urn:porta:acr:mfa"), Some(Level::Mfa));
        assert_eq!(Level::from_acr("gold"), None);
    }
}
