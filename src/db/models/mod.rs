//! One module per table: the row struct, the insert struct, and the queries.

pub mod audit;
pub mod auth_codes;
pub mod clients;
pub mod users;
