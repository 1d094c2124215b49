//! Running an import job to its end.
//!
//! A job is held by one api at a time, under a token (`P job:{id}`'s
//! `token`): every step checks it, so two apis never both write a job.
//! Each step makes up to [`STEP_ROWS`] creates with `create_tasks.lua`'s
//! code and moves the job's cursor in the same atomic step, so a job
//! taken over goes on from the first row not written, never writing one
//! twice. Two steps are in flight at a time, so that Redis never waits
//! for the api between them.
//!
//! * The api that opened a job runs it: in the request for a small file,
//!   in the background otherwise, at most [`JOBS_AT_ONCE`] per process
//!   (the others wait queued, their holder beating for them).
//! * Every api looks every [`SWEEP_EVERY`] for an active job whose
//!   heartbeat is [`IDLE`] old (its api was killed, or its request
//!   dropped), takes it under a new token and runs it on: it reads the
//!   file from Redis, where the job keeps it while it is active.
//! * An all-or-nothing job that fails (a create refused by a change made
//!   since its check) or is cancelled deletes the rows it made, in steps
//!   of [`UNDO_ROWS`], before it ends: it never ends half done.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use futures_util::StreamExt;
use taskmaster_shared::domain::UserId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::parse::{self, Parsed};
use crate::store::{JobOp, JobRecord, NewCreate, NewTaskRow, Refusal, Store, Written};
use crate::task_body::NewTask;

/// Creates per step: the create batcher's largest batch
/// (`crate::creates::MAX_BATCH`), about 2.5 ms of Redis (see
/// `docs/performance.md`).
pub const STEP_ROWS: usize = crate::creates::MAX_BATCH;
/// Rows deleted per step of undoing.
pub const UNDO_ROWS: usize = 200;
/// Background jobs one api process runs at once.
pub const JOBS_AT_ONCE: usize = 2;
/// A job whose heartbeat is this old is taken over.
pub const IDLE: Duration = Duration::from_secs(10);
/// How often a holder waiting its turn beats.
const BEAT_EVERY: Duration = Duration::from_secs(2);
/// How often every api looks for jobs to take over.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3);
/// How long a holder waits after Redis failed it before it tries again.
const RETRY: Duration = Duration::from_secs(1);

/// A holder's token: 128 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    taskmaster_shared::hex::hex(&bytes)
}

