//! Changes to the key table: `ensure` (the scheduled rotation and bootstrap), `rotate_now`, `revoke`, and the
//! erasure of retired private keys. Each change is one transaction that first takes the rotation lock
//! (`pg_advisory_xact_lock` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite, which admits one writer) and then
//! re-reads the table and decides again, so instances acting at the same moment produce one change
//! (invariant 5). A crash anywhere before the commit leaves the previous, valid table (invariant 6).
//!
//! Every key family (`keys.algorithms`) is its own chain: `ensure` completes each enabled family, `rotate_now`
//! rotates one family, `revoke` replaces the revoked key within its family and leaves the others alone. A family
//! that is no longer enabled is left as it is (its keys keep verifying until revoked) and never grows.
//!
//! RSA generation is slow, so keys are generated before the transaction, from a first unlocked read; a
//! transaction that finds it needs more keys than it was given (the table moved meanwhile) rolls back and the
//! caller generates again. Unused keys are dropped: they were never stored.

mod audit;
mod transaction;

use transaction::{complete, erase_retired, locked, with_candidates};

use super::KeyError;
use super::alg::Alg;
use super::generate::KeyGenerator;
use super::lifecycle::{self, KeyState, Timing};
use super::master::MasterKey;
use crate::db::AnyConnection;
use crate::db::models::signing_keys::{self as rows, SigningKey};

/// Arbitrary constant identifying the key-rotation lock among PostgreSQL advisory locks.
const ROTATION_LOCK: i64 = 0x706f_7274_616b_6579; // "portakey"

/// The steps of a change, in order, for tests that stop a change half-way (invariant 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The lock is held and the table re-read.
    Locked,
    /// Retired private keys were erased.
    Erased,
    /// A key was revoked.
    Revoked(String),
    /// A key was promoted to sign at once.
    Promoted(String),
    /// A key was inserted.
    Inserted(String),
    /// The predecessor's `superseded_at` was set.
    Chained(String),
    /// The audit row was written; the commit comes next.
    Audited,
}

/// What a change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: Vec<String>,
    pub promoted: Option<String>,
    pub revoked: Option<String>,
    pub erased: Vec<String>,
    /// Set when a promotion made a key sign before its pre-publication time was over (emergency revoke only).
    pub early_activation: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self == &Changes::default()
    }
}

/// Who asks for a change, for the audit row; the scheduled job passes `None`.
pub type Actor<'a> = Option<&'a str>;

/// A no-op step observer, for production callers.
pub fn no_observer() -> impl FnMut(&Step) -> Result<(), KeyError> {
    |_| Ok(())
}

/// What the transaction of a change needs besides the connection.
pub struct Ctx<'a> {
    pub master: &'a MasterKey,
    pub generator: &'a KeyGenerator,
    pub bits: usize,
    pub timing: Timing,
    /// The enabled families (`keys.algorithms`); RS256 is always among them.
    pub algorithms: &'a [Alg],
}

impl Changes {
    /// Adds what another family's change did.
    fn merge(&mut self, other: Changes) {
        self.created.extend(other.created);
        self.promoted = self.promoted.take().or(other.promoted);
        self.revoked = self.revoked.take().or(other.revoked);
        self.erased.extend(other.erased);
        self.early_activation |= other.early_activation;
    }
}

/// Makes the table whole at `now`: an active key and a scheduled next key, retired private keys erased. On an
/// empty table this is the bootstrap; when the next key has just started signing, it is the scheduled rotation
/// (a new next key, published one rotation period ahead).
pub fn ensure(conn: &mut AnyConnection, ctx: &Ctx<'_>, now: i64) -> Result<Changes, KeyError> {
    ensure_observed(conn, ctx, now, &mut no_observer())
}

