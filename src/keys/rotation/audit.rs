//! The audit rows of a key change: one row per kind of change (bootstrap, rotation, revocation, erasure), written
//! in the change's own transaction.

use super::{Actor, Changes, Step};
use crate::db::AnyConnection;
use crate::db::models::audit::{self, Event};
use crate::keys::KeyError;

pub(super) fn audit_changes(
    conn: &mut AnyConnection,
    changes: &Changes,
    actor: Actor<'_>,
    why: &str,
    now: i64,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<(), KeyError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut events: Vec<(&str, Option<String>, String)> = Vec::new();
    if let Some(kid) = &changes.revoked {
        events.push(("key.revoke", Some(kid.clone()), format!("reason: {why}")));
    }
    if changes.revoked.is_none() && (changes.promoted.is_some() || !changes.created.is_empty()) {
        let action = if changes.promoted.is_none() && changes.created.len() == 2 {
            "key.bootstrap"
        } else {
            "key.rotate"
        };
        events.push((action, changes.promoted.clone(), describe(changes, why)));
    } else if changes.revoked.is_some()
        && (changes.promoted.is_some() || !changes.created.is_empty())
    {
        events.push((
            "key.rotate",
            changes.promoted.clone(),
            describe(changes, "after revocation"),
        ));
    }
    if !changes.erased.is_empty() {
        events.push((
            "key.erase",
            None,
            format!(
                "private keys erased (retired or revoked): {}",
                changes.erased.join(", ")
            ),
        ));
    }
    for (action, target, detail) in &events {
        audit::record(
            conn,
            &Event {
                actor,
                action,
                target: target.as_deref(),
                ip: None,
                detail: Some(detail),
            },
            now,
        )?;
    }
    observe(&Step::Audited)
}

fn describe(changes: &Changes, why: &str) -> String {
    let mut s = why.to_string();
    if let Some(p) = &changes.promoted {
        s.push_str(&format!("; now signing: {p}"));
    }
    if !changes.created.is_empty() {
        s.push_str(&format!("; created: {}", changes.created.join(", ")));
    }
    if changes.early_activation {
        s.push_str("; the promoted key was published for less than the pre-publication time");
    }
    s
}