/// Runs job `id`, held under `token`, until it ends or another api takes
/// it. `parsed`: its file, when the caller read it already. `permits`: a
/// background job waits for one of the process's (a request's does not).
pub async fn drive(
    store: &Store,
    id: u64,
    token: &str,
    mut parsed: Option<Arc<Parsed>>,
    permits: Option<Arc<Semaphore>>,
) {
    let mut permit: Option<OwnedSemaphorePermit> = None;
    loop {
        let record = match store.job(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(job = id, error = %e, "job not read; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if record.fields.get("token").map(String::as_str) != Some(token) {
            return;
        }
        let step = match record.fields.get("status").map(String::as_str) {
            Some("queued") => {
                if let (Some(permits), None) = (&permits, &permit) {
                    permit = Some(wait_turn(store, id, token, permits.clone()).await);
                }
                store
                    .job_control(JobOp::Start, id, token, &crate::clock::now())
                    .await
                    .map(|_| ())
            }
            Some("running") => write(store, (id, token), &record, &mut parsed).await,
            Some("undoing") => undo(store, (id, token), &record).await,
            _ => return,
        };
        if let Err(e) = step {
            tracing::warn!(job = id, error = %e, "job step failed; retrying");
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// A permit of `permits`, beating for job `id` while it waits.
async fn wait_turn(
    store: &Store,
    id: u64,
    token: &str,
    permits: Arc<Semaphore>,
) -> OwnedSemaphorePermit {
    let acquire = permits.acquire_owned();
    tokio::pin!(acquire);
    loop {
        tokio::select! {
            permit = &mut acquire => {
                if let Ok(permit) = permit {
                    return permit;
                }
            }
            () = tokio::time::sleep(BEAT_EVERY) => {
                let _ = store.job_control(JobOp::Beat, id, token, &crate::clock::now()).await;
            }
        }
    }
}

/// A field of a job's record.
fn field<'r>(record: &'r JobRecord, name: &str) -> &'r str {
    record.fields.get(name).map_or("", String::as_str)
}

fn user_of(record: &JobRecord, name: &str) -> Option<UserId> {
    field(record, name).parse().ok().map(UserId)
}

/// Writes the rows of a running job from its cursor on, and ends it done;
/// returns early when the job stopped or moved (the caller reads it
/// again).
async fn write(
    store: &Store,
    (id, token): (u64, &str),
    record: &JobRecord,
    parsed: &mut Option<Arc<Parsed>>,
) -> Result<(), crate::store::StoreError> {
    let rows = match parsed {
        Some(rows) => rows.clone(),
        None => match load(store, id, record).await? {
            Some(rows) => {
                *parsed = Some(rows.clone());
                rows
            }
            None => {
                let reason = "the job's file no longer reads as it did";
                let now = crate::clock::now();
                // Refused only when the job stopped or moved: read again either way.
                let _ = store
                    .job_control(JobOp::Fail(reason), id, token, &now)
                    .await?;
                return Ok(());
            }
        },
    };
    let user = user_of(record, "user").unwrap_or(UserId(0));
    let admin = user_of(record, "admin");
    let created_by = user_of(record, "created_by");
    let context = field(record, "context");
    // The next step's creates are built while Redis runs this one.
    let build = |from: usize| {
        let now = crate::clock::now();
        let (mut creates, mut numbers, mut after) = (Vec::new(), Vec::new(), from);
        while after < rows.rows.len() && creates.len() < STEP_ROWS {
            let row = &rows.rows[after];
            if let Ok(task) = &row.task {
                creates.push(NewCreate {
                    admin_check: admin,
                    ..create_of(task, (user, created_by), context, &now)
                });
                numbers.push(row.number);
            }
            after += 1;
        }
        Step {
            now,
            creates,
            numbers,
            after,
        }
    };
    // Two steps are in flight at a time: while Redis runs one, the next
    // waits on its socket, and the api builds and sends the one after as
    // soon as an answer comes, so Redis never waits for the api. A step
    // names the cursor the one before it leaves, so none can run out of
    // turn: one that reached Redis first is refused (`JobMoved`), and the
    // job is read again and goes on from its cursor.
    let mut in_flight = futures_util::stream::FuturesOrdered::new();
    // The cursor after the last step sent.
    let mut sent: usize = field(record, "done").parse().unwrap_or(0);
    loop {
        while in_flight.len() < 2 && sent < rows.rows.len() {
            let step = build(sent);
            let before = sent;
            sent = step.after;
            in_flight.push_back(async move { send(store, (id, token), &step, before).await });
        }
        let Some(written) = in_flight.next().await else {
            break;
        };
        if !go_on(id, written?) {
            // What is still in flight is refused too (its cursor is gone).
            while in_flight.next().await.is_some() {}
            return Ok(());
        }
    }
    let now = crate::clock::now();
    let _ = store.job_control(JobOp::Finish, id, token, &now).await?;
    Ok(())
}

/// Sends `step` of job `id`, from cursor `before`.
async fn send(
    store: &Store,
    (id, token): (u64, &str),
    step: &Step,
    before: usize,
) -> Result<Written<Vec<Written<u64>>>, crate::store::StoreError> {
    store
        .import_step(
            (id, token),
            (before, step.after),
            &step.numbers,
            &step.creates,
            &step.now,
        )
        .await
}

/// Whether a step's answer lets the job go on; a refusal means it
/// stopped, moved or is another api's now (the caller reads it again).
fn go_on(id: u64, written: Written<Vec<Written<u64>>>) -> bool {
    match written {
        Ok(_) => true,
        Err(Refusal::JobMoved(_) | Refusal::JobEnded(_) | Refusal::JobTaken | Refusal::JobGone) => {
            false
        }
        Err(other) => {
            tracing::error!(job = id, refusal = ?other, "import step refused");
            false
        }
    }
}

/// One step's creates, their rows' numbers, the time they carry, and the
/// cursor after them.
struct Step {
    now: String,
    creates: Vec<NewCreate>,
    numbers: Vec<u64>,
    after: usize,
}

/// The create of one imported row, as `POST /users/{id}/tasks` makes it,
/// for `user` by `created_by`, in the job's change log `context`.
fn create_of(
    task: &NewTask,
    (user, created_by): (UserId, Option<UserId>),
    context: &str,
    now: &str,
) -> NewCreate {
    let deadline = task.deadline.as_wire();
    NewTaskRow {
        title: &task.title,
        priority: task.priority.get(),
        deadline: &deadline,
        information: &task.information,
        user_id: user.get(),
        group_id: task.group_id.get(),
        now,
        state: task.state,
        created_by: created_by.map(UserId::get),
        labels: &task.labels,
    }
    .create_in(context.to_owned())
}

/// A job's file from Redis, read again as its request read it; `None`
/// when it is gone or reads otherwise (it cannot: the file never
/// changes).
async fn load(
    store: &Store,
    id: u64,
    record: &JobRecord,
) -> Result<Option<Arc<Parsed>>, crate::store::StoreError> {
    let Some(file) = store.job_file(id).await? else {
        return Ok(None);
    };
    let group = field(record, "group").parse().ok();
    let total: usize = field(record, "rows_total").parse().unwrap_or(0);
    let parsed = tokio::task::spawn_blocking(move || parse::parse(&file, group))
        .await
        .ok()
        .and_then(Result::ok)
        .filter(|p| p.rows.len() == total);
    Ok(parsed.map(Arc::new))
}

/// Undoes an all-or-nothing job to its end (see `job_undo.lua`).
async fn undo(
    store: &Store,
    (id, token): (u64, &str),
    record: &JobRecord,
) -> Result<(), crate::store::StoreError> {
    let context = field(record, "context");
    loop {
        let now = crate::clock::now();
        match store
            .job_undo((id, token), context, UNDO_ROWS, &now)
            .await?
        {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// Every [`SWEEP_EVERY`], takes over the active jobs whose holder stopped
/// beating, as many as this process has permits for, and runs them.
pub fn resume_jobs(store: Store, permits: Arc<Semaphore>) {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(SWEEP_EVERY);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            let Ok(active) = store.active_jobs().await else {
                continue;
            };
            for id in active {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let token = new_token();
                let now = crate::clock::now();
                let idle = IDLE.as_millis() as u64;
                if let Ok(Ok(_)) = store
                    .job_control(JobOp::Claim(idle), id, &token, &now)
                    .await
                {
                    tracing::info!(job = id, "taking over a job whose api stopped");
                    let store = store.clone();
                    tokio::spawn(async move {
                        drive(&store, id, &token, None, None).await;
                        drop(permit);
                    });
                }
            }
        }
    });
}
