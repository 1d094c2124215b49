//! `taskmaster-syncd`: configuration → telemetry → run until SIGTERM/SIGINT.

use taskmaster_shared::config::{EXIT_BAD_CONFIG, SyncdConfig};
use taskmaster_shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match SyncdConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("taskmaster-syncd: {e}");
            std::process::exit(EXIT_BAD_CONFIG);
        }
    };
    telemetry::init(config.log_format);
    let signal = shutdown::signal_received();
    taskmaster_syncd::run(config, async {
        let signal = signal.await;
        tracing::info!(signal, "shutdown requested");
    })
    .await?;
    Ok(())
}
