//! Tasks: one user's tasks (`/users/{id}/tasks…`, [`user_tasks`]), a
//! task's audit history ([`history`]) and the views and batch changes
//! across users (`/tasks/…`, [`reports`]); their request bodies are
//! [`crate::task_body`]'s.

mod history;
mod reports;
mod user_tasks;

pub use history::history;
pub use reports::{batch, filter, search, stats};
pub use user_tasks::{create, delete, get_one, list_for_user, mark_done, update};
