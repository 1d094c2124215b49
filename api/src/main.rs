//! `taskmaster-api`: configuration → telemetry → build → serve until
//! SIGTERM/SIGINT. Everything else lives in the library so tests can drive it.

use anyhow::Context;
use taskmaster_shared::config::{ApiConfig, EXIT_BAD_CONFIG};
use taskmaster_shared::{shutdown, telemetry};
use tokio::net::TcpListener;

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
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let signal = shutdown::signal_received();

    let addr = (config.host, config.port);
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {}:{} (is another server using the port? set SERVER_PORT)",
            addr.0, addr.1
        )
    })?;
    let app = taskmaster_api::Application::build(config).await?;
    app.run(listener, async {
        let signal = signal.await;
        tracing::info!(signal, "shutdown requested");
    })
    .await?;
    Ok(())
}
