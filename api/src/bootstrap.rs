//! What the api makes sure of at its first start: the owner account, the
//! order indexes of the task lists, and that leaves of a group another api
//! left midway are finished.
//!
//! The owner account is created at first start.
//!
//! Created once, ever (`P meta:owner` remembers it), with the reference
//! system's fields: full name "System Owner", role `owner`, `OWNER_EMAIL`,
//! password `OWNER_PASSWORD`. Restarting never recreates or overwrites it.
//! One exception fixes a defect of the original: while the account still
//! has the password bootstrap gave it, a changed `OWNER_PASSWORD` replaces
//! it, so the old secret stops working over Basic auth too. An account
//! adopted after a restore (which forgets `meta:owner`) counts as having
//! bootstrap's password when it still has `OWNER_PASSWORD`'s.

use std::time::Duration;

use crate::auth::{argon2, cpu_bound, hash_password};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::BootstrapState;

/// Makes sure the owner account exists; retries in the background while
/// Redis is unreachable.
pub async fn ensure_owner(state: &AppState) {
    if let Err(e) = try_ensure_owner(state).await {
        tracing::warn!(error = %e, "cannot create the owner account yet; retrying in the background");
        let state = state.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            loop {
                tokio::time::sleep(wait).await;
                match try_ensure_owner(&state).await {
                    Ok(()) => break,
                    Err(e) => tracing::warn!(error = %e, "owner account still pending"),
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        });
    }
}

/// Retires the order indexes of earlier layouts, which every write kept
/// for every user and group (see `Store::build_order_index`), at the first
/// start after the upgrade, on the first shard; lists are served
/// meanwhile (a read builds the index it needs). While Redis is
/// unreachable it goes on in the background.
pub async fn ensure_order_index(state: &AppState) {
    match state.store.build_order_index().await {
        Ok(0) => return,
        Ok(n) => {
            tracing::info!(indexes = n, "order indexes of an earlier layout retired");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot retire the earlier order indexes yet; retrying in the background")
        }
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            tokio::time::sleep(wait).await;
            match store.build_order_index().await {
                Ok(n) => {
                    tracing::info!(indexes = n, "order indexes of an earlier layout retired");
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "earlier order indexes still there"),
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    });
}

/// How often the api looks for leaves of a group to finish, and how long
/// a leave must have made no step to count as left midway.
const LEAVES_EVERY: Duration = Duration::from_secs(5);
const LEAVE_IDLE: Duration = Duration::from_secs(10);

/// Finishes, in the background and for as long as the api runs, the
/// leaves of a group whose steps stopped (see `Store::resume_leaves`): an
/// api that stopped midway, or a restore that found tasks outside their
/// user's groups.
pub fn finish_leaves(state: &AppState) {
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(LEAVES_EVERY);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            if let Err(e) = store.resume_leaves(LEAVE_IDLE).await {
                tracing::debug!(error = %e, "unfinished leaves not looked at");
            }
        }
    });
}

async fn try_ensure_owner(state: &AppState) -> Result<(), ApiError> {
    let config = &state.config;
    let hash = hash_password(config.owner_password.expose().to_owned()).await?;
    let now = crate::clock::now();
    let owner = state
        .store
        .bootstrap_owner(&config.owner_email, &hash, &now)
        .await?;
    let id = owner.id;
    match owner.state {
        BootstrapState::Created => tracing::info!(owner.id = %id, "owner account created"),
        BootstrapState::Adopted => tracing::info!(
            owner.id = %id,
            "OWNER_EMAIL already has an account; it is the owner's"
        ),
        BootstrapState::Exists => {}
    }
    let (given, current) = (&owner.given, &owner.current);
    if owner.state != BootstrapState::Created && given.is_empty() {
        // An adopted account (restored data, whose restore forgot
        // `meta:owner`): while it still has OWNER_PASSWORD's password, a
        // later change of OWNER_PASSWORD must replace it, as before the
        // restore (else the old secret would keep working over Basic auth,
        // the reference's defect). Tried at every start until it holds, so
        // a failure between adopting and remembering is made good.
        if !current.is_empty() && verifies(config.owner_password.expose(), current).await {
            // Refused (`Changed`): the adoption or the password changed
            // meanwhile, and there is nothing to remember.
            let _ = state
                .store
                .remember_owner_password(id, current, &now)
                .await?;
        }
    } else if owner.state == BootstrapState::Exists
        && given == current
        && !verifies(config.owner_password.expose(), current).await
        && state
            .store
            .rotate_owner_password(id, current, &hash, &now)
            .await?
            .is_ok()
    {
        tracing::info!(owner.id = %id, "OWNER_PASSWORD changed: the owner account follows it");
    }
    Ok(())
}

async fn verifies(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let (password, hash) = (password.to_owned(), hash.to_owned());
    cpu_bound(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}
