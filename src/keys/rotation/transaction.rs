//! The pieces every rotation transaction is made of: keys generated before it (`with_candidates`), the rotation
//! lock (`locked`), completing a family's chain (`complete`), storing a new key sealed (`insert`), and erasing the
//! private keys of retired ones (`erase_retired`).

use diesel::RunQueryDsl;

use super::{Changes, Ctx, ROTATION_LOCK, Step};
use crate::db::models::signing_keys::{self as rows, NewSigningKey, SigningKey};
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::keys::KeyError;
use crate::keys::alg::Alg;
use crate::keys::generate::GeneratedKey;
use crate::keys::lifecycle::{self, Timing};
use crate::keys::seal;

/// Generates the `needed` keys per family outside any transaction, then runs `tx` with them; when `tx` finds it
/// needs more (the table changed in between), generates again. Three rounds are plenty: each round only follows
/// a concurrent change by another instance.
pub(super) fn with_candidates(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    needed: &[(Alg, usize)],
    mut tx: impl FnMut(&mut AnyConnection, &mut Vec<GeneratedKey>) -> Result<Changes, KeyError>,
) -> Result<Changes, KeyError> {
    let mut needed = needed.to_vec();
    for _ in 0..3 {
        let mut candidates = Vec::new();
        for &(alg, n) in &needed {
            for _ in 0..n {
                candidates.push(ctx.generator.generate_for(alg, ctx.bits)?);
            }
        }
        match tx(conn, &mut candidates) {
            Err(KeyError::NeedKeys(alg, more)) => {
                match needed.iter_mut().find(|(a, _)| *a == alg) {
                    Some((_, n)) => *n += more,
                    None => needed.push((alg, more)),
                }
            }
            other => return other,
        }
    }
    Err(KeyError::Inconsistent(
        "the key table kept changing during rotation".into(),
    ))
}

/// Takes a generated key of family `alg` from `candidates`.
pub(super) fn take(candidates: &mut Vec<GeneratedKey>, alg: Alg) -> Result<GeneratedKey, KeyError> {
    let i = candidates
        .iter()
        .rposition(|k| k.alg == alg)
        .ok_or(KeyError::NeedKeys(alg, 1))?;
    Ok(candidates.remove(i))
}

/// Runs `f` in the rotation transaction with the lock held, passing the table as read under the lock.
pub(super) fn locked(
    conn: &mut AnyConnection,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
    f: impl FnOnce(
        &mut AnyConnection,
        &[SigningKey],
        &mut dyn FnMut(&Step) -> Result<(), KeyError>,
    ) -> Result<Changes, KeyError>,
) -> Result<Changes, KeyError> {
    write_tx(conn, |c| {
        if let AnyConnection::Postgres(pg) = c {
            // Held until commit or rollback; every instance's rotation queues here.
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ROTATION_LOCK})"))
                .execute(pg)
                .map_err(StoreError::from)?;
        }
        let rows_now = rows::all(c)?;
        observe(&Step::Locked)?;
        f(c, &rows_now, observe)
    })
}

pub(super) fn erase_retired(
    conn: &mut AnyConnection,
    rows_now: &[SigningKey],
    now: i64,
    timing: &Timing,
    changes: &mut Changes,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<(), KeyError> {
    let kids = lifecycle::to_erase(rows_now, now, timing);
    if !kids.is_empty() {
        rows::erase_private(conn, &kids)?;
        observe(&Step::Erased)?;
        changes.erased.extend(kids);
    }
    Ok(())
}

/// Adds what family `alg` lacks at `now` (the "already rotated" check: nothing when an active and a next key
/// exist), taking keys from `candidates`.
pub(super) fn complete(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    alg: Alg,
    candidates: &mut Vec<GeneratedKey>,
    now: i64,
    changes: &mut Changes,
    observe: &mut dyn FnMut(&Step) -> Result<(), KeyError>,
) -> Result<(), KeyError> {
    // At most three passes: promote, first key, next key.
    for _ in 0..3 {
        let current = rows::all(conn)?;
        let needed = lifecycle::keys_needed(&current, alg, now);
        let have = candidates.iter().filter(|k| k.alg == alg).count();
        if needed > have {
            return Err(KeyError::NeedKeys(alg, needed - have));
        }
        match (
            lifecycle::active_at(&current, alg, now),
            lifecycle::next_at(&current, alg, now),
        ) {
            (Some(_), Some(_)) => return Ok(()),
            (None, None) => {
                // The very first key (or every key gone): it signs at once, the one exception to pre-publication.
                let key = take(candidates, alg)?;
                insert(conn, ctx, &key, now, now)?;
                changes.created.push(key.kid.clone());
                observe(&Step::Inserted(key.kid.clone()))?;
            }
            (None, Some(next)) => {
                // Nothing signs (its predecessor was revoked): the published next key takes over at once.
                let kid = next.kid.clone();
                if next.published_at.saturating_add(ctx.timing.prepublication) > now {
                    changes.early_activation = true;
                }
                rows::set_activates(conn, &kid, now)?;
                changes.promoted = Some(kid.clone());
                observe(&Step::Promoted(kid))?;
            }
            (Some(active), None) => {
                // The scheduled rotation: a successor published a whole rotation period before it signs, and never
                // less than the pre-publication time even if this job runs late.
                let activates = active
                    .activates_at
                    .saturating_add(ctx.timing.rotation_period)
                    .max(now.saturating_add(ctx.timing.prepublication));
                let active_kid = active.kid.clone();
                let key = take(candidates, alg)?;
                insert(conn, ctx, &key, now, activates)?;
                changes.created.push(key.kid.clone());
                observe(&Step::Inserted(key.kid.clone()))?;
                rows::set_superseded(conn, &active_kid, activates)?;
                observe(&Step::Chained(active_kid))?;
            }
        }
    }
    Err(KeyError::Inconsistent(
        "the key table could not be completed".into(),
    ))
}

pub(super) fn insert(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    key: &GeneratedKey,
    now: i64,
    activates_at: i64,
) -> Result<(), KeyError> {
    let sealed = seal::seal(ctx.master, &key.kid, &key.private_der)?;
    rows::insert(
        conn,
        &NewSigningKey {
            kid: &key.kid,
            alg: key.alg.as_str(),
            bits: i32::try_from(key.bits).unwrap_or(i32::MAX),
            public_n: &key.n,
            public_e: &key.e,
            sealed_private: Some(&sealed),
            master_key_id: ctx.master.id(),
            created_at: now,
            published_at: now,
            activates_at,
            superseded_at: None,
            public_x: key.x.as_deref(),
            public_y: key.y.as_deref(),
        },
    )?;
    Ok(())
}
