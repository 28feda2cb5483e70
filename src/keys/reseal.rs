//! Master key rotation: every sealed private key is opened with the master key it was sealed under (the current
//! one or `master_key_previous`) and sealed again under the new key, all in one transaction with its audit row.
//! Every row is opened before anything is written, so a row that cannot be opened changes nothing, and the error
//! names the keys and the master key ids they need.

use crate::db::models::{audit, mfa_factors, signing_keys as rows};
use crate::db::{AnyConnection, write_tx};

use super::master::MasterKey;
use super::{KeyError, seal};

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resealed {
    /// Keys sealed again under the new master key.
    pub keys: usize,
    /// TOTP seeds sealed again.
    pub totp_secrets: usize,
    pub from: Vec<String>,
    pub to: String,
}

/// Re-seals every stored private key under `target`, opening each with whichever of `openers` sealed it.
pub fn reseal_all(
    conn: &mut AnyConnection,
    openers: &[&MasterKey],
    target: &MasterKey,
    actor: &str,
    now: i64,
) -> Result<Resealed, KeyError> {
    write_tx(conn, |c| {
        let stored = rows::all(c)?;
        let mut plan = Vec::new();
        let mut unopened = Vec::new();
        for key in &stored {
            let Some(blob) = key.sealed_private.as_deref() else {
                continue;
            };
            let opened = openers
                .iter()
                .find(|m| m.id() == key.master_key_id)
                .and_then(|m| seal::open(m, &key.kid, blob).ok());
            match opened {
                Some(der) => plan.push((key.kid.clone(), key.master_key_id.clone(), der)),
                None => unopened.push(format!("{} (sealed under {})", key.kid, key.master_key_id)),
            }
        }
        // TOTP seeds are sealed under the master key too (bound to their user).
        let mut secrets = Vec::new();
        for f in mfa_factors::all_with_secret(c)? {
            let Some(stored) = f.secret.as_deref() else {
                continue;
            };
            let aad = crate::web::authn::totp::seal_aad(&f.user_id);
            let id = super::sealed_text_parts(stored)
                .map(|(id, _)| id)
                .unwrap_or("?");
            let opened = openers
                .iter()
                .find(|m| m.id() == id)
                .and_then(|m| super::open_text(m, &aad, stored));
            match opened {
                Some(plain) => secrets.push((f.id.clone(), aad, plain)),
                None => unopened.push(format!("TOTP seed {} (sealed under {id})", f.id)),
            }
        }
        if !unopened.is_empty() {
            let ids: Vec<&str> = openers.iter().map(|m| m.id()).collect();
            return Err(KeyError::MasterKey(format!(
                "nothing was changed: these keys do not open with the configured master key(s) {}: {}",
                ids.join(", "),
                unopened.join(", ")
            )));
        }
        let mut from: Vec<String> = plan.iter().map(|(_, id, _)| id.clone()).collect();
        from.sort();
        from.dedup();
        for (kid, _, der) in &plan {
            let sealed = seal::seal(target, kid, der)?;
            rows::set_sealed(c, kid, &sealed, target.id())?;
        }
        for (id, aad, plain) in &secrets {
            let sealed = super::seal_text(target, aad, plain)?;
            mfa_factors::set_secret(c, id, &sealed)?;
        }
        let detail = format!(
            "{} keys and {} TOTP seeds re-sealed from master key {} to {}",
            plan.len(),
            secrets.len(),
            from.join(", "),
            target.id()
        );
        audit::record(
            c,
            &audit::Event {
                actor: Some(actor),
                action: "keys.rotate_master",
                target: Some(target.id()),
                ip: None,
                detail: Some(&detail),
            },
            now,
        )?;
        Ok(Resealed {
            keys: plan.len(),
            totp_secrets: secrets.len(),
            from,
            to: target.id().to_string(),
        })
    })
}
