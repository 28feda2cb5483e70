//! The key lifecycle, derived from timestamps alone (DESIGN.md, "Signing keys"), so every instance computes the
//! same signer at the same instant without talking to the others.
//!
//! Rotation keeps the keys in a chain: when a key is created as `next`, its predecessor's `superseded_at` is set to
//! the new key's `activates_at`. A key therefore signs exactly during `[activates_at, superseded_at)`, and the
//! intervals of consecutive keys meet without gap or overlap (invariant 1). A key without `superseded_at` keeps
//! signing until a successor is scheduled, so a rotation job that is late never leaves Porta without a signer.
//!
//! Each key family (`alg`: RS256, ES256, EdDSA) is its own chain: "the active key" is always the active key of a
//! family, and the rules above hold per family.

use std::time::Duration;

use super::alg::Alg;
use crate::config::KeySettings;
use crate::db::models::signing_keys::SigningKey;

/// The derived state of a key at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, signs from `activates_at`.
    Next,
    /// Signs now.
    Active,
    /// Superseded; still published so tokens it signed keep verifying.
    Retiring,
    /// Hold over: unpublished, private key erased.
    Retired,
    /// Removed by an administrator: unpublished, private key erased.
    Revoked,
}

impl KeyState {
    /// Whether the key belongs in the JWKS.
    pub fn is_published(self) -> bool {
        matches!(self, KeyState::Next | KeyState::Active | KeyState::Retiring)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// The timing settings in seconds, as the lifecycle uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a key signs; also how long the next key is published before it signs.
    pub rotation_period: i64,
    /// The shortest publication before a key may sign: `2 x jwks_max_age + key_refresh_interval`. One max-age for
    /// a relying party's cached JWKS, one for a shared cache in front of it, one refresh for every instance to
    /// have loaded the key.
    pub prepublication: i64,
    /// How long a superseded key stays published.
    pub retire_after: i64,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

impl Timing {
    pub fn from_settings(k: &KeySettings) -> Timing {
        Timing {
            rotation_period: secs(k.rotation_period),
            prepublication: secs(2 * k.jwks_max_age + k.key_refresh_interval),
            retire_after: secs(k.retire_after),
        }
    }
}

/// The key of family `alg` that signs at `now`: not revoked, activated, not yet superseded. Should two ever
/// qualify (they cannot through `rotation`), the most recently activated wins, on every instance alike.
pub fn active_at(keys: &[SigningKey], alg: Alg, now: i64) -> Option<&SigningKey> {
    active_in(keys, alg.as_str(), now)
}

fn active_in<'a>(keys: &'a [SigningKey], alg: &str, now: i64) -> Option<&'a SigningKey> {
    keys.iter()
        .filter(|k| {
            k.alg == alg
                && k.revoked_at.is_none()
                && k.activates_at <= now
                && k.superseded_at.is_none_or(|s| s > now)
        })
        .max_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)))
}

/// The published key of family `alg` that signs next: not revoked, activation in the future; the soonest if
/// there are several.
pub fn next_at(keys: &[SigningKey], alg: Alg, now: i64) -> Option<&SigningKey> {
    keys.iter()
        .filter(|k| k.alg == alg.as_str() && k.revoked_at.is_none() && k.activates_at > now)
        .min_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)))
}

/// The families present in `keys`, in `Alg::ALL` order.
pub fn families(keys: &[SigningKey]) -> Vec<Alg> {
    Alg::ALL
        .into_iter()
        .filter(|a| keys.iter().any(|k| k.alg == a.as_str()))
        .collect()
}

/// The state of `key` at `now`; `active_kid` is the kid of `active_at` for the key's family.
pub fn state_of(key: &SigningKey, active_kid: Option<&str>, now: i64, t: &Timing) -> KeyState {
    if key.revoked_at.is_some() {
        KeyState::Revoked
    } else if key.activates_at > now {
        KeyState::Next
    } else if active_kid == Some(key.kid.as_str()) {
        KeyState::Active
    } else if key
        .superseded_at
        .is_some_and(|s| s.saturating_add(t.retire_after) <= now)
    {
        KeyState::Retired
    } else {
        KeyState::Retiring
    }
}

/// A key with its derived state at an instant, for listings.
#[derive(Debug, Clone)]
pub struct KeyView<'a> {
    pub key: &'a SigningKey,
    pub state: KeyState,
    /// When the key leaves the JWKS (end of its hold), once known; `None` for removed keys and keys without a
    /// scheduled successor.
    pub removal_due: Option<i64>,
}

/// Every key with its state at `now`, each within its family.
pub fn view<'a>(keys: &'a [SigningKey], now: i64, t: &Timing) -> Vec<KeyView<'a>> {
    keys.iter()
        .map(|key| {
            let active = active_in(keys, &key.alg, now).map(|k| k.kid.as_str());
            let state = state_of(key, active, now, t);
            let removal_due = match state {
                KeyState::Retired | KeyState::Revoked => None,
                _ => key.superseded_at.map(|s| s.saturating_add(t.retire_after)),
            };
            KeyView {
                key,
                state,
                removal_due,
            }
        })
        .collect()
}

/// How many new keys of family `alg` `rotation::ensure` must create at `now`: two on an empty (or fully retired)
/// family, one when no next key is scheduled, none otherwise.
pub fn keys_needed(keys: &[SigningKey], alg: Alg, now: i64) -> usize {
    match (active_at(keys, alg, now), next_at(keys, alg, now)) {
        (None, None) => 2,
        // A next key without an active one is promoted at once, and then needs a successor.
        (None, Some(_)) | (Some(_), None) => 1,
        (Some(_), Some(_)) => 0,
    }
}

