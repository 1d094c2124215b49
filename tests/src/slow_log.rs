//! Redis's slow log, for the tests that hold a step of work to a few
//! milliseconds (`tests/it/scale.rs`, `tests/it/big_deletes.rs`).

use crate::TestApp;

impl TestApp {
    /// Logs whatever holds this app's Redis for `ms` milliseconds or more,
    /// from now on. Wall time: on a machine the whole suite shares, a short
    /// step preempted by the OS can reach 10 ms.
    pub async fn watch_slow_log(&self, ms: u64) {
        let mut redis = self.redis().await;
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(ms * 1000)
            .query_async::<()>(&mut redis)
            .await
            .expect("config");
        redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async::<()>(&mut redis)
            .await
            .expect("reset");
    }

    /// Redis's slow log since [`TestApp::watch_slow_log`]: each entry's
    /// microseconds and its first four arguments (a script's fourth is its
    /// key prefix).
    pub async fn slow_log(&self) -> Vec<(u64, String)> {
        let mut redis = self.redis().await;
        let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(100)
            .query_async(&mut redis)
            .await
            .expect("slowlog");
        entries
            .into_iter()
            .filter_map(|e| {
                let redis::Value::Array(fields) = e else {
                    return None;
                };
                let micros = match fields.get(2) {
                    Some(redis::Value::Int(n)) => *n as u64,
                    _ => 0,
                };
                let command = match fields.get(3) {
                    Some(redis::Value::Array(args)) => args
                        .iter()
                        .take(4)
                        .map(|a| match a {
                            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => String::new(),
                };
                Some((micros, command))
            })
            .collect()
    }

    /// [`TestApp::slow_log`]'s entries of this app's own commands (the
    /// slow log is the whole server's, and its threshold the last one a
    /// test set).
    pub async fn own_slow_log(&self, ms: u64) -> Vec<(u64, String)> {
        let prefix = self.keys.prefix().to_owned();
        self.slow_log()
            .await
            .into_iter()
            .filter(|(micros, command)| *micros >= ms * 1000 && command.contains(&prefix))
            .collect()
    }
}