/// `ensure`, reporting each step to `observe`; an error from `observe` aborts (rolls back) the change.
pub fn ensure_observed(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    now: i64,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<Changes, KeyError> {
    let current = rows::all(conn)?;
    let needed: Vec<(Alg, usize)> = ctx
        .algorithms
        .iter()
        .map(|&a| (a, lifecycle::keys_needed(&current, a, now)))
        .collect();
    if needed.iter().all(|(_, n)| *n == 0)
        && lifecycle::to_erase(&current, now, &ctx.timing).is_empty()
    {
        return Ok(Changes::default());
    }
    with_candidates(conn, ctx, &needed, |c, candidates| {
        locked(c, observe, |c, rows_now, observe| {
            let mut erased = Changes::default();
            erase_retired(c, rows_now, now, &ctx.timing, &mut erased, observe)?;
            audit::audit_changes(c, &erased, None, "scheduled", now, observe)?;
            let mut changes = erased;
            // One audit row per family, so each says what happened to its chain.
            for &alg in ctx.algorithms {
                let mut family = Changes::default();
                complete(c, ctx, alg, candidates, now, &mut family, observe)?;
                audit::audit_changes(c, &family, None, &format!("scheduled, {alg}"), now, observe)?;
                changes.merge(family);
            }
            Ok(changes)
        })
    })
}

/// Promotes the published next key of family `alg` at once and schedules a new next key (`porta keys rotate`).
/// Refused while the next key has been published for less than the pre-publication time: relying parties might
/// not know it yet.
pub fn rotate_now(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    alg: Alg,
    now: i64,
    actor: Actor<'_>,
) -> Result<Changes, KeyError> {
    rotate_now_observed(conn, ctx, alg, now, actor, &mut no_observer())
}

/// `rotate_now`, reporting each step to `observe`.
pub fn rotate_now_observed(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    alg: Alg,
    now: i64,
    actor: Actor<'_>,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<Changes, KeyError> {
    if !ctx.algorithms.contains(&alg) {
        return Err(KeyError::Invalid(format!(
            "{alg} is not in keys.algorithms; enable it before rotating its keys"
        )));
    }
    let current = rows::all(conn)?;
    // Refuse before generating anything when the answer is already known; checked again under the lock.
    if let Some(next) = lifecycle::next_at(&current, alg, now) {
        let ready_at = next.published_at.saturating_add(ctx.timing.prepublication);
        if ready_at > now && lifecycle::active_at(&current, alg, now).is_some() {
            return Err(KeyError::TooEarly {
                kid: next.kid.clone(),
                ready_at,
            });
        }
    }
    // The promotion consumes the next key; its replacement plus whatever else is missing is needed.
    let needed = 1 + lifecycle::keys_needed(&current, alg, now);
    with_candidates(conn, ctx, &[(alg, needed)], |c, candidates| {
        locked(c, observe, |c, rows_now, observe| {
            let mut changes = Changes::default();
            erase_retired(c, rows_now, now, &ctx.timing, &mut changes, observe)?;
            // Bring the family to "active + next" first (a no-op normally), then promote.
            complete(c, ctx, alg, candidates, now, &mut changes, observe)?;
            let rows_now = rows::all(c)?;
            let (Some(active), Some(next)) = (
                lifecycle::active_at(&rows_now, alg, now),
                lifecycle::next_at(&rows_now, alg, now),
            ) else {
                return Err(KeyError::Inconsistent(
                    "no active and next key after completing the table".into(),
                ));
            };
            let ready_at = next.published_at.saturating_add(ctx.timing.prepublication);
            if ready_at > now {
                return Err(KeyError::TooEarly {
                    kid: next.kid.clone(),
                    ready_at,
                });
            }
            let (active_kid, next_kid) = (active.kid.clone(), next.kid.clone());
            rows::set_activates(c, &next_kid, now)?;
            rows::set_superseded(c, &active_kid, now)?;
            changes.promoted = Some(next_kid.clone());
            observe(&Step::Promoted(next_kid))?;
            complete(c, ctx, alg, candidates, now, &mut changes, observe)?;
            audit::audit_changes(c, &changes, actor, &format!("manual, {alg}"), now, observe)?;
            Ok(changes)
        })
    })
}

/// Emergency removal of `kid` (`porta keys revoke`): out of the JWKS at once, private key erased. If it was the
/// active key, the published next key of its family signs at once and a new next key is scheduled; if it was the
/// next key, a new next key replaces it. Other families are left alone; a family no longer enabled is not
/// replenished.
pub fn revoke(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    kid: &str,
    reason: &str,
    now: i64,
    actor: Actor<'_>,
) -> Result<Changes, KeyError> {
    revoke_observed(conn, ctx, kid, reason, now, actor, &mut no_observer())
}

/// `revoke`, reporting each step to `observe`.
pub fn revoke_observed(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    kid: &str,
    reason: &str,
    now: i64,
    actor: Actor<'_>,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<Changes, KeyError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(KeyError::Invalid(
            "a reason is required to revoke a key".into(),
        ));
    }
    let mut simulated = rows::all(conn)?;
    let alg = match simulated.iter_mut().find(|k| k.kid == kid) {
        None => return Err(KeyError::NotFound(kid.to_string())),
        Some(k) if k.revoked_at.is_some() => return Err(KeyError::AlreadyRevoked(kid.to_string())),
        Some(k) => {
            k.revoked_at = Some(now);
            Alg::parse(&k.alg)
        }
    };
    let family = alg.filter(|a| ctx.algorithms.contains(a));
    let needed: Vec<(Alg, usize)> = family
        .map(|a| (a, lifecycle::keys_needed(&simulated, a, now)))
        .into_iter()
        .collect();
    with_candidates(conn, ctx, &needed, |c, candidates| {
        locked(c, observe, |c, rows_now, observe| {
            let target = rows_now
                .iter()
                .find(|k| k.kid == kid)
                .ok_or_else(|| KeyError::NotFound(kid.to_string()))?;
            if target.revoked_at.is_some() {
                return Err(KeyError::AlreadyRevoked(kid.to_string()));
            }
            let mut changes = Changes::default();
            rows::revoke(c, kid, now, reason)?;
            changes.revoked = Some(kid.to_string());
            observe(&Step::Revoked(kid.to_string()))?;
            let rows_now = rows::all(c)?;
            erase_retired(c, &rows_now, now, &ctx.timing, &mut changes, observe)?;
            if let Some(alg) = family {
                complete(c, ctx, alg, candidates, now, &mut changes, observe)?;
            }
            audit::audit_changes(c, &changes, actor, reason, now, observe)?;
            Ok(changes)
        })
    })
}

/// Whether `kid` is in a state that can be revoked, for CLI messages.
pub fn state_now(
    rows_now: &[SigningKey],
    kid: &str,
    now: i64,
    timing: &Timing,
) -> Option<KeyState> {
    lifecycle::view(rows_now, now, timing)
        .into_iter()
        .find(|v| v.key.kid == kid)
        .map(|v| v.state)
}
