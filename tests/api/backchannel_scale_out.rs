//! Back-channel logout across real `porta serve` processes on one PostgreSQL database: both instances run their
//! delivery loops (the default two-second poll) against the same outbox, and each logout token reaches the
//! relying party exactly once.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use porta::clock::SystemClock;

use crate::backchannel_support::Receiver;
use crate::helpers::{Backend, TestDb, browser};
use crate::scale_out::{Deployment, Outcome, authorize_url, follow, free_port, login};

const SESSIONS: usize = 6;

#[actix_rt::test]
async fn two_serving_processes_deliver_each_logout_token_once() {
    let Some(b) = Backend::postgres() else { return };
    let dep = Deployment::new(TestDb::new(b));
    let issuer = format!("http://127.0.0.1:{}", dep.issuer_port);
    let (a, bb) = tokio::join!(dep.start(dep.issuer_port), dep.start(free_port()));
    let rp = Receiver::serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &issuer,
        &a.url("/jwks.json"),
        Arc::new(SystemClock),
    )
    .await;
    let reg = dep.cli(&[
        "client",
        "add",
        "--name",
        "Notes",
        "--first-party",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--backchannel-logout-uri",
        &rp.uri,
    ]);
    let id = reg["client_id"].as_str().unwrap().to_string();

    // Separate browsers, alternating instances: SESSIONS sign-in sessions of one user, each with a code.
    for i in 0..SESSIONS {
        let inst = if i % 2 == 0 { &a } else { &bb };
        let browser = browser();
        let res = browser
            .get(authorize_url(inst, &id, &format!("s{i}"), ""))
            .send()
            .await
            .unwrap();
        let Outcome::LoginForm(html) = follow(&browser, inst, res).await else {
            panic!("a fresh browser gets the form")
        };
        let Outcome::Redirected(q) = login(&browser, inst, &html).await else {
            panic!("signed in")
        };
        assert!(q.contains_key("code"), "{q:?}");
    }

    // A password change ends every session; the command returns without waiting for any relying party.
    let mut cmd = dep
        .command()
        .args(["user", "set-password", "admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cmd.stdin
        .take()
        .unwrap()
        .write_all(b"a-brand-new-long-password-42\n")
        .unwrap();
    let out = cmd.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while rp.seen(|s| s.accepted.len()) < SESSIONS {
        assert!(
            Instant::now() < deadline,
            "only {} delivered",
            rp.seen(|s| s.accepted.len())
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more polls of both instances: nothing is sent again.
    actix_rt::time::sleep(Duration::from_secs(5)).await;
    rp.seen(|s| {
        assert!(s.rejected.is_empty(), "{:?}", s.rejected);
        assert_eq!(s.attempts.len(), SESSIONS, "each token sent once");
        let mut jtis: Vec<&str> = s
            .accepted
            .iter()
            .map(|t| t["jti"].as_str().unwrap())
            .collect();
        jtis.sort();
        jtis.dedup();
        assert_eq!(jtis.len(), SESSIONS);
        let mut sids: Vec<&str> = s
            .accepted
            .iter()
            .map(|t| t["sid"].as_str().unwrap())
            .collect();
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), SESSIONS, "one token per ended session");
        assert!(s.accepted.iter().all(|t| t["aud"] == id.as_str()));
    });
}
