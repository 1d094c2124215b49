//! Integration tests: one binary, real Redis and PostgreSQL servers started
//! privately by the harness (`taskmaster_tests`).

mod admin;
mod binaries;
mod concurrency;
mod ctl;
mod dirty;
mod groups;
mod health;
mod http;
mod permissions;
mod restore;
mod sync;
mod tasks;
mod users;
mod validation;
