//! The storage layer and management operations, run identically on SQLite and PostgreSQL.

use porta::db::models::{audit, clients, users};
use porta::db::{Db, StoreError};
use porta::manage::clients::NewClientInput;
use porta::manage::users::NewUserInput;
use porta::manage::{Actor, ManageError};

use crate::helpers::{Backend, TestDb};

fn open(backend: Backend) -> (TestDb, Db) {
    let tdb = TestDb::new(backend);
    let db = Db::connect(&tdb.url, 2).unwrap();
    db.migrate().unwrap();
    (tdb, db)
}

fn alice() -> NewUserInput {
    NewUserInput {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        name: Some("Alice Liddell".into()),
        password: "Wonderland-Teapot-Rabbit-3".into(),
        is_admin: false,
    }
}

fn audit_count(db: &Db) -> usize {
    audit::list(&mut db.conn().unwrap(), &audit::Filter::default(), 1000, 0)
        .unwrap()
        .len()
}

both_backends! {
    async fn migrations_are_idempotent(b: Backend) {
        let (_t, db) = open(b);
        assert!(db.migrate().unwrap().is_empty(), "second run applies nothing");
        db.ping().await.unwrap();
    }

    async fn users_round_trip(b: Backend) {
        let (_t, db) = open(b);
        let mut c = db.conn().unwrap();
        let actor = Actor::cli();
        let u = porta::manage::users::add(&mut c, &alice(), &Default::default(), &actor, 100).unwrap();
        assert_eq!(u.username, "alice");
        assert!(u.password_hash.starts_with("$argon2id$"));
        assert!(porta::crypto::password::verify("Wonderland-Teapot-Rabbit-3", &u.password_hash));

        porta::manage::users::set_disabled(&mut c, "alice", true, &actor, 101).unwrap();
        porta::manage::users::set_admin(&mut c, "alice", true, &actor, 102).unwrap();
        porta::manage::users::set_password(&mut c, "alice", "Looking-Glass-Chessboard-9", &Default::default(), &actor, 103).unwrap();
        let u = users::by_username(&mut c, "alice").unwrap().unwrap();
        assert!(u.disabled && u.is_admin);
        assert!(porta::crypto::password::verify("Looking-Glass-Chessboard-9", &u.password_hash));
        assert_eq!(u.updated_at, 103);

        let found = users::list(&mut c, Some("Lidd"), 10, 0).unwrap();
        assert_eq!(found.len(), 1);
        assert!(users::list(&mut c, Some("nobody"), 10, 0).unwrap().is_empty());
        drop(c);
        assert_eq!(audit_count(&db), 4, "add, disable, grant admin, set password");
    }

    async fn bad_user_input_writes_nothing(b: Backend) {
        let (_t, db) = open(b);
        let mut c = db.conn().unwrap();
        let actor = Actor::cli();
        porta::manage::users::add(&mut c, &alice(), &Default::default(), &actor, 1).unwrap();
        let before = audit_count(&db);

        let dup = porta::manage::users::add(&mut c, &alice(), &Default::default(), &actor, 2).unwrap_err();
        assert!(matches!(dup, ManageError::Store(StoreError::Conflict(_))), "{dup:?}");
        assert_eq!(dup.to_string(), "user \"alice\" already exists");

        let empty = NewUserInput { username: "bob".into(), password: String::new(), ..alice() };
        assert!(matches!(porta::manage::users::add(&mut c, &empty, &Default::default(), &actor, 2), Err(ManageError::Invalid(_))));
        let bad_name = NewUserInput { username: "bad name".into(), ..alice() };
        assert!(matches!(porta::manage::users::add(&mut c, &bad_name, &Default::default(), &actor, 2), Err(ManageError::Invalid(_))));
        let bad_mail = NewUserInput { username: "carol".into(), email: Some("nope".into()), ..alice() };
        assert!(matches!(porta::manage::users::add(&mut c, &bad_mail, &Default::default(), &actor, 2), Err(ManageError::Invalid(_))));
        let ghost = porta::manage::users::set_disabled(&mut c, "ghost", true, &actor, 2).unwrap_err();
        assert_eq!(ghost.to_string(), "no user named \"ghost\"");

        assert_eq!(users::count(&mut c).unwrap(), 1);
        drop(c);
        assert_eq!(audit_count(&db), before, "refused operations leave no audit rows");
    }

    async fn clients_round_trip(b: Backend) {
        let (_t, db) = open(b);
        let mut c = db.conn().unwrap();
        let actor = Actor::cli();
        let input = NewClientInput {
            name: "Wiki".into(),
            redirect_uris: vec!["https://wiki.example.com/cb".into(), "http://127.0.0.1:7000/cb".into()],
            post_logout_redirect_uris: vec!["https://wiki.example.com/".into()],
            ..Default::default()
        };
        let reg = porta::manage::clients::add(&mut c, &input, &actor, 10).unwrap();
        let secret = reg.client_secret.clone().unwrap();
        let stored = clients::by_id(&mut c, &reg.client_id).unwrap().unwrap();
        assert_eq!(stored.redirect_uris.len(), 2);
        assert_eq!(stored.grant_types, vec!["authorization_code", "refresh_token"]);
        let hash = stored.secret_hash.clone().unwrap();
        assert_ne!(hash, secret, "only the hash is stored");
        assert!(porta::crypto::secrets::verify_secret(&secret, &hash));

        let rotated = porta::manage::clients::rotate_secret(&mut c, &reg.client_id, &actor, 11).unwrap();
        let stored = clients::by_id(&mut c, &reg.client_id).unwrap().unwrap();
        assert!(!porta::crypto::secrets::verify_secret(&secret, stored.secret_hash.as_ref().unwrap()));
        assert!(porta::crypto::secrets::verify_secret(
            rotated.client_secret.as_ref().unwrap(),
            stored.secret_hash.as_ref().unwrap()
        ));

        porta::manage::clients::set_uris(
            &mut c, &reg.client_id, &["https://wiki.example.com/new".into()], &[], &actor, 12,
        ).unwrap();
        let stored = clients::by_id(&mut c, &reg.client_id).unwrap().unwrap();
        assert_eq!(stored.redirect_uris, vec!["https://wiki.example.com/new"]);
        assert!(stored.post_logout_redirect_uris.is_empty());

        let public = porta::manage::clients::add(
            &mut c,
            &NewClientInput { name: "SPA".into(), is_public: true, ..input.clone() },
            &actor,
            13,
        ).unwrap();
        assert!(public.client_secret.is_none());
        assert!(clients::by_id(&mut c, &public.client_id).unwrap().unwrap().secret_hash.is_none());

        porta::manage::clients::remove(&mut c, &reg.client_id, &actor, 14).unwrap();
        assert!(clients::by_id(&mut c, &reg.client_id).unwrap().is_none());
        assert_eq!(clients::list(&mut c).unwrap().len(), 1);
    }

    async fn bad_client_input_writes_nothing(b: Backend) {
        let (_t, db) = open(b);
        let mut c = db.conn().unwrap();
        let actor = Actor::cli();
        let good = NewClientInput {
            name: "App".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            ..Default::default()
        };
        for (bad, why) in [
            (NewClientInput { redirect_uris: vec!["http://app.example.com/cb".into()], ..good.clone() }, "plain http"),
            (NewClientInput { redirect_uris: vec!["https://app.example.com/cb#x".into()], ..good.clone() }, "fragment"),
            (NewClientInput { redirect_uris: vec!["/cb".into()], ..good.clone() }, "relative"),
            (NewClientInput { redirect_uris: vec![], ..good.clone() }, "no redirect"),
            (NewClientInput { name: " ".into(), ..good.clone() }, "empty name"),
            (NewClientInput { grant_types: vec!["password".into()], ..good.clone() }, "grant"),
            (NewClientInput { is_public: true, grant_types: vec!["client_credentials".into()], ..good.clone() }, "public cc"),
        ] {
            let e = porta::manage::clients::add(&mut c, &bad, &actor, 1).unwrap_err();
            assert!(matches!(e, ManageError::Invalid(_)), "{why}: {e:?}");
        }
        assert!(matches!(
            porta::manage::clients::remove(&mut c, "nope", &actor, 1),
            Err(ManageError::Invalid(_))
        ));
        assert!(matches!(
            porta::manage::clients::rotate_secret(&mut c, "nope", &actor, 1),
            Err(ManageError::Invalid(_))
        ));
        assert!(clients::list(&mut c).unwrap().is_empty());
        drop(c);
        assert_eq!(audit_count(&db), 0);
    }

    async fn write_tx_rolls_back_on_error(b: Backend) {
        let (_t, db) = open(b);
        let r: Result<(), ManageError> = db.run(|c| {
            porta::db::write_tx(c, |c| {
                porta::manage::users::add(c, &alice(), &Default::default(), &Actor::cli(), 1)?;
                Err(ManageError::Invalid("abort".into()))
            })
        }).await;
        assert!(r.is_err());
        let n = db.run(users::count).await.unwrap();
        assert_eq!(n, 0, "the user insert was rolled back");
    }

    async fn audit_filters_and_pages(b: Backend) {
        let (_t, db) = open(b);
        let mut c = db.conn().unwrap();
        for i in 0..5 {
            audit::record(&mut c, &audit::Event { actor: Some("admin"), action: "key.rotate", ..Default::default() }, 100 + i).unwrap();
            audit::record(&mut c, &audit::Event { actor: Some("cli"), action: "user.add", ..Default::default() }, 200 + i).unwrap();
        }
        let keys = audit::list(&mut c, &audit::Filter { action_prefix: Some("key.".into()), ..Default::default() }, 10, 0).unwrap();
        assert_eq!(keys.len(), 5);
        let page2 = audit::list(&mut c, &audit::Filter::default(), 4, 4).unwrap();
        assert_eq!(page2.len(), 4);
        assert_eq!(page2[0].at, 200, "newest first");
        let recent = audit::list(&mut c, &audit::Filter { since: Some(202), actor: Some("cli".into()), ..Default::default() }, 10, 0).unwrap();
        assert_eq!(recent.len(), 3);
    }
}

