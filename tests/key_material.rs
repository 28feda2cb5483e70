//! Invariant 4 of the key lifecycle (no private key material in the JWKS, the logs, or the database in plain
//! text), in a test binary of its own: the check captures `tracing` output, and tracing's callsite interest is
//! process-global. In the shared `api` binary, a callsite first registered by another test's thread at the moment
//! the capture started could stay "never" for it, and the capture then missed the audit lines (found by running the
//! suite in a loop). Alone in its process, nothing else registers callsites concurrently.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use porta::clock::{Clock, TestClock};
use porta::config::Settings;
use porta::db::Db;
use porta::db::models::audit;
use porta::db::models::signing_keys::{self as rows, SigningKey};
use porta::keys::rotation;
use porta::keys::{Alg, KeyGenerator, Keys, lifecycle};

#[macro_use]
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{TEST_MASTER_KEY, TestDb, test_settings};

const DAY: i64 = 24 * 3600;

async fn open_db(settings: &Settings) -> Db {
    let s = settings.clone();
    tokio::task::spawn_blocking(move || porta::startup::open_database(&s))
        .await
        .unwrap()
        .expect("database opens")
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

/// A `tracing` writer into a shared buffer.
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

both_backends! {
    async fn invariant_4_no_private_material_exposed(b: Backend) {
        let tdb = TestDb::new(b);
        let clock = TestClock::at_system_time();
        let settings = test_settings(&tdb);
        let db = open_db(&settings).await;
        let generator = KeyGenerator::test_pool();
        let keys = Keys::new(
            porta::keys::MasterKey::parse(TEST_MASTER_KEY).unwrap(),
            Arc::new(clock.clone()),
            generator,
            &settings,
        );
        // Every change of the lifecycle, synchronously on this thread so a capturing subscriber sees its logs.
        let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let logs = logs.clone();
            move || LogBuf(logs.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Other tests' threads may have cached "nobody listens" for these callsites; ask again now that this
            // thread has a subscriber.
            tracing::callsite::rebuild_interest_cache();
            let mut conn = db.conn().unwrap();
            let ctx = keys.ctx();
            rotation::ensure(&mut conn, &ctx, clock.now()).unwrap();
            for _ in 0..3 {
                clock.advance(31 * DAY);
                rotation::ensure(&mut conn, &ctx, clock.now()).unwrap();
            }
            clock.advance(DAY);
            for alg in Alg::ALL {
                rotation::rotate_now(&mut conn, &ctx, alg, clock.now(), Some("test")).unwrap();
                let active = lifecycle::active_at(&rows::all(&mut conn).unwrap(), alg, clock.now()).unwrap().kid.clone();
                rotation::revoke(&mut conn, &ctx, &active, "test", clock.now(), Some("test")).unwrap();
            }
            keys.load_rows(&rows::all(&mut conn).unwrap(), clock.now()).unwrap();
            tracing::info!(keys = ?keys, set = ?keys.current(), rows = ?rows::all(&mut conn).unwrap(), "debug forms");
        });
        let all = stored(&db);
        let view = lifecycle::view(&all, clock.now(), &keys.timing());
        assert!(view.iter().any(|v| v.state == lifecycle::KeyState::Retired));
        assert!(view.iter().any(|v| v.state == lifecycle::KeyState::Revoked));
        for v in &view {
            let gone = matches!(v.state, lifecycle::KeyState::Retired | lifecycle::KeyState::Revoked);
            assert_eq!(v.key.sealed_private.is_none(), gone, "{:?} {:?}", v.state, v.key);
        }
        // The private keys these rows came from (the test pool hands out the same keys in the same order).
        assert_eq!(lifecycle::families(&all), Alg::ALL);
        for alg in Alg::ALL {
            assert!(view.iter().any(|v| v.key.alg == alg.as_str() && v.state == lifecycle::KeyState::Retired), "{alg}");
            assert!(view.iter().any(|v| v.key.alg == alg.as_str() && v.state == lifecycle::KeyState::Revoked), "{alg}");
        }
        let pool = KeyGenerator::test_pool();
        let rsa_rows = all.iter().filter(|k| k.alg == "RS256").count();
        // A 24-byte run of each private key: from the middle of an RSA DER (inside the private exponent). EC and
        // Ed25519 keys are fresh per generation (the test generator kept them), and only the private scalar (seed)
        // part of their PKCS#8 DER is secret, the rest holds the public key: offset 36 for P-256 (after the
        // algorithm identifiers and `04 20`), 16 for Ed25519. Offsets are multiples of 3, so each run's base64 is
        // also a substring of the whole key's base64.
        let mut chunks: Vec<Vec<u8>> = (0..rsa_rows + 2)
            .map(|_| {
                let der = pool.generate(2048).unwrap().private_der.to_vec();
                let at = der.len() / 2 / 3 * 3;
                der[at..at + 24].to_vec()
            })
            .collect();
        let issued = KeyGenerator::test_issued();
        for k in all.iter().filter(|k| k.alg != "RS256") {
            let g = issued.iter().find(|g| g.kid == k.kid).expect("the test generator made this key");
            let at = if g.alg == Alg::Es256 { 36 } else { 16 };
            chunks.push(g.private_der[at..at + 24].to_vec());
        }
        let master = STANDARD.decode(TEST_MASTER_KEY).unwrap();
        let needles: Vec<Vec<u8>> = chunks
            .into_iter()
            .flat_map(|chunk| {
                [STANDARD.encode(&chunk).into_bytes(), URL_SAFE_NO_PAD.encode(&chunk).into_bytes(), chunk]
            })
            .chain([master.clone(), TEST_MASTER_KEY.as_bytes().to_vec()])
            .collect();
        let contains = |hay: &[u8], needle: &[u8]| {
            needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
        };
        for k in &all {
            let cells = [
                k.sealed_private.clone().unwrap_or_default(),
                k.public_n.as_bytes().to_vec(),
                k.public_e.as_bytes().to_vec(),
                k.public_x.clone().unwrap_or_default().into_bytes(),
                k.public_y.clone().unwrap_or_default().into_bytes(),
                k.master_key_id.as_bytes().to_vec(),
            ];
            for cell in &cells {
                for n in &needles {
                    assert!(!contains(cell, n), "private or master key material in the row of {}", k.kid);
                }
            }
        }
        for entry in audit_actions(&db) {
            let text = format!("{entry:?}");
            for n in &needles {
                assert!(!contains(text.as_bytes(), n), "key material in the audit log");
            }
        }
        let logs = logs.lock().unwrap().clone();
        assert!(String::from_utf8_lossy(&logs).contains("key.rotate"), "the capture saw the audit lines");
        for n in &needles {
            assert!(!contains(&logs, n), "key material in the logs");
        }
        assert!(!String::from_utf8_lossy(&logs).contains("PRIVATE KEY"));
        // The JWKS: exactly the public members.
        let jwks: serde_json::Value = serde_json::from_slice(keys.current().jwks_bytes()).unwrap();
        for k in jwks["keys"].as_array().unwrap() {
            let mut members: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
            members.sort();
            match k["kty"].as_str().unwrap() {
                "RSA" => assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]),
                "EC" => assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]),
                _ => assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]),
            }
        }
    }

    // Invariant 5: N instances rotating at the same moment produce exactly one new key; also N instances
    // bootstrapping one empty database produce exactly the first two.
}
