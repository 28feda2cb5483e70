//! Validated values: each newtype has a `parse` that is the only way to build it.

pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod user_code;
pub mod username;
pub mod web_origin;