#[test]
fn database_url_scheme_picks_the_backend() {
    use porta::db::{Backend as B, backend_of};
    assert_eq!(backend_of("sqlite://data/porta.db").unwrap(), B::Sqlite);
    assert_eq!(backend_of("postgres://u@h/db").unwrap(), B::Postgres);
    assert_eq!(backend_of("postgresql://u@h/db").unwrap(), B::Postgres);
    assert!(backend_of("mysql://u@h/db").is_err());
    assert!(backend_of("data/porta.db").is_err());
}

#[actix_rt::test]
async fn unreachable_database_is_unavailable_not_a_panic() {
    let db = Db::connect("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
    assert!(matches!(db.ping().await, Err(StoreError::Unavailable(_))));
}

fn record(c: &mut porta::db::AnyConnection, action: &str) -> Result<(), StoreError> {
    let ev = audit::Event {
        actor: None,
        action,
        target: None,
        ip: None,
        detail: None,
    };
    audit::record(c, &ev, 1)
}

/// SQLite writers of one process take turns at the writer gate, not in SQLite's busy handler: with the busy
/// timeout at zero (SQLite would fail a waiting writer at once), eight threads writing through `write_tx` on a
/// pool of four all succeed. A `write_tx` nested in another is refused at once rather than waiting on itself.
#[test]
fn sqlite_writers_queue_in_the_process_not_in_sqlite() {
    let tdb = TestDb::new(Backend::Sqlite);
    let db = Db::connect(&tdb.url, 4).unwrap();
    db.migrate().unwrap();
    let before = audit_count(&db);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..40 {
                    let mut c = db.conn().unwrap();
                    diesel::connection::SimpleConnection::batch_execute(
                        &mut *c,
                        "PRAGMA busy_timeout = 0",
                    )
                    .unwrap();
                    porta::db::write_tx(&mut c, |c| {
                        record(c, "test.outer")?;
                        let nested = porta::db::write_tx(c, |c| record(c, "test.nested"));
                        assert!(nested.is_err(), "no nested write transaction");
                        record(c, "test.outer")
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no writer failed");
    }
    assert_eq!(audit_count(&db) - before, 8 * 40 * 2);
}

/// `serve` leaves WAL checkpoints to its background job: its connections never checkpoint on commit, and a
/// checkpoint copies every committed page.
#[test]
fn sqlite_checkpoints_happen_in_the_background_when_serving() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Auto {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        wal_autocheckpoint: i64,
    }
    let tdb = TestDb::new(Backend::Sqlite);
    let cli = Db::connect(&tdb.url, 1).unwrap();
    let auto = |db: &Db| {
        diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result::<Auto>(&mut *db.conn().unwrap())
            .unwrap()
            .wal_autocheckpoint
    };
    assert_eq!(auto(&cli), 1000, "the CLI keeps SQLite's default");
    let served = Db::connect(&tdb.url, 1).unwrap();
    served.checkpoint_in_background();
    served.migrate().unwrap();
    assert_eq!(auto(&served), 0);
    for _ in 0..20 {
        porta::db::write_tx(&mut served.conn().unwrap(), |c| record(c, "test.write")).unwrap();
    }
    let (log, done) = served.checkpoint().unwrap().expect("SQLite checkpoints");
    assert!(log > 0, "the writes are in the WAL");
    assert_eq!(log, done, "every page was copied");
}
