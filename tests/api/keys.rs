//! Signing keys end to end: the six invariants of DESIGN.md ("Signing keys"), each driven by a test clock on
//! SQLite and PostgreSQL, for every key family (RS256, ES256, EdDSA) side by side; the JWKS and discovery
//! endpoints; startup refusal without the right master key; and the `porta keys` commands.

use std::sync::{Arc, Barrier};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use porta::clock::{Clock, TestClock};
use porta::config::Settings;
use porta::db::Db;
use porta::db::models::audit;
use porta::db::models::signing_keys::{self as rows, SigningKey};
use porta::keys::rotation::{self, Step};
use porta::keys::{Alg, KeyError, KeyGenerator, KeySet, Keys, Timing, lifecycle};

use crate::helpers::{Backend, TEST_MASTER_KEY, TestDb, spawn_app, test_settings};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

// ---------------------------------------------------------------------------------------------------------------
// Plumbing

/// One Porta instance without HTTP: its own pool and key set over a shared database.
struct Instance {
    db: Db,
    keys: Keys,
}

async fn open_db(settings: &Settings) -> Db {
    let s = settings.clone();
    tokio::task::spawn_blocking(move || porta::startup::open_database(&s))
        .await
        .unwrap()
        .expect("database opens")
}

async fn instance(tdb: &TestDb, clock: &TestClock, generator: KeyGenerator) -> Instance {
    let settings = test_settings(tdb);
    let db = open_db(&settings).await;
    let keys = Keys::bootstrap(&db, &settings, Arc::new(clock.clone()), generator)
        .await
        .expect("key bootstrap");
    Instance { db, keys }
}

fn stored(db: &Db) -> Vec<SigningKey> {
    rows::all(&mut db.conn().unwrap()).unwrap()
}

fn audit_actions(db: &Db) -> Vec<audit::AuditEntry> {
    let filter = audit::Filter {
        action_prefix: Some("key.".into()),
        ..Default::default()
    };
    audit::list(&mut db.conn().unwrap(), &filter, 1000, 0).unwrap()
}

/// Keys that sign at `t` by the raw rule, without `lifecycle`'s tie-break: invariant 1 wants exactly one.
fn signing_at(keys: &[SigningKey], t: i64) -> Vec<&str> {
    keys.iter()
        .filter(|k| {
            k.revoked_at.is_none() && k.activates_at <= t && k.superseded_at.is_none_or(|s| s > t)
        })
        .map(|k| k.kid.as_str())
        .collect()
}

/// Invariant 1 for every family in `keys`.
fn assert_one_signer_per_family(keys: &[SigningKey], from: i64, horizon: i64) {
    let families = lifecycle::families(keys);
    assert!(!families.is_empty(), "no keys at all");
    for alg in families {
        let family: Vec<SigningKey> = keys
            .iter()
            .filter(|k| k.alg == alg.as_str())
            .cloned()
            .collect();
        assert_one_signer_from(&family, from, horizon);
    }
}

