//! Porta: an OpenID Connect single-sign-on identity provider. See ARCHITECTURE.md for the map.

pub mod backchannel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod manage;
pub mod metrics;
pub mod oidc;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod web;
