//! The `login_failures` table: failed sign-ins per subject (`user:NAME` or `ip:ADDR`), kept in the database so
//! throttling holds across instances. The rules live in `web::login::throttle`.

use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{AnyConnection, StoreError};

/// The subject for an account. Usernames are matched exactly, as at sign-in.
pub fn user_subject(username: &str) -> String {
    format!("user:{username}")
}

/// The subject for a client address.
pub fn ip_subject(ip: &str) -> String {
    format!("ip:{ip}")
}

pub fn record(conn: &mut AnyConnection, subject: &str, now: i64) -> Result<(), StoreError> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(uuid::Uuid::new_v4().to_string()),
            login_failures::subject.eq(subject),
            login_failures::at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Times of the subject's failures at or after `since`, oldest first, at most `limit` of the newest.
pub fn since(
    conn: &mut AnyConnection,
    subject: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut v: Vec<i64> = login_failures::table
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::at.ge(since))
        .order(login_failures::at.desc())
        .limit(limit)
        .select(login_failures::at)
        .load(conn)?;
    v.reverse();
    Ok(v)
}

/// Forgets a subject's failures (after a successful sign-in of that account).
pub fn clear(conn: &mut AnyConnection, subject: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::subject.eq(subject)))
            .execute(conn)?,
    )
}

/// Removes failures older than `before`.
pub fn purge_before(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::at.lt(before)))
            .execute(conn)?,
    )
}
