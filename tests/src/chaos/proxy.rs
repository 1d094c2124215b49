//! A TCP proxy in front of PostgreSQL, so the fault run can make the
//! database unreachable without touching its process: refuse (every
//! connection is cut and new ones are closed at once, as a firewall's
//! reject) or black-hole (connections stay open and bytes vanish, as a
//! dropped route: the nastier fault, which only timeouts end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass = 0,
    Refuse = 1,
    Blackhole = 2,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Refuse,
            2 => Mode::Blackhole,
            _ => Mode::Pass,
        }
    }
}

/// A running proxy from a loopback port to `upstream`; it stops when
/// dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Bumped at every change of mode: connections opened under an older
    /// generation are cut when the mode becomes `Refuse`.
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let (generation, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.clone(),
            generation.clone(),
            accepted.clone(),
        ));
        Ok(Proxy {
            addr,
            mode,
            generation,
            accepted,
            task,
        })
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        match Mode::from_u8(mode.load(Ordering::SeqCst)) {
            Mode::Refuse => drop(client),
            Mode::Blackhole => {
                // Held open, read and thrown away until the mode changes.
                let changed = generation.subscribe();
                tokio::spawn(swallow(client, changed));
            }
            Mode::Pass => {
                let changed = generation.subscribe();
                tokio::spawn(relay(client, upstream, mode.clone(), changed));
            }
        }
    }
}

async fn swallow(mut client: TcpStream, mut changed: watch::Receiver<u64>) {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = client.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = changed.changed() => return,
        }
    }
}

/// Copies both ways until either side closes, or the mode changes: to
/// `Refuse` (cut), or to `Blackhole` (stop forwarding, keep the sockets
/// open until the next change).
async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    mut changed: watch::Receiver<u64>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let copy = async {
        tokio::select! {
            _ = tokio::io::copy(&mut cr, &mut sw) => {}
            _ = tokio::io::copy(&mut sr, &mut cw) => {}
        }
    };
    tokio::select! {
        () = copy => {}
        _ = changed.changed() => {
            if Mode::from_u8(mode.load(Ordering::SeqCst)) == Mode::Blackhole {
                // The bytes in flight vanish; the sockets stay open.
                let _ = changed.changed().await;
            }
        }
    }
    let _ = cw.shutdown().await;
    let _ = sw.shutdown().await;
}
