//! Background jobs (imports): their record in Redis, their steps and their
//! end. What the fields mean is `P job:{id}` in `shared/src/keys/mod.rs`; how
//! a job runs is `crate::import::job`.

use std::collections::HashMap;

use taskmaster_shared::domain::{GroupId, UserId};

use super::refusal::create_entry;
use super::scripts::SCRIPTS;
use super::value::{string, u64_of};
use super::{NewCreate, Refusal, Store, StoreError, Written};

/// A job to open.
pub struct JobOpen<'a> {
    /// `owner` or the creating user's id.
    pub creator: &'a str,
    /// The most jobs `creator` may have active.
    pub max_active: usize,
    /// Its `Idempotency-Key` record and the request's digest.
    pub idempotency: Option<&'a (String, String)>,
    pub file: &'a [u8],
    /// A name for the file until the job has an id (the holder's token).
    pub upload: &'a str,
    /// The report's first entries (JSON), found before the job opened.
    pub errors: &'a [String],
    /// The job's other fields, as `P job:{id}` holds them.
    pub fields: &'a [(&'static str, String)],
}

/// A job opened, or found open under the request's `Idempotency-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    New(u64),
    Again(u64),
}

/// A job as stored: its fields and its report's first entries.
#[derive(Debug, Clone, Default)]
pub struct JobRecord {
    pub fields: HashMap<String, String>,
    pub errors: Vec<String>,
}

/// What a job's holder, or anyone, may do to it (`job_control.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOp<'a> {
    Start,
    Beat,
    Finish,
    Fail(&'a str),
    /// Takes over a job whose heartbeat is this many ms old.
    Claim(u64),
    Cancel,
}

impl Store {
    /// Whether user `user` may get `rows` tasks in these groups (group id,
    /// rows): the user's verdict (its quota), then one per group, `None`
    /// when it passes. `admin`: the caller who must administer each group.
    pub async fn import_check(
        &self,
        user: UserId,
        admin: Option<UserId>,
        rows: usize,
        groups: &[(GroupId, usize)],
    ) -> Result<(Option<Refusal>, Vec<Option<Refusal>>), StoreError> {
        let mut inv = self.read_call(&SCRIPTS.import_check);
        inv.arg("")
            .arg(user.get())
            .arg(admin.map(|a| a.get().to_string()).unwrap_or_default())
            .arg(self.quotas.per_user)
            .arg(self.quotas.per_group)
            .arg(rows);
        for (group, n) in groups {
            inv.arg(group.get()).arg(*n);
        }
        let items = self
            .write(&inv)
            .await?
            .map_err(|_| StoreError::Malformed("import_check refused"))?;
        let mut verdicts = items.iter().map(|item| {
            let code = string(item).unwrap_or_default();
            if code.is_empty() {
                Ok(None)
            } else {
                Refusal::decode(&code, "")
                    .map(Some)
                    .ok_or(StoreError::Malformed("import_check verdict"))
            }
        });
        let user = verdicts
            .next()
            .ok_or(StoreError::Malformed("import_check reply"))??;
        let groups = verdicts.collect::<Result<Vec<_>, _>>()?;
        Ok((user, groups))
    }

    /// Opens an import job, queued (refused `TooMany`, or
    /// `IdempotencyMismatch` for a key used with another request).
    pub async fn open_job(
        &self,
        job: &JobOpen<'_>,
        now: &str,
    ) -> Result<Written<Opened>, StoreError> {
        // The file first, by a plain SET (Redis keeps a large argument
        // without copying it); the script renames it. An hour's expiry
        // cleans up after an api that stopped in between.
        let upload = self.keys.job_upload(job.upload);
        self.query_one::<()>(
            redis::cmd("SET")
                .arg(&upload)
                .arg(job.file)
                .arg("EX")
                .arg(3600),
        )
        .await?;
        let mut inv = self.write_call(&SCRIPTS.job_open, now);
        match job.idempotency {
            Some((record, digest)) => inv.arg(record).arg(digest),
            None => inv.arg("").arg(""),
        };
        inv.arg(&upload)
            .arg(job.creator)
            .arg(job.max_active)
            .arg(job.errors.len());
        for entry in job.errors {
            inv.arg(entry);
        }
        for (name, value) in job.fields {
            inv.arg(*name).arg(value);
        }
        Ok(self.write(&inv).await?.map(|items| {
            let id = items.first().and_then(u64_of).unwrap_or_default();
            match items.get(1).and_then(string).as_deref() {
                Some("again") => Opened::Again(id),
                _ => Opened::New(id),
            }
        }))
    }

