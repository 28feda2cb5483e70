//! Account and client management shared by the CLI and the admin pages. Each operation validates its input
//! first, then writes its rows and an audit row in one transaction, so bad input writes nothing.

pub mod access;
pub mod account;
pub mod apis;
pub mod client_fields;
pub mod clients;
pub mod groups;
pub mod mfa;
pub mod roles;
pub mod security;
pub mod sessions;
pub mod users;

/// Why a management operation was refused; the message is one line for a person.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
}

impl From<diesel::result::Error> for ManageError {
    fn from(e: diesel::result::Error) -> Self {
        ManageError::Store(e.into())
    }
}

/// Who performed an operation, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            name: Some("cli".into()),
            ip: None,
        }
    }

    /// Writes the audit row of an operation this actor performed (inside the operation's transaction).
    pub fn record(
        &self,
        c: &mut crate::db::AnyConnection,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), crate::db::StoreError> {
        crate::db::models::audit::record(
            c,
            &crate::db::models::audit::Event {
                actor: self.name.as_deref(),
                action,
                target,
                ip: self.ip.as_deref(),
                detail,
            },
            now,
        )
    }
}

/// The model layer reports a missing row as a conflict with a readable message; surface it as bad input.
pub(crate) fn refused(e: crate::db::StoreError) -> ManageError {
    match e {
        crate::db::StoreError::Conflict(m) => ManageError::Invalid(m),
        other => ManageError::Store(other),
    }
}
