//! The status dashboard (`GET /status`): one HTML page with its script,
//! its style and the charting library (uPlot, from the npm registry: see
//! `api/assets/assets.lock` and `deploy/assets.sh`) built into the binary,
//! so the page needs nothing from elsewhere; and [`snapshot`], the data
//! it polls every two seconds (`GET /status/data`, the owner's only).
//!
//! The page computes what it shows from two consecutive polls, as
//! Prometheus' `rate()` and `histogram_quantile()` would: requests per
//! second, the error rate and p50/p99 from the latency buckets of this
//! api process (see [`crate::metrics::Totals`]).

use chrono::Utc;

use crate::answers::{StatusData, SyncPanel};
use crate::error::ApiError;
use crate::state::AppState;
use crate::syncd::SyncView;

/// The page, whole.
pub const PAGE: &str = concat!(
    include_str!("page.html"),
    "<style>",
    include_str!("../../assets/vendor/uplot/uPlot.min.css"),
    "</style>\n<script>\n",
    include_str!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    "\n</script>\n<script>\n",
    include_str!("page.js"),
    "</script>\n</body>\n</html>\n"
);

/// What `GET /status/data` answers.
pub async fn snapshot(state: &AppState) -> Result<StatusData, ApiError> {
    state.services.metrics.publish();
    let view = SyncView::read(state).await?;
    let summary = view.summary();
    let status = view.status.as_ref();
    Ok(StatusData {
        at: taskmaster_shared::time::rfc3339(Utc::now()),
        api: state.services.metrics.totals.view(),
        sync: SyncPanel {
            running: summary.running,
            healthy: summary.healthy,
            lag_seconds: view.lag_seconds,
            pending: view.pending,
            last_sync: status.and_then(|s| s.last_sync.clone()),
            last_result: status.and_then(|s| s.last_result.clone()),
            last_error: status.and_then(|s| s.last_error.clone()),
            last_rows: status.map_or(0, |s| s.last_rows),
            interval: summary.interval,
            lease_holder: view.lease.as_ref().map(|(holder, _)| holder.clone()),
            fencing_token: view.lease.as_ref().map(|(_, token)| *token),
        },
        redis: "connected",
        postgres: view.postgres_state(),
        backups: status.map(|s| s.backups.clone()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_is_whole_and_loads_nothing_from_elsewhere() {
        let page = super::PAGE;
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.trim_end().ends_with("</html>"));
        assert!(page.contains("uPlot"), "the chart library is inlined");
        for outside in ["src=\"http", "href=\"http", "src=\"//", "@import"] {
            assert!(!page.contains(outside), "the page refers to {outside}");
        }
        // A script is closed only where the page closes it.
        assert_eq!(page.matches("</script>").count(), 2);
    }
}
