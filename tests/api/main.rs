//! One integration-test binary: real servers on 127.0.0.1:0, real SQLite files and PostgreSQL databases.
//! PostgreSQL cases run when `PORTA_TEST_POSTGRES` names a server (e.g. `postgres://postgres@127.0.0.1:5432`).

#[macro_use]
mod helpers;

mod admin;
mod admin_browser;
mod bad_input;
mod cli;
mod faults;
mod keys;
mod scale_out;
mod observability;
mod serve;
mod store;
mod token_support;
mod tokens;
mod sso;
mod authorize;
mod login;
mod logout;
mod rp_flow;