/// Invariant 1 from `from` on, for as long as the table of one family stays as it is: every hour and at each
/// boundary.
fn assert_one_signer_from(keys: &[SigningKey], from: i64, horizon: i64) {
    let mut instants: Vec<i64> = (from..from + horizon).step_by(HOUR as usize).collect();
    for k in keys {
        for t in [Some(k.activates_at), k.superseded_at]
            .into_iter()
            .flatten()
        {
            instants.extend([t - 1, t, t + 1].into_iter().filter(|t| *t >= from));
        }
    }
    for t in instants {
        let signing = signing_at(keys, t);
        assert_eq!(
            signing.len(),
            1,
            "at {t} (from {from}) signing: {signing:?}\n{keys:#?}"
        );
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

fn validation() -> jsonwebtoken::Validation {
    // The test clock runs ahead of the wall clock; expiry is checked against the test clock by the tests.
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v
}

fn mint(set: &KeySet, now: i64, ttl: i64) -> String {
    mint_as(set, Alg::Rs256, now, ttl)
}

fn mint_as(set: &KeySet, alg: Alg, now: i64, ttl: i64) -> String {
    set.sign_as(
        alg,
        "JWT",
        &Claims {
            sub: "user-1".into(),
            iat: now,
            exp: now + ttl,
        },
    )
    .expect("an active key signs")
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

// ---------------------------------------------------------------------------------------------------------------
// A long simulation shared by invariants 1 to 3, with every family at once: 200 days of irregular job ticks (one
// outage of 45 days), manual rotations of each family at its own pace, emergency revocations of active and next
// keys in different families, tokens of every family minted at ticks and between them.

struct Observation {
    at: i64,
    /// The table as the instance last read it.
    rows: Arc<Vec<SigningKey>>,
    set: Arc<KeySet>,
}

struct Minted {
    token: String,
    alg: Alg,
    kid: String,
    iat: i64,
    exp: i64,
}

struct Trace {
    observations: Vec<Observation>,
    minted: Vec<Minted>,
    /// The first key of each family: the one allowed to sign without pre-publication.
    first_kids: Vec<String>,
    timing: Timing,
    final_rows: Vec<SigningKey>,
    _db: TestDb,
}

/// Tokens live as long as the longest thing that can carry one: a session's `id_token_hint` (1 day by default).
const TOKEN_TTL: i64 = DAY;

async fn simulate(b: Backend) -> Trace {
    let tdb = TestDb::new(b);
    let clock = TestClock::at_system_time();
    let inst = instance(&tdb, &clock, KeyGenerator::test_pool()).await;
    let timing = inst.keys.timing();
    assert_eq!(
        inst.keys.algorithms(),
        Alg::ALL,
        "the tests run with every family"
    );
    let first_kids = Alg::ALL
        .map(|a| inst.keys.current().active_kid_of(a).to_string())
        .to_vec();
    let mut rows_now = Arc::new(stored(&inst.db));
    let mut trace = Trace {
        observations: Vec::new(),
        minted: Vec::new(),
        first_kids,
        timing,
        final_rows: Vec::new(),
        _db: tdb,
    };
    let observe = |trace: &mut Trace, rows_now: &Arc<Vec<SigningKey>>| {
        let now = clock.now();
        let set = inst.keys.current();
        for alg in Alg::ALL {
            let token = mint_as(&set, alg, now, TOKEN_TTL);
            assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, alg.jwt());
            trace.minted.push(Minted {
                kid: kid_of(&token),
                alg,
                token,
                iat: now,
                exp: now + TOKEN_TTL,
            });
        }
        trace.observations.push(Observation {
            at: now,
            rows: rows_now.clone(),
            set,
        });
    };
    observe(&mut trace, &rows_now);
    let end = clock.now() + 200 * DAY;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    // Emergency revocations still to do: (family, the active key?, from step).
    let mut revocations = vec![
        (Alg::Rs256, true, 23),
        (Alg::Rs256, false, 31),
        (Alg::Es256, true, 27),
        (Alg::EdDsa, false, 35),
        (Alg::EdDsa, true, 50),
    ];
    let mut step = 0;
    while clock.now() < end {
        step += 1;
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let dt = if step == 40 {
            45 * DAY
        } else {
            600 + (seed >> 33) as i64 % (3 * DAY)
        };
        // Half-way, time passes without a reload: the instance switches signer on its own at activation.
        clock.advance(dt / 2);
        observe(&mut trace, &rows_now);
        clock.advance(dt - dt / 2);
        inst.keys.tick(&inst.db).await.expect("tick");
        let now = clock.now();
        // Each family rotated by hand at its own pace.
        for (alg, every) in [(Alg::Rs256, 17), (Alg::Es256, 13), (Alg::EdDsa, 19)] {
            if step % every == 0 {
                let others = Alg::ALL.map(|a| inst.keys.current().active_kid_of(a).to_string());
                match inst
                    .keys
                    .rotate_now(&inst.db, alg, Some("test".into()))
                    .await
                {
                    Ok(c) => {
                        assert!(c.promoted.is_some() && c.created.len() == 1, "{c:?}");
                        for (a, before) in Alg::ALL.iter().zip(&others) {
                            if *a != alg {
                                assert_eq!(
                                    inst.keys.current().active_kid_of(*a),
                                    before,
                                    "rotating {alg} moved {a}"
                                );
                            }
                        }
                    }
                    Err(KeyError::TooEarly { .. }) => {}
                    Err(e) => panic!("rotate {alg} now: {e}"),
                }
            }
        }
        let current = stored(&inst.db);
        // Emergency revocations, at a moment the next key is ready (the emergency that is not is its own test).
        if let Some(i) = revocations.iter().position(|(alg, active, from)| {
            step >= *from
                && (!active
                    || lifecycle::next_at(&current, *alg, now)
                        .is_some_and(|n| n.published_at + timing.prepublication <= now))
        }) {
            let (alg, active, _) = revocations.remove(i);
            let others = Alg::ALL.map(|a| inst.keys.current().active_kid_of(a).to_string());
            let kid = if active {
                lifecycle::active_at(&current, alg, now)
                    .unwrap()
                    .kid
                    .clone()
            } else {
                lifecycle::next_at(&current, alg, now).unwrap().kid.clone()
            };
            let c = inst
                .keys
                .revoke(
                    &inst.db,
                    kid.clone(),
                    "test: leaked".into(),
                    Some("test".into()),
                )
                .await
                .unwrap();
            assert_eq!(c.revoked.as_deref(), Some(kid.as_str()));
            assert_eq!(
                c.created.len(),
                1,
                "a new next key replaces the one consumed: {c:?}"
            );
            let created = row(&stored(&inst.db), &c.created[0]).clone();
            assert_eq!(
                created.alg,
                alg.as_str(),
                "the replacement is of the revoked key's family"
            );
            if active {
                assert!(c.promoted.is_some() && !c.early_activation, "{c:?}");
                assert_ne!(inst.keys.current().active_kid_of(alg), kid);
            }
            // Revoking in one family leaves the others alone.
            for (a, before) in Alg::ALL.iter().zip(&others) {
                if *a != alg {
                    assert_eq!(
                        inst.keys.current().active_kid_of(*a),
                        before,
                        "revoking in {alg} moved {a}"
                    );
                }
            }
        }
        rows_now = Arc::new(stored(&inst.db));
        observe(&mut trace, &rows_now);
    }
    assert!(
        revocations.is_empty(),
        "every revocation happened: {revocations:?}"
    );
    let all = stored(&inst.db);
    for alg in Alg::ALL {
        let n = all.iter().filter(|k| k.alg == alg.as_str()).count();
        assert!(
            n >= 8,
            "the simulation rotated {alg} several times: {all:#?}"
        );
        assert!(
            all.iter()
                .any(|k| k.alg == alg.as_str() && k.revoked_at.is_some())
        );
    }
    assert!(all.iter().any(|k| k.revoked_at.is_some()));
    trace.final_rows = all;
    trace
}

fn row<'a>(rows: &'a [SigningKey], kid: &str) -> &'a SigningKey {
    rows.iter().find(|k| k.kid == kid).expect("kid is stored")
}