/// Keys whose private key must go: retired or revoked keys that still hold one.
pub fn to_erase(keys: &[SigningKey], now: i64, t: &Timing) -> Vec<String> {
    view(keys, now, t)
        .into_iter()
        .filter(|v| {
            matches!(v.state, KeyState::Retired | KeyState::Revoked)
                && v.key.sealed_private.is_some()
        })
        .map(|v| v.key.kid.clone())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn key(kid: &str, activates: i64, superseded: Option<i64>) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg: "RS256".into(),
            bits: 2048,
            public_n: "n".into(),
            public_e: "AQAB".into(),
            sealed_private: Some(vec![1]),
            master_key_id: "m".into(),
            created_at: activates - 100,
            published_at: activates - 100,
            activates_at: activates,
            superseded_at: superseded,
            revoked_at: None,
            revoke_reason: None,
            public_x: None,
            public_y: None,
        }
    }

    /// `key` of another family.
    pub(crate) fn key_of(
        alg: Alg,
        kid: &str,
        activates: i64,
        superseded: Option<i64>,
    ) -> SigningKey {
        SigningKey {
            alg: alg.as_str().into(),
            bits: 256,
            ..key(kid, activates, superseded)
        }
    }

    const T: Timing = Timing {
        rotation_period: 100,
        prepublication: 10,
        retire_after: 50,
    };

    #[test]
    fn chain_has_one_active_key_at_every_instant() {
        let keys = vec![
            key("a", 0, Some(100)),
            key("b", 100, Some(200)),
            key("c", 200, None),
        ];
        for now in 0..400 {
            let active = active_at(&keys, Alg::Rs256, now).unwrap();
            let expected = if now < 100 {
                "a"
            } else if now < 200 {
                "b"
            } else {
                "c"
            };
            assert_eq!(active.kid, expected, "at {now}");
        }
        assert_eq!(next_at(&keys, Alg::Rs256, 150).unwrap().kid, "c");
        assert!(next_at(&keys, Alg::Rs256, 250).is_none());
    }

    #[test]
    fn states_follow_the_timestamps() {
        let mut keys = vec![
            key("a", 0, Some(100)),
            key("b", 100, Some(200)),
            key("c", 200, None),
        ];
        let states = |keys: &[SigningKey], now| -> Vec<KeyState> {
            view(keys, now, &T).iter().map(|v| v.state).collect()
        };
        use KeyState::*;
        assert_eq!(states(&keys, 120), vec![Retiring, Active, Next]);
        assert_eq!(states(&keys, 150), vec![Retired, Active, Next]);
        assert_eq!(states(&keys, 210), vec![Retired, Retiring, Active]);
        assert_eq!(to_erase(&keys, 150, &T), vec!["a".to_string()]);
        keys[1].revoked_at = Some(120);
        assert_eq!(states(&keys, 121), vec![Retiring, Revoked, Next]);
        // Without an active key nothing signs until rotation promotes the next key.
        assert_eq!(keys_needed(&keys, Alg::Rs256, 121), 1);
        assert!(active_at(&keys, Alg::Rs256, 121).is_none());
    }

    #[test]
    fn needs() {
        assert_eq!(keys_needed(&[], Alg::Rs256, 0), 2);
        assert_eq!(keys_needed(&[key("a", 0, None)], Alg::Rs256, 5), 1);
        assert_eq!(
            keys_needed(
                &[key("a", 0, Some(100)), key("b", 100, None)],
                Alg::Rs256,
                5
            ),
            0
        );
        assert_eq!(
            keys_needed(
                &[key("a", 0, Some(100)), key("b", 100, None)],
                Alg::Rs256,
                100
            ),
            1
        );
        let mut retired = key("a", 0, Some(10));
        retired.sealed_private = None;
        assert_eq!(keys_needed(&[retired], Alg::Rs256, 1000), 2);
    }

    #[test]
    fn families_are_separate_chains() {
        let mut keys = vec![
            key("r1", 0, Some(100)),
            key("r2", 100, None),
            key_of(Alg::Es256, "e1", 50, None),
            key_of(Alg::EdDsa, "d1", 0, Some(100)),
        ];
        assert_eq!(active_at(&keys, Alg::Rs256, 60).unwrap().kid, "r1");
        assert_eq!(active_at(&keys, Alg::Es256, 60).unwrap().kid, "e1");
        assert_eq!(active_at(&keys, Alg::EdDsa, 60).unwrap().kid, "d1");
        assert_eq!(next_at(&keys, Alg::Rs256, 60).unwrap().kid, "r2");
        assert!(next_at(&keys, Alg::Es256, 60).is_none());
        // A key of one family never supersedes or replaces another family's key.
        use KeyState::*;
        let states: Vec<KeyState> = view(&keys, 60, &T).iter().map(|v| v.state).collect();
        assert_eq!(states, vec![Active, Next, Active, Active]);
        assert_eq!(keys_needed(&keys, Alg::Rs256, 60), 0);
        assert_eq!(keys_needed(&keys, Alg::Es256, 60), 1);
        // The EdDSA key was superseded with no successor in its family: nothing signs EdDSA at 120.
        assert_eq!(keys_needed(&keys, Alg::EdDsa, 120), 2);
        keys[2].revoked_at = Some(70);
        assert_eq!(keys_needed(&keys, Alg::Es256, 80), 2);
        assert_eq!(active_at(&keys, Alg::Rs256, 80).unwrap().kid, "r1");
        assert_eq!(families(&keys), Alg::ALL.to_vec());
    }
}
