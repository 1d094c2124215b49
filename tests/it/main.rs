//! Integration tests: one binary, real Redis and PostgreSQL servers started
//! privately by the harness (`taskmaster_tests`).

mod admin;
mod answers;
mod api_tokens;
mod binaries;
mod concurrency;
mod cookies;
mod ctl;
mod dirty;
mod feed;
mod groups;
mod health;
mod http;
mod label_index;
mod labels;
mod lease;
mod limits;
mod openapi;
mod origins;
mod own_tasks;
mod permissions;
mod rate_limits;
mod redis_access;
mod redis_loss;
mod registration;
mod restore;
mod restore_keyspace;
mod secrets;
mod sessions;
mod sync;
mod task_fields;
mod task_upgrade;
mod task_views;
mod tasks;
mod users;
mod validation;
