//! Housekeeping for token state: refresh tokens past their expiry (rotated ones included: until then they are
//! kept so that a reuse is still detected), revocation entries of access tokens that have expired anyway, DPoP
//! proofs too old to be replayed, and pushed authorization requests past their minute. Called by `jobs::run_once`.

use crate::db::models::{dpop_jtis, pushed_requests, refresh_tokens, revoked_jtis};
use crate::db::{Db, StoreError, write_tx};

/// Deletes what can no longer matter at `now`; returns how many rows went.
pub async fn purge_expired(db: &Db, now: i64) -> Result<usize, StoreError> {
    db.run(move |c| {
        write_tx(c, |c| {
            Ok(refresh_tokens::purge_expired(c, now)?
                + revoked_jtis::purge_expired(c, now)?
                + dpop_jtis::purge_expired(c, now)?
                + pushed_requests::purge_expired(c, now)?)
        })
    })
    .await
}
