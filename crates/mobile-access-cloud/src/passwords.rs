//! Password hashing away from the request threads.
//!
//! One PBKDF2 verification is ~100 000 HMAC rounds: tens of milliseconds of CPU. Run on the async
//! worker threads, 16 concurrent guesses stalled every other request (`/healthz` went from 4 ms
//! to ~1 s). Here each hash runs on tokio's blocking pool, and a semaphore bounds how many run at
//! once (by default one less than the cores), so a flood of logins queues behind the semaphore
//! while the worker threads and at least one core stay free for everything else.

use std::sync::Arc;

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::{Error, Result, crypto};

/// The bounded hasher. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when there is no stored hash (unknown email, a member without a
    /// password), so that answer costs exactly what a wrong password costs.
    dummy: Arc<Vec<u8>>,
}

/// Hashes at once by default: all cores but one, at least one.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

impl Passwords {
    /// A hasher running at most `concurrency` hashes at once (0 counts as 1).
    pub fn new(concurrency: usize) -> Result<Self> {
        // Random bytes of a stored hash's shape: verifying against them costs a full PBKDF2 run
        // and never succeeds.
        let dummy =
            [crypto::random_array::<16>()?, crypto::random_array::<16>()?, crypto::random_array::<16>()?].concat();
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy: Arc::new(dummy) })
    }

    /// Whether `password` matches `stored`; with no stored hash, the same work and `false`.
    pub async fn verify(&self, password: &str, stored: Option<Vec<u8>>) -> Result<bool> {
        let password = Zeroizing::new(password.to_owned());
        let (stored, real) = match stored {
            Some(stored) => (stored, true),
            None => (self.dummy.as_ref().clone(), false),
        };
        let matched = self.run(move || crypto::verify_password(&password, &stored)).await?;
        Ok(real && matched)
    }

    /// A new stored hash of `password`.
    pub async fn hash(&self, password: &str) -> Result<Vec<u8>> {
        let password = Zeroizing::new(password.to_owned());
        self.run(move || crypto::hash_password(&password)).await?
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Crypto("password hasher closed"))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Error::Crypto("password hashing failed"))
    }
}
