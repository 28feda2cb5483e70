//! Periodic work inside `porta serve`: every `key_refresh_interval`, rotate the signing keys when due (which also
//! erases retired private keys), reload the key set, and purge rows that can no longer matter. Each job is a small function of the state and `now`, so
//! purge jobs can join the list in `run_once`, and tests call them directly with a test clock.

use std::time::Duration;

use actix_web::web;

use crate::state::AppState;

/// Runs every job once, at the state's `now` (one instant for all of them). A failing job is logged and does not
/// stop the others.
pub async fn run_once(state: &AppState) {
    let now = state.now();
    if let Err(e) = keys_tick(state, now).await {
        tracing::error!(error = %e, "key rotation or reload failed; the previous key set stays in force");
    }
    if let Err(e) = crate::tokens::purge::purge_expired(&state.db, now).await {
        tracing::warn!(error = %e, "purging expired refresh tokens and revocations failed");
    }
    if let Err(e) = purge_browser_state(state, now).await {
        tracing::warn!(error = %e, "purging ended sessions, expired codes and old sign-in failures failed");
    }
}

/// Deletes ended sessions, authorization codes that can no longer be replayed usefully, sign-in failures older
/// than the throttling window, the clients of sessions that have certainly ended, and expired device codes.
pub async fn purge_browser_state(
    state: &AppState,
    now: i64,
) -> Result<usize, crate::db::StoreError> {
    let login = state.settings.login.clone();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    // A used code is kept while what it issued may live, so a late replay still revokes it.
    let keep_used = secs(state.settings.tokens.access_token_ttl);
    let keep_with_family = secs(state.settings.tokens.refresh_token_max_life);
    // A session ends at the latest `max_life` after it began, so its clients need not be remembered longer.
    let clients_before = now.saturating_sub(secs(state.settings.sessions.max_life));
    state
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                Ok(crate::session::purge_expired(c, now)?
                    + crate::db::models::auth_codes::purge_expired(
                        c,
                        now,
                        keep_used,
                        keep_with_family,
                    )?
                    + crate::web::login::throttle::purge(c, &login, now)?
                    + crate::db::models::session_clients::purge_before(c, clients_before)?
                    + crate::db::models::device_codes::purge_expired(c, now)?)
            })
        })
        .await
}

/// Rotation check, then reload, at `now`: other instances' changes appear here within one interval.
pub async fn keys_tick(
    state: &AppState,
    now: i64,
) -> Result<crate::keys::Changes, crate::keys::KeyError> {
    state.keys.tick_at(&state.db, now).await
}

/// Spawns the loop on the current (actix) runtime. The first run waits one interval: startup has just done the
/// same work.
pub fn spawn(state: web::Data<AppState>) {
    let every = state
        .settings
        .keys
        .key_refresh_interval
        .max(Duration::from_secs(1));
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            run_once(&state).await;
        }
    });
}

/// How often the SQLite WAL is copied into the database file by `spawn_checkpointer`.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// SQLite only: the WAL is checkpointed here, once a second on the blocking pool, instead of by whichever
/// request's commit crosses SQLite's threshold (which made that request pay for the fsyncs); the pool was opened
/// with `Db::checkpoint_in_background`. PASSIVE never waits for readers or writers. PostgreSQL: nothing to do.
pub fn spawn_checkpointer(state: web::Data<AppState>) {
    if state.db.backend() != crate::db::Backend::Sqlite {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(CHECKPOINT_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let db = state.db.clone();
            match tokio::task::spawn_blocking(move || db.checkpoint()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint task failed"),
            }
        }
    });
}
