//! The delivery worker: sends queued logout tokens (Back-Channel Logout 1.0, section 2.5) and records what
//! happened. Every instance runs it every `backchannel.poll_interval`; a message is claimed with a conditional
//! UPDATE before it is sent, so exactly one instance sends each attempt. The person whose session ended never
//! waits for this: the request that ended it only wrote outbox rows.
//!
//! One pass at `now` (`Deliverer::run_pass`): claim due rows (blocking pool), sign their tokens (blocking pool),
//! POST them concurrently (async, `backchannel.timeout` each, redirects not followed), then record each outcome
//! with an audit row for deliveries and give-ups. Tests call `run_pass` with a test clock's `now`.

use std::time::Duration;

use actix_web::web;

use crate::config::BackchannelSettings;
use crate::db::models::logout_outbox::{self, OutboxRow, Outcome};
use crate::db::models::{audit, clients};
use crate::db::{StoreError, write_tx};
use crate::keys::Alg;
use crate::state::AppState;
use crate::tokens::logout_token::{self, LogoutTokenClaims};
use crate::tokens::mint::client_alg;

/// Messages claimed per pass; the rest wait for the next one.
const BATCH: i64 = 100;
/// First retry delay; each further failure doubles it.
const BACKOFF_BASE_SECS: i64 = 5;
/// Longest wait between two attempts.
const BACKOFF_MAX_SECS: i64 = 3600;
/// Settled messages stay this long, for the console's delivery history and the audit trail's context.
const SETTLED_KEEP_SECS: i64 = 7 * 86_400;
/// How often the loop deletes old settled messages.
const PURGE_EVERY_SECS: i64 = 3600;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl PassReport {
    pub fn attempted(&self) -> usize {
        self.delivered + self.retrying + self.failed
    }
}

/// The wait before attempt `attempts + 1`, after `attempts` failures: exponential, capped.
pub fn backoff(attempts: i32) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    (BACKOFF_BASE_SECS << doublings).min(BACKOFF_MAX_SECS)
}

/// How an attempt that ended with `result` is recorded, given the attempts made before it.
pub fn outcome(
    attempts_before: i32,
    result: Result<(), String>,
    now: i64,
    max_attempts: u32,
) -> Outcome {
    let attempts = attempts_before.saturating_add(1);
    match result {
        Ok(()) => Outcome::Delivered,
        Err(error) if attempts as i64 >= max_attempts as i64 => Outcome::Failed { error },
        Err(error) => Outcome::Retry {
            next_attempt_at: now + backoff(attempts),
            error,
        },
    }
}

/// A claimed message, ready to send or already known to fail.
struct Job {
    row: OutboxRow,
    /// The URI and the signed token, or why there is nothing to send.
    send: Result<(String, String), Attempt>,
}

/// Why a message could not be sent, and whether that is worth another try.
enum Attempt {
    Retry(String),
    GiveUp(String),
}

/// Sends logout tokens; holds one HTTP client (connection pool) for every pass.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    settings: BackchannelSettings,
}

impl Deliverer {
    pub fn new(settings: &BackchannelSettings) -> Result<Deliverer, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Section 2.5 gives an RP no reason to redirect; following one would let a registered URI point the
            // provider's POST anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()?;
        Ok(Deliverer {
            http,
            settings: settings.clone(),
        })
    }

    /// How long a claim lasts: longer than one send can take, so a live holder never loses it, and short enough
    /// that a message claimed by an instance that then died is retried soon.
    fn lease(&self) -> i64 {
        2 * self.settings.timeout.as_secs() as i64 + 30
    }

    /// One delivery pass at `now`.
    pub async fn run_pass(&self, state: &AppState, now: i64) -> Result<PassReport, StoreError> {
        let until = now + self.lease();
        let claimed = state
            .db
            .run(move |c| {
                let mut out = Vec::new();
                for id in logout_outbox::due(c, now, BATCH)? {
                    if let Some(row) = logout_outbox::claim(c, &id, now, until)? {
                        // Logout tokens are signed like the client's ID tokens (its `id_token_alg`).
                        let uri = clients::by_id(c, &row.client_id)?.and_then(|c| {
                            let alg = client_alg(&c.id, &c.id_token_alg);
                            c.backchannel_logout_uri.map(|u| (u, alg))
                        });
                        out.push((row, uri));
                    }
                }
                Ok::<_, StoreError>(out)
            })
            .await?;
        if claimed.is_empty() {
            return Ok(PassReport::default());
        }
        let jobs = sign_all(state, claimed, now).await?;
        let mut sending = tokio::task::JoinSet::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job.send {
                Ok((uri, token)) => {
                    let http = self.http.clone();
                    let timeout = self.settings.timeout;
                    sending.spawn(async move {
                        let r = post(&http, &uri, &token, timeout).await;
                        (job.row, r.map_err(Attempt::Retry))
                    });
                }
                Err(why) => results.push((job.row, Err(why))),
            }
        }
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(r) => results.push(r),
                // A send task cannot panic short of a bug; its row's lease runs out and it is retried.
                Err(e) => tracing::error!(error = %e, "a back-channel send task failed"),
            }
        }
        let max = self.settings.max_attempts;
        state
            .db
            .run(move |c| record(c, results, until, max, now))
            .await
    }
}

