//! `taskmaster-api`: configuration → telemetry → bind → serve until
//! SIGTERM/SIGINT. Everything else lives in the library so tests can drive it.

use anyhow::Context;
use taskmaster_shared::config::{ApiConfig, EXIT_BAD_CONFIG};
use taskmaster_shared::{shutdown, telemetry};

// glibc's malloc spends a fifth of a busy api's CPU time on small,
// short-lived allocations across worker threads; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = match ApiConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("taskmaster-api: {e}");
            std::process::exit(EXIT_BAD_CONFIG);
        }
    };
    telemetry::init(config.log_format);
    // This runtime only waits for signals; the shards serve on their own.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let signal = shutdown::signal_received();

    let shards = taskmaster_api::shard_count(config.worker_threads);
    let addr = std::net::SocketAddr::new(config.host, config.port);
    let listeners = taskmaster_api::bind_shards(addr, shards).with_context(|| {
        format!("cannot listen on {addr} (is another server using the port? set SERVER_PORT)")
    })?;
    taskmaster_api::serve_sharded(config, listeners, async {
        let signal = signal.await;
        tracing::info!(signal, "shutdown requested");
    })
    .await?;
    Ok(())
}
