//! Token formats and their signing: the claim sets (`claims`), minting on the blocking pool (`mint`), and
//! verification of Porta's own access tokens (`verify`). No actix types here: the HTTP layer lives in `oidc`.

pub mod authz;
pub mod claims;
pub mod logout_token;
pub mod mint;
pub mod purge;
pub mod verify;
