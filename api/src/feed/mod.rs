//! The live change feed: the change log (`P changes`, written by every
//! write script; layout in `shared/src/keys/mod.rs`) delivered to clients as it
//! happens and replayed from any retained position.
//!
//! * [`entry`]: an entry as read from the log, and the message clients get.
//! * [`rights`]: what a principal may read, following the log's own
//!   changes of rights.
//! * [`filter`]: what a client asked for (types, a group).
//! * [`hub`]: the process's one reader of the log and its fan-out to live
//!   connections, each with a bounded queue.
//! * [`subscription`]: one client's way from a position to the live end.
//! * [`connect`]: a connection's principal, from its credentials or a
//!   WebSocket ticket.
//! * [`ws`], [`sse`], [`pull`]: the three ways out (`GET /ws`,
//!   `GET /events`, `GET /changes`).
//!
//! How it fits together is described in `docs/design.md` ("The change
//! log").

pub mod connect;
pub mod entry;
pub mod filter;
pub mod hub;
pub mod params;
pub mod pull;
mod registry;
pub mod rights;
pub mod sse;
pub mod subscription;
pub mod ws;

pub use hub::{CloseReason, Hub};
