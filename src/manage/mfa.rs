//! A user's second factors, shared by `/account` (the person's own), the admin console and the CLI: enrolment,
//! removal, reset and recovery codes. Each operation writes its rows and an audit row in one transaction. A reset
//! by an administrator is a security event: it ends the user's sessions and tokens (`security`).

use serde::Serialize;

use crate::db::models::{mfa_factors, recovery_codes, users};
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::web::authn::{kind, recovery};

use super::{Actor, ManageError, security};

/// A factor as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct FactorInfo {
    pub id: String,
    /// `totp` or `webauthn`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Everything a user has enrolled.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Factors {
    pub factors: Vec<FactorInfo>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl Factors {
    pub fn has_any(&self) -> bool {
        !self.factors.is_empty()
    }

    pub fn has(&self, k: &str) -> bool {
        self.factors.iter().any(|f| f.kind == k)
    }
}

/// What kind of thing a factor is, for people.
pub fn describe_kind(k: &str) -> &'static str {
    match k {
        kind::TOTP => "Authenticator app (TOTP)",
        kind::WEBAUTHN => "Passkey or security key",
        _ => "Other",
    }
}

pub fn list(conn: &mut AnyConnection, user_id: &str) -> Result<Factors, StoreError> {
    let factors = mfa_factors::for_user(conn, user_id)?
        .into_iter()
        .map(|f| FactorInfo {
            id: f.id,
            kind: f.kind,
            name: f.name,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        })
        .collect();
    Ok(Factors {
        factors,
        recovery_codes_left: recovery_codes::unused_count(conn, user_id)?,
    })
}

fn audit_mfa(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    username: &str,
    detail: &str,
    now: i64,
) -> Result<(), StoreError> {
    actor.record(c, action, Some(username), Some(detail), now)
}

fn check_name(name: &str, fallback: &str) -> Result<String, ManageError> {
    let name = name.trim();
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ManageError::Invalid(
            "a factor's name is at most 64 characters".into(),
        ));
    }
    Ok(if name.is_empty() { fallback } else { name }.to_string())
}

/// New recovery codes for a user who has none yet (the first factor's enrolment), else `None`.
fn first_codes(
    c: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    if recovery_codes::created_at(c, user_id)?.is_some() {
        return Ok(None);
    }
    let codes = recovery::generate();
    let hashes: Vec<String> = codes.iter().filter_map(|c| recovery::hash(c)).collect();
    recovery_codes::replace(c, user_id, &hashes, now)?;
    Ok(Some(codes))
}

/// A factor to enrol, already verified by the caller (a TOTP code, a WebAuthn registration).
pub enum Enrolment<'a> {
    /// The base32 secret sealed under the master key (`Keys::seal_secret` with `totp::seal_aad`), and the step of
    /// the code that confirmed it.
    Totp { secret: &'a str, step: i64 },
    /// The credential id (base64url) and the serialized passkey.
    Passkey {
        credential_id: &'a str,
        credential: &'a str,
    },
}

/// Enrols a factor. Returns the recovery codes made with a user's first factor (shown once), if any.
pub fn enroll(
    conn: &mut AnyConnection,
    user: &users::User,
    name: &str,
    what: Enrolment<'_>,
    actor: &Actor,
    now: i64,
) -> Result<Option<Vec<String>>, ManageError> {
    let (k, fallback) = match what {
        Enrolment::Totp { .. } => (kind::TOTP, "Authenticator app"),
        Enrolment::Passkey { .. } => (kind::WEBAUTHN, "Passkey"),
    };
    let name = check_name(name, fallback)?;
    let codes = write_tx(conn, |c| {
        let new = match what {
            Enrolment::Totp { secret, step } => mfa_factors::NewFactor {
                user_id: &user.id,
                kind: k,
                name: &name,
                secret: Some(secret),
                credential_id: None,
                credential: None,
                last_step: Some(step),
            },
            Enrolment::Passkey {
                credential_id,
                credential,
            } => mfa_factors::NewFactor {
                user_id: &user.id,
                kind: k,
                name: &name,
                secret: None,
                credential_id: Some(credential_id),
                credential: Some(credential),
                last_step: None,
            },
        };
        mfa_factors::insert(c, &new, now)?;
        let detail = format!("{k}: {name}");
        audit_mfa(c, actor, "mfa.enroll", &user.username, &detail, now)?;
        first_codes(c, &user.id, now)
    })?;
    crate::metrics::mfa_enrolled(k_static(k));
    if codes.is_some() {
        crate::metrics::mfa_enrolled("recovery");
    }
    Ok(codes)
}