    /// Job `id` with its report's first 100 entries; `None` when there is
    /// none (never was, expired, or removed by a restore).
    pub async fn job(&self, id: u64) -> Result<Option<JobRecord>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(self.keys.job(id))
            .cmd("LRANGE")
            .arg(self.keys.job_errors(id))
            .arg(0)
            .arg(99);
        let (fields, errors): (HashMap<String, String>, Vec<String>) = self.query(&pipe).await?;
        Ok((!fields.is_empty()).then_some(JobRecord { fields, errors }))
    }

    /// The file of active import job `id`.
    pub async fn job_file(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.query_one(redis::cmd("GET").arg(self.keys.job_file(id)))
            .await
    }

    /// The ids of the jobs not ended.
    pub async fn active_jobs(&self) -> Result<Vec<u64>, StoreError> {
        self.query_one(redis::cmd("SMEMBERS").arg(self.keys.jobs_active()))
            .await
    }

    /// One of [`JobOp`] on job `id` by the holder of `token`: the job's
    /// status after it.
    pub async fn job_control(
        &self,
        op: JobOp<'_>,
        id: u64,
        token: &str,
        now: &str,
    ) -> Result<Written<String>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.job_control, now);
        let name = match op {
            JobOp::Start => "start",
            JobOp::Beat => "beat",
            JobOp::Finish => "finish",
            JobOp::Fail(_) => "fail",
            JobOp::Claim(_) => "claim",
            JobOp::Cancel => "cancel",
        };
        inv.arg(name).arg(id).arg(token);
        match op {
            JobOp::Fail(reason) => {
                inv.arg(reason);
            }
            JobOp::Claim(idle_ms) => {
                inv.arg(idle_ms);
            }
            _ => {}
        }
        Ok(self
            .write(&inv)
            .await?
            .map(|items| items.first().and_then(string).unwrap_or_default()))
    }

    /// One step of import job `id`: `creates` (their rows' numbers in
    /// `numbers`) made exactly as [`Store::create_tasks`] makes them, and
    /// the job's cursor moved from `before` to `after`, in one atomic
    /// step. Each create's result, or the job's refusal (nothing made).
    pub async fn import_step(
        &self,
        (id, token): (u64, &str),
        (before, after): (usize, usize),
        numbers: &[u64],
        creates: &[NewCreate],
        now: &str,
    ) -> Result<Written<Vec<Written<u64>>>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.import_step, now);
        self.create_args(&mut inv, creates);
        let numbers: Vec<String> = numbers.iter().map(u64::to_string).collect();
        inv.arg(id)
            .arg(token)
            .arg(before)
            .arg(after)
            .arg(numbers.join(" "));
        match self.write(&inv).await? {
            Err(refusal) => Ok(Err(refusal)),
            Ok(items) if items.len() == creates.len() => Ok(Ok(items
                .iter()
                .map(create_entry)
                .collect::<Result<Vec<_>, _>>()?)),
            Ok(_) => Err(StoreError::Malformed("import_step answered a wrong count")),
        }
    }

    /// One step of undoing job `id` (at most `max` rows deleted, as a
    /// task delete is, in the job's `context`): how many rows are left.
    pub async fn job_undo(
        &self,
        (id, token): (u64, &str),
        context: &str,
        max: usize,
        now: &str,
    ) -> Result<Written<u64>, StoreError> {
        let mut inv = self.read_call(&SCRIPTS.job_undo);
        inv.arg(format!("{now} {context}"))
            .arg(id)
            .arg(token)
            .arg(max);
        Ok(self
            .write(&inv)
            .await?
            .map(|items| items.first().and_then(u64_of).unwrap_or_default()))
    }
}
