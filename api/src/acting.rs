//! Who a request acts as, for the change log's `actor`.
//!
//! The edge ([`crate::middleware`]) opens a slot per request; the
//! authentication fills it once it knows the caller; the store stamps it
//! on every write script it runs ([`actor`]). Work outside a request (the
//! owner bootstrap at start) acts as `system`. A create names its own
//! actor ([`crate::store::NewCreate::actor`]): the creates of several
//! requests run in one script.

use std::cell::Cell;
use std::future::Future;

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// The owner header, which has no account.
    Owner,
    User(u64),
    /// The api itself, outside any request.
    System,
}

/// The text the change log records.
impl std::fmt::Display for Acting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acting::Owner => f.write_str("owner"),
            Acting::User(id) => id.fmt(f),
            Acting::System => f.write_str("system"),
        }
    }
}

tokio::task_local! {
    static ACTING: Cell<Acting>;
}

/// Runs a request's future with a slot for its actor.
pub async fn scope<F: Future>(future: F) -> F::Output {
    ACTING.scope(Cell::new(Acting::System), future).await
}

/// Records the caller the request authenticated as (`None`: the owner
/// header).
pub fn record(id: Option<u64>) {
    let acting = id.map_or(Acting::Owner, Acting::User);
    let _ = ACTING.try_with(|slot| slot.set(acting));
}

/// The current request's actor; `System` outside a request.
pub fn actor() -> Acting {
    ACTING.try_with(Cell::get).unwrap_or(Acting::System)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_acts_as_whom_it_authenticated_and_system_outside_one() {
        assert_eq!(actor(), Acting::System);
        let inside = scope(async {
            record(Some(7));
            actor()
        })
        .await;
        assert_eq!(inside, Acting::User(7));
        assert_eq!(
            scope(async {
                record(None);
                actor()
            })
            .await,
            Acting::Owner
        );
        assert_eq!(actor().to_string(), "system");
    }
}