/// Signs every claimed message's token on the blocking pool (RSA is CPU-bound), in its client's family.
async fn sign_all(
    state: &AppState,
    claimed: Vec<(OutboxRow, Option<(String, Alg)>)>,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    let keys = state.keys.current();
    let issuer = state.settings.issuer.clone();
    tokio::task::spawn_blocking(move || {
        claimed
            .into_iter()
            .map(|(row, uri)| {
                let send = match uri {
                    None => Err(Attempt::GiveUp(
                        "the client no longer has a back-channel logout URI".into(),
                    )),
                    Some((uri, alg)) => {
                        let claims = LogoutTokenClaims::for_message(&issuer, &row, now);
                        logout_token::mint(&keys, alg, &claims)
                            .map(|t| (uri, t))
                            .map_err(|e| Attempt::Retry(format!("signing failed: {e}")))
                    }
                };
                Job { row, send }
            })
            .collect()
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("signing task failed: {e}")))
}

/// POSTs `logout_token` form-encoded (section 2.5); 200 and 204 mean delivered (section 2.8). The error text
/// names the kind of failure only: the URI (which may carry a query secret) and response bodies stay out of it.
async fn post(
    http: &reqwest::Client,
    uri: &str,
    token: &str,
    timeout: Duration,
) -> Result<(), String> {
    let res = http
        .post(uri)
        .header(reqwest::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", token)])
        .send()
        .await;
    match res {
        Ok(r) if matches!(r.status().as_u16(), 200 | 204) => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
        Err(e) if e.is_connect() => Err("connection failed".into()),
        Err(_) => Err("request failed".into()),
    }
}

/// Records the outcomes of one pass in one transaction, with an audit row per delivery and per give-up.
fn record(
    c: &mut crate::db::AnyConnection,
    results: Vec<(OutboxRow, Result<(), Attempt>)>,
    until: i64,
    max_attempts: u32,
    now: i64,
) -> Result<PassReport, StoreError> {
    write_tx(c, |c| {
        let mut report = PassReport::default();
        for (row, result) in results {
            let o = match result {
                Ok(()) => Outcome::Delivered,
                Err(Attempt::GiveUp(error)) => Outcome::Failed { error },
                Err(Attempt::Retry(error)) => outcome(row.attempts, Err(error), now, max_attempts),
            };
            if !logout_outbox::settle(c, &row.id, until, &o, now)? {
                continue;
            }
            let attempt = row.attempts + 1;
            let (action, detail) = match &o {
                Outcome::Delivered => {
                    report.delivered += 1;
                    (
                        "backchannel.delivered",
                        format!("jti {}, attempt {attempt}", row.jti),
                    )
                }
                Outcome::Retry { error, .. } => {
                    report.retrying += 1;
                    tracing::info!(client_id = %row.client_id, attempt, error = %error, "back-channel logout will be retried");
                    continue;
                }
                Outcome::Failed { error } => {
                    report.failed += 1;
                    (
                        "backchannel.failed",
                        format!("jti {}, attempt {attempt}: {error}", row.jti),
                    )
                }
            };
            audit::record(
                c,
                &audit::Event {
                    actor: Some("backchannel"),
                    action,
                    target: Some(&row.client_id),
                    ip: None,
                    detail: Some(&detail),
                },
                now,
            )?;
        }
        Ok(report)
    })
}

/// Spawns the worker loop on the current (actix) runtime: one pass every `backchannel.poll_interval`, at the
/// state clock's `now`.
pub fn spawn(state: web::Data<AppState>) {
    let settings = state.settings.backchannel.clone();
    let deliverer = match Deliverer::new(&settings) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout delivery cannot start: no HTTP client");
            return;
        }
    };
    let every = settings.poll_interval.max(Duration::from_millis(100));
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        let mut purged_at = i64::MIN;
        loop {
            interval.tick().await;
            let now = state.now();
            if let Err(e) = deliverer.run_pass(&state, now).await {
                tracing::warn!(error = %e, "back-channel logout delivery pass failed; it runs again next interval");
            }
            if now.saturating_sub(purged_at) >= PURGE_EVERY_SECS {
                purged_at = now;
                let before = now - SETTLED_KEEP_SECS;
                if let Err(e) = state
                    .db
                    .run(move |c| logout_outbox::purge_settled(c, before))
                    .await
                {
                    tracing::warn!(error = %e, "purging settled back-channel logout messages failed");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(
            (1..=5).map(backoff).collect::<Vec<_>>(),
            vec![5, 10, 20, 40, 80]
        );
        assert_eq!(backoff(12), BACKOFF_MAX_SECS);
        assert_eq!(backoff(i32::MAX), BACKOFF_MAX_SECS);
    }

    #[test]
    fn the_last_attempt_gives_up() {
        assert_eq!(outcome(0, Ok(()), 100, 3), Outcome::Delivered);
        assert_eq!(
            outcome(0, Err("HTTP 503".into()), 100, 3),
            Outcome::Retry {
                next_attempt_at: 105,
                error: "HTTP 503".into()
            }
        );
        assert_eq!(
            outcome(2, Err("HTTP 503".into()), 100, 3),
            Outcome::Failed {
                error: "HTTP 503".into()
            }
        );
    }
}
