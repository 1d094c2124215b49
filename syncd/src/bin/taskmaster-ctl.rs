//! `taskmaster-ctl`: the operator's command line (see `taskmaster_syncd::ctl`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let code = taskmaster_syncd::ctl::main(std::env::args().collect()).await;
    std::process::exit(code);
}
