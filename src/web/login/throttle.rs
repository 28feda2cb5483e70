//! Sign-in throttling over the `login_failures` table, so every instance sees the same counts.
//!
//! **Subjects.** Each attempt counts against two subjects:
//! - the *account from this address* (`acct:` + SHA-256 of the normalized username and the address group): it
//!   stops a guesser at one account, and only from where the guesses come from;
//! - the *address* (`ip:` + the address group): it stops one address spraying guesses over many accounts.
//!
//! There is deliberately no account-wide lock: with one, anybody anywhere could lock `admin` out for everyone by
//! typing wrong passwords. An attacker with many addresses gets `max_failures` tries per address and lock period;
//! IPv6 addresses are grouped by their /64 (one customer's allocation, where an attacker has billions of addresses)
//! so that does not multiply, and the password policy (`crypto::policy`) keeps the passwords such an attacker
//! could try far from guessable.
//!
//! **Rule.** After `max_failures` failures within `failure_window`, a subject is locked for `lockout`, and each
//! further failure doubles the lock up to `max_lockout`. While any subject of an attempt is locked, the attempt is
//! refused before the password is checked.
//!
//! **Atomic reservation.** The check and the recording of a failure happen in one write transaction *before* the
//! password is checked (`reserve`): the attempt counts as a failure until it proves right, when its reservation is
//! deleted (`release_on_success`). So parallel guesses get no more than `max_failures` password checks between
//! them. SQLite admits one writer at a time; on PostgreSQL each subject's check and insert run under a
//! transaction-scoped advisory lock. The price: sign-ins in flight from one address count against it until they
//! finish, so more than `max_failures` simultaneous sign-ins from one address (a large office behind one NAT, at the
//! same second) get a short "try again" for the surplus.

use std::net::IpAddr;

use crate::config::LoginSettings;
use crate::db::models::login_failures;
use crate::db::{AnyConnection, StoreError, write_tx};

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

/// The throttling group of a client address: an IPv4 address itself, an IPv6 address its /64 (an IPv4-mapped one
/// its IPv4 address). Anything unparsable is used as it is.
pub fn address_group(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// What one sign-in attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    /// The account from this address: cleared when the account signs in from there.
    pub account: String,
    pub address: Option<String>,
}

impl Subjects {
    pub fn new(username: &str, ip: Option<&str>) -> Subjects {
        let group = ip.map(address_group);
        Subjects {
            account: login_failures::account_subject(username, group.as_deref().unwrap_or("")),
            address: group.as_deref().map(login_failures::address_subject),
        }
    }

    pub fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone())
            .chain(self.address.clone())
            .collect()
    }
}

/// The outcome of `reserve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Refused before the password check; the lock ends at this time.
    Locked(i64),
    /// A failure is recorded against every subject (these row ids) until the attempt proves right.
    Reserved(Vec<String>),
}

/// Decides an attempt atomically: refused when a subject is locked, else a failure is recorded against every
/// subject in the same write transaction, before the password is checked.
pub fn reserve(
    conn: &mut AnyConnection,
    policy: &Policy,
    subjects: &Subjects,
    now: i64,
) -> Result<Gate, StoreError> {
    let all = subjects.all();
    write_tx(conn, |c| {
        login_failures::lock_subjects(c, &all)?;
        if let Some(until) = check(c, policy, &all, now)? {
            return Ok(Gate::Locked(until));
        }
        let ids = all
            .iter()
            .map(|s| login_failures::record(c, s, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Gate::Reserved(ids))
    })
}

/// After a right password: the reservation was not a failure, and the account's failures from this address are
/// forgotten. The address keeps its other failures (they may be guesses at other accounts).
pub fn release_on_success(
    conn: &mut AnyConnection,
    subjects: &Subjects,
    reserved: &[String],
) -> Result<(), StoreError> {
    login_failures::delete_ids(conn, reserved)?;
    login_failures::clear(conn, &subjects.account)?;
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
    fn addresses_group_ipv6_by_its_64() {
        assert_eq!(address_group("203.0.113.9"), "203.0.113.9");
        assert_eq!(address_group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_group("2001:db8:1:2:bbbb::7"), "2001:db8:1:2::/64");
        assert_eq!(address_group("::ffff:198.51.100.7"), "198.51.100.7");
        let a = Subjects::new("admin", Some("2001:db8:1:2::1"));
        assert_eq!(a, Subjects::new("Admin", Some("2001:db8:1:2::99")));
        assert_ne!(
            a.account,
            Subjects::new("admin", Some("2001:db8:1:3::1")).account
        );
        assert_eq!(Subjects::new("admin", None).all().len(), 1);
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
