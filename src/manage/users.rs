//! Creating users and changing their password, status and admin flag.

use crate::config::PasswordSettings;
use crate::crypto::password;
use crate::db::models::users;
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::domain::username::Username;

use super::{Actor, ManageError, refused, security};

#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: String,
    pub is_admin: bool,
}

/// Checks a new password against the policy (`passwords.min_length`, common and guessable passwords; see
/// `crypto::policy`). `context` holds the account's own words (username, email, name), which make weak passwords.
/// Every path that sets a password calls this; the message says what to change.
pub fn check_password(
    pw: &str,
    policy: &PasswordSettings,
    context: &[&str],
) -> Result<(), ManageError> {
    crate::crypto::policy::check(pw, policy.min_length, context).map_err(ManageError::Invalid)
}

fn check_email(e: &str) -> Result<(), ManageError> {
    let parts: Vec<&str> = e.split('@').collect();
    if parts.len() != 2 || parts[0].is_empty() || !parts[1].contains('.') || e.len() > 254 {
        return Err(ManageError::Invalid(format!("invalid email address {e:?}")));
    }
    Ok(())
}

/// Creates a user. Runs argon2, so call it from a blocking context.
pub fn add(
    conn: &mut AnyConnection,
    input: &NewUserInput,
    policy: &PasswordSettings,
    actor: &Actor,
    now: i64,
) -> Result<users::User, ManageError> {
    let username = Username::parse(&input.username).map_err(ManageError::Invalid)?;
    let email = input.email.as_deref().filter(|e| !e.is_empty());
    if let Some(e) = email {
        check_email(e)?;
    }
    let name = input.name.as_deref().filter(|n| !n.is_empty());
    let context = [Some(username.as_str()), email, name];
    check_password(
        &input.password,
        policy,
        &context.map(Option::unwrap_or_default),
    )?;
    let hash = password::hash(&input.password);
    let id = uuid::Uuid::new_v4().to_string();
    write_tx(conn, |c| {
        users::insert(
            c,
            &users::NewUser {
                id: &id,
                username: username.as_str(),
                email,
                name,
                password_hash: &hash,
                is_admin: input.is_admin,
                disabled: false,
                created_at: now,
                updated_at: now,
            },
        )?;
        audit_user(c, actor, "user.add", username.as_str(), now)?;
        users::by_id(c, &id)?.ok_or(ManageError::Store(StoreError::NotFound))
    })
}

fn audit_user(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    username: &str,
    now: i64,
) -> Result<(), StoreError> {
    actor.record(c, action, Some(username), None, now)
}

pub fn set_disabled(
    conn: &mut AnyConnection,
    username: &str,
    disabled: bool,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        users::set_disabled(c, username, disabled, now).map_err(refused)?;
        if disabled {
            let user = users::by_username(c, username)?.ok_or(StoreError::NotFound)?;
            security::credentials_changed(c, &user.id, None, now)?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        Ok(audit_user(c, actor, action, username, now)?)
    })
}

pub fn set_admin(
    conn: &mut AnyConnection,
    username: &str,
    is_admin: bool,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        users::set_admin(c, username, is_admin, now).map_err(refused)?;
        let action = if is_admin {
            "user.grant_admin"
        } else {
            "user.revoke_admin"
        };
        Ok(audit_user(c, actor, action, username, now)?)
    })
}

/// Sets a new password and ends everything the old one let in: every session, every refresh family, every
/// access token issued before now. Runs argon2, so call it from a blocking context.
pub fn set_password(
    conn: &mut AnyConnection,
    username: &str,
    new_password: &str,
    policy: &PasswordSettings,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    change_password(conn, username, new_password, None, policy, actor, now)
}

/// As `set_password`, keeping the session with sid `keep` (the person changing their own password).
pub fn change_password(
    conn: &mut AnyConnection,
    username: &str,
    new_password: &str,
    keep: Option<&str>,
    policy: &PasswordSettings,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    check_password(new_password, policy, &[username])?;
    let hash = password::hash(new_password);
    write_tx(conn, |c| {
        users::set_password_hash(c, username, &hash, now).map_err(refused)?;
        let user = users::by_username(c, username)?.ok_or(StoreError::NotFound)?;
        security::credentials_changed(c, &user.id, keep, now)?;
        Ok(audit_user(c, actor, "user.set_password", username, now)?)
    })
}

/// Creates the first admin on an empty database. Returns the generated password when none was given.
pub fn bootstrap_admin(
    conn: &mut AnyConnection,
    given_password: Option<&str>,
    policy: &PasswordSettings,
    now: i64,
) -> Result<Option<String>, ManageError> {
    if users::count(conn)? > 0 {
        return Ok(None);
    }
    let generated = given_password
        .is_none()
        // At least 24 random base64url characters (144 bits), and as many as `min_length` asks for.
        .then(|| crate::crypto::secrets::random_string(18.max(policy.min_length * 3 / 4 + 1)));
    let pw = given_password
        .or(generated.as_deref())
        .expect("either given or generated");
    let created = add(
        conn,
        &NewUserInput {
            username: "admin".into(),
            name: Some("Administrator".into()),
            password: pw.to_string(),
            is_admin: true,
            ..Default::default()
        },
        policy,
        &Actor {
            name: Some("bootstrap".into()),
            ip: None,
        },
        now,
    );
    match created {
        Ok(_) => Ok(generated),
        // Another instance starting at the same moment bootstrapped first.
        Err(ManageError::Store(StoreError::Conflict(_))) => Ok(None),
        Err(e) => Err(e),
    }
}
