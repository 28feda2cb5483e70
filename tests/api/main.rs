//! One integration-test binary: real servers on 127.0.0.1:0, real SQLite files and PostgreSQL databases.
//! PostgreSQL cases run when `PORTA_TEST_POSTGRES` names a server (e.g. `postgres://postgres@127.0.0.1:5432`).

#[macro_use]
mod helpers;

mod admin;
mod admin_authz;
mod admin_browser;
mod authorize;
mod authz;
mod backchannel;
mod backchannel_clients;
mod backchannel_scale_out;
mod backchannel_support;
mod bad_input;
mod chromium;
mod cli;
mod cli_authz;
mod cli_client_kinds;
mod cors;
mod cors_browser;
mod device;
mod device_browser;
mod device_support;
mod dpop;
mod faults;
mod hardening;
mod key_families;
mod keys;
mod login;
mod logout;
mod mfa;
mod mfa_browser;
mod mfa_rp;
mod mfa_support;
mod native_apps;
mod observability;
mod operations;
mod par;
mod resource_server;
mod rp_flow;
mod scale_out;
mod security_events;
mod serve;
mod sso;
mod store;
mod token_support;
mod tokens;
