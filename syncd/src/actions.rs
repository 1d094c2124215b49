//! Control requests: force, status, backup, restore, audit. Each is answered
//! exactly once, by the active daemon; a refusal (nothing changed) and a
//! failure are told apart by type ([`ActionError`]).

use std::time::Duration;

use taskmaster_shared::control::{
    Action, ActionError, ControlReply, ControlRequest, Incoming, MAINTENANCE_SETTLE_MS, RestoreArgs,
};

use crate::daemon::Daemon;
use crate::metrics::Operation;
use crate::{backup, restore};

impl Daemon {
    /// Flushes what is pending, then writes a backup file.
    async fn backup(&mut self) -> Result<backup::BackupInfo, ActionError> {
        self.flush().await.map_err(|e| {
            ActionError::Refused(format!(
                "backup refused: pending changes could not be flushed first ({e})"
            ))
        })?;
        let info = self
            .syncd
            .write_backup("snapshot")
            .await
            .map_err(ActionError::Failed)?;
        self.last_backup = Some(serde_json::json!({
            "file": info.file, "created_at": info.created_at, "size_bytes": info.size_bytes,
            "sha256": info.sha256, "rows": info.rows,
        }));
        tracing::info!(
            backup.file = %info.file,
            backup.size_bytes = info.size_bytes,
            backup.pruned = info.pruned.len(),
            "backup written"
        );
        Ok(info)
    }

    /// Sets the maintenance flag; answers the value, which only this
    /// restore clears ([`Self::maintenance_off`]).
    async fn maintenance_on(&self) -> Result<String, String> {
        self.syncd
            .store
            .set_maintenance("restore")
            .await
            .map_err(|e| format!("redis: {e}"))
    }

    async fn maintenance_off(&self, value: &str) -> Result<(), String> {
        self.syncd
            .store
            .clear_maintenance(value)
            .await
            .map_err(|e| format!("redis: {e}"))
    }

