//! One guess at a second factor, end to end: the throttle's reservation (per account, like passwords: a code
//! guesser already knows the password, so the account's lock holds from every address), the check, and the
//! record (audit row, metrics, reservation released on success) in one transaction.

use crate::db::models::{audit, mfa_factors, recovery_codes, users::User};
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::error::PageError;
use crate::state::AppState;
use crate::web::login::throttle::{self, Gate, Subjects};

use super::{amr, kind, recovery, totp};

/// A code the person typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Totp,
    Recovery,
}

impl CodeKind {
    pub fn method(self) -> &'static str {
        match self {
            CodeKind::Totp => "totp",
            CodeKind::Recovery => "recovery",
        }
    }
}

/// How a guess ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Refused before the check; seconds until the lock ends.
    Locked(i64),
    Wrong,
    /// Right: the RFC 8176 methods it proves.
    Right(&'static [&'static str]),
}

/// The throttling subjects of second-step guesses at a user's account: the whole account (a guesser holds the
/// password already) and the address.
pub fn subjects(user_id: &str, ip: Option<&str>) -> Subjects {
    let mut s = Subjects::new(user_id, ip);
    s.account = format!("mfa:{}", crate::crypto::secrets::hash_secret(user_id));
    s
}

fn check_code(
    c: &mut AnyConnection,
    keys: &crate::keys::Keys,
    user_id: &str,
    which: CodeKind,
    code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    match which {
        CodeKind::Totp => {
            for f in mfa_factors::for_user(c, user_id)? {
                let Some(stored) = f.secret.as_deref().filter(|_| f.kind == kind::TOTP) else {
                    continue;
                };
                let Some(secret) = keys.open_secret(&totp::seal_aad(user_id), stored) else {
                    tracing::error!(factor = %f.id, "a TOTP seed does not open with the master key");
                    continue;
                };
                let secret = String::from_utf8_lossy(&secret).into_owned();
                if let Some(step) = totp::verify(&secret, code, now, f.last_step) {
                    // Conditional on the step: of two racing requests with one code, one wins.
                    return mfa_factors::accept_step(c, &f.id, step, now);
                }
            }
            Ok(false)
        }
        CodeKind::Recovery => match recovery::hash(code) {
            Some(h) => recovery_codes::consume(c, user_id, &h, now),
            None => Ok(false),
        },
    }
}

/// Checks a code for `user`, throttled and audited.
pub async fn code(
    state: &AppState,
    user: &User,
    which: CodeKind,
    code: String,
    ip: Option<String>,
) -> Result<Checked, PageError> {
    let policy = throttle::Policy::from_settings(&state.settings.login);
    let now = state.now();
    let subjects = subjects(&user.id, ip.as_deref());
    let (uid, name) = (user.id.clone(), user.username.clone());
    let keys = state.keys.clone();
    let outcome = state
        .db
        .run(move |c| {
            let reserved = match throttle::reserve(c, &policy, &subjects, now)? {
                Gate::Locked(until) => {
                    record(c, &name, "mfa.failure", ip.as_deref(), "throttled", now)?;
                    return Ok::<_, StoreError>(Checked::Locked(until - now));
                }
                Gate::Reserved(ids) => ids,
            };
            write_tx(c, |c| {
                if check_code(c, &keys, &uid, which, &code, now)? {
                    throttle::release_on_success(c, &subjects, &reserved)?;
                    record(c, &name, "mfa.success", ip.as_deref(), which.method(), now)?;
                    Ok(Checked::Right(&[amr::OTP]))
                } else {
                    let detail = format!("{}: wrong code", which.method());
                    record(c, &name, "mfa.failure", ip.as_deref(), &detail, now)?;
                    Ok(Checked::Wrong)
                }
            })
        })
        .await?;
    crate::metrics::mfa_attempt(
        which.method(),
        match outcome {
            Checked::Locked(_) => "throttled",
            Checked::Wrong => "failure",
            Checked::Right(_) => "success",
        },
    );
    Ok(outcome)
}

/// Whether a user's account is locked for second-step guesses (a passkey ceremony is refused then too).
pub async fn locked(
    state: &AppState,
    user_id: &str,
    ip: Option<&str>,
) -> Result<Option<i64>, PageError> {
    let policy = throttle::Policy::from_settings(&state.settings.login);
    let now = state.now();
    let all = subjects(user_id, ip).all();
    let until = state
        .db
        .run(move |c| throttle::check(c, &policy, &all, now))
        .await?;
    Ok(until.map(|u| u - now))
}

/// An audit row for a second-step outcome.
pub fn record(
    c: &mut AnyConnection,
    username: &str,
    action: &str,
    ip: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<(), StoreError> {
    audit::record(
        c,
        &audit::Event {
            actor: Some(username),
            action,
            target: Some(username),
            ip,
            detail: Some(detail),
        },
        now,
    )
}
