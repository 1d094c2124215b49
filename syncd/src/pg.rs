//! PostgreSQL access on a dedicated OS thread.
//!
//! The `postgres` crate is a blocking client that runs a tokio runtime of its
//! own, and panics when called from a tokio worker. So one thread owns the
//! r2d2 pool and runs jobs sent to it; async code awaits the answer.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::{Client, NoTls};
use taskmaster_shared::config::PostgresConfig;
use tokio::sync::oneshot;

/// What can go wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("invalid PostgreSQL configuration: {0}")]
    Config(#[source] postgres::Error),
    #[error("cannot get a PostgreSQL connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("PostgreSQL: {}", describe(.0))]
    Query(#[from] postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error("the PostgreSQL worker thread has stopped")]
    WorkerGone,
}

/// The server's own message when there is one ("db error" alone helps no
/// operator).
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        // A foreign key's detail names the missing row's id (and only
        // ids), which is what a post-mortem needs; other details may
        // quote rows' values (an e-mail in a unique violation): left out.
        Some(db) if db.code() == &postgres::error::SqlState::FOREIGN_KEY_VIOLATION => format!(
            "{}: {} ({})",
            db.code().code(),
            db.message(),
            db.detail().unwrap_or_default()
        ),
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

type Job = Box<dyn FnOnce(&r2d2::Pool<PostgresConnectionManager<NoTls>>) + Send>;

/// A handle to the PostgreSQL thread. Cheap to clone.
#[derive(Clone)]
pub struct PgWorker {
    jobs: mpsc::Sender<Job>,
}

impl PgWorker {
    /// Starts the thread. The pool connects lazily, so this succeeds while
    /// PostgreSQL is down; jobs then fail until it is back.
    pub fn start(config: &PostgresConfig) -> Result<Self, PgError> {
        let pg_config: postgres::Config = config
            .connection_string()
            .expose()
            .parse()
            .map_err(PgError::Config)?;
        let manager = PostgresConnectionManager::new(pg_config, NoTls);
        let pool_size = config.pool_size;
        let connect_timeout = config.connect_timeout.max(Duration::from_secs(1));
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("postgres".into())
            .spawn(move || {
                let pool = r2d2::Pool::builder()
                    .max_size(pool_size)
                    .min_idle(Some(0))
                    .connection_timeout(connect_timeout)
                    .build_unchecked(manager);
                // Ends when every PgWorker handle is dropped.
                for job in queue {
                    job(&pool);
                }
            })
            .map_err(|_| PgError::WorkerGone)?;
        Ok(PgWorker { jobs })
    }

    /// Runs `f` with a pooled connection on the PostgreSQL thread.
    pub async fn run<R, F>(&self, f: F) -> Result<R, PgError>
    where
        F: FnOnce(&mut Client) -> Result<R, PgError> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |pool| {
            let result = pool
                .get()
                .map_err(PgError::from)
                .and_then(|mut conn| f(&mut conn));
            let _ = tx.send(result);
        });
        self.jobs.send(job).map_err(|_| PgError::WorkerGone)?;
        rx.await.map_err(|_| PgError::WorkerGone)?
    }
}
