//! Password hashing: argon2id with the OWASP parameters, always on a
//! bounded pool.
//!
//! argon2 takes tens of milliseconds and 19 MiB per call, so every call
//! (hashing a new password and verifying one) runs through [`cpu_bound`]:
//! at most one per core at a time, on the blocking pool, so a burst of
//! logins or password changes can neither starve the request workers nor
//! start hundreds of hashing threads.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Password hashing with the OWASP argon2id parameters (19 MiB, t=2, p=1).
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password on the bounded pool ([`cpu_bound`]).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    cpu_bound(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .ok_or_else(|| ApiError::Internal("password hashing was cancelled".into()))?
    .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// Whether `password` matches the PHC string `hash` (false for a hash that
/// does not parse). Blocking: call it through [`cpu_bound`].
pub fn verify_blocking(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password, &parsed).is_ok())
}

/// Verified against when the user does not exist, to spend equal time.
/// One per process: the first [`Authenticator::new`] makes it (so that no
/// login pays for it), the other shards' and test apps' reuse it.
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(&secret, &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Runs CPU-heavy password work on the blocking pool, at most one job per
/// core at a time.
pub async fn cpu_bound<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    });
    let _permit = PERMITS.acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

/// A new password, when it is acceptable: at least `min` characters (the
/// `PASSWORD_MIN_LENGTH` setting), at most 1024 bytes (argon2's work
/// grows with the length).
pub fn acceptable(min: usize, raw: &str) -> Result<String, taskmaster_shared::domain::FieldError> {
    use taskmaster_shared::domain::FieldError;
    if raw.chars().count() < min {
        return Err(FieldError::new(
            "password",
            format!("must be at least {min} characters"),
        ));
    }
    if raw.len() > 1024 {
        return Err(FieldError::new("password", "must be at most 1024 bytes"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2()
            .hash_password(b"secret123", &salt)
            .expect("hash")
            .to_string();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_blocking(b"secret123", &hash));
        assert!(!verify_blocking(b"secret124", &hash));
        assert!(!verify_blocking(b"secret123", "not a hash"));
    }
}
