//! Small cryptographic helpers built on maintained crates: password hashing, bounded verification for sign-in,
//! the policy for new passwords, and random secrets.

pub mod password;
pub mod policy;
pub mod secrets;
pub mod verifier;