fn k_static(k: &str) -> &'static str {
    if k == kind::TOTP {
        kind::TOTP
    } else {
        kind::WEBAUTHN
    }
}

/// Replaces a user's recovery codes; they need a factor first.
pub fn regenerate_recovery(
    conn: &mut AnyConnection,
    user: &users::User,
    actor: &Actor,
    now: i64,
) -> Result<Vec<String>, ManageError> {
    let codes = recovery::generate();
    let hashes: Vec<String> = codes.iter().filter_map(|c| recovery::hash(c)).collect();
    write_tx(conn, |c| {
        if mfa_factors::for_user(c, &user.id)?.is_empty() {
            return Err(ManageError::Invalid(
                "set up an authenticator app or a passkey before recovery codes".into(),
            ));
        }
        recovery_codes::replace(c, &user.id, &hashes, now)?;
        audit_mfa(
            c,
            actor,
            "mfa.recovery_codes",
            &user.username,
            "regenerated",
            now,
        )?;
        Ok(())
    })?;
    crate::metrics::mfa_enrolled("recovery");
    Ok(codes)
}

/// Removes one factor of `user`. `policy_requires` (an admin while `mfa.required_for_admins`) refuses to remove
/// the last one. With the last factor go the recovery codes. An administrator's removal (`by_admin`) ends the
/// user's sessions and tokens, as a reset does; a person removing their own stays signed in.
pub fn remove(
    conn: &mut AnyConnection,
    user: &users::User,
    factor_id: &str,
    policy_requires: bool,
    by_admin: bool,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    let removed_kind = write_tx(conn, |c| {
        let all = mfa_factors::for_user(c, &user.id)?;
        let Some(f) = all.iter().find(|f| f.id == factor_id) else {
            return Err(ManageError::Invalid("no such factor".into()));
        };
        if policy_requires && all.len() == 1 {
            return Err(ManageError::Invalid(
                "the last factor cannot be removed: administrators must sign in with a second factor".into(),
            ));
        }
        mfa_factors::delete(c, &user.id, factor_id)?;
        if all.len() == 1 {
            recovery_codes::delete_all(c, &user.id)?;
        }
        if by_admin {
            security::credentials_changed(c, &user.id, None, now)?;
        }
        let detail = format!("{}: {}", f.kind, f.name);
        audit_mfa(c, actor, "mfa.remove", &user.username, &detail, now)?;
        Ok(k_static(&f.kind))
    })?;
    crate::metrics::mfa_removed(removed_kind);
    Ok(())
}

/// Removes every factor and recovery code of a user (`porta user mfa reset`, the console): the way back in for
/// someone who lost them. Ends the user's sessions and tokens. Returns how many factors went.
pub fn reset(
    conn: &mut AnyConnection,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<usize, ManageError> {
    let n = write_tx(conn, |c| {
        let user = users::by_username(c, username)?
            .ok_or_else(|| ManageError::Invalid(format!("no user named {username:?}")))?;
        let n = mfa_factors::delete_all(c, &user.id)?;
        recovery_codes::delete_all(c, &user.id)?;
        security::credentials_changed(c, &user.id, None, now)?;
        let detail = format!("{n} factor(s) removed");
        audit_mfa(c, actor, "mfa.reset", &user.username, &detail, now)?;
        Ok::<_, ManageError>(n)
    })?;
    crate::metrics::mfa_removed("reset");
    Ok(n)
}
