//! Sign-in throttling, per account and per client address, over the `login_failures` table so every instance sees
//! the same counts. After `max_failures` failures within `failure_window`, a subject is locked for `lockout`, and
//! each further failure doubles the lock up to `max_lockout`. While any subject of an attempt is locked, the attempt
//! is refused before the password is checked.

use crate::config::LoginSettings;
use crate::db::models::login_failures;
use crate::db::{AnyConnection, StoreError};

/// The settings in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: u32,
    pub lockout: i64,
    pub max_lockout: i64,
    pub window: i64,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Policy {
    pub fn from_settings(s: &LoginSettings) -> Policy {
        Policy {
            max_failures: s.max_failures.max(1),
            lockout: secs(s.lockout),
            max_lockout: secs(s.max_lockout).max(secs(s.lockout)),
            window: secs(s.failure_window),
        }
    }

    /// How many recent failures are worth loading: past this the lock is at its longest anyway.
    fn load_limit(&self) -> i64 {
        i64::from(self.max_failures) + 64
    }
}

/// When the lock ends for a subject with these failure times (oldest first, all inside the window); `None` when
/// there is no lock.
pub fn locked_until(policy: &Policy, failures: &[i64]) -> Option<i64> {
    let n = failures.len();
    let max = policy.max_failures as usize;
    if n < max {
        return None;
    }
    let doublings = u32::try_from(n - max).unwrap_or(u32::MAX).min(40);
    let lock = policy
        .lockout
        .saturating_mul(1_i64 << doublings)
        .min(policy.max_lockout);
    failures.last().map(|last| last.saturating_add(lock))
}

/// The latest lock end among `subjects` that is still in the future, if any.
pub fn check(
    conn: &mut AnyConnection,
    policy: &Policy,
    subjects: &[String],
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut until: Option<i64> = None;
    for s in subjects {
        let failures = login_failures::since(
            conn,
            s,
            now.saturating_sub(policy.window),
            policy.load_limit(),
        )?;
        if let Some(u) = locked_until(policy, &failures).filter(|u| *u > now) {
            until = Some(until.map_or(u, |x| x.max(u)));
        }
    }
    Ok(until)
}

/// Counts a failed attempt against every subject.
pub fn record_failure(
    conn: &mut AnyConnection,
    subjects: &[String],
    now: i64,
) -> Result<(), StoreError> {
    for s in subjects {
        login_failures::record(conn, s, now)?;
    }
    Ok(())
}

/// Forgets the failures that no longer count (older than the window). For the periodic purge job.
pub fn purge(
    conn: &mut AnyConnection,
    settings: &LoginSettings,
    now: i64,
) -> Result<usize, StoreError> {
    let policy = Policy::from_settings(settings);
    login_failures::purge_before(conn, now.saturating_sub(policy.window))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        max_failures: 3,
        lockout: 30,
        max_lockout: 100,
        window: 900,
    };

    #[test]
    fn locks_after_max_failures_and_doubles_up_to_the_cap() {
        assert_eq!(locked_until(&P, &[]), None);
        assert_eq!(locked_until(&P, &[1, 2]), None);
        assert_eq!(locked_until(&P, &[1, 2, 3]), Some(33));
        assert_eq!(locked_until(&P, &[1, 2, 3, 40]), Some(100));
        assert_eq!(locked_until(&P, &[1, 2, 3, 40, 200]), Some(300));
        let many: Vec<i64> = (0..500).collect();
        assert_eq!(locked_until(&P, &many), Some(599));
    }

    #[test]
    fn settings_convert() {
        let p = Policy::from_settings(&LoginSettings::default());
        assert_eq!(
            (p.max_failures, p.lockout, p.max_lockout, p.window),
            (5, 30, 900, 900)
        );
    }
}
