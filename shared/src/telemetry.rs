//! Logging setup for both processes.
//!
//! `RUST_LOG` selects what is logged (default `info`), `LOG_FORMAT=json`
//! switches to one JSON object per line for log shippers. Text is coloured
//! only when stderr is a terminal: a journal or a log file gets no ANSI
//! codes. Field names are
//! dotted (`http.method`, `sync.rows`) so that they stay stable across both
//! formats.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. Call once, early.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    install(
        format,
        "info",
        std::io::stderr,
        std::io::stderr().is_terminal(),
    );
}

/// Installs the global subscriber with a given default filter and writer
/// (never coloured). Does nothing if a subscriber is already installed
/// (tests call it often).
pub fn init_with_writer<W>(format: LogFormat, default_filter: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(format, default_filter, writer, false);
}

fn install<W>(format: LogFormat, default_filter: &str, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    // `try_init` fails only when a subscriber is already set, which is fine.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
