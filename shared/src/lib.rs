//! Code shared by the two taskmaster processes, `taskmaster-api` and
//! `taskmaster-syncd`.
//!
//! * [`domain`]: domain values (ids, roles, priority, deadline, …) and
//!   their validation, parsed once at the edge.
//! * [`model`]: the user, group and task rows.
//! * [`api_token`]: the stored record of a personal API token.
//! * [`audit`]: audit records, made from change log entries, and queries.
//! * [`control`]: control requests, replies and syncd's status record.
//! * [`config`]: typed configuration loaded from the environment, validated
//!   as a whole so that every bad variable is reported at once.
//! * [`telemetry`]: `tracing` setup (`RUST_LOG`, `LOG_FORMAT=json`).
//! * [`keys`]: the one place that names Redis keys and channels. The api
//!   writes them, syncd reads them, operators inspect them.
//! * [`metrics`]: the Prometheus registry of a process, and who may
//!   scrape it.
//! * [`position`]: positions in the change log (Redis stream ids).
//! * [`redis_pool`]: the bb8 pool both processes use to talk to Redis.
//! * [`time`]: timestamp formatting used on the wire.
//! * [`duration`]: parsing of human durations such as `15m` or `1h30m`.
//! * [`hex`]: digests as lower-case hex text.
//! * [`shutdown`]: SIGTERM and SIGINT as one future.
//! * [`webhook`]: registered webhooks and their events.

pub mod api_token;
pub mod audit;
pub mod config;
pub mod control;
pub mod domain;
pub mod duration;
pub mod hex;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod order;
pub mod position;
pub mod redis_pool;
pub mod shutdown;
pub mod systemd;
pub mod telemetry;
pub mod time;
pub mod webhook;
