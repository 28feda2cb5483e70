//! One sign-in attempt from start to end: the throttle's atomic reservation, the bounded password check, and the
//! record of the outcome with its audit row. What was typed is never stored or logged: throttling subjects are
//! hashes, and the audit row names the account only when it exists.

use crate::crypto::verifier::Verifier;
use crate::db::models::{audit, users};
use crate::db::{StoreError, write_tx};
use crate::error::PageError;
use crate::state::AppState;

use super::throttle::{self, Gate, Subjects};

/// Longest password looked at; longer ones simply fail (after the same work as any other failure).
const MAX_PASSWORD: usize = 1024;
/// How an account that does not exist appears in the audit log.
pub const UNKNOWN_USER: &str = "(unknown user)";

/// A sign-in attempt, as submitted.
pub struct Attempt {
    pub username: String,
    pub password: String,
    pub ip: Option<String>,
}

/// How an attempt ended.
pub enum Outcome {
    /// Refused before the password was checked; seconds until the lock ends.
    Locked(i64),
    Failed,
    Succeeded(users::User),
}

/// Reserves a throttle slot (or finds the attempt locked out), checks the password with bounded concurrency
/// (the same cost for unknown users), and records the outcome.
pub async fn authenticate(
    state: &AppState,
    verifier: &Verifier,
    attempt: Attempt,
) -> Result<Outcome, PageError> {
    let policy = throttle::Policy::from_settings(&state.settings.login);
    let now = state.now();
    let subjects = Subjects::new(&attempt.username, attempt.ip.as_deref());
    let Attempt {
        username,
        password,
        ip,
    } = attempt;

    let (s, name) = (subjects.clone(), username);
    let (gate, user) = state
        .db
        .run(move |c| {
            let gate = throttle::reserve(c, &policy, &s, now)?;
            Ok::<_, StoreError>((gate, users::by_username(c, &name)?))
        })
        .await?;
    let reserved = match gate {
        Gate::Locked(until) => {
            let who = user.as_ref().map(|u| u.username.clone());
            record(state, "login.failure", who, ip, Some("throttled"), None).await?;
            return Ok(Outcome::Locked(until - now));
        }
        Gate::Reserved(ids) => ids,
    };

    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .filter(|_| password.len() <= MAX_PASSWORD);
    let verified = verifier.verify(password, hash).await.map_err(|e| {
        tracing::error!(error = %e, "password check did not finish");
        PageError::internal()
    })?;

    match user {
        Some(u) if verified && !u.disabled => {
            let name = Some(u.username.clone());
            let release = Some((subjects, reserved));
            record(state, "login.success", name, ip, None, release).await?;
            Ok(Outcome::Succeeded(u))
        }
        other => {
            // The reservation stays: it is the failure.
            let (who, detail) = match other {
                Some(u) if u.disabled => (Some(u.username), "disabled"),
                Some(u) => (Some(u.username), "wrong password"),
                None => (None, "unknown user"),
            };
            record(state, "login.failure", who, ip, Some(detail), None).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Writes the audit row, and after a success releases the reservation, in one transaction. `username` is the
/// account's stored name, or `None` when no such account exists.
async fn record(
    state: &AppState,
    action: &'static str,
    username: Option<String>,
    ip: Option<String>,
    detail: Option<&'static str>,
    release: Option<(Subjects, Vec<String>)>,
) -> Result<(), PageError> {
    let now = state.now();
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                if let Some((subjects, reserved)) = &release {
                    throttle::release_on_success(c, subjects, reserved)?;
                }
                let who = username.as_deref().unwrap_or(UNKNOWN_USER);
                let event = audit::Event {
                    actor: Some(who),
                    action,
                    target: Some(who),
                    ip: ip.as_deref(),
                    detail,
                };
                audit::record(c, &event, now)
            })
        })
        .await?;
    Ok(())
}
