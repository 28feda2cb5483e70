//! Bounded password verification for sign-in. At most `login.max_concurrent_hashes` argon2 computations run at
//! once (further sign-ins wait their turn), each in one of as many preallocated workspaces that are reused and
//! never freed, so a burst of sign-ins costs a fixed `max_concurrent_hashes x 19 MiB` instead of 19 MiB per
//! request. One `Verifier` is created at startup and shared by every worker (`web::Data`).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::password::{self, Workspace};

pub struct Verifier {
    permits: Arc<Semaphore>,
    spare: Mutex<Vec<Workspace>>,
}

/// The blocking pool or the semaphore went away (shutdown).
#[derive(Debug, thiserror::Error)]
#[error("password verification was interrupted")]
pub struct Interrupted;

impl Verifier {
    pub fn new(max_concurrent: usize) -> Verifier {
        let n = max_concurrent.max(1);
        Verifier {
            permits: Arc::new(Semaphore::new(n)),
            spare: Mutex::new(Vec::with_capacity(n)),
        }
    }

    /// Checks `password` against the stored PHC string, or spends the same time when there is none (unknown
    /// user, or a password too long to be checked).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Interrupted> {
        let _permit = self.permits.acquire().await.map_err(|_| Interrupted)?;
        // Holding a permit guarantees a spare workspace or room to create one: never more than `n` exist.
        let ws = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let (ok, ws) = tokio::task::spawn_blocking(move || {
            let mut ws = ws;
            let ok = match phc {
                Some(h) => password::verify_in(&password, &h, &mut ws),
                None => {
                    password::verify_dummy_in(&password, &mut ws);
                    false
                }
            };
            (ok, ws)
        })
        .await
        .map_err(|_| Interrupted)?;
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ws);
        Ok(ok)
    }

    /// Verifications that may start now without waiting (for tests and metrics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifications_share_a_bounded_set_of_workspaces() {
        let v = Arc::new(Verifier::new(2));
        let h = password::hash("correct horse");
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (v, h) = (v.clone(), h.clone());
                let pw = if i % 2 == 0 { "correct horse" } else { "wrong" };
                tokio::spawn(async move { v.verify(pw.into(), Some(h)).await.unwrap() })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 3);
        assert!(v.spare.lock().unwrap().len() <= 2);
        assert!(!v.verify("x".into(), None).await.unwrap());
        assert_eq!(v.available(), 2);
    }
}