    /// Rebuilds Redis from PostgreSQL (after loading a backup file into
    /// PostgreSQL when `from` names one), under the maintenance flag. See
    /// [`restore`] for what a rebuild guarantees.
    async fn restore(&mut self, args: RestoreArgs) -> Result<serde_json::Value, ActionError> {
        let RestoreArgs {
            discard_pending: discard,
            from,
        } = args;
        let from = from.filter(|s| !s.is_empty());
        let refused = ActionError::Refused;
        let started = std::time::Instant::now();
        // A named file is checked before anything changes.
        let file = match &from {
            Some(name) => {
                let dir = self.syncd.config.backup_dir.clone();
                let name = name.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    let path = backup::resolve(&dir, &name)?;
                    backup::verify(&path)?;
                    Ok::<_, backup::BackupError>(path)
                })
                .await
                .map_err(|e| refused(format!("restore refused: {e}")))?;
                Some(checked.map_err(|e| refused(format!("restore refused: {e}")))?)
            }
            None => None,
        };
        // A server not checked yet is checked before the flag goes up:
        // the check takes a flag on such a server for a restore whose end
        // a crash took, and rebuilds (see `reconcile`).
        let holder = self.holder();
        if let Some(holder) = &holder {
            self.check_redis_server(holder)
                .await
                .map_err(|e| refused(format!("restore refused: {e}; nothing was changed")))?;
        }
        let flag = self.maintenance_on().await.map_err(ActionError::Failed)?;
        tracing::warn!(from = ?from, discard_pending = discard, "restore: maintenance on");
        tokio::time::sleep(Duration::from_millis(MAINTENANCE_SETTLE_MS)).await;
        let mut result = serde_json::json!({"from": from});

        match self.flush().await {
            Ok(report) => result["flushed_rows"] = report.rows().into(),
            Err(e) if discard => {
                let saved = crate::discarded::save_pending(
                    &self.syncd.redis,
                    &self.syncd.keys,
                    &self.syncd.config.backup_dir,
                )
                .await;
                match saved {
                    Ok((file, rows)) => {
                        tracing::warn!(discarded.file = %file, discarded.rows = rows, flush.error = %e, "restore: pending rows discarded (saved to a file)");
                        result["discarded"] =
                            serde_json::json!({"file": file, "rows": rows, "flush_error": e});
                    }
                    Err(save) => {
                        let _ = self.maintenance_off(&flag).await;
                        return Err(refused(format!(
                            "restore refused: pending changes could not be flushed ({e}) nor saved to a file ({save}); nothing was changed"
                        )));
                    }
                }
            }
            Err(e) => {
                let _ = self.maintenance_off(&flag).await;
                return Err(refused(format!(
                    "restore refused: pending changes could not be written to PostgreSQL ({e}); nothing was changed. \
                     Retry once PostgreSQL accepts them, or pass discard_pending=true to drop them \
                     (they are saved to a file in BACKUP_DIR first)"
                )));
            }
        }

        if let Some(path) = file {
            // What the file replaces is kept too.
            let pre = match self.syncd.write_backup("pre-restore").await {
                Ok(info) => info,
                Err(e) => {
                    let _ = self.maintenance_off(&flag).await;
                    return Err(refused(format!(
                        "restore refused: cannot back up the current data first ({e}); nothing was changed"
                    )));
                }
            };
            result["pre_restore_backup"] = pre.file.into();
            let loaded = self
                .syncd
                .pg
                .run(move |client| Ok(backup::load(client, &path)))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match loaded {
                Ok(counts) => {
                    result["file_rows"] = serde_json::to_value(counts).unwrap_or_default()
                }
                Err(e) => {
                    let _ = self.maintenance_off(&flag).await;
                    return Err(refused(format!(
                        "restore failed loading the file into PostgreSQL ({e}); nothing was changed"
                    )));
                }
            }
        }

        let fence = crate::fence::Fence::new(holder.as_ref());
        match restore::rebuild(&self.syncd.redis, &self.syncd.keys, &self.syncd.pg, fence).await {
            Ok(loaded) => {
                self.maintenance_off(&flag)
                    .await
                    .map_err(ActionError::Failed)?;
                result["loaded"] = serde_json::to_value(loaded).unwrap_or_default();
                result["duration_ms"] = (started.elapsed().as_millis() as u64).into();
                tracing::warn!(loaded = ?loaded, "restore: done, maintenance off");
                self.refresh_postgres_rows().await;
                Ok(result)
            }
            Err(e @ restore::RestoreError::LeaseLost) => {
                // The new holder carries the restore out (the api asks
                // again until one answers).
                tracing::warn!(error = %e, "restore stopped: another syncd holds the lease");
                Err(ActionError::Failed(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "restore failed while rebuilding Redis; maintenance stays on");
                Err(ActionError::Failed(format!(
                    "restore failed while rebuilding Redis ({e}); the api stays in maintenance until a restore succeeds: run it again"
                )))
            }
        }
    }

    /// Answers one control request, exactly once (the standby stays silent:
    /// the active syncd answers).
    pub(crate) async fn answer(&mut self, incoming: Incoming) {
        if self.token.is_none() {
            return;
        }
        let id = match &incoming {
            Incoming::Request(r) => &r.id,
            Incoming::Invalid { id, .. } => id,
        };
        if !self.taken.take(id) {
            return;
        }
        let (id, reply_to, outcome) = match incoming {
            Incoming::Request(ControlRequest {
                id,
                action: Action::Audit(query),
                reply_to,
                ..
            }) => {
                // Read-only and answered off the loop: a query never waits
                // for a flush, nor holds one up.
                let pg = self.syncd.query_pg.clone();
                let store = self.syncd.store.clone();
                tokio::spawn(async move {
                    let outcome = pg
                        .run(move |client| Ok(crate::audit::query::page(client, &query)?))
                        .await
                        .map(|page| serde_json::to_value(page).unwrap_or_default())
                        .map_err(|e| ActionError::Failed(format!("audit query failed: {e}")));
                    publish(&store, &reply_to, ControlReply::new(id, outcome)).await;
                });
                return;
            }
            Incoming::Request(request) => {
                let outcome = self.apply(request.action).await;
                (request.id, request.reply_to, outcome)
            }
            Incoming::Invalid {
                id,
                reply_to,
                error,
            } => (id, reply_to, Err(ActionError::Failed(error))),
        };
        self.heartbeat().await;
        publish(&self.syncd.store, &reply_to, ControlReply::new(id, outcome)).await;
    }

    async fn apply(&mut self, action: Action) -> Result<serde_json::Value, ActionError> {
        match action {
            Action::Force => {
                let report = self
                    .flush()
                    .await
                    .map_err(|e| ActionError::Failed(format!("flush failed: {e}")))?;
                Ok(serde_json::json!({
                    "upserted": {"users": report.upserted[0], "groups": report.upserted[1], "tasks": report.upserted[2],
                                 "webhooks": report.upserted[3]},
                    "deleted": {"users": report.deleted[0], "groups": report.deleted[1], "tasks": report.deleted[2],
                                "webhooks": report.deleted[3]},
                    "rows": report.rows(),
                    "duration_ms": report.duration.as_millis() as u64,
                }))
            }
            Action::Status => {
                let pending = self.pending().await.unwrap_or_default();
                let audit = self.syncd.store.change_log().await.ok().map(|l| l.audit);
                Ok(serde_json::to_value(self.status(pending, true, audit)).unwrap_or_default())
            }
            Action::Backup => {
                let _keepalive = self.keepalive();
                let started = std::time::Instant::now();
                let info = self.backup().await;
                (self.syncd.metrics).operation(Operation::Backup, started.elapsed(), info.is_ok());
                Ok(serde_json::to_value(info?).unwrap_or_default())
            }
            Action::Restore(args) => {
                let _keepalive = self.keepalive();
                let started = std::time::Instant::now();
                let restored = self.restore(args).await;
                (self.syncd.metrics).operation(
                    Operation::Restore,
                    started.elapsed(),
                    restored.is_ok(),
                );
                restored
            }
            Action::Audit(_) => Err(ActionError::Failed("answered off the loop".into())),
        }
    }
}

/// The ids of the control requests taken in the last two signature
/// lifetimes (a request older than one is refused anyway), so that a
/// request published again is carried out and answered once.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    ids: std::collections::HashMap<String, std::time::Instant>,
}

impl Taken {
    const KEEP: std::time::Duration = std::time::Duration::from_secs(
        2 * taskmaster_shared::control::SIGNATURE_MAX_AGE_SECS as u64,
    );

    /// True the first time `id` is seen.
    pub(crate) fn take(&mut self, id: &str) -> bool {
        let now = std::time::Instant::now();
        self.ids
            .retain(|_, at| now.duration_since(*at) < Self::KEEP);
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_owned(), now);
        true
    }
}

async fn publish(store: &crate::store::Store, reply_to: &str, reply: ControlReply) {
    let Ok(json) = serde_json::to_string(&reply) else {
        return;
    };
    if let Err(e) = store.publish_reply(reply_to, &json).await {
        tracing::warn!(error = %e, "cannot publish a control answer");
    }
}

#[cfg(test)]
mod taken_tests {
    use super::Taken;

    #[test]
    fn a_request_published_again_is_taken_once() {
        let mut taken = Taken::default();
        assert!(taken.take("a"));
        assert!(!taken.take("a"));
        assert!(taken.take("b"));
    }
}
