//! Who a request acts as, and how it proved it: the change log's context
//! (actor, authentication kind, session or token id, request id), which
//! the audit log records with every change.
//!
//! The edge ([`crate::middleware`]) opens a slot per request with its
//! request id; the authentication fills in the caller once it knows it
//! ([`record`]); the store stamps the context on every write script it
//! runs ([`stamp`]). Work outside a request (the owner bootstrap at start)
//! acts as `system`. A create names its own context
//! ([`crate::store::NewCreate::context`]): the creates of several requests
//! run in one script.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::auth::{Caller, Method};

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// The owner header, which has no account.
    Owner,
    User(u64),
    /// A request that has not authenticated (a registration).
    Anonymous,
    /// The api itself, outside any request.
    System,
}

/// The text the change log records.
impl fmt::Display for Acting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acting::Owner => f.write_str("owner"),
            Acting::User(id) => id.fmt(f),
            Acting::Anonymous => f.write_str("anonymous"),
            Acting::System => f.write_str("system"),
        }
    }
}

/// A request's context as the change log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub actor: Acting,
    /// How the caller authenticated ([`Method::name`]), `system` outside
    /// a request, `none` before authentication (then the actor is
    /// [`Acting::Anonymous`]).
    pub auth: &'static str,
    /// The login session's id or the personal token's (never a secret).
    pub credential: Option<Arc<str>>,
    pub request: Option<Arc<str>>,
}

impl Context {
    const SYSTEM: Context = Context {
        actor: Acting::System,
        auth: "system",
        credential: None,
        request: None,
    };
}

/// `actor auth credential request`, `-` for what is missing: the scripts'
/// format (see `store/lua/common.lua`). Every part is free of spaces:
/// ids and method names are, and request ids are checked at the edge.
impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.actor,
            self.auth,
            self.credential.as_deref().unwrap_or("-"),
            self.request.as_deref().unwrap_or("-")
        )
    }
}

tokio::task_local! {
    static CONTEXT: RefCell<Context>;
}

/// Runs a request's future with a slot for its context.
pub async fn scope<F: Future>(request: Arc<str>, future: F) -> F::Output {
    let context = Context {
        actor: Acting::Anonymous,
        auth: "none",
        credential: None,
        request: Some(request),
    };
    CONTEXT.scope(RefCell::new(context), future).await
}

/// Records the caller the request authenticated as.
pub fn record(caller: &Caller) {
    let actor = caller.id.map_or(Acting::Owner, Acting::User);
    let credential = match &caller.method {
        Method::Session { id, .. } | Method::Token { id, .. } => Some(Arc::from(id.as_str())),
        Method::OwnerHeader | Method::Basic => None,
    };
    set(actor, caller.method.name(), credential);
}

/// Records user `id`, authenticated by its password (Basic), before a
/// [`Caller`] exists (a create's fast path).
pub fn record_basic(id: u64) {
    set(Acting::User(id), Method::Basic.name(), None);
}

fn set(actor: Acting, auth: &'static str, credential: Option<Arc<str>>) {
    let _ = CONTEXT.try_with(|slot| {
        let mut c = slot.borrow_mut();
        c.actor = actor;
        c.auth = auth;
        c.credential = credential;
    });
}

/// The current request's actor; `System` outside a request.
pub fn actor() -> Acting {
    CONTEXT
        .try_with(|c| c.borrow().actor)
        .unwrap_or(Acting::System)
}

/// The current request's context (the system's outside a request).
pub fn context() -> Context {
    CONTEXT
        .try_with(|c| c.borrow().clone())
        .unwrap_or(Context::SYSTEM)
}

/// ARGV[2] of a write script: the time, then the context.
pub fn stamp(now: &str) -> String {
    CONTEXT
        .try_with(|c| format!("{now} {}", c.borrow()))
        .unwrap_or_else(|_| format!("{now} {}", Context::SYSTEM))
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::domain::Role;

    fn caller(id: Option<u64>, method: Method) -> Caller {
        Caller {
            id,
            role: Role::User,
            groups: Vec::new(),
            admin_of: Vec::new(),
            relations: false,
            method,
        }
    }

    #[tokio::test]
    async fn a_request_acts_as_whom_it_authenticated_and_system_outside_one() {
        assert_eq!(actor(), Acting::System);
        assert_eq!(stamp("T"), "T system system - -");
        let inside = scope(Arc::from("r1"), async {
            assert_eq!(stamp("T"), "T anonymous none - r1");
            record(&caller(
                Some(7),
                Method::Token {
                    id: "tok".into(),
                    read_only: false,
                },
            ));
            (actor(), stamp("T"))
        })
        .await;
        assert_eq!(inside, (Acting::User(7), "T 7 token tok r1".to_owned()));
        let owner = scope(Arc::from("r2"), async {
            record(&caller(None, Method::OwnerHeader));
            stamp("T")
        })
        .await;
        assert_eq!(owner, "T owner owner_header - r2");
        let basic = scope(Arc::from("r3"), async {
            record_basic(4);
            context().to_string()
        })
        .await;
        assert_eq!(basic, "4 basic - r3");
    }
}
