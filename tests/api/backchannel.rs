//! OIDC Back-Channel Logout 1.0 end to end: a session ends, the outbox holds one message per client of that
//! session with a back-channel URI, and delivery passes driven by the test clock POST logout tokens to a real
//! receiver that verifies them against the JWKS. Retries with backoff, giving up, and two instances on one
//! database delivering each token exactly once.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Arc;

use porta::backchannel::deliver::{Deliverer, PassReport};
use porta::clock::Clock;
use porta::db::models::session_clients;
use reqwest::StatusCode;

use crate::backchannel_support::*;
use crate::helpers::{TestApp, spawn_app_with, test_settings};
use crate::sso::{get, sign_in_admin};

both_backends! {
    async fn a_session_end_delivers_one_verified_logout_token(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let rp = Receiver::start(&app).await;
        let with_bc = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let without = register_rp(&app, "Wiki", None).await;
        let (browser, code) = signed_in(&app, &with_bc).await;
        // Single sign-on into a second client that did not register a back-channel URI.
        let res = get(&browser, &crate::sso::authorize_url(&app, &without, &[])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let (user_id, sid) = session_of(&app, &code).await;

        assert_eq!(pass(&app).await, PassReport::default(), "nothing queued yet");
        end_session(&app, &browser, &code).await;
        assert_eq!(rp.seen(|s| s.attempts.len()), 0, "the logout response did not wait for a delivery");
        let queued = outbox(&app).await;
        assert_eq!(queued.len(), 1, "one message, for the client with a back-channel URI");
        assert_eq!(queued[0].client_id, with_bc);

        let report = pass(&app).await;
        assert_eq!(report, PassReport { delivered: 1, retrying: 0, failed: 0 });
        let accepted = rp.seen(|s| {
            assert!(s.rejected.is_empty(), "{:?}", s.rejected);
            s.accepted.clone()
        });
        assert_eq!(accepted.len(), 1);
        let t = &accepted[0];
        assert_eq!(t["aud"], with_bc.as_str());
        assert_eq!(t["sub"], user_id.as_str(), "sub as in the ID tokens");
        assert_eq!(t["sid"], sid.as_str());
        assert_eq!(t["jti"], queued[0].jti.as_str());
        assert_eq!(t["iat"], app.clock.now());
        assert!(t["exp"].as_i64().unwrap() > app.clock.now());

        // Settled: later passes send nothing more.
        app.clock.advance(3600);
        assert_eq!(pass(&app).await.attempted(), 0);
        assert_eq!(rp.seen(|s| s.attempts.len()), 1);
        let row = &outbox(&app).await[0];
        assert!(row.delivered_at.is_some() && row.claimed_until.is_none(), "{row:?}");
        assert_eq!(row.attempts, 1);
        let audit = audit_rows(&app, "backchannel.delivered").await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].0.as_deref(), Some(with_bc.as_str()));
        // The session's clients are forgotten once told.
        let s = sid.clone();
        let left = app.state.db.run(move |c| session_clients::clients_of(c, &s)).await.unwrap();
        assert!(left.is_empty());

        let disco: serde_json::Value = get(&browser, &app.url("/.well-known/openid-configuration"))
            .await.json().await.unwrap();
        assert_eq!(disco["backchannel_logout_supported"], true);
        assert_eq!(disco["backchannel_logout_session_supported"], true);
    }

    async fn a_receiver_that_answers_503_is_retried_with_backoff_until_it_is_up(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let rp = Receiver::start(&app).await;
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        rp.answer(503);
        end_session(&app, &browser, &code).await;
        let t0 = app.clock.now();

        assert_eq!(pass(&app).await.retrying, 1);
        let row = &outbox(&app).await[0];
        assert_eq!((row.attempts, row.next_attempt_at), (1, t0 + 5));
        assert_eq!(row.last_error.as_deref(), Some("HTTP 503"));
        assert!(row.claimed_until.is_none(), "released for the next try");
        // Not due yet: nothing is sent before the backoff has passed.
        app.clock.advance(4);
        assert_eq!(pass(&app).await.attempted(), 0);
        app.clock.advance(1);
        assert_eq!(pass(&app).await.retrying, 1);
        let row = &outbox(&app).await[0];
        assert_eq!((row.attempts, row.next_attempt_at), (2, t0 + 5 + 10), "the wait doubles");

        rp.answer(200);
        app.clock.advance(10);
        assert_eq!(pass(&app).await.delivered, 1);
        app.clock.advance(7200);
        assert_eq!(pass(&app).await.attempted(), 0);
        let (attempts, accepted) = rp.seen(|s| (s.attempts.clone(), s.accepted.len()));
        assert_eq!(accepted, 1, "delivered once");
        assert_eq!(attempts.len(), 3);
        assert!(attempts.iter().all(|j| *j == attempts[0]), "every retry is the same token id");
        let row = &outbox(&app).await[0];
        assert_eq!(row.attempts, 3);
        assert!(row.delivered_at.is_some() && row.last_error.is_none());
    }

    async fn redirects_from_the_receiver_are_not_followed(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let rp = Receiver::start(&app).await;
        rp.answer(307);
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;
        assert_eq!(pass(&app).await.retrying, 1);
        assert_eq!(rp.seen(|s| s.attempts.len()), 1, "one POST, the redirect not followed");
        assert_eq!(outbox(&app).await[0].last_error.as_deref(), Some("HTTP 307"));
    }

    async fn a_message_held_by_an_instance_that_died_is_sent_once_its_lease_runs_out(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let rp = Receiver::start(&app).await;
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;
        // Another instance claimed it and was killed before sending: the claim is all that is left of it.
        let (id, now) = (outbox(&app).await[0].id.clone(), app.clock.now());
        let held = app.state.db
            .run(move |c| porta::db::models::logout_outbox::claim(c, &id, now, now + 40))
            .await
            .unwrap();
        assert!(held.is_some());
        assert_eq!(pass(&app).await.attempted(), 0, "held by the other instance");
        app.clock.advance(41);
        assert_eq!(pass(&app).await.delivered, 1);
        assert_eq!(rp.seen(|s| s.attempts.len()), 1);
    }

    async fn a_closed_port_is_retried_and_delivered_once_the_receiver_listens(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let uri = format!("http://127.0.0.1:{port}/bc");
        let client = register_rp(&app, "Notes", Some(&uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;

        assert_eq!(pass(&app).await.retrying, 1);
        let row = &outbox(&app).await[0];
        assert_eq!(row.last_error.as_deref(), Some("connection failed"));

        let rp = Receiver::start_on(&app, TcpListener::bind(("127.0.0.1", port)).unwrap()).await;
        assert_eq!(rp.uri, uri);
        app.clock.advance(5);
        assert_eq!(pass(&app).await.delivered, 1);
        app.clock.advance(7200);
        assert_eq!(pass(&app).await.attempted(), 0);
        assert_eq!(rp.seen(|s| s.accepted.len()), 1);
    }

    async fn delivery_gives_up_after_max_attempts_and_the_console_shows_it(backend: Backend) {
        let app = spawn_quiet(backend, |s| s.backchannel.max_attempts = 3).await;
        let rp = Receiver::start(&app).await;
        rp.answer(500);
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;

        assert_eq!(pass(&app).await.retrying, 1);
        app.clock.advance(5);
        assert_eq!(pass(&app).await.retrying, 1);
        app.clock.advance(10);
        assert_eq!(pass(&app).await.failed, 1);
        app.clock.advance(86_400);
        assert_eq!(pass(&app).await.attempted(), 0, "given up for good");
        let row = &outbox(&app).await[0];
        assert!(row.failed_at.is_some() && row.delivered_at.is_none());
        assert_eq!(row.attempts, 3);
        let audit = audit_rows(&app, "backchannel.failed").await;
        assert_eq!(audit.len(), 1);
        assert!(audit[0].1.as_deref().unwrap().contains("HTTP 500"), "{audit:?}");
        assert_eq!(rp.seen(|s| s.attempts.len()), 3);

        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let html = get(&admin, &app.url(&format!("/admin/clients/{client}"))).await.text().await.unwrap();
        assert!(html.contains("Back-channel logout deliveries"), "{html}");
        assert!(html.contains("<td>failed</td>") && html.contains("HTTP 500"), "{html}");
    }

    async fn the_serving_instance_delivers_by_itself_and_purges_old_messages(backend: Backend) {
        // The spawned loop of `porta serve`, at a short interval: real time passes here, so the test polls.
        let app = spawn_app_with(backend, |s| {
            s.backchannel.poll_interval = std::time::Duration::from_millis(100);
        })
        .await;
        let rp = Receiver::start(&app).await;
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;
        eventually("the loop delivers", || async { rp.seen(|s| s.accepted.len()) == 1 }).await;
        eventually("the row is settled", || async {
            outbox(&app).await.iter().all(|r| r.delivered_at.is_some())
        })
        .await;
        app.clock.advance(8 * 86_400);
        eventually("settled rows a week old are purged", || async { outbox(&app).await.is_empty() }).await;
        assert_eq!(rp.seen(|s| s.attempts.len()), 1);
    }

    async fn a_message_for_a_client_that_dropped_its_uri_is_given_up(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let rp = Receiver::start(&app).await;
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (browser, code) = signed_in(&app, &client).await;
        end_session(&app, &browser, &code).await;
        let (cid, now) = (client.clone(), app.clock.now());
        app.state.db.run(move |c| {
            let change = porta::manage::clients::ClientUpdate {
                backchannel_logout_uri: Some(None),
                ..Default::default()
            };
            porta::manage::clients::update(c, &cid, &change, &porta::manage::Actor::cli(), now)
        }).await.map_err(|e| e.to_string()).unwrap();

        assert_eq!(pass(&app).await.failed, 1, "nowhere to send it: no retries");
        assert_eq!(rp.seen(|s| s.attempts.len()), 0);
        let row = &outbox(&app).await[0];
        assert_eq!(row.last_error.as_deref(), Some("the client no longer has a back-channel logout URI"));
    }

    async fn two_instances_on_one_database_deliver_each_token_exactly_once(backend: Backend) {
        let app = spawn_quiet(backend, |_| {}).await;
        let other = second_instance(&app).await;
        let rp = Receiver::start(&app).await;
        let client = register_rp(&app, "Notes", Some(&rp.uri)).await;
        let (_, code) = signed_in(&app, &client).await;
        let (user_id, _) = session_of(&app, &code).await;
        // Many sessions of this client ending at once (as an admin ending every session of a user would).
        const SESSIONS: usize = 40;
        let now = app.clock.now();
        let (cid, uid) = (client.clone(), user_id.clone());
        app.state
            .db
            .run(move |c| {
                porta::db::write_tx(c, |c| {
                    for i in 0..SESSIONS {
                        let sid = format!("sid-{i}");
                        session_clients::record(c, &sid, &cid, &uid, now)?;
                        porta::backchannel::enqueue_session_ended(c, &uid, &sid, now)?;
                    }
                    Ok::<_, porta::db::StoreError>(())
                })
            })
            .await
            .unwrap();

        let (a, b) = (
            Deliverer::new(&app.state.settings.backchannel).unwrap(),
            Deliverer::new(&other.settings.backchannel).unwrap(),
        );
        let (ra, rb) = tokio::join!(a.run_pass(&app.state, now), b.run_pass(&other, now));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.delivered + rb.delivered, SESSIONS, "{ra:?} {rb:?}");
        // A second round finds nothing left for either.
        let (ra, rb) = tokio::join!(a.run_pass(&app.state, now + 60), b.run_pass(&other, now + 60));
        assert_eq!(ra.unwrap().attempted() + rb.unwrap().attempted(), 0);

        let jtis: Vec<String> = rp.seen(|s| {
            assert!(s.rejected.is_empty(), "{:?}", s.rejected);
            s.accepted.iter().map(|t| t["jti"].as_str().unwrap().to_string()).collect()
        });
        assert_eq!(jtis.len(), SESSIONS, "each token sent once");
        assert_eq!(jtis.iter().collect::<HashSet<_>>().len(), SESSIONS);
        assert!(outbox(&app).await.iter().all(|r| r.delivered_at.is_some() && r.attempts == 1));
        assert_eq!(audit_rows(&app, "backchannel.delivered").await.len(), SESSIONS);
    }
}

/// A second Porta instance in this process over `app`'s database, with its own pool and key set.
async fn second_instance(app: &TestApp) -> actix_web::web::Data<porta::state::AppState> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = test_settings(&app.db);
    settings.issuer = app.address.clone();
    settings.backchannel = app.state.settings.backchannel.clone();
    let instance = porta::startup::Application::build_with(
        settings,
        Arc::new(app.clock.clone()),
        listener,
        porta::keys::KeyGenerator::test_pool(),
    )
    .await
    .expect("second instance builds");
    let state = instance.state.clone();
    actix_rt::spawn(instance.run_until_stopped());
    state
}

/// Waits (real time, up to ten seconds) until `check` holds: only for the spawned loop, which runs on its own.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
