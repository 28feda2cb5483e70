//! One module per table: the row struct, the insert struct, and the queries.

pub mod api_scopes;
pub mod apis;
pub mod audit;
pub mod auth_codes;
pub mod client_allowed_groups;
pub mod client_allowed_scopes;
pub mod client_roles;
pub mod clients;
pub mod consents;
pub mod device_codes;
pub mod dpop_jtis;
pub mod group_members;
pub mod groups;
pub mod login_failures;
pub mod logout_outbox;
pub mod mfa_factors;
pub mod pushed_requests;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod revoked_jtis;
pub mod session_clients;
pub mod sessions;
pub mod signing_keys;
pub mod users;