both_backends! {
    // Invariant 1: after bootstrap there is exactly one active key per family at every instant.
    async fn invariant_1_exactly_one_active_key(b: Backend) {
        let trace = simulate(b).await;
        for obs in &trace.observations {
            assert_one_signer_per_family(&obs.rows, obs.at, 90 * DAY);
            assert_eq!(lifecycle::families(&obs.rows), Alg::ALL);
            for alg in Alg::ALL {
                let derived = lifecycle::active_at(&obs.rows, alg, obs.at).unwrap();
                assert_eq!(obs.set.active_kid_of(alg), derived.kid, "the in-memory {alg} signer is the derived one at {}", obs.at);
                assert_eq!(derived.alg, alg.as_str());
            }
        }
        // Every token was signed by a key of the family asked for.
        for t in &trace.minted {
            assert_eq!(row(&trace.final_rows, &t.kid).alg, t.alg.as_str());
        }
    }

    // Invariant 2: a token's kid is in the JWKS from minting until expiry, unless its key was revoked; and the
    // token verifies all that time.
    async fn invariant_2_token_kids_stay_published_until_expiry(b: Backend) {
        let trace = simulate(b).await;
        let mut checked = 0;
        for t in &trace.minted {
            let revoked_at = row(&trace.final_rows, &t.kid).revoked_at;
            for obs in trace.observations.iter().filter(|o| o.at >= t.iat && o.at < t.exp) {
                if revoked_at.is_some_and(|r| r <= obs.at) {
                    assert!(!obs.set.published_kids().any(|k| k == t.kid), "a revoked key leaves the JWKS at once");
                    continue;
                }
                assert!(obs.set.published_kids().any(|k| k == t.kid), "kid {} missing at {}", t.kid, obs.at);
                let jwks: serde_json::Value = serde_json::from_slice(obs.set.jwks_bytes()).unwrap();
                assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == t.kid.as_str()));
                obs.set.verify::<Claims>(&t.token, &validation()).expect("a live token verifies");
                checked += 1;
            }
        }
        assert!(checked > 100, "the simulation checked live tokens ({checked})");
    }

    // Invariant 3: except the very first key, no key signs before it has been published for the pre-publication
    // time, so relying parties' cached JWKS already hold it.
    async fn invariant_3_prepublication_before_signing(b: Backend) {
        let trace = simulate(b).await;
        let p = trace.timing.prepublication;
        for k in trace.final_rows.iter().filter(|k| !trace.first_kids.contains(&k.kid)) {
            if k.revoked_at.is_some_and(|r| r <= k.activates_at) {
                continue; // revoked while next: never signed
            }
            assert!(k.activates_at - k.published_at >= p, "{} activates too early: {k:?}", k.kid);
        }
        for t in trace.minted.iter().filter(|t| !trace.first_kids.contains(&t.kid)) {
            let k = row(&trace.final_rows, &t.kid);
            assert!(k.published_at + p <= t.iat, "{} signed at {} but was published at {}", t.kid, t.iat, k.published_at);
            // Every JWKS served during the pre-publication time before signing already held the key.
            for obs in trace.observations.iter().filter(|o| o.at >= t.iat - p && o.at <= t.iat) {
                assert!(obs.set.published_kids().any(|kid| kid == t.kid));
            }
        }
    }

    // Invariant 4: no private key material in the JWKS, the logs or the database in clear; retired and revoked
    // keys lose it.
    async fn invariant_5_concurrent_rotations_make_one_key(b: Backend) {
        let tdb = TestDb::new(b);
        let settings = test_settings(&tdb);
        open_db(&settings).await;
        let clock = TestClock::at_system_time();
        // One generator shared by all instances: each candidate key is distinct, so a double insert would show
        // as two keys rather than hide behind a primary-key conflict.
        let generator = KeyGenerator::test_pool();
        const N: usize = 6;
        let race = |now: i64| {
            let barrier = Arc::new(Barrier::new(N));
            let handles: Vec<_> = (0..N)
                .map(|_| {
                    let (settings, generator, barrier) = (settings.clone(), generator.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        // Each "instance" has its own pool and connection.
                        let db = Db::connect(&settings.database_url, 1).unwrap();
                        let mut conn = db.conn().unwrap();
                        let master = porta::keys::MasterKey::parse(TEST_MASTER_KEY).unwrap();
                        let ctx = rotation::Ctx {
                            master: &master,
                            generator: &generator,
                            bits: 2048,
                            timing: Timing::from_settings(&settings.keys),
                            algorithms: &Alg::ALL,
                        };
                        barrier.wait();
                        rotation::ensure(&mut conn, &ctx, now)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("rotation succeeds")).collect::<Vec<_>>()
        };
        let db = Db::connect(&settings.database_url, 1).unwrap();
        // Bootstrap race on the empty table.
        let results = race(clock.now());
        assert_eq!(results.iter().filter(|c| !c.created.is_empty()).count(), 1, "{results:?}");
        assert_eq!(stored(&db).len(), 2 * 3, "an active and a next key per family");
        // Scheduled rotation races, three rounds: each at the instant the next keys start signing (every family
        // was bootstrapped at once, so all three rotate together).
        for round in 1..=3 {
            let next = lifecycle::next_at(&stored(&db), Alg::Es256, clock.now()).unwrap().activates_at;
            clock.set(next);
            let results = race(clock.now());
            let winners: Vec<_> = results.iter().filter(|c| !c.created.is_empty()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            assert_eq!(winners[0].created.len(), 3, "one new key per family");
            let all = stored(&db);
            assert_eq!(all.len(), 3 * (2 + round), "round {round}");
            assert_one_signer_per_family(&all, clock.now(), 90 * DAY);
        }
        let rotations = audit_actions(&db).iter().filter(|e| e.action == "key.rotate").count();
        assert_eq!(rotations, 3 * 3, "one audit row per rotation and family");
    }

    // Invariant 6: a crash at any step of a rotation leaves a state that satisfies 1 to 4 on restart. Each
    // change is stopped at each of its steps, once by an error (rollback) and once by a panic that drops the
    // connection mid-transaction (a killed process); then a fresh instance starts on the same database.
    async fn invariant_6_crash_at_any_step_is_recoverable(b: Backend) {
        let tdb = TestDb::new(b);
        let settings = test_settings(&tdb);
        open_db(&settings).await;
        let clock = TestClock::at_system_time();
        let master = porta::keys::MasterKey::parse(TEST_MASTER_KEY).unwrap();
        let timing = Timing::from_settings(&settings.keys);
        let db = Db::connect(&settings.database_url, 1).unwrap();
        #[derive(Clone, Copy, Debug)]
        enum Op { Bootstrap, Scheduled, RotateNow(Alg), RevokeActive(Alg), RevokeNext(Alg) }
        // Puts the table in the state before `op`, then returns the instant to run it at.
        let scenarios = [
            (Op::Bootstrap, 0),
            (Op::Scheduled, 0),
            (Op::RotateNow(Alg::Rs256), 0),
            (Op::RotateNow(Alg::EdDsa), 0),
            (Op::RevokeActive(Alg::Rs256), 0),
            (Op::RevokeActive(Alg::Es256), 0),
            (Op::RevokeNext(Alg::EdDsa), 0),
            // Later in life: the scheduled rotation that also erases a retired private key.
            (Op::Scheduled, 2),
        ];
        for (op, extra_rotations) in scenarios {
            for kill in [false, true] {
                let mut step_index = 0;
                loop {
                    // A fresh database state per attempt; a fresh cursor over the pooled keys, so attempts reuse
                    // the same few keys instead of generating new ones.
                    let generator = KeyGenerator::test_pool();
                    let tdb_case = TestDb::new(b);
                    let case_settings = test_settings(&tdb_case);
                    open_db(&case_settings).await;
                    let case_db = Db::connect(&case_settings.database_url, 1).unwrap();
                    let ctx = rotation::Ctx { master: &master, generator: &generator, bits: 2048, timing, algorithms: &Alg::ALL };
                    let mut now = clock.now();
                    if !matches!(op, Op::Bootstrap) {
                        rotation::ensure(&mut case_db.conn().unwrap(), &ctx, now).unwrap();
                        for _ in 0..extra_rotations {
                            now = lifecycle::next_at(&stored(&case_db), Alg::Rs256, now).unwrap().activates_at + 8 * DAY;
                            rotation::ensure(&mut case_db.conn().unwrap(), &ctx, now).unwrap();
                        }
                        now += DAY;
                        if matches!(op, Op::Scheduled) {
                            now = lifecycle::next_at(&stored(&case_db), Alg::Rs256, now).unwrap().activates_at;
                        }
                    }
                    let before = stored(&case_db);
                    // A token signed before the crash must still verify after restart (invariant 2).
                    let tokens: Vec<String> = if before.is_empty() {
                        Vec::new()
                    } else {
                        let k = Keys::new(master.clone(), Arc::new(TestClock::new(now)), generator.clone(), &case_settings);
                        k.load_rows(&before, now).unwrap();
                        Alg::ALL.iter().map(|&a| mint_as(&k.current(), a, now, DAY)).collect()
                    };
                    let target = step_index;
                    let url = case_settings.database_url.clone();
                    let (g, m) = (generator.clone(), master.clone());
                    let outcome = std::thread::spawn(move || {
                        let db = Db::connect(&url, 1).unwrap();
                        let mut conn = db.conn().unwrap();
                        let ctx = rotation::Ctx { master: &m, generator: &g, bits: 2048, timing, algorithms: &Alg::ALL };
                        let mut seen = 0;
                        let mut observe = |s: &Step| {
                            seen += 1;
                            if seen - 1 == target {
                                if kill {
                                    panic!("simulated crash at {s:?}");
                                }
                                return Err(KeyError::Invalid(format!("simulated crash at {s:?}")));
                            }
                            Ok(())
                        };
                        let rows_now = rows::all(&mut conn).unwrap();
                        match op {
                            Op::Bootstrap | Op::Scheduled => rotation::ensure_observed(&mut conn, &ctx, now, &mut observe),
                            Op::RotateNow(alg) => rotation::rotate_now_observed(&mut conn, &ctx, alg, now, Some("test"), &mut observe),
                            Op::RevokeActive(alg) => {
                                let kid = lifecycle::active_at(&rows_now, alg, now).unwrap().kid.clone();
                                rotation::revoke_observed(&mut conn, &ctx, &kid, "test", now, Some("test"), &mut observe)
                            }
                            Op::RevokeNext(alg) => {
                                let kid = lifecycle::next_at(&rows_now, alg, now).unwrap().kid.clone();
                                rotation::revoke_observed(&mut conn, &ctx, &kid, "test", now, Some("test"), &mut observe)
                            }
                        }
                    })
                    .join();
                    let crashed = match outcome {
                        Err(_) => true,                                  // killed
                        Ok(Err(KeyError::Invalid(m))) if m.starts_with("simulated crash") => true,
                        Ok(Err(e)) => panic!("{op:?} failed: {e}"),
                        Ok(Ok(_)) => false,                              // no step left to crash at
                    };
                    if crashed {
                        // Nothing of the change was written.
                        let after = stored(&case_db);
                        assert_eq!(format!("{after:?}"), format!("{before:?}"), "{op:?} step {step_index} kill={kill}");
                        assert_eq!(after.iter().map(|k| k.sealed_private.clone()).collect::<Vec<_>>(),
                                   before.iter().map(|k| k.sealed_private.clone()).collect::<Vec<_>>());
                    }
                    // Restart: a new instance on the same database, then its job ticks.
                    let restarted = Keys::bootstrap(&case_db, &case_settings, Arc::new(TestClock::new(now)), generator.clone())
                        .await
                        .unwrap_or_else(|e| panic!("{op:?} step {step_index} kill={kill}: restart failed: {e:#}"));
                    let all = stored(&case_db);
                    assert_one_signer_per_family(&all, now, 90 * DAY);
                    assert_eq!(lifecycle::families(&all), Alg::ALL);
                    let set = restarted.current();
                    assert!(set.can_sign());
                    for token in &tokens {
                        let kid = kid_of(token);
                        if row(&all, &kid).revoked_at.is_none() {
                            set.verify::<Claims>(token, &validation()).expect("a token from before the crash verifies");
                        }
                    }
                    for alg in Alg::ALL {
                        // The first key of each family signs at once; a promotion after revoking an active key
                        // may be early (flagged); every other key was pre-published.
                        for k in all.iter().filter(|k| k.alg == alg.as_str()).skip(1) {
                            let revoked_here = matches!(op, Op::RevokeActive(a) if a == alg);
                            if k.revoked_at.is_none() && !(revoked_here && k.activates_at == now) {
                                assert!(k.activates_at - k.published_at >= timing.prepublication, "{k:?}");
                            }
                        }
                    }
                    for v in lifecycle::view(&all, now, &timing) {
                        let gone = matches!(v.state, lifecycle::KeyState::Retired | lifecycle::KeyState::Revoked);
                        assert_eq!(v.key.sealed_private.is_none(), gone, "{op:?}: {v:?}");
                    }
                    drop(case_db);
                    if !crashed {
                        assert!(step_index >= 2, "{op:?} has several steps ({step_index})");
                        break;
                    }
                    step_index += 1;
                }
            }
        }
        drop(db);
    }

    // `GET /jwks.json`: public keys, `Cache-Control`, a strong ETag and 304 on `If-None-Match`; after a rotation
    // the previous key stays published and the new one signs.
    async fn jwks_endpoint_caches_and_follows_rotation(b: Backend) {
        let app = spawn_app(b).await;
        let res = app.client.get(app.url("/jwks.json")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "public, max-age=600");
        assert_eq!(res.headers()["content-type"], "application/json");
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");
        let body: serde_json::Value = res.json().await.unwrap();
        let kids: Vec<String> = body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
        assert_eq!(kids.len(), 2 * 3, "active and next, per family");
        let res = app.client.get(app.url("/jwks.json")).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(res.status(), 304);
        assert_eq!(res.headers()["etag"], etag.as_str());
        let res = app.client.get(app.url("/jwks.json")).header("If-None-Match", "\"other\", W/".to_string() + &etag).send().await.unwrap();
        assert_eq!(res.status(), 304, "a list and a weak form match too");
        let res = app.client.get(app.url("/jwks.json")).header("If-None-Match", "\"other\"").send().await.unwrap();
        assert_eq!(res.status(), 200);

        let before = app.state.keys.current().active_kid().to_string();
        app.clock.advance(DAY);
        let changes = app.state.keys.rotate_now(&app.state.db, Alg::Rs256, Some("admin".into())).await.unwrap();
        let after = app.state.keys.current().active_kid().to_string();
        assert_ne!(after, before);
        assert_eq!(changes.promoted.as_deref(), Some(after.as_str()));
        let res = app.client.get(app.url("/jwks.json")).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(res.status(), 200, "the key set changed");
        let body: serde_json::Value = res.json().await.unwrap();
        let kids: Vec<&str> = body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert!(kids.contains(&before.as_str()) && kids.contains(&after.as_str()) && kids.len() == 7, "{kids:?}");
        let token = app.state.keys.current().sign("JWT", &Claims { sub: "u".into(), iat: 0, exp: 0 }).unwrap();
        assert_eq!(kid_of(&token), after);
        let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
    }

    // The job of `porta serve` rotates on schedule: once the next key signs, one tick publishes a new next key,
    // writes the audit row and reloads, with no request touching the database for keys.
    async fn scheduled_rotation_through_the_job(b: Backend) {
        let app = spawn_app(b).await;
        let first = app.state.keys.current().active_kid().to_string();
        let next = lifecycle::next_at(&stored(&app.state.db), Alg::Rs256, app.clock.now()).unwrap().clone();
        porta::jobs::run_once(&app.state).await;
        assert_eq!(stored(&app.state.db).len(), 2 * 3, "nothing due yet");
        app.clock.set(next.activates_at);
        assert_eq!(app.state.keys.current().active_kid(), next.kid, "the switch needs no reload");
        porta::jobs::keys_tick(&app.state, app.clock.now()).await.unwrap();
        let all = stored(&app.state.db);
        assert_eq!(all.len(), 3 * 3, "every family bootstrapped at once rotates at once");
        let newest = lifecycle::next_at(&all, Alg::Rs256, app.clock.now()).unwrap();
        assert_eq!(newest.activates_at, next.activates_at + app.state.keys.timing().rotation_period);
        assert!(app.state.keys.current().published_kids().any(|k| k == newest.kid), "reloaded after the change");
        assert!(app.state.keys.current().published_kids().any(|k| k == first), "the previous key is retiring");
        let audit = audit_actions(&app.state.db);
        assert_eq!(audit.iter().filter(|e| e.action == "key.rotate").count(), 3, "one per family");
        assert_eq!(audit.iter().filter(|e| e.action == "key.bootstrap").count(), 3);
        // A week and a day later the previous key is retired: out of the JWKS, private key erased.
        app.clock.advance(app.state.keys.timing().retire_after + DAY);
        porta::jobs::run_once(&app.state).await;
        assert!(!app.state.keys.current().published_kids().any(|k| k == first));
        assert!(row(&stored(&app.state.db), &first).sealed_private.is_none());
    }

    // Discovery: `issuer` exactly as configured, the JWKS URI, every enabled family.
    async fn discovery_document(b: Backend) {
        let app = spawn_app(b).await;
        let res = app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let doc: serde_json::Value = res.json().await.unwrap();
        assert_eq!(doc["issuer"], app.state.settings.issuer.as_str());
        assert_eq!(doc["jwks_uri"], app.url("/jwks.json"));
        assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
        assert_eq!(doc["subject_types_supported"], serde_json::json!(["public"]));
    }

    // A missing or different master key stops startup with a clear message and creates no key.
    async fn startup_refuses_a_missing_or_wrong_master_key(b: Backend) {
        let tdb = TestDb::new(b);
        let clock = TestClock::at_system_time();
        let first = instance(&tdb, &clock, KeyGenerator::test_pool()).await;
        let kids: Vec<String> = stored(&first.db).into_iter().map(|k| k.kid).collect();
        let build = |settings: Settings| {
            let clock = clock.clone();
            async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                porta::startup::Application::build_with(settings, Arc::new(clock), listener, KeyGenerator::test_pool()).await
            }
        };
        let missing = Settings { master_key: None, ..test_settings(&tdb) };
        let e = format!("{:#}", build(missing).await.err().expect("refused without a master key"));
        assert!(e.contains("master key") && e.contains("missing") && e.contains("will not replace"), "{e}");
        let wrong = Settings { master_key: Some(STANDARD.encode([9u8; 32])), ..test_settings(&tdb) };
        let e = format!("{:#}", build(wrong).await.err().expect("refused with another master key"));
        assert!(e.contains("sealed under master key") && e.contains("will not replace"), "{e}");
        assert!(!tdb.dir.path().join("master.key").exists(), "no key file was created");
        let after: Vec<String> = stored(&first.db).into_iter().map(|k| k.kid).collect();
        assert_eq!(after, kids, "no key was generated over the existing ones");
        // The right key starts.
        assert!(build(test_settings(&tdb)).await.is_ok());
    }

    // An emergency revocation right after a rotation promotes a key published for less than the pre-publication
    // time: the one documented exception to invariant 3 (an outage would be worse). It is flagged and audited.
    async fn emergency_revoke_of_a_fresh_rotation_is_flagged(b: Backend) {
        let tdb = TestDb::new(b);
        let clock = TestClock::at_system_time();
        let inst = instance(&tdb, &clock, KeyGenerator::test_pool()).await;
        clock.advance(DAY);
        inst.keys.rotate_now(&inst.db, Alg::Rs256, None).await.unwrap();
        let active = inst.keys.current().active_kid().to_string();
        clock.advance(60);
        let c = inst.keys.revoke(&inst.db, active.clone(), "stolen".into(), Some("ops".into())).await.unwrap();
        assert!(c.early_activation && c.promoted.is_some(), "{c:?}");
        assert_ne!(inst.keys.current().active_kid(), active);
        assert!(inst.keys.current().can_sign());
        let audit = audit_actions(&inst.db);
        assert!(audit.iter().any(|e| e.action == "key.revoke" && e.target.as_deref() == Some(active.as_str())
            && e.actor.as_deref() == Some("ops") && e.detail.as_deref().is_some_and(|d| d.contains("stolen"))));
        assert!(audit.iter().any(|e| e.detail.as_deref().is_some_and(|d| d.contains("pre-publication"))));
        // Revoking twice, or an unknown kid, is refused without change.
        assert!(matches!(inst.keys.revoke(&inst.db, active, "again".into(), None).await, Err(KeyError::AlreadyRevoked(_))));
        assert!(matches!(inst.keys.revoke(&inst.db, "nope".into(), "x".into(), None).await, Err(KeyError::NotFound(_))));
        assert!(matches!(inst.keys.revoke(&inst.db, "nope".into(), "  ".into(), None).await, Err(KeyError::Invalid(_))));
    }

    // `porta keys list | rotate | revoke`, each change with its audit row.
    async fn keys_cli(b: Backend) {
        let tdb = TestDb::new(b);
        // The CLI reads the master key from the file, as the embedded deployment does.
        let key_file = tdb.dir.path().join("master.key");
        std::fs::write(&key_file, format!("{TEST_MASTER_KEY}\n")).unwrap();
        // Keys made two days ago, so the next key is ready to take over.
        let clock = TestClock::at_system_time();
        clock.advance(-2 * DAY);
        let inst = instance(&tdb, &clock, KeyGenerator::test_pool()).await;
        let [old_active, old_next] = [inst.keys.current().active_kid().to_string(),
            lifecycle::next_at(&stored(&inst.db), Alg::Rs256, clock.now()).unwrap().kid.clone()];
        let config = tdb.dir.path().join("porta.toml");
        std::fs::write(&config, format!("database_url = \"{}\"\nmaster_key_file = \"{}\"\n", tdb.url, key_file.display())).unwrap();
        let porta = |args: &[&str]| {
            let out = assert_cmd::Command::cargo_bin("porta").unwrap()
                .current_dir(tdb.dir.path())
                .env_remove("PORTA_DATABASE_URL").env_remove("PORTA_CONFIG").env_remove("PORTA_MASTER_KEY")
                .arg("--config").arg(&config)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let list: serde_json::Value = serde_json::from_str(&porta(&["keys", "list", "--json"])).unwrap();
        let states: Vec<(&str, &str, &str)> = list.as_array().unwrap().iter()
            .map(|k| (k["alg"].as_str().unwrap(), k["kid"].as_str().unwrap(), k["state"].as_str().unwrap())).collect();
        // Grouped by family, RS256 first, newest first within each.
        assert_eq!(&states[..2], [("RS256", old_next.as_str(), "next"), ("RS256", old_active.as_str(), "active")]);
        assert_eq!(states.iter().map(|s| s.0).collect::<Vec<_>>(), ["RS256", "RS256", "ES256", "ES256", "EdDSA", "EdDSA"]);
        let text = porta(&["keys", "list"]);
        assert!(text.contains("REMOVAL DUE") && text.contains("ALG") && text.contains(&old_active), "{text}");
        assert!(text.lines().any(|l| l.contains("EdDSA") && l.contains("active")), "{text}");

        let rotated: serde_json::Value = serde_json::from_str(&porta(&["keys", "rotate", "--json"])).unwrap();
        assert_eq!(rotated["promoted"], old_next.as_str());
        let new_next = rotated["created"][0].as_str().unwrap().to_string();
        let list: serde_json::Value = serde_json::from_str(&porta(&["keys", "list", "--json"])).unwrap();
        let state = |kid: &str| list.as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap()["state"].as_str().unwrap().to_string();
        assert_eq!(state(&old_active), "retiring");
        assert_eq!(state(&old_next), "active");
        assert_eq!(state(&new_next), "next");
        // The running instance picks the change up at its next reload; the old key still verifies meanwhile.
        inst.keys.reload(&inst.db).await.unwrap();
        assert!(inst.keys.current().published_kids().any(|k| k == old_active));

        // Rotating one family by name leaves the others alone.
        let active = |alg: Alg| lifecycle::active_at(&stored(&inst.db), alg, porta::clock::SystemClock.now()).unwrap().kid.clone();
        let (es_before, ed_before) = (active(Alg::Es256), active(Alg::EdDsa));
        let rotated: serde_json::Value = serde_json::from_str(&porta(&["keys", "rotate", "--alg", "ES256", "--json"])).unwrap();
        let es_now = rotated["promoted"].as_str().unwrap().to_string();
        assert_eq!(row(&stored(&inst.db), &es_now).alg, "ES256");
        assert_ne!(es_now, es_before);
        assert_eq!(active(Alg::Es256), es_now);
        assert_eq!(active(Alg::EdDsa), ed_before);
        assert_eq!(active(Alg::Rs256), old_next);
        // Revoking the active EdDSA key promotes the next EdDSA key at once and touches nothing else.
        let revoked: serde_json::Value =
            serde_json::from_str(&porta(&["keys", "revoke", &ed_before, "--reason", "test", "--json"])).unwrap();
        let ed_now = revoked["promoted"].as_str().unwrap().to_string();
        assert_eq!(row(&stored(&inst.db), &ed_now).alg, "EdDSA");
        assert_eq!(active(Alg::EdDsa), ed_now);
        assert_eq!((active(Alg::Es256), active(Alg::Rs256)), (es_now.clone(), old_next.clone()));
        let bad = assert_cmd::Command::cargo_bin("porta").unwrap()
            .current_dir(tdb.dir.path())
            .env_remove("PORTA_DATABASE_URL").env_remove("PORTA_CONFIG").env_remove("PORTA_MASTER_KEY")
            .arg("--config").arg(&config)
            .args(["keys", "rotate", "--alg", "HS256"])
            .output()
            .unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("RS256, ES256 or EdDSA"));

        let out = porta(&["keys", "revoke", &old_active, "--reason", "laptop stolen"]);
        assert!(out.contains("revoked"), "{out}");
        let audit = audit_actions(&inst.db);
        assert!(audit.iter().any(|e| e.action == "key.rotate" && e.actor.as_deref() == Some("cli")));
        assert!(audit.iter().any(|e| e.action == "key.revoke" && e.actor.as_deref() == Some("cli")
            && e.target.as_deref() == Some(old_active.as_str())));
        let revoked = row(&stored(&inst.db), &old_active).clone();
        assert!(revoked.revoked_at.is_some() && revoked.sealed_private.is_none());
        assert_eq!(revoked.revoke_reason.as_deref(), Some("laptop stolen"));
        inst.keys.reload(&inst.db).await.unwrap();
        assert!(!inst.keys.current().published_kids().any(|k| k == old_active));
    }
}

#[test]
fn removed_and_unknown_keys_do_not_verify() {
    // A set built after a key was revoked no longer accepts its tokens.
    let generator = KeyGenerator::test_pool();
    let settings = Settings::default();
    let clock = TestClock::new(1_000_000);
    let master = porta::keys::MasterKey::parse(TEST_MASTER_KEY).unwrap();
    let keys = Keys::new(
        master.clone(),
        Arc::new(clock.clone()),
        generator.clone(),
        &settings,
    );
    let mut table: Vec<SigningKey> = (0..2)
        .map(|i| {
            let g = generator.generate(2048).unwrap();
            SigningKey {
                sealed_private: Some(
                    porta::keys::seal::seal(&master, &g.kid, &g.private_der).unwrap(),
                ),
                kid: g.kid,
                alg: "RS256".into(),
                bits: 2048,
                public_n: g.n,
                public_e: g.e,
                master_key_id: master.id().into(),
                created_at: 0,
                published_at: 0,
                activates_at: i * 2_000_000,
                superseded_at: (i == 0).then_some(2_000_000),
                revoked_at: None,
                revoke_reason: None,
                public_x: None,
                public_y: None,
            }
        })
        .collect();
    keys.load_rows(&table, clock.now()).unwrap();
    let token = mint(&keys.current(), clock.now(), 60);
    keys.current()
        .verify::<Claims>(&token, &validation())
        .unwrap();
    table[0].revoked_at = Some(clock.now());
    table[0].sealed_private = None;
    keys.load_rows(&table, clock.now()).unwrap();
    assert!(matches!(
        keys.current().verify::<Claims>(&token, &validation()),
        Err(KeyError::UnknownKid)
    ));
    assert!(
        !keys.current().can_sign(),
        "nothing signs until rotation promotes the next key"
    );
}
