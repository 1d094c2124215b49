//! Who a feed connection is: the rights it starts with and the credential
//! it stands on, from the request's credentials or from a WebSocket
//! ticket.
//!
//! Browsers cannot set headers on a WebSocket, and a long-lived token must
//! never travel in a URL (logs, history, referrers keep URLs). So a client
//! signed in any way asks `POST /auth/ws-ticket` for a ticket: 32 random
//! bytes, valid for [`TICKET_LIFE`], good for one connection
//! (`GET /ws?ticket=…`). Redis keeps only its digest, with the credential
//! it stands for; the connection is then checked against that credential
//! as if it had been presented itself.

use std::time::Duration;

use taskmaster_shared::domain::UserId;

use super::rights::Rights;
use crate::auth::{Caller, Method};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Nothing, Standing};

/// How long a ticket is good for.
pub const TICKET_LIFE: Duration = Duration::from_secs(30);

/// A principal ready to subscribe.
#[derive(Debug, Clone)]
pub struct Principal {
    pub rights: Rights,
    pub standing: Standing,
}

impl Principal {
    /// Its key in the per-principal limit (`None`: the owner header).
    pub fn key(&self) -> Option<u64> {
        self.rights.id
    }
}

/// The credential `caller` authenticated with.
pub async fn standing_of(state: &AppState, caller: &Caller) -> Result<Standing, ApiError> {
    let user = || caller.id.map(UserId).ok_or(ApiError::Unauthorized);
    Ok(match &caller.method {
        Method::OwnerHeader => Standing::Owner,
        Method::Basic => {
            let user = user()?;
            let version = state
                .store
                .version_with(user, &Nothing, None)
                .await?
                .0
                .ok_or(ApiError::Unauthorized)?;
            Standing::Password { user, version }
        }
        Method::Session { id, .. } => Standing::Session {
            user: user()?,
            id: id.clone(),
        },
        Method::Token { id, .. } => Standing::Token {
            user: user()?,
            id: id.clone(),
        },
    })
}

/// The principal of a resolved caller.
pub async fn of_caller(state: &AppState, caller: &Caller) -> Result<Principal, ApiError> {
    let standing = standing_of(state, caller).await?;
    let rights = match (caller.relations, caller.id) {
        (true, _) | (_, None) => Rights::of(caller),
        (false, Some(id)) => rights_of(state, UserId(id)).await?,
    };
    Ok(Principal { rights, standing })
}

/// The principal of a ticket; 401 when it is unknown, used or expired, or
/// its credential no longer holds.
pub async fn of_ticket(state: &AppState, ticket: &str) -> Result<Principal, ApiError> {
    let digest = crate::auth::token::secret_digest(ticket).ok_or(ApiError::Unauthorized)?;
    let standing = state
        .store
        .take_ws_ticket(&digest)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !state.store.standing_holds(&standing).await? {
        return Err(ApiError::Unauthorized);
    }
    let rights = match standing.user() {
        None => Rights::owner_header(),
        Some(user) => rights_of(state, user).await?,
    };
    Ok(Principal { rights, standing })
}

/// A user's rights as Redis holds them now.
async fn rights_of(state: &AppState, user: UserId) -> Result<Rights, ApiError> {
    let (record, _) = state.store.auth_record(Some(user), "", &|_| None).await?;
    let record = record.filter(|r| r.active).ok_or(ApiError::Unauthorized)?;
    let mut rights = Rights {
        id: Some(record.id),
        role: record.role,
        groups: record.groups,
        admin_of: record.admin_of,
    };
    rights.groups.sort_unstable();
    rights.admin_of.sort_unstable();
    Ok(rights)
}

/// Makes a ticket for `caller`'s credential: its text.
pub async fn ticket_for(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    let standing = standing_of(state, caller).await?;
    let (text, digest) = crate::auth::token::new_secret();
    state
        .store
        .put_ws_ticket(&digest, &standing, TICKET_LIFE)
        .await?;
    Ok(text)
}
