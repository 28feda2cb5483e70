//! Small cryptographic helpers built on maintained crates: password hashing and random secrets.

pub mod password;
pub mod secrets;
