//! The `audit_log` table: who did what, when, from where. Every row is also emitted as a structured log line.

use diesel::prelude::*;

use crate::db::schema::audit_log;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// An event to record. `action` is a dotted name such as `user.add` or `key.rotate`.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub fn record(conn: &mut AnyConnection, ev: &Event<'_>, now: i64) -> Result<(), StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(&id),
            audit_log::at.eq(now),
            audit_log::actor.eq(ev.actor),
            audit_log::action.eq(ev.action),
            audit_log::target.eq(ev.target),
            audit_log::ip.eq(ev.ip),
            audit_log::detail.eq(ev.detail),
        ))
        .execute(conn)?;
    tracing::info!(
        target: "porta::audit",
        action = ev.action,
        actor = ev.actor,
        subject = ev.target,
        ip = ev.ip,
        detail = ev.detail,
        "audit"
    );
    Ok(())
}

/// Filters for the audit page; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action_prefix: Option<String>,
    pub actor: Option<String>,
    pub since: Option<i64>,
}

pub fn list(
    conn: &mut AnyConnection,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut q = audit_log::table.into_boxed();
    if let Some(p) = filter.action_prefix.as_deref().filter(|p| !p.is_empty()) {
        q = q.filter(audit_log::action.like(format!("{}%", p.replace(['%', '_'], ""))));
    }
    if let Some(a) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
        q = q.filter(audit_log::actor.eq(a.to_string()));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit_log::at.ge(since));
    }
    Ok(q.order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}
